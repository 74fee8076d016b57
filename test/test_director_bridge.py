"""The director bridge on a real closed-loop PyBullet run: frames and boxes out, shots and HOLD in."""

from __future__ import annotations

import numpy as np
import pytest

from cinempc import optics
from cinempc.director.live import LiveHub
from cinempc.shot import ShotSpec, preset
from cinempc_sim.director_bridge import LiveRun, shot_with_track_refs, subject_boxes

CONTROLLER = "follow"  # the reactive baseline: a real controller, cheap enough for 2 CI cores


def test_subject_boxes_from_segmentation():
    seg = np.full((10, 12), -1, np.int32)
    seg[2:6, 3:5] = 4
    seg[8, 11] = 9  # below min_pixels: noise, not a subject
    depth = np.full((10, 12), 50.0, np.float32)
    depth[2:6, 3:5] = 6.5
    boxes = subject_boxes(seg, depth, {4: "alice"})
    assert len(boxes) == 1
    box = boxes[0]
    assert box.track_id == 4 and box.name == "alice" and box.box_px == (3.0, 2.0, 5.0, 6.0)
    assert box.distance_m == pytest.approx(6.5)


def test_director_names_become_track_refs():
    shot = ShotSpec(subjects=["bride", "#2"], focus={"target": "bride", "rack_to": "groom", "rack_duration_s": 2})
    rewritten = shot_with_track_refs(shot, {3: "bride", 5: "groom"})
    assert rewritten.subjects == ["#3", "#2"]
    assert rewritten.focus.target == "#3" and rewritten.focus.rack_to == "#5"
    assert shot_with_track_refs(shot, {}) is shot


def test_perceptions_search_for_a_subject_is_told_on_the_tablet_once_per_new_frame():
    """``cinempc sim --director --perception yolo``: "searching for X", "X found again", "X lost" in the log."""
    from types import SimpleNamespace

    from cinempc_sim.director_bridge import DirectorBridge

    hub = LiveHub()
    pipeline = SimpleNamespace(searching={}, lost=[])
    perceiver = SimpleNamespace(frames=0, pipeline=pipeline)
    bridge = DirectorBridge(hub, loop=SimpleNamespace(shot=ShotSpec()), perceiver=perceiver)

    def frame(searching: dict, lost: list) -> list[tuple[str, str]]:
        before = len(hub.snapshot()["events"])
        pipeline.searching, pipeline.lost = searching, lost
        perceiver.frames += 1
        bridge._report_search()
        bridge._report_search()  # the same frame again: nothing new
        return [(e["kind"], e["message"]) for e in hub.snapshot()["events"][before:]]

    assert frame({"maya": 0.1}, []) == [("searching", "searching for maya where it is predicted")]
    assert frame({"maya": 0.2}, []) == []
    assert frame({}, []) == [("found", "maya found again")]
    assert frame({"maya": 0.1}, []) and frame({}, ["maya"]) == [("lost", "maya lost: not found where it was predicted")]


def test_live_run_publishes_and_obeys_the_director():
    hub = LiveHub()
    script = {}

    def director(event):
        """What a director does at given control steps (runs inside the loop, after the bridge)."""
        action = script.get(event.index)
        if action is not None:
            action(event)

    run = LiveRun(hub, "single_walker", controller=CONTROLLER, duration_s=16.0, realtime_factor=None,
                  render_rate_hz=2.0, on_step=(director,))
    log = {}
    script[20] = lambda e: hub.submit_preset("follow_full_back")
    script[30] = lambda e: log.update(after_cut=run.loop.shot.name, cut_state=hub.snapshot())
    script[80] = lambda e: (hub.hold("test"), log.update(hold_pos=e.state.position_m.copy()))
    script[110] = lambda e: log.update(held=e.state, held_status=e.status, held_snap=hub.snapshot())
    script[112] = lambda e: hub.resume("test")
    script[150] = lambda e: log.update(resumed=e.state, resumed_status=e.status)
    try:
        result = run.run()
    finally:
        run.close()
    assert result.events[-1].index == 159
    # published: frames with the walker boxed and her distance, the lens and the controller status
    snap = log["cut_state"]
    assert snap["frame"]["seq"] >= 6 and snap["frame"]["size_px"] == [320, 240]  # 2 Hz render, step 30
    (alice,) = snap["subjects"]
    assert alice["name"] == "alice" and alice["track_id"] == 1
    u0, v0, u1, v1 = alice["box_px"]
    assert 0 <= u0 < u1 <= 320 and 0 <= v0 < v1 <= 240 and (v1 - v0) > 20
    assert 2.0 < alice["distance_m"] < 30.0
    assert snap["lens"]["focal_length_mm"] > 0 and snap["control"]["status"] not in ("waiting", "")
    # the cut: the preset became the loop's shot within one step
    assert log["after_cut"] == "follow_full_back"
    assert snap["queue"]["current"]["shot"]["name"] == "follow_full_back"
    # HOLD: the loop hovers (status "hold"), the drone stops where it was
    assert log["held_status"] == "hold" and log["held_snap"]["control"]["holding"]
    held = log["held"]
    assert np.linalg.norm(held.velocity_mps) < 0.3
    assert np.linalg.norm(held.position_m - log["hold_pos"]) < 3.0
    assert log["held_snap"]["queue"]["paused"]
    # RESUME: the controller flies again and follows the walker
    assert log["resumed_status"] != "hold"
    assert np.linalg.norm(log["resumed"].velocity_mps) > 0.3


def test_frame_boxes_contain_the_projected_subject():
    hub = LiveHub()
    seen = {}

    def grab(event):
        if event.frame is not None and event.index == 15:
            seen["event"] = event

    run = LiveRun(hub, "single_walker", controller=CONTROLLER, duration_s=1.6, realtime_factor=None,
                  on_step=(grab,))
    try:
        run.run()
        camera = run.sim.render_profile
    finally:
        run.close()
    event = seen["event"]
    (box,) = subject_boxes(event.frame.segmentation, event.frame.depth_m)
    track = event.subjects[0]
    chest = track.positions_m[0] + np.array([0.0, 0.0, 0.6 * track.height_m])
    state = event.state
    u, v = optics.project(chest, state.position_m, state.yaw_rad, state.pitch_rad,
                          camera.focal_px(event.frame.focal_length_mm), camera.image_width_px,
                          camera.image_height_px)[:2]
    u0, v0, u1, v1 = box.box_px
    assert u0 - 2 <= float(u) <= u1 + 2 and v0 - 2 <= float(v) <= v1 + 2


def test_bad_realtime_factor_is_refused():
    hub = LiveHub()
    with pytest.raises(ValueError, match="realtime_factor"):
        LiveRun(hub, "single_walker", controller=CONTROLLER, realtime_factor=0.0)
    assert preset("follow_medium").movement.type == "follow"


def test_live_run_with_perception_shows_what_the_camera_sees_and_takes_the_directors_names_and_pins():
    """``cinempc sim --director --perception yolo``: the tablet sees perception's subjects and IDs; the
    director's names, shots by those names and map pins reach the pipeline (as in the ROS graph)."""
    hub = LiveHub()
    script, log = {}, {}

    def director(event):
        action = script.get(event.index)
        if action is not None:
            action(event)

    run = LiveRun(hub, "single_walker", controller=CONTROLLER, duration_s=4.0, realtime_factor=None,
                  render_rate_hz=2.0, on_step=(director,), perception="yolo")
    pipeline = run.perceiver.pipeline

    def seen(event):
        snap = hub.snapshot()
        log.update(snap=snap, truth=event.subjects[0], state=event.state)
        (subject,) = snap["subjects"]
        hub.name_subject(subject["track_id"], "lead")

    def named(event):
        log["named"] = pipeline.names.name_of(log["snap"]["subjects"][0]["track_id"])
        hub.submit_preset("follow_full_back", subjects=["lead"])
        hub.point_out("zed", 40.0, 40.0)

    def flying(event):
        log.update(shot=run.loop.shot, scenario_refs=run.perceiver.scenario_refs, status=event.status,
                   pins=set(pipeline.names.pins))
        hub.remove_pin("zed")

    script[20], script[22], script[30] = seen, named, flying
    script[32] = lambda e: log.update(pins_after=set(pipeline.names.pins))
    try:
        run.run()
    finally:
        run.close()
    # the tablet draws perception's subject: the operator's tap named her, her box is where she is
    (alice,) = log["snap"]["subjects"]
    assert alice["name"] == "alice"
    u0, v0, u1, v1 = alice["box_px"]
    truth, state = log["truth"], log["state"]
    chest = truth.positions_m[0] + [0.0, 0.0, 0.6 * truth.height_m]
    camera = run.sim.render_profile
    u, v = optics.project(chest, state.position_m, state.yaw_rad, state.pitch_rad,
                          camera.focal_px(state.focal_length_mm), camera.image_width_px, camera.image_height_px)[:2]
    assert u0 - 3 <= float(u) <= u1 + 3 and v0 - 3 <= float(v) <= v1 + 3
    (ground,) = log["snap"]["map"]["subjects"]
    assert np.hypot(*(np.array(ground["position_m"]) - truth.positions_m[0][:2])) < 0.5
    # the director's name went to the pipeline, a shot by that name flies perception's subject
    assert log["named"] == "lead"
    assert log["shot"].subjects == [f"#{alice['track_id']}"] and log["scenario_refs"] is False
    assert "hold" not in log["status"] and "no visible subject" not in log["status"]
    # a pin reaches perception, and taking it back withdraws it there
    assert "zed" in log["pins"] and "zed" not in log["pins_after"]
