"""Shared helpers of the MPC tests: subject tracks, perfect-tracking loops, image measurements."""

from __future__ import annotations

import numpy as np

from cinempc import optics
from cinempc.state import RigState, SubjectTrack


def track(track_id: int, start_m, velocity_mps=(0.0, 0.0, 0.0), steps: int = 31, dt_s: float = 0.1,
          time_s: float = 0.0, height_m: float = 1.75, name: str | None = None) -> SubjectTrack:
    """A constant-velocity subject predicted over ``steps`` rows, ``time_s`` after it was at ``start_m``."""
    start = np.asarray(start_m, dtype=float) + np.asarray(velocity_mps, dtype=float) * time_s
    velocity = np.asarray(velocity_mps, dtype=float)
    positions = np.array([start + velocity * k * dt_s for k in range(steps)])
    return SubjectTrack(track_id, positions_m=positions, velocities_mps=np.tile(velocity, (steps, 1)),
                        height_m=height_m, name=name, dt_s=dt_s)


def image_height_px(state: RigState, camera, feet_m, height_m: float) -> float:
    """Apparent head-to-feet height of a subject in the image of ``state``."""
    focal_px = camera.focal_px(state.focal_length_mm)
    head = np.asarray(feet_m, dtype=float) + np.array([0.0, 0.0, height_m])
    _, v_feet, _ = optics.project(feet_m, state.position_m, state.yaw_rad, state.pitch_rad, focal_px,
                                  camera.image_width_px, camera.image_height_px)
    _, v_head, _ = optics.project(head, state.position_m, state.yaw_rad, state.pitch_rad, focal_px,
                                  camera.image_width_px, camera.image_height_px)
    return float(v_feet - v_head)


def depth_m(state: RigState, point_m) -> float:
    """Optical-axis depth of a world point seen from ``state``."""
    return float(optics.camera_frame_point(point_m, state.position_m, state.yaw_rad, state.pitch_rad)[2])


def blur_coc_ratio(state: RigState, camera, point_m) -> float:
    """Blur circle of a point over the circle of confusion (<= 1: acceptably sharp)."""
    depth = depth_m(state, point_m)
    blur = optics.blur_circle_m(state.focal_length_mm * 1e-3, state.f_number, state.focus_distance_m, depth)
    return float(blur / camera.coc_m)
