"""The fault matrix's graph rows (``GRAPH_FAST_SUBSET``) through the ROS graph over DDS, figures asserted.

One graph for the module: sim_node, mpc_node and director_node as processes with the command lines
``cinempc up sim`` runs (no camera; the MPC on the simulator's true subjects, in lockstep), and the
bench's own node, which relays the MPC node's odometry and /clock, plays the director's tablet over real
HTTP/WebSocket and kills the MPC node.  Figures are on the graph's clock (docs/safety.md has the table).
Each bar below is derived from the configured timeout or rate it stands for, with the margin's reason next
to it; a lower bound of half the timeout shows the hold comes from that rule and not from something earlier.
"""

from __future__ import annotations

import re

import pytest

from cinempc.config import load_parameters
from cinempc_sim.fault_bench import GRAPH_FAST_SUBSET, GRAPH_FAULTS, format_notes, format_table, run_graph_faults

pytestmark = [pytest.mark.ros, pytest.mark.slow]

MPC = load_parameters("nodes.yaml", "/**/mpc_node")["node"]
SIM = load_parameters("nodes.yaml", "/**/sim_node")["node"]
DIRECTOR = load_parameters("nodes.yaml", "/**/director_node")["node"]
SETPOINT_PERIOD_S = 1.0 / MPC["setpoint_rate_hz"]  # the MPC node decides once per setpoint
SIM_STEP_S = 1.0 / SIM["step_rate_hz"]  # the sim node decides, and publishes state and the clock, once per step
# The MPC node's clock and odometry pass through the bench's relay, so on a loaded machine the MPC node's clock
# runs behind the graph's by the bench's lag: that lag is in the killed-MPC figure (its last setpoint's stamp is
# earlier than its arrival at the sim node by it) and in the director rows (the press is read on the bench's
# clock).  The setpoints themselves are timed at their stamps (when the MPC node decided), the stale state from
# the last odometry's stamp, so the bench's lag in reading them is not in any figure: with 2 busy loops beside
# the test (load 6-8) the bench read setpoints p50 0.00 / p99 0.10 / max 0.44 s after their stamps (inside make
# test, timed when read, stale_state came at 0.90 s and the socket row at 0.60 s).  The allowance stays 0.6 s:
# the bounds still fail a timeout set to 5 s and a hold that does not come.
RELAY_LAG_S = 0.6


@pytest.fixture(scope="module")
def figures(ros_domain_env, tmp_path_factory):
    rows = run_graph_faults(GRAPH_FAST_SUBSET, env=ros_domain_env, logs=tmp_path_factory.mktemp("fault_graph"))
    print(format_table(rows))
    print(format_notes(rows))
    return {row.name: row for row in rows}


@pytest.mark.parametrize("name", GRAPH_FAST_SUBSET)
def test_no_exception_escapes_no_node_dies_and_each_fault_recovers(figures, name):
    row = figures[name]
    assert row.exceptions_escaped == 0, row.error or row.detail
    assert row.recovered_s is not None, row


def test_a_stale_state_over_dds_holds_when_state_timeout_s_has_passed(figures):
    row = figures["stale_state_ros"]
    assert row.time_to_safe_s is not None, row
    # from the stamp of the last odometry relayed to the MPC node to its first hold setpoint's stamp, both on the
    # node's clock: the age seen at its next setpoint past state_timeout_s (0.50-0.52 s alone and with 2 busy loops)
    assert MPC["state_timeout_s"] / 2 <= row.time_to_safe_s <= \
        MPC["state_timeout_s"] + SETPOINT_PERIOD_S + RELAY_LAG_S, row
    assert row.geofence_violations == 0, row


def test_odometry_delivered_late_is_aged_by_its_stamp_and_held_on(figures):
    row = figures["delayed_state_ros"]
    # every late state is STATE_DELAY_S old by its stamp, older than state_timeout_s: no setpoint of the late
    # stretch flies the shot (0.0: held all through it)
    # (the first second nothing arrives: the stale-state hold, timed by stale_state_ros; here a "no fresh plan"
    # hold of a slow solve, or a setpoint timer starved while the lockstep world stands, may come first or later)
    # The relay delays each odometry by its stamp (not from when the bench, lagging, got it) and passes it on
    # after the clock that makes it late; setpoints are timed at their stamps.  Inside make test, with both read
    # on the bench's own lagging clock, one of nine setpoints counted as flying in the late stretch (and the first
    # hold read 1.83 s after the odometry stopped, where the node holds at 0.5 s by its clock); since, none in
    # 3 runs alone and with 2 busy loops.  With the node aging a state by its arrival alone: 29 of 32 flew, fails.
    assert row.time_to_safe_s == 0.0, row.detail
    assert re.search(r"held on 1-s-old odometry \(\d+ setpoints\)", row.detail), row.detail
    assert row.geofence_violations == 0, row


def test_a_clock_step_reaching_the_mpc_node_holds_at_its_next_setpoint(figures):
    row = figures["clock_jump_ros"]
    assert row.time_to_safe_s is not None, row
    assert row.time_to_safe_s <= SETPOINT_PERIOD_S + RELAY_LAG_S, row  # the next setpoint: measured 0.02 s
    # Known (docs/safety.md): resuming from the ~0.1 s hold, the rig has dipped up to 0.040 m below the
    # altitude floor in 2 of 3 runs (fault-free flight stays >= 0.095 m above it).  The bar catches worse.
    assert row.outside_m < 0.1, row


def test_unauthenticated_requests_are_all_refused_and_the_hold_stands(figures):
    row = figures["director_unauthenticated"]
    refused, tried = map(int, re.search(r"(\d+)/(\d+) requests refused", row.detail).groups())
    assert tried >= 8 and refused == tried, row.detail  # every kind of attempt at least once
    assert row.time_to_safe_s == 0.0, row  # held all through the attempts
    assert row.geofence_violations == 0, row


def test_replayed_director_requests_are_all_refused_and_the_hold_stands(figures):
    row = figures["director_replayed_resume"]
    refused, tried = map(int, re.search(r"(\d+)/(\d+) replays refused", row.detail).groups())
    assert tried >= 3 and refused == tried, row.detail  # every kind of replay at least once
    assert row.time_to_safe_s == 0.0, row  # held all through the replays, director/hold never released
    assert "the HOLD replayed was answered 200" in row.detail, row.detail  # HOLD always works
    assert row.geofence_violations == 0, row


def test_a_half_dead_director_socket_leaves_the_shot_flying_and_http_hold_still_works(figures):
    row = figures["director_socket_dropped"]
    assert row.time_to_safe_s is not None, row
    assert re.search(r"\(\d+ setpoints, 0 holds\)", row.detail), row.detail  # the shot flew on
    # HOLD reaches the MPC at the director node's next tick, the setpoints at the MPC's next one: 0.04-0.15 s
    assert row.time_to_safe_s <= 1.0 / DIRECTOR["tick_rate_hz"] + SETPOINT_PERIOD_S + RELAY_LAG_S, row
    assert row.geofence_violations == 0, row


def test_setpoints_reaching_the_sim_node_late_are_aged_by_their_stamp_and_held_on(figures):
    row = figures["late_setpoints_ros"]
    # every setpoint of the late stretch is SETPOINT_DELAY_S old by its stamp, older than the sim node's
    # setpoint_timeout_s: the sim node holds all through it (0.0).  With the node aging a setpoint by its arrival
    # alone it flew them (94 of 96 samples, "never" safe): fails.
    assert row.time_to_safe_s == 0.0, row.detail
    delivered = int(re.search(r"held on 1-s-old setpoints \((\d+) delivered", row.detail).group(1))
    assert delivered > 0, row.detail  # late setpoints did reach the sim node (else the row proves nothing)
    # before they arrive, the silence: held at the sim node's next step past its timeout, from the last on-time stamp
    silent = float(re.search(r"held ([\d.]+) s after the stamp of the last setpoint on time", row.detail).group(1))
    assert SIM["setpoint_timeout_s"] <= silent <= SIM["setpoint_timeout_s"] + SIM_STEP_S + RELAY_LAG_S, row.detail
    assert row.geofence_violations == 0, row


def test_subjects_arriving_old_by_their_stamp_hold_at_the_next_setpoint(figures):
    row = figures["old_subjects_ros"]
    # subjects stamped SUBJECT_AGE_S in the past, older than subject_timeout_s: the next setpoint holds (0.10 s)
    assert row.time_to_safe_s is not None and row.time_to_safe_s <= SETPOINT_PERIOD_S + RELAY_LAG_S, row
    held, after = map(int, re.search(r"(\d+) of (\d+) setpoints from the first hold", row.detail).groups())
    assert held == after > 0, row.detail  # held all through the old subjects
    assert row.geofence_violations == 0, row


def test_the_mpc_node_killed_mid_shot_makes_the_sim_node_hold_after_its_setpoint_timeout(figures):
    row = figures["mpc_node_killed"]
    assert row.time_to_safe_s is not None, row
    # the sim node holds at its first step past setpoint_timeout_s after the last setpoint arrived; timed from the
    # last setpoint's stamp (not the kill: inside make test the last setpoints came 0.33 s before it and the hold
    # read 0.17 s), so never less than the timeout; more by the MPC clock's lag behind the sim's (the relay):
    # 0.54-0.58 s alone and with 2 busy loops; with the sim node's timeout halved it read 0.44 s and failed
    assert SIM["setpoint_timeout_s"] <= row.time_to_safe_s <= SIM["setpoint_timeout_s"] + SIM_STEP_S + RELAY_LAG_S, row
    assert row.geofence_violations == 0, row


def test_the_fast_subset_names_graph_rows():
    assert set(GRAPH_FAST_SUBSET) <= {f.name for f in GRAPH_FAULTS}
