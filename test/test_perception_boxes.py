"""One person box from feet and height, used by perception and by the director tablet alike."""

from __future__ import annotations

import numpy as np

from cinempc.director.live import perceived_subjects
from cinempc.perception.boxes import PERSON_BOX_WIDTH, person_box
from cinempc.perception.estimation import CameraView
from cinempc.state import RigState, SubjectTrack

VIEW = CameraView(position_m=np.array([0.0, 0.0, 3.0]), yaw_rad=0.0, pitch_rad=-0.1, focal_length_mm=30.0,
                  sensor_width_mm=36.0, image_width_px=320, image_height_px=240)


def test_a_person_box_runs_from_feet_to_head_a_third_as_wide_as_tall_centred_on_the_feet():
    feet = np.array([12.0, 1.0, 0.0])
    box = person_box(VIEW.project, feet, 1.8)
    u_feet, v_feet, _ = VIEW.project(feet)
    _, v_head, _ = VIEW.project(feet + [0.0, 0.0, 1.8])
    assert np.allclose(box[[1, 3]], [v_head, v_feet])
    assert np.isclose((box[2] - box[0]) / (box[3] - box[1]), PERSON_BOX_WIDTH)
    assert np.isclose(0.5 * (box[0] + box[2]), u_feet)


def test_a_person_behind_the_camera_has_no_box():
    assert person_box(VIEW.project, np.array([-5.0, 0.0, 0.0]), 1.8) is None


def test_the_director_tablet_draws_the_same_box_perception_expects():
    state = RigState(position_m=VIEW.position_m.copy(), velocity_mps=np.zeros(3), yaw_rad=VIEW.yaw_rad,
                     pitch_rad=VIEW.pitch_rad, focal_length_mm=VIEW.focal_length_mm)
    feet = np.array([10.0, -1.0, 0.0])
    track = SubjectTrack(track_id=3, positions_m=np.tile(feet, (2, 1)), velocities_mps=np.zeros((2, 3)),
                         height_m=1.7, dt_s=0.1, track_state="searching")
    (drawn,), (placed,) = perceived_subjects([track], state, VIEW.focal_px, VIEW.image_width_px,
                                             VIEW.image_height_px)
    assert np.allclose(drawn.box_px, person_box(VIEW.project, feet, 1.7))
    assert drawn.track_state == placed.track_state == "searching"  # the tablet marks the subject searched for
