"""The typed plan (cinempc.plan.Plan): shapes checked, sample(t) along the horizon, shift and hold."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cinempc.angles import wrap_angle
from cinempc.plan import Plan
from cinempc.state import RigState

STATE = RigState(position_m=[1.0, 2.0, 5.0], yaw_rad=0.3, pitch_rad=-0.2, focal_length_mm=40.0,
                 focus_distance_m=7.0, f_number=4.0)


def moving(n: int = 5, dt: float = 0.1, start: float = 2.0) -> Plan:
    """East at 2 m/s, turning across +-pi, zooming in."""
    t = start + dt * np.arange(n)
    return Plan(t_s=t, position_m=np.stack([[2.0 * (x - start), 0.0, 5.0] for x in t]),
                velocity_mps=np.tile([2.0, 0.0, 0.0], (n, 1)), acceleration_mps2=np.zeros((n, 3)),
                yaw_rad=np.linspace(3.0, 3.4, n), pitch_rad=np.full(n, -0.1), focal_length_mm=np.linspace(30, 50, n),
                focus_distance_m=np.full(n, 6.0), f_number=np.full(n, 2.8), yaw_rate_rad_s=np.arange(n - 1) * 0.1,
                diagnostics={"group_size_px": np.arange(n, dtype=float)})


def test_sample_at_a_stage_is_that_stage_and_between_stages_is_linear():
    plan = moving()
    at2 = plan.sample(plan.t_s[2])
    np.testing.assert_allclose(at2.position_m, plan.position_m[2])
    assert at2.focal_length_mm == pytest.approx(plan.focal_length_mm[2])
    assert at2.yaw_rate_rad_s == pytest.approx(plan.yaw_rate_rad_s[1])  # the interval flown into stage 2
    mid = plan.sample(plan.t_s[2] + 0.05)
    np.testing.assert_allclose(mid.position_m, [0.5, 0.0, 5.0])
    assert mid.focal_length_mm == pytest.approx(42.5)
    assert mid.yaw_rate_rad_s == pytest.approx(plan.yaw_rate_rad_s[2])
    assert not mid.hold and plan.sample(plan.t_s[1], hold=True).hold


def test_sample_clamps_to_the_ends_and_turns_the_short_way_across_pi():
    plan = moving()
    np.testing.assert_allclose(plan.sample(-10.0).position_m, plan.position_m[0])
    np.testing.assert_allclose(plan.sample(99.0).position_m, plan.position_m[-1])
    wrapped = Plan(**{**_fields(plan), "yaw_rad": wrap_angle(plan.yaw_rad)})  # 3.0 ... 3.4 stored as -2.88...
    yaw = wrapped.sample(plan.t_s[2] + 0.05).yaw_rad
    assert -math.pi <= yaw < math.pi
    assert abs(wrap_angle(yaw - 3.25)) < 1e-9  # not the mean of +3.2 and -2.98 (near 0: the long way round)


def test_shifted_advances_whole_steps_and_holds_the_last_stage():
    plan = moving()
    later = plan.shifted(plan.t_s[0] + 0.2)
    assert later.t_s[0] == pytest.approx(plan.t_s[2]) and len(later.t_s) == len(plan.t_s)
    np.testing.assert_allclose(later.position_m[:3], plan.position_m[2:])
    np.testing.assert_allclose(later.position_m[3:], np.tile(plan.position_m[-1], (2, 1)))
    np.testing.assert_allclose(later.yaw_rate_rad_s, [0.2, 0.3, 0.3, 0.3])
    np.testing.assert_allclose(later["group_size_px"], [2, 3, 4, 4, 4])


def test_hold_stays_put_and_reads_back_as_the_state():
    plan = Plan.hold(STATE, horizon_steps=4, dt_s=0.1, start_s=3.0)
    assert plan.horizon_steps == 4 and plan.dt_s == pytest.approx(0.1)
    for t in (3.0, 3.17, 3.4):
        sample = plan.sample(t)
        np.testing.assert_allclose(sample.position_m, STATE.position_m)
        assert np.all(sample.velocity_mps == 0) and sample.yaw_rad == pytest.approx(STATE.yaw_rad)
    back = plan.state_at(3)
    np.testing.assert_allclose(back.position_m, STATE.position_m)
    assert (back.yaw_rad, back.focal_length_mm, back.f_number) == (STATE.yaw_rad, STATE.focal_length_mm, STATE.f_number)


def test_shapes_are_checked_and_series_read_by_name():
    plan = moving()
    assert plan["position_m"] is plan.position_m and plan.get("group_size_px") is plan.diagnostics["group_size_px"]
    assert plan.get("nothing") is None and "yaw_rad" in plan and "nothing" not in plan
    assert {"t_s", "slack", "jerk_mps3", "group_size_px"} <= set(plan.keys())
    with pytest.raises(KeyError):
        plan["nothing"]
    with pytest.raises(ValueError, match="position_m"):
        Plan(**{**_fields(plan), "position_m": np.zeros((4, 3))})
    with pytest.raises(ValueError, match="increasing"):
        Plan(**{**_fields(plan), "t_s": plan.t_s[::-1]})
    nan = Plan(**{**_fields(plan), "position_m": np.full((5, 3), np.nan)})  # built: the safety core must see it
    with pytest.raises(ValueError):
        nan.sample(plan.t_s[1])


def _fields(plan: Plan) -> dict:
    return {name: getattr(plan, name) for name in plan.__dataclass_fields__}
