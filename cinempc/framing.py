"""Where the framed subjects are in the picture: the one measurement of a frame.

Read by the examiner (every graded step) and by the MPC (is the shot's start frame acquired
yet?), so both judge a frame by the same numbers: the mean body-centre column, the mean
head-top row and the mean apparent body length of the framed subjects, through a pose and a lens.
The apparent length is ``focal_px * height / depth`` of the body's middle: the head-to-feet height
on screen at eye level, and the framing's scale from any angle (seen from 75 deg above, the
projected head-to-feet shrinks to a quarter and no lens could make an overhead shot "full").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cinempc import optics
from cinempc.config import CameraProfile
from cinempc.shot import ShotSpec, ShotVocabulary


@dataclass(frozen=True)
class FramedView:
    """The framed group as the picture shows it (fractions of the image width / height)."""

    u_fraction: float  # mean body-centre column over the image width
    head_v_fraction: float  # the highest head-top row over the image height (a group's headroom is above it)
    size_fraction: float  # mean apparent body length over the image height


def measure_frame(position_m: np.ndarray, yaw_rad: float, pitch_rad: float, focal_length_mm: float,
                  camera: CameraProfile, subjects: Sequence[tuple[np.ndarray, float]]) -> FramedView | None:
    """Project each subject's (feet point, height); None when any of them is behind the camera.

    The group's centre and size are the means of its members'; its headroom is measured above the highest head.
    """
    width, height = camera.image_width_px, camera.image_height_px
    focal_px = camera.focal_px(focal_length_mm)
    centres, heads, sizes = [], [], []
    for feet, height_m in subjects:
        feet = np.asarray(feet, dtype=float)
        points = [feet + np.array([0.0, 0.0, f * height_m]) for f in (0.5, 1.0, 0.0)]
        (u_c, _, z_c), (_, v_head, z_head), (_, v_feet, z_feet) = (
            optics.project(p, position_m, yaw_rad, pitch_rad, focal_px, width, height) for p in points
        )
        if min(z_c, z_head, z_feet) <= 1e-6:
            return None
        centres.append(float(u_c) / width)
        heads.append(float(v_head) / height)
        sizes.append(focal_px * height_m / float(z_c) / height)
    if not centres:
        return None
    return FramedView(float(np.mean(centres)), float(np.min(heads)), float(np.mean(sizes)))


def composition_error(view: FramedView, shot: ShotSpec, vocab: ShotVocabulary, camera: CameraProfile) -> float:
    """Distance of (body centre, head top) from the shot's (screen position, headroom), in image widths."""
    du = (view.u_fraction - vocab.screen_position_u_fraction[shot.screen_position]) * camera.image_width_px
    dv = (view.head_v_fraction - vocab.framing_head_v_fraction[shot.framing]) * camera.image_height_px
    return math.hypot(du, dv) / camera.image_width_px


def size_error(view: FramedView, shot: ShotSpec, vocab: ShotVocabulary, size_scale: float = 1.0) -> float:
    """Relative error of the subject height against the framing's, scaled by what the move expects now."""
    wanted = vocab.framing_height_fraction[shot.framing] * size_scale
    return (view.size_fraction - wanted) / wanted


def view_geometry(position_m: np.ndarray, anchor_m: np.ndarray) -> tuple[float, float, float]:
    """(distance, bearing, elevation) of the camera seen from an anchor point (radians, ENU)."""
    rel = np.asarray(position_m, dtype=float) - np.asarray(anchor_m, dtype=float)
    distance = max(float(np.linalg.norm(rel)), 1e-6)
    return distance, math.atan2(rel[1], rel[0]), math.asin(max(-1.0, min(1.0, rel[2] / distance)))
