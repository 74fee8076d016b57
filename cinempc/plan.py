"""The typed plan: what a controller intends over its horizon, and the setpoint at any time along it.

A plan is ``N + 1`` stages at times ``t_s`` (shot time, seconds) of the rig's state (position,
velocity, acceleration, camera yaw and pitch, lens) and ``N`` intervals of the controls
between them (jerk, yaw rate).  ``sample(t)`` is the one way to read a setpoint off a plan
between solves; the safety core, the MPC node and the simulator all use it.  The MPC's own
diagnostic series (predicted image positions, the group's ground point) travel in
``diagnostics``; any series can also be read by name (``plan["position_m"]``, ``plan.get``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np

from cinempc.angles import wrap_angle
from cinempc.state import RigState, Setpoint

__all__ = ["Plan"]

_VECTOR_STAGES = ("position_m", "velocity_mps", "acceleration_mps2")
_SCALAR_STAGES = ("yaw_rad", "pitch_rad", "focal_length_mm", "focus_distance_m", "f_number", "slack")


def _array(value: Any, shape: tuple[int, ...], name: str) -> np.ndarray:
    array = np.array(value, dtype=float)  # a copy: a plan never aliases the solver's buffers
    if array.shape != shape:
        raise ValueError(f"Plan.{name} must have shape {shape}, got {array.shape}")
    return array


@dataclass(frozen=True, eq=False)
class Plan:
    """A controller's horizon: ``N + 1`` stages of rig state at ``t_s`` and ``N`` intervals of controls.

    Shapes are checked on construction; values are not (a non-finite plan must reach the
    safety core, which holds on it, rather than fail where it was made).
    """

    t_s: np.ndarray  # (N + 1,) shot time of each stage, increasing
    position_m: np.ndarray  # (N + 1, 3) ENU
    velocity_mps: np.ndarray  # (N + 1, 3)
    acceleration_mps2: np.ndarray  # (N + 1, 3)
    yaw_rad: np.ndarray  # (N + 1,) camera heading, continuous along the plan (not wrapped)
    pitch_rad: np.ndarray  # (N + 1,)
    focal_length_mm: np.ndarray  # (N + 1,)
    focus_distance_m: np.ndarray  # (N + 1,)
    f_number: np.ndarray  # (N + 1,)
    jerk_mps3: np.ndarray | None = None  # (N, 3) control over each interval; zeros when not given
    yaw_rate_rad_s: np.ndarray | None = None  # (N,) control over each interval; zeros when not given
    slack: np.ndarray | None = None  # (N + 1,) safety slack the solver used; zeros when not given
    diagnostics: Mapping[str, np.ndarray] = field(default_factory=dict)  # the MPC's predicted image series

    def __post_init__(self) -> None:
        times = np.array(self.t_s, dtype=float).reshape(-1)
        if len(times) < 1 or np.any(np.diff(times) <= 0):
            raise ValueError("Plan.t_s must hold one or more increasing times")
        stages, intervals = len(times), max(len(times) - 1, 0)
        object.__setattr__(self, "t_s", times)
        for name in _VECTOR_STAGES:
            object.__setattr__(self, name, _array(getattr(self, name), (stages, 3), name))
        for name in _SCALAR_STAGES:
            value = getattr(self, name)
            object.__setattr__(self, name, np.zeros(stages) if value is None else _array(value, (stages,), name))
        jerk, yaw_rate = self.jerk_mps3, self.yaw_rate_rad_s
        object.__setattr__(self, "jerk_mps3",
                           np.zeros((intervals, 3)) if jerk is None else _array(jerk, (intervals, 3), "jerk_mps3"))
        object.__setattr__(self, "yaw_rate_rad_s", np.zeros(intervals) if yaw_rate is None
                           else _array(yaw_rate, (intervals,), "yaw_rate_rad_s"))
        object.__setattr__(self, "diagnostics", {k: np.asarray(v) for k, v in dict(self.diagnostics).items()})

    # ---------------------------------------------------------------- construction

    @classmethod
    def hold(cls, state: RigState, horizon_steps: int, dt_s: float, start_s: float) -> Plan:
        """Stay where the rig is over the horizon, camera and lens frozen."""
        n = horizon_steps + 1
        return cls(
            t_s=start_s + dt_s * np.arange(n), position_m=np.tile(state.position_m, (n, 1)),
            velocity_mps=np.zeros((n, 3)), acceleration_mps2=np.zeros((n, 3)), yaw_rad=np.full(n, state.yaw_rad),
            pitch_rad=np.full(n, state.pitch_rad), focal_length_mm=np.full(n, state.focal_length_mm),
            focus_distance_m=np.full(n, state.focus_distance_m), f_number=np.full(n, state.f_number),
        )

    # ---------------------------------------------------------------- reading

    @property
    def horizon_steps(self) -> int:
        return len(self.t_s) - 1

    @property
    def dt_s(self) -> float:
        """The step between stages (the first interval's; plans are uniformly spaced)."""
        return float(self.t_s[1] - self.t_s[0]) if len(self.t_s) > 1 else 0.0

    def sample(self, t_s: float, hold: bool = False) -> Setpoint:
        """The setpoint at shot time ``t_s``: stages interpolated linearly, clamped to the plan's ends.

        The heading is interpolated as the continuous angle the plan flies (then wrapped), so
        a plan across +-pi never spins the long way round; the yaw rate is the control of the
        interval that ends at or after ``t_s``.  A non-finite value raises ``ValueError``.
        """
        t = float(t_s)

        def at(series: np.ndarray) -> np.ndarray | float:
            if series.ndim == 1:
                return float(np.interp(t, self.t_s, series))
            return np.array([np.interp(t, self.t_s, series[:, i]) for i in range(series.shape[1])])

        interval = int(np.clip(np.searchsorted(self.t_s, t, side="left") - 1, 0, max(self.horizon_steps - 1, 0)))
        yaw_rate = float(self.yaw_rate_rad_s[interval]) if self.horizon_steps else 0.0
        return Setpoint(
            position_m=at(self.position_m), velocity_mps=at(self.velocity_mps),
            acceleration_mps2=at(self.acceleration_mps2), yaw_rad=wrap_angle(at(np.unwrap(self.yaw_rad))),
            yaw_rate_rad_s=yaw_rate, pitch_rad=at(self.pitch_rad), focal_length_mm=at(self.focal_length_mm),
            focus_distance_m=at(self.focus_distance_m), f_number=at(self.f_number), hold=hold,
        )

    def state_at(self, step: int) -> RigState:
        """The rig as the plan has it at stage ``step``: perfect tracking, for benchmarks and tests."""
        return RigState(
            position_m=self.position_m[step], velocity_mps=self.velocity_mps[step],
            acceleration_mps2=self.acceleration_mps2[step], yaw_rad=float(self.yaw_rad[step]),
            pitch_rad=float(self.pitch_rad[step]), focal_length_mm=float(self.focal_length_mm[step]),
            focus_distance_m=float(self.focus_distance_m[step]), f_number=float(self.f_number[step]),
        )

    def shifted(self, start_s: float) -> Plan:
        """The same plan advanced by whole steps to ``start_s``, its last stage held past its end."""
        if self.horizon_steps == 0:
            return replace(self, t_s=np.array([float(start_s)]))
        step = max(0, int(round((start_s - self.t_s[0]) / self.dt_s)))

        def advance(array: np.ndarray) -> np.ndarray:
            if len(array) == 0:
                return array
            rest = array[min(step, len(array) - 1):]
            return np.concatenate([rest, np.repeat(rest[-1:], len(array) - len(rest), axis=0)], axis=0)

        series = {f.name: advance(getattr(self, f.name)) for f in fields(self)
                  if f.name not in ("t_s", "diagnostics")}
        return Plan(t_s=start_s + self.dt_s * np.arange(len(self.t_s)), **series,
                    diagnostics={k: advance(np.asarray(v)) for k, v in self.diagnostics.items()})

    # ---------------------------------------------------------------- series by name

    def __getitem__(self, name: str) -> np.ndarray:
        """A series by name: a field (``"position_m"``) or a diagnostic (``"group_size_px"``)."""
        if name in self.diagnostics:
            return self.diagnostics[name]
        if name in _FIELD_NAMES:
            return getattr(self, name)
        raise KeyError(name)

    def get(self, name: str, default: Any = None) -> Any:
        """A series by name, or ``default`` (for code that reads plans by series name)."""
        try:
            return self[name]
        except KeyError:
            return default

    def keys(self) -> Iterator[str]:
        """Every series name: the fields, then the diagnostics."""
        yield from _FIELD_NAMES
        yield from self.diagnostics

    def __contains__(self, name: object) -> bool:
        return name in _FIELD_NAMES or name in self.diagnostics


_FIELD_NAMES = tuple(f.name for f in fields(Plan) if f.name != "diagnostics")
