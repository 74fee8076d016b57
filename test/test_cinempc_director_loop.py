"""CineMPC (not the follow baseline) flown by the director in the real closed loop: HOLD -> RESUME -> a new shot ->
a queued shot, in PyBullet with the real solver and the director hub the tablet talks to.

What must hold:
* HOLD: every setpoint of the hold is the same latched point; once the rig has braked (``SETTLE_S``) it stays
  within ``HOLD_DRIFT_M`` of that point (issue 28: hold, never drift); the queue's clock is paused;
* RESUME: CineMPC flies again at the next step, and its first solves converge (no fallback);
* a new shot ("now") is the loop's shot within two steps (the bridge reads the hub once a step), its clock
  starting at 0;
* the shot queued behind it ("append") starts when the first one's ``duration_s`` has run, not before,
  and CineMPC flies it;
* no collision, no escaped exception, no hold outside the director's.
Figures are in simulated time, the solver without its wall-clock deadline (the world waits while it thinks,
as in every benchmark): a slow machine cannot change them.
"""

from __future__ import annotations

import numpy as np

from cinempc.director.live import LiveHub
from cinempc.shot import preset
from cinempc_sim.director_bridge import LiveRun

DT_S = 0.1  # the loop's control step (config/sim.yaml control_rate_hz 10)
HOLD_AT, RESUME_AT, NEW_SHOT_AT = 30, 90, 110  # control steps
# The hold is latched where the rig was at ~4 m/s: the simulated autopilot's position loop overshoots it by
# 1.66 m, swings back 0.39 m past it and settles within 0.2 m by 4 s (measured); drift is judged after that.
SETTLE_S = 4.0
HOLD_DRIFT_M = 0.3  # issue 28
NEW_SHOT, QUEUED_SHOT = "dolly_zoom_out", "follow_full_back"


def test_cinempc_holds_without_drift_resumes_cuts_and_flies_the_queued_shot_on_time():
    hub = LiveHub()
    new_shot_s = preset(NEW_SHOT).duration_s
    assert new_shot_s is not None  # the queued shot starts when this one ends
    steps = NEW_SHOT_AT + int(round(new_shot_s / DT_S)) + 30
    script = {
        HOLD_AT: lambda e: hub.hold("test"),
        RESUME_AT: lambda e: hub.resume("test"),
        NEW_SHOT_AT: lambda e: (hub.submit_preset(NEW_SHOT, mode="now"),
                                hub.submit_preset(QUEUED_SHOT, mode="append")),
    }
    paused: dict[int, bool] = {}

    def director(event) -> None:
        action = script.get(event.index)
        if action is not None:
            action(event)
        if HOLD_AT < event.index < RESUME_AT:
            paused[event.index] = hub.snapshot()["queue"]["paused"]

    run = LiveRun(hub, "single_walker", controller="cinempc", duration_s=steps * DT_S, realtime_factor=None,
                  render_rate_hz=1.0, on_step=(director,))
    mpc = run.loop.controller  # the world waits while it thinks: no wall-clock deadline (lockstep, as the benches)
    mpc.set_params(mpc.params.with_updates(solver={"deadline_ms": 1.0e9}))
    try:
        result = run.run()
    finally:
        run.close()
    events = result.events
    assert len(events) == steps
    assert result.metrics["collisions"] == 0

    # HOLD: latched once, the rig brakes and stays there
    held = events[HOLD_AT + 1:RESUME_AT + 1]
    assert all(e.setpoint.hold and e.status == "hold" for e in held), [e.status for e in held]
    point = held[0].setpoint.position_m
    assert all(np.array_equal(e.setpoint.position_m, point) for e in held)
    braked = [e for e in held if e.time_s >= held[0].time_s + SETTLE_S]
    drift = max(float(np.linalg.norm(e.state.position_m - point)) for e in braked)
    braking = max(float(np.linalg.norm(e.state.position_m - point)) for e in held)
    print(f"HOLD: braking excursion {braking:.2f} m, drift after {SETTLE_S} s {drift:.3f} m")
    assert drift <= HOLD_DRIFT_M, drift
    assert paused and all(paused.values())  # the shot's clock does not run during HOLD

    # RESUME: CineMPC flies again at once and its solves converge
    after = events[RESUME_AT + 1:NEW_SHOT_AT + 1]
    assert not after[0].setpoint.hold
    assert all(e.status in ("optimal", "relaxed") for e in after), [e.status for e in after]

    # a new shot, now: the loop's shot within two steps (the bridge reads the hub at the next step), from its start
    cut = next(e for e in events if e.shot.name == NEW_SHOT)
    assert NEW_SHOT_AT < cut.index <= NEW_SHOT_AT + 2, cut.index
    assert cut.shot_time_s < 1e-9

    # the queued shot starts when the new one has run its duration, and CineMPC flies it
    started = next(e for e in events if e.shot.name == QUEUED_SHOT)
    ran_s = started.time_s - cut.time_s
    print(f"queued shot started {ran_s:.2f} s after the cut (duration {new_shot_s} s)")
    assert new_shot_s - 1e-6 <= ran_s <= new_shot_s + 2 * DT_S, ran_s
    flown = [e for e in events if e.shot.name == QUEUED_SHOT]
    assert len(flown) >= 20 and all(not e.setpoint.hold for e in flown), [e.status for e in flown]
    failed = [e.status for e in events[RESUME_AT + 1:] if e.status not in ("optimal", "relaxed")]
    print(f"after RESUME: {len(failed)} of {len(events) - RESUME_AT - 1} steps not optimal/relaxed: {failed}")
    assert len(failed) <= 3, failed
    assert not any(e.setpoint.hold for e in events[RESUME_AT + 1:])
