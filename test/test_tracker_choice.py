"""ultralytics' ByteTrack and supervision's numpy ByteTrack (the flight-only install's) on the same detections.

``test/data/recorded_detections.npz`` is the shipped ONNX detector's output on a rendered shot (three people,
two crossing, one passing behind a box: ``tools/record_detections.py``), with its jitter, misses and
low-confidence boxes.  With the shipped config and with score fusing on, the two give the same IDs and the
same Kalman boxes (to 0.01 px) on every frame.  Measured before the numpy tracker honoured ``fuse_score: false``
(supervision always weighs IoU by the box's score): 20 of 71 frames differed, from frame 20 on, where a far
person's 0.27 box (IoU x score under 1 - match_thresh) went unmatched and the ID numbering drifted apart.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from cinempc.perception import load_perception_params
from cinempc.perception.detector import Detections
from cinempc.perception.tracker_choice import NumpyByteTracker, build_tracker

RECORDED = Path(__file__).parent / "data" / "recorded_detections.npz"
PARAMS = load_perception_params()


def _frames() -> list[Detections]:
    data = np.load(RECORDED)
    edges = np.r_[0, np.cumsum(data["counts"])]
    size = tuple(int(v) for v in data["image_size"])
    return [Detections(data["xyxy"][a:b], data["conf"][a:b], data["cls"][a:b], size)
            for a, b in zip(edges[:-1], edges[1:], strict=True)]


def _run(tracker, frames: list[Detections]) -> list[list[tuple[int, np.ndarray]]]:
    return [sorted(((t.track_id, t.xyxy) for t in tracker.update(d)), key=lambda x: x[0]) for d in frames]


def _compare(params) -> list[int]:
    """Frames where the two trackers report different IDs (boxes of equal IDs checked to 0.01 px)."""
    frames = _frames()
    ours, theirs = _run(build_tracker(params, "supervision"), frames), _run(build_tracker(params, "ultralytics"),
                                                                             frames)
    differ = []
    for k, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        if [i for i, _ in a] != [i for i, _ in b]:
            differ.append(k)
        elif not differ:
            for (_, box_a), (_, box_b) in zip(a, b, strict=True):
                np.testing.assert_allclose(box_a, box_b, atol=0.01)
    return differ


def test_the_recording_has_the_hard_cases():
    frames = _frames()
    assert len(frames) == 71 and sum(len(f) for f in frames) > 150
    assert min(float(f.conf.min()) for f in frames if len(f)) < PARAMS.tracker_overrides["new_track_thresh"]
    assert any(len(f) > 3 for f in frames)  # double boxes where people overlap


@pytest.mark.parametrize("fuse_score", [False, True], ids=["shipped config", "score fusing"])
def test_same_ids_and_boxes_on_every_frame(fuse_score):
    assert PARAMS.tracker_overrides["fuse_score"] is False
    params = PARAMS.with_(tracker_overrides={**PARAMS.tracker_overrides, "fuse_score": fuse_score})
    assert _compare(params) == []
    tracked = _run(build_tracker(params, "supervision"), _frames())
    assert len({i for frame in tracked for i, _ in frame}) >= 3  # all three people got an ID


def test_reset_restarts_ids_and_settings_come_from_the_config():
    tracker = build_tracker(PARAMS, "supervision")
    assert isinstance(tracker, NumpyByteTracker)
    assert tracker.config["track_buffer"] == int(np.ceil(PARAMS.lost_timeout_s * PARAMS.frame_rate_hz))
    assert tracker._tracker.det_thresh == PARAMS.tracker_overrides["new_track_thresh"]
    first = _run(tracker, _frames()[:5])
    tracker.reset()
    assert _run(tracker, _frames()[:5])[-1][0][0] == first[-1][0][0] == 1


def test_settings_it_cannot_take_are_refused():
    with pytest.raises(ValueError, match="track_low_thresh"):
        NumpyByteTracker(overrides={"track_low_thresh": 0.2})
    with pytest.raises(ValueError, match="cannot take"):
        NumpyByteTracker(overrides={"gmc_method": "sparseOptFlow"})
    with pytest.raises(ValueError, match="needs ultralytics"):
        build_tracker(PARAMS.with_(tracker="botsort"), "supervision")


def test_loading_the_tracker_leaves_supervision_importable_whole():
    """The tracker is loaded without supervision's __init__ (matplotlib); a later full import still works."""
    import subprocess

    code = ("import sys; from cinempc.perception.tracker_choice import NumpyByteTracker; NumpyByteTracker(); "
            "assert 'matplotlib' not in sys.modules and 'supervision' not in sys.modules; "
            "import supervision; assert hasattr(supervision, 'ByteTrack'); print('ok')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr[-2000:]
