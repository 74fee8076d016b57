"""Subject states and the association stages, one test per rule (subjects.py, association.py)."""

from __future__ import annotations

import numpy as np
import pytest

from cinempc.perception.association import Measurement, associate
from cinempc.perception.estimation import SubjectEstimate
from cinempc.perception.params import load_perception_params
from cinempc.perception.subjects import CONFIRM_MEASUREMENTS, TRANSITIONS, Event, Subject, SubjectState, transition

PARAMS = load_perception_params()
BOX = np.array([100.0, 50.0, 120.0, 110.0])  # a person's box, 0.33 as wide as tall


def _estimate(x: float, y: float, sigma_m: float = 0.1, whole: bool = True, aspect: float = 0.33) -> SubjectEstimate:
    return SubjectEstimate(position_m=np.array([x, y, 0.0]), covariance_m2=np.diag([sigma_m**2, sigma_m**2, 1e-4]),
                           height_m=1.75, methods=("ground_plane",), range_m=12.0, height_measured=whole,
                           head_top_m=1.75 * PARAMS.head_top_fraction(0.0) if whole else None,
                           whole_box_aspect=aspect if whole else None)


def _subject(track_id: int, x: float, y: float, seen_s: float = 0.0, confirmed: bool = True) -> Subject:
    subject = Subject.start(track_id, _estimate(x, y), BOX, seen_s, PARAMS)
    if confirmed:
        subject.fire(Event.CONFIRMED)
    return subject


def _box(x: float, y: float, conf: float = 0.9, track_id: int | None = None, owner: int | None = None,
         sigma_m: float = 0.1) -> Measurement:
    return Measurement(BOX.copy(), conf, _estimate(x, y, sigma_m), None, track_id, owner)


def _reported(subjects):
    return lambda sid: subjects[sid].confirmed


# ---------------------------------------------------------------------------------------------- states
@pytest.mark.parametrize(("state", "event", "after"), [(s, e, a) for (s, e), a in TRANSITIONS.items()])
def test_every_listed_transition_leads_where_the_table_says(state, event, after):
    assert transition(state, event) is after


def test_an_event_the_table_does_not_list_leaves_the_state():
    assert transition(SubjectState.CANDIDATE, Event.MEASURED) is SubjectState.CANDIDATE
    assert transition(SubjectState.LOST, Event.MEASURED) is SubjectState.LOST
    assert transition(SubjectState.CANDIDATE, Event.MISSED_IN_VIEW) is SubjectState.CANDIDATE


def test_a_candidate_is_confirmed_by_whole_person_boxes_and_withdrawn_when_they_turn_out_wide():
    subject = _subject(1, 10.0, 0.0, confirmed=False)
    for k in range(1, CONFIRM_MEASUREMENTS):
        assert subject.state is SubjectState.CANDIDATE
        subject.measure(_estimate(10.0, 0.0), BOX, 0.1 * k, PARAMS)
    assert subject.state is SubjectState.TRACKED
    for k in range(CONFIRM_MEASUREMENTS, 3 * CONFIRM_MEASUREMENTS):
        subject.measure(_estimate(10.0, 0.0, aspect=1.0), BOX, 0.1 * k, PARAMS)
    assert subject.state is SubjectState.CANDIDATE and not subject.confirmed


def test_a_person_not_measured_coasts_is_missed_only_in_view_and_is_tracked_again_when_measured():
    subject = _subject(1, 10.0, 0.0)
    assert subject.judge_visibility(0.0, True, True, PARAMS) and subject.state is SubjectState.TRACKED
    t = 0.0
    while t < 3.0:  # out of the picture: coasting, still visible
        t += 0.1
        assert subject.judge_visibility(t, False, False, PARAMS) and subject.state is SubjectState.COASTING
    while subject.state is SubjectState.COASTING:  # in the picture and not found
        t += 0.1
        subject.judge_visibility(t, False, True, PARAMS)
    assert subject.state is SubjectState.MISSED and not subject.visible
    assert t - 3.0 == pytest.approx(PARAMS.visible_coast_s + 0.1, abs=0.11)
    subject.last_seen_s = t + 0.1
    assert subject.judge_visibility(t + 0.1, True, True, PARAMS) and subject.state is SubjectState.TRACKED


# ---------------------------------------------------------------------------------------------- association
def test_stage_1_a_tracked_box_measures_its_own_subject():
    subjects = {1: _subject(1, 10.0, 0.0), 2: _subject(2, 10.0, 0.5)}
    result = associate(subjects, [_box(10.0, 0.4, track_id=1, owner=1)], [], 0.1, PARAMS, _reported(subjects))
    assert list(result.measured) == [1] and not result.new and not result.aliases


def test_stage_1_a_tracked_box_outside_its_gate_and_inside_anothers_measures_the_other():
    subjects = {1: _subject(1, 10.0, 0.0), 2: _subject(2, 10.0, 3.0)}
    result = associate(subjects, [_box(10.0, 3.0, track_id=1, owner=1)], [], 0.1, PARAMS, _reported(subjects))
    assert list(result.measured) == [2] and result.aliases == {1: 2}


def test_stage_1_a_candidate_never_takes_a_reported_subjects_box():
    subjects = {1: _subject(1, 10.0, 0.0), 2: _subject(2, 10.0, 3.0, confirmed=False)}
    subjects[2].kalman.P[:2, :2] *= 400.0  # a candidate seen on few boxes: a gate metres wide
    result = associate(subjects, [_box(10.0, 1.0, track_id=1, owner=1)], [], 0.1, PARAMS, _reported(subjects))
    assert 2 not in result.measured


def test_stage_1_of_two_boxes_on_one_subject_the_more_confident_measures_it():
    subjects = {1: _subject(1, 10.0, 0.0)}
    leg, body = _box(10.0, 0.05, conf=0.4, track_id=5, owner=1), _box(10.0, 0.1, conf=0.9, track_id=1, owner=1)
    result = associate(subjects, [leg, body], [], 0.1, PARAMS, _reported(subjects))
    assert result.measured[1] is body


def test_stage_2_a_new_box_on_a_subject_measured_this_frame_is_a_part_of_them():
    subjects = {1: _subject(1, 10.0, 0.0)}
    body, leg = _box(10.0, 0.0, track_id=1, owner=1), _box(10.0, 0.2, track_id=9)
    result = associate(subjects, [body, leg], [], 0.1, PARAMS, _reported(subjects))
    assert result.aliases == {9: 1} and not result.new


def test_stage_3_reidentification_is_solved_globally_not_box_by_box():
    # box p fits both subjects, a little better the first; box q only the first.  Box by box, p would take
    # the first subject and q nobody; the assignment gives each subject a box.
    subjects = {1: _subject(1, 10.0, 0.0), 2: _subject(2, 10.0, 0.9)}
    for s in subjects.values():
        s.kalman.P[:2, :2] = np.eye(2) * 0.09
    p, q = _box(10.0, 0.4, conf=0.9, track_id=7), _box(10.0, -0.5, conf=0.9, track_id=8)
    result = associate(subjects, [p, q], [], 0.5, PARAMS, _reported(subjects))
    assert result.measured == {1: q, 2: p} and not result.new


def test_stage_3_a_reported_subject_goes_before_a_candidate():
    subjects = {1: _subject(1, 10.0, 0.0), 2: _subject(2, 10.0, 0.6, confirmed=False)}
    result = associate(subjects, [_box(10.0, 0.5, track_id=7)], [], 0.3, PARAMS, _reported(subjects))
    assert list(result.measured) == [1]


def _standing(subject: Subject) -> Subject:
    subject.kalman.P = np.diag([0.01, 0.01, 1e-4, 0.01, 0.01, 1e-4])  # known to stand still
    return subject


def test_stage_4_a_box_only_one_reported_subject_could_have_reached_goes_to_it():
    # 4.5 m in 1.2 s: outside the gate of someone standing still, within a sprinter's reach
    subjects = {1: _standing(_subject(1, 10.0, 0.0))}
    result = associate(subjects, [_box(14.5, 0.0, track_id=7)], [], 1.2, PARAMS, _reported(subjects))
    assert list(result.measured) == [1] and result.aliases == {7: 1}
    subjects = {1: _standing(_subject(1, 10.0, -0.5)), 2: _standing(_subject(2, 10.0, 0.5))}
    result = associate(subjects, [_box(14.5, 0.0, track_id=8)], [], 1.2, PARAMS, _reported(subjects))
    assert not result.measured and [m.track_id for m in result.new] == [8]  # either could have: neither


def test_stage_5_a_box_the_tracker_did_not_report_measures_a_subject_but_never_starts_one():
    subjects = {1: _subject(1, 10.0, 0.0)}
    near, far = _box(10.0, 0.1), _box(25.0, 8.0)
    result = associate(subjects, [], [far, near], 0.1, PARAMS, _reported(subjects))
    assert result.measured == {1: near} and not result.new


def test_stage_6_a_new_box_starts_a_candidate():
    result = associate({}, [_box(10.0, 0.0, track_id=3)], [], 0.0, PARAMS, lambda sid: False)
    assert [m.track_id for m in result.new] == [3]


def _shirt(bin_index: int) -> np.ndarray:
    from cinempc.perception.appearance import HIST_BINS

    hist = np.zeros(HIST_BINS, np.float32)
    hist.flat[bin_index] = 1.0
    return hist


def test_stage_1_a_shirt_veto_gives_a_tracked_box_to_the_subject_it_matches_and_to_its_own_if_no_one_else():
    subjects = {1: _subject(1, 10.0, 0.0), 2: _subject(2, 10.0, 0.4)}
    for sid, shirt in ((1, _shirt(0)), (2, _shirt(5))):
        subjects[sid].appearance, subjects[sid].views = shirt, PARAMS.appearance_min_views
    swapped = Measurement(BOX.copy(), 0.9, _estimate(10.0, 0.2), _shirt(5), track_id=1, owner=1)
    result = associate(subjects, [swapped], [], 0.1, PARAMS, _reported(subjects))
    assert list(result.measured) == [2] and result.aliases == {1: 2}
    alone = {1: subjects[1]}
    stranger = Measurement(BOX.copy(), 0.9, _estimate(10.0, 0.1), _shirt(9), track_id=1, owner=1)
    result = associate(alone, [stranger], [], 0.1, PARAMS, _reported(alone))
    assert list(result.measured) == [1]  # appearance only vetoes what another subject could take
