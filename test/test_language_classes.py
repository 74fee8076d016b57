"""Issue 27's remaining classes of phrasing, each said in new words: slips read by their neighbour, possessives,
decades, style descriptions with a look in them, machines as subjects, quantifiers for a whole group, clauses
about what the subject does, a prime said alone, the background behind the subject, a path into a subject."""

from __future__ import annotations

import pytest

from cinempc.language import CommandAnswer, ErrorAnswer, ShotsAnswer, parse_command
from cinempc.language.corpus import CURRENT, KNOWN


def parse(text: str):
    return parse_command(text, current=CURRENT, known_subjects=list(KNOWN))


def shot(text: str) -> tuple[dict, ShotsAnswer]:
    answer = parse(text)
    assert isinstance(answer, ShotsAnswer), f"{text!r}: {answer.to_json()[:300]}"
    assert len(answer.shots) == 1
    return answer.shots[0].model_dump(mode="json"), answer


def refused(text: str) -> list[str]:
    answer = parse(text)
    assert isinstance(answer, ErrorAnswer), f"{text!r} was flown: {answer.to_json()[:300]}"
    return answer.error.not_understood


# ------------------------------------------------------------------ a slip read by the word next to it


@pytest.mark.parametrize(("text", "movement", "slip", "fixed"), [
    ("pul out on the groom", "dolly_out", "pul", "pull"),  # 3 letters: too short to correct alone
    ("crne up over maya", "crane_up", "crne", "crane"),  # 4 letters, a letter left out
    ("fly pazt the boat", "flyby", "pazt", "past"),  # 4 letters, a wrong letter
])
def test_a_short_slip_is_corrected_when_the_correction_makes_a_phrase_with_its_neighbour(text, movement, slip, fixed):
    document, answer = shot(text)
    assert document["movement"]["type"] == movement
    assert answer.corrections == {slip: fixed}


@pytest.mark.parametrize(("text", "slip", "fixed"), [("orbt around maya", "orbt", "orbit"),
                                                    ("slow dlly in", "dlly", "dolly")])
def test_a_four_letter_slip_one_edit_from_exactly_one_word_that_means_something_is_corrected(text, slip, fixed):
    _, answer = shot(text)
    assert answer.corrections == {slip: fixed}


def test_a_four_letter_slip_between_two_such_words_is_not_guessed():
    assert "tigt" in refused("tigt on maya")  # tight? tilt?


def test_a_short_slip_without_a_phrase_around_it_still_refuses():
    assert refused("wide, pul") == ["pul"]


@pytest.mark.parametrize(("text", "word"), [("pus in on maya", "pus"), ("fly pst the boat", "pst")])
def test_an_english_word_is_never_turned_into_another_but_a_near_phrase_is_not_ignored_either(text, word):
    """"pus" and "pst" are words: never corrected, and since "push in" / "fly past" is one edit away, not ignored."""
    assert word in refused(text)


# ------------------------------------------------------------------ possessives


@pytest.mark.parametrize(("text", "subject"), [
    ("follow the groom's sister", "grooms sister"),
    ("slow orbit around maya's horse", "mayas horse"),
    ("wide on the bride's old car", "brides old car"),
    ("track Marco's dog", "marcos dog"),
])
def test_a_possessive_and_its_noun_are_one_subject(text, subject):
    document, answer = shot(text)
    assert document["subjects"] == [subject]


@pytest.mark.parametrize(("text", "owner", "part"), [
    ("medium close-up on the groom's shoes", "groom", "shoes"),
    ("orbit maya's bouquet", "maya", "bouquet"),
])
def test_a_part_of_the_owner_is_filmed_by_filming_the_owner(text, owner, part):
    document, answer = shot(text)
    assert document["subjects"] == [owner]
    assert part in answer.ignored


@pytest.mark.parametrize(("text", "subjects", "ignored"), [
    ("follow her grandmother", ["brides grandmother"], []),  # "her" is the shot's first subject, the bride
    ("orbit the groom and his brother", ["groom", "grooms brother"], []),  # "his": the subject just named
    ("track his hands", ["bride"], ["hands"]),  # a part: filmed by filming him
    ("film her skating", ["bride"], ["skating"]),  # a participle: what she does
])
def test_a_possessive_pronoun_owns_the_noun_after_it(text, subjects, ignored):
    document, answer = shot(text)
    assert document["subjects"] == subjects
    assert answer.ignored == ignored


def test_a_possessive_followed_by_a_side_word_is_not_a_name():
    assert "left" in refused("maya's left")


# ------------------------------------------------------------------ decades are not durations


@pytest.mark.parametrize("text", ["wide on maya, a 60s film vibe", "slow orbit of the groom, the '90s feel",
                                  "medium on the bride, 1970s aesthetic", "push in on maya, like the 50s"])
def test_a_decade_is_an_era_not_a_duration(text):
    document, answer = shot(text)
    assert document["duration_s"] is None
    assert any(word.endswith("s") and word[:-1].isdigit() for word in answer.ignored), answer.ignored


@pytest.mark.parametrize(("text", "seconds"), [("orbit the groom for 60s", 60.0), ("a 40s orbit of maya", 40.0),
                                               ("dolly in over 20s", 20.0)])
def test_a_count_of_seconds_written_like_a_decade_stays_a_duration(text, seconds):
    document, _ = shot(text)
    assert document["duration_s"] == seconds


# ------------------------------------------------------------------ style descriptions hold a look


def test_a_look_the_drone_cannot_make_sets_nothing_inside_a_style_description():
    document, answer = shot("backlit dreamy look, wide on maya")
    assert document["framing"] == "wide" and document["subjects"] == ["maya"]
    assert {"backlit", "dreamy"} <= set(answer.ignored)


@pytest.mark.parametrize(("text", "word"), [("wide on maya, golden hour", "golden hour"),  # no style head: reported
                                            ("wide, shaky vibe", "shaky"),  # a camera motion: matters
                                            ("wide, a pan feel", "pan")])
def test_words_that_matter_still_refuse_inside_or_outside_a_style(text, word):
    assert word in refused(text)


# ------------------------------------------------------------------ a machine after "the" is the subject


@pytest.mark.parametrize(("text", "movement", "subject"), [
    ("fly past the crane slowly", "flyby", "crane"),
    ("orbit the jib", "orbit", "jib"),
    ("push in on the dolly", "dolly_in", "dolly"),
])
def test_a_movement_word_after_the_where_a_subject_goes_names_the_thing_filmed(text, movement, subject):
    document, answer = shot(text)
    assert document["movement"]["type"] == movement
    assert document["subjects"] == [subject]


def test_a_movement_word_alone_is_still_the_movement():
    document, _ = shot("do the orbit again")
    assert document["movement"]["type"] == "orbit"
    assert document["subjects"] == ["bride", "groom"]


# ------------------------------------------------------------------ a quantifier for a whole group


@pytest.mark.parametrize("text", ["track the whole squad", "orbit the entire cast slowly",
                                  "low angle on the whole choir", "wide of every one of the guests"])
def test_a_whole_group_is_every_subject(text):
    document, _ = shot(text)
    assert document["subjects"] == ["all"]


def test_a_group_noun_alone_stays_an_open_noun():
    document, answer = shot("wide of the choir")
    assert document["subjects"] == ["choir"]


# ------------------------------------------------------------------ a clause about what the subject does


@pytest.mark.parametrize(("text", "subjects", "verb"), [
    ("follow maya while she skates", ["maya"], "skates"),
    ("track the groom as he strolls, low angle", ["groom"], "strolls"),
    ("stay on the bride when she waltzes", ["bride"], "waltzes"),
])
def test_a_clause_about_the_subject_sets_nothing(text, subjects, verb):
    document, answer = shot(text)
    assert document["subjects"] == subjects
    assert verb in answer.ignored


@pytest.mark.parametrize(("text", "word"), [("orbit maya as she turns left", "left"),
                                            ("follow the groom as he doesn't stop", "doesn't")])
def test_a_clause_never_hides_a_word_that_means_something_or_a_negation(text, word):
    assert word in refused(text)


# ------------------------------------------------------------------ a prime said alone


@pytest.mark.parametrize(("text", "mm"), [("24, wide on the groom", 24.0), ("orbit maya, 135, slowly", 135.0),
                                          ("rigger: 35. low angle on the bride", 35.0)])
def test_a_prime_said_alone_is_the_lens(text, mm):
    document, _ = shot(text)
    assert document["lens"]["focal_length_mm"] == mm


@pytest.mark.parametrize(("text", "number"), [("wide, 23", "23"), ("orbit 50 maya", "50"), ("orbit 12", "12")])
def test_any_other_bare_number_still_refuses(text, number):
    assert number in refused(text)


# ------------------------------------------------------------------ the background behind the subject


@pytest.mark.parametrize(("text", "mode", "subjects"), [
    ("keep the hills sharp behind the rider", "deep", ["rider"]),
    ("the street lights behind maya blurred", "shallow", ["maya"]),
    ("wide of the skier, the pines crisp behind him", "deep", ["skier"]),
])
def test_a_thing_behind_the_subject_described_sharp_or_blurred_is_the_background(text, mode, subjects):
    document, _ = shot(text)
    assert document["focus"]["depth_of_field"] == mode
    assert document["subjects"] == subjects
    assert document["focus"]["target"] in (None, *subjects)


def test_a_name_given_to_a_track_behind_another_stays_a_focus_target():
    document, _ = shot("keep the bride sharp behind the groom")
    assert document["focus"]["target"] == "bride"


# ------------------------------------------------------------------ a path into a subject


@pytest.mark.parametrize("text", ["head straight into the groom", "send the drone into the guests",
                                  "fly it into maya"])
def test_a_travel_verb_into_a_subject_is_refused(text):
    answer = parse(text)
    assert isinstance(answer, ErrorAnswer)
    assert any("into" in word for word in answer.error.not_understood)
    assert answer.error.suggestions


@pytest.mark.parametrize(("text", "field", "value"), [("push into the crowd", "movement", "dolly_in"),
                                                      ("go into a close-up on maya", "framing", "close_up")])
def test_a_movement_or_a_framing_into_is_still_flown(text, field, value):
    document, _ = shot(text)
    got = document["movement"]["type"] if field == "movement" else document[field]
    assert got == value


# ---------------------------------------------- a movement described and named, a zoom against a dolly


@pytest.mark.parametrize(("text", "movement"), [
    ("dolly in while zooming out on maya", "dolly_zoom_in"),
    ("push in on the groom and zoom out", "dolly_zoom_in"),
    ("pull back on maya, zooming in", "dolly_zoom_out"),
    ("dolly out while you zoom in on the bride", "dolly_zoom_out"),
])
def test_a_dolly_with_a_zoom_the_other_way_is_a_dolly_zoom(text, movement):
    document, _ = shot(text)
    assert document["movement"]["type"] == movement
    assert document["lens"]["focal_length_mm"] is None  # the dolly zoom sets the lens, not a zoom edit


def test_a_dolly_with_a_zoom_the_same_way_stays_a_dolly_and_a_zoom():
    document, _ = shot("dolly in on maya and zoom in")
    assert document["movement"]["type"] == "dolly_in"
    assert document["lens"]["focal_length_mm"] is not None


@pytest.mark.parametrize("text", ["pull back and up to reveal the groom", "pull out and rise to reveal maya"])
def test_a_reveal_described_by_its_own_motion_is_a_reveal(text):
    document, _ = shot(text)
    assert document["movement"]["type"] == "reveal"


@pytest.mark.parametrize("text", ["lead the groom, 5 m ahead", "track ahead of maya"])
def test_ahead_of_the_subject_is_the_front(text):
    behind = CURRENT.model_copy(update={"side": "back"})
    answer = parse_command(text, current=behind, known_subjects=list(KNOWN))
    assert isinstance(answer, ShotsAnswer), answer.to_json()[:300]
    assert answer.shots[0].side == "front" and answer.shots[0].movement.type == "follow"


def test_go_ahead_is_still_resume():
    answer = parse("go ahead")
    assert isinstance(answer, CommandAnswer) and answer.command == "resume"


# ------------------------------------------------------------------ "the other way", "the reverse angle"


@pytest.mark.parametrize(("on_air", "text", "field", "value"), [
    ("orbit_cw", "reverse the orbit", "direction", "counterclockwise"),
    ("orbit_ccw", "the other way round", "direction", "clockwise"),
    ("truck_right_full", "go the other way", "type", "truck_left"),
    ("pedestal_up_medium", "reverse", "type", "pedestal_down"),
    ("dolly_in_mcu", "other direction", "type", "dolly_out"),
])
def test_the_other_way_reverses_the_move_on_air(on_air, text, field, value):
    from cinempc.shot import preset

    answer = parse_command(text, current=preset(on_air), known_subjects=list(KNOWN))
    assert isinstance(answer, ShotsAnswer), answer.to_json()[:300]
    assert getattr(answer.shots[0].movement, field) == value


def test_a_move_without_a_direction_cannot_be_reversed():
    answer = parse("reverse")  # CURRENT follows: there is no other way to follow
    assert isinstance(answer, ErrorAnswer) and "no direction to reverse" in answer.error.message


@pytest.mark.parametrize(("text", "side"), [("reverse angle on maya", "back"), ("swap sides", "back"),
                                            ("the reverse, from the front left", "back_right")])
def test_the_reverse_angle_is_the_side_across_the_subject(text, side):
    document, _ = shot(text)
    assert document["side"] == side


@pytest.mark.parametrize("text", ["ignore the groom", "forget the groom", "leave the groom out", "exclude maya",
                                  "everyone apart from maya"])
def test_a_word_that_excludes_a_subject_is_never_ignored(text):
    """Ignoring the verb would film the very subject the director excluded: the command is refused instead."""
    answer = parse(text)
    assert isinstance(answer, ErrorAnswer), answer.to_json()[:300]


@pytest.mark.parametrize(("text", "field", "value"), [
    ("look down at maya", "angle", "high"), ("look up at the groom", "angle", "low"),
    ("follow maya closely", "framing", "medium_close_up"), ("orbit the groom tightly", "framing", "medium_close_up"),
])
def test_words_that_say_an_angle_or_a_tighter_frame_are_not_ignored(text, field, value):
    document, answer = shot(text)
    assert document[field] == value and not answer.ignored


# ------------------------------------------------------------------ how far a move goes


@pytest.mark.parametrize(("text", "movement", "extent"), [
    ("quarter orbit around maya", "orbit", 90.0), ("orbit the groom 90 degrees", "orbit", 90.0),
    ("full orbit around the bride", "orbit", 360.0), ("a half circle round maya", "orbit", 180.0),
    ("orbit maya 360", "orbit", 360.0), ("crane up 45 degrees", "crane_up", 45.0),
    ("truck left 10 m", "truck_left", 10.0), ("rise 5 metres", "pedestal_up", 5.0),
    ("pedestal down by 2 m", "pedestal_down", 2.0),
])
def test_how_far_a_move_goes_is_its_extent(text, movement, extent):
    document, answer = shot(text)
    assert document["movement"]["type"] == movement and document["movement"]["extent"] == extent
    assert document["framing"] == CURRENT.framing and not answer.ignored  # "full orbit" is no full shot


@pytest.mark.parametrize("text", ["truck left at 10 m", "truck right 8 m away"])
def test_a_length_said_as_a_stand_off_stays_the_distance(text):
    document, _ = shot(text)
    assert document["movement"]["extent"] is None and document["distance_m"] in (8.0, 10.0)


def test_an_extent_the_move_cannot_have_is_a_conflict_and_a_new_move_forgets_the_old_extent():
    answer = parse("follow maya 90 degrees")
    assert isinstance(answer, ErrorAnswer) and "not a follow" in answer.error.message
    from cinempc.shot import preset

    orbit = preset("orbit_cw")
    quarter = orbit.model_copy(update={"movement": orbit.movement.model_copy(update={"extent": 90.0})})
    assert parse_command("slower", current=quarter).shots[0].movement.extent == 90.0  # an edit keeps it
    assert parse_command("crane up", current=quarter).shots[0].movement.extent is None
