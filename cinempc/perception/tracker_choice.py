"""Which ByteTrack runs: ultralytics' where ultralytics is installed, else supervision's numpy one (no torch).

Why two: the flight-only install (``make install-drone``) has no ultralytics or torch (AGPL-3.0, a GB of
wheels); its ONNX Runtime detector still needs a tracker.  supervision (MIT) ships a numpy/scipy ByteTrack
from the same original ByteTrack; it is fed the settings of ``config/perception.yaml`` and returns the same
:class:`TrackedBox` list, so the pipeline does not know which one runs (``test/test_tracker_choice.py``).
"""

from __future__ import annotations

import importlib.util
import logging
import math
import sys
import types

import numpy as np

from cinempc.perception.detector import Detections, iou_matrix
from cinempc.perception.params import PerceptionParams
from cinempc.perception.tracking import SubjectTracker, TrackedBox

__all__ = ["NumpyByteTracker", "build_tracker", "ultralytics_installed"]

log = logging.getLogger(__name__)

# supervision's ByteTrack has these built in; a config asking for other values is refused, not ignored
SUPERVISION_LOW_THRESH = 0.1
ULTRALYTICS_FRAME_RATE = 30  # ultralytics builds its trackers with frame_rate=30: max_time_lost = track_buffer


def ultralytics_installed() -> bool:
    """Whether the ultralytics package can be imported here (without importing it)."""
    return importlib.util.find_spec("ultralytics") is not None


def build_tracker(params: PerceptionParams, library: str | None = None) -> SubjectTracker | NumpyByteTracker:
    """The tracker for ``params``: ``library`` ``ultralytics`` | ``supervision``, or by what is installed."""
    library = library or ("ultralytics" if ultralytics_installed() else "supervision")
    if library == "ultralytics":
        return SubjectTracker.from_params(params)
    if library == "supervision":
        if params.tracker != "bytetrack":
            raise ValueError(f"tracker {params.tracker!r} needs ultralytics (not installed); use bytetrack")
        return NumpyByteTracker(params.frame_rate_hz, params.lost_timeout_s, params.tracker_overrides)
    raise ValueError(f"unknown tracker library {library!r}: ultralytics or supervision")


def _supervision_byte_track() -> type:
    """supervision's ``ByteTrack`` class, imported without running ``supervision/__init__``.

    That ``__init__`` imports every annotator, hence matplotlib; the tracker's own modules need only
    numpy, scipy, OpenCV and Pillow.  The bare package object is removed again, so a later
    ``import supervision`` runs the real ``__init__`` (reusing the modules already loaded).
    """
    if "supervision" in sys.modules:
        from supervision.tracker.byte_tracker.core import ByteTrack

        return ByteTrack
    spec = importlib.util.find_spec("supervision")
    if spec is None:
        raise ModuleNotFoundError("neither ultralytics nor supervision is installed: no tracker (pip install .)")
    sys.modules["supervision"] = importlib.util.module_from_spec(spec)  # a package with __path__, not executed
    try:
        from supervision.tracker.byte_tracker.core import ByteTrack
    finally:
        del sys.modules["supervision"]
    return ByteTrack


class NumpyByteTracker:
    """supervision's ByteTrack behind :class:`SubjectTracker`'s interface (``reset``, ``update``).

    Mapped from ultralytics' bytetrack settings: ``track_high_thresh`` -> activation threshold,
    ``new_track_thresh`` -> new-track threshold, ``match_thresh`` -> first-association threshold,
    ``track_buffer`` = ``ceil(lost_timeout_s x frame_rate_hz)`` frames as for ultralytics.  supervision fixes
    the low-score threshold at 0.1 (a config with another is refused) and always weighs IoU by the box's score
    (``fuse_score: true``); for ``fuse_score: false`` its association costs are plain ``1 - IoU`` during our
    ``update`` calls (its ``matching`` module swapped for one without score fusing, restored after).
    """

    name = "bytetrack"

    def __init__(self, frame_rate_hz: float = 10.0, lost_timeout_s: float = 2.0, overrides: dict | None = None) -> None:
        settings = {"track_high_thresh": 0.25, "track_low_thresh": SUPERVISION_LOW_THRESH, "new_track_thresh": 0.25,
                    "match_thresh": 0.8, "fuse_score": True}
        unknown = set(overrides or {}) - set(settings)
        if unknown:
            raise ValueError(f"tracker_overrides the numpy ByteTrack cannot take: {sorted(unknown)}")
        settings.update(overrides or {})
        if not math.isclose(settings["track_low_thresh"], SUPERVISION_LOW_THRESH):
            raise ValueError(f"track_low_thresh {settings['track_low_thresh']}: supervision's ByteTrack fixes 0.1")
        settings["track_buffer"] = max(1, math.ceil(lost_timeout_s * frame_rate_hz))
        self.config = settings
        self._byte_track = _supervision_byte_track()
        self._core = sys.modules[self._byte_track.__module__]
        self._matching = self._core.matching
        if not settings["fuse_score"]:
            self._matching = types.SimpleNamespace(**{**vars(self._core.matching), "fuse_score": _iou_cost_only})
        self.reset()

    def reset(self) -> None:
        """Forget every track; IDs restart at 1."""
        self._tracker = self._byte_track(
            track_activation_threshold=self.config["track_high_thresh"], lost_track_buffer=self.config["track_buffer"],
            minimum_matching_threshold=self.config["match_thresh"], frame_rate=ULTRALYTICS_FRAME_RATE,
            minimum_consecutive_frames=1,
        )
        self._tracker.det_thresh = self.config["new_track_thresh"]  # supervision's default: activation + 0.1

    def update(self, detections: Detections, image_bgr: np.ndarray | None = None) -> list[TrackedBox]:
        """Associate this frame's detections; the confirmed tracks seen in this frame (Kalman boxes)."""
        tensors = np.hstack([detections.xyxy, detections.conf[:, None]]).astype(float)
        library_matching, self._core.matching = self._core.matching, self._matching
        try:
            tracks = self._tracker.update_with_tensors(tensors)
        finally:
            self._core.matching = library_matching
        if not tracks:
            return []
        boxes = np.array([track.tlbr for track in tracks], float)
        # a track confirmed this frame was matched to one of this frame's boxes: its class is that box's
        nearest = iou_matrix(boxes, detections.xyxy).argmax(axis=1) if len(detections) else np.zeros(len(boxes), int)
        return [TrackedBox(int(track.external_track_id), box, float(track.score),
                           int(detections.cls[i]) if len(detections) else 0)
                for track, box, i in zip(tracks, boxes, nearest, strict=True)]


def _iou_cost_only(cost: np.ndarray, detections: list) -> np.ndarray:
    """``fuse_score: false``: the association cost stays ``1 - IoU``."""
    return cost
