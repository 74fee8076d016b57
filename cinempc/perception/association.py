"""Boxes of one frame -> the subjects they measure: cost matrices solved by linear assignment, in numbered stages.

Each stage builds one cost matrix between the subjects still free and the boxes still
free and solves it globally (``scipy.optimize.linear_sum_assignment``), as
``BYTETracker.update`` does.  A pair a rule forbids costs ``inf``.  The stages::

    1. Tracked boxes whose tracker ID belongs to a subject x every subject: the track's own subject
       first, another subject when the box lies in that one's gate and not in its own (a tracker swap).
    2. Tracked boxes with a new tracker ID that lie on a subject matched in stage 1 (a leg, half a body)
       become that subject's ID and measure nothing.
    3. The other new tracked boxes x subjects not measured yet: re-identification inside the gate.
    4. New tracked boxes still left x reported subjects: one only one of them could have reached.
    5. Boxes the tracker did not report x subjects not measured yet: inside the gate only.
    6. Tracked boxes still left start candidates, unless they lie on someone measured this frame.

The rules and where they came from: docs/perception.md, "Association".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from cinempc.perception.detector import inside_matrix
from cinempc.perception.estimation import SubjectEstimate
from cinempc.perception.params import PerceptionParams
from cinempc.perception.subjects import Subject

__all__ = ["Association", "Measurement", "associate", "part_of"]

PERSON_EXTENT_M = 0.3  # spread of the feet points that different boxes on one person give
OWN_TRACK_BONUS = 100.0  # a box stays with its track's subject unless a rule forbids it
CANDIDATE_BIAS = 10.0  # a reported subject (confirmed or named) always goes before a candidate
CONFIDENCE_WEIGHT = 1.0  # of two boxes on one subject, the more confident measures it
_FORBIDDEN = 1e9


@dataclass
class Measurement:
    """One box of the frame with its ground estimate; ``owner``: the subject its tracker ID belongs to."""

    box: np.ndarray
    conf: float
    estimate: SubjectEstimate
    look: np.ndarray | None = None  # shirt histogram of a clean view
    track_id: int | None = None  # the tracker's ID; None for a box the tracker did not report
    owner: int | None = None


@dataclass
class Association:
    """One frame's result: subject ID -> measurement, tracker IDs that now mean another subject, new boxes."""

    measured: dict[int, Measurement] = field(default_factory=dict)
    aliases: dict[int, int] = field(default_factory=dict)
    new: list[Measurement] = field(default_factory=list)


def _solve(cost: np.ndarray) -> list[tuple[int, int]]:
    """Row, column pairs of the cheapest assignment that uses no forbidden pair."""
    if cost.size == 0:
        return []
    finite = np.where(np.isfinite(cost), cost, _FORBIDDEN)
    rows, cols = linear_sum_assignment(finite)
    return [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if finite[r, c] < _FORBIDDEN / 2]


def _distance2(subject: Subject, estimate: SubjectEstimate, time_s: float, body: bool) -> float:
    """Squared Mahalanobis distance on the ground between the subject's prediction and the estimate."""
    subject.kalman.predict_to(time_s)
    S = subject.kalman.position_cov_m2[:2, :2] + estimate.covariance_m2[:2, :2]
    if body:
        S = S + np.eye(2) * PERSON_EXTENT_M**2
    innovation = np.asarray(estimate.position_m, float)[:2] - subject.kalman.position_m[:2]
    return float(innovation @ np.linalg.solve(S, innovation))


def part_of(m: Measurement, measured: dict[int, tuple[np.ndarray, np.ndarray]], params: PerceptionParams) -> int | None:
    """The subject measured this frame (ID -> ground position, box) that the box is a piece of.

    A piece: mostly inside their box with its feet near theirs, or its feet very near theirs.
    """
    best, best_d = None, params.duplicate_radius_m
    for sid, (position_m, box) in measured.items():
        d = float(np.linalg.norm(np.asarray(position_m, float)[:2] - m.estimate.position_m[:2]))
        if d <= 2.0 * params.reidentify_radius_m and inside_matrix(m.box, box)[0, 0] >= params.duplicate_box_overlap:
            return sid
        if d <= best_d:
            best, best_d = sid, d
    return best


class _Frame:
    """The rules that fill the cost matrices of one frame."""

    def __init__(self, subjects: dict[int, Subject], time_s: float, params: PerceptionParams,
                 reported: Callable[[int], bool]) -> None:
        self.subjects, self.time_s, self.params, self.reported = subjects, time_s, params, reported

    def lately_seen(self, subject: Subject) -> bool:
        return self.time_s - subject.last_seen_s <= self.params.visible_coast_s

    def in_own_gate(self, m: Measurement) -> bool:
        own = self.subjects[m.owner]
        return own.reaches(m.estimate, self.time_s, self.params) and \
            own.kalman.accepts(m.estimate.position_m, m.estimate.covariance_m2, self.time_s)

    def swap_cost(self, sid: int, m: Measurement) -> float:
        """Another subject taking a tracked box: lately seen, inside its gate, a shirt that does not rule it out."""
        subject, p = self.subjects[sid], self.params
        if not self.lately_seen(subject) or subject.vetoes(m.look, p):
            return np.inf
        if self.reported(m.owner) and not self.reported(sid):
            return np.inf  # a candidate never takes a reported subject's box
        if self.in_own_gate(m) and not subject.looks_like(m.look, p):
            return np.inf  # a box that fits its own subject moves only to a shirt that positively matches
        d2 = _distance2(subject, m.estimate, self.time_s, body=True)
        if d2 > subject.kalman.gate_chi2:
            return np.inf
        return d2 / subject.kalman.gate_chi2 + self.bias(sid, m)

    def own_cost(self, m: Measurement) -> float:
        """A tracked box's own subject if within reach; outside its gate or vetoed, only if no other can take it."""
        own, p = self.subjects[m.owner], self.params
        if not own.reaches(m.estimate, self.time_s, p):
            return np.inf
        if self.in_own_gate(m) and not own.vetoes(m.look, p):
            return self.bias(m.owner, m) - OWN_TRACK_BONUS
        if any(np.isfinite(self.swap_cost(sid, m)) for sid in self.subjects if sid != m.owner):
            return np.inf
        return self.bias(m.owner, m) - OWN_TRACK_BONUS + 1.0

    def reidentify_cost(self, sid: int, m: Measurement) -> float:
        """A subject not measured yet for a box without one: inside its gate, reachable, shirt not ruling it out."""
        subject, p = self.subjects[sid], self.params
        if subject.last_seen_s >= self.time_s or subject.vetoes(m.look, p):
            return np.inf
        if m.estimate.partial_box and subject.known_look(p) is not None:
            return np.inf  # a box whose top is not a head shows no shirt to tell the subject from a trunk
        d2 = _distance2(subject, m.estimate, self.time_s, body=False)
        inside = d2 <= p.rebind_gate_chi2 or (
            self.lately_seen(subject)
            and subject.kalman.accepts(m.estimate.position_m, m.estimate.covariance_m2, self.time_s))
        if not inside or not subject.reaches(m.estimate, self.time_s, p):
            return np.inf
        return min(d2 / max(p.rebind_gate_chi2, 1e-9), 1.0) + self.bias(sid, m)

    def bias(self, sid: int, m: Measurement) -> float:
        return (0.0 if self.reported(sid) else CANDIDATE_BIAS) + CONFIDENCE_WEIGHT * (1.0 - float(m.conf))

    def matrix(self, sids: Sequence[int], boxes: Sequence[Measurement],
               cost: Callable[[int, Measurement], float]) -> np.ndarray:
        return np.array([[cost(sid, m) for m in boxes] for sid in sids], float).reshape(len(sids), len(boxes))


def associate(subjects: dict[int, Subject], tracked: Sequence[Measurement], unreported: Sequence[Measurement],
              time_s: float, params: PerceptionParams, reported: Callable[[int], bool]) -> Association:
    """Match this frame's boxes to subjects in the numbered stages of the module's docstring."""
    frame, result = _Frame(subjects, time_s, params, reported), Association()
    on: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # measured this frame: ID -> ground position, box

    def take(sid: int, m: Measurement) -> None:
        result.measured[sid] = m
        subjects[sid].kalman.predict_to(time_s)
        on[sid] = (subjects[sid].kalman.position_m.copy(), m.box)
        if m.track_id is not None and m.track_id != sid:
            result.aliases[m.track_id] = sid

    # 1. tracked boxes of known subjects: their own subject, or another one after a tracker swap
    known = [m for m in tracked if m.owner is not None]
    sids = sorted(subjects)
    cost = frame.matrix(sids, known, lambda sid, m: frame.own_cost(m) if sid == m.owner else frame.swap_cost(sid, m))
    for r, c in _solve(cost):
        take(sids[r], known[c])
    # 2. new tracked boxes on a subject measured in stage 1: a part of them
    fresh = []
    for m in sorted((m for m in tracked if m.owner is None), key=lambda m: -m.conf):
        whole = part_of(m, on, params)
        if whole is not None:
            result.aliases[m.track_id] = whole
        else:
            fresh.append(m)
    # 3. re-identification of subjects not measured yet
    free = [sid for sid in sids if sid not in result.measured]
    for r, c in _solve(frame.matrix(free, fresh, frame.reidentify_cost)):
        take(free[r], fresh[c])
    fresh = [m for m in fresh if not any(m is taken for taken in result.measured.values())]
    # 4. a box only one reported subject could have reached (the prediction missed a turn)
    for m in list(fresh):
        reach = [sid for sid in sids if sid not in result.measured and reported(sid)
                 and subjects[sid].last_seen_s < time_s and not subjects[sid].vetoes(m.look, params)
                 and not (m.estimate.partial_box and subjects[sid].known_look(params) is not None)
                 and subjects[sid].reaches(m.estimate, time_s, params, with_noise=False)]
        if len(reach) == 1:
            take(reach[0], m)
            fresh.remove(m)
    # 5. boxes the tracker did not report, for subjects still not measured
    spare = [m for m in unreported if part_of(m, on, params) is None]
    free = [sid for sid in sids if sid not in result.measured]
    for r, c in _solve(frame.matrix(free, spare, frame.reidentify_cost)):
        take(free[r], spare[c])
    # 6. the rest start candidates, unless they lie on someone measured this frame
    for m in fresh:
        whole = part_of(m, on, params)
        if whole is not None:
            result.aliases[m.track_id] = whole
            continue
        result.new.append(m)
        on[m.track_id] = (np.asarray(m.estimate.position_m, float), m.box)  # a later box may be a part of it
    return result
