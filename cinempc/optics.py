"""Thin-lens camera model: field of view, projection, depth of field and blur.

Every other layer (MPC, renderer, perception, CLI) uses these functions so that
the lens the optimiser reasons about is exactly the lens the simulator renders
and the perception stack inverts.

Units are SI (metres, radians) with the unit in the name; focal length and circle
of confusion are metres here although cinematographers speak millimetres -- the
camera profiles and the CLI convert at the edge.

The scalar formulas use only arithmetic, ``abs`` and the trigonometric functions
picked by :func:`_ops`, so the same code runs on floats, NumPy arrays and CasADi
symbols.  That keeps one source of truth between the MPC (symbolic) and the
simulator and metrics (numeric).

Sources: Ray, *Applied Photographic Optics* (4th ed.), ch. 6 (depth of field);
Hartley & Zisserman, *Multiple View Geometry*, ch. 6 (pinhole camera).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "CameraPose",
    "back_project",
    "blur_circle_m",
    "blur_circle_px",
    "camera_axes",
    "depth_of_field",
    "DepthOfField",
    "far_limit_m",
    "field_of_view_rad",
    "focal_length_for_fov_m",
    "focal_length_px",
    "hyperfocal_m",
    "intrinsics_matrix",
    "near_limit_m",
    "project",
    "subject_height_px",
]


def _ops(*values: Any):
    """Return the math namespace for the given values: casadi for symbols, else numpy.

    Why: one formula, two worlds -- the MPC builds CasADi graphs from the same
    functions the simulator evaluates with NumPy.
    """
    for value in values:
        if type(value).__module__.startswith("casadi"):
            import casadi

            return casadi
    return np


# --------------------------------------------------------------------------- lens


def hyperfocal_m(focal_length_m, f_number, coc_m):
    """Hyperfocal distance H = f^2 / (N c) + f.

    Focused at H, everything from H/2 to infinity is acceptably sharp.
    """
    return focal_length_m**2 / (f_number * coc_m) + focal_length_m


def near_limit_m(focal_length_m, f_number, focus_distance_m, coc_m):
    """Near limit of acceptable sharpness: s (H - f) / (H + s - 2 f)."""
    h = hyperfocal_m(focal_length_m, f_number, coc_m)
    s = focus_distance_m
    f = focal_length_m
    return s * (h - f) / (h + s - 2.0 * f)


def far_limit_m(focal_length_m: float, f_number: float, focus_distance_m: float, coc_m: float) -> float:
    """Far limit of acceptable sharpness: s (H - f) / (H - s); ``math.inf`` when s >= H.

    Numeric only (it branches); the MPC uses :func:`blur_circle_m` instead, which is
    smooth and equivalent (a point is inside [near, far] iff its blur <= c).
    """
    h = hyperfocal_m(focal_length_m, f_number, coc_m)
    s = focus_distance_m
    if s >= h:
        return math.inf
    return s * (h - focal_length_m) / (h - s)


@dataclass(frozen=True)
class DepthOfField:
    """Depth of field of a lens setting; ``far_m`` is ``math.inf`` past the hyperfocal distance."""

    hyperfocal_m: float
    near_m: float
    far_m: float

    @property
    def total_m(self) -> float:
        """Far minus near; infinite when the far limit is."""
        return self.far_m - self.near_m

    def contains(self, distance_m: float) -> bool:
        """True if a point at ``distance_m`` is acceptably sharp."""
        return self.near_m <= distance_m <= self.far_m


def depth_of_field(focal_length_m: float, f_number: float, focus_distance_m: float, coc_m: float) -> DepthOfField:
    """Hyperfocal distance and near/far limits in one call (numeric)."""
    _check_lens(focal_length_m, f_number, focus_distance_m, coc_m)
    return DepthOfField(
        hyperfocal_m=float(hyperfocal_m(focal_length_m, f_number, coc_m)),
        near_m=float(near_limit_m(focal_length_m, f_number, focus_distance_m, coc_m)),
        far_m=float(far_limit_m(focal_length_m, f_number, focus_distance_m, coc_m)),
    )


def _check_lens(focal_length_m: float, f_number: float, focus_distance_m: float, coc_m: float) -> None:
    """Reject settings where the thin-lens formulas are meaningless (focus inside f, etc.)."""
    for name, value in (
        ("focal_length_m", focal_length_m),
        ("f_number", f_number),
        ("focus_distance_m", focus_distance_m),
        ("coc_m", coc_m),
    ):
        if not math.isfinite(value) or value <= 0:
            raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    if focus_distance_m <= focal_length_m:
        raise ValueError(
            f"focus_distance_m ({focus_distance_m}) must exceed the focal length ({focal_length_m} m)"
        )


def blur_circle_m(focal_length_m, f_number, focus_distance_m, distance_m):
    """Blur-circle diameter on the sensor of a point at ``distance_m`` when focused at s.

    b = f^2 |d - s| / (N (s - f) d).  A point is inside the depth of field exactly
    when b <= c, the circle of confusion.
    """
    f = focal_length_m
    s = focus_distance_m
    d = distance_m
    return f**2 * abs(d - s) / (f_number * (s - f) * d)


def blur_circle_px(focal_length_m, f_number, focus_distance_m, distance_m, pixel_pitch_m):
    """Blur-circle diameter in image pixels (sensor diameter over the pixel pitch)."""
    return blur_circle_m(focal_length_m, f_number, focus_distance_m, distance_m) / pixel_pitch_m


# ------------------------------------------------------------------ field of view


def field_of_view_rad(focal_length_m, sensor_size_m):
    """Angle of view across one sensor dimension: 2 atan(size / 2f)."""
    ops = _ops(focal_length_m, sensor_size_m)
    return 2.0 * ops.arctan(sensor_size_m / (2.0 * focal_length_m))


def focal_length_for_fov_m(fov_rad: float, sensor_size_m: float) -> float:
    """Inverse of :func:`field_of_view_rad`."""
    return sensor_size_m / (2.0 * math.tan(fov_rad / 2.0))


def focal_length_px(focal_length_m, sensor_width_m, image_width_px):
    """Focal length in pixels (square pixels assumed, as on every cine sensor)."""
    return focal_length_m * image_width_px / sensor_width_m


def intrinsics_matrix(
    focal_length_m: float, sensor_width_m: float, image_width_px: int, image_height_px: int
) -> np.ndarray:
    """Pinhole intrinsics K for an image size, principal point at the centre."""
    fpx = focal_length_px(focal_length_m, sensor_width_m, image_width_px)
    return np.array(
        [[fpx, 0.0, image_width_px / 2.0], [0.0, fpx, image_height_px / 2.0], [0.0, 0.0, 1.0]]
    )


def subject_height_px(subject_height_m, distance_m, focal_length_m, sensor_width_m, image_width_px):
    """Image height of an upright subject seen square-on at ``distance_m``."""
    return focal_length_px(focal_length_m, sensor_width_m, image_width_px) * subject_height_m / distance_m


# --------------------------------------------------------------------- projection


@dataclass(frozen=True)
class CameraPose:
    """Camera centre in the world (ENU, metres) and its pointing.

    ``yaw_rad``: heading of the optical axis, 0 along +x (east), counter-clockwise
    positive (REP-103).  ``pitch_rad``: elevation of the optical axis, negative
    looking down -- the MAVLink gimbal convention, so the bridge needs no sign flip.
    Roll is zero: a gimbal keeps the horizon level.
    """

    position_m: tuple[float, float, float]
    yaw_rad: float
    pitch_rad: float


def camera_axes(yaw_rad, pitch_rad):
    """Right, down and forward unit vectors of the optical frame in world coordinates.

    The optical frame is x right, y down, z forward (REP-103 ``camera_optical``).
    Returns three 3-tuples so the result works for CasADi symbols too.
    """
    ops = _ops(yaw_rad, pitch_rad)
    cy, sy = ops.cos(yaw_rad), ops.sin(yaw_rad)
    cp, sp = ops.cos(pitch_rad), ops.sin(pitch_rad)
    forward = (cp * cy, cp * sy, sp)
    right = (sy, -cy, 0.0 * cy)
    # down = forward x right
    down = (sp * cy, sp * sy, -cp)
    return right, down, forward


def across_view(from_m, to_m) -> np.ndarray | None:
    """Horizontal unit vector across the line of sight from ``from_m`` to ``to_m`` (to its left); None if they meet.

    The direction in which a position error moves a subject sideways in the picture: a box cut
    by the frame's side is uncertain along it, and it is what can carry a subject out of frame.
    """
    ray = np.asarray(to_m, dtype=float)[:2] - np.asarray(from_m, dtype=float)[:2]
    norm = float(np.linalg.norm(ray))
    if norm <= 1e-6:
        return None
    return np.array([-ray[1], ray[0], 0.0]) / norm


def camera_frame_point(point_m, position_m, yaw_rad, pitch_rad):
    """World point expressed in the optical frame: (x right, y down, z depth)."""
    right, down, forward = camera_axes(yaw_rad, pitch_rad)
    rel = [point_m[i] - position_m[i] for i in range(3)]
    x = sum(right[i] * rel[i] for i in range(3))
    y = sum(down[i] * rel[i] for i in range(3))
    z = sum(forward[i] * rel[i] for i in range(3))
    return x, y, z


def project(point_m, position_m, yaw_rad, pitch_rad, focal_px, image_width_px, image_height_px):
    """Pinhole projection of a world point to pixels (u right, v down) and its depth.

    Returns ``(u_px, v_px, depth_m)``; a point behind the camera has depth <= 0 and
    its pixel coordinates are meaningless -- callers check the depth.
    """
    x, y, z = camera_frame_point(point_m, position_m, yaw_rad, pitch_rad)
    u = focal_px * x / z + image_width_px / 2.0
    v = focal_px * y / z + image_height_px / 2.0
    return u, v, z


def back_project(u_px, v_px, depth_m, position_m, yaw_rad, pitch_rad, focal_px, image_width_px, image_height_px):
    """Inverse of :func:`project`: the world point at optical depth ``depth_m`` behind pixel (u, v)."""
    x = (u_px - image_width_px / 2.0) * depth_m / focal_px
    y = (v_px - image_height_px / 2.0) * depth_m / focal_px
    right, down, forward = camera_axes(yaw_rad, pitch_rad)
    return tuple(position_m[i] + right[i] * x + down[i] * y + forward[i] * depth_m for i in range(3))


def pixel_ray(u_px, v_px, yaw_rad, pitch_rad, focal_px, image_width_px, image_height_px):
    """Unit world-frame direction of the ray through pixel (u, v) (numeric)."""
    x = (u_px - image_width_px / 2.0) / focal_px
    y = (v_px - image_height_px / 2.0) / focal_px
    right, down, forward = (np.asarray(a, dtype=float) for a in camera_axes(yaw_rad, pitch_rad))
    ray = right * x + down * y + forward
    return ray / np.linalg.norm(ray)
