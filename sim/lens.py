"""Zoom, focus and iris motors: the lens the camera assistant's FIZ system drives.

Each ring moves toward its commanded value no faster than the camera profile's
rated motor speed (``config/cameras.yaml``) and stops at the lens's end stops.
The iris moves in stops (2 log2 N), the unit an iris motor's speed is rated in,
so a one-stop change takes the same time at f/2 and at f/16.  The MPC plans with
the same rate limits, so a feasible plan is one the lens can follow exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from cinempc.config import CameraProfile


def _approach(current: float, target: float, max_step: float) -> float:
    """``current`` moved toward ``target`` by at most ``max_step``."""
    delta = target - current
    if abs(delta) <= max_step:
        return target
    return current + math.copysign(max_step, delta)


def f_number_to_stops(f_number: float) -> float:
    """Stops from f/1: 2 log2 N (f/1.4 = 1 stop, f/2 = 2, f/2.8 = 3 ...)."""
    return 2.0 * math.log2(f_number)


def stops_to_f_number(stops: float) -> float:
    """Inverse of :func:`f_number_to_stops`."""
    return 2.0 ** (stops / 2.0)


@dataclass
class LensState:
    """What the lens is set to right now (metres for focus, millimetres for focal length)."""

    focal_length_mm: float
    focus_distance_m: float
    f_number: float


class LensActuators:
    """Rate-limited zoom/focus/iris motors clamped to the profile's ranges."""

    def __init__(self, profile: CameraProfile, initial: LensState) -> None:
        self.profile = profile
        self.state = self._clamped(initial)

    def _clamped(self, lens: LensState) -> LensState:
        p = self.profile
        for name, value in (("focal_length_mm", lens.focal_length_mm), ("focus_distance_m", lens.focus_distance_m),
                            ("f_number", lens.f_number)):
            if not math.isfinite(value) or value <= 0:
                raise ValueError(f"lens {name} must be a positive finite number, got {value!r}")
        return LensState(
            focal_length_mm=p.focal_length_mm.clamp(lens.focal_length_mm),
            focus_distance_m=p.focus_distance_m.clamp(lens.focus_distance_m),
            f_number=p.f_number.clamp(lens.f_number),
        )

    def reset(self, initial: LensState) -> None:
        self.state = self._clamped(initial)

    def step(self, command: LensState, dt_s: float) -> LensState:
        """Move every ring toward the (clamped) command for ``dt_s`` seconds."""
        target = self._clamped(command)
        p = self.profile
        s = self.state
        stops = _approach(f_number_to_stops(s.f_number), f_number_to_stops(target.f_number),
                          p.iris_speed_stops_per_s * dt_s)
        self.state = LensState(
            focal_length_mm=_approach(s.focal_length_mm, target.focal_length_mm, p.zoom_speed_mm_per_s * dt_s),
            focus_distance_m=_approach(s.focus_distance_m, target.focus_distance_m, p.focus_speed_m_per_s * dt_s),
            f_number=p.f_number.clamp(stops_to_f_number(stops)),
        )
        return self.state
