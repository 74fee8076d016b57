"""Angles: the one place an angle is wrapped (every core, node and the simulator call it).

An angle and the same angle plus any multiple of 2 pi are one direction; code that
compares, subtracts or interpolates headings must first bring them into one turn.
scipy has no wrap of its own (``scipy.spatial.transform.Rotation`` composes full
rotations, not plain headings), so this is numpy's ``remainder`` done once, here.
"""

from __future__ import annotations

import math
from typing import overload

import numpy as np

__all__ = ["wrap_angle"]


@overload
def wrap_angle(angle_rad: float, near_rad: float = 0.0) -> float: ...


@overload
def wrap_angle(angle_rad: np.ndarray, near_rad: float | np.ndarray = 0.0) -> np.ndarray: ...


def wrap_angle(angle_rad, near_rad=0.0):
    """The angle equal to ``angle_rad`` modulo 2 pi in ``[near_rad - pi, near_rad + pi)``.

    With the default ``near_rad = 0`` that is ``[-pi, pi)``; with a reference heading it is the
    turn closest to that heading (unwrapping next to a plan or a previous heading).  An angle
    already in range comes back unchanged, bit for bit.  Scalars give a float, arrays an array.
    """
    if isinstance(angle_rad, (float, int)) and isinstance(near_rad, (float, int)):  # scalar: no numpy (hot loops)
        offset = float(angle_rad) - near_rad
        if -math.pi <= offset < math.pi:
            return float(angle_rad)
        turned = (offset + math.pi) % (2.0 * math.pi) - math.pi
        return near_rad + (turned - 2.0 * math.pi if turned >= math.pi else turned)
    angle = np.asarray(angle_rad, dtype=float)
    offset = angle - near_rad
    inside = (offset >= -math.pi) & (offset < math.pi)
    turned = np.remainder(offset + math.pi, 2.0 * math.pi) - math.pi
    turned = np.where(turned >= math.pi, turned - 2.0 * math.pi, turned)  # remainder rounded up to 2 pi
    wrapped = np.where(inside, angle, near_rad + turned)
    if wrapped.ndim == 0:
        return float(wrapped)
    return wrapped
