"""Each shot-quality metric on a hand-made case whose answer is worked out by hand.

Camera: the simulator's Super 35 profile (24.89 mm wide sensor, 320x240 px) at the
origin looking along +x, level.  A 50 mm lens is 50 * 320 / 24.89 = 642.83 px.
"""

import json
import math

import numpy as np
import pytest

from cinempc.config import load_camera_profile
from cinempc.shot import ShotSpec, vocabulary
from cinempc.state import Obstacle, RigState
from cinempc_sim.metrics import (
    METRIC_KEYS,
    MetricParams,
    RunRecord,
    TrueSubject,
    focus_references,
    grade_step,
    jerk_rms,
    min_obstacle_distance_m,
    subject_distance_m,
    summarise,
)

CAMERA = load_camera_profile("sim_super35")
VOCAB = vocabulary()
FOCAL_PX_50MM = 50.0 * 320 / 24.89
PARAMS = MetricParams(settle_time_s=0.0, eye_height_fraction=0.94, max_step_composition_error=1.0)
MEDIUM = ShotSpec(framing="medium")  # head top at 0.08 * 240 = 19.2 px, body 1.7 frames tall


def rig(focus_m=10.0, f_number=4.0, focal_mm=50.0, z=1.0, yaw=0.0):
    return RigState(position_m=[0.0, 0.0, z], yaw_rad=yaw, focal_length_mm=focal_mm, focus_distance_m=focus_m,
                    f_number=f_number)


def subject_on_mark(distance_m=10.0, lateral_m=0.0, height_m=1.8, track_id=1, name="alice"):
    """Feet placed so that, seen from z = 1 m, the head top lands exactly on the medium head line."""
    head_z = 1.0 + (120.0 - 19.2) * distance_m / FOCAL_PX_50MM
    return TrueSubject(track_id, (distance_m, lateral_m, head_z - height_m), height_m, name)


def grade(state, subjects, shot=MEDIUM, background=None, t=0.0):
    return grade_step(state, subjects, shot, CAMERA, VOCAB, background, PARAMS, shot_time_s=t)


def test_subject_on_the_mark_has_no_composition_error_and_is_sharp():
    g = grade(rig(focus_m=10.0 - 1e-9), [subject_on_mark()])
    assert g.composition_error == pytest.approx(0.0, abs=1e-9)
    assert g.visible and g.in_focus and g.framed == 1
    assert g.u_fraction == pytest.approx(0.5)


def test_lateral_offset_gives_the_pixel_shift_over_the_image_width():
    # 1 m to the camera's right at 10 m depth: 642.83 px * 0.1 = 64.28 px = 0.2009 image widths.
    g = grade(rig(), [subject_on_mark(lateral_m=-1.0)])
    assert g.composition_error == pytest.approx(FOCAL_PX_50MM * 0.1 / 320, rel=1e-9)
    assert g.composition_error == pytest.approx(0.2009, abs=1e-4)


def test_left_third_shot_wants_the_subject_on_the_left_third_line():
    shot = ShotSpec(framing="medium", screen_position="left_third")
    # u = 160 + 642.83 * y_right / 10 must equal 0.3333 * 320 = 106.66 -> y_right = -0.8298 m (left = +y).
    lateral = (160 - 0.3333 * 320) * 10 / FOCAL_PX_50MM
    g = grade(rig(), [subject_on_mark(lateral_m=lateral)], shot=shot)
    assert g.composition_error == pytest.approx(0.0, abs=1e-9)


def test_size_error_is_relative_to_the_framing_height():
    # 1.8 m at 10 m through 642.83 px: 115.71 px = 0.4821 of 240 px; medium wants 1.7 -> (0.4821-1.7)/1.7.
    g = grade(rig(), [subject_on_mark()])
    measured = FOCAL_PX_50MM * 1.8 / 10 / 240
    assert g.size_error == pytest.approx((measured - 1.7) / 1.7, rel=1e-9)
    assert g.size_error == pytest.approx(-0.7164, abs=1e-3)


def test_focus_blur_in_pixels_and_in_focus_decision():
    # Eyes at depth 10 m (the subject stands straight ahead); focused at 5 m, 50 mm f/1.4:
    # b = f^2 |d - s| / (N (s - f) d) = 0.0025 * 5 / (1.4 * 4.95 * 10) = 1.8038e-4 m = 2.319 px.
    g = grade(rig(focus_m=5.0, f_number=1.4), [subject_on_mark()])
    assert not g.in_focus
    assert g.subject_blur_px == pytest.approx(0.0025 * 5 / (1.4 * 4.95 * 10) / (24.89e-3 / 320), rel=1e-9)
    assert g.focus_distances_m == pytest.approx((10.0,))
    # Stopped down to f/22 at 5 m the hyperfocal is 4.6 m: 10 m is inside the depth of field.
    sharp = grade(rig(focus_m=5.0, f_number=22.0), [subject_on_mark()])
    assert sharp.in_focus and sharp.far_m == math.inf


def test_background_blur_at_the_background_distance():
    g = grade(rig(focus_m=10.0, f_number=2.0), [subject_on_mark()], background=40.0)
    expected = 0.0025 * 30 / (2.0 * 9.95 * 40) / (24.89e-3 / 320)
    assert g.background_blur_px == pytest.approx(expected, rel=1e-9)


def test_subject_behind_the_camera_scores_the_cap_and_is_neither_visible_nor_sharp():
    g = grade(rig(yaw=math.pi), [subject_on_mark()])
    assert g.composition_error == 1.0 and not g.visible and not g.in_focus
    assert g.subject_blur_px == math.inf


def test_subject_out_of_frame_is_not_visible():
    g = grade(rig(yaw=math.radians(30)), [subject_on_mark()])  # 30 deg off axis, HFOV at 50 mm is 28 deg
    assert not g.visible and g.composition_error > 0.4


def test_a_tight_close_up_crops_the_body_but_the_face_is_visible():
    # 200 mm at 10 m: the body is 2571 px tall, far taller than the frame; eyes on the centre line.
    focal_px = 200.0 * 320 / 24.89
    eye_z = 1.0
    subject = TrueSubject(1, (10.0, 0.0, eye_z - 0.94 * 1.8), 1.8, "alice")
    g = grade(rig(focal_mm=200.0), [subject], shot=ShotSpec(framing="extreme_close_up"))
    assert g.visible
    assert g.size_error == pytest.approx((focal_px * 0.18 / 240 - 8.0) / 8.0, rel=1e-9)
    tilted = grade(rig(focal_mm=200.0, z=3.0), [subject], shot=ShotSpec(framing="extreme_close_up"))
    assert not tilted.visible  # eyes 2 m below a level camera at 10 m: out of the 200 mm frame


def test_two_subjects_compose_by_their_mean_centre_line_and_focus_needs_both():
    a = subject_on_mark(lateral_m=0.5, track_id=1, name="alice")
    b = subject_on_mark(lateral_m=-0.5, track_id=2, name="bob")
    shot = ShotSpec(framing="medium", subjects=["all"], focus={"target": "all"})
    assert grade(rig(), [a, b], shot=shot).composition_error == pytest.approx(0.0, abs=1e-9)
    # Bob steps back to 20 m: focused at 10 m, 50 mm f/1.4 he is soft, so the pair is not in focus.
    far_b = TrueSubject(2, (20.0, -1.0, b.feet_m[2]), 1.8, "bob")
    assert not grade(rig(f_number=1.4), [a, far_b], shot=shot).in_focus
    only_alice = ShotSpec(framing="medium", subjects=["alice"])
    assert grade(rig(f_number=1.4), [a, far_b], shot=only_alice).in_focus
    assert grade(rig(), [a, far_b], shot=ShotSpec(subjects=["carol"])).framed == 0


def test_rack_focus_targets_change_after_the_rack():
    shot = ShotSpec(subjects=["#1"], focus={"rack_to": "#2", "rack_duration_s": 2.0})
    assert focus_references(shot, 0.5, rack_start_s=1.0) == [["#1"]]
    assert focus_references(shot, 2.0, rack_start_s=1.0) == [["#1"], ["#2"]]
    assert focus_references(shot, 3.5, rack_start_s=1.0) == [["#2"]]


def test_subject_distance_is_to_the_body_axis():
    s = TrueSubject(1, (3.0, 4.0, 0.0), 1.8)
    assert subject_distance_m([0.0, 0.0, 1.0], s) == pytest.approx(5.0)
    assert subject_distance_m([3.0, 4.0, 3.8], s) == pytest.approx(2.0)


def test_obstacle_distance_takes_the_nearest_surface():
    pillar = Obstacle("cylinder", [5.0, 0.0, 0.0], radius_m=1.0, height_m=10.0)
    ball = Obstacle("sphere", [0.0, 3.0, 2.0], radius_m=0.5)
    assert min_obstacle_distance_m([0.0, 0.0, 2.0], [pillar, ball]) == pytest.approx(2.5)
    assert min_obstacle_distance_m([0.0, 0.0, 2.0], []) == math.inf


def test_jerk_rms_of_an_acceleration_ramp():
    t = np.arange(0, 2, 0.1)
    acc = np.stack([3.0 * t, -4.0 * t, 0 * t], axis=1)  # jerk (3, -4, 0): magnitude 5
    assert jerk_rms(acc, 0.1) == pytest.approx(5.0)
    assert jerk_rms(np.zeros((1, 3)), 0.1) == 0.0


def _grade_value(composition, in_focus, visible=True, size=0.1, blur=0.2):
    from cinempc_sim.metrics import StepGrade

    return StepGrade(composition_error=composition, size_error=size, in_focus=in_focus, subject_blur_px=blur,
                     background_blur_px=3.0, visible=visible, framed=1)


def test_summary_has_exactly_the_metric_keys_and_skips_the_settle_time():
    times = [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]
    grades = [_grade_value(1.0, False, False)] * 2 + [_grade_value(0.03, True), _grade_value(0.04, False)] * 2
    record = RunRecord(
        times_s=times, grades=grades, accelerations_mps2=[np.zeros(3)] * 6,
        subject_distances_m=[9.0, 7.5, 6.0, 6.2, 6.1, 6.0], obstacle_distances_m=[],
        solve_ms=[10, 20, 30, 40, 50, 60], collisions=0, sim_time_s=3.0, wall_time_s=1.5,
    )
    metrics = summarise(record, MetricParams(settle_time_s=1.0))
    assert tuple(metrics) == METRIC_KEYS
    assert metrics["composition_error_rms"] == pytest.approx(math.sqrt((0.03**2 + 0.04**2) / 2))
    assert metrics["in_focus_fraction"] == 0.5
    assert metrics["visible_fraction"] == 1.0
    assert metrics["size_error_mean"] == pytest.approx(0.1)
    assert metrics["min_subject_distance_m"] == 6.0  # safety numbers cover the whole run
    assert metrics["min_obstacle_distance_m"] is None  # no obstacles: no made-up number
    assert metrics["solve_ms_p50"] == pytest.approx(35.0)
    assert metrics["solve_ms_p95"] == pytest.approx(57.5)
    assert metrics["real_time_factor"] == pytest.approx(2.0)
    assert metrics["jerk_rms"] == 0.0
    json.dumps(metrics)  # serialisable as is
    whole = summarise(record, MetricParams(settle_time_s=0.0))
    assert whole["visible_fraction"] == pytest.approx(4 / 6)


def test_the_depth_of_field_style_is_the_background_as_the_shot_asks():
    subject = subject_on_mark()
    shallow = ShotSpec(framing="medium", focus={"depth_of_field": "shallow"})
    deep = ShotSpec(framing="medium", focus={"depth_of_field": "deep"})
    blurred = grade(rig(focus_m=10.0, f_number=1.4, focal_mm=100.0), [subject], shot=shallow, background=60.0)
    assert blurred.background_blur_px >= PARAMS.shallow_background_blur_px and blurred.dof_style is True
    assert grade(rig(focus_m=10.0, f_number=22.0), [subject], shot=shallow, background=60.0).dof_style is False
    sharp = grade(rig(focus_m=10.0, f_number=22.0, focal_mm=20.0), [subject], shot=deep, background=60.0)
    assert sharp.dof_style is (sharp.background_blur_px <= CAMERA.coc_m / CAMERA.pixel_pitch_m) is True
    assert grade(rig(focus_m=10.0, f_number=1.4), [subject], shot=deep, background=60.0).dof_style is False
    assert grade(rig(), [subject], shot=MEDIUM, background=60.0).dof_style is None
