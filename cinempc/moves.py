"""What a camera movement keeps, what it changes and how far it goes: the meaning of a move.

A shot is acquire -> move -> hold.  The rig first acquires the shot's start frame (framing
size, screen position, angle) from wherever it is, with pose and lens together; the move then
runs over its extent, measured from where the rig was when the frame was acquired; then the
shot holds its final frame.  This module is the one statement of those semantics, read both
by the MPC (to build its references) and by the examiner (to know what size to expect when),
so neither reads the other.  The numbers live in ``config/shots.yaml`` ``movements``; the
table is written out in ``docs/shots.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum
from functools import lru_cache

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from cinempc.config import Airspace, CameraProfile, load_yaml
from cinempc.shot import MOVEMENT_EXTENTS, MOVEMENT_TYPES, Movement, ShotSpec, ShotVocabulary


class Lens(str, Enum):
    """What the zoom does during the move (it is always free while acquiring)."""

    FREE = "free"  # zoom keeps the framing while the viewpoint changes
    HOLD = "hold"  # fixed lens: the size changes only with distance (a dolly, not a zoom)
    DOLLY_ZOOM = "dolly_zoom"  # focal length scales with distance, so the size stays


class Anchor(str, Enum):
    """What the camera's reference position is tied to during the move."""

    SUBJECT = "subject"  # an offset from the framed group (follows it while it walks)
    WORLD = "world"  # a place: the camera stays where it acquired the frame (static)


class MoveConfig(BaseModel):
    """One movement's row of ``config/shots.yaml`` ``movements``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    lens: Lens = Lens.FREE
    anchor: Anchor = Anchor.SUBJECT
    keeps: tuple[str, ...] = ()
    changes: tuple[str, ...] = ()
    acquires_side: bool = False  # the start frame includes the shot's side of the subject
    size_ratio: float = Field(default=1.0, gt=0.0, le=10.0)  # end size / start size (through distance)
    bearing_sweep_deg: float = Field(default=0.0, ge=0.0, le=720.0)
    elevation_change_deg: float = Field(default=0.0, ge=-90.0, le=90.0)
    shift_m: float = Field(default=0.0, ge=0.0, le=100.0)  # sideways (truck) or vertical (pedestal) shift
    shift_axis: tuple[float, float, float] = (0.0, 0.0, 0.0)  # in the view frame: (right, back, up)
    focal_ratio: float = Field(default=1.0, gt=0.0, le=10.0)  # dolly zoom: end focal / start focal
    duration_s: float | None = Field(default=None, gt=0.0, le=600.0)  # a timed move (flyby)


class AcquireConfig(BaseModel):
    """When the start frame counts as acquired (``config/shots.yaml`` ``acquire``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    composition_tolerance: float = Field(gt=0.0)  # image widths, as the examiner's composition error
    size_tolerance: float = Field(gt=0.0)  # relative subject height
    elevation_tolerance_deg: float = Field(gt=0.0)
    side_tolerance_deg: float = Field(gt=0.0)
    timeout_s: float = Field(gt=0.0)  # after this the move starts anyway, reported as a relaxation
    extent_tolerance: float = Field(ge=0.0)  # relative slack on the lens range / minimum distance the extent fits
    lens_headroom: float = Field(ge=0.0)  # a fixed-lens move starts this far (relative) inside the zoom's ends


class LimitsConfig(BaseModel):
    """Shot-level limits on every move's extent (``config/shots.yaml`` ``move_limits``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    distance_margin_m: float = Field(ge=0.0)  # moves towards the subject stop this far outside the stand-off
    elevation_limits_deg: tuple[float, float]


class MoveTable(BaseModel):
    """Every movement's semantics plus the acquisition rule and the limits on extents."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    acquire: AcquireConfig
    move_limits: LimitsConfig
    movements: dict[str, MoveConfig]

    def __getitem__(self, movement: str) -> MoveConfig:
        return self.movements[movement]

    def for_movement(self, movement: Movement) -> MoveConfig:
        """The movement's row with the shot's own extent, if it gives one: an orbit's bearing sweep, a crane's
        elevation change (its sign kept) or a truck's / pedestal's shift (``shot.MOVEMENT_EXTENTS``)."""
        cfg = self.movements[movement.type]
        if movement.extent is None:
            return cfg
        if cfg.bearing_sweep_deg:
            field_value = {"bearing_sweep_deg": movement.extent}
        elif cfg.elevation_change_deg:
            field_value = {"elevation_change_deg": math.copysign(movement.extent, cfg.elevation_change_deg)}
        elif cfg.shift_m:
            field_value = {"shift_m": movement.extent}
        else:
            raise ValueError(f"config/shots.yaml gives a {movement.type} no extent a shot could set")
        return MoveConfig.model_validate({**cfg.model_dump(), **field_value})


@lru_cache(maxsize=4)
def _table(_key: str) -> MoveTable:
    document = load_yaml("shots.yaml")
    table = MoveTable(acquire=document["acquire"], move_limits=document["move_limits"],
                      movements=document["movements"])
    missing = set(MOVEMENT_TYPES) - set(table.movements)
    if missing:
        raise ValueError(f"config/shots.yaml movements lacks {sorted(missing)}")
    for movement, (unit, _) in MOVEMENT_EXTENTS.items():  # a shot's extent must have exactly one field to set
        row = table.movements[movement]
        settable = {"deg": [row.bearing_sweep_deg, row.elevation_change_deg], "m": [row.shift_m]}
        if sum(1 for value in settable[unit] if value) != 1 or row.size_ratio != 1.0 or row.focal_ratio != 1.0:
            raise ValueError(f"config/shots.yaml: a shot sets a {movement}'s extent in {unit}, but its row has "
                             "not exactly one extent in that unit")
    return table


def move_table() -> MoveTable:
    """The movements table of ``config/shots.yaml`` (validated, complete)."""
    return _table("shots.yaml")


@dataclass(frozen=True)
class MoveStart:
    """The rig when the start frame was acquired: where every move's extent is measured from."""

    distance_m: float  # camera to the framed group's eye line
    elevation_rad: float  # camera above that eye line, seen from the subjects
    camera_height_m: float
    focal_length_mm: float


@dataclass(frozen=True)
class MoveLimits:
    """The hard limits a move's extent is checked against before it is flown."""

    min_distance_m: float  # the stand-off floor plus the dolly margin
    focal_min_mm: float
    focal_max_mm: float
    altitude_floor_m: float
    altitude_ceiling_m: float
    elevation_min_deg: float
    elevation_max_deg: float

    @classmethod
    def of(cls, camera: CameraProfile, airspace: Airspace, table: MoveTable | None = None) -> MoveLimits:
        """The limits for a camera profile and an airspace (both from config)."""
        table = table or move_table()
        lo, hi = table.move_limits.elevation_limits_deg
        return cls(
            min_distance_m=airspace.min_subject_distance_m + table.move_limits.distance_margin_m,
            focal_min_mm=camera.focal_length_mm.min, focal_max_mm=camera.focal_length_mm.max,
            altitude_floor_m=airspace.altitude_floor_m, altitude_ceiling_m=airspace.altitude_ceiling_m,
            elevation_min_deg=lo, elevation_max_deg=hi,
        )


def framing_focal_mm(focal_length_mm: float, size_error: float, limits: MoveLimits) -> float:
    """The focal length that frames the start exactly from where it was acquired: the measured one over
    (1 + the size error), within the lens range.

    Why: a start frame counts as acquired within ``acquire.size_tolerance`` (15 %), and a fixed-lens move
    (dolly, dronie, orbit) held the focal length of that instant -- its whole move then ran up to 15 % off
    the size it was asked for (a dolly-in 0.24 off, though composed to 0.02).  Unknown error: the measured one.
    """
    if not math.isfinite(size_error) or size_error <= -1.0:
        return focal_length_mm
    return min(max(focal_length_mm / (1.0 + size_error), limits.focal_min_mm), limits.focal_max_mm)


@dataclass(frozen=True)
class MovePlan:
    """One move's extent in time and space, as flown from a :class:`MoveStart`."""

    movement: str
    config: MoveConfig
    start: MoveStart
    speed_mps: float
    duration_s: float  # 0: the move is the whole shot (follow, static)
    end_distance_m: float
    bearing_sweep_rad: float  # signed: counter-clockwise positive
    elevation_change_rad: float
    shift_m: float
    focal_ratio: float
    relaxations: tuple[str, ...] = field(default=())

    def progress(self, time_since_acquired_s: float) -> float:
        """Fraction of the move done after this long (1 once it holds; 1 for whole-shot moves)."""
        if self.duration_s <= 0.0:
            return 1.0
        return min(max(time_since_acquired_s / self.duration_s, 0.0), 1.0)

    def distance_m(self, progress: float) -> float:
        """Camera-to-subject distance the move calls for at ``progress`` (linear between its ends)."""
        return self.start.distance_m + progress * (self.end_distance_m - self.start.distance_m)

    def size_scale(self, progress: float) -> float:
        """Subject height on screen over the framing's height at ``progress``.

        Only a fixed lens changes the size, and then as the inverse of the distance.
        """
        if self.config.lens is not Lens.HOLD:
            return 1.0
        return self.start.distance_m / max(self.distance_m(progress), 1e-3)

    def focal_length_mm(self, progress: float, distance_m: float | None = None) -> float | None:
        """The focal length the move prescribes (fixed lens, dolly zoom), else None (free zoom).

        A dolly zoom's focal length scales with the distance: the planned one at ``progress``, or
        ``distance_m`` when given (the distance the camera actually has, so the size holds when it lags).
        A fixed lens holds its focal length while the camera keeps the planned distance; given the
        distance it actually has, the lens takes up the difference, so the size stays what the move
        calls for when the camera lags (a subject turning back towards an orbit, a stop during a dolly).
        """
        if self.config.lens is Lens.HOLD:
            if distance_m is None:
                return self.start.focal_length_mm
            return self.start.focal_length_mm * distance_m / max(self.distance_m(progress), 1e-3)
        if self.config.lens is Lens.DOLLY_ZOOM:
            distance = self.distance_m(progress) if distance_m is None else distance_m
            return self.start.focal_length_mm * distance / self.start.distance_m
        return None


def plan_move(shot: ShotSpec, vocab: ShotVocabulary, start: MoveStart, limits: MoveLimits,
              table: MoveTable | None = None) -> MovePlan:
    """The move's extent from where the frame was acquired, relaxed (and reported) where a limit cuts it."""
    table = table or move_table()
    movement = shot.movement.type
    cfg = table.for_movement(shot.movement)
    speed = vocab.movement_speed_mps(shot.movement)
    relaxations: list[str] = []
    d0 = start.distance_m
    end_distance = d0
    focal_ratio = cfg.focal_ratio
    if cfg.lens is Lens.DOLLY_ZOOM:
        lo = max(limits.focal_min_mm / start.focal_length_mm, limits.min_distance_m / d0)
        hi = limits.focal_max_mm / start.focal_length_mm
        wanted, focal_ratio = focal_ratio, min(max(focal_ratio, lo), hi)
        if not math.isclose(focal_ratio, wanted, rel_tol=1e-3):
            relaxations.append(f"{movement}: focal ratio {wanted:g} relaxed to {focal_ratio:.2f} "
                               "(lens range or minimum subject distance)")
        end_distance = d0 * focal_ratio
    elif cfg.size_ratio != 1.0:
        end_distance = d0 / cfg.size_ratio
        if end_distance < limits.min_distance_m:
            end_distance = min(limits.min_distance_m, d0)
            relaxations.append(f"{movement}: size ratio {cfg.size_ratio:g} relaxed to {d0 / end_distance:.2f} "
                               f"(minimum subject distance {limits.min_distance_m:g} m)")
    elevation_change = cfg.elevation_change_deg
    if elevation_change:
        start_deg = math.degrees(start.elevation_rad)
        end_deg = min(max(start_deg + elevation_change, limits.elevation_min_deg), limits.elevation_max_deg)
        if abs(end_deg - start_deg - elevation_change) > 0.5:
            relaxations.append(f"{movement}: elevation change {elevation_change:g} deg relaxed to "
                               f"{end_deg - start_deg:.0f} deg (elevation limits)")
        elevation_change = end_deg - start_deg
    shift = cfg.shift_m
    if shift and cfg.shift_axis[2]:
        room = (limits.altitude_ceiling_m - start.camera_height_m if cfg.shift_axis[2] > 0
                else start.camera_height_m - limits.altitude_floor_m) - 0.5
        if room < shift:
            relaxations.append(f"{movement}: shift {shift:g} m relaxed to {max(room, 0.0):.1f} m (altitude band)")
            shift = max(room, 0.0)
    sweep = math.radians(cfg.bearing_sweep_deg) * (-1.0 if shot.movement.direction == "clockwise" else 1.0)
    mean_distance = 0.5 * (d0 + end_distance)
    path_m = math.sqrt((end_distance - d0) ** 2 + (mean_distance * math.radians(elevation_change)) ** 2
                       + (mean_distance * sweep) ** 2 + shift**2)
    if cfg.duration_s is not None:
        duration = cfg.duration_s
    else:
        duration = path_m / max(speed, 1e-3)
    return MovePlan(
        movement=movement, config=cfg, start=start, speed_mps=speed, duration_s=duration,
        end_distance_m=end_distance, bearing_sweep_rad=sweep, elevation_change_rad=math.radians(elevation_change),
        shift_m=shift, focal_ratio=focal_ratio, relaxations=tuple(relaxations),
    )


def start_offset_m(cfg: MoveConfig, bearing_rad: float, elevation_rad: float, distance_m: float,
                   speed_mps: float) -> np.ndarray:
    """Where the start frame puts the camera, from the framed group's eye line.

    At the bearing, angle and stand-off -- except a timed line move (flyby), which starts half its
    line before the point where it passes the subject at the stand-off.
    """
    offset = unit(bearing_rad, elevation_rad) * distance_m
    if cfg.duration_s is not None:
        line = np.array([math.sin(bearing_rad), -math.cos(bearing_rad), 0.0])
        offset = offset - line * speed_mps * cfg.duration_s / 2.0
    return offset


def unit(bearing_rad: float, elevation_rad: float) -> np.ndarray:
    """Direction at a bearing (CCW from +x) and an elevation above the horizon."""
    ce = math.cos(elevation_rad)
    return np.array([ce * math.cos(bearing_rad), ce * math.sin(bearing_rad), math.sin(elevation_rad)])


@dataclass(frozen=True)
class FrameErrors:
    """How far the rig is from the shot's start frame right now."""

    composition: float  # image widths (as the examiner's composition error)
    size: float  # relative subject height against the framing (signed)
    elevation_deg: float  # camera elevation above the eye line minus the angle's (signed)
    side_deg: float | None = None  # bearing off the shot's side (None: the move keeps no side)


def start_distance_range_m(cfg: MoveConfig, focal_per_distance_mm_per_m: float, limits: MoveLimits,
                           lens_headroom: float = 0.0) -> tuple[float, float]:
    """The start distances from which the framing is within the lens range and the move's extent fits it
    (a dolly zoom's end focal length, a dolly's end distance outside the minimum, the zoom's headroom);
    ``(lo, hi)``, lo > hi when none does.  The framing's focal length grows with distance:
    ``f = focal_per_distance * d``."""
    k = max(focal_per_distance_mm_per_m, 1e-9)
    lo, hi = limits.focal_min_mm / k, limits.focal_max_mm / k
    if cfg.lens is Lens.DOLLY_ZOOM:
        r = cfg.focal_ratio
        return (max(lo, limits.focal_min_mm / (k * r), limits.min_distance_m / r),
                min(hi, limits.focal_max_mm / (k * r)))
    lo, hi = lo * (1.0 + lens_headroom), hi / (1.0 + lens_headroom)  # zoom to spare for the distance it loses
    if cfg.size_ratio != 1.0:
        lo = max(lo, limits.min_distance_m * cfg.size_ratio)
    return lo, hi


def extent_fits(cfg: MoveConfig, start: MoveStart, limits: MoveLimits, tolerance: float,
                lens_headroom: float = 0.0) -> bool:
    """Whether the move's whole extent can be flown from this start frame (within ``tolerance``, relative)
    without a relaxation: the dolly zoom's end focal length in the lens range, every end distance outside
    the minimum, a fixed lens ``lens_headroom`` inside the zoom's ends (the zoom takes up the distance the
    camera loses).  A start that fails keeps acquiring (until the timeout) instead of cutting the move."""
    low, high = 1.0 - tolerance, 1.0 + tolerance
    if cfg.lens is Lens.HOLD and not (limits.focal_min_mm * (1.0 + lens_headroom) * low <= start.focal_length_mm
                                      <= limits.focal_max_mm / (1.0 + lens_headroom) * high):
        return False
    if cfg.lens is Lens.DOLLY_ZOOM:
        end_mm = start.focal_length_mm * cfg.focal_ratio
        return (limits.focal_min_mm * low <= end_mm <= limits.focal_max_mm * high
                and start.distance_m * cfg.focal_ratio >= limits.min_distance_m * low)
    if cfg.size_ratio != 1.0:
        return start.distance_m / cfg.size_ratio >= limits.min_distance_m * low
    return True


def is_acquired(errors: FrameErrors, rule: AcquireConfig, cfg: MoveConfig, start: MoveStart,
                limits: MoveLimits) -> bool:
    """The start frame is acquired when composition, size, angle (and side, where kept) are within tolerance
    and the move's extent fits from there (:func:`extent_fits`); the controller and the examiner both ask this."""
    return (
        errors.composition <= rule.composition_tolerance
        and abs(errors.size) <= rule.size_tolerance
        and abs(errors.elevation_deg) <= rule.elevation_tolerance_deg
        and (errors.side_deg is None or abs(errors.side_deg) <= rule.side_tolerance_deg)
        and extent_fits(cfg, start, limits, rule.extent_tolerance, rule.lens_headroom)
    )
