"""The one picture box of a person standing somewhere: feet to head, a third as wide as tall.

Used wherever a box is expected rather than detected (zoom-in windows, pair boxes,
whether a subject is in the picture, the director tablet's boxes).  Importing it is
cheap: numpy only.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["PERSON_BOX_WIDTH", "outside_picture", "person_box"]

PERSON_BOX_WIDTH = 1.0 / 3.0  # box width / box height of a standing person

Project = Callable[[np.ndarray], tuple[float, float, float]]  # world point -> (u_px, v_px, depth_m)


def person_box(project: Project, feet_m, height_m: float) -> np.ndarray | None:
    """``[u0, v_head, u1, v_feet]`` of a person ``height_m`` tall at ``feet_m``, centred on the feet; None if behind."""
    feet = np.asarray(feet_m, dtype=float).reshape(3)
    u, v_feet, z_feet = project(feet)
    _, v_head, z_head = project(feet + np.array([0.0, 0.0, float(height_m)]))
    if z_feet <= 0 or z_head <= 0 or not np.isfinite([u, v_feet, v_head]).all() or v_feet <= v_head:
        return None
    half = 0.5 * PERSON_BOX_WIDTH * (v_feet - v_head)
    return np.array([u - half, v_head, u + half, v_feet])


def outside_picture(project: Project, feet_m, height_m: float, width_px: int, height_px: int,
                    margin_px: float) -> bool:
    """True when the person's box cannot be shown whole: behind, centre near a side, or off the top or bottom."""
    box = person_box(project, feet_m, height_m)
    if box is None:
        return True
    u = 0.5 * (box[0] + box[2])
    return u < margin_px or u > width_px - margin_px or box[1] > height_px or box[3] < 0
