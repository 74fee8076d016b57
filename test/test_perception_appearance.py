"""Appearance (shirt histograms) keeps names on the right people where positions cannot.

Real parts: PyBullet renders the simulator's articulated actors, the shipped YOLO
weights detect them, ultralytics' ByteTrack tracks them and the whole pipeline
runs.  Fakes only inject the faults: a tracker that swaps two people's IDs.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from cinempc.config import load_camera_profile
from cinempc.perception import load_perception_params
from cinempc.perception.appearance import appearance_distance, torso_histogram
from cinempc.perception.pipeline import PerceptionPipeline
from cinempc.perception.tracking import SubjectTracker, TrackedBox
from cinempc.state import RigState

pytest.importorskip("ultralytics")
pytest.importorskip("pybullet")

CAMERA = load_camera_profile("sim_super35")
RATE_HZ = 10.0
POSITION = (0.0, 0.0, 3.0)
LOOK_AT = (10.0, 0.0, 0.9)
FOCAL_MM = 35.0
ORANGE, BLUE = (0.9, 0.35, 0.1), (0.3, 0.3, 0.9)  # crossing's bob and carol


def _side_by_side(gap_m: float = 0.6, duration_s: float = 5.0):
    """Two people walking together towards the camera, ``gap_m`` apart: the same speed, the same heading."""
    from cinempc_sim.scenario import ActorSpec, ScriptStep

    half = gap_m / 2
    actors = [ActorSpec(name="bob", track_id=1, shirt_rgb=ORANGE, start_m=(15.0, -half), start_heading_deg=180,
                        script=[ScriptStep(to=(5.0, -half), speed_mps=1.3)]),
              ActorSpec(name="carol", track_id=2, shirt_rgb=BLUE, start_m=(15.0, half), start_heading_deg=180,
                        script=[ScriptStep(to=(5.0, half), speed_mps=1.3)])]
    return actors, duration_s


def _frames(actors, duration_s):
    from cinempc_sim.perception_data import scripted_sequence

    return list(scripted_sequence(CAMERA, actors, POSITION, duration_s=duration_s, rate_hz=RATE_HZ,
                                  focal_length_mm=FOCAL_MM, look_at_m=LOOK_AT))


def _rig():
    rel = np.subtract(LOOK_AT, POSITION)
    return RigState(position_m=POSITION, yaw_rad=math.atan2(rel[1], rel[0]),
                    pitch_rad=math.atan2(rel[2], math.hypot(rel[0], rel[1])), focal_length_mm=FOCAL_MM)


class _SwapAfter:
    """ultralytics' ByteTrack, whose two tracks exchange IDs from frame ``swap_at`` on (the fault)."""

    def __init__(self, inner: SubjectTracker, swap_at: int) -> None:
        self.inner, self.swap_at, self.frame, self.table = inner, swap_at, -1, {}

    def reset(self) -> None:
        self.inner.reset()
        self.frame, self.table = -1, {}

    def update(self, detections, image_bgr=None) -> list[TrackedBox]:
        self.frame += 1
        tracks = self.inner.update(detections, image_bgr)
        if self.frame == self.swap_at:
            ids = sorted(t.track_id for t in tracks)
            assert len(ids) == 2, f"the fault needs exactly two tracks at frame {self.frame}, got {ids}"
            self.table = {ids[0]: ids[1], ids[1]: ids[0]}
        return [TrackedBox(self.table.get(t.track_id, t.track_id), t.xyxy, t.conf, t.cls) for t in tracks]


def _fly(frames, params, swap_after: int | None):
    """The real pipeline over the frames; the operator taps both people once both are subjects.

    ``swap_after``: that many frames after the tap, the tracker exchanges their IDs.
    """
    tracker = _SwapAfter(SubjectTracker.from_params(params), swap_at=-1)
    pipeline = PerceptionPipeline(CAMERA, params, tracker=tracker)
    rig = _rig()
    named, tapped = {}, False
    for k, (t, view) in enumerate(frames):
        subjects = pipeline.process(view.rgb, rig, t, focal_length_mm=FOCAL_MM, depth_m=view.depth_m)
        if not tapped and len(subjects) == 2:
            for index, name in enumerate(("bob", "carol")):
                assert pipeline.bind_nearest(name, view.feet_m[index], max_distance_m=0.3) is not None
            tapped = True
            if swap_after is not None:
                tracker.swap_at = k + swap_after
        named = {s.name: s.positions_m[0] for s in subjects if s.name}
    assert tapped and tracker.frame > tracker.swap_at > 0 if swap_after is not None else tapped
    return named, frames[-1][1].feet_m


@pytest.fixture(scope="module")
def side_by_side_frames():
    return _frames(*_side_by_side())


def test_shirts_of_different_people_are_far_apart_and_of_one_person_close(side_by_side_frames):
    """The veto's premise, on rendered actors' mask boxes: same shirt < 0.5, different shirts > 0.8."""
    looks = {0: [], 1: []}
    for _, view in side_by_side_frames[::4]:
        for index, box in zip(view.actor_ids, view.boxes_xyxy, strict=True):
            others = [b for i, b in zip(view.actor_ids, view.boxes_xyxy, strict=True) if i != index]
            look = torso_histogram(np.ascontiguousarray(view.rgb[..., ::-1]), box, others)
            if look is not None:
                looks[index].append(look)
    assert len(looks[0]) >= 5 and len(looks[1]) >= 5
    same = [appearance_distance(a, b) for person in looks.values() for a in person for b in person]
    different = [appearance_distance(a, b) for a in looks[0] for b in looks[1]]
    assert max(same) < 0.5 < 0.8 < min(different)


def test_a_tracker_id_swap_between_two_people_walking_together_is_repaired_by_their_shirts(side_by_side_frames):
    """crossing: people 0.3-0.6 m apart sit inside each other's ground gates; only their clothes tell them apart."""
    params = load_perception_params().with_(frame_rate_hz=RATE_HZ)
    named, truth = _fly(side_by_side_frames, params, swap_after=8)
    assert set(named) == {"bob", "carol"}
    for index, name in enumerate(("bob", "carol")):
        assert np.linalg.norm(named[name][:2] - truth[index][:2]) < 0.3, name


def test_without_the_appearance_veto_the_same_swap_loses_a_name(side_by_side_frames):
    """The control: the swap is a real fault that positions alone do not repair (a name is lost or moved)."""
    params = load_perception_params().with_(frame_rate_hz=RATE_HZ, appearance_veto_distance=1.0)
    named, truth = _fly(side_by_side_frames, params, swap_after=8)
    right = [name in named and np.linalg.norm(named[name][:2] - truth[index][:2]) < 0.3
             for index, name in enumerate(("bob", "carol"))]
    assert not all(right)
