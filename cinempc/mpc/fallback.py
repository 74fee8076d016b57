"""What to command when the solver cannot be trusted: the shifted previous plan, else hold.

Why a shifted plan first: it was feasible and smooth when it was computed and
still is for a few steps (the world moved by one step), so flying it is far
calmer than an abrupt hover.  When there is none left, or none at all, a hold
(hover in place, camera and lens frozen) is always safe and always available.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cinempc.angles import wrap_angle
from cinempc.mpc.model import ACC, FOCAL_SCALE_MM, IU, IX, POS, VEL, dynamics_numpy, f_number_from_stops
from cinempc.plan import Plan
from cinempc.state import RigState, Setpoint


@dataclass
class StoredPlan:
    """A solved plan kept for warm starts and fallbacks, with the shot time it starts at."""

    X: np.ndarray
    U: np.ndarray
    shot_time_s: float
    dt_s: float
    plan: Plan | None = None
    objective: float = float("inf")  # the solver's objective at this plan (inf: unknown)

    def steps_since(self, shot_time_s: float) -> int:
        return max(0, int(round((shot_time_s - self.shot_time_s) / self.dt_s)))


def setpoint_from_plan(X: np.ndarray, U: np.ndarray, step: int, dt_s: float,
                       heading_by_airframe: bool = False, heading_time_constant_s: float = 0.0) -> Setpoint:
    """The setpoint held over the interval before stage ``step`` (``step >= 1``) of a plan.

    Camera and lens get their values *at* stage ``step``: their motors move towards
    a target at their rated speed, so the target is where they must be at the end of
    the interval.  The drone's position, velocity and acceleration are the plan's at
    the *middle* of the interval (exact for the triple integrator).  Why: an autopilot
    (PX4, ArduPilot, our simulated one) tracks a held trajectory setpoint with a
    position P-term; a setpoint one whole step ahead reads as a constant lead of
    ``v * dt``, so the drone flies ``position_gain * dt`` (~20 %) faster than planned
    and every replan must brake harder -- measured in closed loop as a drone that
    kept accelerating past a walker.  Half a step ahead is ahead for the first half of
    the interval and behind for the second: no bias.

    ``heading_by_airframe``: a camera without a pan axis looks where the airframe does, and the
    autopilot flies the heading like the position (P on the angle plus the yaw-rate feed-forward),
    so the heading is the middle of the interval too.  At the end, the lead overshot every step: a
    camera panning at 30 deg/s sat 0.5 deg past the plan, 5 % of the width on a long lens.  The
    plan's heading is the airframe's predicted one (it lags the commanded rate by
    ``heading_time_constant_s``, :mod:`cinempc.mpc.model`), so the autopilot's angle term only corrects
    what the model missed while the feed-forward carries the commanded rate.
    """
    x = X[step]
    u = U[min(step - 1, len(U) - 1)]
    mid = dynamics_numpy(X[step - 1], u, 0.5 * dt_s, heading_time_constant_s)
    yaw = mid[IX["yaw"]] if heading_by_airframe else x[IX["yaw"]]
    return Setpoint(
        position_m=mid[POS], velocity_mps=mid[VEL], acceleration_mps2=mid[ACC], yaw_rad=wrap_angle(float(yaw)),
        yaw_rate_rad_s=float(u[IU["yaw_rate"]]), pitch_rad=float(x[IX["pitch"]]),
        focal_length_mm=float(x[IX["focal"]] * FOCAL_SCALE_MM), focus_distance_m=float(x[IX["focus"]]),
        f_number=float(f_number_from_stops(x[IX["stops"]])),
    )


def shifted_setpoint(plan: StoredPlan | None, shot_time_s: float,
                     heading_by_airframe: bool = False, heading_time_constant_s: float = 0.0) -> Setpoint | None:
    """The previous plan's setpoint for now + one step, or None when it has run out."""
    if plan is None:
        return None
    step = plan.steps_since(shot_time_s) + 1
    if step >= len(plan.X):
        return None
    return setpoint_from_plan(plan.X, plan.U, step, plan.dt_s, heading_by_airframe, heading_time_constant_s)


def hold_setpoint(state: RigState) -> Setpoint:
    """Hover here, camera and lens as they are."""
    return Setpoint.hold_at(state)


def shifted_plan(stored: StoredPlan, shot_time_s: float) -> Plan | None:
    """The stored plan advanced to ``shot_time_s``, its last stage held past its end (None without one)."""
    return stored.plan.shifted(shot_time_s) if stored.plan is not None else None
