"""Re-acquisition: a framed subject unseen for ``lost_timeout_s`` is searched for where it is predicted.

For ``search_timeout_s`` it stays reported (visible, so the MPC turns to its prediction and widens by its
growing covariance) and listed in ``pipeline.searching``; found, it goes on under its ID and name; not found,
it is lost and the shot holds.
"""

from __future__ import annotations

import math

import numpy as np

from cinempc.config import load_camera_profile
from cinempc.perception.detector import Detections
from cinempc.perception.estimation import CameraView
from cinempc.perception.params import load_perception_params
from cinempc.perception.pipeline import PerceptionPipeline
from cinempc.perception.subjects import SubjectState
from cinempc.state import RigState

CAMERA = load_camera_profile("sim_super35")
RATE_HZ = 10.0
CAMERA_AT = np.array([0.0, 0.0, 4.0])


class _NoDetector:
    backend = "none"

    def detect(self, rgb):  # pragma: no cover -- scripted boxes only
        raise AssertionError("detector called")


def _runner(t: float) -> np.ndarray:
    """Runs across the view 10 m ahead at 5 m/s, out of a 30 mm picture's side after about a second."""
    return np.array([10.0, -3.0 + 5.0 * t, 0.0])


def _rig(look_at: np.ndarray) -> RigState:
    yaw = math.atan2(look_at[1] - CAMERA_AT[1], look_at[0] - CAMERA_AT[0])
    return RigState(position_m=CAMERA_AT.copy(), yaw_rad=yaw, pitch_rad=-0.3, focal_length_mm=30.0)


def _frame(rig: RigState, feet: np.ndarray | None) -> Detections:
    boxes = []
    if feet is not None:
        view = CameraView(rig.position_m, rig.yaw_rad, rig.pitch_rad, rig.focal_length_mm, CAMERA.sensor_width_mm,
                          320, 240)
        u, v_feet, _ = view.project(feet)
        _, v_head, _ = view.project(feet + [0.0, 0.0, 1.75])
        half = 0.15 * (v_feet - v_head)
        if 5 < u - half and u + half < 315:
            boxes.append([u - half, v_head, u + half, v_feet])
    return Detections(boxes, [0.9] * len(boxes), [0] * len(boxes), (320, 240))


def _pipeline(search_timeout_s: float) -> PerceptionPipeline:
    params = load_perception_params().with_(frame_rate_hz=RATE_HZ, lost_timeout_s=1.0,
                                            search_timeout_s=search_timeout_s)
    return PerceptionPipeline(CAMERA, params, detector=_NoDetector())


def _run(pipeline: PerceptionPipeline, until_s: float, found_at_s: float | None):
    """The camera looks ahead at the start, misses the runner leaving, and (from ``found_at_s``) looks at him."""
    fixed = _rig(np.array([10.0, -2.0, 0.0]))
    history = []
    for k in range(int(round(until_s * RATE_HZ)) + 1):
        t = k / RATE_HZ
        if found_at_s is not None and t >= found_at_s:
            rig, feet = _rig(_runner(t)), _runner(t)
        else:
            rig, feet = fixed, (_runner(t) if t < 1.0 else None)  # (then hidden: out of the picture, or missed)
        subjects = pipeline.process_detections(_frame(rig, feet), rig, t)
        if k == 3:
            pipeline.bind("runner", subjects[0].track_id)
        history.append((t, subjects, dict(pipeline.searching), list(pipeline.lost), pipeline.states))
    return history


def test_a_subject_lost_from_view_is_searched_for_and_found_again_under_its_name():
    history = _run(_pipeline(search_timeout_s=3.0), until_s=3.5, found_at_s=2.8)
    searching = [(t, s) for t, _, s, _, _ in history if s]
    assert searching and all("runner" in s for _, s in searching)
    t0 = searching[0][0]
    assert 2.0 - 0.11 <= t0 <= 2.0 + 0.11  # after lost_timeout_s unseen (last seen at 0.9 s)
    for t, subjects, _, lost, _ in history:
        if 2.0 < t < 2.8:
            (runner,) = subjects
            assert runner.name == "runner" and runner.visible and not lost
            assert np.linalg.norm(runner.positions_m[0] - _runner(t)) < 0.6  # predicted where he runs
            assert runner.track_state == SubjectState.SEARCHING.value  # the tablet marks him searched for
    t, subjects, search, lost, states = history[-1]
    (runner,) = subjects
    assert runner.name == "runner" and runner.visible and not search
    assert states[runner.track_id] == SubjectState.TRACKED.value == runner.track_state


def test_a_subject_not_found_within_the_search_is_lost_and_the_shot_holds():
    history = _run(_pipeline(search_timeout_s=1.0), until_s=3.5, found_at_s=None)
    lost_at = [t for t, _, _, lost, _ in history if "runner" in lost]
    assert len(lost_at) == 1 and 3.0 - 0.11 <= lost_at[0] <= 3.0 + 0.11  # lost_timeout_s + search_timeout_s
    assert history[-1][1] == []


def test_without_a_search_a_subject_is_lost_after_the_lost_timeout():
    history = _run(_pipeline(search_timeout_s=0.0), until_s=2.5, found_at_s=None)
    lost_at = [t for t, _, _, lost, _ in history if "runner" in lost]
    assert len(lost_at) == 1 and lost_at[0] <= 2.0 + 0.11
    assert not any(search for _, _, search, _, _ in history)


def _reports(history) -> list[tuple[float, str, str]]:
    """(time, kind, ref) of what the director is told, frame by frame, as the perception node tells it."""
    from cinempc.perception.reports import search_reports

    told, searched = [], frozenset()
    for t, _, searching, lost, _ in history:
        told += [(t, r.kind, r.ref) for r in search_reports(searched, searching, lost)]
        searched = frozenset(searching)
    return told


def test_the_director_is_told_once_when_the_search_starts_and_once_when_the_subject_is_found():
    told = _reports(_run(_pipeline(search_timeout_s=3.0), until_s=3.5, found_at_s=2.8))
    assert [(kind, ref) for _, kind, ref in told] == [("searching", "runner"), ("found", "runner")]
    assert 2.0 - 0.11 <= told[0][0] <= 2.0 + 0.11 and 2.8 - 0.11 <= told[1][0] <= 2.8 + 0.21


def test_the_director_is_told_when_a_search_ends_without_the_subject():
    from cinempc.perception.reports import search_reports

    told = _reports(_run(_pipeline(search_timeout_s=1.0), until_s=3.5, found_at_s=None))
    assert [(kind, ref) for _, kind, ref in told] == [("searching", "runner"), ("lost", "runner")]
    (lost,) = search_reports({"runner"}, {}, ["runner"])
    assert lost.level == "warning" and "not found" in lost.message
    assert [r.kind for r in search_reports(set(), {}, ["#4"])] == ["lost"]  # lost without a search: said plainly
