"""The safety core (cinempc.safety): one hold latch, staleness, non-finite guard and geofence for every loop."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import pytest

from cinempc.angles import wrap_angle
from cinempc.config import Airspace, load_vehicle_config
from cinempc.plan import Plan
from cinempc.safety import (
    Cause,
    SafetyCore,
    SafetyInputs,
    SafetyLimits,
    SetpointResult,
    Status,
    fence,
    sample_plan,
)
from cinempc.state import RigState, Setpoint

AIRSPACE = load_vehicle_config().airspace
LIMITS = SafetyLimits(state_timeout_s=0.5, subject_timeout_s=1.0, plan_timeout_s=0.5)


@dataclass
class Result:
    """A controller's answer as CineMPC gives it (setpoint, status, plan, message)."""

    setpoint: Setpoint
    status: str = "optimal"
    plan: Plan | None = None
    message: str = ""


def plan_along(times, **series) -> Plan:
    """A plan over ``times`` that holds ``rig()`` except for the series given."""
    return replace(Plan.hold(rig(), len(times) - 1, float(times[1] - times[0]), float(times[0])), **series)


def rig(x=0.0, y=0.0, z=5.0, vx=0.0) -> RigState:
    return RigState(position_m=[x, y, z], velocity_mps=[vx, 0.0, 0.0], yaw_rad=0.4, pitch_rad=-0.2,
                    focal_length_mm=40.0, focus_distance_m=7.0, f_number=4.0)


def flying(state: RigState, dx=1.0, velocity=(2.0, 0.0, 0.0)) -> Setpoint:
    return Setpoint(position_m=state.position_m + [dx, 0.0, 0.0], velocity_mps=velocity,
                    acceleration_mps2=np.zeros(3), yaw_rad=0.5, yaw_rate_rad_s=0.1, pitch_rad=-0.3,
                    focal_length_mm=50.0, focus_distance_m=8.0, f_number=2.8)


def inputs(t: float, state: RigState | None, result=None, **kwargs) -> SafetyInputs:
    defaults = dict(now_s=t, state=state, state_time_s=t, subjects_time_s=t, result=result, result_time_s=t)
    defaults.update(kwargs)
    return SafetyInputs(**defaults)


def test_flying_passes_the_controllers_setpoint_and_status_through():
    core = SafetyCore(AIRSPACE, LIMITS)
    state = rig()
    wanted = flying(state)
    decision = core.step(inputs(0.0, state, Result(wanted, "relaxed", message="framing relaxed")))
    assert decision.setpoint is wanted and decision.status is Status.RELAXED and not decision.holding
    assert decision.reason == "framing relaxed" and not decision.fenced


def test_director_hold_is_latched_where_it_was_pressed_and_never_drifts():
    core = SafetyCore(AIRSPACE, LIMITS)
    pressed = rig(x=3.0, vx=5.0)
    first = core.step(inputs(0.0, pressed, Result(flying(pressed)), director_hold=True))
    assert first.cause is Cause.DIRECTOR_HOLD and first.status is Status.HOLD and first.setpoint.hold
    np.testing.assert_allclose(first.setpoint.position_m, pressed.position_m)
    np.testing.assert_allclose(first.setpoint.velocity_mps, 0.0)
    assert first.setpoint.focal_length_mm == pressed.focal_length_mm  # lens as it is
    # the rig coasts on; the hold stays where it began, whatever else goes wrong meanwhile
    for k in range(1, 20):
        coasting = rig(x=3.0 + 0.4 * k, vx=5.0 - 0.25 * k)
        later = core.step(inputs(0.1 * k, coasting, None, director_hold=True, subjects_time_s=-math.inf))
        assert later.setpoint is first.setpoint
    # resume: the controller flies again, the latch is released
    moved = rig(x=11.0)
    resumed = core.step(inputs(2.0, moved, Result(flying(moved))))
    assert not resumed.holding and not resumed.setpoint.hold and core.latched is None
    again = core.step(inputs(2.1, moved, Result(flying(moved)), director_hold=True))
    np.testing.assert_allclose(again.setpoint.position_m, moved.position_m)


def test_abort_link_loss_no_shot_and_lost_subjects_hold_with_their_cause():
    state = rig()
    cases = [
        (dict(abort=True, director_hold=True), Cause.ABORT),
        (dict(link_ok=False), Cause.LINK_LOST),
        (dict(shot_active=False), Cause.NO_SHOT),
        (dict(subjects_time_s=-math.inf), Cause.SUBJECTS_LOST),
        (dict(subjects_time_s=-1.5), Cause.SUBJECTS_LOST),
    ]
    for extra, cause in cases:
        core = SafetyCore(AIRSPACE, LIMITS)
        decision = core.step(inputs(0.0, state, Result(flying(state)), **extra))
        assert decision.cause is cause and decision.setpoint.hold, (extra, decision)
        np.testing.assert_allclose(decision.setpoint.position_m, state.position_m)
    # subjects not watched by this loop (None): no hold for them
    core = SafetyCore(AIRSPACE, LIMITS)
    assert not core.step(inputs(0.0, state, Result(flying(state)), subjects_time_s=None)).holding


def test_stale_state_holds_at_the_last_fresh_state_and_no_state_ever_sends_nothing():
    core = SafetyCore(AIRSPACE, LIMITS)
    nothing = core.step(inputs(0.0, None, Result(flying(rig()))))
    assert nothing.setpoint is None and nothing.status is Status.NO_STATE and nothing.cause is Cause.STALE_STATE
    fresh = rig(x=2.0)
    assert not core.step(inputs(1.0, fresh, Result(flying(fresh)))).holding
    # the state stops at t=1.0; its last value is still offered, but it is 0.6 s old
    stale = core.step(inputs(1.6, rig(x=9.0), Result(flying(fresh)), state_time_s=1.0))
    assert stale.cause is Cause.STALE_STATE and stale.status is Status.NO_STATE
    np.testing.assert_allclose(stale.setpoint.position_m, fresh.position_m)  # where the fault was detected


def test_stale_plan_holds_and_a_fresh_plan_is_sampled_along_its_horizon():
    core = SafetyCore(AIRSPACE, LIMITS)
    state = rig()
    times = np.arange(5) * 0.1
    positions = np.stack([np.array([0.0, 0.0, 5.0]) + [t * 2.0, 0.0, 0.0] for t in times])
    plan = plan_along(times, position_m=positions, velocity_mps=np.tile([2.0, 0.0, 0.0], (5, 1)))
    step1 = Setpoint(position_m=positions[1], velocity_mps=[2.0, 0, 0], acceleration_mps2=np.zeros(3), yaw_rad=0.4,
                     yaw_rate_rad_s=0.0, pitch_rad=-0.2, focal_length_mm=40.0, focus_distance_m=7.0, f_number=4.0)
    result = Result(step1, plan=plan)
    # 0.15 s after the solve the setpoint has slid 0.3 m further along the plan
    slid = core.step(inputs(0.15, state, result, result_time_s=0.0))
    np.testing.assert_allclose(slid.setpoint.position_m, positions[1] + [0.3, 0.0, 0.0], atol=1e-9)
    old = core.step(inputs(0.6, state, result, result_time_s=0.0))
    assert old.cause is Cause.STALE_PLAN and old.setpoint.hold
    never = SafetyCore(AIRSPACE, LIMITS).step(inputs(0.0, state, None))
    assert never.cause is Cause.STALE_PLAN and "no plan yet" in never.reason


def test_failed_solve_flies_the_shifted_plan_then_holds_where_the_plan_ran_out():
    core = SafetyCore(AIRSPACE, LIMITS)
    state = rig()
    shifted = core.step(inputs(0.0, state, Result(flying(state), "fallback_shifted", message="solve late")))
    assert shifted.status is Status.FALLBACK_SHIFTED and not shifted.holding
    # the controller's own hold (CineMPC holds at the state it was given, every step): latched at the first
    held = []
    for k in range(5):
        moving = rig(x=0.5 * k)
        held.append(core.step(inputs(0.1 * k, moving, Result(Setpoint.hold_at(moving), "fallback_hold"))))
    assert all(d.cause is Cause.CONTROLLER_HOLD and d.status is Status.FALLBACK_HOLD for d in held)
    assert all(d.setpoint is held[0].setpoint for d in held)
    # a shifted plan after a hold was planned before it: the hold stays until a fresh solve
    stale = core.step(inputs(0.6, rig(x=2.0), Result(flying(rig(x=9.0)), "fallback_shifted")))
    assert stale.cause is Cause.STALE_PLAN and stale.setpoint is held[0].setpoint
    fresh = core.step(inputs(0.7, rig(x=2.0), Result(flying(rig(x=2.0)))))
    assert not fresh.holding and fresh.status is Status.OPTIMAL


@pytest.mark.parametrize("bad", ["nan_state", "nan_plan", "garbage_result", "unknown_status", "nan_time",
                                 "controller_raised"])
def test_nan_and_garbage_anywhere_become_a_hold_never_an_exception(bad):
    core = SafetyCore(AIRSPACE, LIMITS)
    state = rig()
    assert not core.step(inputs(0.0, state, Result(flying(state)))).holding  # an anchor first
    plan = plan_along(np.array([0.0, 0.1, 0.2]), position_m=np.array([[0, 0, 5], [np.nan, 0, 5], [0, 0, 5.0]]))
    weird = rig()
    if bad == "nan_state":
        weird.position_m[0] = math.nan  # the arrays are mutable after construction
        decision = core.step(inputs(0.1, weird, Result(flying(state))))
    elif bad == "nan_plan":
        decision = core.step(inputs(0.15, state, Result(flying(state), plan=plan), result_time_s=0.1))
    elif bad == "garbage_result":
        decision = core.step(inputs(0.1, state, object()))
    elif bad == "unknown_status":
        decision = core.step(inputs(0.1, state, Result(flying(state), "splendid")))
    elif bad == "nan_time":
        decision = core.step(inputs(math.nan, state, Result(flying(state))))
    else:
        decision = core.step(inputs(0.1, state, None, error="RuntimeError('solver crashed')"))
    assert decision.holding and decision.setpoint.hold, decision
    np.testing.assert_allclose(decision.setpoint.position_m, state.position_m)


def test_hold_pressed_fifty_times_a_second_never_moves_the_rig_off_its_path():
    core = SafetyCore(AIRSPACE, LIMITS)
    for k in range(100):  # 2 s at 50 Hz, HOLD toggling every tick
        state = rig(x=0.02 * k, vx=1.0)
        decision = core.step(inputs(0.02 * k, state, Result(flying(state, dx=0.02)), director_hold=k % 2 == 0))
        if decision.holding:
            np.testing.assert_allclose(decision.setpoint.position_m, state.position_m)  # held where pressed
        assert AIRSPACE.contains(decision.setpoint.position_m)


def test_a_clock_jump_forward_holds_and_fresh_inputs_release_it():
    core = SafetyCore(AIRSPACE, LIMITS)
    state = rig()
    assert not core.step(inputs(10.0, state, Result(flying(state)))).holding
    jumped = core.step(inputs(3600.0, state, Result(flying(state)), state_time_s=10.0, subjects_time_s=10.0,
                              result_time_s=10.0))
    assert jumped.cause is Cause.STALE_STATE
    assert not core.step(inputs(3600.1, state, Result(flying(state)))).holding


def test_fence_stops_the_offending_axis_where_the_rig_is_and_keeps_the_others_moving():
    here = np.array([10.0, 5.0, 2.0])
    dive = Setpoint(position_m=[13.0, 5.0, 0.5], velocity_mps=[6.0, 0.0, -3.0], acceleration_mps2=[1.0, 0.0, -2.0],
                    yaw_rad=0.0, yaw_rate_rad_s=0.0, pitch_rad=0.0, focal_length_mm=30.0, focus_distance_m=5.0,
                    f_number=4.0)
    fenced, changed = fence(dive, AIRSPACE, here)
    assert changed and AIRSPACE.contains(fenced.position_m)
    np.testing.assert_allclose(fenced.position_m, [13.0, 5.0, 2.0])  # z stops where the rig is, x keeps going
    np.testing.assert_allclose(fenced.velocity_mps, [6.0, 0.0, 0.0])
    np.testing.assert_allclose(fenced.acceleration_mps2, [1.0, 0.0, 0.0])
    # garbage far away never becomes a flight to the far boundary
    runaway = Setpoint(position_m=[500.0, -500.0, 90.0], velocity_mps=[8.0, -8.0, 3.0], acceleration_mps2=np.zeros(3),
                       yaw_rad=0.0, yaw_rate_rad_s=0.0, pitch_rad=0.0, focal_length_mm=30.0, focus_distance_m=5.0,
                       f_number=4.0)
    stopped, _ = fence(runaway, AIRSPACE, here)
    np.testing.assert_allclose(stopped.position_m, here)
    np.testing.assert_allclose(stopped.velocity_mps, 0.0)
    # a rig blown outside is brought back to the boundary; unknown position: the request clamped
    outside, _ = fence(runaway, AIRSPACE, [70.0, 0.0, 5.0])
    assert AIRSPACE.contains(outside.position_m) and outside.position_m[0] == AIRSPACE.geofence_max_m[0]
    unknown, _ = fence(runaway, AIRSPACE)
    np.testing.assert_allclose(unknown.position_m, [60.0, -60.0, 40.0])
    inside = flying(rig())
    assert fence(inside, AIRSPACE, here) == (inside, False)


def test_a_narrowed_geofence_applies_at_the_next_decision_even_to_a_latched_hold():
    core = SafetyCore(AIRSPACE, LIMITS)
    state = rig(x=30.0)
    held = core.step(inputs(0.0, state, None, director_hold=True))
    assert not held.fenced
    narrow = Airspace(**{**AIRSPACE.model_dump(), "geofence_max_m": (20.0, 20.0)})
    core.reconfigure(airspace=narrow)
    now = core.step(inputs(0.1, state, None, director_hold=True))
    assert now.fenced and narrow.contains(now.setpoint.position_m) and now.setpoint.position_m[0] == 20.0


def test_bad_configuration_is_refused_with_a_clear_error():
    with pytest.raises(ValueError, match="plan_timeout_s"):
        SafetyLimits(state_timeout_s=0.5, subject_timeout_s=1.0, plan_timeout_s=math.nan)
    with pytest.raises(ValueError, match="state_timeout_s"):
        SafetyLimits(state_timeout_s=-1.0, subject_timeout_s=1.0, plan_timeout_s=0.5)
    with pytest.raises(TypeError, match="Airspace"):
        SafetyCore({"geofence_min_m": (0, 0)}, LIMITS)
    with pytest.raises(ValueError, match="unknown status"):
        Status.parse("splendid")
    assert SafetyLimits.from_config().plan_timeout_s > 0


def test_setpoint_result_marks_a_received_hold_and_helpers_wrap_and_sample():
    state = rig()
    assert SetpointResult.of(Setpoint.hold_at(state)).status is Status.HOLD
    assert SetpointResult.of(flying(state)).status is Status.TRACKING
    assert wrap_angle(3 * math.pi) == pytest.approx(-math.pi)
    assert wrap_angle(-0.5) == pytest.approx(-0.5)
    fallback = flying(state)
    assert sample_plan(None, 1.0, fallback) is fallback
    # the yaw is unwrapped before interpolating: across +-pi it does not spin the long way round
    plan = plan_along(np.array([0.0, 0.1, 0.2]), yaw_rad=np.array([3.0, 3.1, -3.1]))
    assert sample_plan(plan, 0.0, fallback) is fallback  # at age 0: the solve's own setpoint
    assert abs(wrap_angle(sample_plan(plan, 0.05, fallback).yaw_rad - 3.1)) < 0.11


def test_a_pose_jump_holds_at_the_last_consistent_state_until_the_states_settle():
    limits = replace(LIMITS, max_state_jump_m=2.0, state_jump_settle_s=1.0)
    core = SafetyCore(AIRSPACE, limits)
    moving = [rig(x=0.2 * k, vx=2.0) for k in range(5)]  # 2 m/s, 0.1 s apart: consistent
    assert not any(core.step(inputs(0.1 * k, s, Result(flying(s)))).holding for k, s in enumerate(moving))
    jumped = rig(x=0.8 + 0.2 + 5.0, vx=2.0)  # the estimator moved the rig 5 m in one message
    decision = core.step(inputs(0.5, jumped, Result(flying(jumped))))
    assert decision.cause is Cause.STATE_JUMP and "5.0 m" in decision.reason
    np.testing.assert_allclose(decision.setpoint.position_m, moving[-1].position_m)  # not where the jump says
    settling = [core.step(inputs(0.5 + 0.1 * k, rig(x=6.0 + 0.2 * k, vx=2.0), Result(flying(rig(x=6.0)))))
                for k in range(1, 10)]
    assert all(d.cause is Cause.STATE_JUMP and d.setpoint is decision.setpoint for d in settling)
    settled = core.step(inputs(1.5, rig(x=8.0, vx=2.0), Result(flying(rig(x=8.0)))))
    assert not settled.holding  # the new states agreed with each other for 1 s: trusted again
    unchecked = SafetyCore(AIRSPACE, LIMITS)  # max_state_jump_m inf: not checked
    assert not unchecked.step(inputs(0.0, rig(), Result(flying(rig())))).holding
    assert not unchecked.step(inputs(0.1, rig(x=50.0), Result(flying(rig(x=50.0))))).holding
    assert math.isfinite(SafetyLimits.from_config().max_state_jump_m)
    with pytest.raises(ValueError, match="max_state_jump_m"):
        replace(LIMITS, max_state_jump_m=-1.0)


def test_a_state_after_a_gap_is_a_fresh_start_not_a_jump():
    core = SafetyCore(AIRSPACE, replace(LIMITS, max_state_jump_m=2.0))
    assert not core.step(inputs(0.0, rig(vx=2.0), Result(flying(rig())))).holding
    gap = core.step(inputs(0.3, rig(vx=2.0), Result(flying(rig())), state_time_s=0.0))  # 0.3 s old: still fresh
    assert not gap.holding
    stale = core.step(inputs(1.0, rig(vx=2.0), Result(flying(rig())), state_time_s=0.0))
    assert stale.cause is Cause.STALE_STATE
    back = core.step(inputs(1.1, rig(x=-4.0), Result(flying(rig(x=-4.0)))))  # 1.1 s later, not where 2 m/s led
    assert not back.holding, back


def test_a_state_is_aged_from_the_earlier_of_its_arrival_and_its_stamp():
    core = SafetyCore(AIRSPACE, LIMITS)
    state = rig()
    # on time: stamped as it arrives
    assert not core.step(inputs(10.0, state, Result(flying(state)), state_stamp_s=10.0)).holding
    # delivered 1 s late: it arrives now, its stamp says it is 1 s old -> stale, held at the last fresh state
    late = core.step(inputs(11.0, rig(x=3.0), Result(flying(state)), state_stamp_s=10.0))
    assert late.cause is Cause.STALE_STATE and "1.00 s old by its stamp" in late.reason
    np.testing.assert_allclose(late.setpoint.position_m, state.position_m)
    # a little late, within state_timeout_s: fresh
    assert not core.step(inputs(12.0, state, Result(flying(state)), state_stamp_s=11.6)).holding
    # a stamp ahead of the arrival (the source's clock runs ahead) never makes a state younger than its arrival
    ahead = core.step(inputs(13.0, state, Result(flying(state)), state_time_s=12.0, state_stamp_s=50.0))
    assert ahead.cause is Cause.STALE_STATE and "no rig state for 1.00 s" in ahead.reason
    # a stamp that is not a number: not fresh
    for bad in (math.nan, "soon"):
        assert core.step(inputs(14.0, state, Result(flying(state)), state_stamp_s=bad)).cause is Cause.STALE_STATE


def test_a_clock_stepping_back_never_makes_a_state_fresh():
    core = SafetyCore(AIRSPACE, LIMITS)
    state = rig()
    assert not core.step(inputs(20.0, state, Result(flying(state)), state_stamp_s=20.0)).holding
    # the state arrived at 20.0 (and was stale by 20.6), then the clock steps back 1 s: it lies in the future
    back = core.step(inputs(19.6, state, Result(flying(state)), state_time_s=20.0, state_stamp_s=20.0,
                            subjects_time_s=19.6, result_time_s=19.6))
    assert back.cause is Cause.STALE_STATE and "in the future" in back.reason
    # a state arriving on the stepped-back clock is fresh again
    assert not core.step(inputs(19.7, state, Result(flying(state)), state_stamp_s=19.7)).holding


def test_the_jump_rule_compares_states_only_within_state_timeout_s_either_way():
    limits = replace(LIMITS, max_state_jump_m=2.0, state_jump_settle_s=1.0)
    core = SafetyCore(AIRSPACE, limits)
    flying_states = [rig(x=2.0 * k / 10, vx=2.0) for k in range(3)]  # 2 m/s, 0.1 s apart
    for k, s in enumerate(flying_states):
        assert not core.step(inputs(100.0 + 0.1 * k, s, Result(flying(s)))).holding
    # an older state, out of order by 0.05 s, where the rig came from: consistent (extrapolated backwards)
    older = rig(x=0.4 - 0.1, vx=2.0)
    assert not core.step(inputs(100.2, older, Result(flying(older)), state_time_s=100.15)).holding
    # the clock steps back 3 s and a state arrives on it, 2.4 m off: it cannot be checked, so it is not trusted
    stepped = rig(x=2.8, vx=2.0)
    back = core.step(inputs(97.3, stepped, Result(flying(stepped))))
    assert back.cause is Cause.STATE_JUMP and "stepped back 2.85 s" in back.reason, back
    np.testing.assert_allclose(back.setpoint.position_m, older.position_m)  # held at the last consistent state
    # ... until the states on the new clock agree for state_jump_settle_s
    for k in range(1, 10):
        s = rig(x=2.8 + 0.2 * k, vx=2.0)
        assert core.step(inputs(97.3 + 0.1 * k, s, Result(flying(s)))).cause is Cause.STATE_JUMP
    s = rig(x=4.8, vx=2.0)
    assert not core.step(inputs(98.3, s, Result(flying(s)))).holding


# the three inputs with an age, each as (arrival field, stamp field, cause when not fresh, timeout in LIMITS)
AGED_INPUTS = [("state_time_s", "state_stamp_s", Cause.STALE_STATE, LIMITS.state_timeout_s),
               ("subjects_time_s", "subjects_stamp_s", Cause.SUBJECTS_LOST, LIMITS.subject_timeout_s),
               ("result_time_s", "result_stamp_s", Cause.STALE_PLAN, LIMITS.plan_timeout_s)]


@pytest.mark.parametrize("arrival, stamp, cause, timeout_s", AGED_INPUTS)
def test_state_subjects_and_plan_are_aged_by_one_rule(arrival, stamp, cause, timeout_s):
    """Each input: aged from the earlier of arrival and stamp; one whose time is ahead of now is not fresh."""
    state = rig()

    def decide(now: float, **times) -> object:
        core = SafetyCore(AIRSPACE, LIMITS)
        return core.step(inputs(now, state, Result(flying(state)), **times))

    assert not decide(10.0, **{arrival: 10.0, stamp: 10.0}).holding  # on time
    within = 10.0 - 0.8 * timeout_s
    assert not decide(10.0, **{arrival: 10.0, stamp: within}).holding  # a little late: fresh
    late = decide(10.0, **{arrival: 10.0, stamp: 10.0 - timeout_s - 0.5})  # delivered late: old by its stamp
    assert late.cause is cause and "old by its stamp" in late.reason, late
    ahead = decide(10.0, **{arrival: 10.0 - timeout_s - 0.5, stamp: 50.0})  # a stamp ahead never makes it younger
    assert ahead.cause is cause and "by its stamp" not in ahead.reason, ahead
    back = decide(10.0, **{arrival: 10.3, stamp: None})  # arrived at 10.3, the clock then stepped back to 10.0
    assert back.cause is cause and "0.30 s in the future (the clock stepped back)" in back.reason, back
    stamped_back = decide(10.0, **{arrival: 10.3, stamp: 10.2})
    assert stamped_back.cause is cause and "in the future" in stamped_back.reason, stamped_back
    for bad in (math.nan, "soon"):  # a stamp that is not a number: not fresh
        assert decide(10.0, **{arrival: 10.0, stamp: bad}).cause is cause


def test_a_plan_from_before_the_clock_stepped_back_holds_until_the_next_solve():
    core = SafetyCore(AIRSPACE, LIMITS)
    state = rig()
    assert not core.step(inputs(30.0, state, Result(flying(state)))).holding
    # solved at 32.0 on a clock stepped 2 s ahead; the clock steps back to 30.1: that plan lies in the future
    back = core.step(inputs(30.1, state, Result(flying(state)), result_time_s=32.0))
    assert back.cause is Cause.STALE_PLAN and "plan 1.90 s in the future" in back.reason, back
    np.testing.assert_allclose(back.setpoint.position_m, state.position_m)  # held where the rig was
    # the subjects heard on the stepped clock, without a stamp: in the future too (checked before the plan)
    lost = core.step(inputs(30.2, state, Result(flying(state)), subjects_time_s=32.0, result_time_s=32.0))
    assert lost.cause is Cause.SUBJECTS_LOST and "perception 1.80 s in the future" in lost.reason, lost
    assert core.blocking(inputs(30.2, state, subjects_time_s=32.0)) is Cause.SUBJECTS_LOST  # no solve on them
    # ... stamped on the graph's clock, they are fresh again by their stamp
    assert core.blocking(inputs(30.2, state, subjects_time_s=32.0, subjects_stamp_s=30.15)) is None
    # the next solve on the stepped-back clock flies again
    assert not core.step(inputs(30.3, state, Result(flying(state)))).holding


def descending(z: float, vz: float) -> RigState:
    return replace(rig(z=z), velocity_mps=np.array([1.0, 0.0, vz]))


def test_a_received_plan_is_aged_by_its_stamp_and_a_stamp_it_cannot_trust_is_stale():
    """The sim and bridge nodes hand the core a setpoint's header stamp: late -> held as old by its stamp; ahead of
    its arrival beyond plan_stamp_skew_s, or invalid -> held with that reason; on time -> flown as if unstamped."""
    limits = replace(LIMITS, plan_stamp_skew_s=0.05)
    state = rig()
    wanted = flying(state)

    def decide(now: float, arrival: float, stamp, core: SafetyCore | None = None):
        core = core or SafetyCore(AIRSPACE, limits)
        return core.step(inputs(now, state, SetpointResult.of(wanted), result_time_s=arrival, result_stamp_s=stamp))

    on_time = decide(10.02, 10.0, 9.98)
    unstamped = decide(10.02, 10.0, None)
    assert not on_time.holding and on_time.setpoint is wanted and on_time.status is Status.TRACKING
    assert (on_time.setpoint, on_time.status, on_time.reason) == (unstamped.setpoint, unstamped.status,
                                                                   unstamped.reason)
    assert not decide(10.0, 10.0, 10.0 + 0.8 * limits.plan_stamp_skew_s).holding  # within the clocks' skew
    # delivered 0.8 s late (more than plan_timeout_s): arrival says fresh, the stamp says stale
    core = SafetyCore(AIRSPACE, limits)
    late = decide(10.0, 10.0, 9.2, core)
    assert late.cause is Cause.STALE_PLAN and "plan 0.80 s old by its stamp" in late.reason, late
    np.testing.assert_allclose(late.setpoint.position_m, state.position_m)  # held where the rig is, not flown
    assert late.setpoint.hold
    assert not decide(10.05, 10.05, 10.04, core).holding  # the next one on time flies again
    # stamped ahead of its arrival by more than the skew: the clocks disagree, its age is unknown
    ahead = decide(10.0, 10.0, 10.3)
    assert ahead.cause is Cause.STALE_PLAN and ahead.setpoint.hold, ahead
    assert "plan stamped 0.30 s ahead of its arrival: clock skew beyond 0.05 s" in ahead.reason, ahead
    invalid, unset = "plan stamp invalid", "plan not stamped"
    for bad, words in ((math.nan, invalid), (math.inf, invalid), ("soon", invalid), (0.0, unset), (-1.0, unset)):
        decision = decide(10.0, 10.0, bad)
        assert decision.cause is Cause.STALE_PLAN and words in decision.reason, (bad, decision)


def test_the_plan_stamp_skew_comes_from_config_and_a_bad_one_is_refused():
    from cinempc.config import load_parameters

    configured = load_parameters("nodes.yaml", "/**/mpc_node")["node"]["max_plan_stamp_skew_s"]
    assert SafetyLimits.from_config().plan_stamp_skew_s == configured
    assert SafetyLimits.from_parameters({"state_timeout_s": 0.5, "subject_timeout_s": 1.0,
                                         "max_plan_age_s": 0.5}).plan_stamp_skew_s == 0.0  # absent: no skew trusted
    for bad in (-0.1, math.nan, math.inf):
        with pytest.raises(ValueError, match="plan_stamp_skew_s"):
            replace(LIMITS, plan_stamp_skew_s=bad)


def test_a_hold_latched_while_descending_near_the_floor_is_raised_by_the_braking_sink():
    limits = replace(LIMITS, hold_brake_s=0.25)
    floor = AIRSPACE.altitude_floor_m
    planned_floor = AIRSPACE.planning_bounds_m()[0][2]  # the floor plus the tracking margin, as plans keep
    assert planned_floor == pytest.approx(floor + AIRSPACE.tracking_margin_m) and planned_floor > floor
    cases = [  # (state when the hold is latched, height the hold must be at)
        (descending(floor + 0.05, -0.8), planned_floor + 0.8 * 0.25),  # too low for its descent: raised
        (descending(floor + 0.05, +0.8), floor + 0.05),  # climbing: where it is
        (descending(floor + 1.0, -0.8), floor + 1.0),  # high enough for its descent: where it is
    ]
    for state, height in cases:
        core = SafetyCore(AIRSPACE, limits)
        assert not core.step(inputs(0.0, state, Result(flying(state)))).holding
        held = core.step(inputs(0.05, state, Result(flying(state)), director_hold=True))
        assert held.cause is Cause.DIRECTOR_HOLD
        assert held.setpoint.position_m[2] == pytest.approx(height), (state.velocity_mps, held.setpoint)
        np.testing.assert_allclose(held.setpoint.position_m[:2], state.position_m[:2])  # only the height moves
        # the latch keeps that height while the rig brakes (slower and lower): it does not drift down with it
        slower = descending(floor + 0.01, -0.1)
        again = core.step(inputs(0.1, slower, Result(flying(slower)), director_hold=True))
        assert again.setpoint.position_m[2] == pytest.approx(height)
    # the controller's own hold (and every other cause) latched through the same rule
    core = SafetyCore(AIRSPACE, limits)
    state = descending(floor + 0.02, -1.2)
    own = core.step(inputs(0.0, state, Result(Setpoint.hold_at(state), status="fallback_hold")))
    assert own.cause is Cause.CONTROLLER_HOLD and own.setpoint.position_m[2] == pytest.approx(planned_floor + 0.3)
    stale = SafetyCore(AIRSPACE, limits)
    stale.step(inputs(0.0, state, Result(flying(state))))
    held = stale.step(inputs(1.0, state, Result(flying(state)), state_time_s=0.0))
    assert held.cause is Cause.STALE_STATE and held.setpoint.position_m[2] == pytest.approx(planned_floor + 0.3)
    # off (hold_brake_s 0): where the rig was; refused values
    plain = SafetyCore(AIRSPACE, LIMITS)
    assert plain.step(inputs(0.0, state, Result(Setpoint.hold_at(state), status="fallback_hold"))
                      ).setpoint.position_m[2] == pytest.approx(floor + 0.02)
    for bad in (-0.1, math.nan, math.inf, "0.2"):
        with pytest.raises(ValueError, match="hold_brake_s"):
            replace(LIMITS, hold_brake_s=bad)
    assert SafetyLimits.from_config().hold_brake_s > 0  # config/nodes.yaml: every loop's limits


@pytest.mark.parametrize("brake_s, stays_above", [(None, True), (0.0, False)])
def test_the_simulated_vehicle_braking_from_a_descent_stays_above_the_floor(brake_s, stays_above):
    """The real PyBullet vehicle descends at 0.5 m/s toward the floor; HOLD 5 cm above it: braking stays above.

    Without the rule (``hold_brake_s`` 0: held where the rig was) the same hold sinks 3 cm below the floor.
    """
    from cinempc_sim.simulator import Simulator

    limits = SafetyLimits.from_config()
    if brake_s is not None:
        limits = replace(limits, hold_brake_s=brake_s)
    floor = AIRSPACE.altitude_floor_m
    with Simulator("single_walker", render=False) as sim:
        core, dt, now = SafetyCore(AIRSPACE, limits), 0.02, 0.0
        start = sim.rig_state()
        z = floor + 2.0
        hover = replace(Setpoint.hold_at(start), position_m=np.array([*start.position_m[:2], z]))
        for _ in range(250):
            sim.step(hover, dt)
        lowest, held = math.inf, False
        for _ in range(400):
            state = sim.rig_state()
            held = held or state.position_m[2] <= floor + 0.05
            z = max(z - 0.5 * dt, floor)  # the controller's descent at 0.5 m/s, ending on the floor
            descent = replace(hover, position_m=np.array([*start.position_m[:2], z]), velocity_mps=np.array(
                [0.0, 0.0, -0.5 if z > floor else 0.0]), hold=False)
            decision = core.step(SafetyInputs(now_s=now, state=state, state_time_s=now, director_hold=held,
                                              result=SetpointResult(descent), result_time_s=now))
            sim.step(decision.setpoint, dt)
            now += dt
            if held:
                lowest = min(lowest, sim.rig_state().position_m[2])
    assert held
    assert bool(lowest >= floor) == stays_above, lowest - floor
