"""The detector at more than one scale: a zoomed-out pass for tall people, enlarged windows for small ones.

The detector learnt people 20-200 px tall.  A person taller than ``zoom_out_min_box_fraction``
of the frame is searched again on the frame shrunk to ``zoom_out_scale``; a subject expected
shorter than ``zoom_in_max_box_px`` and not boxed in the frame is searched again in a window
enlarged ``zoom_in_scale`` times.  All boxes are merged by NMS (docs/perception.md, "Multi-scale detection").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from cinempc.perception.detector import Detections, Detector, iou_matrix
from cinempc.perception.params import PerceptionParams

__all__ = ["ExpectedBox", "MultiScaleDetector"]

Window = tuple[int, int, int, int]  # x0, y0, width, height


@dataclass(frozen=True)
class ExpectedBox:
    """Where a subject or pin should appear; ``rank`` 0 for what the shot may frame, 1 for a candidate."""

    rank: int
    xyxy: np.ndarray


class MultiScaleDetector:
    """One detector run on the frame, plus the zoomed-out pass and the enlarged windows when they are needed."""

    def __init__(self, detector: Detector, params: PerceptionParams) -> None:
        self.detector = detector
        self.params = params

    def detect(self, image: np.ndarray, tall: Sequence[np.ndarray] = (),
               expected: Sequence[ExpectedBox] = ()) -> Detections:
        """Boxes of all passes, best first; ``tall``: last boxes of subjects (zoom out), ``expected``: zoom in."""
        detections = self.detector.detect(image)
        height, width = image.shape[:2]
        passes = []
        scale = self.params.zoom_out_scale
        boxes = [*detections.xyxy, *tall]
        if scale < 1.0 and any((b[3] - b[1]) >= self.params.zoom_out_min_box_fraction * height for b in boxes):
            passes.append(self._zoomed_out(image, scale))
        for window in self.windows(expected, detections, width, height):
            passes.append(self._in_window(image, window))
        passes = [found for found in passes if len(found[0])]
        if not passes:
            return detections
        xyxy = np.concatenate([detections.xyxy] + [found[0] for found in passes]).astype(np.float32)
        conf = np.concatenate([detections.conf] + [found[1] for found in passes])
        cls = np.concatenate([detections.cls] + [found[2] for found in passes])
        top_left = np.column_stack([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]])
        keep = np.asarray(cv2.dnn.NMSBoxes(top_left.tolist(), conf.tolist(), 0.0, self.params.nms_iou), int).reshape(-1)
        keep = keep[np.argsort(-conf[keep], kind="stable")]  # best first, as the detector returns them
        return Detections(xyxy[keep], conf[keep], cls[keep], (width, height))

    def _zoomed_out(self, image: np.ndarray, scale: float):
        """The frame shrunk onto a grey canvas of its own size, boxes mapped back."""
        height, width = image.shape[:2]
        small_w, small_h = max(1, int(round(width * scale))), max(1, int(round(height * scale)))
        canvas = np.full_like(image, 114)
        y0, x0 = (height - small_h) // 2, (width - small_w) // 2
        canvas[y0:y0 + small_h, x0:x0 + small_w] = cv2.resize(image, (small_w, small_h), interpolation=cv2.INTER_AREA)
        zoomed = self.detector.detect(canvas)
        boxes = (zoomed.xyxy - np.array([x0, y0, x0, y0], np.float32)) / scale
        return np.clip(boxes, 0, [width, height, width, height]), zoomed.conf, zoomed.cls

    def _in_window(self, image: np.ndarray, window: Window):
        """One window enlarged to the frame's size; boxes cut by its inner edges are dropped (the frame has them)."""
        height, width = image.shape[:2]
        x0, y0, crop_w, crop_h = window
        crop = cv2.resize(image[y0:y0 + crop_h, x0:x0 + crop_w], (width, height), interpolation=cv2.INTER_LINEAR)
        zoomed = self.detector.detect(crop)
        boxes = zoomed.xyxy * np.array([crop_w / width, crop_h / height] * 2, np.float32) \
            + np.array([x0, y0, x0, y0], np.float32)
        margin = self.params.border_margin_px
        cut = ((boxes[:, 0] <= x0 + margin) & (x0 > 0)) | ((boxes[:, 1] <= y0 + margin) & (y0 > 0)) \
            | ((boxes[:, 2] >= x0 + crop_w - margin) & (x0 + crop_w < width)) \
            | ((boxes[:, 3] >= y0 + crop_h - margin) & (y0 + crop_h < height))
        return boxes[~cut], zoomed.conf[~cut], zoomed.cls[~cut]

    def windows(self, expected: Sequence[ExpectedBox], detections: Detections, width: int,
                height: int) -> list[Window]:
        """Windows around expected boxes too small and not boxed: by rank, then smallest first."""
        p = self.params
        if p.zoom_in_scale <= 1.0 or p.zoom_in_max_windows <= 0 or not expected:
            return []
        crop_w, crop_h = int(round(width / p.zoom_in_scale)), int(round(height / p.zoom_in_scale))
        found = np.asarray(detections.xyxy, float).reshape(-1, 4)
        wanted = []
        for item in expected:
            box = item.xyxy
            if box is None or box[3] - box[1] >= p.zoom_in_max_box_px:
                continue
            u, v = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
            if not (0 <= u < width and 0 <= v < height):
                continue  # out of the picture: nothing to find
            if len(found) and iou_matrix(box, found).max() > 0.3:
                continue  # boxed in the frame itself
            wanted.append((item.rank, box[3] - box[1], u, v))
        windows: list[Window] = []
        for _, _, u, v in sorted(wanted):
            if any(x0 + 0.15 * crop_w <= u <= x0 + 0.85 * crop_w and y0 + 0.15 * crop_h <= v <= y0 + 0.85 * crop_h
                   for x0, y0, _, _ in windows):
                continue
            if len(windows) >= p.zoom_in_max_windows:
                break
            x0 = int(np.clip(round(u - crop_w / 2), 0, width - crop_w))
            y0 = int(np.clip(round(v - crop_h / 2), 0, height - crop_h))
            windows.append((x0, y0, crop_w, crop_h))
        return windows
