"""Multi-object tracking with ultralytics' own ByteTrack / BoT-SORT classes (we do not write a tracker).

The trackers are built from ultralytics' shipped ``bytetrack.yaml`` /
``botsort.yaml`` with our overrides from ``config/perception.yaml`` on top,
and fed :class:`~cinempc.perception.detector.Detections`, so either detector
backend works.  The one number we derive: the tracker keeps a lost track for
``lost_timeout_s x frame_rate_hz`` frames, so a subject hidden behind a tree
for a second comes back with its old ID, and the tracker forgets exactly when
the pipeline reports the subject lost.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cinempc.perception import ensure_offline
from cinempc.perception.detector import Detections
from cinempc.perception.params import PerceptionParams

__all__ = ["SubjectTracker", "TrackedBox"]


@dataclass(frozen=True)
class TrackedBox:
    """A detection with the tracker's persistent ID."""

    track_id: int
    xyxy: np.ndarray
    conf: float
    cls: int


class SubjectTracker:
    """ByteTrack or BoT-SORT on our detections."""

    def __init__(self, tracker: str = "bytetrack", frame_rate_hz: float = 10.0, lost_timeout_s: float = 2.0,
                 overrides: dict | None = None) -> None:
        ensure_offline()
        from ultralytics.trackers.track import TRACKER_MAP
        from ultralytics.utils import YAML, IterableSimpleNamespace
        from ultralytics.utils.checks import check_yaml

        if tracker not in ("bytetrack", "botsort"):
            raise ValueError(f"unknown tracker {tracker!r}: bytetrack or botsort")
        cfg = dict(YAML.load(check_yaml(f"{tracker}.yaml")))
        cfg["track_buffer"] = max(1, math.ceil(lost_timeout_s * frame_rate_hz))
        unknown = set(overrides or {}) - set(cfg)
        if unknown:
            raise ValueError(f"unknown {tracker} settings in tracker_overrides: {sorted(unknown)}")
        cfg.update(overrides or {})
        if tracker == "botsort":
            cfg["with_reid"] = False  # a ReID network would have to be downloaded; motion + IoU is enough here
        self.name = tracker
        self.config = cfg
        self._tracker = TRACKER_MAP[tracker](IterableSimpleNamespace(**cfg))

    @classmethod
    def from_params(cls, params: PerceptionParams) -> SubjectTracker:
        return cls(params.tracker, params.frame_rate_hz, params.lost_timeout_s, params.tracker_overrides)

    def reset(self) -> None:
        """Forget every track (a new shot or a new scene); IDs restart at 1."""
        self._tracker.reset()

    def update(self, detections: Detections, image_bgr: np.ndarray | None = None) -> list[TrackedBox]:
        """Associate this frame's detections; returns the confirmed tracks seen in this frame.

        ``image_bgr`` feeds BoT-SORT's camera-motion compensation (a moving drone);
        ByteTrack ignores it.
        """
        if self.name == "botsort" and image_bgr is None and len(detections):
            # Motion compensation needs an image; a blank one means "no camera motion known".
            w, h = detections.image_size
            image_bgr = np.zeros((max(h, 16), max(w, 16), 3), np.uint8)
        out = self._tracker.update(detections, image_bgr)
        tracks: list[TrackedBox] = []
        for row in np.asarray(out).reshape(-1, 8) if len(out) else []:
            x1, y1, x2, y2, track_id, score, cls, _idx = row
            tracks.append(TrackedBox(int(track_id), np.array([x1, y1, x2, y2], float), float(score), int(cls)))
        return tracks
