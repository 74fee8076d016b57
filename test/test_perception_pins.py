"""Pointing a person out on the map before the camera has seen them (a pin), with scripted boxes.

crossing: the third person stood 50 deg off the lens axis at the start, so perception,
which knows only the people in the picture, framed two of three for 5 s.  A pin is framed
like a subject at once and hands its name to whoever the tracker finds there.  The boxes
are what a perfect detector would draw; the tracker, estimator, filters and names are real.
"""

import numpy as np
import pytest

from cinempc.config import load_camera_profile
from cinempc.mpc.references import assign_roles
from cinempc.perception import load_perception_params
from cinempc.perception.detector import Detections
from cinempc.perception.estimation import CameraView
from cinempc.perception.naming import SubjectNamer
from cinempc.perception.pipeline import PerceptionPipeline
from cinempc.shot import ShotSpec
from cinempc.state import RigState

CAMERA = load_camera_profile("sim_super35")
RIG = RigState(position_m=[0.0, 0.0, 4.0], yaw_rad=0.0, pitch_rad=-0.3, focal_length_mm=30.0)
VIEW = CameraView(RIG.position_m, RIG.yaw_rad, RIG.pitch_rad, RIG.focal_length_mm, CAMERA.sensor_width_mm, 320, 240)
RATE_HZ = 10.0


class _NoDetector:
    backend = "none"

    def detect(self, rgb):  # pragma: no cover -- failing loudly is the point
        raise AssertionError("detector called")


def _pipeline(**changes):
    params = load_perception_params().with_(frame_rate_hz=RATE_HZ, **changes)
    return PerceptionPipeline(CAMERA, params, detector=_NoDetector())


def _box(feet, height_m=1.75):
    u, v_feet, _ = VIEW.project(feet)
    _, v_head, _ = VIEW.project(np.asarray(feet) + [0, 0, height_m])
    half = (v_feet - v_head) * 0.15
    return [u - half, v_head, u + half, v_feet]


def _people(t):
    """a walks along +y 12 m ahead; c walks in from the right (y = -9 m, outside the 30 mm view) at 1.3 m/s."""
    return {"a": np.array([12.0, -2.0 + 1.0 * t, 0.0]), "c": np.array([14.0, -9.0 + 1.3 * t, 0.0])}


def _in_view(feet) -> bool:
    u, _, z = VIEW.project(feet)
    return z > 0 and 8.0 < u < 312.0


def _frame(t, who=("a", "c")):
    boxes = [_box(p) for name, p in _people(t).items() if name in who and _in_view(p)]
    return Detections(boxes, [0.9] * len(boxes), [0] * len(boxes), (320, 240))


def test_a_person_pointed_out_out_of_view_is_framed_at_once_and_named_when_found():
    pipeline = _pipeline()
    assert not _in_view(_people(0.0)["c"])
    tap = _people(0.0)["c"][:2] + [0.4, -0.3]  # a tablet tap is off by a few tenths
    pin_id = pipeline.point_out("Carol", tap, 0.0)
    assert pin_id < 0
    subjects = pipeline.process_detections(_frame(0.0), RIG, 0.0)
    (carol,) = [s for s in subjects if s.name == "carol"]
    assert carol.track_id == pin_id and carol.visible
    assert np.allclose(carol.positions_m[:, :2], tap)
    assert np.all(np.diff(carol.covariance_m2[:, 0, 0]) > 0)  # where she is grows less certain ahead
    # the MPC frames her with the others: a shot of "all" includes the pin
    roles = assign_roles(ShotSpec(subjects=["all"]), subjects, RIG.position_m, max_slots=4)
    assert "carol" in {s.name for s in roles.framed}

    found_at = None
    for k in range(1, 60):
        t = k / RATE_HZ
        subjects = pipeline.process_detections(_frame(t), RIG, t)
        named = {s.name: s for s in subjects if s.name}
        if found_at is None and named["carol"].track_id > 0:
            found_at = t
    assert found_at is not None and _in_view(_people(found_at)["c"])
    assert found_at - min(k / RATE_HZ for k in range(60) if _in_view(_people(k / RATE_HZ)["c"])) <= 0.3
    carol = named["carol"]
    assert carol.track_id > 0 and not pipeline.names.pins
    assert np.linalg.norm(carol.positions_m[0] - _people(5.9)["c"]) < 0.3
    assert all(s.track_id > 0 for s in subjects)  # no pin left beside the person it found


def test_a_pin_goes_to_the_person_standing_at_it_not_to_the_one_first_seen():
    pipeline = _pipeline()
    b = np.array([14.0, 2.5, 0.0])
    pipeline.point_out("bea", b[:2] + [0.3, 0.3], 0.0)
    for k in range(5):
        t = k / RATE_HZ
        boxes = [_box(_people(t)["a"]), _box(b)]
        subjects = pipeline.process_detections(Detections(boxes, [0.9, 0.9], [0, 0], (320, 240)), RIG, t)
    (bea,) = [s for s in subjects if s.name == "bea"]
    assert bea.track_id > 0 and np.linalg.norm(bea.positions_m[0] - b) < 0.3
    # pointing someone out on a person the tracker already has names that person at once
    a_now = _people(0.4)["a"]
    track_id = pipeline.point_out("al", a_now[:2] + [0.2, -0.2], 0.4)
    assert track_id > 0 and pipeline.names.track_of("al") == track_id


def test_a_pin_nobody_is_found_at_is_reported_lost_and_its_name_waits():
    pipeline = _pipeline(point_out_timeout_s=1.0)
    pipeline.point_out("ghost", [40.0, 30.0], 0.0)
    lost_at = None
    for k in range(1, 16):
        t = k / RATE_HZ
        subjects = pipeline.process_detections(_frame(t, who=("a",)), RIG, t)
        if "ghost" in pipeline.lost:
            lost_at = t
            break
        assert any(s.name == "ghost" for s in subjects)
    assert lost_at == pytest.approx(1.1)
    assert not any(s.name == "ghost" for s in subjects)
    assert "ghost" in pipeline.names.orphaned_names and pipeline.names.waiting("ghost")


def test_pins_in_the_namer():
    namer = SubjectNamer()
    with pytest.raises(ValueError, match="finite"):
        namer.point_out("x", [np.nan, 0.0], 0.0, 1.0, 1.5, 1.75)
    with pytest.raises(ValueError, match="not be 'all'"):
        namer.point_out("all", [0.0, 0.0], 0.0, 1.0, 1.5, 1.75)
    namer.point_out("ann", [0.0, 0.0], 0.0, 1.0, 1.5, 1.75)
    namer.point_out("ben", [3.0, 0.0], 0.0, 1.0, 1.5, 1.75)
    namer.auto_bind(["ann", "cid"], [7, 8])  # a shot's names never take a pinned name's place
    assert namer.track_of("ann") is None and namer.track_of("cid") == 7
    # two pins, two people: each gets their own, best match first (not the first pin to the nearest track)
    tracks = {20: (np.array([2.2, 0.0, 0.0]), np.eye(3) * 0.01), 21: (np.array([0.9, 0.0, 0.0]), np.eye(3) * 0.01)}
    assert sorted(namer.adopt_pins(tracks, 0.5)) == [("ann", 21), ("ben", 20)]
    assert not namer.pins
    # the gate widens with a walker's drift since the tap
    namer.point_out("dee", [0.0, 10.0], 0.0, 1.0, 1.5, 1.75)
    far = {30: (np.array([0.0, 15.0, 0.0]), np.eye(3) * 0.01)}
    assert namer.adopt_pins(far, 0.5) == []
    assert namer.adopt_pins(far, 3.0) == [("dee", 30)]
    # pointing out a bound name again moves it off its track
    namer.point_out("ann", [5.0, 5.0], 4.0, 1.0, 1.5, 1.75)
    assert namer.track_of("ann") is None and "ann" in namer.pins
