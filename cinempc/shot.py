"""The shot specification: the contract between director, language parser and MPC.

A ShotSpec says *what* the shot is in a cinematographer's words (framing,
placement, angle, side, movement, focus, lens); the MPC decides *how* to fly and
set the lens.  The numbers behind the words (how tall a "medium close-up" is on
screen, how high a "high angle" is, how fast "slow" is) live in
``config/shots.yaml`` together with the named presets, so tuning them never
touches code.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from cinempc.config import load_yaml

Framing = Literal[
    "extreme_wide", "wide", "full", "medium_wide", "medium", "medium_close_up", "close_up", "extreme_close_up"
]
ScreenPosition = Literal["left_third", "center", "right_third"]
Angle = Literal["eye_level", "high", "low", "overhead"]
Side = Literal["front", "front_left", "left", "back_left", "back", "back_right", "right", "front_right"]
MovementType = Literal[
    "static", "follow", "orbit", "dolly_in", "dolly_out", "truck_left", "truck_right", "pedestal_up",
    "pedestal_down", "crane_up", "crane_down", "flyby", "reveal", "dronie", "dolly_zoom_in", "dolly_zoom_out",
]
Speed = Literal["slow", "normal", "fast"]
OrbitDirection = Literal["clockwise", "counterclockwise"]
DepthOfFieldMode = Literal["shallow", "normal", "deep"]

FRAMINGS: tuple[str, ...] = get_args(Framing)
SCREEN_POSITIONS: tuple[str, ...] = get_args(ScreenPosition)
ANGLES: tuple[str, ...] = get_args(Angle)
SIDES: tuple[str, ...] = get_args(Side)
MOVEMENT_TYPES: tuple[str, ...] = get_args(MovementType)
SPEEDS: tuple[str, ...] = get_args(Speed)
ORBIT_DIRECTIONS: tuple[str, ...] = get_args(OrbitDirection)
DEPTH_OF_FIELD_MODES: tuple[str, ...] = get_args(DepthOfFieldMode)

# Where the camera stands relative to the subject's heading, counter-clockwise
# positive: "left" is on the subject's left, i.e. heading + 90 degrees.  A
# definition, not a tuning number, so it lives in code.
SIDE_BEARING_DEG: dict[str, float] = {
    "front": 0.0, "front_left": 45.0, "left": 90.0, "back_left": 135.0,
    "back": 180.0, "back_right": -135.0, "right": -90.0, "front_right": -45.0,
}

_SUBJECT_REF = re.compile(r"^(all|#\d{1,6}|[a-z][a-z0-9_\- ]{0,39})$")


def _check_subject_ref(value: str) -> str:
    """Normalise and validate a subject reference: a name, ``#<track id>`` or ``all``."""
    if not isinstance(value, str):
        raise ValueError(f"subject reference must be a string, got {type(value).__name__}")
    ref = value.strip().lower()
    if not _SUBJECT_REF.match(ref):
        raise ValueError(
            f"invalid subject reference {value!r}: use a name (letters, digits, '_', '-'), '#<track id>' or 'all'"
        )
    return ref


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


# The movements whose extent a shot may set, its unit and its largest value: an orbit's bearing sweep and a
# crane's elevation change in degrees, a truck's or pedestal's shift in metres (config/shots.yaml has the defaults)
MOVEMENT_EXTENTS: dict[str, tuple[str, float]] = {
    "orbit": ("deg", 720.0), "crane_up": ("deg", 90.0), "crane_down": ("deg", 90.0),
    "truck_left": ("m", 100.0), "truck_right": ("m", 100.0), "pedestal_up": ("m", 100.0), "pedestal_down": ("m", 100.0),
}


class Movement(_Model):
    """Camera movement over the shot; ``speed_mps`` overrides the word ``speed``, ``extent`` the move's default one."""

    type: MovementType = "static"
    speed: Speed = "normal"
    speed_mps: float | None = Field(default=None, gt=0, le=30)
    direction: OrbitDirection | None = None
    extent: float | None = Field(default=None, gt=0)  # deg (orbit, crane) or m (truck, pedestal): MOVEMENT_EXTENTS

    @model_validator(mode="after")
    def _direction_only_for_orbit(self) -> Movement:
        if self.direction is not None and self.type != "orbit":
            raise ValueError(f"movement.direction is only meaningful for an orbit, not {self.type!r}")
        return self

    @model_validator(mode="after")
    def _extent_within_its_movement(self) -> Movement:
        if self.extent is None:
            return self
        if self.type not in MOVEMENT_EXTENTS:
            raise ValueError(f"movement.extent is only meaningful for {', '.join(MOVEMENT_EXTENTS)}, not {self.type!r}")
        unit, largest = MOVEMENT_EXTENTS[self.type]
        if self.extent > largest:
            raise ValueError(f"movement.extent of a {self.type} is at most {largest:g} {unit}, got {self.extent:g}")
        return self


class Focus(_Model):
    """What is sharp: the focus target, the depth-of-field style and an optional rack."""

    target: str | None = None  # None: the primary subject
    depth_of_field: DepthOfFieldMode = "normal"
    rack_to: str | None = None
    rack_duration_s: float | None = Field(default=None, gt=0, le=60)

    _refs = field_validator("target", "rack_to")(lambda v: None if v is None else _check_subject_ref(v))

    @model_validator(mode="after")
    def _rack_duration_needs_rack(self) -> Focus:
        if self.rack_duration_s is not None and self.rack_to is None:
            raise ValueError("focus.rack_duration_s given without focus.rack_to")
        return self


class Lens(_Model):
    """Optional lens override; the MPC otherwise chooses the focal length itself."""

    focal_length_mm: float | None = Field(default=None, gt=1, le=1200)


class ShotSpec(_Model):
    """One shot, as a director would describe it.  See ``docs/shot_spec.schema.json``."""

    name: str | None = Field(default=None, max_length=80, description="preset name or free label")
    subjects: list[str] = Field(default_factory=lambda: ["all"], min_length=1, max_length=16)
    framing: Framing = "medium"
    screen_position: ScreenPosition = "center"
    angle: Angle = "eye_level"
    side: Side = "front"
    movement: Movement = Field(default_factory=Movement)
    focus: Focus = Field(default_factory=Focus)
    lens: Lens = Field(default_factory=Lens)
    distance_m: float | None = Field(default=None, gt=0, le=500)
    duration_s: float | None = Field(default=None, gt=0, le=3600)

    _subjects = field_validator("subjects")(lambda v: [_check_subject_ref(s) for s in v])

    @property
    def primary_subject(self) -> str:
        """The first subject reference: what composition and focus are about by default."""
        return self.subjects[0]

    @property
    def focus_target(self) -> str:
        """The subject the focus follows (the primary one unless the shot says otherwise)."""
        return self.focus.target or self.primary_subject

    def to_json(self) -> str:
        """Compact JSON with defaults written out, as sent on the wire."""
        return self.model_dump_json()


# ------------------------------------------------------------------ vocabulary


class ShotVocabulary(BaseModel):
    """The numbers behind the words, from ``config/shots.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    framing_height_fraction: dict[str, float]
    framing_head_v_fraction: dict[str, float]
    screen_position_u_fraction: dict[str, float]
    angle_elevation_deg: dict[str, float]
    speed_mps: dict[str, float]
    default_distance_m: dict[str, float]

    @model_validator(mode="after")
    def _complete(self) -> ShotVocabulary:
        for field, keys in (
            ("framing_height_fraction", FRAMINGS),
            ("framing_head_v_fraction", FRAMINGS),
            ("screen_position_u_fraction", SCREEN_POSITIONS),
            ("angle_elevation_deg", ANGLES),
            ("speed_mps", SPEEDS),
            ("default_distance_m", FRAMINGS),
        ):
            missing = set(keys) - set(getattr(self, field))
            if missing:
                raise ValueError(f"config/shots.yaml {field} lacks {sorted(missing)}")
        return self

    def movement_speed_mps(self, movement: Movement) -> float:
        """The movement speed in m/s: the explicit number or the word's value."""
        return movement.speed_mps if movement.speed_mps is not None else self.speed_mps[movement.speed]


def vocabulary() -> ShotVocabulary:
    """The framing/angle/speed table of ``config/shots.yaml``."""
    return ShotVocabulary(**load_yaml("shots.yaml")["vocabulary"])


def side_bearing_rad(side: str) -> float:
    """Camera bearing relative to the subject's heading for a ``side`` word."""
    return math.radians(SIDE_BEARING_DEG[side])


# -------------------------------------------------------------------- presets


def presets() -> dict[str, ShotSpec]:
    """Named shots from ``config/shots.yaml``, validated."""
    document = load_yaml("shots.yaml")
    return {name: ShotSpec(name=name, **spec) for name, spec in document["presets"].items()}


def preset(name: str) -> ShotSpec:
    """One preset by name; an unknown name lists the known ones."""
    known = presets()
    if name not in known:
        raise KeyError(f"unknown shot preset {name!r}; known: {', '.join(sorted(known))}")
    return known[name]


def load_shot(ref: str | Path) -> ShotSpec:
    """A shot from a preset name or a ShotSpec JSON/YAML file."""
    path = Path(ref)
    if path.suffix.lower() in (".json", ".yaml", ".yml") or path.is_file():
        if not path.is_file():
            raise FileNotFoundError(f"shot file {ref} not found")
        return parse_shot_document(path.read_text(encoding="utf-8"), source=str(path))
    return preset(str(ref))


def parse_shot_document(text: str, source: str = "<input>") -> ShotSpec:
    """Validate JSON (or YAML) text as a ShotSpec; errors name the field and the allowed values."""
    import yaml

    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ShotSpecError(f"{source}: neither JSON nor YAML: {exc}") from exc
    if not isinstance(document, dict):
        raise ShotSpecError(f"{source}: a shot must be a mapping of fields, got {type(document).__name__}")
    try:
        return ShotSpec(**document)
    except ValidationError as exc:
        raise ShotSpecError(f"{source}: " + describe_validation_error(exc)) from exc
    except TypeError as exc:
        raise ShotSpecError(f"{source}: {exc}") from exc


class ShotSpecError(ValueError):
    """An invalid shot, with a message that names the field and the allowed values."""


def describe_validation_error(exc: ValidationError) -> str:
    """One line per problem: ``field.path: message (allowed: a, b, c)``."""
    lines = []
    for error in exc.errors():
        loc = ".".join(str(part) for part in error["loc"]) or "shot"
        message = error["msg"]
        allowed = _allowed_values(error["loc"])
        if allowed and "Input should be" in message:
            message = f"{message} (allowed: {', '.join(allowed)})"
        lines.append(f"{loc}: {message}")
    return "; ".join(lines)


def _allowed_values(loc: tuple[Any, ...]) -> tuple[str, ...]:
    field = [part for part in loc if isinstance(part, str)]
    table = {
        ("framing",): FRAMINGS,
        ("screen_position",): SCREEN_POSITIONS,
        ("angle",): ANGLES,
        ("side",): SIDES,
        ("movement", "type"): MOVEMENT_TYPES,
        ("movement", "speed"): SPEEDS,
        ("movement", "direction"): ORBIT_DIRECTIONS,
        ("focus", "depth_of_field"): DEPTH_OF_FIELD_MODES,
    }
    return table.get(tuple(field), ())


def export_schema(path: str | Path) -> Path:
    """Write the ShotSpec JSON Schema (for the director app and third-party tools)."""
    path = Path(path)
    path.write_text(json.dumps(ShotSpec.model_json_schema(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path
