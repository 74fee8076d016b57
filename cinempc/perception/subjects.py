"""One perceived subject: its filter, stature, shirt and :class:`SubjectState`, with every state change here.

States (the table with the reasons is in docs/perception.md, "Subject states")::

    CANDIDATE --confirmed--> TRACKED --not measured--> COASTING --missed in view--> MISSED
        ^                    ^   |                        |                          |
        +----withdrawn-------+---+------measured----------+--------------------------+
    TRACKED, COASTING, MISSED --search started--> SEARCHING --measured--> TRACKED
    any state --timed out--> LOST (dropped; a name it carried waits for re-identification)

A name or a map pin is an attribute of a subject (:mod:`naming`), not a state: a named
candidate is reported like a person.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import Enum

import numpy as np

from cinempc.perception.appearance import blend, differs, matches
from cinempc.perception.estimation import SubjectEstimate
from cinempc.perception.kalman import ConstantVelocityKalman
from cinempc.perception.params import PerceptionParams

__all__ = ["CONFIRM_MEASUREMENTS", "Event", "Subject", "SubjectState", "TRANSITIONS", "transition"]

CONFIRM_MEASUREMENTS = 3  # whole-person sightings before a candidate can be confirmed
STATURE_WHOLE_VIEWS = 10  # once this many boxes showed the feet, boxes cut by the frame no longer measure stature
STATURE_HISTORY = 300  # measurements kept per kind (30 s at 10 Hz)


class SubjectState(Enum):
    CANDIDATE = "candidate"  # seen, not yet shown to be a person: not reported unless named
    TRACKED = "tracked"  # a person measured this frame
    COASTING = "coasting"  # a person not measured this frame, still framed (missed briefly, or out of the picture)
    MISSED = "missed"  # missed where the picture shows it for longer than visible_coast_s: reported not visible
    SEARCHING = "searching"  # unseen for lost_timeout_s, framed at its prediction for up to search_timeout_s
    LOST = "lost"  # unseen longer than lost_timeout_s: dropped


class Event(Enum):
    CONFIRMED = "confirmed"  # enough whole-person boxes, shaped like a person
    WITHDRAWN = "withdrawn"  # its whole boxes turned out too wide for a person
    MEASURED = "measured"  # a box was associated with it this frame
    NOT_MEASURED = "not measured"
    MISSED_IN_VIEW = "missed in view"
    SEARCH_STARTED = "search started"
    TIMED_OUT = "timed out"


_PERSON = (SubjectState.TRACKED, SubjectState.COASTING, SubjectState.MISSED)
_CONFIRMED = (*_PERSON, SubjectState.SEARCHING)
TRANSITIONS: dict[tuple[SubjectState, Event], SubjectState] = {
    (SubjectState.CANDIDATE, Event.CONFIRMED): SubjectState.TRACKED,
    **{(state, Event.WITHDRAWN): SubjectState.CANDIDATE for state in _CONFIRMED},
    (SubjectState.COASTING, Event.MEASURED): SubjectState.TRACKED,
    (SubjectState.MISSED, Event.MEASURED): SubjectState.TRACKED,
    (SubjectState.SEARCHING, Event.MEASURED): SubjectState.TRACKED,
    **{(state, Event.SEARCH_STARTED): SubjectState.SEARCHING for state in _PERSON},
    (SubjectState.TRACKED, Event.NOT_MEASURED): SubjectState.COASTING,
    (SubjectState.TRACKED, Event.MISSED_IN_VIEW): SubjectState.MISSED,
    (SubjectState.COASTING, Event.MISSED_IN_VIEW): SubjectState.MISSED,
    **{(state, Event.TIMED_OUT): SubjectState.LOST
       for state in (SubjectState.CANDIDATE, SubjectState.SEARCHING, *_PERSON)},
}


def transition(state: SubjectState, event: Event) -> SubjectState:
    """The state after ``event``; an event the table does not list leaves the state as it is."""
    return TRANSITIONS.get((state, event), state)


@dataclass
class Subject:
    """A subject's filter, stature, shirt and state; ``track_id`` is the ID the MPC and the names use."""

    track_id: int
    kalman: ConstantVelocityKalman
    height_m: float
    last_seen_s: float
    box_xyxy: np.ndarray
    last_measured_m: np.ndarray  # where the filter put it after its last accepted measurement
    last_measured_s: float
    first_seen_s: float
    state: SubjectState = SubjectState.CANDIDATE
    updates: int = 0  # whole-person sightings so far
    stature_whole_m: deque = field(default_factory=lambda: deque(maxlen=STATURE_HISTORY))
    stature_cut_m: deque = field(default_factory=lambda: deque(maxlen=STATURE_HISTORY))
    box_aspects: deque = field(default_factory=lambda: deque(maxlen=STATURE_HISTORY))  # width / height, whole boxes
    appearance: np.ndarray | None = None  # shirt histogram from clean whole-person views
    views: int = 0  # clean views blended into ``appearance``
    unseen_in_view_s: float = 0.0  # time since last seen with its prediction where the picture could show it
    judged_s: float | None = None  # the frame its visibility was last judged in
    visible: bool = True

    @classmethod
    def start(cls, track_id: int, estimate: SubjectEstimate, box: np.ndarray, time_s: float,
              params: PerceptionParams, look: np.ndarray | None = None) -> Subject:
        """A new candidate from its first box."""
        p = params
        kalman = ConstantVelocityKalman(
            estimate.position_m, estimate.covariance_m2, time_s, p.accel_sigma_mps2, p.vertical_accel_sigma_mps2,
            p.initial_speed_sigma_mps, p.gate_chi2, p.max_consecutive_outliers, p.maneuver_accel_sigma_mps2)
        subject = cls(track_id, kalman, estimate.height_m, time_s, box, np.asarray(estimate.position_m, float).copy(),
                      time_s, time_s, updates=int(bool(estimate.height_measured)))
        if estimate.measures_stature:
            subject.add_stature(estimate.height_m, estimate.feet_in_view)
        if estimate.height_measured:
            subject.confirm(estimate, params)
        subject.learn_look(bool(estimate.height_measured), look, params)
        return subject

    # ---------------------------------------------------------------- state
    def fire(self, event: Event) -> SubjectState:
        self.state = transition(self.state, event)
        return self.state

    @property
    def confirmed(self) -> bool:
        """Shown to be a person (any state but candidate and lost)."""
        return self.state in _CONFIRMED

    def judge_visibility(self, time_s: float, measured: bool, in_picture: bool, params: PerceptionParams) -> bool:
        """Visible unless missed for over ``visible_coast_s`` of frames whose picture could show it."""
        previous_s, self.judged_s = self.judged_s, time_s
        if previous_s is None or self.last_seen_s > previous_s:  # seen since last judged: count from then
            self.unseen_in_view_s, previous_s = 0.0, self.last_seen_s
        if measured or self.state is SubjectState.SEARCHING:  # (searched for where it is predicted)
            self.visible = True
            self.fire(Event.MEASURED if measured else Event.NOT_MEASURED)
            return True
        self.fire(Event.NOT_MEASURED)
        if in_picture:
            self.unseen_in_view_s += max(time_s - previous_s, 0.0)
        self.visible = self.unseen_in_view_s <= params.visible_coast_s + 1e-9
        if not self.visible:
            self.fire(Event.MISSED_IN_VIEW)
        return self.visible

    # ---------------------------------------------------------------- measurement
    def measure(self, estimate: SubjectEstimate, box: np.ndarray, time_s: float, params: PerceptionParams,
                look: np.ndarray | None = None) -> bool:
        """Kalman update with one box; a box whose implied height is not this subject's counts as a part.

        Returns True when the box showed the whole person.
        """
        covariance = estimate.covariance_m2
        whole = estimate.height_measured and estimate.head_top_m is not None
        height = estimate.height_m
        if whole:
            speed = float(np.linalg.norm(self.kalman.velocity_mps[:2]))
            height = estimate.head_top_m / params.head_top_fraction(speed)  # walking rides lower than standing
            if self.updates >= CONFIRM_MEASUREMENTS and abs(height - self.height_m) > params.partial_height_tolerance_m:
                covariance = covariance * params.partial_box_variance_factor
                whole = False
        if self.kalman.update(estimate.position_m, covariance, time_s):
            # where the filter put it, not the measurement: a wildly uncertain box must not move the reach's origin
            self.last_measured_m = self.kalman.position_m.copy()
            self.last_measured_s = float(time_s)
        if whole:
            self.updates += 1
            if estimate.measures_stature:
                self.add_stature(height, estimate.feet_in_view)
            self.confirm(estimate, params)
        self.learn_look(whole, look, params)
        self.last_seen_s = float(time_s)
        self.box_xyxy = box
        return whole

    def confirm(self, estimate: SubjectEstimate, params: PerceptionParams) -> None:
        """Confirmed after ``CONFIRM_MEASUREMENTS`` whole boxes shaped like a person; withdrawn when they turn out wide.

        Until that many shapes are known every one must be narrow enough; from then on their median decides.
        """
        max_aspect = params.max_person_box_aspect
        if estimate.whole_box_aspect is not None:
            self.box_aspects.append(estimate.whole_box_aspect)
        elif estimate.cut_box_aspect is not None and estimate.cut_box_aspect > max_aspect:
            self.box_aspects.append(estimate.cut_box_aspect)  # a cut box only narrows: too wide stays too wide
        enough = self.updates >= CONFIRM_MEASUREMENTS
        if len(self.box_aspects) >= CONFIRM_MEASUREMENTS:
            person = enough and float(np.median(self.box_aspects)) <= max_aspect
        else:
            person = self.confirmed or (enough and max(self.box_aspects, default=0.0) <= max_aspect)
        if person != self.confirmed:
            self.fire(Event.CONFIRMED if person else Event.WITHDRAWN)

    def add_stature(self, height_m: float, feet_in_view: bool) -> None:
        """One more stature measurement; the height is the median of the best kind available."""
        (self.stature_whole_m if feet_in_view else self.stature_cut_m).append(float(height_m))
        if len(self.stature_whole_m) >= STATURE_WHOLE_VIEWS:
            self.height_m = float(np.median(self.stature_whole_m))
        else:
            self.height_m = float(np.median([*self.stature_whole_m, *self.stature_cut_m]))

    @property
    def stature_m(self) -> float | None:
        """Its measured stature, or None before any measurement."""
        return self.height_m if (self.stature_whole_m or self.stature_cut_m) else None

    # ---------------------------------------------------------------- appearance
    def known_look(self, params: PerceptionParams) -> np.ndarray | None:
        """Its shirt histogram once seen in ``appearance_min_views`` clean views, else None."""
        return self.appearance if self.views >= params.appearance_min_views else None

    def vetoes(self, look: np.ndarray | None, params: PerceptionParams) -> bool:
        """True when a clean view's shirt is clearly not this subject's."""
        return differs(self.known_look(params), look, params.appearance_veto_distance)

    def looks_like(self, look: np.ndarray | None, params: PerceptionParams) -> bool:
        """True when a clean view's shirt positively matches this well-known subject's."""
        known = self.known_look(params)
        return known is not None and matches(known, look, params.appearance_veto_distance)

    def learn_look(self, whole: bool, look: np.ndarray | None, params: PerceptionParams) -> None:
        """Blend a clean whole-person view into its shirt histogram (never one it vetoes)."""
        if look is None or not whole or self.vetoes(look, params):
            return
        self.appearance = blend(self.appearance, look, params.appearance_rate)
        self.views += 1

    # ---------------------------------------------------------------- motion
    def reaches(self, estimate: SubjectEstimate, time_s: float, params: PerceptionParams,
                with_noise: bool = True) -> bool:
        """Could it have got to the estimate since last measured: a sprint from its speed, plus the box's noise."""
        p = params
        unseen_s = max(time_s - self.last_measured_s, 0.0)
        speed = min(float(np.linalg.norm(self.kalman.velocity_mps[:2])), p.max_subject_speed_mps)
        to_top_s = min((p.max_subject_speed_mps - speed) / p.max_subject_accel_mps2, unseen_s)
        reach_m = speed * to_top_s + 0.5 * p.max_subject_accel_mps2 * to_top_s**2 + \
            p.max_subject_speed_mps * (unseen_s - to_top_s) + p.reidentify_radius_m
        jump = np.asarray(estimate.position_m, float)[:2] - self.last_measured_m[:2]
        distance = float(np.linalg.norm(jump))
        if with_noise and distance > 1e-9:
            along = jump / distance  # noise along the jump only, without a partial box's down-weighting
            covariance = estimate.covariance_m2[:2, :2]
            if estimate.partial_box:
                covariance = covariance / p.partial_box_variance_factor
            reach_m += 3.0 * float(np.sqrt(max(along @ covariance @ along, 0.0)))
        return distance <= reach_m
