"""ShotSpec: the contract's fields, validation messages, presets and schema."""

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from cinempc.shot import (
    FRAMINGS,
    ShotSpec,
    ShotSpecError,
    export_schema,
    load_shot,
    parse_shot_document,
    presets,
    side_bearing_rad,
    vocabulary,
)

ROOT = Path(__file__).resolve().parent.parent


def test_defaults_and_primary_subject():
    shot = ShotSpec(subjects=["Runner", "#3"])
    assert shot.subjects == ["runner", "#3"]
    assert shot.primary_subject == "runner"
    assert shot.focus_target == "runner"
    assert shot.framing == "medium" and shot.movement.type == "static"


def test_full_document_round_trips():
    document = {
        "subjects": ["runner"],
        "framing": "medium_close_up",
        "screen_position": "left_third",
        "angle": "low",
        "side": "front_left",
        "movement": {"type": "orbit", "speed": "slow", "speed_mps": 1.5, "direction": "counterclockwise"},
        "focus": {"target": "runner", "depth_of_field": "shallow", "rack_to": "#2", "rack_duration_s": 3},
        "lens": {"focal_length_mm": 85},
        "distance_m": 6,
        "duration_s": 12,
    }
    shot = ShotSpec(**document)
    again = ShotSpec.model_validate_json(shot.to_json())
    assert again == shot


@pytest.mark.parametrize(
    "document, field, allowed",
    [
        ({"framing": "mid"}, "framing", "medium_close_up"),
        ({"movement": {"type": "zoom"}}, "movement.type", "dolly_zoom_out"),
        ({"focus": {"depth_of_field": "tiny"}}, "focus.depth_of_field", "shallow"),
        ({"side": "above"}, "side", "back_right"),
    ],
)
def test_errors_name_the_field_and_allowed_values(document, field, allowed):
    with pytest.raises(ShotSpecError) as info:
        parse_shot_document(json.dumps(document))
    assert field in str(info.value)
    assert allowed in str(info.value)


@pytest.mark.parametrize(
    "document",
    [
        {"subjects": []},
        {"subjects": ["Robert'); DROP TABLE"]},
        {"movement": {"type": "follow", "direction": "clockwise"}},
        {"focus": {"rack_duration_s": 2}},
        {"distance_m": -3},
        {"lens": {"focal_length_mm": 0}},
        {"unknown_field": 1},
    ],
)
def test_invalid_documents_are_rejected(document):
    with pytest.raises(ValidationError):
        ShotSpec(**document)


def test_non_mapping_and_garbage_are_rejected():
    for text in ("[1, 2]", "just words", "{"):
        with pytest.raises(ShotSpecError):
            parse_shot_document(text)


def test_presets_load_and_cover_the_movements_we_advertise():
    shots = presets()
    assert len(shots) >= 12
    kinds = {shot.movement.type for shot in shots.values()}
    assert {"follow", "orbit", "dolly_zoom_out", "dolly_in", "static"} <= kinds
    assert shots["orbit_cw"].movement.direction == "clockwise"
    assert load_shot("two_shot_deep").focus.depth_of_field == "deep"
    with pytest.raises(KeyError, match="known"):
        load_shot("no_such_preset")


def test_vocabulary_is_monotonic_in_framing():
    vocab = vocabulary()
    sizes = [vocab.framing_height_fraction[f] for f in FRAMINGS]
    assert sizes == sorted(sizes), "tighter framings must show the subject larger"
    assert vocab.speed_mps["slow"] < vocab.speed_mps["normal"] < vocab.speed_mps["fast"]


def test_side_bearing_convention():
    assert side_bearing_rad("front") == 0.0
    assert side_bearing_rad("left") == pytest.approx(1.5707963)  # on the subject's left: heading + 90 deg
    assert side_bearing_rad("right") == pytest.approx(-1.5707963)


def test_exported_schema_is_current(tmp_path):
    fresh = export_schema(tmp_path / "schema.json").read_text()
    committed = (ROOT / "docs" / "shot_spec.schema.json").read_text()
    assert json.loads(fresh) == json.loads(committed), "run `cinempc shot schema` and commit docs/"


def test_load_shot_from_file(tmp_path):
    path = tmp_path / "shot.json"
    path.write_text(json.dumps({"framing": "close_up", "focus": {"depth_of_field": "shallow"}}))
    assert load_shot(path).framing == "close_up"
    path.write_text(json.dumps({"framing": "closeup"}))
    with pytest.raises(ShotSpecError, match="framing"):
        load_shot(path)
