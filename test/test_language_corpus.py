"""The corpus of issue 27: director / camera-operator phrasings with the ShotSpec fields they must give.

``corpus_train.yaml`` is what the parser was tuned on: every case must pass.
``corpus_validation.yaml`` is a held-out fifth, never tuned on: its accuracy is
printed and must stay at or above 97 %.  ``corpus_heldout.yaml`` is a second held-out
set, written later by a session that had not read the validation set.  Reproduce the numbers with::

    .venv/bin/python -m cinempc.language.bench
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cinempc.language.corpus import Case, accuracy, judge, load_cases, run_case

DATA = Path(__file__).resolve().parent / "data" / "language"
TRAIN = load_cases(DATA / "corpus_train.yaml")
VALIDATION = load_cases(DATA / "corpus_validation.yaml")
HELDOUT = load_cases(DATA / "corpus_heldout.yaml")
FRESH = load_cases(DATA / "corpus_fresh.yaml")


def test_the_corpus_is_big_enough_and_a_fifth_is_held_out():
    assert len(TRAIN) + len(VALIDATION) >= 300
    assert abs(len(VALIDATION) / (len(TRAIN) + len(VALIDATION)) - 0.2) < 0.01
    assert not {c.say for c in TRAIN} & {c.say for c in VALIDATION}


@pytest.mark.parametrize("case", TRAIN, ids=[c.say[:50] for c in TRAIN])
def test_training_phrasing(case: Case):
    verdict = run_case(case)
    if case.miss:  # a known miss stays one until the policy changes: then take the mark off
        assert not verdict.right, f"{case.say!r} passes now: remove its 'miss' ({case.miss})"
        return
    assert verdict.right, f"{case.say!r}: " + "; ".join(verdict.problems)


def test_validation_accuracy_at_least_97_percent(capsys):
    verdicts = [run_case(case) for case in VALIDATION]
    score = accuracy(verdicts)
    with capsys.disabled():
        print(f"\nvalidation accuracy {score:.3f} ({sum(v.right for v in verdicts)}/{len(verdicts)})")
    assert score >= 0.97


def test_second_held_out_set_accuracy_at_least_90_percent(capsys):
    """Written after the validation set, in the issue's classes, before the parser was changed for it."""
    assert len(HELDOUT) >= 30
    assert not {c.say for c in HELDOUT} & {c.say for c in TRAIN + VALIDATION}
    verdicts = [run_case(case) for case in HELDOUT]
    score = accuracy(verdicts)
    with capsys.disabled():
        print(f"\nsecond held-out accuracy {score:.3f} ({sum(v.right for v in verdicts)}/{len(verdicts)})")
    assert score >= 0.9


def test_third_set_accuracy_at_least_85_percent(capsys):
    """Written after the parser changes, measured once as written (24/30), then the classes of its misses fixed."""
    assert len(FRESH) >= 30
    assert not {c.say for c in FRESH} & {c.say for c in TRAIN + VALIDATION + HELDOUT}
    verdicts = [run_case(case) for case in FRESH]
    score = accuracy(verdicts)
    with capsys.disabled():
        print(f"\nthird set accuracy {score:.3f} ({sum(v.right for v in verdicts)}/{len(verdicts)})")
    assert score >= 0.85


def test_the_judge_catches_a_wrong_answer():
    case = Case(say="wide", shots=({"framing": "close_up"},))
    assert judge(case, run_case(Case(say="wide", shots=({"framing": "wide"},))).answer)
    assert not judge(Case(say="wide", shots=({"framing": "wide"},)), run_case(case).answer)


def test_a_malformed_corpus_is_refused_with_the_case_named(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text('- {say: "wide", expect: {framing: wide}, colour: red}\n')
    with pytest.raises(ValueError, match="case 1 .*colour"):
        load_cases(bad)
    bad.write_text('- {say: "wide"}\n')
    with pytest.raises(ValueError, match="expects nothing"):
        load_cases(bad)
