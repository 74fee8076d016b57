"""Frames, stamps and small rotations every conversion shares (ENU, REP-103/105; SI units)."""

from __future__ import annotations

import math

import numpy as np
from builtin_interfaces.msg import Duration, Time
from geometry_msgs.msg import (
    Quaternion,
    Vector3,
)

from cinempc import optics

MAP_FRAME = "map"
ODOM_FRAME = "odom"
BASE_FRAME = "base_link"
CAMERA_FRAME = "camera_optical"

CAMERA_JOINTS = ("camera_yaw", "gimbal_pitch", "lens_focal_length", "lens_focus_distance", "lens_f_number")
SETPOINT_JOINTS = ("x", "y", "z", "camera_yaw", "gimbal_pitch", "lens_focal_length", "lens_focus_distance",
                   "lens_f_number", "hold")


# ------------------------------------------------------------------ time and small geometry


def stamp_to_s(stamp: Time) -> float:
    """``builtin_interfaces/Time`` in seconds."""
    return float(stamp.sec) + float(stamp.nanosec) * 1e-9


def s_to_stamp(time_s: float) -> Time:
    """Seconds as ``builtin_interfaces/Time`` (non-negative)."""
    if not math.isfinite(time_s) or time_s < 0:
        raise ValueError(f"time stamp must be a finite, non-negative number of seconds, got {time_s!r}")
    nanoseconds = int(round(time_s * 1e9))
    return Time(sec=nanoseconds // 1_000_000_000, nanosec=nanoseconds % 1_000_000_000)


def s_to_duration(time_s: float) -> Duration:
    nanoseconds = int(round(time_s * 1e9))
    return Duration(sec=nanoseconds // 1_000_000_000, nanosec=nanoseconds % 1_000_000_000)


def yaw_quaternion(yaw_rad: float) -> Quaternion:
    """Rotation about +z (ENU up) by ``yaw_rad``."""
    return Quaternion(x=0.0, y=0.0, z=math.sin(yaw_rad / 2.0), w=math.cos(yaw_rad / 2.0))


def quaternion_yaw_rad(q: Quaternion) -> float:
    """Heading of a quaternion (yaw of its ZYX Euler decomposition)."""
    return math.atan2(2.0 * (q.w * q.z + q.x * q.y), 1.0 - 2.0 * (q.y * q.y + q.z * q.z))


def _matrix_quaternion(matrix: np.ndarray) -> Quaternion:
    from scipy.spatial.transform import Rotation

    x, y, z, w = Rotation.from_matrix(matrix).as_quat()
    return Quaternion(x=float(x), y=float(y), z=float(z), w=float(w))


def camera_optical_quaternion(yaw_rad: float, pitch_rad: float) -> Quaternion:
    """Orientation of ``camera_optical`` (x right, y down, z forward) in ``map``."""
    right, down, forward = optics.camera_axes(yaw_rad, pitch_rad)
    return _matrix_quaternion(np.column_stack([right, down, forward]).astype(float))


def _vector(v) -> Vector3:
    return Vector3(x=float(v[0]), y=float(v[1]), z=float(v[2]))


def _array(v) -> np.ndarray:
    return np.array([v.x, v.y, v.z], dtype=float)


def _rotate_z(vector: np.ndarray, angle_rad: float) -> np.ndarray:
    c, s = math.cos(angle_rad), math.sin(angle_rad)
    return np.array([c * vector[0] - s * vector[1], s * vector[0] + c * vector[1], vector[2]])
