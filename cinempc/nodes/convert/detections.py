"""Detector boxes <-> ``vision_msgs/Detection2DArray`` (``camera_optical`` pixels); ``id`` is the track id."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from std_msgs.msg import Header
from vision_msgs.msg import (
    BoundingBox2D,
    Detection2D,
    Detection2DArray,
    ObjectHypothesis,
    ObjectHypothesisWithPose,
    Point2D,
    Pose2D,
)

from cinempc.nodes.convert.geometry import (
    CAMERA_FRAME,
    s_to_stamp,
)

# ------------------------------------------------------------------ detections (vision_msgs)

PERSON_CLASS = "person"


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two xyxy boxes."""
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - width * height
    return float(width * height / union) if union > 0 else 0.0


def detections_msg(boxes_xyxy, scores, subject_boxes: dict[int, np.ndarray], time_s: float,
                   class_names: Sequence[str] | None = None, classes=None, min_iou: float = 0.5) -> Detection2DArray:
    """One frame's detector boxes (pixels, xyxy) as ``vision_msgs/Detection2DArray`` in ``camera_optical``.

    ``id`` is the subject's track id (as in ``perception/subjects``) when the box is the one that
    measured that subject this frame (IoU >= ``min_iou``), empty otherwise; the hypothesis is the
    detector's class (``person`` by default) with its confidence.
    """
    header = Header(stamp=s_to_stamp(time_s), frame_id=CAMERA_FRAME)
    owners = {int(k): np.asarray(v, dtype=float) for k, v in subject_boxes.items()}
    detections = []
    for index, (box, score) in enumerate(zip(np.asarray(boxes_xyxy, dtype=float).reshape(-1, 4),
                                             np.asarray(scores, dtype=float).reshape(-1), strict=True)):
        best = max(owners.items(), key=lambda item: _iou(box, item[1]), default=None)
        track_id = str(best[0]) if best is not None and _iou(box, best[1]) >= min_iou else ""
        if track_id:
            owners.pop(best[0])
        cls = int(classes[index]) if classes is not None else 0
        label = class_names[cls] if class_names is not None and 0 <= cls < len(class_names) else \
            PERSON_CLASS if cls == 0 else str(cls)
        bbox = BoundingBox2D(center=Pose2D(position=Point2D(x=float(box[0] + box[2]) / 2,
                                                            y=float(box[1] + box[3]) / 2), theta=0.0),
                             size_x=float(box[2] - box[0]), size_y=float(box[3] - box[1]))
        hypothesis = ObjectHypothesisWithPose(hypothesis=ObjectHypothesis(class_id=label, score=float(score)))
        detections.append(Detection2D(header=header, results=[hypothesis], bbox=bbox, id=track_id))
    return Detection2DArray(header=header, detections=detections)


def detections_from_msg(msg: Detection2DArray) -> list[dict]:
    """``[{"xyxy", "score", "class_id", "track_id" (int or None)}]``: what a consumer reads back."""
    result = []
    for detection in msg.detections:
        c, w, h = detection.bbox.center.position, detection.bbox.size_x, detection.bbox.size_y
        best = max(detection.results, key=lambda r: r.hypothesis.score, default=None)
        result.append({"xyxy": [c.x - w / 2, c.y - h / 2, c.x + w / 2, c.y + h / 2],
                       "score": best.hypothesis.score if best else math.nan,
                       "class_id": best.hypothesis.class_id if best else "",
                       "track_id": int(detection.id) if detection.id.isdigit() else None})
    return result
