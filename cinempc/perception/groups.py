"""Boxes drawn around two people at once: recognise them, so they measure nobody.

Why: people walking together, or one standing behind another, are often boxed
twice by the detector -- once each, and once as a pair.  The pair box is often
the most confident of the three, so it became a subject of its own standing
between them, and the boxes of the real people were then taken for parts of it
(two walkers 0.6 m apart were one subject for four seconds); a near person's
track moved onto a box around a near and a far person and pulled the near
estimate towards the far one.  Two rules:

* :func:`pair_boxes` -- in one frame's detections, a box that holds another
  box as tall as it but much narrower (a person, and someone beside them).
* :func:`covers_two` -- a box around where two known subjects are predicted to
  stand side by side (for frames where the detector drew only the pair box).

Neither rule splits the box: the people in it are measured from their own
boxes, or coast for the frame.
"""

from __future__ import annotations

import itertools

import numpy as np

from cinempc.perception.detector import Detections, inside_matrix
from cinempc.perception.params import PerceptionParams

__all__ = ["covers_two", "pair_boxes"]


def pair_boxes(xyxy: np.ndarray, inside: float, min_height: float, max_width: float) -> np.ndarray:
    """Boolean mask of the boxes drawn around a person *and* something beside them (a second person).

    A box is one when another box of the same frame lies at least ``inside`` within
    it, is at least ``min_height`` of its height (a whole person, not a leg or an
    arm) and at most ``max_width`` of its width (the rest of the box is someone
    else).  Measured: two walkers 0.6 m apart at 14 m, pair box 37 px wide around
    19 px people; a box around a near and a far person, 137 px around the far
    person's 73.
    """
    boxes = np.asarray(xyxy, dtype=float).reshape(-1, 4)
    width, height = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    held = (inside_matrix(boxes, boxes).T >= inside)  # [i, j]: box j lies inside box i
    held &= height[None, :] >= min_height * height[:, None]
    held &= width[None, :] <= max_width * width[:, None]
    np.fill_diagonal(held, False)
    return held.any(axis=1)


def covers_two(box: np.ndarray, predicted: list[np.ndarray], inside: float) -> bool:
    """True when at least two predicted subject boxes lie ``inside`` this box and side by side.

    Side by side: together they are clearly wider than either -- a near person's box
    also contains the far person hidden behind them, and that box is the near person's.
    """
    if not predicted:
        return False
    inside_box = inside_matrix(np.asarray(predicted, dtype=float), np.asarray(box, dtype=float))[:, 0]
    held = [p for p, fraction in zip(predicted, inside_box, strict=True) if fraction >= inside]
    for a, b in itertools.combinations(held, 2):
        if max(a[2], b[2]) - min(a[0], b[0]) >= 1.3 * max(a[2] - a[0], b[2] - b[0]):
            return True
    return False


def without_pair_boxes(detections: Detections, params: PerceptionParams) -> Detections:
    """This frame's boxes less those drawn around two people who also have a box each."""
    p = params
    if p.pair_box_max_width <= 0:
        return detections
    pairs = pair_boxes(detections.xyxy, p.pair_box_inside, p.pair_box_min_height, p.pair_box_max_width)
    return detections[~pairs] if pairs.any() else detections
