"""``CineMPC.set_params``: weights and limits change mid-shot without a rebuild, a solve failure or a setpoint jump."""

from __future__ import annotations

import numpy as np
import pytest

from cinempc.safety import FAILED_SOLVE_STATUSES
from cinempc_sim.closed_loop import ClosedLoop, LoopSettings, prepare_run

CHANGE_STEP = 30  # 3 s into the shot


def _fly(change) -> tuple[list, object]:
    setup = prepare_run("single_walker", None, 6.0, render=False, render_rate_hz=0.0)
    mpc = setup.make_controller("cinempc")
    seen: dict = {}

    def hook(event) -> None:
        if event.index == CHANGE_STEP - 1:
            seen["plan_before"] = mpc._plan  # noqa: SLF001 -- the warm start is the point of the test
            seen["backend"] = mpc.backend
            change(mpc, setup)
            seen["plan_after"] = mpc._plan  # noqa: SLF001

    loop = ClosedLoop(setup.sim, mpc, setup.shot, setup.camera, setup.vehicle, on_step=[hook], render=False,
                      settings=LoopSettings(control_rate_hz=setup.settings.control_rate_hz, render_rate_hz=0.0))
    try:
        events = loop.run(6.0).events
    finally:
        setup.sim.close()
    return events, seen


def _jumps(events) -> np.ndarray:
    positions = np.array([e.setpoint.position_m for e in events])
    return np.linalg.norm(np.diff(positions, axis=0), axis=1)


def test_a_weight_change_mid_shot_keeps_the_warm_start_with_no_failure_and_no_jump():
    def heavier_focus(mpc, setup) -> None:
        weights = mpc.params.weights.model_dump()
        mpc.set_params(mpc.params.with_updates(weights={"focus_follow": 3.0 * weights["focus_follow"],
                                                        "jerk": 2.0 * weights["jerk"]}))

    events, seen = _fly(heavier_focus)
    assert seen["plan_after"] is seen["plan_before"] is not None  # the warm start survived
    assert seen["backend"] is not None
    after = events[CHANGE_STEP:]
    assert not [e.status for e in after if e.status in FAILED_SOLVE_STATUSES]
    jumps = _jumps(events)
    before = jumps[CHANGE_STEP - 11:CHANGE_STEP - 1]
    at_change = jumps[CHANGE_STEP - 1:CHANGE_STEP + 2]
    assert at_change.max() <= 1.5 * before.max() + 0.05, (before, at_change)


def test_narrowed_limits_apply_at_the_next_solve_and_structure_is_refused():
    def slower(mpc, setup) -> None:
        vehicle = setup.vehicle.model_copy(update={"vehicle": setup.vehicle.vehicle.model_copy(
            update={"max_speed_mps": 1.0})})
        backend = mpc.backend
        mpc.set_params(vehicle=vehicle)
        assert mpc.backend is backend  # limits are numbers: nothing reloaded, nothing compiled
        with pytest.raises(ValueError, match="structure"):
            mpc.set_params(mpc.params.with_updates(horizon={"horizon_steps": 10}))
        with pytest.raises(TypeError, match="MPCParams"):
            mpc.set_params({"weights": {}})
        assert mpc.vehicle.vehicle.max_speed_mps == 1.0 and mpc.params.horizon.horizon_steps != 10

    events, _ = _fly(slower)
    # cutting the speed limit from 8 to 1 m/s while flying at 4 m/s: the first solve's warm start is far outside
    # the new limits and fails (the shifted plan is flown, a safe fallback); from the next solve on every plan
    # honours the new limit
    after = events[CHANGE_STEP:]
    failed = [e.index for e in after if e.status in FAILED_SOLVE_STATUSES]
    assert failed in ([], [CHANGE_STEP]), failed
    plans = [e.result.plan["velocity_mps"] for e in after[len(failed):]]
    assert plans and max(float(np.abs(v[:, :2]).max()) for v in plans) <= 1.0 + 1e-3
