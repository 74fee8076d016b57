"""cinempc.nodes.convert: every encoding round-trips, and malformed messages raise specific ValueErrors."""

import math
from dataclasses import replace

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
    hidden = SubjectTrack(track_id=5, positions_m=[[1.0, 2.0, 0.0]], velocities_mps=[[0.0, 0.0, 0.0]], visible=False)
    msg = _wire(convert.subjects_msg([track, hidden], 7.0))
    assert msg.header.frame_id == "map" and msg.subjects[0].heading_rad == pytest.approx(0.0)
    assert msg.subjects[1].state == msg.subjects[1].STATE_COASTING and msg.subjects[1].name == ""
    stamp, back = convert.subjects_from_msg(msg)
    assert stamp == 7.0 and back[0].name == "alice" and back[0].matches("#4") and back[1].name is None
    assert back[0].visible and not back[1].visible and back[1].covariance_m2 is None
    np.testing.assert_allclose(back[0].positions_m, track.positions_m)
    np.testing.assert_allclose(back[0].covariance_m2, track.covariance_m2)

    def broken(change) -> None:
        bad = convert.subjects_msg([track], 7.0)
        change(bad)
        return bad

    for change, words in ((lambda m: setattr(m.subjects[0].positions_m[1], "x", math.nan), "non-finite"),
                          (lambda m: m.subjects[0].velocities_mps.pop(), "3 positions but 2 velocities"),
                          (lambda m: setattr(m.subjects[0], "covariance_m2", [0.0] * 5), "covariance has 5"),
                          (lambda m: setattr(m.subjects[0], "positions_m", []), "no positions"),
                          (lambda m: setattr(m.subjects[0], "state", 7), "unknown state"),
                          (lambda m: setattr(m.header, "frame_id", "odom"), "not 'map'"),
                          (lambda m: m.subjects.append(m.subjects[0]), "duplicate track ids")):
        with pytest.raises(ValueError, match=words):
            convert.subjects_from_msg(broken(change))


def test_subject_track_state_round_trips_and_an_unknown_one_is_refused_both_ways():
    searched = SubjectTrack(track_id=3, name="maya", positions_m=[[4.0, 1.0, 0.0]], velocities_mps=[[0.0, 2.0, 0.0]],
                            track_state="searching")
    truth = SubjectTrack(track_id=6, positions_m=[[0.0, 1.0, 0.0]], velocities_mps=[[0.0, 0.0, 0.0]])
    msg = _wire(convert.subjects_msg([searched, truth], 2.0))
    assert msg.subjects[0].track_state == convert.ci.SubjectTrack.TRACK_STATE_SEARCHING
    assert msg.subjects[1].track_state == ""  # no tracker (ground truth)
    _, back = convert.subjects_from_msg(msg)
    assert [s.track_state for s in back] == ["searching", ""]
    assert convert.subject_to_dict(back[0])["track_state"] == "searching"
    for state in convert.TRACK_STATES:
        msg = _wire(convert.subjects_msg([replace(searched, track_state=state)], 2.0))
        (again,) = convert.subjects_from_msg(msg)[1]
        assert again.track_state == state
    with pytest.raises(ValueError, match="subject #3: unknown track state 'hunting'"):
        convert.subjects_msg([replace(searched, track_state="hunting")], 2.0)
    unknown = convert.subjects_msg([searched], 2.0)
    unknown.subjects[0].track_state = "SEARCHING"
    with pytest.raises(ValueError, match="unknown track state 'SEARCHING'"):
        convert.subjects_from_msg(unknown)


def test_track_state_constants_are_the_trackers_subject_states():
    from cinempc.perception.subjects import SubjectState

    assert sorted(convert.TRACK_STATES) == sorted(state.value for state in SubjectState)
    assert {name.removeprefix("TRACK_STATE_").lower() for name in dir(convert.ci.SubjectTrack)
            if name.startswith("TRACK_STATE_")} == {state.value for state in SubjectState}


def test_subject_names_pins_and_events_round_trip():
    assert convert.names_from_msg(_wire(convert.names_msg({3: "alice", 7: "bob"}))) == {3: "alice", 7: "bob"}
    twice = convert.names_msg({3: "alice"})
    twice.names.append(twice.names[0])
    with pytest.raises(ValueError, match="named twice"):
        convert.names_from_msg(twice)
    pins = {"carol": (8.0, -3.0, 12.5), "the bride": (0.0, 1.25, 13.0)}
    assert convert.pins_from_msg(_wire(convert.pins_msg(pins))) == pins
    assert convert.pins_from_msg(convert.ci.SubjectPins()) == {}
    for name, words in (("b@d", "invalid subject reference"), ("#3", "not a name"), ("all", "not a name")):
        with pytest.raises(ValueError, match=words):
            convert.pins_from_msg(convert.pins_msg({name: (8.0, -3.0, 1.0)}))
    nan_pin = convert.pins_msg({"carol": (8.0, -3.0, 1.0)})
    nan_pin.pins[0].position_m.x = math.inf
    with pytest.raises(ValueError, match="non-finite"):
        convert.pins_from_msg(nan_pin)
    event = convert.event_from_msg(_wire(convert.event_msg("geofence", "clamped at the fence", "warning", 3.5)))
    assert event == {"kind": "geofence", "message": "clamped at the fence", "level": "warning", "time_s": 3.5}
    with pytest.raises(ValueError, match="unknown level"):
        convert.event_from_msg(convert.event_msg("x", "y", "loud", 0.0))


def test_shot_constants_are_the_shot_vocabulary_and_every_field_round_trips():
    from cinempc import shot as shots
    from cinempc.shot import ShotSpec

    constants = {name: getattr(convert.ci.ShotSpec, name) for name in dir(convert.ci.ShotSpec) if name.isupper()}
    for prefix, values in (("FRAMING_", shots.FRAMINGS), ("SCREEN_POSITION_", shots.SCREEN_POSITIONS),
                           ("ANGLE_", shots.ANGLES), ("SIDE_", shots.SIDES), ("MOVEMENT_", shots.MOVEMENT_TYPES),
                           ("SPEED_", shots.SPEEDS), ("DIRECTION_", shots.ORBIT_DIRECTIONS),
                           ("DEPTH_OF_FIELD_", shots.DEPTH_OF_FIELD_MODES)):
        assert sorted(v for k, v in constants.items() if k.startswith(prefix)) == sorted(values), prefix
    full = ShotSpec(name="opening", subjects=["alice", "#3"], framing="close_up", screen_position="left_third",
                    angle="high", side="back_left", movement={"type": "orbit", "speed": "slow", "speed_mps": 2.5,
                                                              "direction": "clockwise", "extent": 90.0},
                    focus={"target": "#3", "depth_of_field": "shallow", "rack_to": "alice", "rack_duration_s": 2.0},
                    lens={"focal_length_mm": 85.0}, distance_m=6.0, duration_s=12.0)
    msg = _wire(convert.shot_msg(full))
    assert msg.movement_direction == "clockwise" and msg.focus_rack_duration_s == 2.0 and msg.movement_extent == 90.0
    assert list(msg.subjects) == ["alice", "#3"]
    assert convert.shot_from_msg(msg) == full
    assert convert.shot_from_msg(_wire(convert.shot_msg(ShotSpec()))) == ShotSpec()


def test_shot_obstacles_camera_info_and_images():
    shot = preset("follow_medium")
    assert convert.shot_from_msg(_wire(convert.shot_msg(shot))) == shot
    bad = convert.shot_msg(shot)
    bad.framing = "gigantic"
    with pytest.raises(ValueError, match="framing"):
        convert.shot_from_msg(bad)
    obstacles = [Obstacle(kind="cylinder", center_m=[1, 2, 0], radius_m=0.5, height_m=4.0, name="tree"),
                 Obstacle(kind="box", center_m=[5, 5, 1], half_extents_m=[1, 1, 1])]
    back, background = convert.obstacles_from_msg(_wire(convert.obstacles_msg(obstacles, 30.0)))
    assert background == 30.0 and back[0].name == "tree" and back[1].half_extents_m.tolist() == [1, 1, 1]
    assert back[0].kind == "cylinder" and back[0].half_extents_m is None and back[0].height_m == 4.0
    assert convert.obstacles_from_msg(convert.obstacles_msg([], None))[1] is None
    odd = convert.obstacles_msg(obstacles)
    odd.obstacles[0].kind = 9
    with pytest.raises(ValueError, match="unknown kind"):
        convert.obstacles_from_msg(odd)

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


def test_plan_status_round_trips_with_missing_numbers_as_nan():
    document = {"status": "relaxed", "message": "framing relaxed", "holding": False, "hold_reason": "",
                "hold_cause": "", "solve_status": "optimal", "solves": 12, "setpoints": 240, "solve_ms": 41.5,
                "iterations": 17, "solve_ms_p50": 38.0, "solve_ms_p95": None,
                "cost_breakdown": {"framing": 1.5, "focus": 0.25}, "relaxations": ["framing"],
                "weights": {"focus_follow": 1.0}, "dropped_messages": {"subjects": 2}, "subjects": ["#3"]}
    msg = _wire(convert.plan_status_msg(document, 9.0))
    assert msg.status == msg.STATUS_RELAXED and math.isnan(msg.solve_ms_p95)
    back = convert.plan_status_from_msg(msg)
    assert back.pop("stamp_s") == 9.0
    assert back == document


def test_ground_truth_round_trips_to_the_examiner_document():
    track = SubjectTrack(track_id=2, name="bob", positions_m=[[1.0, 2.0, 0.0], [1.1, 2.0, 0.0]],
                         velocities_mps=[[1.0, 0.0, 0.0]] * 2)
    facts = {"scenario_time_s": 4.0, "wall_time_s": 9.5, "paused": False, "holding": True, "collisions": 1,
             "background_distance_m": None, "camera_profile": "sim_super35", "image_size_px": [640, 360]}
    document = convert.ground_truth_from_msg(_wire(convert.ground_truth_msg(facts, STATE, [track], 5.0)))
    assert {k: document[k] for k in facts} == facts and document["time_s"] == 5.0
    rig = RigState(**document["rig"])
    np.testing.assert_allclose(rig.position_m, STATE.position_m)
    assert rig.focal_length_mm == pytest.approx(STATE.focal_length_mm) and rig.pitch_rad == STATE.pitch_rad
    assert document["subjects"][0]["name"] == "bob" and document["subjects"][0]["positions_m"][1] == [1.1, 2.0, 0.0]


def test_detections_are_vision_msgs_with_the_subject_track_id():
    boxes = np.array([[100.0, 50.0, 140.0, 170.0], [300.0, 60.0, 330.0, 150.0], [10.0, 10.0, 20.0, 30.0]])
    subject_boxes = {7: boxes[1] + 2.0, 9: np.array([500.0, 50.0, 540.0, 170.0])}  # 9 measured by no detection
    msg = _wire(convert.detections_msg(boxes, [0.9, 0.8, 0.3], subject_boxes, 2.5, classes=[0, 0, 2]))
    assert msg.header.frame_id == "camera_optical" and len(msg.detections) == 3
    first = msg.detections[0]
    assert (first.bbox.center.position.x, first.bbox.center.position.y, first.bbox.size_x, first.bbox.size_y) \
        == (120.0, 110.0, 40.0, 120.0)
    assert first.results[0].hypothesis.class_id == "person" and first.results[0].hypothesis.score == pytest.approx(0.9)
    back = convert.detections_from_msg(msg)
    assert [d["track_id"] for d in back] == [None, 7, None]
    assert back[2]["class_id"] == "2" and back[1]["xyxy"] == pytest.approx(boxes[1].tolist())
    assert convert.detections_msg(np.zeros((0, 4)), [], {}, 0.0).detections == []
