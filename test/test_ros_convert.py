"""cinempc.nodes.convert: every encoding round-trips, and malformed messages raise specific ValueErrors."""

import json
import math

import numpy as np
import pytest
from rclpy.serialization import deserialize_message, serialize_message

from cinempc.config import load_camera_profile
from cinempc.nodes import convert
from cinempc.optics import camera_axes
from cinempc.shot import preset
from cinempc.state import Obstacle, RigState, Setpoint, SubjectTrack

STATE = RigState(position_m=[3.0, -2.0, 6.0], velocity_mps=[1.0, 0.5, -0.2], acceleration_mps2=[0.1, 0.0, 0.3],
                 yaw_rad=2.5, pitch_rad=-0.4, focal_length_mm=55.0, focus_distance_m=7.5, f_number=2.8)


def _wire(msg):
    """Through CDR bytes, as DDS carries it."""
    return deserialize_message(serialize_message(msg), type(msg))


def test_rig_state_round_trips_through_odometry_accel_and_joint_state():
    odometry = _wire(convert.odometry_msg(STATE, 12.5))
    assert odometry.header.frame_id == "odom" and odometry.child_frame_id == "base_link"
    # REP-105: twist in the child (body) frame -- forward speed on x for a drone flying along its heading
    forward = _wire(convert.odometry_msg(STATE.with_(velocity_mps=[math.cos(2.5), math.sin(2.5), 0.0]), 0.0))
    assert forward.twist.twist.linear.x == pytest.approx(1.0) and forward.twist.twist.linear.y == pytest.approx(0.0)
    back = convert.rig_state_from_msgs(odometry, _wire(convert.camera_state_msg(STATE, 12.5)),
                                       _wire(convert.accel_msg(STATE, 12.5)))
    for name in ("position_m", "velocity_mps", "acceleration_mps2"):
        np.testing.assert_allclose(getattr(back, name), getattr(STATE, name), atol=1e-9)
    for name in ("yaw_rad", "pitch_rad", "focal_length_mm", "focus_distance_m", "f_number"):
        assert getattr(back, name) == pytest.approx(getattr(STATE, name))
    assert convert.stamp_to_s(odometry.header.stamp) == pytest.approx(12.5)


def test_camera_optical_quaternion_points_z_along_the_optical_axis():
    from scipy.spatial.transform import Rotation

    q = convert.camera_pose_msg(STATE, 0.0).pose.orientation
    matrix = Rotation.from_quat([q.x, q.y, q.z, q.w]).as_matrix()
    right, down, forward = camera_axes(STATE.yaw_rad, STATE.pitch_rad)
    np.testing.assert_allclose(matrix[:, 2], forward, atol=1e-9)
    np.testing.assert_allclose(matrix[:, 0], right, atol=1e-9)


def test_setpoint_round_trip_keeps_hold_flag_and_lens():
    setpoint = Setpoint(position_m=[1, 2, 3], velocity_mps=[0.5, 0, 0], acceleration_mps2=[0, 0.2, 0], yaw_rad=0.3,
                        yaw_rate_rad_s=0.1, pitch_rad=-0.2, focal_length_mm=85.0, focus_distance_m=4.0, f_number=2.0,
                        hold=True)
    back = convert.setpoint_from_msg(_wire(convert.setpoint_msg(setpoint, 3.0)))
    assert back.hold is True and back.focal_length_mm == pytest.approx(85.0)
    np.testing.assert_allclose(back.acceleration_mps2, [0, 0.2, 0])
    assert back.yaw_rate_rad_s == pytest.approx(0.1)


def test_malformed_setpoints_are_rejected_with_specific_errors():
    msg = convert.setpoint_msg(Setpoint.hold_at(STATE), 0.0)
    msg.points[0].positions[0] = float("nan")
    with pytest.raises(ValueError, match="non-finite"):
        convert.setpoint_from_msg(msg)
    msg = convert.setpoint_msg(Setpoint.hold_at(STATE), 0.0)
    msg.joint_names = msg.joint_names[1:]
    with pytest.raises(ValueError, match="missing joints"):
        convert.setpoint_from_msg(msg)
    msg.points = []
    with pytest.raises(ValueError, match="exactly one"):
        convert.setpoint_from_msg(msg)


def test_nan_pose_is_rejected():
    odometry = convert.odometry_msg(STATE, 0.0)
    odometry.pose.pose.position.x = float("nan")
    with pytest.raises(ValueError, match="odometry"):
        convert.rig_state_from_msgs(odometry, convert.camera_state_msg(STATE, 0.0))


def test_subjects_round_trip_and_malformed_entries():
    track = SubjectTrack(track_id=4, name="alice", positions_m=np.arange(9.0).reshape(3, 3) * [1, 1, 0],
                         velocities_mps=np.ones((3, 3)) * [1, 0, 0], covariance_m2=np.tile(np.eye(3) * 0.01, (3, 1, 1)))
    stamp, back = convert.subjects_from_msg(_wire(convert.subjects_msg([track], 7.0)))
    assert stamp == 7.0 and back[0].name == "alice" and back[0].matches("#4")
    np.testing.assert_allclose(back[0].positions_m, track.positions_m)
    assert back[0].covariance_m2.shape == (3, 3, 3)
    bad = json.loads(convert.subjects_msg([track], 7.0).data)
    bad["subjects"][0]["positions_m"][1][0] = None
    with pytest.raises(ValueError, match="subject"):
        convert.subjects_from_msg(convert.String(data=json.dumps(bad).replace("null", "NaN")))
    with pytest.raises(ValueError, match="not JSON"):
        convert.subjects_from_msg(convert.String(data="{"))
    with pytest.raises(ValueError, match="encoding"):
        convert.subjects_from_msg(convert.String(data="{}"))


def test_subject_pins_round_trip_and_malformed_entries():
    pins = {"carol": (8.0, -3.0, 12.5), "the bride": (0.0, 1.25, 13.0)}
    assert convert.pins_from_msg(_wire(convert.pins_msg(pins))) == pins
    assert json.loads(convert.pins_msg(pins).data)["carol"] == {"position_m": [8.0, -3.0], "stamp_s": 12.5}
    assert convert.pins_from_msg(convert.String(data="{}")) == {}
    for text, words in (("{", "not JSON"), ("[]", "JSON object"),
                        ('{"carol": [8, -3]}', "position_m"),
                        ('{"carol": {"position_m": [8], "stamp_s": 1}}', "position_m"),
                        ('{"carol": {"position_m": [8, -3]}}', "stamp_s"),
                        ('{"carol": {"position_m": [8, true], "stamp_s": 1}}', "position_m"),
                        ('{"carol": {"position_m": [8, -3], "stamp_s": Infinity}}', "non-finite"),
                        ('{"carol": {"position_m": [1e400, -3], "stamp_s": 1}}', "non-finite"),
                        ('{"b@d": {"position_m": [8, -3], "stamp_s": 1}}', "invalid subject reference"),
                        ('{"#3": {"position_m": [8, -3], "stamp_s": 1}}', "not a name"),
                        ('{"all": {"position_m": [8, -3], "stamp_s": 1}}', "not a name")):
        with pytest.raises(ValueError, match=words):
            convert.pins_from_msg(convert.String(data=text))


def test_shot_obstacles_camera_info_and_images():
    shot = preset("follow_medium")
    assert convert.shot_from_msg(_wire(convert.shot_msg(shot))) == shot
    with pytest.raises(ValueError, match="framing"):
        convert.shot_from_msg(convert.String(data='{"framing": "gigantic"}'))
    obstacles = [Obstacle(kind="cylinder", center_m=[1, 2, 0], radius_m=0.5, height_m=4.0, name="tree"),
                 Obstacle(kind="box", center_m=[5, 5, 1], half_extents_m=[1, 1, 1])]
    back, background = convert.obstacles_from_msg(_wire(convert.obstacles_msg(obstacles, 30.0)))
    assert background == 30.0 and back[0].name == "tree" and back[1].half_extents_m.tolist() == [1, 1, 1]

    camera = load_camera_profile("sim_super35")
    info = _wire(convert.camera_info_msg(camera, 50.0, 1.0))
    assert info.k[0] == pytest.approx(camera.focal_px(50.0))
    assert convert.focal_length_mm_from_camera_info(info, camera) == pytest.approx(50.0)

    rgb = np.random.default_rng(0).integers(0, 255, (24, 32, 3), dtype=np.uint8)
    np.testing.assert_array_equal(convert.image_from_msg(_wire(convert.image_msg(rgb, 0.0))), rgb)
    with pytest.raises(ValueError, match="empty"):
        convert.image_from_msg(convert.Image())
    depth = np.full((4, 5), 3.5, dtype=np.float32)
    np.testing.assert_array_equal(convert.depth_from_msg(_wire(convert.depth_msg(depth, 0.0))), depth)


def test_plan_messages_cover_the_horizon():
    plan = {"t_s": np.arange(5) * 0.1, "position_m": np.ones((5, 3)) * [1, 2, 3], "yaw_rad": np.zeros(5),
            "pitch_rad": np.full(4, -0.1), "velocity_mps": np.zeros((5, 3))}
    path, trajectory = convert.plan_messages(plan, 10.0)
    assert len(path.poses) == 5 and len(trajectory.points) == 5
    assert convert.stamp_to_s(path.poses[-1].header.stamp) == pytest.approx(10.4)
    assert trajectory.points[-1].time_from_start.nanosec == pytest.approx(4e8, abs=1)
    with pytest.raises(ValueError, match="no t_s"):
        convert.plan_messages({}, 0.0)


def test_setpoint_stream_slides_along_the_plan_one_step_ahead():
    from cinempc.nodes.mpc_node import sample_plan
    from cinempc.plan import Plan

    times = 5.0 + 0.1 * np.arange(4)
    plan = Plan(t_s=times, position_m=np.outer(np.arange(4), [1.0, 0.0, 0.0]), velocity_mps=np.zeros((4, 3)),
                acceleration_mps2=np.zeros((4, 3)), yaw_rad=np.array([3.0, 3.1, -3.1, -3.0]),
                pitch_rad=np.full(4, -0.1), focal_length_mm=np.array([30.0, 40.0, 50.0, 60.0]),
                focus_distance_m=np.full(4, 5.0), f_number=np.full(4, 4.0))
    fallback = Setpoint(position_m=[1, 0, 0], velocity_mps=[0, 0, 0], acceleration_mps2=[0, 0, 0], yaw_rad=3.1,
                        yaw_rate_rad_s=0.0, pitch_rad=-0.1, focal_length_mm=40.0, focus_distance_m=5.0, f_number=4.0)
    assert sample_plan(plan, 0.0, fallback) is fallback  # fresh: the solve's own setpoint (plan step 1)
    halfway = sample_plan(plan, 0.05, fallback)
    np.testing.assert_allclose(halfway.position_m, [1.5, 0, 0])
    assert halfway.focal_length_mm == pytest.approx(45.0)
    assert abs(halfway.yaw_rad) == pytest.approx(math.pi, abs=1e-6)  # across +-pi, not through 0
    assert halfway.pitch_rad == pytest.approx(-0.1) and halfway.f_number == pytest.approx(4.0)
    np.testing.assert_allclose(sample_plan(plan, 5.0, fallback).position_m, [3, 0, 0])  # end of plan: held


def test_subject_predictions_are_advanced_by_their_age():
    from cinempc.nodes.mpc_node import advance_track

    rows = 5
    track = SubjectTrack(track_id=1, positions_m=np.outer(np.arange(rows) * 0.1, [1.4, 0.0, 0.0]),
                         velocities_mps=np.tile([1.4, 0.0, 0.0], (rows, 1)), dt_s=0.1,
                         covariance_m2=np.stack([np.eye(3) * k for k in range(rows)]))
    assert advance_track(track, 0.0) is track
    aged = advance_track(track, 0.17)
    np.testing.assert_allclose(aged.positions_m[0], [0.238, 0, 0])  # where it is now, not 0.17 s ago
    np.testing.assert_allclose(aged.positions_m[-1], track.positions_m[-1])  # past the end: held
    assert aged.covariance_m2[0][0, 0] == 2.0 and aged.track_id == 1 and aged.dt_s == 0.1
