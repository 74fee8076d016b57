"""ENU (ROS, REP-103) <-> NED (MAVLink) conversion -- the ONE place it lives.

Why one place: a sign error between the two conventions flies the drone into
the ground or mirrors a shot.  Every MAVLink-facing module converts here and
nowhere else, and ``test/test_mavlink_frames.py`` pins the conventions down.

Conventions:

* positions/velocities/accelerations: ENU (x east, y north, z up) <-> NED
  (x north, y east, z down): ``ned = (y, x, -z)``; the map is its own inverse.
* heading: ENU yaw is counter-clockwise from east (REP-103); NED yaw is
  clockwise from north: ``yaw_ned = pi/2 - yaw_enu`` (also its own inverse).
* pitch: both sides use "negative = nose/camera down" (MAVLink gimbal pitch and
  :class:`cinempc.state.RigState` agree), so pitch passes unchanged.
* attitude quaternions are MAVLink's (w, x, y, z), FRD body in NED, Z-Y-X Euler.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.spatial.transform import Rotation

from cinempc.angles import wrap_angle

__all__ = [
    "enu_to_ned",
    "ned_to_enu",
    "euler_from_quaternion_ned",
    "quaternion_from_euler_ned",
    "yaw_enu_to_ned",
    "yaw_ned_to_enu",
]

_SWAP = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, -1.0]])


def enu_to_ned(vector_enu) -> np.ndarray:
    """An ENU vector (3,) or stack (N, 3) in NED."""
    return np.asarray(vector_enu, dtype=float) @ _SWAP.T


def ned_to_enu(vector_ned) -> np.ndarray:
    """A NED vector (3,) or stack (N, 3) in ENU (the same swap: it is an involution)."""
    return np.asarray(vector_ned, dtype=float) @ _SWAP.T


def yaw_enu_to_ned(yaw_enu_rad: float) -> float:
    """ENU heading (CCW from east) -> NED heading (CW from north), wrapped."""
    return wrap_angle(math.pi / 2.0 - float(yaw_enu_rad))


def yaw_ned_to_enu(yaw_ned_rad: float) -> float:
    """NED heading (CW from north) -> ENU heading (CCW from east), wrapped."""
    return wrap_angle(math.pi / 2.0 - float(yaw_ned_rad))


def quaternion_from_euler_ned(roll_rad: float, pitch_rad: float, yaw_ned_rad: float) -> list[float]:
    """MAVLink (w, x, y, z) quaternion of an FRD body with Z-Y-X Euler angles in NED."""
    q = Rotation.from_euler("ZYX", [yaw_ned_rad, pitch_rad, roll_rad]).as_quat(scalar_first=True)
    return [float(v) for v in q]


def euler_from_quaternion_ned(q_wxyz) -> tuple[float, float, float]:
    """(roll, pitch, yaw_ned) from a MAVLink (w, x, y, z) quaternion; raises on a zero quaternion."""
    q = np.asarray(q_wxyz, dtype=float).reshape(4)
    if not np.all(np.isfinite(q)) or np.linalg.norm(q) < 1e-6:
        raise ValueError(f"invalid attitude quaternion {q.tolist()}")
    yaw, pitch, roll = Rotation.from_quat(q, scalar_first=True).as_euler("ZYX")
    return float(roll), float(pitch), float(yaw)
