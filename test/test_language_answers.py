"""Edits against the current shot, not-understood answers, refusals, conflicts and the lexicon itself."""

from __future__ import annotations

import json

import pytest

from cinempc.language import (
    CommandAnswer,
    ErrorAnswer,
    ShotsAnswer,
    answer_from_json,
    answer_schema,
    parse_command,
)
from cinempc.language.lexicon import load_lexicon, load_settings
from cinempc.language.normalise import tokenise
from cinempc.shot import ShotSpec, vocabulary

CURRENT = ShotSpec(subjects=["bride", "groom"], framing="medium", angle="high", screen_position="center",
                   movement={"type": "orbit", "direction": "clockwise", "speed": "normal"},
                   lens={"focal_length_mm": 50}, distance_m=6.0, duration_s=12)


def one_shot(text: str, current: ShotSpec | None = CURRENT) -> ShotSpec:
    answer = parse_command(text, current=current)
    assert isinstance(answer, ShotsAnswer), answer.to_json()
    assert len(answer.shots) == 1
    return answer.shots[0]


# ------------------------------------------------------------------ edits


def test_edit_keeps_everything_not_mentioned():
    shot = one_shot("tighter")
    assert shot.framing == "medium_close_up"
    unchanged = CURRENT.model_dump(exclude={"framing"})
    assert shot.model_dump(exclude={"framing"}) == unchanged


@pytest.mark.parametrize("text, path, value", [
    ("tighter", "framing", "medium_close_up"),
    ("wider", "framing", "medium_wide"),
    ("much tighter", "framing", "close_up"),
    ("way wider", "framing", "full"),
    ("lower", "angle", "eye_level"),
    ("a lot lower", "angle", "low"),
    ("higher", "angle", "overhead"),
    ("more to the left", "screen_position", "left_third"),
    ("more to the right", "screen_position", "right_third"),
    ("pan left", "screen_position", "right_third"),
    ("slower", "movement.speed", "slow"),
    ("faster", "movement.speed", "fast"),
    ("switch focus to the groom", "focus.rack_to", "groom"),
    ("from behind", "side", "back"),
    ("counterclockwise", "movement.direction", "counterclockwise"),
])
def test_relative_edits(text, path, value):
    shot = one_shot(text).model_dump()
    for part in path.split("."):
        shot = shot[part]
    assert shot == value


def test_edits_clip_at_the_ends_of_the_scale():
    extreme = CURRENT.model_copy(update={"framing": "extreme_close_up", "angle": "overhead",
                                         "screen_position": "right_third"})
    shot = one_shot("tighter, higher, more to the right", current=extreme)
    assert (shot.framing, shot.angle, shot.screen_position) == ("extreme_close_up", "overhead", "right_third")


def test_faster_past_fast_and_on_an_explicit_speed_goes_on_in_metres_per_second():
    factor = load_settings().edits.speed_factor
    fast = CURRENT.model_copy(update={"movement": CURRENT.movement.model_copy(update={"speed": "fast"})})
    shot = one_shot("faster", current=fast)
    assert shot.movement.speed_mps == pytest.approx(vocabulary().speed_mps["fast"] * factor)
    explicit = CURRENT.model_copy(update={"movement": CURRENT.movement.model_copy(update={"speed_mps": 2.0})})
    assert one_shot("slower", current=explicit).movement.speed_mps == pytest.approx(2.0 / factor)


def test_zoom_in_is_a_tighter_framing_on_a_longer_lens_from_the_same_place():
    shot = one_shot("zoom in")
    vocab = vocabulary()
    ratio = vocab.framing_height_fraction["medium_close_up"] / vocab.framing_height_fraction["medium"]
    assert shot.framing == "medium_close_up"
    assert shot.lens.focal_length_mm == pytest.approx(50 * ratio, abs=0.1)
    assert shot.distance_m == CURRENT.distance_m
    out = one_shot("zoom out")
    assert out.framing == "medium_wide" and out.lens.focal_length_mm < 50


def test_zoom_without_a_lens_starts_from_the_normal_lens_and_holds_the_framing_distance():
    shot = one_shot("punch in", current=ShotSpec(framing="wide"))
    assert shot.framing == "full" and shot.lens.focal_length_mm > load_settings().lens.normal_focal_length_mm
    assert shot.distance_m == vocabulary().default_distance_m["wide"]


def test_zoom_to_a_number_uses_the_number():
    assert one_shot("zoom in to 200mm").lens.focal_length_mm == 200


def test_wide_lens_is_not_a_wide_shot_and_wide_shot_is_not_a_wide_lens():
    lens = one_shot("wide lens")
    assert lens.framing == "medium" and lens.lens.focal_length_mm == load_settings().lens.wide_focal_length_mm
    framing = one_shot("wide shot")
    assert framing.framing == "wide" and framing.lens.focal_length_mm == CURRENT.lens.focal_length_mm


def test_a_new_movement_drops_the_old_speed_direction_and_duration():
    shot = one_shot("push in")
    assert shot.movement.type == "dolly_in" and shot.movement.direction is None
    assert shot.movement.speed == "normal" and shot.duration_s is None


def test_a_rack_settles_on_its_target_for_the_next_shot():
    racked = CURRENT.model_copy(update={"focus": CURRENT.focus.model_copy(update={"rack_to": "groom",
                                                                                    "rack_duration_s": 2.0})})
    shot = one_shot("tighter", current=racked)
    assert shot.focus.target == "groom" and shot.focus.rack_to is None and shot.focus.rack_duration_s is None


def test_without_a_current_shot_edits_start_from_the_default_shot():
    shot = one_shot("tighter", current=None)
    assert shot.framing == "medium_close_up" and shot.subjects == ["all"]


def test_new_subjects_drop_a_focus_target_that_is_no_longer_in_the_shot():
    focused = CURRENT.model_copy(update={"focus": CURRENT.focus.model_copy(update={"target": "groom"})})
    assert one_shot("follow the runner", current=focused).focus.target is None
    assert one_shot("close up on the groom", current=focused).focus.target == "groom"


def test_pronouns_refer_to_the_current_subjects():
    assert one_shot("close up on her").subjects == ["bride"]
    assert one_shot("orbit them").subjects == ["bride", "groom"]
    assert one_shot("both of them from behind").subjects == ["bride", "groom"]


def test_names_given_to_tracks_are_recognised_even_lowercase_and_multiword():
    answer = parse_command("orbit the red car then follow mary jane", known_subjects=["red car", "mary jane"])
    assert isinstance(answer, ShotsAnswer)
    assert [s.subjects for s in answer.shots] == [["red car"], ["mary jane"]]


def test_typo_corrections_are_kept_for_the_app_but_not_in_the_wire_form():
    answer = parse_command("tigher")
    assert isinstance(answer, ShotsAnswer)
    assert answer.corrections == {"tigher": "tighter"}
    assert set(json.loads(answer.to_json())) == {"shots"}


def test_names_are_not_typo_corrected():
    assert one_shot("follow Bridey").subjects == ["bridey"]


# ------------------------------------------------------------------ not understood


def test_unsupported_words_are_reported_with_suggestions_and_the_rest_is_partial():
    answer = parse_command("medium shot of the runner with a handheld feel")
    assert isinstance(answer, ErrorAnswer)
    error = answer.error
    assert error.reason == "not_understood"
    assert error.not_understood == ["handheld feel"]
    assert error.suggestions["handheld feel"]
    assert error.examples and 0 < error.confidence < 1
    assert error.partial is not None and error.partial[0].framing == "medium"
    assert error.partial[0].subjects == ["runner"]


def test_unknown_words_get_nearest_known_terms():
    answer = parse_command("orbit the bride, zorglub, then wdie shot")
    assert isinstance(answer, ErrorAnswer)
    assert answer.error.not_understood == ["zorglub"]
    assert answer.error.partial is not None and answer.error.partial[1].framing == "wide"  # typo corrected


def test_a_bare_direction_word_asks_which_one_is_meant():
    answer = parse_command("orbit left")
    assert isinstance(answer, ErrorAnswer)
    assert "on the left" in answer.error.suggestions["left"]
    assert "truck left" in answer.error.suggestions["left"]


def test_a_number_without_a_unit_is_reported_with_the_units_it_could_have():
    answer = parse_command("orbit 12")
    assert isinstance(answer, ErrorAnswer)
    assert "12 mm" in answer.error.suggestions["12"] and "over 12 seconds" in answer.error.suggestions["12"]


def test_negations_are_not_silently_dropped():
    for text in ("no bokeh", "not too fast", "don't orbit"):
        answer = parse_command(text)
        assert isinstance(answer, ErrorAnswer), text


def test_rack_focus_without_a_target_asks_for_one():
    answer = parse_command("rack focus")
    assert isinstance(answer, ErrorAnswer) and "rack focus" in answer.error.not_understood


def test_confidence_falls_with_the_share_not_understood():
    mostly = parse_command("slow orbit of the bride from a low angle, wide, glorp")
    half = parse_command("orbit, glorp blarg")  # not in a subject's place: not a name
    assert isinstance(mostly, ErrorAnswer) and isinstance(half, ErrorAnswer)
    assert mostly.error.confidence > half.error.confidence > 0
    nothing = parse_command("glorp blarg")
    assert isinstance(nothing, ErrorAnswer) and nothing.error.confidence == 0 and nothing.error.partial is None


@pytest.mark.parametrize("text", ["wide and close up", "orbit and push in", "slowly but fast",
                                  "85mm at 35mm", "clockwise push in"])
def test_two_values_for_one_field_are_a_conflict_not_a_guess(text):
    answer = parse_command(text)
    assert isinstance(answer, ErrorAnswer) and answer.error.reason == "conflict", answer.to_json()


@pytest.mark.parametrize("text, reason", [
    ("", "refused"), ("   \n\t ", "refused"), ("x" * 501, "refused"), ("wide\x00shot", "refused"),
    (b"\xff\xfe\x00binary", "refused"), ("a\ufffdb", "refused"), ("please", "not_understood"),
    ("!!!", "not_understood"),
    ("at 50 m/s", "out_of_range"), ("over 2 hours", "out_of_range"),
])
def test_bad_input_gets_a_clear_error_never_an_exception(text, reason):
    answer = parse_command(text)
    assert isinstance(answer, ErrorAnswer), answer.to_json()
    assert answer.error.reason == reason, answer.error.message
    assert answer.error.message


def test_length_limit_comes_from_config():
    limit = load_settings().limits.max_chars
    assert isinstance(parse_command("wide " * (limit // 5)), ShotsAnswer)
    assert "limit is" in parse_command("w" * (limit + 1)).error.message  # type: ignore[union-attr]


def test_bytes_in_utf8_are_text():
    assert isinstance(parse_command("close-up on Zoë".encode()), ShotsAnswer)


def test_wrong_current_and_backend_are_errors():
    assert isinstance(parse_command("tighter", current={"framing": "wide"}), ErrorAnswer)  # type: ignore[arg-type]
    assert isinstance(parse_command("tighter", backend="gpt"), ErrorAnswer)


def test_too_many_shots_are_refused():
    limit = load_settings().limits.max_shots
    answer = parse_command(", then ".join(["orbit"] * (limit + 1)))
    assert isinstance(answer, ErrorAnswer) and answer.error.reason == "refused"


# ------------------------------------------------------------------ wire form


@pytest.mark.parametrize("text, key", [("wide shot", "shots"), ("hold", "command"), ("glorp", "error"), ("", "error")])
def test_json_has_exactly_one_of_the_three_keys_and_round_trips(text, key):
    answer = parse_command(text)
    document = json.loads(answer.to_json())
    assert list(document) == [key]
    assert answer_from_json(answer.to_json()).to_json() == answer.to_json()  # explanation is not on the wire


def test_answer_from_json_rejects_other_shapes():
    for bad in ('{"shots": [], "command": "hold"}', '{"command": "land"}', '{"shots": []}', "[1]",
                '{"shots": [{"framing": "huge"}]}'):
        with pytest.raises(ValueError):
            answer_from_json(bad)


def test_answer_schema_lists_the_three_shapes():
    text = json.dumps(answer_schema())
    assert "ShotsAnswer" in text and "CommandAnswer" in text and "ErrorAnswer" in text


# ------------------------------------------------------------------ lexicon


def test_lexicon_compiles_without_double_meanings_and_covers_every_shotspec_value():
    lexicon = load_lexicon()
    meanings = {(m.category, m.value) for m in lexicon.phrases.values()}
    from cinempc.shot import ANGLES, DEPTH_OF_FIELD_MODES, FRAMINGS, MOVEMENT_TYPES, SCREEN_POSITIONS, SIDES

    for category, values in (("framing", FRAMINGS), ("angle", ANGLES), ("side", SIDES),
                             ("screen_position", SCREEN_POSITIONS), ("movement", MOVEMENT_TYPES),
                             ("depth_of_field", DEPTH_OF_FIELD_MODES)):
        for value in values:
            assert (category, value) in meanings, f"no phrase for {category}.{value}"
    assert {c for c, _ in lexicon.control.items()} and set(lexicon.control.values()) == {"hold", "resume", "abort"}


def test_a_phrase_with_two_meanings_is_a_config_error(tmp_path, monkeypatch):
    import shutil

    from cinempc.config import config_dir
    from cinempc.language.lexicon import LexiconError

    for path in config_dir().glob("*.yaml"):
        shutil.copy(path, tmp_path / path.name)
    text = (tmp_path / "language.yaml").read_text()
    (tmp_path / "language.yaml").write_text(text.replace("extreme_close_up: [ecu,", "extreme_close_up: [wide, ecu,"))
    monkeypatch.setenv("CINEMPC_CONFIG_DIR", str(tmp_path))
    with pytest.raises(LexiconError, match="'wide' means both"):
        load_lexicon()
    answer = parse_command("wide shot")  # the parser answers, it does not crash
    assert isinstance(answer, ErrorAnswer) and answer.error.reason == "internal"


def test_the_crew_can_extend_the_vocabulary_in_yaml(tmp_path, monkeypatch):
    import shutil

    from cinempc.config import config_dir

    for path in config_dir().glob("*.yaml"):
        shutil.copy(path, tmp_path / path.name)
    text = (tmp_path / "language.yaml").read_text()
    (tmp_path / "language.yaml").write_text(text.replace("orbit: [orbit,", "orbit: [lasso, orbit,"))
    monkeypatch.setenv("CINEMPC_CONFIG_DIR", str(tmp_path))
    answer = parse_command("lasso the bride")
    assert isinstance(answer, ShotsAnswer) and answer.shots[0].movement.type == "orbit"


@pytest.mark.parametrize("text, numbers", [
    ("two and a half", [2.5]), ("twenty five", [25]), ("one point five", [1.5]), ("a couple of", [2]),
    ("half a minute", [0.5]), ("a hundred and twenty", [120]), ("85mm", [85]), ("f/2.8", [2.8]),
    ("that one", []), ("a wide shot", []),
])
def test_numbers_as_words(text, numbers):
    assert [t.value for t in tokenise(text) if t.kind == "number"] == pytest.approx(numbers)


def test_command_answer_is_the_control_shape():
    assert CommandAnswer(command="hold").to_json() == '{"command":"hold"}'
