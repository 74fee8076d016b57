"""The fault-injection matrix's fast subset (``cinempc bench faults --quick``), with its figures asserted.

Each fault flies through the real closed loop (PyBullet, real CineMPC, the safety core); the figures are
in simulated time, so a busy machine cannot change them.  The full matrix and its table live in
docs/safety.md.
"""

from __future__ import annotations

import pytest

from cinempc_sim.fault_bench import FAST_SUBSET, FAULTS, format_table, run_matrix


@pytest.fixture(scope="module")
def figures():
    rows = run_matrix(FAST_SUBSET)
    print(format_table(rows))
    return {row.name: row for row in rows}


@pytest.mark.parametrize("name", FAST_SUBSET)
def test_every_fault_is_safe_within_half_a_second_with_no_violation_and_no_escaped_exception(figures, name):
    row = figures[name]
    assert row.exceptions_escaped == 0, row.error
    assert row.geofence_violations == 0, row
    if name != "geofence_full_speed":  # the fence acts when the request leaves it, not at the fault's start
        assert row.time_to_safe_s is not None and row.time_to_safe_s <= 0.5, row
    assert row.recovered_s is not None, row  # each of these recovers by itself


def test_full_speed_at_the_fence_stops_inside_it(figures):
    row = figures["geofence_full_speed"]
    assert row.time_to_safe_s is not None  # the fence acted
    assert row.excursion_m == 0.0  # never past the wall


def test_an_unknown_fault_is_refused_by_name():
    with pytest.raises(ValueError, match="unknown faults"):
        run_matrix(("no_such_fault",))
    assert set(FAST_SUBSET) <= {f.name for f in FAULTS}


def test_a_pose_jump_holds_near_where_the_rig_really_was(figures):
    """A 5 m estimator jump must not move the rig 5 m: it holds at the last consistent state.

    Measured 2.05 m: the 1.64 m braking distance of every other hold plus one 0.1 s step at ~4 m/s."""
    row = figures["pose_jump_5m"]
    assert row.time_to_safe_s == 0.0, row
    assert row.excursion_m < 2.5, row
