"""Plain data passed between the cores: rig state, setpoints, subjects, obstacles.

These are the contracts between the MPC, the simulator, perception, the MAVLink
bridge and the ROS nodes.  All vectors are ENU in the ``map`` frame (REP-103),
metres and radians; lens settings use the names a camera assistant uses.
Conversions to ROS messages or MAVLink NED happen at the edges, never here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np


def _vec3(value, name: str) -> np.ndarray:
    array = np.asarray(value, dtype=float).reshape(-1)
    if array.shape != (3,):
        raise ValueError(f"{name} must have 3 components, got shape {array.shape}")
    return array


def require_finite(name: str, *values) -> None:
    """Raise a ValueError naming ``name`` if any value is NaN or infinite.

    Why: a NaN pose from a glitching estimator must be rejected at the door, not
    propagated into a solver that then commands a wild move.
    """
    for value in values:
        if not np.all(np.isfinite(np.asarray(value, dtype=float))):
            raise ValueError(f"{name} contains a non-finite value: {value!r}")


@dataclass(frozen=True)
class RigState:
    """Drone + gimbal + lens: everything the MPC optimises, measured now.

    ``yaw_rad`` is the *camera* heading (drone yaw plus gimbal yaw); a gimbal
    without a yaw axis simply makes the drone turn.  ``pitch_rad`` is the gimbal
    pitch, negative looking down (MAVLink convention).
    """

    position_m: np.ndarray
    velocity_mps: np.ndarray = field(default_factory=lambda: np.zeros(3))
    acceleration_mps2: np.ndarray = field(default_factory=lambda: np.zeros(3))
    yaw_rad: float = 0.0
    pitch_rad: float = 0.0
    focal_length_mm: float = 35.0
    focus_distance_m: float = 5.0
    f_number: float = 4.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "position_m", _vec3(self.position_m, "position_m"))
        object.__setattr__(self, "velocity_mps", _vec3(self.velocity_mps, "velocity_mps"))
        object.__setattr__(self, "acceleration_mps2", _vec3(self.acceleration_mps2, "acceleration_mps2"))
        require_finite(
            "RigState",
            self.position_m, self.velocity_mps, self.acceleration_mps2,
            self.yaw_rad, self.pitch_rad, self.focal_length_mm, self.focus_distance_m, self.f_number,
        )

    def with_(self, **changes) -> RigState:
        """A copy with some fields changed."""
        return replace(self, **changes)


@dataclass(frozen=True)
class Setpoint:
    """What the autopilot, gimbal and lens controller are asked to do next.

    Position + velocity + acceleration feed-forward + yaw is exactly what PX4's
    and ArduPilot's offboard/guided ``SET_POSITION_TARGET_LOCAL_NED`` takes.
    """

    position_m: np.ndarray
    velocity_mps: np.ndarray
    acceleration_mps2: np.ndarray
    yaw_rad: float
    yaw_rate_rad_s: float
    pitch_rad: float
    focal_length_mm: float
    focus_distance_m: float
    f_number: float
    hold: bool = False  # True: a hold/hover setpoint issued by a safety reaction

    def __post_init__(self) -> None:
        for name in ("position_m", "velocity_mps", "acceleration_mps2"):
            object.__setattr__(self, name, _vec3(getattr(self, name), name))
        require_finite(
            "Setpoint",
            self.position_m, self.velocity_mps, self.acceleration_mps2, self.yaw_rad, self.yaw_rate_rad_s,
            self.pitch_rad, self.focal_length_mm, self.focus_distance_m, self.f_number,
        )

    @classmethod
    def hold_at(cls, state: RigState) -> Setpoint:
        """Hover where we are, keep the camera and lens as they are."""
        return cls(
            position_m=state.position_m.copy(), velocity_mps=np.zeros(3), acceleration_mps2=np.zeros(3),
            yaw_rad=state.yaw_rad, yaw_rate_rad_s=0.0, pitch_rad=state.pitch_rad,
            focal_length_mm=state.focal_length_mm, focus_distance_m=state.focus_distance_m,
            f_number=state.f_number, hold=True,
        )


@dataclass(frozen=True)
class SubjectTrack:
    """A subject now and predicted over the MPC horizon.

    ``positions_m[k]`` is the ground point under the subject (feet) at time
    ``k * dt_s`` from now (row 0 is now); ``height_m`` is standing height.  A
    ground-truth simulator and the perception stack both produce this; ``track_state``
    is the tracker's state (a ``cinempc.perception.subjects.SubjectState`` value such as
    ``"searching"``), empty from a source without a tracker (ground truth, a map pin).
    """

    track_id: int
    positions_m: np.ndarray  # (K, 3)
    velocities_mps: np.ndarray  # (K, 3)
    height_m: float = 1.75
    name: str | None = None
    dt_s: float = 0.1
    covariance_m2: np.ndarray | None = None  # (K, 3, 3) position covariance, when estimated
    visible: bool = True
    track_state: str = ""

    def __post_init__(self) -> None:
        positions = np.atleast_2d(np.asarray(self.positions_m, dtype=float))
        velocities = np.atleast_2d(np.asarray(self.velocities_mps, dtype=float))
        if positions.shape[1] != 3 or velocities.shape != positions.shape:
            raise ValueError(
                f"subject #{self.track_id}: positions {positions.shape} and velocities {velocities.shape} "
                "must both be (K, 3)"
            )
        require_finite(f"subject #{self.track_id}", positions, velocities, self.height_m)
        if not 0.2 < self.height_m < 5.0:
            raise ValueError(f"subject #{self.track_id}: implausible height {self.height_m} m")
        object.__setattr__(self, "positions_m", positions)
        object.__setattr__(self, "velocities_mps", velocities)

    @property
    def ref(self) -> str:
        """How a ShotSpec refers to this subject by id."""
        return f"#{self.track_id}"

    def matches(self, reference: str) -> bool:
        """True if a ShotSpec subject reference (name, ``#id`` or ``all``) means this subject."""
        reference = reference.strip().lower()
        return reference in ("all", self.ref) or (self.name is not None and reference == self.name.lower())

    def heading_rad(self, k: int = 0) -> float:
        """Direction of travel at step k; falls back to +x when standing still."""
        vx, vy = self.velocities_mps[min(k, len(self.velocities_mps) - 1), :2]
        return math.atan2(vy, vx) if math.hypot(vx, vy) > 0.2 else 0.0

    def position_at(self, k: int) -> np.ndarray:
        """Predicted position at step k, holding the last prediction past the end."""
        return self.positions_m[min(k, len(self.positions_m) - 1)]


def _unit(vector: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """The vector scaled to length 1, or ``fallback`` when it has (almost) none."""
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 1e-9 else fallback


@dataclass(frozen=True)
class Obstacle:
    """Something the drone must keep clear of: a sphere, a vertical cylinder or an axis-aligned box."""

    kind: Literal["sphere", "cylinder", "box"]
    center_m: np.ndarray  # sphere: centre; cylinder: base centre; box: centre
    radius_m: float = 0.0  # sphere and cylinder
    height_m: float = 0.0  # cylinder
    half_extents_m: np.ndarray | None = None  # box
    name: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "center_m", _vec3(self.center_m, "center_m"))
        if self.kind == "box":
            if self.half_extents_m is None:
                raise ValueError("a box obstacle needs half_extents_m")
            object.__setattr__(self, "half_extents_m", _vec3(self.half_extents_m, "half_extents_m"))
        elif self.kind in ("sphere", "cylinder"):
            if self.radius_m <= 0:
                raise ValueError(f"a {self.kind} obstacle needs a positive radius_m")
        else:
            raise ValueError(f"unknown obstacle kind {self.kind!r}: sphere, cylinder or box")

    def separating_plane(self, point_m) -> tuple[np.ndarray, np.ndarray]:
        """(unit normal, surface point) of the plane touching the obstacle nearest to a point, normal towards it;
        from inside, through the nearest face.  The obstacle lies on the plane's far side (it is convex)."""
        p = np.asarray(point_m, dtype=float)
        if self.kind == "sphere":
            normal = _unit(p - self.center_m, np.array([0.0, 0.0, 1.0]))
            return normal, self.center_m + self.radius_m * normal
        if self.kind == "cylinder":
            radial = _unit(np.array([*(p[:2] - self.center_m[:2]), 0.0]), np.array([1.0, 0.0, 0.0]))
            bottom, top = self.center_m[2], self.center_m[2] + self.height_m
            rho = float(np.hypot(*(p[:2] - self.center_m[:2])))
            nearest = self.center_m + min(rho, self.radius_m) * radial
            nearest[2] = min(max(p[2], bottom), top)
            if np.linalg.norm(p - nearest) > 1e-9:
                return (p - nearest) / np.linalg.norm(p - nearest), nearest
            depths = {"side": self.radius_m - rho, "below": p[2] - bottom, "above": top - p[2]}
            face = min(depths, key=depths.get)
            if face == "side":
                return radial, nearest + depths["side"] * radial
            up = np.array([0.0, 0.0, 1.0 if face == "above" else -1.0])
            return up, np.array([p[0], p[1], top if face == "above" else bottom])
        low, high = self.center_m - self.half_extents_m, self.center_m + self.half_extents_m
        nearest = np.clip(p, low, high)
        if np.linalg.norm(p - nearest) > 1e-9:
            return (p - nearest) / np.linalg.norm(p - nearest), nearest
        axis = int(np.argmin(self.half_extents_m - np.abs(p - self.center_m)))
        normal = np.zeros(3)
        normal[axis] = 1.0 if p[axis] >= self.center_m[axis] else -1.0
        surface = p.copy()
        surface[axis] = high[axis] if normal[axis] > 0 else low[axis]
        return normal, surface

    def distance_m(self, point_m) -> float:
        """Euclidean distance from a point to the obstacle's surface (negative inside)."""
        return float(self.distances_m(np.asarray(point_m, dtype=float)[None, :])[0])

    def distances_m(self, points_m: np.ndarray) -> np.ndarray:
        """:meth:`distance_m` of each row of an (n, 3) array, at once."""
        p = np.asarray(points_m, dtype=float).reshape(-1, 3)
        if self.kind == "sphere":
            return np.linalg.norm(p - self.center_m, axis=1) - self.radius_m
        if self.kind == "cylinder":
            radial = np.linalg.norm(p[:, :2] - self.center_m[:2], axis=1) - self.radius_m
            vertical = np.maximum(self.center_m[2] - p[:, 2], p[:, 2] - (self.center_m[2] + self.height_m))
            beside = np.where(radial > 0, np.hypot(np.maximum(radial, 0.0), vertical), vertical)
            return np.where(vertical <= 0, radial, beside)
        offset = np.abs(p - self.center_m) - self.half_extents_m
        outside = np.linalg.norm(np.maximum(offset, 0.0), axis=1)
        return np.where(outside > 0, outside, np.max(offset, axis=1))
