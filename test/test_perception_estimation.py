"""3D subject estimate from a box on a synthetic camera with known geometry (no renderer, no network)."""

import math

import numpy as np
import pytest

from cinempc.config import load_camera_profile
from cinempc.perception import load_perception_params
from cinempc.perception.estimation import CameraView, estimate_subject

CAMERA = load_camera_profile("sim_super35")
PARAMS = load_perception_params()


def _view(position, look_at, focal_length_mm, width=320, height=240):
    rel = np.asarray(look_at, float) - np.asarray(position, float)
    yaw = math.atan2(rel[1], rel[0])
    pitch = math.atan2(rel[2], math.hypot(rel[0], rel[1]))
    return CameraView(np.asarray(position, float), yaw, pitch, focal_length_mm, CAMERA.sensor_width_mm, width, height)


def _box(view, feet, height_m=1.75, width_fraction=0.3):
    """The box a perfect detector draws around an upright person of stature ``height_m`` standing at ``feet``.

    Its top row is the top of the head, ``head_top_fraction()`` of the stature (config, standing).
    """
    u_feet, v_feet, _ = view.project(feet)
    _, v_head, _ = view.project(np.asarray(feet) + [0.0, 0.0, height_m * PARAMS.head_top_fraction()])
    half = (v_feet - v_head) * width_fraction / 2
    return np.array([u_feet - half, v_head, u_feet + half, v_feet])


@pytest.mark.parametrize("focal_length_mm", [24.0, 70.0])
def test_feet_point_recovered_at_two_focal_lengths(focal_length_mm):
    feet = np.array([14.0, 3.0, 0.0])
    view = _view([0.0, 0.0, 4.0], feet + [0.0, 0.0, 0.9], focal_length_mm)
    estimate = estimate_subject(_box(view, feet), view, PARAMS)
    assert estimate is not None
    assert set(estimate.methods) >= {"ground_plane", "height_prior"}
    assert np.linalg.norm(estimate.position_m - feet) < 0.02
    assert estimate.height_m == pytest.approx(1.75, abs=0.02)


def test_stale_intrinsics_put_the_subject_at_the_wrong_distance():
    """Why the *current* focal length matters: the same box read with the pre-zoom focal length is far off."""
    feet = np.array([12.0, 0.0, 0.0])
    zoomed = _view([0.0, 0.0, 1.0], [12.0, 0.0, 0.9], 80.0)  # camera at chest height: the prior dominates
    box = _box(zoomed, feet)
    right = estimate_subject(box, zoomed, PARAMS)
    stale_view = CameraView(zoomed.position_m, zoomed.yaw_rad, zoomed.pitch_rad, 30.0, CAMERA.sensor_width_mm,
                            320, 240)
    stale = estimate_subject(box, stale_view, PARAMS)
    assert np.linalg.norm(right.position_m - feet) < 0.05
    assert np.linalg.norm(stale.position_m - feet) > 3.0


def test_feet_cut_by_the_frame_uses_the_head_and_the_height_prior():
    feet = np.array([8.0, 0.0, 0.0])
    view = _view([0.0, 0.0, 2.0], [8.0, 0.0, 1.6], 70.0)  # a close-up: feet below the frame
    box = _box(view, feet)
    assert box[3] > 240
    box[3] = 240.0
    estimate = estimate_subject(box, view, PARAMS)
    assert estimate.methods == ("head_plane",)
    assert np.linalg.norm(estimate.position_m[:2] - feet[:2]) < 0.1


def test_feet_cut_by_the_frame_uses_the_subjects_own_stature_where_known():
    """A 1.60 m person in a close-up: the population prior puts them metres off, their measured stature does not."""
    feet = np.array([8.0, 0.0, 0.0])
    view = _view([0.0, 0.0, 2.0], [8.0, 0.0, 1.5], 70.0)
    box = _box(view, feet, height_m=1.60)
    assert box[3] > 240
    box[3] = 240.0
    with_prior = estimate_subject(box, view, PARAMS)
    with_stature = estimate_subject(box, view, PARAMS, stature_m=1.60)
    assert with_stature.methods == ("head_plane",)
    assert np.linalg.norm(with_stature.position_m[:2] - feet[:2]) < 0.1
    assert np.linalg.norm(with_prior.position_m[:2] - feet[:2]) > 0.5
    assert with_stature.height_m == pytest.approx(1.60, abs=0.02)


def test_depth_image_is_used_when_present_and_tightens_the_estimate():
    feet = np.array([18.0, -2.0, 0.0])
    view = _view([0.0, 0.0, 1.7], feet + [0.0, 0.0, 0.9], 50.0)
    box = _box(view, feet)
    surface_depth = float(view.project(feet + [0.0, 0.0, 0.9])[2]) - PARAMS.body_radius_m
    depth = np.full((240, 320), 120.0, dtype=np.float32)
    x1, y1, x2, y2 = box.round().astype(int)
    depth[y1:y2, x1:x2] = surface_depth
    without = estimate_subject(box, view, PARAMS)
    with_depth = estimate_subject(box, view, PARAMS, depth)
    assert "depth" in with_depth.methods
    assert np.linalg.norm(with_depth.position_m - feet) < 0.15
    assert np.trace(with_depth.covariance_m2) < np.trace(without.covariance_m2)


def test_covariance_grows_with_range():
    near = np.array([6.0, 0.0, 0.0])
    far = np.array([20.0, 0.0, 0.0])
    view_near = _view([0.0, 0.0, 4.0], near + [0, 0, 0.9], 35.0)
    view_far = _view([0.0, 0.0, 4.0], far + [0, 0, 0.9], 35.0)
    cov_near = estimate_subject(_box(view_near, near), view_near, PARAMS).covariance_m2
    cov_far = estimate_subject(_box(view_far, far), view_far, PARAMS).covariance_m2
    assert cov_far[0, 0] > 4 * cov_near[0, 0]



def test_a_box_reaching_far_above_the_head_is_placed_by_its_feet():
    """crossing: a far person's box drawn up over what stands behind them, twice their height.

    Its top row is not a head, so the height prior (which reads it as one) must not place
    them: fused with it they came out 5.3 m nearer than 22 m.
    """
    feet = np.array([22.0, 3.0, 0.0])
    view = _view([0.0, 0.0, 3.0], feet + [0.0, 0.0, 0.9], 20.0)
    box = _box(view, feet, height_m=1.62 * 2.0)
    estimate = estimate_subject(box, view, PARAMS)
    assert not estimate.height_measured
    assert estimate.methods == ("ground_plane",)
    assert np.linalg.norm(estimate.position_m[:2] - feet[:2]) < 0.5

@pytest.mark.parametrize("phantom", [False, True])
def test_a_box_reaching_far_below_the_feet_its_head_row_implies_is_not_a_person(phantom):
    """crossing seed 21: a box from a head row 19 m away (a person there is ~45 px tall) down to the frame's
    bottom, 156 px, was taken for a close-up of someone with the feet cut, confirmed, and framed in ``all``.

    A real close-up (the feet below the frame) keeps its measured height; the phantom's rows say nothing
    about a person: its height is not measured (it never confirms a subject) and its position is trusted less.
    """
    if phantom:
        feet = np.array([19.0, 0.0, 0.0])
        view = _view([0.0, 0.0, 2.3], feet + [0.0, 0.0, 0.9], 38.0)
        box = _box(view, feet)
        assert box[3] < 200
    else:
        feet = np.array([8.0, 0.0, 0.0])
        view = _view([0.0, 0.0, 2.0], [8.0, 0.0, 1.6], 70.0)
        box = _box(view, feet)
        assert box[3] > 240
    box[3] = 240.0  # down to the frame's bottom
    estimate = estimate_subject(box, view, PARAMS)
    assert estimate.height_measured is not phantom
    assert estimate.partial_box is phantom


def test_a_thing_as_wide_as_tall_with_its_bottom_hidden_is_too_wide_for_a_person():
    """crossing seed 27: the ball behind bob, its bottom hidden by his box, was boxed 34 x 32 px (a person
    standing where its top row put it would have been 25 px tall), with no whole view to judge its shape.
    Measured against the tallest a body can stand in the box (down to the box bottom or its feet point),
    it is too wide for a person; someone whose legs are hidden is not."""
    view = _view([0.0, 0.0, 2.5], [25.0, 0.0, 1.0], 30.0)
    near = _box(view, np.array([12.0, 0.0, 0.0]))  # someone in front, reaching lower
    whole = _box(view, np.array([25.0, 0.2, 0.0]))  # a far person, whole
    legs_hidden = whole.copy()
    legs_hidden[3] = near[1] + 4.0  # what shows of them above the near one's head
    centre, half = (whole[0] + whole[2]) / 2, (whole[3] - whole[1]) / 2
    ball = np.array([centre - half, whole[1], centre + half, whole[3] - 2.0])  # as wide as a person there is tall
    assert near[1] < ball[3] < near[3] - 4.0
    limit = PARAMS.max_person_box_aspect
    person = estimate_subject(legs_hidden, view, PARAMS, others=[near])
    thing = estimate_subject(ball, view, PARAMS, others=[near])
    assert not person.feet_in_view and not thing.feet_in_view
    assert person.whole_box_aspect is None and thing.whole_box_aspect is None
    assert person.cut_box_aspect < limit < thing.cut_box_aspect


@pytest.mark.parametrize("box", [[np.nan, 0, 10, 10], [50, 50, 40, 60], [10, 10, 10, 10]])
def test_degenerate_boxes_give_no_estimate(box):
    view = _view([0.0, 0.0, 4.0], [10.0, 0.0, 0.0], 35.0)
    assert estimate_subject(box, view, PARAMS) is None


def test_box_above_the_horizon_with_cut_head_and_feet_gives_no_estimate():
    view = _view([0.0, 0.0, 4.0], [10.0, 0.0, 4.0], 35.0)
    assert estimate_subject([100, 0, 120, 240], view, PARAMS) is None


def _depth_image(view, people, background_m=120.0):
    """Depth of upright people (feet, stature, box) drawn far to near: each box's pixels at its body's depth."""
    depth = np.full((view.image_height_px, view.image_width_px), background_m, dtype=np.float32)
    for feet, _, box in sorted(people, key=lambda p: -view.project(p[0])[2]):
        surface = float(view.project(np.asarray(feet) + [0.0, 0.0, 0.9])[2]) - PARAMS.body_radius_m
        x1, y1, x2, y2 = np.clip(np.round(box), 0, [view.image_width_px, view.image_height_px] * 2).astype(int)
        depth[y1:y2, x1:x2] = surface
    return depth


@pytest.mark.parametrize("focal_length_mm", [35.0, 120.0])
def test_height_is_unbiased_and_reprojects_onto_the_box_with_the_feet_cut(focal_length_mm):
    """A 1.62 m person (not the 1.75 m prior), feet below the frame, depth image: the height is theirs.

    The MPC composes by projecting feet + height; a height taken from the prior put the
    head of a close-up 6-7 cm off (a tenth of the frame at 120 mm).
    """
    feet = np.array([4.5 if focal_length_mm > 100 else 2.5, 0.3, 0.0])
    view = _view([0.0, 0.0, 2.3], feet + [0.0, 0.0, 1.4], focal_length_mm)
    box = _box(view, feet, height_m=1.62)
    assert box[3] > 240
    box[3] = 240.0
    depth = _depth_image(view, [(feet, 1.62, box)])
    estimate = estimate_subject(box, view, PARAMS, depth)
    assert "depth" in estimate.methods
    assert np.linalg.norm(estimate.position_m[:2] - feet[:2]) < 0.1
    assert estimate.height_m == pytest.approx(1.62, abs=0.03)
    head = estimate.position_m + [0.0, 0.0, estimate.height_m * PARAMS.head_top_fraction()]
    assert view.project(head)[1] == pytest.approx(box[1], abs=1.0)


def test_full_box_height_is_unbiased():
    feet = np.array([10.0, -1.0, 0.0])
    view = _view([0.0, 0.0, 2.5], feet + [0.0, 0.0, 0.9], 50.0)
    estimate = estimate_subject(_box(view, feet, height_m=1.66), view, PARAMS)
    assert estimate.height_m == pytest.approx(1.66, abs=0.02)


def test_feet_hidden_by_a_nearer_person_are_not_read_as_the_ground():
    """two_depths: the far person's box ends inside the near person's; feet ray and depth hit the near one."""
    near, far = np.array([5.0, 0.0, 0.0]), np.array([13.0, 0.3, 0.0])
    view = _view([0.0, 0.0, 1.9], [9.0, 0.1, 1.0], 50.0)
    near_box, far_box = _box(view, near, 1.70), _box(view, far, 1.85)
    assert near_box[1] < far_box[3] < near_box[3]  # the near person covers the far one's lower body
    # what the detector draws around the far person: their hidden legs guessed short, inside the near box
    far_box[3] = near_box[1] + 0.6 * (far_box[3] - near_box[1])
    both = _depth_image(view, [(near, 1.70, near_box), (far, 1.85, far_box)])
    blind = estimate_subject(far_box, view, PARAMS, both)  # the old behaviour, for the record
    assert np.linalg.norm(blind.position_m[:2] - far[:2]) > 1.0
    seen = estimate_subject(far_box, view, PARAMS, both, others=[near_box])
    assert "ground_plane" not in seen.methods
    assert np.linalg.norm(seen.position_m[:2] - far[:2]) < 0.8
    # no depth: the head row is nearly level with the camera, so the head-plane cue is weak -- and says so:
    # its covariance covers the error (the Kalman filter weighs it accordingly), never the near person's feet
    guess = estimate_subject(far_box, view, PARAMS, None, others=[near_box])
    error = guess.position_m[:2] - far[:2]
    assert error @ np.linalg.solve(guess.covariance_m2[:2, :2], error) < 9.0
    # the near person's own estimate is not disturbed by the far one's box
    near_estimate = estimate_subject(near_box, view, PARAMS, both, others=[far_box])
    assert np.linalg.norm(near_estimate.position_m[:2] - near[:2]) < 0.1


def test_body_column_from_depth_not_the_stretched_box_centre():
    """A walker's leading leg stretches the box forward; the head and shoulders sit over the feet."""
    feet = np.array([5.0, 0.0, 0.0])
    view = _view([0.0, 0.0, 2.2], feet + [0.0, 0.0, 1.4], 100.0)
    box = _box(view, feet, height_m=1.70)
    box[3] = min(box[3], 240.0)
    u_body = (box[0] + box[2]) / 2
    depth = _depth_image(view, [(feet, 1.70, box)])
    stretched = box.copy()
    stretched[2] += 0.5 * (box[2] - box[0])  # the leading leg, in the lower part of the box
    surface = float(depth[int(box[1]) + 5, int(u_body)])
    depth[int(box[1] + 0.6 * (box[3] - box[1])):int(box[3]), int(box[2]):int(stretched[2])] = surface
    plain = estimate_subject(stretched, view, PARAMS)
    with_depth = estimate_subject(stretched, view, PARAMS, depth)
    lateral = np.array([0.0, 1.0])  # the camera looks along +x
    assert abs((plain.position_m[:2] - feet[:2]) @ lateral) > 0.05
    assert abs((with_depth.position_m[:2] - feet[:2]) @ lateral) < 0.02


def test_a_box_ending_above_the_feet_is_overruled_by_the_depth_image():
    """wind at 100 mm: the detector's box stopped at the knees; read as the feet it put the walker 0.9 m away."""
    feet = np.array([5.5, 0.0, 0.0])
    view = _view([0.0, 0.0, 2.2], feet + [0.0, 0.0, 0.8], 60.0)
    box = _box(view, feet, height_m=1.70)
    assert box[3] < 235  # feet in the frame
    depth = _depth_image(view, [(feet, 1.70, box)])
    short = box.copy()
    short[3] = box[1] + 0.75 * (box[3] - box[1])  # the box ends at the knees
    blind = estimate_subject(short, view, PARAMS)
    assert np.linalg.norm(blind.position_m[:2] - feet[:2]) > 0.5
    estimate = estimate_subject(short, view, PARAMS, depth)
    assert "ground_plane" not in estimate.methods and "depth" in estimate.methods
    assert np.linalg.norm(estimate.position_m[:2] - feet[:2]) < 0.15


def test_a_box_around_both_people_is_not_in_front_of_the_far_one():
    """two_depths: a box drawn around near and far reaches as low as the near person, but it is not a person
    in front of the far one (with depth: what it sees in its middle is as far as the far person)."""
    near, far = np.array([5.0, -0.9, 0.0]), np.array([13.0, 0.3, 0.0])
    view = _view([0.0, 0.0, 1.9], [9.0, 0.1, 1.0], 50.0)
    near_box, far_box = _box(view, near, 1.70), _box(view, far, 1.85)
    depth = _depth_image(view, [(near, 1.70, near_box), (far, 1.85, far_box)])
    both = np.array([min(near_box[0], far_box[0]) + 0.3 * (near_box[2] - near_box[0]), far_box[1],
                     far_box[2], near_box[3] - 20.0])
    estimate = estimate_subject(far_box, view, PARAMS, depth, others=[near_box, both])
    assert np.linalg.norm(estimate.position_m[:2] - far[:2]) < 0.3


def _at_left_edge(feet, axis_u_px, focal_length_mm):
    """A view from the origin that puts the column of the person standing at ``feet`` at ``axis_u_px``."""
    lo, hi = 0.0, 20.0  # how far to the right of them the camera looks (m): more puts them further left
    for _ in range(60):
        offset = (lo + hi) / 2
        view = _view([0.0, 0.0, 2.2], np.asarray(feet) + [0.0, -offset, 0.9], focal_length_mm)
        lo, hi = (offset, hi) if view.project(feet)[0] > axis_u_px else (lo, offset)
    return view


@pytest.mark.parametrize("clearance", [0.4, 0.1])
def test_a_box_reaching_the_frame_side_is_trusted_where_the_depth_image_finds_the_head_inside(clearance):
    """crossing at 18 mm: carol walked along the frame's left edge, her depth-based positions within 0.02 m.

    Her boxes touched the edge (an arm, a stride, a loose box), so every one was taken as cut,
    its lateral variance grown by half its width; her filter believed them so little that it
    slowed to 1.1 m/s against her 1.3 and she walked out of the picture.  A box at the side
    whose head-and-shoulders column (depth image) is ``side_cut_column_clearance`` box heights
    or more inside the frame is measured like a whole one; closer to the edge the body may
    really be cut and the variance stays grown.
    """
    feet = np.array([20.0, 0.0, 0.0])
    probe = _view([0.0, 0.0, 2.2], feet + [0.0, 0.0, 0.9], 18.0)
    centred = _box(probe, feet, 1.65)
    whole_sigma = math.sqrt(estimate_subject(centred, probe, PARAMS, _depth_image(probe, [(feet, 1.65, centred)]))
                            .covariance_m2[1, 1])  # the same person in mid-frame
    view = _at_left_edge(feet, clearance * (centred[3] - centred[1]), 18.0)
    box = _box(view, feet, height_m=1.65)
    depth = _depth_image(view, [(feet, 1.65, box)])
    at_edge = box.copy()
    at_edge[0] = 0.0  # the box reaches the frame's left side
    estimate = estimate_subject(at_edge, view, PARAMS, depth)
    lateral_sigma = math.sqrt(estimate.covariance_m2[1, 1])  # the camera looks along +x: lateral is y
    if clearance >= PARAMS.side_cut_column_clearance:
        assert abs(estimate.position_m[1] - feet[1]) < 0.05
        assert lateral_sigma < 1.2 * whole_sigma
    else:
        assert lateral_sigma > 2.0 * whole_sigma
    assert estimate.whole_box_aspect is None  # a box at the side never vouches for a person's shape
