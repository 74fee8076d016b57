"""What a person wears: a hue-saturation histogram of the torso, to tell two people apart when motion cannot.

Why: the ground-plane gates that re-identify a subject after the tracker lost it
(a new tracker ID, a box the tracker did not report, a tracker hand-over) only
know where people are.  When two people pass close (0.3 m apart),
or when a subject has coasted for a second and its gate has grown to metres,
the nearest person inside the gate is not necessarily the same person -- a
coasting duplicate of one walker took over another walker entering the frame,
the operator's name went with it, and the shot framed a ghost.  People's
clothes differ, as the simulator's actors' do: a coarse hue-saturation
histogram of the shirt (OpenCV ``calcHist`` / ``compareHist``, Bhattacharyya
distance: 0 same, 1 disjoint) is enough to veto those matches.  It is a veto
only: motion still decides who is who; appearance only says "not that one".

Only clean views count: a box with another box over its shirt (two people, one
in front of the other) mixes two shirts, so it neither teaches a subject's
appearance nor vetoes anything.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["TORSO_ROWS", "appearance_distance", "blend", "differs", "matches", "torso_histogram"]

# Rows of a whole-person box that are the shirt (fractions of the box height from its top): below the
# head and shoulders, above the belt.  Columns: the central half (arms and background stay out).
TORSO_ROWS = (0.22, 0.42)
TORSO_COLUMNS = 0.5
# Hue x saturation bins: coarse, so a few hundred pixels of a small box fill them, and shading or blur do
# not move a shirt to another bin.  Value is left out (sun and shadow change it, not the clothes).
HIST_BINS = (12, 4)
CLEAN_MARGIN = 0.15  # of the box width, either side of the shirt's rectangle: no other box may reach there
MIN_PIXELS = 24  # fewer torso pixels than this: too small a box to say anything


def _torso_patch(box: np.ndarray) -> tuple[float, float, float, float]:
    """The shirt's rectangle in a whole-person box: the central columns of the torso rows."""
    x1, y1, x2, y2 = box
    cx, half = (x1 + x2) / 2, TORSO_COLUMNS * (x2 - x1) / 2
    return cx - half, y1 + TORSO_ROWS[0] * (y2 - y1), cx + half, y1 + TORSO_ROWS[1] * (y2 - y1)


def _clean(patch: tuple[float, float, float, float], others: list[np.ndarray] | None) -> bool:
    """True when no other box reaches into the shirt's rectangle (a second person's shirt would mix in)."""
    x1, y1, x2, y2 = patch
    for other in others or ():
        o = np.asarray(other, dtype=float).reshape(4)
        if o[0] < x2 and o[2] > x1 and o[1] < y2 and o[3] > y1:
            return False
    return True


def torso_histogram(image_bgr: np.ndarray | None, box_xyxy, others: list[np.ndarray] | None = None,
                    head_in_frame: bool = True) -> np.ndarray | None:
    """Normalised hue-saturation histogram of the torso inside a whole-person box, or None.

    None when there is no image, the box is cut at its top (the rows would not be the
    torso), another box reaches into the shirt's rectangle, or too few pixels are left.
    """
    if image_bgr is None or not head_in_frame:
        return None
    box = np.asarray(box_xyxy, dtype=float).reshape(4)
    if not np.all(np.isfinite(box)):
        return None
    patch = _torso_patch(box)
    reach = CLEAN_MARGIN * (box[2] - box[0])  # a loose box's edge is a few pixels off the body's
    if not _clean((patch[0] - reach, patch[1], patch[2] + reach, patch[3]), others):
        return None
    h, w = image_bgr.shape[:2]
    c0, c1 = int(max(0, round(patch[0]))), int(min(w, round(patch[2])))
    r0, r1 = int(max(0, round(patch[1]))), int(min(h, round(patch[3])))
    if (r1 - r0) * (c1 - c0) < MIN_PIXELS:
        return None
    hsv = cv2.cvtColor(np.ascontiguousarray(image_bgr[r0:r1, c0:c1]), cv2.COLOR_BGR2HSV)
    hist = cv2.calcHist([hsv], [0, 1], None, list(HIST_BINS), [0, 180, 0, 256])
    total = float(hist.sum())
    return hist / total if total > 0 else None


def appearance_distance(a: np.ndarray | None, b: np.ndarray | None) -> float | None:
    """Bhattacharyya distance between two histograms (0 same, 1 disjoint); None when either is unknown."""
    if a is None or b is None:
        return None
    return float(cv2.compareHist(a.astype(np.float32), b.astype(np.float32), cv2.HISTCMP_BHATTACHARYYA))


def differs(known: np.ndarray | None, seen: np.ndarray | None, veto_distance: float) -> bool:
    """True when both shirts are known and further apart than ``veto_distance``: clearly not the same person."""
    distance = appearance_distance(known, seen)
    return distance is not None and distance > veto_distance


def matches(known: np.ndarray | None, seen: np.ndarray | None, veto_distance: float) -> bool:
    """True when both shirts are known and within ``veto_distance``: a positive match."""
    distance = appearance_distance(known, seen)
    return distance is not None and distance <= veto_distance


def blend(model: np.ndarray | None, observed: np.ndarray, rate: float) -> np.ndarray:
    """A subject's appearance model moved ``rate`` of the way towards a new clean view (first view: taken as is)."""
    if model is None:
        return observed.copy()
    mixed = (1.0 - rate) * model + rate * observed
    return mixed / max(float(mixed.sum()), 1e-12)


def clean_look(image_bgr: np.ndarray | None, box_xyxy, boxes: list[np.ndarray], border_margin_px: float,
               ) -> np.ndarray | None:
    """The shirt histogram of a box when the view is clean: no other box (IoU < 0.7) over its torso, head in frame."""
    from cinempc.perception.detector import iou_matrix

    if image_bgr is None:
        return None
    box = np.asarray(box_xyxy, dtype=float)
    others = [b for b in boxes if float(iou_matrix(box[None], np.asarray(b, float)[None]).max()) < 0.7]
    return torso_histogram(image_bgr, box, others, head_in_frame=box[1] > border_margin_px)
