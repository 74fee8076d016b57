"""ShotSpec <-> ``cinempc_interfaces/ShotSpec``: nested fields flattened, unset optional numbers 0, strings empty."""

from __future__ import annotations

import cinempc_interfaces.msg as ci

from cinempc.shot import ShotSpec

# ------------------------------------------------------------------ shot

# ShotSpec field -> message field, for the nested parts (the rest keep their names)
_SHOT_NESTED = {("movement", "type"): "movement_type", ("movement", "speed"): "movement_speed",
                ("movement", "speed_mps"): "movement_speed_mps", ("movement", "direction"): "movement_direction",
                ("movement", "extent"): "movement_extent",
                ("focus", "target"): "focus_target", ("focus", "depth_of_field"): "focus_depth_of_field",
                ("focus", "rack_to"): "focus_rack_to", ("focus", "rack_duration_s"): "focus_rack_duration_s",
                ("lens", "focal_length_mm"): "lens_focal_length_mm"}
_SHOT_FLAT = ("name", "framing", "screen_position", "angle", "side", "distance_m", "duration_s")
_NUMBERS = frozenset({"movement_speed_mps", "movement_extent", "focus_rack_duration_s", "lens_focal_length_mm",
                      "distance_m", "duration_s"})  # optional numbers: 0.0 when unset


def shot_msg(shot: ShotSpec) -> ci.ShotSpec:
    """The ShotSpec as typed fields (unset optional numbers are 0, unset strings empty)."""
    document = shot.model_dump()
    msg = ci.ShotSpec(subjects=list(shot.subjects))
    for (part, key), field in {**_SHOT_NESTED, **{(name, None): name for name in _SHOT_FLAT}}.items():
        value = document[part] if key is None else document[part][key]
        setattr(msg, field, (0.0 if field in _NUMBERS else "") if value is None else value)
    return msg


def shot_from_msg(msg: ci.ShotSpec) -> ShotSpec:
    """The ShotSpec in a message (ShotSpecError -- a ValueError -- names the bad field)."""
    from pydantic import ValidationError

    from cinempc.shot import ShotSpecError, describe_validation_error

    def value(field: str):
        raw = getattr(msg, field)
        return None if raw in ("", 0.0) else raw

    document: dict = {"subjects": list(msg.subjects), "movement": {}, "focus": {}, "lens": {}}
    for name in _SHOT_FLAT:
        if value(name) is not None:
            document[name] = value(name)
    for (part, key), field in _SHOT_NESTED.items():
        if value(field) is not None:
            document[part][key] = value(field)
    try:
        return ShotSpec(**document)
    except ValidationError as exc:
        raise ShotSpecError("shot message: " + describe_validation_error(exc)) from exc
