"""A start frame with a free bearing is turned out of a building by the smallest step round its subject."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cinempc.mpc.viewpoint import TURN_STEP_RAD, inside_a_box, turn_out_of_boxes, turned
from cinempc.state import Obstacle

BUILDING = Obstacle("box", center_m=[0.0, 0.0, 5.0], half_extents_m=[5.0, 5.0, 5.0])  # a 10 m cube on the ground
CRATE = Obstacle("box", center_m=[0.0, 0.0, 0.5], half_extents_m=[1.0, 1.0, 0.5])  # 1 m high
CLEARANCE = 1.2


def test_a_viewpoint_inside_a_building_is_turned_out_by_the_smallest_step():
    subject = np.array([-6.5, 0.0, 1.6])  # beside the west face
    offset = np.array([8.0, -2.0, 1.0])  # the bearing at the cut looks from the east: inside the building
    assert inside_a_box(subject + offset, [BUILDING])
    angle = turn_out_of_boxes(subject, offset, [BUILDING], CLEARANCE)
    assert angle != 0.0 and not inside_a_box(subject + turned(offset, angle), [BUILDING], CLEARANCE)
    np.testing.assert_allclose(np.linalg.norm(turned(offset, angle)), np.linalg.norm(offset))  # distance kept
    assert turned(offset, angle)[2] == offset[2]  # and elevation
    smaller = abs(angle) - TURN_STEP_RAD  # one step less, either way, is still inside the clearance
    for candidate in (smaller, -smaller):
        assert inside_a_box(subject + turned(offset, candidate), [BUILDING], CLEARANCE)
    # the previous stage's turn is kept while it still works: stages do not flip between two equal turns
    assert turn_out_of_boxes(subject, offset, [BUILDING], CLEARANCE, tried_rad=math.pi) == pytest.approx(math.pi)


@pytest.mark.parametrize("boxes, offset", [
    ([], [8.0, -2.0, 1.0]),  # nothing there
    ([BUILDING], [-8.0, 2.0, 1.0]),  # already out
    ([BUILDING], [0.9, 3.0, 1.0]),  # within the clearance, out of the box: near enough (the MPC stops it there)
    ([BUILDING], [2.0, 3.0, 1.0]),  # inside, but less deep than the clearance: near enough too
    ([Obstacle("box", center_m=[-1.0, 0.0, 2.0], half_extents_m=[3.0, 0.2, 2.0])], [5.5, 0.0, 0.0]),  # a thin wall
    ([CRATE], [6.5, 0.0, 1.0]),  # over the crate: 2.6 m up, the crate is 1 m high
])
def test_a_viewpoint_out_of_every_box_is_not_turned(boxes, offset):
    assert turn_out_of_boxes(np.array([-6.5, 0.0, 1.6]), np.array(offset), boxes, CLEARANCE) == 0.0


def test_no_way_out_leaves_the_viewpoint_as_it_is():
    huge = Obstacle("box", center_m=[0.0, 0.0, 5.0], half_extents_m=[50.0, 50.0, 5.0])
    assert turn_out_of_boxes(np.array([0.0, 0.0, 12.0]), np.array([5.0, 0.0, -8.0]), [huge], CLEARANCE) == 0.0
