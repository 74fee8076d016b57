"""Issue 30's language frictions: every way of saying a compound side, conflicting sides, unknown subject names.

A director says "front left" with or without "the", "from", "side", a hyphen or the words the other way round,
anywhere in the command; two sides that cannot both hold are a conflict naming both; a subject name nothing
known carries is flown as typed but reported (``ShotsAnswer.unknown_subjects``, logged as a warning).
"""

from __future__ import annotations

import json
import logging

import pytest

from cinempc.language import ErrorAnswer, ShotsAnswer, parse_command
from cinempc.shot import ShotSpec

COMPOUNDS = {"front_left": ("front", "left"), "front_right": ("front", "right"), "back_left": ("back", "left"),
             "back_right": ("back", "right")}


def _forms(depth: str, lateral: str) -> list[str]:
    """Every spelling of one compound side: order, hyphen, "the"/"from"/"at the" before, "side" after."""
    cores = [f"{depth} {lateral}", f"{depth}-{lateral}"]
    reversed_ = [f"{lateral} {depth}", f"{lateral}-{depth}"]
    forms = []
    for core in cores + reversed_:
        bare_ok = core in cores or depth != "back"  # "left back" alone is refused (see below)
        for prefix in ("", "the ", "from the ", "from ", "at the "):
            for suffix in ("", " side"):
                if prefix or suffix or bare_ok:
                    forms.append(f"{prefix}{core}{suffix}")
    return forms


def _side_cases() -> list[tuple[str, str]]:
    cases = []
    for side, (depth, lateral) in COMPOUNDS.items():
        depths = (depth, "rear") if depth == "back" else (depth,)
        for word in depths:
            for form in _forms(word, lateral):
                cases += [(form, side), (f"{form}, medium shot of the runner", side),
                          (f"medium shot of the runner {form}", side), (f"medium shot of the runner, {form}", side),
                          (f"wide shot, {form}, slow orbit clockwise", side)]
    return cases


@pytest.mark.parametrize(("text", "side"), _side_cases())
def test_every_spelling_of_a_compound_side_in_every_position(text, side):
    answer = parse_command(text)
    assert isinstance(answer, ShotsAnswer), answer.to_json()
    assert answer.shots[0].side == side


@pytest.mark.parametrize(("text", "side"), [
    ("medium shot from the front left", "front_left"),  # the issue's own example
    ("medium shot from front left", "front_left"),
    ("from the front-left side of the runner, medium close-up", "front_left"),
    ("Medium Close-Up From The Left Front", "front_left"),
    ("from her front left, wide", "front_left"),
    ("front three quarter left", "front_left"),
    ("three quarter, from the right", "front_right"),
    ("low angle from the right rear, follow the cyclist", "back_right"),
    ("medium shot of the runner from the front left, then wide from the back right", "front_left"),
])
def test_side_phrasings_from_the_issue(text, side):
    answer = parse_command(text)
    assert isinstance(answer, ShotsAnswer), answer.to_json()
    assert answer.shots[0].side == side


@pytest.mark.parametrize(("text", "side"), [
    ("from the front, left side", "front_left"),  # a front/back word with a left/right word: that compound
    ("from the front, from her left", "front_left"),
    ("from behind, on her right", "back_right"),
    ("from behind, from her left", "back_left"),
    ("front left, left side", "front_left"),  # a compound absorbs the plain sides that agree with it
    ("from the front left, from the front", "front_left"),
])
def test_agreeing_side_words_combine_into_one_side(text, side):
    answer = parse_command(text)
    assert isinstance(answer, ShotsAnswer), answer.to_json()
    assert answer.shots[0].side == side


@pytest.mark.parametrize(("text", "named"), [
    ("front left, from the right", "front_left, right"),
    ("from the front left and the back right", "back_right, front_left"),
    ("from the front and from behind", "back, front"),
    ("medium shot from the left side, from her right", "left, right"),
    ("wide from the rear left, then close-up from the front, from behind", "back, front"),  # in the second shot
])
def test_conflicting_sides_are_a_conflict_naming_both(text, named):
    answer = parse_command(text)
    assert isinstance(answer, ErrorAnswer)
    assert answer.error.reason == "conflict"
    assert f"two sides ({named})" in answer.error.message
    assert "from the front left" in answer.error.message and "'then'" in answer.error.message


@pytest.mark.parametrize("text", ["left back", "medium shot, left-back", "wide, right back"])
def test_left_back_alone_is_refused_with_the_compound_suggested(text):
    """"back" is a movement word too: "left back" alone is not read as a side; the suggestion says how."""
    answer = parse_command(text)
    assert isinstance(answer, ErrorAnswer) and answer.error.reason == "not_understood"
    lateral = answer.error.not_understood[0]
    assert answer.error.not_understood == [lateral] and lateral in ("left", "right")
    assert answer.error.suggestions[lateral][:2] == [f"back {lateral}", f"from the back {lateral}"]


def test_a_move_followed_by_back_is_not_a_side():
    answer = parse_command("truck left back to the start")
    assert isinstance(answer, ShotsAnswer), answer.to_json()
    assert answer.shots[0].movement.type == "truck_left" and answer.shots[0].side == ShotSpec().side


def test_a_bare_left_keeps_its_ambiguous_suggestions():
    answer = parse_command("wide, left")
    assert isinstance(answer, ErrorAnswer)
    assert "back left" not in answer.error.suggestions["left"] and "from the left" in answer.error.suggestions["left"]


# ---------------------------------------------------------------------------------------------- unknown subjects


def test_an_unknown_subject_is_flown_as_typed_but_reported(caplog):
    with caplog.at_level(logging.WARNING, logger="cinempc.language"):
        answer = parse_command("follow the zebra")
    assert isinstance(answer, ShotsAnswer)
    assert answer.shots[0].subjects == ["zebra"]
    assert answer.unknown_subjects == ["zebra"]
    assert "subject 'zebra' is unknown" in answer.warning and "frames nobody" in answer.warning
    assert any("'zebra' is unknown" in record.getMessage() for record in caplog.records)
    # the wire form is unchanged: a one-shot answer is still a valid shot file
    document = json.loads(answer.to_json())
    assert set(document) == {"shots"}
    assert ShotSpec(**document["shots"][0]).subjects == ["zebra"]


@pytest.mark.parametrize(("text", "unknown"), [
    ("follow Marco, rack focus to the giraffe", ["marco", "giraffe"]),
    ("close-up, focus on the hot air balloon", ["hot air balloon"]),
    ("orbit the zebra and the runner", ["zebra"]),
])
def test_every_unknown_name_is_listed(text, unknown):
    answer = parse_command(text)
    assert isinstance(answer, ShotsAnswer), answer.to_json()
    assert answer.unknown_subjects == unknown
    assert ("subjects " if len(unknown) > 1 else "subject ") + ", ".join(repr(n) for n in unknown) in answer.warning


@pytest.mark.parametrize(("text", "known", "current"), [
    ("follow the runner", (), None),  # a subject word of the vocabulary
    ("medium shot of the bass player", (), None),  # ... inside a longer noun phrase
    ("orbit the fire truck", (), None),
    ("follow the zebra", ("zebra",), None),  # a name given to a track
    ("orbit Sam", ("Sam", "Kim"), None),
    ("wide of the bass player", ("player",), None),
    ("tighter on the zebra", (), ShotSpec(subjects=["zebra"])),  # the current shot's subject
    ("wide of everyone", (), None),
    ("follow #3", (), None),
    ("wide shot, front left", (), None),
])
def test_known_subjects_give_no_warning(text, known, current):
    answer = parse_command(text, current=current, known_subjects=known)
    assert isinstance(answer, ShotsAnswer), answer.to_json()
    assert answer.unknown_subjects == [] and answer.warning is None


def test_the_cli_prints_the_shot_and_exits_zero_for_an_unknown_subject(capsys, caplog):
    from cinempc.cli import main

    with caplog.at_level(logging.WARNING, logger="cinempc.language"):
        assert main(["parse", "follow the zebra", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["shots"][0]["subjects"] == ["zebra"]
    assert any("'zebra' is unknown" in record.getMessage() for record in caplog.records)
