"""The one angle wrap (cinempc/angles.py): its range, its reference heading, and no copies elsewhere."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cinempc.angles import wrap_angle

ROOT = Path(__file__).resolve().parents[1]
finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


@settings(max_examples=2000, deadline=None)
@given(finite, st.floats(min_value=-50.0, max_value=50.0, allow_nan=False))
def test_wrap_lands_in_one_turn_around_the_reference_and_is_the_same_direction(angle, near):
    wrapped = wrap_angle(angle, near_rad=near)
    assert near - math.pi <= wrapped < near + math.pi
    assert math.cos(wrapped) == pytest.approx(math.cos(angle), abs=1e-6)
    assert math.sin(wrapped) == pytest.approx(math.sin(angle), abs=1e-6)


@settings(max_examples=500, deadline=None)
@given(st.lists(finite, min_size=1, max_size=20))
def test_arrays_wrap_like_scalars(angles):
    assert np.array_equal(wrap_angle(np.array(angles)), np.array([wrap_angle(a) for a in angles]))


def test_known_values_and_the_half_open_end():
    assert wrap_angle(3.0 * math.pi) == pytest.approx(-math.pi)
    assert wrap_angle(math.pi) == -math.pi  # [-pi, pi): +pi is the same direction as -pi
    assert wrap_angle(-math.pi) == -math.pi
    assert wrap_angle(-math.pi - 4e-16) < math.pi  # a remainder rounded up to 2 pi stays in range
    assert wrap_angle(0.1) == 0.1  # in range: bit for bit
    assert wrap_angle(7.0) == pytest.approx(7.0 - 2.0 * math.pi)
    assert wrap_angle(-0.2, near_rad=2.0 * math.pi) == pytest.approx(2.0 * math.pi - 0.2)  # next to a plan's heading
    assert isinstance(wrap_angle(np.float64(4.0)), float)
    assert wrap_angle(np.array([4.0, -4.0])).shape == (2,)


# Formulas that wrap an angle by hand.  Perception is converted by its own owner (see cinempc/angles.py).
_COPIES = re.compile(r"%\s*\(2(\.0)?\s*\*\s*(math|np)\.pi\)|%\s*math\.tau|math\.remainder\(|"
                     r"atan2\((math|np)\.sin\(|np\.arctan2\(np\.sin\(")


def test_no_other_module_wraps_angles_by_hand():
    copies = []
    for folder in ("cinempc", "sim"):
        for path in (ROOT / folder).rglob("*.py"):
            rel = path.relative_to(ROOT).as_posix()
            if rel == "cinempc/angles.py" or rel.startswith("cinempc/perception/"):
                continue
            copies += [f"{rel}:{n}" for n, line in enumerate(path.read_text().splitlines(), 1) if _COPIES.search(line)]
    assert not copies, f"wrap angles with cinempc.angles.wrap_angle, not by hand: {copies}"
