"""Issue 27: words that set nothing, negations, subject noun phrases, typos of English words, implied values."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from cinempc.cli import main
from cinempc.language import CommandAnswer, ErrorAnswer, ShotsAnswer, answer_from_json, parse_command
from cinempc.language.corpus import CURRENT, KNOWN, load_cases
from cinempc.language.lexicon import load_lexicon
from cinempc.language.normalise import tokenise

DATA = Path(__file__).resolve().parent / "data" / "language"
CASES = (load_cases(DATA / "corpus_train.yaml") + load_cases(DATA / "corpus_validation.yaml")
         + load_cases(DATA / "corpus_heldout.yaml"))


def shot(text: str, known=KNOWN) -> tuple:
    answer = parse_command(text, current=CURRENT, known_subjects=list(known))
    assert isinstance(answer, ShotsAnswer), f"{text!r} -> {answer.to_json()[:300]}"
    return answer.shots[0], answer


def test_words_that_set_nothing_are_flown_around_and_listed_on_the_wire():
    first, answer = shot("wide on the bride, documentary vibe")
    assert first.framing == "wide" and first.subjects == ["bride"]
    assert answer.ignored == ["documentary", "vibe"]
    assert answer_from_json(answer.to_json()).ignored == ["documentary", "vibe"]
    _, clean = shot("wide on the bride")
    assert "ignored" not in clean.to_json()  # the wire form is unchanged when nothing was ignored


@pytest.mark.parametrize("text, word", [
    ("wide on the bride, no bokeh", "no"), ("orbit, not too fast", "not"), ("don't orbit the groom", "don't"),
    ("wide, zzkq", "zzkq"),  # not English: a slip for something, not a style word
    ("orbit 12", "12"),  # a number without a unit
    ("orbit left", "left"),  # a word that means something on its own
    ("wide, she walks", "walks"),  # within typo distance of a word that sets something ("walk"), in no clause
])
def test_words_that_could_matter_still_refuse(text, word):
    answer = parse_command(text, current=CURRENT)
    assert isinstance(answer, ErrorAnswer) and word in answer.error.not_understood, answer.to_json()[:300]


NEGATIONS = ["not", "no", "don't", "never", "without"]


def _negated(text: str, rng: random.Random) -> str:
    words = text.split()
    at = rng.randrange(len(words) + 1)
    return " ".join([*words[:at], rng.choice(NEGATIONS), *words[at:]])


def test_no_command_with_a_negation_is_ever_flown_unless_a_phrase_says_what_it_means():
    """Every corpus phrasing with a negation put in at random: never shots, unless the negation is inside a
    lexicon phrase that means the negated thing ("no movement" is static, "not so wide" is tighter)."""
    rng = random.Random(27)
    lexicon = load_lexicon()
    flown = 0
    for case in CASES * 2:
        text = _negated(case.say, rng)
        answer = parse_command(text, current=CURRENT, known_subjects=list(KNOWN))
        if isinstance(answer, ShotsAnswer):
            flown += 1
            negations = [t.text for t in tokenise(text) if t.text in NEGATIONS]
            phrases = {" ".join(k) for k in lexicon.phrases}
            assert any(any(n in p.split() and p in text.lower() for p in phrases) for n in negations), \
                f"{text!r} was flown: {answer.to_json()[:200]}"
        assert not isinstance(answer, CommandAnswer) or answer.command != "resume" or "resume" in text
    assert flown < 20


@pytest.mark.parametrize("text, subjects", [
    ("follow the plumber", ["plumber"]), ("wide shot of the bass player", ["bass player"]),
    ("track the fire truck", ["fire truck"]), ("follow the lead singer", ["lead singer"]),
    ("wide of the hot air balloon", ["hot air balloon"]),
    ("medium on the wedding photographer", ["wedding photographer"]),
    ("orbit the bride and the bass player", ["bride", "bass player"]),
    ("medium on the maid of honour", ["maid of honour"]), ("orbit the father of the bride", ["father of the bride"]),
    ("follow the leader of the group", ["all"]), ("a close up of maya", ["maya"]),
])
def test_any_noun_names_a_subject_and_the_longest_noun_phrase_wins(text, subjects):
    assert shot(text)[0].subjects == subjects


def test_the_longest_noun_phrase_also_for_names_given_on_the_tablet():
    assert shot("follow the bass player", known=["player"])[0].subjects == ["bass player"]
    assert shot("close up on the keyboard player", known=["keyboard player", "player"])[0].subjects == \
        ["keyboard player"]


@pytest.mark.parametrize("word", ["raider", "boar", "barn", "goat", "bull"])
def test_a_correctly_spelled_english_word_is_never_corrected_into_another(word):
    first, answer = shot(f"follow the {word}")
    assert first.subjects == [word] and not answer.corrections


@pytest.mark.parametrize("typo, movement", [("orbbit", "orbit"), ("folllow", "follow"), ("psuh in", "dolly_in"),
                                            ("pull bakc", "dolly_out"), ("crnae up", "crane_up"),
                                            ("truck lfet", "truck_left"), ("desend", "pedestal_down")])
def test_movement_verbs_get_typos_corrected(typo, movement):
    assert shot(typo)[0].movement.type == movement


@pytest.mark.parametrize("text, path, value", [
    # each shot name x an explicit word for the field it implies
    ("medium establishing shot", "framing", "medium"), ("establishing shot", "framing", "extreme_wide"),
    ("head shot, medium close up", "framing", "medium_close_up"), ("head shot", "framing", "close_up"),
    ("detail shot, close up", "framing", "close_up"), ("detail shot", "framing", "extreme_close_up"),
    ("hero shot at eye level", "angle", "eye_level"), ("hero shot", "angle", "low"),
    ("aerial shot, low angle", "angle", "low"), ("aerial shot", "angle", "high"),
    ("over the shoulder, from the left", "side", "left"), ("over the shoulder", "side", "back_right"),
    ("crane shot, boom down", "movement.type", "crane_down"), ("crane shot", "movement.type", "crane_up"),
    ("close two shot", "framing", "close_up"), ("two shot", "framing", "medium_wide"),
    ("preset dronie, close up", "framing", "close_up"),
])
def test_an_explicit_word_beats_an_implied_one(text, path, value):
    document = shot(text)[0].model_dump()
    for part in path.split("."):
        document = document[part]
    assert document == value


def test_two_explicit_words_for_one_field_are_still_a_conflict():
    answer = parse_command("establishing shot from above at eye level", current=CURRENT)
    assert isinstance(answer, ErrorAnswer) and answer.error.reason == "conflict"


@pytest.mark.parametrize("text, movement", [
    ("dolly zoom toward the groom", "dolly_zoom_in"), ("vertigo into the bride", "dolly_zoom_in"),
    ("zolly away from her", "dolly_zoom_out"), ("hitchcock zoom, push", "dolly_zoom_in"),
    ("contra zoom pulling out", "dolly_zoom_out"), ("dolly zoom", "dolly_zoom_out"),
])
def test_dolly_zoom_direction_from_its_direction_word(text, movement):
    assert shot(text)[0].movement.type == movement


@pytest.mark.parametrize("text, movement", [
    ("crane shot down to the bride", "crane_down"), ("boom down on the groom", "crane_down"),
    ("jib shot downward over the stage", "crane_down"), ("crane shot up over the trees", "crane_up"),
    ("crane shot of the bride", "crane_up"),  # no direction word: the shot name's crane up
    ("crane shot, pedestal down", "pedestal_down"),  # an explicit movement beats the implied one
    ("boom shot rising over the vineyard", "crane_up"), ("crane shot descending on the bride", "crane_down"),
    ("dolly zoom, pull back", "dolly_zoom_out"),  # a movement that is only a direction gives it
])
def test_a_movement_named_without_its_direction_takes_it_from_a_direction_word(text, movement):
    assert shot(text)[0].movement.type == movement


@pytest.mark.parametrize("text", [
    "hang on a sec", "hold on a minute", "wait a second", "wait 5 seconds", "one sec", "give me a sec",
    "just a moment", "one moment please", "hold for a sec", "pause for a moment", "hang on a tick",
])
def test_a_director_asking_for_a_moment_gets_a_hold_never_a_one_second_shot(text):
    answer = parse_command(text, current=CURRENT, known_subjects=list(KNOWN))
    assert isinstance(answer, CommandAnswer) and answer.command == "hold", answer.to_json()[:200]


@pytest.mark.parametrize("text, duration", [("hold that for ten seconds", 10.0), ("wide for a sec", 1.0),
                                            ("hold on the bride for 5 seconds", 5.0)])
def test_a_length_said_with_a_shot_is_still_the_shot_length(text, duration):
    assert shot(text)[0].duration_s == duration


@pytest.mark.parametrize("text, side, position", [
    ("from the left, keep her on the left third", "left", "left_third"),
    ("profile right, frame her right third", "right", "right_third"),
    ("from the front left", "front_left", "center"), ("from front left", "front_left", "center"),
    ("the front left of the car", "front_left", "center"), ("three quarter, from the right", "front_right", "center"),
])
def test_screen_position_and_side_are_different_things(text, side, position):
    first = shot(text)[0]
    assert (first.side, first.screen_position) == (side, position)


@pytest.mark.parametrize("text, mode", [("keep the background soft", "shallow"), ("blurry background", "shallow"),
                                        ("defocus the background", "shallow"), ("sharp throughout", "deep"),
                                        ("keep it all in focus", "deep"), ("crisp background", "deep")])
def test_blur_and_sharpness_words(text, mode):
    assert shot(text)[0].focus.depth_of_field == mode


def test_a_control_word_with_words_that_set_nothing_is_still_the_control_word():
    assert parse_command("stop, something's wrong", current=CURRENT).command == "hold"
    assert isinstance(parse_command("hold on the plumber", current=CURRENT), ShotsAnswer)


def test_cli_explain_names_the_words_behind_each_field(capsys):
    assert main(["parse", "medium establishing shot of the bass player, documentary vibe", "--explain"]) == 0
    out = capsys.readouterr().out
    assert "'medium' -> framing = medium" in out
    assert "'establishing shot' -> framing = (an explicit word wins) (implied by a shot name)" in out
    assert "'bass player' -> subjects" in out and "ignored: 'documentary', 'vibe'" in out
    assert main(["parse", "no bokeh", "--explain"]) == 2
    assert "not understood: 'no'" in capsys.readouterr().out
    # a movement that took its direction from another word, a place, the background described
    assert main(["parse", "crane shot down to the skier on the slope, background tack sharp", "--explain"]) == 0
    out = capsys.readouterr().out
    assert "'crane shot + down' -> movement.type = crane_down" in out and "(implied" not in out
    assert "'background tack sharp' -> focus.depth_of_field = deep" in out and "ignored: 'on the slope'" in out


@pytest.mark.parametrize("text, mode, subjects", [
    ("wide of the choir, background tack sharp", "deep", ["choir"]),  # never a focus target: the choir is the subject
    ("background really out of focus, MCU of the groom", "shallow", ["groom"]),
    ("close on the bride, background totally blurry", "shallow", ["bride"]),
    ("a crisp backdrop behind the groom", "deep", ["groom"]), ("background super fuzzy", "shallow", ["bride", "groom"]),
    ("the background should be soft", "shallow", ["bride", "groom"]),
    ("everything behind her out of focus", "shallow", ["bride"]), ("the whole frame sharp", "deep", ["bride", "groom"]),
    ("soft bokeh behind the groom", "shallow", ["groom"]),  # behind the groom is where the background is
    ("blurry background behind maya", "shallow", ["maya"]),
])
def test_the_background_described_sharp_or_blurred_sets_the_depth_of_field(text, mode, subjects):
    first, answer = shot(text)
    assert (first.focus.depth_of_field, first.subjects, first.focus.target) == (mode, subjects, None)
    assert answer.ignored == []


def test_behind_after_a_depth_of_field_word_is_not_the_camera_side():
    assert shot("soft bokeh behind the groom")[0].side == "front"
    assert shot("follow the groom from behind")[0].side == "back"


@pytest.mark.parametrize("text, mode, framing", [
    ("open up to f1.4", "shallow", "medium"), ("open up to 1.4", "shallow", "medium"),
    ("stop down to f/16", "deep", "medium"), ("stop down to 8", "deep", "medium"),
    ("open up", "normal", "medium_wide"),  # no number: the framing edit
])
def test_an_aperture_verb_with_a_number_sets_the_depth_of_field_not_the_framing(text, mode, framing):
    first = shot(text)[0]
    assert (first.focus.depth_of_field, first.framing) == (mode, framing)


@pytest.mark.parametrize("text, framing", [("open up to a wide", "wide"), ("go tighter to a close-up", "close_up"),
                                           ("much wider", "full"), ("tighter", "medium_close_up")])
def test_a_relative_framing_word_with_a_named_framing_ends_on_the_named_one(text, framing):
    assert shot(text)[0].framing == framing


def test_a_negated_background_word_still_refuses():
    assert isinstance(parse_command("background not blurry", current=CURRENT), ErrorAnswer)


@pytest.mark.parametrize("text, subjects, ignored", [
    ("track with the skier down the slope", ["skier"], ["down the slope"]),
    ("follow the kid on the scooter", ["kid"], ["on the scooter"]),
    ("reveal the castle from behind the trees", ["castle"], ["from behind the trees"]),  # not a side of the castle
    ("wide of the bride at the altar", ["bride"], ["at the altar"]),
    ("follow her through the forest", ["bride"], ["through the forest"]),
    ("orbit the dog and the cat", ["dog", "cat"], []),  # "and" joins subjects
    ("follow the runner from behind", ["runner"], []),  # no place after it: a side
    ("fly past the boat", ["boat"], []),  # no subject before it: the subject
])
def test_a_place_after_the_subject_is_not_a_second_subject(text, subjects, ignored):
    first, answer = shot(text)
    assert first.subjects == subjects and answer.ignored == ignored
    if text.endswith("from behind"):
        assert first.side == "back"


@pytest.mark.parametrize("text, path, value", [
    ("right, give me a medium two shot, eye level", "framing", "medium"),
    ("Right. Wide on the bride", "framing", "wide"),
    ("okay, close up", "framing", "close_up"), ("right third", "screen_position", "right_third"),
])
def test_a_word_that_opens_the_command_before_a_comma_is_a_filler(text, path, value):
    assert getattr(shot(text)[0], path) == value


def test_right_alone_is_still_ambiguous():
    answer = parse_command("right", current=CURRENT)
    assert isinstance(answer, ErrorAnswer) and answer.error.not_understood == ["right"]


@pytest.mark.parametrize("text, movement, subjects", [
    ("track along with the runner", "follow", ["runner"]), ("orbit round the car", "orbit", ["car"]),
    ("follow after the dog", "follow", ["dog"]), ("truck left past the crowd", "truck_left", ["all"]),
    ("push ahead toward the bride", "dolly_in", ["bride"]),
])
def test_a_function_word_after_a_movement_is_part_of_it(text, movement, subjects):
    first, answer = shot(text)
    assert (first.movement.type, first.subjects, answer.ignored) == (movement, subjects, [])


@pytest.mark.parametrize("text, word", [("wide on the bride, hang on", "hang"), ("orbit round not the car", "not")])
def test_a_word_of_a_control_phrase_or_a_negation_after_a_movement_still_refuses(text, word):
    answer = parse_command(text, current=CURRENT, known_subjects=list(KNOWN))
    assert isinstance(answer, ErrorAnswer) and word in answer.error.not_understood


@pytest.mark.parametrize("text, side, position, subjects", [
    ("put her left", "front", "left_third", ["bride"]), ("frame him right", "front", "right_third", ["bride"]),
    ("keep the groom right", "front", "right_third", ["groom"]),
    ("right side of the groom, frame him right", "right", "right_third", ["groom"]),
    ("shoot from her left with her framed left", "left", "left_third", ["bride"]),
    ("keep her left of center, shooting from her right", "right", "left_third", ["bride"]),
    ("her left", "left", "center", ["bride", "groom"]),  # no placement verb: the side the camera films from
])
def test_left_or_right_after_a_placement_verb_is_a_screen_position(text, side, position, subjects):
    first = shot(text)[0]
    assert (first.side, first.screen_position, first.subjects) == (side, position, subjects)


@pytest.mark.parametrize("text, subjects, ignored", [
    ("low angle on the drummer, kind of a music video feel", ["drummer"], ["music", "video", "feel"]),
    ("close on maya, dreamy wedding look", ["maya"], ["dreamy", "wedding"]),
    ("wide of the bride, the look of a perfume ad", ["bride"], ["perfume", "ad"]),
    ("medium of the groom, in a noir style", ["groom"], ["noir"]),  # not English, but inside a style description
])
def test_the_words_of_a_style_description_set_nothing_nouns_included(text, subjects, ignored):
    first, answer = shot(text)
    assert first.subjects == subjects and sorted(answer.ignored) == sorted(ignored)


@pytest.mark.parametrize("text", ["follow the groom, no handheld look", "wide, a nto slow feel"])
def test_a_style_description_never_hides_a_negation_or_a_slip(text):
    assert isinstance(parse_command(text, current=CURRENT, known_subjects=list(KNOWN)), ErrorAnswer)


@pytest.mark.parametrize("text, focal", [("135 on the groom, f/2", 135.0), ("85 on her", 85.0),
                                         ("a 50 on the bride", 50.0), ("wide, 35 on everyone", 35.0)])
def test_a_lens_number_said_first_then_who_it_is_on(text, focal):
    assert shot(text)[0].lens.focal_length_mm == focal


@pytest.mark.parametrize("text", ["2 on the bride", "orbit 12", "at 85 on the groom"])
def test_other_bare_numbers_still_refuse(text):
    assert isinstance(parse_command(text, current=CURRENT, known_subjects=list(KNOWN)), ErrorAnswer)


@pytest.mark.parametrize("typo, path, value", [
    ("meduim shot", "framing", "medium"), ("low anlge", "angle", "low"), ("overhaed", "angle", "overhead"),
    ("profiel left", "side", "left"), ("slowyl", "movement.speed", "slow"), ("qiuckly", "movement.speed", "fast"),
    ("shallwo depth of field", "focus.depth_of_field", "shallow"), ("telephotto", "lens.focal_length_mm", 135.0),
    ("tigther", "framing", "medium_close_up"), ("clokwise", "movement.direction", "clockwise"),
    ("left thrid", "screen_position", "left_third"), ("rakc focus to the groom", "focus.rack_to", "groom"),
    ("follow the runnre", "subjects", ["runner"]),
])
def test_typos_are_corrected_in_every_vocabulary_class(typo, path, value):
    first, answer = shot(typo)
    document = first.model_dump()
    for part in path.split("."):
        document = document[part]
    assert document == value and answer.corrections


@pytest.mark.parametrize("typo, command", [("hodl", "hold"), ("abrot", "abort"), ("resuem", "resume")])
def test_typos_of_control_words_are_corrected(typo, command):
    answer = parse_command(typo, current=CURRENT)
    assert isinstance(answer, CommandAnswer) and answer.command == command
