"""Procedural scenarios: random but valid worlds for benchmarks, drawn from a seed.

``generate_scene(seed)`` draws one :class:`~cinempc_sim.scenario.Scenario` from
``numpy.random.default_rng(seed)`` alone -- actors with scripted walks, runs,
corners, pauses and turn-backs; obstacles near their paths (sometimes between
the drone and the subject, sometimes a building); props at many depths; a
backdrop beyond everything; wind; a camera profile, drone start pose and lens
settings.  Every range and probability is in ``config/scene_generator.yaml``.

The rules every scene keeps (checked by :func:`scene_violations`; a drawn layout
that breaks one is thrown away and the next is drawn from the same stream):
everything inside the geofence of ``config/vehicle.yaml`` with a margin, solid
things clear of every actor's path and of the drone's start, the drone starting
at a bounded distance from the primary subject and roughly facing it, lens
settings inside the camera profile.  Given a shot, the scene fits it: every
subject reference resolves, a rack focus gets two standing actors at clearly
different depths, the scene lasts at least the shot's duration.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from cinempc.angles import wrap_angle
from cinempc.config import CameraProfile, VehicleConfig, camera_profiles, load_parameters, load_vehicle_config
from cinempc.shot import ShotSpec, presets, vocabulary
from cinempc_sim.scenario import ActorSpec, ObstacleSpec, Scenario, ScriptStep, StartPose, WindSpec

CONFIG_FILE = "scene_generator.yaml"
Point = tuple[float, float]
Segment2 = tuple[Point, Point]
MOTIONS = ("still", "walk", "run")


# ------------------------------------------------------------------ configuration


@dataclass(frozen=True)
class Interval:
    """A closed range of one drawn quantity."""

    min: float
    max: float

    def draw(self, rng: np.random.Generator) -> float:
        """A uniform draw from the range."""
        return float(rng.uniform(self.min, self.max))

    def draw_log(self, rng: np.random.Generator) -> float:
        """A log-uniform draw from the range (equal odds per ratio, e.g. per stop)."""
        return float(math.exp(rng.uniform(math.log(self.min), math.log(self.max))))

    def draw_int(self, rng: np.random.Generator) -> int:
        """A uniform integer draw, both ends included."""
        return int(rng.integers(int(self.min), int(self.max) + 1))

    def contains(self, value: float, tolerance: float = 1e-9) -> bool:
        """True if ``value`` lies in the range (up to ``tolerance``)."""
        return self.min - tolerance <= value <= self.max + tolerance


def _intervals(node: Any) -> Any:
    """The parameter tree with every ``{min, max}`` mapping turned into an :class:`Interval`."""
    if isinstance(node, dict):
        if set(node) == {"min", "max"}:
            return Interval(float(node["min"]), float(node["max"]))
        return {key: _intervals(value) for key, value in node.items()}
    return node


def generator_parameters() -> dict[str, Any]:
    """The ``scene_generator`` section of ``config/scene_generator.yaml``, ranges as Intervals."""
    return _intervals(load_parameters(CONFIG_FILE)["scene_generator"])


def _max_actors() -> int:
    """How many actors a Scenario may hold (its ``actors`` field's max_length)."""
    for item in Scenario.model_fields["actors"].metadata:
        if getattr(item, "max_length", None) is not None:
            return int(item.max_length)
    raise RuntimeError("Scenario.actors has no max_length")


# ------------------------------------------------------------------ plane geometry


@dataclass(frozen=True)
class Box2:
    """An axis-aligned rectangle of the ground plane."""

    min_m: Point
    max_m: Point

    @property
    def centre_m(self) -> Point:
        return ((self.min_m[0] + self.max_m[0]) / 2.0, (self.min_m[1] + self.max_m[1]) / 2.0)

    def contains(self, point: Point, tolerance: float = 1e-9) -> bool:
        """True if the point is inside (edges included)."""
        return all(lo - tolerance <= v <= hi + tolerance
                   for lo, v, hi in zip(self.min_m, point, self.max_m, strict=True))

    def contains_box(self, other: Box2) -> bool:
        """True if ``other`` lies wholly inside."""
        return self.contains(other.min_m) and self.contains(other.max_m)

    def shrunk(self, margin_m: float) -> Box2:
        """The rectangle moved inward by ``margin_m`` on every side."""
        return Box2((self.min_m[0] + margin_m, self.min_m[1] + margin_m),
                    (self.max_m[0] - margin_m, self.max_m[1] - margin_m))


def point_segment_distance_m(point: Point, segment: Segment2) -> float:
    """Distance from a point to a segment (a degenerate segment is a point)."""
    (ax, ay), (bx, by) = segment
    dx, dy = bx - ax, by - ay
    length2 = dx * dx + dy * dy
    s = 0.0 if length2 <= 0.0 else min(max(((point[0] - ax) * dx + (point[1] - ay) * dy) / length2, 0.0), 1.0)
    return math.hypot(point[0] - (ax + s * dx), point[1] - (ay + s * dy))


def _segments_cross(p: Segment2, q: Segment2) -> bool:
    """True if two segments intersect (touching counts)."""

    def orient(a: Point, b: Point, c: Point) -> float:
        return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])

    if (orient(q[0], q[1], p[0]) * orient(q[0], q[1], p[1]) < 0.0
            and orient(p[0], p[1], q[0]) * orient(p[0], p[1], q[1]) < 0.0):
        return True
    return min(point_segment_distance_m(p[0], q), point_segment_distance_m(p[1], q),
               point_segment_distance_m(q[0], p), point_segment_distance_m(q[1], p)) <= 1e-12


@dataclass(frozen=True)
class Footprint:
    """The ground-plane shape holding all of a solid: a disc, or a rectangle when ``half_extents_m`` is set."""

    centre_m: Point
    radius_m: float = 0.0
    half_extents_m: Point | None = None

    @property
    def bounds(self) -> Box2:
        hx, hy = self.half_extents_m or (self.radius_m, self.radius_m)
        return Box2((self.centre_m[0] - hx, self.centre_m[1] - hy), (self.centre_m[0] + hx, self.centre_m[1] + hy))

    def _corners(self) -> list[Point]:
        b = self.bounds
        return [(b.min_m[0], b.min_m[1]), (b.max_m[0], b.min_m[1]), (b.max_m[0], b.max_m[1]), (b.min_m[0], b.max_m[1])]

    def distance_to_point_m(self, point: Point) -> float:
        """Distance from a point to the shape (0 inside)."""
        if self.half_extents_m is None:
            return max(math.dist(point, self.centre_m) - self.radius_m, 0.0)
        dx = max(abs(point[0] - self.centre_m[0]) - self.half_extents_m[0], 0.0)
        dy = max(abs(point[1] - self.centre_m[1]) - self.half_extents_m[1], 0.0)
        return math.hypot(dx, dy)

    def distance_to_segment_m(self, segment: Segment2) -> float:
        """Distance from a segment to the shape (0 if they touch)."""
        if self.half_extents_m is None:
            return max(point_segment_distance_m(self.centre_m, segment) - self.radius_m, 0.0)
        corners = self._corners()
        edges = [(corners[i], corners[(i + 1) % 4]) for i in range(4)]
        if self.distance_to_point_m(segment[0]) == 0.0 or any(_segments_cross(segment, e) for e in edges):
            return 0.0
        return min([self.distance_to_point_m(segment[0]), self.distance_to_point_m(segment[1])]
                   + [point_segment_distance_m(c, segment) for c in corners])

    def gap_to_m(self, other: Footprint) -> float:
        """Distance between two shapes (0 if they overlap)."""
        if self.half_extents_m is None and other.half_extents_m is None:
            return max(math.dist(self.centre_m, other.centre_m) - self.radius_m - other.radius_m, 0.0)
        if self.half_extents_m is None:
            return max(other.distance_to_point_m(self.centre_m) - self.radius_m, 0.0)
        if other.half_extents_m is None:
            return max(self.distance_to_point_m(other.centre_m) - other.radius_m, 0.0)
        a, b = self.bounds, other.bounds
        dx = max(a.min_m[0] - b.max_m[0], b.min_m[0] - a.max_m[0], 0.0)
        dy = max(a.min_m[1] - b.max_m[1], b.min_m[1] - a.max_m[1], 0.0)
        return math.hypot(dx, dy)


def footprint(spec: ObstacleSpec) -> Footprint:
    """The footprint of an obstacle or prop: a tree's canopy counts, boxes and walls are rectangles."""
    centre = (float(spec.position_m[0]), float(spec.position_m[1]))
    if spec.kind in ("box", "wall"):
        return Footprint(centre, half_extents_m=(spec.size_m[0] / 2.0, spec.size_m[1] / 2.0))
    radius = float(spec.radius_m)
    if spec.kind == "tree":  # the canopy default is the world builder's (sim/world.py)
        radius = max(radius, spec.canopy_radius_m or max(1.2, 0.35 * float(spec.height_m)))
    return Footprint(centre, radius_m=radius)


def actor_path(actor: ActorSpec) -> list[Point]:
    """The ground points an actor's script visits, from its start (its whole path is the polyline)."""
    points = [(float(actor.start_m[0]), float(actor.start_m[1]))]
    points += [(float(s.to[0]), float(s.to[1])) for s in actor.script if s.to is not None]
    if actor.loop:
        points.append(points[0])
    return points


def path_segments(points: Sequence[Point]) -> list[Segment2]:
    """Consecutive pairs of a polyline; a lone point is one degenerate segment."""
    if len(points) == 1:
        return [(points[0], points[0])]
    return [(points[i], points[i + 1]) for i in range(len(points) - 1)]


def _round(value: float, digits: int = 2) -> float:
    """A value rounded for the YAML file (every check runs on the rounded value)."""
    return float(round(float(value), digits))


def _round_point(x: float, y: float) -> Point:
    """A ground point rounded to centimetres."""
    return (_round(x), _round(y))


def _toward_zero(value: float, digits: int = 2) -> float:
    """A value truncated toward zero, so rounding never makes a magnitude larger."""
    scale = 10.0 ** digits
    return float(math.trunc(value * scale) / scale)


def geofence_area(vehicle: VehicleConfig, margin_m: float) -> Box2:
    """The geofence of ``config/vehicle.yaml`` shrunk by ``margin_m``: where everything must be."""
    fence = Box2(tuple(vehicle.airspace.geofence_min_m), tuple(vehicle.airspace.geofence_max_m))
    return fence.shrunk(margin_m)


# ------------------------------------------------------------------ the cast a shot needs


@dataclass(frozen=True)
class Cast:
    """Actors a shot needs: names by track id, the primary subject and an optional rack-focus pair (indices)."""

    names: tuple[str, ...]  # index i holds track id i + 1
    primary_index: int
    rack_pair: tuple[int, int] | None  # (focus from, rack to)

    def resolve(self, ref: str) -> int | None:
        """The actor index a subject reference means; None for ``all``."""
        if ref == "all":
            return None
        if ref.startswith("#"):
            return int(ref[1:]) - 1
        return self.names.index(ref)


def shot_references(shot: ShotSpec) -> list[str]:
    """Every subject reference of a shot, in order: subjects, focus target, rack target."""
    refs = list(shot.subjects) + [shot.focus.target, shot.focus.rack_to]
    return [ref for ref in refs if ref is not None]


def _check_actor_name(name: str) -> str:
    """A shot's subject name must be a valid actor name (ActorSpec's pattern and length)."""
    try:
        ActorSpec(name=name, track_id=1)
    except ValueError as exc:
        raise ValueError(f"shot subject {name!r} cannot be an actor's name (lowercase letters, digits, '_', '-'; "
                         f"no spaces): {exc}") from exc
    return name


def _unique_name(base: str, taken: set[str]) -> str:
    """``base``, or ``base_2``, ``base_3``... whichever is not taken."""
    name, k = base, 1
    while name in taken:
        k += 1
        name = f"{base}_{k}"
    return name


def cast_for_shot(shot: ShotSpec | None, drawn_count: int, prefix: str) -> Cast:
    """The cast: ``#n`` needs track n, names go to the lowest track ids no ``#n`` claims, others get ``<prefix><n>``."""
    refs = shot_references(shot) if shot is not None else []
    claimed = {int(ref[1:]) for ref in refs if ref.startswith("#")}
    if 0 in claimed:
        raise ValueError("shot subject '#0' cannot exist: track ids start at 1")
    named = (ref for ref in refs if ref != "all" and not ref.startswith("#"))
    wanted_names = list(dict.fromkeys(_check_actor_name(ref) for ref in named))
    count = max(drawn_count, max(claimed, default=0))
    while sum(1 for t in range(1, count + 1) if t not in claimed) < len(wanted_names):
        count += 1
    if count > _max_actors():
        raise ValueError(f"the shot needs {count} actors; a scenario holds at most {_max_actors()}")
    names: list[str | None] = [None] * count
    free_ids = (t for t in range(1, count + 1) if t not in claimed)
    for name, track_id in zip(wanted_names, free_ids, strict=False):  # enough ids by the count
        names[track_id - 1] = name
    taken = {n for n in names if n is not None}
    for i, name in enumerate(names):
        if name is None:
            names[i] = _unique_name(f"{prefix}{i + 1}", taken)
            taken.add(names[i])
    cast = Cast(tuple(names), 0, None)
    if shot is None:
        return cast
    primary = cast.resolve(shot.primary_subject)
    primary = 0 if primary is None else primary
    rack_pair = None
    if shot.focus.rack_to is not None:
        source = cast.resolve(shot.focus_target)
        source = primary if source is None else source
        target = cast.resolve(shot.focus.rack_to)
        if target is not None and target != source:
            rack_pair = (source, target)
    return Cast(cast.names, primary, rack_pair)


def default_shot_entry(shot: ShotSpec | None) -> str | dict[str, Any]:
    """What the scenario's ``default_shot`` holds: the preset name for an unchanged preset, else the inline spec."""
    if shot is None:
        return Scenario.model_fields["default_shot"].default
    known = presets()
    if shot.name in known and known[shot.name] == shot:
        return shot.name
    return shot.model_dump(mode="json", exclude_none=True)


# ------------------------------------------------------------------ actors


@dataclass(frozen=True)
class Look:
    """An actor's appearance."""

    height_m: float
    build: float
    shirt_rgb: tuple[float, float, float]
    trousers_rgb: tuple[float, float, float]
    skin_rgb: tuple[float, float, float]


def _colour(rng: np.random.Generator, channel: Interval) -> tuple[float, float, float]:
    """An RGB colour with each channel drawn from ``channel``."""
    return tuple(_round(channel.draw(rng)) for _ in range(3))


def draw_look(rng: np.random.Generator, p: dict[str, Any]) -> Look:
    """Height, build and colours; skin is a listed tone with a little jitter."""
    tones = p["skin_tones"]
    tone = tones[int(rng.integers(len(tones)))]
    jitter = float(p["skin_jitter"])
    skin = tuple(_round(min(max(c + rng.uniform(-jitter, jitter), 0.0), 1.0)) for c in tone)
    return Look(_round(p["height_m"].draw(rng)), _round(p["build"].draw(rng)),
                _colour(rng, p["shirt_channel"]), _colour(rng, p["trousers_channel"]), skin)


def draw_motion(rng: np.random.Generator, weights: dict[str, float]) -> str:
    """``still``, ``walk`` or ``run`` with the configured odds."""
    odds = np.array([float(weights[m]) for m in MOTIONS])
    return MOTIONS[int(rng.choice(len(MOTIONS), p=odds / odds.sum()))]


def still_script(rng: np.random.Generator, duration_s: float, p: dict[str, Any]) -> list[ScriptStep]:
    """Standing: pauses, sometimes a turn on the spot between them, until the scene ends."""
    steps: list[ScriptStep] = []
    elapsed = 0.0
    while elapsed < duration_s:
        pause = _round(p["still_pause_s"].draw(rng), 1)
        steps.append(ScriptStep(pause_s=pause))
        elapsed += pause
        if elapsed < duration_s and rng.random() < p["still_turn_probability"]:
            steps.append(ScriptStep(turn_to_deg=_round(rng.uniform(-180.0, 180.0), 1)))
    return steps


def _next_leg(rng: np.random.Generator, position: Point, heading_rad: float, leg_m: float, area: Box2,
              p: dict[str, Any]) -> tuple[Point, float]:
    """The end of the next leg: a corner or a turn-back that stays in the area, else back toward its centre."""
    for _ in range(int(p["heading_attempts"])):
        if rng.random() < p["turn_back_probability"]:
            heading = heading_rad + math.pi
            length = leg_m * p["turn_back_leg_fraction"].draw(rng)
        else:
            heading = heading_rad + math.radians(p["corner_deg"].draw(rng))
            length = leg_m
        end = _round_point(position[0] + length * math.cos(heading), position[1] + length * math.sin(heading))
        if area.contains(end) and math.dist(end, position) > 0.0:
            return end, heading
    centre = area.centre_m
    length = min(leg_m, math.dist(position, centre))
    heading = math.atan2(centre[1] - position[1], centre[0] - position[0])
    return _round_point(position[0] + length * math.cos(heading), position[1] + length * math.sin(heading)), heading


def moving_script(rng: np.random.Generator, motion: str, start: Point, heading_rad: float, duration_s: float,
                  area: Box2, p: dict[str, Any]) -> list[ScriptStep]:
    """Walking or running legs with corners, turn-backs, pauses and look-arounds until the scene ends."""
    speed = p[f"{motion}_speed_mps"].draw(rng)
    leg_range: Interval = p[f"{motion}_leg_m"]
    jitter = float(p["leg_speed_jitter"])
    steps: list[ScriptStep] = []
    position, heading, elapsed = start, heading_rad, 0.0
    first = True
    while elapsed < duration_s:
        leg = leg_range.draw(rng)
        if first:  # the first leg goes the way the actor faces
            end = _round_point(start[0] + leg * math.cos(heading), start[1] + leg * math.sin(heading))
            if not area.contains(end):
                end, heading = _next_leg(rng, position, heading, leg, area, p)
            first = False
        else:
            end, heading = _next_leg(rng, position, heading, leg, area, p)
        leg_speed = _round(min(p["max_speed_mps"], speed * (1.0 + rng.uniform(-jitter, jitter))))
        if end == position:  # nowhere to go this time: draw the leg again
            continue
        steps.append(ScriptStep(to=end, speed_mps=leg_speed))
        elapsed += math.dist(position, end) / leg_speed
        position = end
        if rng.random() < p["pause_probability"]:
            pause = _round(p["pause_s"].draw(rng), 1)
            steps.append(ScriptStep(pause_s=pause))
            elapsed += pause
        if rng.random() < p["look_around_probability"]:
            steps.append(ScriptStep(turn_to_deg=_round(rng.uniform(-180.0, 180.0), 1)))
            pause = _round(p["pause_s"].draw(rng), 1)
            steps.append(ScriptStep(pause_s=pause))
            elapsed += pause
    return steps


def make_actor(index: int, name: str, look: Look, start: Point, heading_deg: float,
               script: list[ScriptStep]) -> ActorSpec:
    """One ActorSpec; track ids are 1-based indices."""
    heading_wrapped_deg = math.degrees(wrap_angle(math.radians(heading_deg)))  # the one wrap: [-180, 180)
    return ActorSpec(name=name, track_id=index + 1, height_m=look.height_m, build=look.build,
                     shirt_rgb=look.shirt_rgb, trousers_rgb=look.trousers_rgb, skin_rgb=look.skin_rgb,
                     start_m=start, start_heading_deg=_round(heading_wrapped_deg, 1), script=script)


# ------------------------------------------------------------------ solids


def _weighted_kind(rng: np.random.Generator, weights: dict[str, float]) -> str:
    """A kind drawn with the configured weights (in the file's order)."""
    kinds = list(weights)
    odds = np.array([float(weights[k]) for k in kinds])
    return kinds[int(rng.choice(len(kinds), p=odds / odds.sum()))]


def draw_obstacle(rng: np.random.Generator, kind: str, centre: Point, p: dict[str, Any]) -> ObstacleSpec:
    """An obstacle of ``kind`` at ``centre`` with drawn dimensions."""
    if kind == "tree":
        return ObstacleSpec(kind="tree", position_m=centre, radius_m=_round(p["tree_trunk_radius_m"].draw(rng)),
                            height_m=_round(p["tree_height_m"].draw(rng)),
                            canopy_radius_m=_round(p["tree_canopy_radius_m"].draw(rng)))
    if kind == "pillar":
        return ObstacleSpec(kind="pillar", position_m=centre, radius_m=_round(p["pillar_radius_m"].draw(rng)),
                            height_m=_round(p["pillar_height_m"].draw(rng)))
    if kind == "wall":
        length, thickness = _round(p["wall_length_m"].draw(rng)), _round(p["wall_thickness_m"].draw(rng))
        size = (length, thickness) if rng.random() < 0.5 else (thickness, length)
        return ObstacleSpec(kind="wall", position_m=centre, size_m=(*size, _round(p["wall_height_m"].draw(rng))),
                            rgb=_colour(rng, p["colour_channel"]))
    if kind == "box":
        return ObstacleSpec(kind="box", position_m=centre,
                            size_m=(_round(p["box_side_m"].draw(rng)), _round(p["box_side_m"].draw(rng)),
                                    _round(p["box_height_m"].draw(rng))),
                            rgb=_colour(rng, p["colour_channel"]))
    raise ValueError(f"unknown obstacle kind {kind!r}")


def draw_building(rng: np.random.Generator, centre: Point, p: dict[str, Any]) -> ObstacleSpec:
    """A building-sized block."""
    return ObstacleSpec(kind="box", name="building", position_m=centre,
                        size_m=(_round(p["building_width_m"].draw(rng)), _round(p["building_width_m"].draw(rng)),
                                _round(p["building_height_m"].draw(rng))),
                        rgb=_colour(rng, p["colour_channel"]))


def draw_prop(rng: np.random.Generator, kind: str, centre: Point, p: dict[str, Any]) -> ObstacleSpec:
    """A prop (a marker at some depth) of ``kind`` at ``centre``."""
    rgb = _colour(rng, p["colour_channel"])
    if kind == "box":
        return ObstacleSpec(kind="box", position_m=centre, rgb=rgb,
                            size_m=(_round(p["box_side_m"].draw(rng)), _round(p["box_side_m"].draw(rng)),
                                    _round(p["box_height_m"].draw(rng))))
    if kind == "pillar":
        return ObstacleSpec(kind="pillar", position_m=centre, rgb=rgb, radius_m=_round(p["pillar_radius_m"].draw(rng)),
                            height_m=_round(p["pillar_height_m"].draw(rng)))
    if kind == "sphere":
        return ObstacleSpec(kind="sphere", position_m=centre, rgb=rgb, radius_m=_round(p["sphere_radius_m"].draw(rng)))
    raise ValueError(f"unknown prop kind {kind!r}")


@dataclass
class Site:
    """What a new solid must keep clear of: the area, every path, the drone's start and the solids placed so far."""

    area: Box2
    segments: list[Segment2]
    start_m: Point
    path_clearance_m: float
    start_clearance_m: float
    gap_m: float
    placed: list[Footprint]

    def admits(self, spec: ObstacleSpec) -> bool:
        """True if the solid is inside the area and clear of paths, start and other solids."""
        shape = footprint(spec)
        return (self.area.contains_box(shape.bounds)
                and shape.distance_to_point_m(self.start_m) >= self.start_clearance_m
                and all(shape.distance_to_segment_m(s) >= self.path_clearance_m for s in self.segments)
                and all(shape.gap_to_m(other) >= self.gap_m for other in self.placed))

    def place(self, spec: ObstacleSpec, into: list[ObstacleSpec]) -> bool:
        """Add the solid to ``into`` if admitted."""
        if not self.admits(spec):
            return False
        into.append(spec)
        self.placed.append(footprint(spec))
        return True


def _point_near_path(rng: np.random.Generator, path: Sequence[Point], offset_m: float) -> Point:
    """A point ``offset_m`` sideways of a uniformly drawn point of a path (any side of a standing actor)."""
    segments = path_segments(path)
    lengths = np.array([math.dist(a, b) for a, b in segments])
    if lengths.sum() <= 0.0:
        bearing = rng.uniform(-math.pi, math.pi)
        return _round_point(path[0][0] + offset_m * math.cos(bearing), path[0][1] + offset_m * math.sin(bearing))
    k = int(rng.choice(len(segments), p=lengths / lengths.sum()))
    (ax, ay), (bx, by) = segments[k]
    s = rng.uniform(0.0, 1.0)
    side = 1.0 if rng.random() < 0.5 else -1.0
    nx, ny = -(by - ay) / lengths[k], (bx - ax) / lengths[k]
    return _round_point(ax + s * (bx - ax) + side * offset_m * nx, ay + s * (by - ay) + side * offset_m * ny)


def _moved(spec: ObstacleSpec, centre: Point) -> ObstacleSpec:
    """The same solid at another ground point (validated again)."""
    return ObstacleSpec(**{**spec.model_dump(exclude_unset=True), "position_m": centre})


def _half_width_m(spec: ObstacleSpec) -> float:
    """Half the footprint's largest horizontal extent: how far a centre must sit from a path."""
    shape = footprint(spec)
    return max(shape.half_extents_m) if shape.half_extents_m is not None else shape.radius_m


def place_obstacles(rng: np.random.Generator, site: Site, paths: list[list[Point]], primary_start: Point,
                    p: dict[str, Any], attempts: int) -> list[ObstacleSpec]:
    """A building sometimes, an obstacle between drone and subject sometimes, the rest beside the paths."""
    placed: list[ObstacleSpec] = []
    if rng.random() < p["building_probability"]:
        for _ in range(attempts):
            building = draw_building(rng, (0.0, 0.0), p)
            offset = _half_width_m(building) + p["path_clearance_m"] + p["building_offset_m"].draw(rng)
            centre = _point_near_path(rng, paths[int(rng.integers(len(paths)))], offset)
            if site.place(_moved(building, centre), placed):
                break
    if rng.random() < p["between_probability"]:
        for _ in range(attempts):
            f, lateral = p["between_fraction"].draw(rng), p["between_lateral_m"].draw(rng)
            (sx, sy), (tx, ty) = site.start_m, primary_start
            length = math.dist(site.start_m, primary_start)
            centre = _round_point(sx + f * (tx - sx) - lateral * (ty - sy) / length,
                                  sy + f * (ty - sy) + lateral * (tx - sx) / length)
            if site.place(draw_obstacle(rng, _weighted_kind(rng, p["kind_weights"]), centre, p), placed):
                break
    for _ in range(p["count"].draw_int(rng)):
        kind = _weighted_kind(rng, p["kind_weights"])
        for _ in range(attempts):
            spec = draw_obstacle(rng, kind, (0.0, 0.0), p)
            offset = _half_width_m(spec) + p["path_clearance_m"] + p["path_offset_m"].draw(rng)
            centre = _point_near_path(rng, paths[int(rng.integers(len(paths)))], offset)
            if site.place(_moved(spec, centre), placed):
                break
    return placed


def place_props(rng: np.random.Generator, site: Site, view_bearing_rad: float, p: dict[str, Any],
                attempts: int) -> list[ObstacleSpec]:
    """Props at many depths: prop k's distance from the drone's start is drawn from the k-th stratum of the range."""
    count = p["count"].draw_int(rng)
    depth: Interval = p["depth_m"]
    spread = math.radians(p["bearing_spread_deg"])
    placed: list[ObstacleSpec] = []
    for k in range(count):
        stratum = Interval(depth.min + k * (depth.max - depth.min) / count,
                           depth.min + (k + 1) * (depth.max - depth.min) / count)
        kind = _weighted_kind(rng, p["kind_weights"])
        for _ in range(attempts):
            distance = stratum.draw(rng)
            bearing = view_bearing_rad + rng.uniform(-spread, spread)
            centre = _round_point(site.start_m[0] + distance * math.cos(bearing),
                                  site.start_m[1] + distance * math.sin(bearing))
            if depth.contains(math.dist(centre, site.start_m)) and site.place(draw_prop(rng, kind, centre, p), placed):
                break
    return placed


# ------------------------------------------------------------------ the drone


def draw_start_position(rng: np.random.Generator, subject: Point, area: Box2, segments: list[Segment2],
                        vehicle: VehicleConfig, p: dict[str, Any], attempts: int) -> tuple[float, float, float] | None:
    """A start at a drawn distance and any bearing from the subject, in the area and clear of the paths."""
    band = Interval(max(p["height_m"].min, vehicle.airspace.altitude_floor_m),
                    min(p["height_m"].max, vehicle.airspace.altitude_ceiling_m))
    for _ in range(attempts):
        distance, bearing = p["distance_m"].draw(rng), rng.uniform(-math.pi, math.pi)
        xy = _round_point(subject[0] + distance * math.cos(bearing), subject[1] + distance * math.sin(bearing))
        height = _round(band.draw(rng))
        if (area.contains(xy) and p["distance_m"].contains(math.dist(xy, subject)) and band.contains(height)
                and all(point_segment_distance_m(xy, s) >= p["path_clearance_m"] for s in segments)):
            return (*xy, height)
    return None


def draw_start_pose(rng: np.random.Generator, position: tuple[float, float, float], subject: ActorSpec,
                    camera: CameraProfile, p: dict[str, Any]) -> StartPose:
    """Yaw at the subject within the offset range, a mild pitch toward its chest, lens inside the profile."""
    dx, dy = subject.start_m[0] - position[0], subject.start_m[1] - position[1]
    ground_m = math.hypot(dx, dy)
    yaw_deg = math.degrees(math.atan2(dy, dx)) + p["yaw_offset_deg"].draw(rng)
    yaw = math.degrees(wrap_angle(math.radians(yaw_deg)))  # the one wrap (cinempc.angles): [-180, 180)
    dz = p["chest_height_fraction"] * subject.height_m - position[2]
    pitch_range: Interval = p["pitch_deg"]
    pitch = math.degrees(math.atan2(dz, ground_m)) + p["pitch_noise_deg"].draw(rng)
    pitch = min(max(pitch, pitch_range.min), pitch_range.max)
    focal = Interval(camera.focal_length_mm.min,
                     min(camera.focal_length_mm.max, camera.focal_length_mm.min * p["focal_length_span"]))
    focus = math.hypot(ground_m, dz) * p["focus_distance_factor"].draw(rng)
    f_number = Interval(camera.f_number.min, camera.f_number.max).draw_log(rng)
    return StartPose(position_m=position, yaw_deg=_round(yaw), pitch_deg=_round(pitch),
                     focal_length_mm=camera.focal_length_mm.clamp(_round(focal.draw_log(rng), 1)),
                     focus_distance_m=camera.focus_distance_m.clamp(_round(focus)),
                     f_number=camera.f_number.clamp(_round(f_number, 1)))


# ------------------------------------------------------------------ the scene


@dataclass(frozen=True)
class SceneDraws:
    """What is drawn once per scene, before the layout (which may be drawn again)."""

    scene_seed: int
    duration_s: float
    camera: CameraProfile
    cast: Cast
    looks: tuple[Look, ...]
    motions: tuple[str, ...]
    wind: WindSpec
    default_shot: str | dict[str, Any]
    group: bool = False  # the shot frames everyone: the actors walk as one group
    group_radius_m: float = 0.0  # ... every member within this of the primary (the group fits the frame)


def group_radius_m(shot: ShotSpec, camera: CameraProfile, a: dict[str, Any]) -> float:
    """How far from the primary a group member may stand so the whole group fits the shot's frame width from
    any side: half the frame's width at the framing (shortest actor), times the fill, less a body's width."""
    frame_height_m = a["height_m"].min / vocabulary().framing_height_fraction[shot.framing]
    frame_width_m = frame_height_m * camera.image_width_px / camera.image_height_px
    return 0.5 * (frame_width_m * a["group_frame_fill"] - a["group_body_width_m"])


def draw_scene_basics(rng: np.random.Generator, scene_seed: int, shot: ShotSpec | None, duration_s: float | None,
                      params: dict[str, Any]) -> SceneDraws:
    """Camera profile (uniform), duration (at least the shot's), cast, looks, motions and wind."""
    profiles = camera_profiles()
    camera = profiles[sorted(profiles)[int(rng.integers(len(profiles)))]]
    duration = float(duration_s) if duration_s is not None else _round(params["duration_s"].draw(rng), 1)
    if shot is not None and shot.duration_s is not None:
        duration = max(duration, float(shot.duration_s))
    a = params["actors"]
    weights = np.array([float(w) for w in a["count_weights"]])
    drawn_count = 1 + int(rng.choice(len(weights), p=weights / weights.sum()))
    radius = 0.0
    if frames_everyone(shot) and shot.focus.rack_to is None:
        radius = min(group_radius_m(shot, camera, a), a["group_spacing_m"].max)
        if radius < a["group_spacing_m"].min:
            drawn_count = 1  # "all" in a frame too narrow for two people: the shot is of one person
    cast = cast_for_shot(shot, drawn_count, params["actor_name_prefix"])
    looks = tuple(draw_look(rng, a) for _ in cast.names)
    motions = [draw_motion(rng, a["motion_weights"]) for _ in cast.names]
    for index in cast.rack_pair or ():
        motions[index] = "still"  # a rack focus needs its two depths to hold
    w = params["wind"]
    speed, direction = w["mean_speed_mps"].draw(rng), rng.uniform(-math.pi, math.pi)
    wind = WindSpec(mean_mps=(_toward_zero(speed * math.cos(direction)), _toward_zero(speed * math.sin(direction)),
                              0.0),
                    gust_std_mps=_round(w["gust_std_mps"].draw(rng)))
    return SceneDraws(scene_seed, duration, camera, cast, looks, tuple(motions), wind, default_shot_entry(shot),
                      group=frames_everyone(shot) and cast.rack_pair is None, group_radius_m=radius)


def frames_everyone(shot: ShotSpec | None) -> bool:
    """True when the shot frames ``all``: every actor is in the picture, so they must make one group."""
    return shot is not None and "all" in shot.subjects


def group_script(script: list[ScriptStep], offset: Point) -> list[ScriptStep]:
    """The same script walked beside the first, ``offset`` away (a group walking together)."""
    return [step.model_copy(update={"to": _round_point(step.to[0] + offset[0], step.to[1] + offset[1])})
            if step.to is not None else step for step in script]


def _actor_script(rng: np.random.Generator, motion: str, start: Point, heading_rad: float, duration_s: float,
                  area: Box2, p: dict[str, Any]) -> list[ScriptStep]:
    """The script for a motion kind."""
    if motion == "still":
        return still_script(rng, duration_s, p)
    return moving_script(rng, motion, start, heading_rad, duration_s, area, p)


def _view_frame(start: Point, subject: Point) -> tuple[Point, Point]:
    """Unit vectors along the view from the drone's start to the subject, and to its left."""
    dx, dy = subject[0] - start[0], subject[1] - start[1]
    norm = math.hypot(dx, dy)
    return (dx / norm, dy / norm), (-dy / norm, dx / norm)


def _side(rng: np.random.Generator) -> float:
    """+1 or -1 with equal odds."""
    return 1.0 if rng.random() < 0.5 else -1.0


def beside(rng: np.random.Generator, anchor: Point, start: Point, subject: Point, p: dict[str, Any]) -> Point:
    """A point at the anchor's depth, a drawn lateral offset to either side of it."""
    _, left = _view_frame(start, subject)
    lateral = _side(rng) * p["lateral_offset_m"].draw(rng)
    return _round_point(anchor[0] + lateral * left[0], anchor[1] + lateral * left[1])


def rack_partner(rng: np.random.Generator, anchor: Point, start: Point, subject: Point, p: dict[str, Any]) -> Point:
    """A drawn depth separation nearer (if it stays ``min_depth_m`` in front) or farther than the anchor, aside."""
    view, left = _view_frame(start, subject)
    depth = (anchor[0] - start[0]) * view[0] + (anchor[1] - start[1]) * view[1]
    separation = p["depth_separation_m"].draw(rng)
    sign = _side(rng)
    if depth - separation < p["min_depth_m"]:
        sign = 1.0
    lateral = _side(rng) * p["lateral_offset_m"].draw(rng)
    return _round_point(anchor[0] + sign * separation * view[0] + lateral * left[0],
                        anchor[1] + sign * separation * view[1] + lateral * left[1])


@dataclass
class Blocking:
    """Actors' starts, headings and scripts while a layout is drawn."""

    starts: list[Point | None]
    headings_rad: list[float]
    scripts: list[list[ScriptStep] | None]

    def path(self, i: int) -> list[Point]:
        """Actor i's path so far."""
        return actor_path(ActorSpec(name="blocking", track_id=1, start_m=self.starts[i], script=self.scripts[i]))


def _script_actor(rng: np.random.Generator, blocking: Blocking, i: int, draws: SceneDraws, area: Box2,
                  p: dict[str, Any]) -> None:
    """Draw actor i's heading and script from its start."""
    blocking.headings_rad[i] = rng.uniform(-math.pi, math.pi)
    blocking.scripts[i] = _actor_script(rng, draws.motions[i], blocking.starts[i], blocking.headings_rad[i],
                                        draws.duration_s, area, p)


def _clear_of(point: Point, path: Sequence[Point], clearance_m: float) -> bool:
    """True if every segment of the path keeps ``clearance_m`` from the point."""
    return all(point_segment_distance_m(point, s) >= clearance_m for s in path_segments(path))


def _apart(blocking: Blocking, i: int, spacing_m: float) -> bool:
    """True if actor i starts at least ``spacing_m`` from every actor placed before it."""
    here = blocking.starts[i]
    return all(math.dist(here, blocking.starts[j]) >= spacing_m for j in range(len(blocking.starts))
               if j != i and blocking.starts[j] is not None and blocking.scripts[j] is not None)


def block_actors(rng: np.random.Generator, draws: SceneDraws, params: dict[str, Any], vehicle: VehicleConfig,
                 area: Box2) -> tuple[Blocking, tuple[float, float, float]] | None:
    """Primary subject, drone start, rack-focus pair, then companions clear of the start; None if stuck."""
    a, attempts, drone = params["actors"], int(params["placement_attempts"]), params["drone"]
    cast, n = draws.cast, len(draws.cast.names)
    blocking = Blocking([None] * n, [0.0] * n, [None] * n)
    primary = cast.primary_index
    centre, half = area.centre_m, params["area"]["primary_start_half_size_m"]
    blocking.starts[primary] = _round_point(centre[0] + rng.uniform(-half, half), centre[1] + rng.uniform(-half, half))
    _script_actor(rng, blocking, primary, draws, area, a)
    start = draw_start_position(rng, blocking.starts[primary], area, path_segments(blocking.path(primary)), vehicle,
                                drone, attempts)
    if start is None:
        return None
    start_xy, subject = (start[0], start[1]), blocking.starts[primary]
    if cast.rack_pair is not None:
        anchor = primary if primary in cast.rack_pair else cast.rack_pair[0]
        if blocking.starts[anchor] is None:  # neither member is the primary subject: one stands beside it
            blocking.starts[anchor] = beside(rng, subject, start_xy, subject, params["rack_focus"])
        partner = cast.rack_pair[1] if anchor == cast.rack_pair[0] else cast.rack_pair[0]
        blocking.starts[partner] = rack_partner(rng, blocking.starts[anchor], start_xy, subject, params["rack_focus"])
        for i in (anchor, partner):
            if blocking.scripts[i] is None:
                _script_actor(rng, blocking, i, draws, area, a)
    for i in range(n):
        for _ in range(attempts):
            if blocking.scripts[i] is not None and _clear_of(start_xy, blocking.path(i), drone["path_clearance_m"]) \
                    and all(area.contains(q) for q in blocking.path(i)) \
                    and (not draws.group or _apart(blocking, i, a["group_spacing_m"].min)):
                break
            if i in (cast.rack_pair or ()) or i == primary:
                return None
            if draws.group:  # the framed group walks together, every member within the frame's reach
                distance = rng.uniform(a["group_spacing_m"].min, draws.group_radius_m)
                bearing = rng.uniform(-math.pi, math.pi)
                offset = (distance * math.cos(bearing), distance * math.sin(bearing))
                blocking.starts[i] = _round_point(subject[0] + offset[0], subject[1] + offset[1])
                blocking.headings_rad[i] = blocking.headings_rad[primary]
                blocking.scripts[i] = group_script(blocking.scripts[primary], offset)
                continue
            distance, bearing = a["companion_distance_m"].draw(rng), rng.uniform(-math.pi, math.pi)
            blocking.starts[i] = _round_point(subject[0] + distance * math.cos(bearing),
                                              subject[1] + distance * math.sin(bearing))
            _script_actor(rng, blocking, i, draws, area, a)
        else:
            return None
    return blocking, start


def draw_layout(rng: np.random.Generator, draws: SceneDraws, params: dict[str, Any], vehicle: VehicleConfig,
                area: Box2) -> Scenario | None:
    """Actors, drone start, obstacles, props and backdrop; None when a rule cannot be met (draw again)."""
    blocked = block_actors(rng, draws, params, vehicle, area)
    if blocked is None:
        return None
    blocking, start = blocked
    start_xy = (start[0], start[1])
    n, primary = len(draws.cast.names), draws.cast.primary_index
    paths = [blocking.path(i) for i in range(n)]
    if not all(area.contains(q) for path in paths for q in path):
        return None
    actors = [make_actor(i, draws.cast.names[i], draws.looks[i], blocking.starts[i],
                         math.degrees(blocking.headings_rad[i]), blocking.scripts[i]) for i in range(n)]
    o, attempts = params["obstacles"], int(params["placement_attempts"])
    segments = [s for path in paths for s in path_segments(path)]
    site = Site(area, segments, start_xy, o["path_clearance_m"], o["start_clearance_m"], o["gap_m"], [])
    subject = blocking.starts[primary]
    obstacles = place_obstacles(rng, site, paths, subject, o, attempts)
    view_bearing = math.atan2(subject[1] - start_xy[1], subject[0] - start_xy[0])
    props = place_props(rng, site, view_bearing, params["props"], attempts)
    pose = draw_start_pose(rng, start, actors[primary], draws.camera, params["drone"])
    backdrop_centre, backdrop_half = backdrop(paths, obstacles + props, start_xy,
                                              params["background"]["margin_m"].draw(rng))
    return Scenario(
        name=f"{params['name_prefix']}_{draws.scene_seed}",
        description=describe(draws, obstacles, props),
        duration_s=draws.duration_s, camera_profile=draws.camera.name, start=pose, actors=actors,
        obstacles=obstacles, props=props, background_distance_m=backdrop_half, background_center_m=backdrop_centre,
        wind=draws.wind, default_shot=draws.default_shot,
    )


def scene_extent(paths: Iterable[Sequence[Point]], solids: Iterable[ObstacleSpec], start: Point) -> Box2:
    """The rectangle holding every path, every solid's footprint and the drone's start."""
    xs, ys = [start[0]], [start[1]]
    for path in paths:
        xs += [q[0] for q in path]
        ys += [q[1] for q in path]
    for spec in solids:
        b = footprint(spec).bounds
        xs += [b.min_m[0], b.max_m[0]]
        ys += [b.min_m[1], b.max_m[1]]
    return Box2((min(xs), min(ys)), (max(xs), max(ys)))


def _reach_m(extent: Box2, centre: Point) -> float:
    """How far the extent reaches from ``centre`` along either axis (the backdrop is a square)."""
    return max(max(abs(extent.min_m[i] - centre[i]), abs(extent.max_m[i] - centre[i])) for i in range(2))


def backdrop(paths: list[list[Point]], solids: list[ObstacleSpec], start: Point,
             margin_m: float) -> tuple[Point, float]:
    """Backdrop centre and half-size (``background_distance_m``): ``margin_m`` beyond everything in the scene."""
    extent = scene_extent(paths, solids, start)
    centre = _round_point(*extent.centre_m)
    return centre, _round(math.ceil(_reach_m(extent, centre) + margin_m), 1)


def describe(draws: SceneDraws, obstacles: list[ObstacleSpec], props: list[ObstacleSpec]) -> str:
    """A one-line summary for the scenario's description."""
    moves = ", ".join(f"{name} {motion}" for name, motion in zip(draws.cast.names, draws.motions, strict=True))
    building = " incl. a building" if any(o.name == "building" for o in obstacles) else ""
    wind = math.hypot(*draws.wind.mean_mps[:2])
    return (f"Generated from scene seed {draws.scene_seed}: {moves}; {len(obstacles)} obstacles{building}, "
            f"{len(props)} props; {draws.camera.name}; wind {wind:.1f} m/s, gusts {draws.wind.gust_std_mps:.1f} m/s.")


# ------------------------------------------------------------------ rules


def resolve_reference(scenario: Scenario, ref: str) -> int | None:
    """Index of the actor a subject reference means in a scenario; None for ``all`` or no such actor."""
    for i, actor in enumerate(scenario.actors):
        if ref in (f"#{actor.track_id}", actor.name):
            return i
    return None


def primary_index(scenario: Scenario, shot: ShotSpec | None) -> int:
    """The actor the drone starts near: the shot's primary subject, track 1 for ``all`` or no shot."""
    index = resolve_reference(scenario, shot.primary_subject) if shot is not None else None
    return index if index is not None else next(i for i, a in enumerate(scenario.actors) if a.track_id == 1)


def rack_pair(scenario: Scenario, shot: ShotSpec | None) -> tuple[int, int] | None:
    """Indices of the actors a shot racks focus from and to; None without a rack between two actors."""
    if shot is None or shot.focus.rack_to is None:
        return None
    source = resolve_reference(scenario, shot.focus_target)
    source = primary_index(scenario, shot) if source is None else source
    target = resolve_reference(scenario, shot.focus.rack_to)
    return None if target is None or target == source else (source, target)


def depths_along_view_m(scenario: Scenario, shot: ShotSpec | None, indices: Iterable[int]) -> list[float] | None:
    """Distances of standing actors from the drone's start, along its line to the primary subject.

    None if any of them moves (then no single depth holds for the scene).
    """
    start = (scenario.start.position_m[0], scenario.start.position_m[1])
    view, _ = _view_frame(start, tuple(scenario.actors[primary_index(scenario, shot)].start_m))
    depths = []
    for i in indices:
        path = actor_path(scenario.actors[i])
        if len(set(path)) > 1:
            return None
        depths.append((path[0][0] - start[0]) * view[0] + (path[0][1] - start[1]) * view[1])
    return depths


def _shot_violations(scenario: Scenario, shot: ShotSpec, params: dict[str, Any]) -> list[str]:
    """Subject references that do not resolve, a scene shorter than the shot, a rack pair too close in depth."""
    problems = [f"no actor for {ref!r}" for ref in shot_references(shot)
                if ref != "all" and resolve_reference(scenario, ref) is None]
    if shot.duration_s is not None and scenario.duration_s < shot.duration_s:
        problems.append("scene shorter than the shot")
    pair = rack_pair(scenario, shot)
    if shot.focus.rack_to is not None and shot.focus.rack_to != "all" and pair is not None:
        rules = params["rack_focus"]
        depths = depths_along_view_m(scenario, shot, pair)
        if depths is None or abs(depths[0] - depths[1]) < rules["min_depth_separation_m"] - 1e-6 or (
                min(depths) < rules["min_depth_m"] - 1e-6):
            problems.append(f"rack-focus pair not standing {rules['min_depth_separation_m']} m apart in depth")
    return problems


def _solid_violations(scenario: Scenario, area: Box2, segments: list[Segment2], params: dict[str, Any]) -> list[str]:
    """Obstacles and props outside the area, on a path or at the drone's start; props outside the depth range."""
    o, depth = params["obstacles"], params["props"]["depth_m"]
    start = (scenario.start.position_m[0], scenario.start.position_m[1])
    problems = []
    for label, solids in (("obstacle", scenario.obstacles), ("prop", scenario.props)):
        for spec in solids:
            shape = footprint(spec)
            if not area.contains_box(shape.bounds):
                problems.append(f"{label} at {spec.position_m} outside the area")
            if any(shape.distance_to_segment_m(s) < o["path_clearance_m"] - 1e-9 for s in segments):
                problems.append(f"{label} at {spec.position_m} on an actor's path")
            if shape.distance_to_point_m(start) < o["start_clearance_m"] - 1e-9:
                problems.append(f"{label} at {spec.position_m} at the drone's start")
    problems += [f"prop at {spec.position_m} outside the depth range" for spec in scenario.props
                 if not depth.contains(math.dist(start, spec.position_m))]
    return problems


def _start_violations(scenario: Scenario, shot: ShotSpec | None, area: Box2, segments: list[Segment2],
                      vehicle: VehicleConfig, params: dict[str, Any]) -> list[str]:
    """Drone start outside the area or band, too near or far, not facing the subject, on a path; lens off range."""
    d = params["drone"]
    x, y, z = scenario.start.position_m
    subject = scenario.actors[primary_index(scenario, shot)].start_m
    problems = []
    if not area.contains((x, y)):
        problems.append("drone start outside the area")
    if not (d["height_m"].contains(z) and vehicle.airspace.contains((x, y, z))):
        problems.append(f"drone start height {z} m")
    if not d["distance_m"].contains(math.dist((x, y), subject), 1e-6):
        problems.append("drone start distance to the primary subject")
    bearing = math.degrees(math.atan2(subject[1] - y, subject[0] - x))
    offset_deg = math.degrees(wrap_angle(math.radians(scenario.start.yaw_deg - bearing)))
    if not d["yaw_offset_deg"].contains(offset_deg, 0.01):
        problems.append("drone start does not face the primary subject")
    if not d["pitch_deg"].contains(scenario.start.pitch_deg):
        problems.append("drone start pitch")
    if any(point_segment_distance_m((x, y), s) < d["path_clearance_m"] - 1e-9 for s in segments):
        problems.append("drone start on an actor's path")
    camera = camera_profiles()[scenario.camera_profile]
    lens = scenario.start
    for value, limits in ((lens.focal_length_mm, camera.focal_length_mm), (lens.focus_distance_m,
                                                                           camera.focus_distance_m),
                          (lens.f_number, camera.f_number)):
        if not limits.min <= value <= limits.max:
            problems.append(f"lens setting {value} outside the camera profile's {limits.min}..{limits.max}")
    return problems


def scene_violations(scenario: Scenario, shot: ShotSpec | None = None) -> list[str]:
    """Every rule of the generator (``config/scene_generator.yaml``) the scenario breaks; empty if none."""
    params = generator_parameters()
    vehicle = load_vehicle_config()
    area = geofence_area(vehicle, params["area"]["geofence_margin_m"])
    a = params["actors"]
    problems: list[str] = []
    if [actor.track_id for actor in scenario.actors] != list(range(1, len(scenario.actors) + 1)):
        problems.append("track ids are not 1..n")
    paths = [actor_path(actor) for actor in scenario.actors]
    segments = [s for path in paths for s in path_segments(path)]
    for actor, path in zip(scenario.actors, paths, strict=True):
        if not a["height_m"].contains(actor.height_m):
            problems.append(f"{actor.name}: height {actor.height_m} m")
        if any(s.speed_mps > a["max_speed_mps"] for s in actor.script if s.to is not None):
            problems.append(f"{actor.name}: faster than {a['max_speed_mps']} m/s")
        if not all(area.contains(q) for q in path):
            problems.append(f"{actor.name}: path leaves the area")
    problems += _start_violations(scenario, shot, area, segments, vehicle, params)
    problems += _solid_violations(scenario, area, segments, params)
    wind = params["wind"]
    if not (math.hypot(*scenario.wind.mean_mps) <= wind["mean_speed_mps"].max
            and wind["gust_std_mps"].contains(scenario.wind.gust_std_mps)):
        problems.append("wind out of range")
    start = (scenario.start.position_m[0], scenario.start.position_m[1])
    extent = scene_extent(paths, list(scenario.obstacles) + list(scenario.props), start)
    reach = _reach_m(extent, tuple(scenario.background_center_m))
    if reach + params["background"]["margin_m"].min > scenario.background_distance_m + 1e-9:
        problems.append("backdrop nearer than its margin beyond the scene")
    if shot is not None:
        problems += _shot_violations(scenario, shot, params)
    return problems


# ------------------------------------------------------------------ API


def generate_scene(scene_seed: int, shot: ShotSpec | None = None, duration_s: float | None = None) -> Scenario:
    """One scenario, a pure function of its arguments (and the config files): ``default_rng(scene_seed)``."""
    if scene_seed < 0:
        raise ValueError(f"scene seed must be >= 0, got {scene_seed}")
    if duration_s is not None and not duration_s > 0:
        raise ValueError(f"duration_s must be positive, got {duration_s}")
    params = generator_parameters()
    vehicle = load_vehicle_config()
    area = geofence_area(vehicle, params["area"]["geofence_margin_m"])
    rng = np.random.default_rng(scene_seed)
    draws = draw_scene_basics(rng, scene_seed, shot, duration_s, params)
    for _ in range(int(params["max_attempts"])):
        scenario = draw_layout(rng, draws, params, vehicle, area)
        if scenario is not None and not scene_violations(scenario, shot):
            return scenario
    raise RuntimeError(f"scene seed {scene_seed}: no layout kept the rules in {params['max_attempts']} attempts")


def generate_scenes(seed: int, count: int, shot: ShotSpec | None = None,
                    duration_s: float | None = None) -> list[Scenario]:
    """``count`` scenarios; scene i is ``generate_scene(seed + i, ...)``."""
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    return [generate_scene(seed + i, shot, duration_s) for i in range(count)]


class _FlowMap(dict):
    """A mapping written on one line (``{to: [1.0, 2.0], speed_mps: 1.4}``), as in the hand-written scenarios."""


class _ScenarioDumper(yaml.SafeDumper):
    """YAML dumper that writes :class:`_FlowMap` in flow style."""


_ScenarioDumper.add_representer(
    _FlowMap, lambda dumper, data: dumper.represent_mapping("tag:yaml.org,2002:map", data.items(), flow_style=True))


def scenario_document(scenario: Scenario) -> dict[str, Any]:
    """The scenario as a YAML-ready mapping: fields that were set, small mappings on one line."""
    document = scenario.model_dump(mode="json", exclude_unset=True)
    for key in ("start", "wind"):
        if key in document:
            document[key] = _FlowMap(document[key])
    for key in ("obstacles", "props"):
        document[key] = [_FlowMap(item) for item in document.get(key, [])]
    for actor in document["actors"]:
        actor["script"] = [_FlowMap(step) for step in actor.get("script", [])]
    return document


def write_scenario(scenario: Scenario, path: str | Path) -> Path:
    """Write a scenario file that ``load_scenario`` reads back to an equal Scenario."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = ("# Generated by cinempc_sim.scene_generator (config/scene_generator.yaml); "
              "regenerate rather than edit.\n")
    body = yaml.dump(scenario_document(scenario), Dumper=_ScenarioDumper, sort_keys=False, default_flow_style=None,
                     width=4096, allow_unicode=False)
    path.write_text(header + body, encoding="utf-8")
    return path
