"""Scenario files: who walks where, what stands in the way, how far the background is.

A scenario is everything about a shot's world that is not the shot itself: the
actors and their scripts, obstacles and props, the backdrop distance, wind, the
camera profile and the drone's start pose, plus the default shot the evaluation
flies there.  The format is documented in ``docs/sim.md``; files live in
``sim/scenarios/*.yaml``.  Validation is strict (unknown keys are errors) so a
typo in a scenario fails loudly instead of silently simplifying the world.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from cinempc.shot import ShotSpec, describe_validation_error

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"

Vec2 = tuple[float, float]
Vec3 = tuple[float, float, float]
RGB = tuple[float, float, float]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ScriptStep(_Model):
    """One line of an actor's script; exactly one of ``to``, ``pause_s`` or ``turn_to_deg``.

    ``to``: walk/run in a straight line to this ground point at ``speed_mps``;
    ``pause_s``: stand still; ``turn_to_deg``: turn on the spot to face this heading
    (ENU, counter-clockwise from +x).  ``gait`` "auto" runs at or above the run
    threshold of ``config/sim.yaml``.
    """

    to: Vec2 | None = None
    speed_mps: float = Field(default=1.4, gt=0.0, le=10.0)
    gait: Literal["auto", "walk", "run"] = "auto"
    pause_s: float | None = Field(default=None, gt=0.0, le=3600.0)
    turn_to_deg: float | None = None

    @model_validator(mode="after")
    def _one_action(self) -> ScriptStep:
        actions = [self.to is not None, self.pause_s is not None, self.turn_to_deg is not None]
        if sum(actions) != 1:
            raise ValueError("a script step needs exactly one of 'to', 'pause_s' or 'turn_to_deg'")
        return self


class ActorSpec(_Model):
    """An articulated human figure and its script."""

    name: str = Field(min_length=1, max_length=40, pattern=r"^[a-z][a-z0-9_\-]*$")
    track_id: int = Field(ge=1, le=999_999)
    height_m: float = Field(default=1.75, gt=0.5, lt=2.5)
    build: float = Field(default=1.0, gt=0.5, lt=1.6, description="width scale: 1 is an average build")
    shirt_rgb: RGB = (0.8, 0.2, 0.2)
    trousers_rgb: RGB = (0.15, 0.15, 0.3)
    skin_rgb: RGB = (0.85, 0.65, 0.5)
    start_m: Vec2 = (0.0, 0.0)
    start_heading_deg: float = 0.0
    script: list[ScriptStep] = Field(default_factory=list)
    loop: bool = False

    @field_validator("shirt_rgb", "trousers_rgb", "skin_rgb")
    @classmethod
    def _unit_colour(cls, value: RGB) -> RGB:
        if not all(0.0 <= c <= 1.0 for c in value):
            raise ValueError(f"colours are RGB in 0..1, got {value}")
        return value


class ObstacleSpec(_Model):
    """A solid thing: the drone collides with it and the MPC is told about it.

    ``tree`` is a trunk cylinder with a sphere canopy (two obstacles for the MPC);
    ``pillar`` is a cylinder; ``wall`` and ``box`` are axis-aligned boxes.
    ``position_m`` is the ground point under the centre (boxes and spheres sit on
    the ground unless ``z_m`` lifts them).
    """

    kind: Literal["tree", "pillar", "cylinder", "sphere", "box", "wall"]
    position_m: Vec2
    z_m: float = 0.0
    radius_m: float | None = Field(default=None, gt=0.0, le=50.0)
    height_m: float | None = Field(default=None, gt=0.0, le=200.0)
    size_m: Vec3 | None = None  # box/wall: full extents x, y, z
    canopy_radius_m: float | None = Field(default=None, gt=0.0, le=30.0)
    rgb: RGB | None = None
    name: str = ""

    @model_validator(mode="after")
    def _dimensions(self) -> ObstacleSpec:
        if self.kind in ("tree", "pillar", "cylinder") and (self.radius_m is None or self.height_m is None):
            raise ValueError(f"a {self.kind} needs radius_m and height_m")
        if self.kind == "sphere" and self.radius_m is None:
            raise ValueError("a sphere needs radius_m")
        if self.kind in ("box", "wall"):
            if self.size_m is None or min(self.size_m) <= 0:
                raise ValueError(f"a {self.kind} needs size_m with three positive extents")
        return self


class WindSpec(_Model):
    """Steady wind plus Ornstein-Uhlenbeck gusts (seeded by the simulator's seed)."""

    mean_mps: Vec3 = (0.0, 0.0, 0.0)
    gust_std_mps: float = Field(default=0.0, ge=0.0, le=20.0)


class StartPose(_Model):
    """Where the drone hovers at t = 0, with its camera and lens settings."""

    position_m: Vec3 = (-8.0, 0.0, 2.5)
    yaw_deg: float = 0.0
    pitch_deg: float = -5.0
    focal_length_mm: float = Field(default=35.0, gt=0)
    focus_distance_m: float = Field(default=8.0, gt=0)
    f_number: float = Field(default=4.0, gt=0)


class Scenario(_Model):
    """One simulated world.  See ``docs/sim.md``."""

    name: str = Field(min_length=1, max_length=80)
    description: str = ""
    duration_s: float = Field(default=20.0, gt=0.0, le=3600.0)
    camera_profile: str = "sim_super35"
    start: StartPose = Field(default_factory=StartPose)
    actors: list[ActorSpec] = Field(min_length=1, max_length=12)
    obstacles: list[ObstacleSpec] = Field(default_factory=list, max_length=200)
    props: list[ObstacleSpec] = Field(default_factory=list, max_length=400)
    background_distance_m: float = Field(default=50.0, gt=5.0, le=300.0)
    background_center_m: Vec2 = (0.0, 0.0)
    wind: WindSpec = Field(default_factory=WindSpec)
    default_shot: str | dict[str, Any] = "follow_medium"

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        ids = [a.track_id for a in self.actors]
        names = [a.name for a in self.actors]
        if len(set(ids)) != len(ids):
            raise ValueError(f"actor track_id values must be unique, got {ids}")
        if len(set(names)) != len(names):
            raise ValueError(f"actor names must be unique, got {names}")
        if isinstance(self.default_shot, dict):
            ShotSpec(**self.default_shot)  # fail at load time, not when the evaluation reaches it
        return self

    def shot(self) -> ShotSpec:
        """The default shot as a ShotSpec (a preset name or an inline spec)."""
        from cinempc.shot import preset

        if isinstance(self.default_shot, dict):
            return ShotSpec(**self.default_shot)
        return preset(self.default_shot)

    @property
    def start_yaw_rad(self) -> float:
        return math.radians(self.start.yaw_deg)


class ScenarioError(ValueError):
    """A scenario file that does not parse or validate; the message names the file and the field."""


def scenario_paths(directory: str | Path = SCENARIO_DIR) -> list[Path]:
    """All scenario files of a folder, sorted by name (the evaluation suite)."""
    return sorted(Path(directory).glob("*.yaml"))


def load_scenario(ref: str | Path) -> Scenario:
    """A scenario from a file path or the name of a file in ``sim/scenarios``."""
    path = Path(ref)
    if not path.is_file():
        candidate = SCENARIO_DIR / (path.name if path.suffix else f"{path.name}.yaml")
        if not candidate.is_file():
            known = ", ".join(p.stem for p in scenario_paths())
            raise FileNotFoundError(f"scenario {ref!s} not found (known: {known})")
        path = candidate
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(document, dict):
        raise ScenarioError(f"{path}: a scenario must be a mapping, got {type(document).__name__}")
    document.setdefault("name", path.stem)
    try:
        return Scenario(**document)
    except ValidationError as exc:
        raise ScenarioError(f"{path}: " + describe_validation_error(exc)) from exc
