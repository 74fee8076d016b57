"""A start frame the shot does not tie to a side, taken from beside a building rather than from inside it.

Rule: while the start frame is being acquired and its bearing is the one at the cut (the move keeps no side,
or the subject's heading is not known yet), a viewpoint that falls deeper than the obstacle clearance inside a
box is turned round the subject by the smallest step that takes it the clearance out; distance and elevation
stay.  Why: a stand-off taken in the subject's direction alone put the start frame of a wide shot inside a
building beside its subject; the approach ran at the wall at 3 m/s, could no longer brake and hit it (the
MPC's box rows stop the drone at a wall, they cannot show it another side).
"""

from __future__ import annotations

import numpy as np

from cinempc.state import Obstacle

TURN_STEP_RAD = np.radians(15.0)


def turned(offset_m: np.ndarray, angle_rad: float) -> np.ndarray:
    """``offset_m`` turned by ``angle_rad`` about the vertical."""
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    return np.array([c * offset_m[0] - s * offset_m[1], s * offset_m[0] + c * offset_m[1], offset_m[2]])


def inside_a_box(point_m: np.ndarray, boxes: list[Obstacle], clearance_m: float = 0.0) -> bool:
    """True if a point lies inside one of the boxes grown by ``clearance_m`` (shrunk, when it is negative)."""
    return any(bool(np.all(np.abs(point_m - box.center_m) < box.half_extents_m + clearance_m)) for box in boxes)


def turn_out_of_boxes(anchor_m: np.ndarray, offset_m: np.ndarray, boxes: list[Obstacle], clearance_m: float,
                      tried_rad: float = 0.0) -> float:
    """The smallest turn of ``offset_m`` round ``anchor_m`` (steps of TURN_STEP_RAD; ``tried_rad``, the previous
    stage's, checked first) that takes the viewpoint ``clearance_m`` out of every box, when it lies deeper than
    ``clearance_m`` inside one; else 0, as when no turn takes it out.  A viewpoint less deep -- outside a box but
    within the clearance, or inside a thin wall -- is reached near enough: the MPC's rows stop the camera at
    the clearance on the near side."""
    anchor, offset = np.asarray(anchor_m, dtype=float), np.asarray(offset_m, dtype=float)

    def out(angle: float) -> bool:
        return not inside_a_box(anchor + turned(offset, angle), boxes, clearance_m)

    if not boxes or not inside_a_box(anchor + offset, boxes, -clearance_m):
        return 0.0
    if tried_rad != 0.0 and out(tried_rad):
        return tried_rad
    for step in range(1, int(np.ceil(np.pi / TURN_STEP_RAD)) + 1):
        for angle in (step * TURN_STEP_RAD, -step * TURN_STEP_RAD):
            if out(angle):
                return angle
    return 0.0
