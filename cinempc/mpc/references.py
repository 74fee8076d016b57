"""From a ShotSpec, subject predictions and obstacles to the stage parameters ``P``.

Everything shot-specific becomes numbers in the per-stage parameter vectors --
composition targets from :func:`cinempc.shot.vocabulary`, the viewpoint, the
time-varying movement reference, which subjects must be sharp, the obstacles --
so one compiled problem serves every shot.  This module is plain NumPy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum

import numpy as np

from cinempc import optics
from cinempc.angles import wrap_angle
from cinempc.config import CameraProfile, VehicleConfig
from cinempc.framing import composition_error, measure_frame, size_error, view_geometry
from cinempc.moves import (
    FrameErrors,
    Lens,
    MoveLimits,
    MovePlan,
    MoveStart,
    framing_focal_mm,
    is_acquired,
    move_table,
    plan_move,
    start_distance_range_m,
    start_offset_m,
)
from cinempc.mpc.model import FOCAL_SCALE_MM, ParamLayout, heading_lag_terms, stops_from_f_number
from cinempc.mpc.movements import AcquireGoal, StartGeometry, reference_for, unit
from cinempc.mpc.ocp import heading_time_constant_s, yaw_rate_limit
from cinempc.mpc.params import MPCParams
from cinempc.mpc.viewpoint import turn_out_of_boxes, turned
from cinempc.shot import ShotSpec, ShotVocabulary, side_bearing_rad
from cinempc.state import Obstacle, RigState, SubjectTrack


def approach_angle(current_rad: float, target_rad: float, max_step_rad: float) -> float:
    """``current`` moved towards ``target`` the short way round by at most ``max_step``."""
    error = wrap_angle(target_rad - current_rad)
    return current_rad + max(-max_step_rad, min(max_step_rad, error))


def outside_m(offset_m: np.ndarray, distance_m: float) -> np.ndarray:
    """The offset pushed out along its own direction to at least ``distance_m`` (bearing and elevation kept)."""
    norm = float(np.linalg.norm(offset_m))
    return offset_m if norm >= distance_m or norm < 1e-9 else offset_m * (distance_m / norm)


def _over_horizon(samples: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Rows ``steps`` of a prediction, the last row held past its end."""
    return samples[np.minimum(steps, len(samples) - 1)]


def lateral_sigma_m(subject: SubjectTrack, camera_position_m: np.ndarray) -> float:
    """Standard deviation of the subject's position now, across the camera's line of sight (0 when exact).

    Only the across-view component can carry a subject out of the side of the frame; the
    along-view one changes its size, which the framing's height targets already absorb.
    """
    across = optics.across_view(camera_position_m, subject.positions_m[0])
    if subject.covariance_m2 is None or across is None:
        return 0.0
    variance = float(across @ np.asarray(subject.covariance_m2)[0] @ across)
    return math.sqrt(max(variance, 0.0))


def smoothstep(x: float) -> float:
    """0 below 0, 1 above 1, a C1 S-curve between: how a focus puller eases a rack."""
    x = min(max(x, 0.0), 1.0)
    return x * x * (3.0 - 2.0 * x)


class ShotPhase(str, Enum):
    """Where a shot is: acquire -> move -> hold (docs/shots.md)."""

    ACQUIRE = "acquire"
    MOVE = "move"
    HOLD = "hold"


@dataclass
class ShotMemory:
    """What a shot remembers from its first solve: where the move starts."""

    time_s: float
    position_m: np.ndarray
    yaw_rad: float
    focal_state: float
    anchor_m: np.ndarray
    distance_m: float
    bearing_rad: float
    elevation_rad: float
    headings_rad: dict[int, float] = field(default_factory=dict)
    smoothed_velocities_mps: dict[int, tuple[float, np.ndarray]] = field(default_factory=dict)  # id -> (time, v)
    view_bearing_rad: float | None = None  # follow: where the viewpoint reference stands now (rate-limited)
    view_time_s: float | None = None
    acquired_s: float | None = None  # shot time the start frame was acquired (or the acquisition timed out)
    plan: MovePlan | None = None  # the move's extent, fixed at acquisition
    start: StartGeometry | None = None  # where the move starts from
    goal: AcquireGoal | None = None  # the start frame's goal as it stood at acquisition
    relaxations: list[str] = field(default_factory=list)  # what the move could not do as asked
    stand_off: StandOff | None = None  # the stand-off this step (ReferenceBuilder.stand_off)

    def phase(self, shot_time_s: float) -> ShotPhase:
        """Acquiring the start frame, moving, or holding the final frame."""
        if self.acquired_s is None or self.plan is None:
            return ShotPhase.ACQUIRE
        return ShotPhase.MOVE if self.plan.progress(shot_time_s - self.acquired_s) < 1.0 else ShotPhase.HOLD


@dataclass(frozen=True)
class StandOff:
    """How far the camera stands from the framed group, and the background blur the framing allows from there."""

    distance_m: float
    background_blur_px: float | None = None  # a shallow shot's blur target, capped at what this stand-off reaches


@dataclass
class SubjectRoles:
    """Which subjects are framed, which are focus targets, and which fill the OCP's slots."""

    framed: list[SubjectTrack]
    focus: list[SubjectTrack]
    rack_to: SubjectTrack | None
    slots: list[SubjectTrack]
    represents: dict[int, int] = field(default_factory=dict)  # slot track id -> framed subjects it stands for


def bounding_members(group: list[SubjectTrack], position_m: np.ndarray, count: int,
                     first: SubjectTrack | None = None) -> list[SubjectTrack]:
    """The ``count`` members that bound a group in the camera's view: ``first`` (when given), leftmost,
    rightmost, the highest head, nearest, farthest, then the nearest others (a frame that holds these holds
    the group).

    The highest head is the one seen at the steepest angle up (or least down) from the camera: the headroom is
    measured above it, and from above that is often a far member -- left out of the slots, its head was cut.
    """
    if len(group) <= count:
        return list(group)
    camera = np.asarray(position_m, dtype=float)
    rel = np.array([s.positions_m[0][:2] for s in group]) - camera[:2]
    forward = rel.mean(axis=0)
    forward = forward / max(float(np.linalg.norm(forward)), 1e-9)
    depth = rel @ forward
    lateral = (rel @ np.array([forward[1], -forward[0]])) / np.maximum(depth, 1e-3)  # tangent of the bearing
    distance = np.linalg.norm(rel, axis=1)
    head_rise = np.array([s.positions_m[0][2] + s.height_m for s in group]) - camera[2]
    order = [int(np.argmin(lateral)), int(np.argmax(lateral)), int(np.argmax(head_rise / np.maximum(depth, 1e-3))),
             int(np.argmin(distance)), int(np.argmax(distance)), *np.argsort(distance).tolist()]
    if first is not None:
        order = [i for i, s in enumerate(group) if s.track_id == first.track_id] + order
    chosen = list(dict.fromkeys(order))[:count]
    return [group[i] for i in sorted(chosen)]


def _representatives(framed: list[SubjectTrack], slots: list[SubjectTrack]) -> dict[int, int]:
    """How many framed subjects each slot stands for: a framed subject without a slot counts for the
    framed slot nearest to it, so the composition's mean keeps roughly the whole group's weight."""
    framed_slots = [s for s in slots if any(s.track_id == f.track_id for f in framed)]
    counts = {s.track_id: 1 for s in framed_slots}
    for subject in framed:
        if subject.track_id in counts or not framed_slots:
            continue
        nearest = min(framed_slots, key=lambda s: float(np.linalg.norm(s.positions_m[0] - subject.positions_m[0])))
        counts[nearest.track_id] += 1
    return counts


def assign_roles(shot: ShotSpec, subjects: list[SubjectTrack], position_m: np.ndarray, max_slots: int) -> SubjectRoles:
    """Resolve the shot's subject references against the tracks.

    Slots go first to the rack target, then to focus targets and framed subjects -- when they are more
    than the slots, to the members that bound the group (:func:`bounding_members`) -- then to the nearest
    others; the stand-off constraint protects whoever is in a slot.
    """
    visible = [s for s in subjects if s.visible]
    framed = [s for s in visible if any(s.matches(ref) for ref in shot.subjects)]
    focus_ref = shot.focus_target
    if focus_ref == shot.primary_subject and framed and focus_ref != "all":
        focus = [framed[0]]
    else:
        focus = [s for s in visible if s.matches(focus_ref)]
    rack = None
    if shot.focus.rack_to is not None:
        rack = next((s for s in visible if s.matches(shot.focus.rack_to)), None)
    wanted: list[SubjectTrack] = []
    for s in [*focus, *framed]:
        if all(s.track_id != o.track_id for o in wanted) and (rack is None or s.track_id != rack.track_id):
            wanted.append(s)
    room = max_slots - (1 if rack else 0)
    # the primary always has a slot (it anchors the shot's viewpoint)
    ordered = [*([rack] if rack else []), *bounding_members(wanted, position_m, room, framed[0] if framed else None)]
    rest = sorted(
        (s for s in subjects if all(s.track_id != o.track_id for o in ordered)),
        key=lambda s: float(np.linalg.norm(s.positions_m[0] - position_m)),
    )
    slots = (ordered + rest)[:max_slots]
    slot_ids = {s.track_id for s in slots}
    return SubjectRoles(framed=framed, focus=[s for s in focus if s.track_id in slot_ids], rack_to=rack, slots=slots,
                        represents=_representatives(framed, slots))


class ReferenceBuilder:
    """Builds the stage-parameter matrix ``P`` (n_p x N+1) for one solve."""

    def __init__(
        self, layout: ParamLayout, horizon_steps: int, dt_s: float, camera: CameraProfile, vehicle: VehicleConfig,
        params: MPCParams, vocab: ShotVocabulary, lens_mode: str,
    ):
        self.layout = layout
        self.N = horizon_steps
        self.dt_s = dt_s
        self.camera = camera
        self.vehicle = vehicle
        self.params = params
        self.vocab = vocab
        self.lens_mode = lens_mode
        self.moves = move_table()
        self.limits = MoveLimits.of(camera, vehicle.airspace, self.moves)

    # ------------------------------------------------------------ shot geometry

    def min_distance_m(self) -> float:
        return self.vehicle.airspace.min_subject_distance_m

    def requested_distance_m(self, shot: ShotSpec, relaxations: list[str]) -> float:
        """The stand-off: the shot's, else the framing's default; never inside the minimum."""
        distance = shot.distance_m if shot.distance_m is not None else self.vocab.default_distance_m[shot.framing]
        floor = self.limits.min_distance_m
        if distance < floor:
            if shot.distance_m is not None:
                relaxations.append(
                    f"distance_m: {shot.distance_m:g} m is inside the minimum subject distance "
                    f"{self.min_distance_m():g} m; using {floor:g} m"
                )
            distance = floor
        return distance

    def stand_off(self, shot: ShotSpec, state: RigState, framed: list[SubjectTrack],
                  background_distance_m: float | None) -> StandOff:
        """The requested stand-off; with no distance in the shot, pushed back as far as a group's depth, stopping
        short of a group moving away and a shallow shot's background blur need (:meth:`group_depth_stand_off_m`,
        :meth:`stopping_stand_off_m`, :meth:`shallow_stand_off`); but for stopping, never beyond the longest
        lens's framing."""
        distance = self.requested_distance_m(shot, [])
        if shot.distance_m is not None or not framed:
            return StandOff(distance)
        height = self.group_height(framed)
        focal_per_distance = self.vocab.framing_height_fraction[shot.framing] * self.camera.sensor_height_mm / height
        longest_m = self.camera.focal_length_mm.max / focal_per_distance
        anchor = self.group_over_horizon(framed, np.arange(1))[2][0]
        framing_m = max(distance, min(self.group_depth_stand_off_m(framed, state, anchor), longest_m))
        lo, hi = start_distance_range_m(self.moves[shot.movement.type], focal_per_distance, self.limits,
                                        self.moves.acquire.lens_headroom)
        if lo <= hi:  # where the lens frames it and the move's extent fits (a dolly zoom out needs zoom to spare)
            framing_m = min(max(framing_m, lo), hi)
        distance = max(framing_m, self.stopping_stand_off_m(framed, state, anchor))  # safety before the framing
        if (shot.focus.depth_of_field == "shallow" and shot.lens.focal_length_mm is None
                and self.lens_mode != "fixed_lens_autofocus"):
            return self.shallow_stand_off(shot, state, anchor, height, distance, longest_m, background_distance_m)
        return StandOff(distance)

    def stopping_stand_off_m(self, framed: list[SubjectTrack], state: RigState, anchor_m: np.ndarray) -> float:
        """Following a group that moves away from the camera, stand off far enough to stop short of it should it
        stop dead: the minimum distance plus the braking distance at that speed (acceleration and jerk limits).

        Why: 3.9 m behind a runner at 4 m/s, a close-up could not stop outside the minimum distance when the
        runner stopped; the solve failed for 600 iterations and the drone flew its stale plan.
        """
        sight = anchor_m[:2] - state.position_m[:2]
        sight /= max(float(np.linalg.norm(sight)), 1e-6)
        velocity = np.mean([s.velocities_mps[0][:2] for s in framed], axis=0)
        away = max(float(velocity @ sight), 0.0)
        v = self.vehicle.vehicle
        braking = away**2 / (2.0 * v.max_accel_mps2) + away * v.max_accel_mps2 / (2.0 * v.max_jerk_mps3)
        return self.limits.min_distance_m + braking

    def group_depth_stand_off_m(self, framed: list[SubjectTrack], state: RigState, anchor_m: np.ndarray) -> float:
        """The stand-off at which the framed members, spread in depth along the line of sight, appear within
        ``group_depth_size_ratio`` of one another's size: ``D / 2 (r + 1) / (r - 1)`` for a spread ``D``."""
        if len(framed) < 2:
            return 0.0
        sight = state.position_m[:2] - anchor_m[:2]
        sight /= max(float(np.linalg.norm(sight)), 1e-6)
        along = [float(sight @ (s.positions_m[0][:2] - anchor_m[:2])) for s in framed]
        ratio = self.params.targets.group_depth_size_ratio
        return 0.5 * (max(along) - min(along)) * (ratio + 1.0) / (ratio - 1.0)

    def shallow_stand_off(self, shot: ShotSpec, state: RigState, anchor_m: np.ndarray, height_m: float,
                          nearest_m: float, longest_m: float, background_distance_m: float | None) -> StandOff:
        """The nearest stand-off from which the framing's focal length at the widest aperture blurs the background
        ``shallow_blur_headroom`` past the shallow target, else the one that blurs most; the blur target is capped
        at what the framing reaches from there (the framing comes first, the shortfall is reported).

        A long lens from further away keeps the framing and widens the blur (b ~ f^2 / (N s) at fixed f / s): the
        search runs from ``nearest_m`` to ``shallow_max_distance_factor`` times it (and no further than the longest
        focal length frames), the background held at its depth behind the subject.
        """
        t = self.params.targets
        heading = np.array([math.cos(state.yaw_rad), math.sin(state.yaw_rad)])
        depth_m = float(heading @ (anchor_m[:2] - state.position_m[:2]))
        behind_m = t.default_background_distance_m
        if background_distance_m is not None and depth_m > 0.0 and background_distance_m > depth_m + 1.0:
            behind_m = background_distance_m - depth_m
        far_m = max(nearest_m, min(nearest_m * t.shallow_max_distance_factor, longest_m))
        candidates = np.linspace(nearest_m, far_m, 24)
        lens = self.camera.focal_length_mm
        focal_m = np.clip([self.focal_for_framing_mm(shot.framing, height_m, d) for d in candidates],
                          lens.min, lens.max) / 1000.0
        blur_px = optics.blur_circle_px(focal_m, self.camera.f_number.min, candidates, candidates + behind_m,
                                        self.camera.pixel_pitch_m)
        enough = np.nonzero(blur_px >= t.background_blur_px * (1.0 + t.shallow_blur_headroom))[0]
        best = int(enough[0] if enough.size else np.argmax(blur_px))
        reachable_px = float(blur_px[best]) / (1.0 + t.shallow_blur_headroom)
        return StandOff(float(candidates[best]), min(t.background_blur_px, reachable_px))

    def focal_for_framing_mm(self, framing: str, height_m: float, distance_m: float) -> float:
        """Focal length that gives the framing's subject height at a distance (thin-lens, square-on)."""
        fraction = self.vocab.framing_height_fraction[framing]
        return fraction * self.camera.sensor_height_mm * distance_m / height_m

    def within_lens_reach(self, place_m: np.ndarray, anchor_m: np.ndarray, framing: str, height_m: float,
                          relaxations: list[str]) -> np.ndarray:
        """A world-anchored camera's place, moved along its line of sight only as far as the zoom needs to hold the
        framing: between the distances where the widest and the longest focal length frame the subject.

        Why: a static wide shot at the widest focal length watched its subjects walk up to it, 48 % too big
        and growing; the place is the shot's, but not at the price of a framing the lens cannot hold.
        """
        rel = np.asarray(place_m, dtype=float) - anchor_m
        distance = max(float(np.linalg.norm(rel)), 1e-6)
        per_mm = distance / self.focal_for_framing_mm(framing, height_m, distance)
        lens = self.camera.focal_length_mm
        reach = min(max(distance, lens.min * per_mm), lens.max * per_mm)
        if abs(reach - distance) < 1e-9:
            return np.asarray(place_m, dtype=float)
        message = (f"position: the lens ({lens.min:g}-{lens.max:g} mm) cannot hold the {framing} from where the frame "
                   "was taken; the camera moves along its line of sight as far as the zoom needs")
        if message not in relaxations:
            relaxations.append(message)
        return anchor_m + rel / distance * reach

    def lens_override_mm(self, shot: ShotSpec, relaxations: list[str]) -> float | None:
        if shot.lens.focal_length_mm is None:
            return None
        wanted = shot.lens.focal_length_mm
        clamped = self.camera.focal_length_mm.clamp(wanted)
        if clamped != wanted:
            relaxations.append(
                f"lens.focal_length_mm: {wanted:g} mm is outside the lens range "
                f"{self.camera.focal_length_mm.min:g}-{self.camera.focal_length_mm.max:g} mm; using {clamped:g} mm"
            )
        return clamped

    def check_framing_feasible(self, shot: ShotSpec, height_m: float, focal_mm: float | None,
                               relaxations: list[str]) -> None:
        """Report a framing no allowed distance can give with the lens the shot imposes."""
        focal = focal_mm if focal_mm is not None else self.camera.focal_length_mm.max
        fraction = self.vocab.framing_height_fraction[shot.framing]
        needed_m = focal * height_m / (fraction * self.camera.sensor_height_mm)
        if needed_m < self.min_distance_m():
            relaxations.append(
                f"framing: {shot.framing} at {focal:g} mm needs the camera {needed_m:.2f} m from the subject, inside "
                f"the minimum subject distance {self.min_distance_m():g} m; framing relaxed (subject smaller on screen)"
            )

    # ------------------------------------------------------------------- memory

    def start_memory(self, state: RigState, roles: SubjectRoles, shot_time_s: float) -> ShotMemory:
        anchor = self.group_over_horizon(roles.framed, np.arange(1))[2][0]
        rel = state.position_m - anchor
        distance = max(float(np.linalg.norm(rel)), 1e-3)
        floor = self.limits.min_distance_m
        return ShotMemory(
            time_s=shot_time_s,
            position_m=state.position_m.copy(),
            yaw_rad=state.yaw_rad,
            focal_state=state.focal_length_mm / FOCAL_SCALE_MM,
            anchor_m=anchor,
            distance_m=max(distance, floor),
            bearing_rad=math.atan2(rel[1], rel[0]),
            elevation_rad=math.asin(max(-1.0, min(1.0, rel[2] / distance))),
        )

    def group_height(self, framed: list[SubjectTrack]) -> float:
        return float(np.mean([s.height_m for s in framed]))

    def group_over_horizon(self, framed: list[SubjectTrack], steps: np.ndarray):
        """The framed group's mean feet point, velocity and eye-line anchor at ``steps`` (rows).

        All steps at once: a per-step mean cost ~3 ms of the control step.
        """
        feet = np.mean([_over_horizon(s.positions_m, steps) for s in framed], axis=0)
        velocity = np.mean([_over_horizon(s.velocities_mps, steps) for s in framed], axis=0)
        eye = self.group_height(framed) * self.params.targets.eye_height_fraction
        return feet, velocity, feet + np.array([0.0, 0.0, eye])

    def remember_heading(self, subject: SubjectTrack, memory: ShotMemory, shot_time_s: float) -> None:
        """Low-pass the subject's ground velocity; remember its direction while that is a walk, not a stand.

        Why: a perceived velocity lags a stop by a few frames and turns while it
        shrinks (stop_and_go: (0.5, -0.2) m/s 0.2 s after the walker stopped, then
        0.2 m/s at 63 deg).  Taken raw, that became the standing walker's heading: the
        follow viewpoint swung 18 deg off for the whole pause and lost the jog that
        followed.  Smoothed over ``heading_smoothing_s``, the heading a stop leaves
        is the one the walk had.
        """
        velocity = np.asarray(subject.velocities_mps[0][:2], dtype=float)
        previous = memory.smoothed_velocities_mps.get(subject.track_id)
        if previous is not None:
            elapsed = max(shot_time_s - previous[0], 0.0)
            blend = 1.0 - math.exp(-elapsed / max(self.params.targets.heading_smoothing_s, 1e-6))
            velocity = previous[1] + blend * (velocity - previous[1])
        memory.smoothed_velocities_mps[subject.track_id] = (shot_time_s, velocity)
        if math.hypot(*velocity) > max(self.params.targets.still_speed_mps, 1e-6):
            memory.headings_rad[subject.track_id] = math.atan2(velocity[1], velocity[0])

    def heading(self, subject: SubjectTrack, k: int, memory: ShotMemory) -> float | None:
        """Direction of travel at step k: now, the remembered (smoothed) heading; ahead, the predicted velocity's.

        A subject standing still keeps the last heading seen while moving; one never seen moving has none
        (None: its sides are unknown, so a side is not asked of the camera).
        """
        velocity = subject.velocities_mps[min(k, len(subject.velocities_mps) - 1)]
        if k > 0 and math.hypot(velocity[0], velocity[1]) > max(self.params.targets.still_speed_mps, 1e-6):
            return math.atan2(velocity[1], velocity[0])
        return memory.headings_rad.get(subject.track_id)

    def side_bearing(self, shot: ShotSpec, subject: SubjectTrack, k: int, memory: ShotMemory,
                     otherwise_rad: float) -> float:
        """Bearing of the shot's side of the subject at step k; ``otherwise_rad`` while its heading is unknown."""
        heading = self.heading(subject, k, memory)
        return otherwise_rad if heading is None else heading + side_bearing_rad(shot.side)

    def advance_view_bearing(self, memory: ShotMemory, desired_rad: float, shot_time_s: float,
                             distance_m: float) -> float:
        """Swing the follow viewpoint towards ``desired_rad`` at the configured speed; return the rate.

        Why: a subject turning a corner (or a shot asking for the other side) flips the
        desired bearing at once; asked to leap there, the drone cuts across or around the
        subject and the frame is lost.  A camera operator arcs round instead, and so does
        this reference: it starts where the drone is and turns no faster than
        ``view_turn_speed_mps`` along the arc.
        """
        rate = self.params.targets.view_turn_speed_mps / max(distance_m, 1e-3)
        if memory.view_bearing_rad is None or memory.view_time_s is None:
            memory.view_bearing_rad, memory.view_time_s = memory.bearing_rad, shot_time_s
        elapsed = max(shot_time_s - memory.view_time_s, 0.0)
        memory.view_bearing_rad = approach_angle(memory.view_bearing_rad, desired_rad, rate * elapsed)
        memory.view_time_s = shot_time_s
        return rate

    # ------------------------------------------------------------- acquire -> move -> hold

    def acquire_goal(self, shot: ShotSpec, primary: SubjectTrack, memory: ShotMemory, distance_m: float,
                     k: int = 0) -> AcquireGoal:
        """The start frame's viewpoint: the shot's side where the move keeps one, else the bearing at the cut."""
        cfg = self.moves[shot.movement.type]
        bearing = memory.bearing_rad
        if cfg.acquires_side:
            bearing = self.side_bearing(shot, primary, k, memory, otherwise_rad=memory.bearing_rad)
        elevation = math.radians(self.vocab.angle_elevation_deg[shot.angle])
        offset = start_offset_m(cfg, bearing, elevation, distance_m, self.vocab.movement_speed_mps(shot.movement))
        return AcquireGoal(bearing_rad=bearing, elevation_rad=elevation, distance_m=distance_m, offset_m=offset)

    def frame_errors(self, state: RigState, shot: ShotSpec, framed: list[SubjectTrack], goal: AcquireGoal,
                     anchor_m: np.ndarray, side_known: bool = True) -> FrameErrors:
        """How far the rig is from the start frame now, measured as the examiner measures a frame."""
        view = measure_frame(state.position_m, state.yaw_rad, state.pitch_rad, state.focal_length_mm, self.camera,
                             [(s.positions_m[0], s.height_m) for s in framed])
        target = reference_for(shot.movement.type).acquire(goal).offset_m
        _, want_bearing, want_elevation = view_geometry(target, np.zeros(3))
        _, bearing, elevation = view_geometry(state.position_m, anchor_m)
        side = None
        if self.moves[shot.movement.type].acquires_side and side_known:
            side = math.degrees(wrap_angle(bearing - want_bearing))
        if view is None:
            return FrameErrors(composition=math.inf, size=math.inf, elevation_deg=math.inf, side_deg=side)
        return FrameErrors(
            composition=composition_error(view, shot, self.vocab, self.camera),
            size=size_error(view, shot, self.vocab),
            elevation_deg=math.degrees(elevation - want_elevation), side_deg=side,
        )

    def approach_velocity_mps(self, position_m: np.ndarray, goal_m: np.ndarray, time_ahead_s: float) -> np.ndarray:
        """Velocity (relative to the subject and the move) heading for the viewpoint a stage asks for.

        Why: the reference would otherwise be the subject's (and the move's) velocity alone, which holds
        the drone back from a far-away start frame (an establishing shot 30 m out crept there at 0.5 m/s)
        and, during a move, kept a lag for good (a dronie flew its whole 10 s 2.5 m short of its line,
        the subject 20 % too big on a fixed lens).
        """
        t = self.params.targets
        gap = np.asarray(goal_m, dtype=float) - position_m
        distance = float(np.linalg.norm(gap))
        if distance < 1e-6:
            return np.zeros(3)
        remaining = max(distance - t.acquire_speed_mps * time_ahead_s, 0.0)
        return gap / distance * min(t.acquire_speed_mps, remaining / t.acquire_approach_time_s)

    def update_phase(self, state: RigState, shot: ShotSpec, roles: SubjectRoles, memory: ShotMemory,
                     shot_time_s: float, relaxations: list[str],
                     background_distance_m: float | None = None) -> ShotPhase:
        """Start the move once the start frame is acquired (or the acquisition timed out); report relaxations."""
        memory.stand_off = self.stand_off(shot, state, roles.framed, background_distance_m)
        if memory.acquired_s is None:
            primary = roles.framed[0]
            distance = memory.stand_off.distance_m
            goal = self.acquire_goal(shot, primary, memory, distance)
            anchor = self.group_over_horizon(roles.framed, np.arange(1))[2][0]
            side_known = self.heading(primary, 0, memory) is not None
            errors = self.frame_errors(state, shot, roles.framed, goal, anchor, side_known)
            d, bearing, elevation = view_geometry(state.position_m, anchor)
            start = MoveStart(distance_m=max(d, self.limits.min_distance_m), elevation_rad=elevation,
                              camera_height_m=float(state.position_m[2]),
                              focal_length_mm=framing_focal_mm(state.focal_length_mm, errors.size, self.limits))
            rule = self.moves.acquire
            acquired = is_acquired(errors, rule, self.moves[shot.movement.type], start, self.limits)
            timed_out = shot_time_s - memory.time_s >= rule.timeout_s
            if acquired or timed_out:
                memory.plan = plan_move(shot, self.vocab, start, self.limits, self.moves)
                memory.start = StartGeometry(offset_m=state.position_m - anchor, position_m=state.position_m.copy(),
                                             distance_m=d, bearing_rad=bearing, elevation_rad=elevation)
                memory.goal = goal
                memory.acquired_s = shot_time_s
                memory.relaxations = list(memory.plan.relaxations)
                if not acquired and reference_for(shot.movement.type).waits_for_frame:
                    memory.relaxations.append(
                        f"acquisition: start frame not reached in {self.moves.acquire.timeout_s:g} s; "
                        "the move starts from here")
        relaxations += memory.relaxations
        return memory.phase(shot_time_s)

    # -------------------------------------------------------------------- build

    def build(
        self, state: RigState, shot: ShotSpec, roles: SubjectRoles, shot_time_s: float,
        background_distance_m: float | None, memory: ShotMemory, relaxations: list[str],
        obstacles: Sequence[Obstacle] = (),
    ) -> np.ndarray:
        L, N, dt = self.layout, self.N, self.dt_s
        w, t = self.params.weights, self.params.targets
        camera, vehicle = self.camera, self.vehicle
        framed = roles.framed
        height = self.group_height(framed)
        distance = self.requested_distance_m(shot, relaxations)
        stand_off = memory.stand_off or StandOff(distance)
        distance = stand_off.distance_m
        override_mm = self.lens_override_mm(shot, relaxations)
        self.check_framing_feasible(shot, height, override_mm, relaxations)
        movement = shot.movement.type
        elevation = math.radians(self.vocab.angle_elevation_deg[shot.angle])
        fraction = self.vocab.framing_height_fraction[shot.framing]
        head_v = self.vocab.framing_head_v_fraction[shot.framing]
        u_target = self.vocab.screen_position_u_fraction[shot.screen_position]
        primary = framed[0]
        self.remember_heading(primary, memory, shot_time_s)
        background = background_distance_m if background_distance_m is not None else t.default_background_distance_m
        dof_mode = shot.focus.depth_of_field
        fixed_lens = self.lens_mode == "fixed_lens_autofocus"

        base = L.zeros()
        # constants over the horizon
        L.set(base, "sensor_width_m", camera.sensor_width_m)
        L.set(base, "image_width_px", camera.image_width_px)
        L.set(base, "image_height_px", camera.image_height_px)
        L.set(base, "coc_m", camera.coc_m)
        L.set(base, "target_u", u_target)
        # the size term is in image heights: for framings under one image height it is scaled up (by 1 / size),
        # or an extreme wide twice too big (8 % of an image height off) would cost next to nothing
        size_norm = min(1.0, self.vocab.framing_height_fraction[shot.framing])
        L.set(base, "w_composition", [w.composition_u, w.composition_head_v, w.composition_feet_v / size_norm])
        L.set(base, "w_in_front", w.in_front)
        L.set(base, "w_in_frame", w.in_frame)
        L.set(base, "frame_margin", t.frame_margin)
        L.set(base, "head_softness_px", t.head_softness_fraction * camera.image_height_px)
        L.set(base, "min_depth_m", t.min_depth_m)
        L.set(base, "depth_margin", t.depth_margin)
        L.set(base, "blur_log_knee", t.blur_log_knee)
        L.set(base, "background_distance_m", background)
        L.set(base, "background_blur_px", stand_off.background_blur_px or t.background_blur_px)
        sharp_weight = 0.0 if fixed_lens else w.depth_of_field
        L.set(base, "w_dof", sharp_weight)
        L.set(base, "w_background_blur", w.background_blur if dof_mode == "shallow" and not fixed_lens else 0.0)
        L.set(base, "w_background_sharp", w.background_sharp if dof_mode == "deep" and not fixed_lens else 0.0)
        nominal = camera.f_number.clamp(t.iris_nominal_f_number)
        if dof_mode == "shallow":
            nominal = camera.f_number.min
        L.set(base, "stops_nominal", stops_from_f_number(nominal))
        L.set(base, "w_iris", w.iris_nominal)
        L.set(base, "w_acc", w.acceleration)
        L.set(base, "w_jerk", w.jerk)
        L.set(base, "w_rates", [w.yaw_rate, w.pitch_rate, w.zoom_rate, w.focus_rate, w.iris_rate])
        L.set(base, "inv_limits", [
            1.0 / vehicle.vehicle.max_accel_mps2, 1.0 / vehicle.vehicle.max_jerk_mps3,
            1.0 / yaw_rate_limit(camera, vehicle), 1.0 / vehicle.gimbal.max_pitch_rate_rad_s,
            FOCAL_SCALE_MM / camera.zoom_speed_mm_per_s, 1.0 / camera.focus_speed_m_per_s,
            1.0 / camera.iris_speed_stops_per_s,
        ])
        L.set(base, "w_slack", [w.slack_l1, w.slack_l2])
        heading_decay, heading_lag_s = heading_lag_terms(dt, heading_time_constant_s(camera, vehicle))
        L.set(base, "heading_decay", heading_decay)
        L.set(base, "heading_lag_s", heading_lag_s)
        fence_lo_m, fence_hi_m = vehicle.airspace.planning_bounds_m()
        L.set(base, "fence_lo_m", list(fence_lo_m))
        L.set(base, "fence_hi_m", list(fence_hi_m))
        L.set(base, "max_speed_sq", vehicle.vehicle.max_speed_mps**2)
        L.set(base, "max_accel_sq", vehicle.vehicle.max_accel_mps2**2)
        L.set(base, "min_subject_distance_m", max(self.min_distance_m(), 0.1))
        self._empty_obstacle_slots(base)

        # lens: an override always; otherwise the move's (fixed lens, dolly zoom) once the frame is acquired
        focal_override = override_mm / FOCAL_SCALE_MM if override_mm is not None else None

        # composition weights: the framed subjects that have a slot share 1 (the primary always has one)
        framed_weights = np.array([float(roles.represents.get(s.track_id, 0)) for s in roles.slots]
                                  + [0.0] * (L.max_subjects - len(roles.slots)))
        if framed_weights.sum() == 0.0:  # every slot went to focus targets: frame the first of them
            framed_weights[0] = 1.0
        framed_weights /= framed_weights.sum()
        half_widths = np.zeros(L.max_subjects)
        for i, s in enumerate(roles.slots):
            half_widths[i] = t.framed_half_width_m + t.frame_margin_sigmas * min(
                lateral_sigma_m(s, state.position_m), t.frame_margin_sigma_max_m)
        L.set(base, "subj_half_width_m", half_widths)
        P = np.tile(base[:, None], (1, N + 1))
        steps = np.arange(N + 1)
        group_feet, group_velocity, group_anchor = self.group_over_horizon(framed, steps)
        slot_feet = [_over_horizon(s.positions_m, steps) for s in roles.slots]
        rack_start = t.rack_start_s
        rack_duration = shot.focus.rack_duration_s or t.rack_duration_s
        reference = reference_for(movement)
        view_rate = 0.0
        if movement == "follow":
            desired = self.side_bearing(shot, primary, 0, memory, otherwise_rad=memory.bearing_rad)
            # the arc is as wide as the drone is far: swung at the stand-off radius from 13 m away, the
            # viewpoint asked for a leap across the subject (the plan cut through it and the solve failed)
            radius = max(distance, float(np.linalg.norm(state.position_m - group_anchor[0])))
            view_rate = self.advance_view_bearing(memory, desired, shot_time_s, radius)
        lag_m = 0.0  # how far the camera is behind its move's distance now, carried along the horizon: a dolly
        # zoom's or a fixed lens's focal length follows the distance the camera has (timed on the plan alone, a
        # camera held back by its subjects' walk zoomed out of the size the move keeps, 0.5 too small)
        if memory.acquired_s is not None and memory.plan is not None:
            lag_m = float(np.linalg.norm(state.position_m - group_anchor[0])) - memory.plan.distance_m(
                memory.plan.progress(shot_time_s - memory.acquired_s))
        # no move brings the camera nearer than it can stop should its subjects stop dead (a dolly in behind a
        # runner ended 2.7 m behind at 4.3 m/s; the runner stopped and the drone hit him): the lens takes up the rest
        stopping_m = self.stopping_stand_off_m(framed, state, group_anchor[0])
        boxes, turn_rad = [o for o in obstacles if o.kind == "box"], 0.0
        free_bearing = not self.moves[movement].acquires_side or self.heading(primary, 0, memory) is None
        # ... and the hard minimum distance grows by the same braking distance: the reference alone did not keep
        # it when the framing pulled the camera in (a long lens at its end: the size term won)
        P[L.slices["min_subject_distance_m"], :] = self.min_distance_m() + stopping_m - self.limits.min_distance_m
        if (memory.plan is not None and memory.start is not None and stopping_m > self.limits.min_distance_m
                and memory.plan.end_distance_m < stopping_m):
            relaxations.append(f"{movement}: distance kept at {stopping_m:.1f} m, where the camera can stop should "
                               "its subjects stop (they move away from it)")
        for k in range(N + 1):
            col = P[:, k]
            time_k = shot_time_s + k * dt
            feet, anchor, v_group = group_feet[k], group_anchor[k], group_velocity[k]
            L.set(col, "group_feet_m", feet)
            L.set(col, "view_anchor_m", anchor)
            L.set(col, "stage_weight", self.params.horizon.terminal_weight if k == N else 1.0)
            w_view = [w.view_direction, w.view_distance]
            pos_ref, w_pos, world_anchored = anchor, 0.0, False
            vel_ref = v_group
            size_scale, focal_state = 1.0, None
            if movement == "follow":  # side bearing (swung round at a bounded rate), angle elevation, stand-off
                bearing = self.side_bearing(shot, primary, k, memory, otherwise_rad=desired)
                bearing = approach_angle(memory.view_bearing_rad, bearing, view_rate * k * dt)
                offset = unit(bearing, elevation) * distance
            elif memory.acquired_s is None or memory.plan is None or memory.start is None:
                offset = reference.acquire(self.acquire_goal(shot, primary, memory, distance, k)).offset_m
                if self.moves[movement].lens is not Lens.FREE:  # the move's lens is set from where it starts: the
                    # start distance is part of the start frame (a dolly zoom out taken 30 % too far had no zoom left)
                    w_view = [w.view_direction, w.view_distance * reference.view_gain]
            else:
                plan, since = memory.plan, time_k - memory.acquired_s
                progress = plan.progress(since)
                here = reference.during(plan, memory.start, memory.goal, progress)
                ahead = reference.during(plan, memory.start, memory.goal, plan.progress(since + dt))
                size_scale = plan.size_scale(progress)
                planned_mm = plan.focal_length_mm(progress, max(plan.distance_m(progress) + lag_m, 1e-3))
                if planned_mm is not None:
                    planned_mm = self.camera.focal_length_mm.clamp(planned_mm)
                focal_state = planned_mm / FOCAL_SCALE_MM if planned_mm is not None else None
                if here.position_m is not None:  # world-anchored: the camera stays where it took the frame ...
                    place = self.within_lens_reach(here.position_m, anchor, shot.framing, height, relaxations)
                    offset = place - anchor
                    pos_ref, w_pos, world_anchored = place, w.position_reference * 10.0, True
                    vel_ref, w_view = np.zeros(3), [0.0, 0.0]
                else:
                    offset, ahead_offset = (outside_m(o, stopping_m) for o in (here.offset_m, ahead.offset_m))
                    vel_ref = v_group + (ahead_offset - offset) / dt
                    w_view = [w.view_direction * reference.view_gain, w.view_distance * reference.view_gain]
            if free_bearing and memory.acquired_s is None and not world_anchored:
                # a start frame the shot ties to no side is not taken from inside a building (mpc/viewpoint.py)
                turn_rad = turn_out_of_boxes(anchor, offset, boxes, self.obstacle_clearance_m, turn_rad)
                offset = turned(offset, turn_rad)
            if not world_anchored:  # head for this stage's viewpoint, acquired or not
                vel_ref = vel_ref + self.approach_velocity_mps(state.position_m, anchor + offset, k * dt)
            view_d = float(np.linalg.norm(offset))
            view_dir = offset / max(view_d, 1e-6)
            if focal_override is not None:
                focal_state = focal_override
            L.set(col, "focal_hold", focal_state if focal_state is not None else memory.focal_state)
            L.set(col, "w_focal_hold", 0.0 if fixed_lens or focal_state is None else w.lens_hold)
            L.set(col, "view_dir", view_dir)
            L.set(col, "view_distance_m", max(view_d, 0.1))
            L.set(col, "w_view", w_view)
            L.set(col, "pos_ref_m", pos_ref)
            L.set(col, "w_pos", w_pos)
            L.set(col, "vel_ref_mps", vel_ref)
            L.set(col, "w_vel", w.velocity_reference)
            L.set(col, "target_head_v", head_v)
            L.set(col, "target_feet_v", head_v + fraction * size_scale)

            # focus: blend weights over the slots, and who must be sharp
            alpha = np.zeros(L.max_subjects)
            sharp = np.zeros(L.max_subjects)
            active = np.zeros(L.max_subjects)
            body = np.zeros(3 * L.max_subjects)
            eyes = np.zeros(3 * L.max_subjects)
            feet_slots = np.zeros(3 * L.max_subjects)
            heights = np.zeros(L.max_subjects)
            index = {s.track_id: i for i, s in enumerate(roles.slots)}
            for i, s in enumerate(roles.slots):
                feet_slots[3 * i:3 * i + 3] = slot_feet[i][k]
                heights[i] = s.height_m
                body[3 * i:3 * i + 3] = slot_feet[i][k]
                body[3 * i + 2] += s.height_m * t.body_height_fraction
                eyes[3 * i:3 * i + 3] = slot_feet[i][k]
                eyes[3 * i + 2] += s.height_m * t.eye_height_fraction
                active[i] = 1.0
            focus_ids = [s.track_id for s in roles.focus if s.track_id in index]
            follow = w.focus_follow
            if roles.rack_to is not None and roles.rack_to.track_id in index and focus_ids:
                # the rack starts rack_start after the start frame is acquired; before that it holds the first
                racked = -1.0 if memory.acquired_s is None else time_k - memory.acquired_s - rack_start
                ramp = smoothstep(racked / rack_duration)
                a_i, b_i = index[focus_ids[0]], index[roles.rack_to.track_id]
                alpha[a_i] += 1.0 - ramp
                alpha[b_i] += ramp
                if ramp <= 0.0:
                    sharp[a_i] = 1.0
                elif ramp >= 1.0:
                    sharp[b_i] = 1.0
            elif focus_ids:
                for tid in focus_ids:
                    alpha[index[tid]] = 1.0 / len(focus_ids)
                    sharp[index[tid]] = 1.0
                if len(focus_ids) > 1:
                    follow *= 0.01  # several targets: the depth-of-field terms place the focus
            if dof_mode == "deep":
                for s in framed:
                    if s.track_id in index:
                        sharp[index[s.track_id]] = 1.0
            if fixed_lens:
                follow = w.focus_follow * 10.0
            L.set(col, "subj_body_m", body)
            L.set(col, "subj_eye_m", eyes)
            L.set(col, "subj_feet_m", feet_slots)
            L.set(col, "subj_height_m", heights)
            L.set(col, "subj_framed", framed_weights)
            L.set(col, "subj_focus_alpha", alpha)
            L.set(col, "subj_sharp", sharp)
            L.set(col, "subj_active", active)
            L.set(col, "w_focus_follow", follow if alpha.sum() > 0 else 0.0)
        return P

    def _nearest_obstacles(self, positions_m: np.ndarray, obstacles: list[Obstacle]) -> list[Obstacle]:
        """The obstacles that fill the slots: those the drone and its warm-started plan come nearest to
        (nearest to the drone alone left a wall the plan flew into outside the slots behind two trees)."""
        return sorted(obstacles, key=lambda o: float(np.min(o.distances_m(positions_m))))[: self.layout.max_obstacles]

    def _empty_obstacle_slots(self, vector: np.ndarray) -> None:
        """Every obstacle slot empty; :meth:`place_obstacles` fills them once the warm start is known."""
        L = self.layout
        L.set(vector, "obs_center_m", np.zeros(3 * L.max_obstacles))
        L.set(vector, "obs_axes_m", np.ones(3 * L.max_obstacles))
        L.set(vector, "obs_p_xy", np.full(L.max_obstacles, 2.0))
        L.set(vector, "obs_p_z", np.full(L.max_obstacles, 2.0))
        L.set(vector, "obs_active", np.zeros(L.max_obstacles))
        L.set(vector, "obs_plane", np.zeros(L.max_obstacles))
        L.set(vector, "obs_normal", np.zeros(3 * L.max_obstacles))
        L.set(vector, "obs_offset_m", np.full(L.max_obstacles, -1.0))

    @property
    def obstacle_clearance_m(self) -> float:
        """How far the drone's centre keeps from an obstacle's surface: the airspace's clearance plus its radius."""
        return self.vehicle.airspace.obstacle_clearance_m + self.vehicle.vehicle.radius_m

    def place_obstacles(self, P: np.ndarray, state: RigState, obstacles: list[Obstacle],
                        positions_m: np.ndarray) -> None:
        """Fill the obstacle slots of every stage from the warm start's positions (``positions_m``, one row per
        stage): spheres and cylinders as inflated level sets; each box as one half-space per stage, the plane
        touching the box where that stage's position is nearest to it, pushed out by the clearance."""
        L = self.layout
        clearance = self.obstacle_clearance_m
        path = np.vstack([np.asarray(state.position_m, dtype=float)[None, :], positions_m])
        sl = L.slices
        for i, obstacle in enumerate(self._nearest_obstacles(path, obstacles)):
            if obstacle.kind == "box":
                P[sl["obs_plane"].start + i, :] = 1.0
                for k in range(P.shape[1]):
                    normal, surface = obstacle.separating_plane(positions_m[min(k, len(positions_m) - 1)])
                    P[sl["obs_normal"].start + 3 * i:sl["obs_normal"].start + 3 * i + 3, k] = normal
                    P[sl["obs_offset_m"].start + i, k] = float(normal @ surface) + clearance
                continue
            if obstacle.kind == "sphere":
                center, axes, p_z = obstacle.center_m, np.full(3, obstacle.radius_m + clearance), 2.0
            else:  # a vertical cylinder: flat caps
                center = obstacle.center_m + np.array([0.0, 0.0, obstacle.height_m / 2.0])
                r = obstacle.radius_m + clearance
                axes, p_z = np.array([r, r, obstacle.height_m / 2.0 + clearance]), 8.0
            P[sl["obs_center_m"].start + 3 * i:sl["obs_center_m"].start + 3 * i + 3, :] = center[:, None]
            P[sl["obs_axes_m"].start + 3 * i:sl["obs_axes_m"].start + 3 * i + 3, :] = np.maximum(axes, 1e-3)[:, None]
            P[sl["obs_p_z"].start + i, :] = p_z
            P[sl["obs_active"].start + i, :] = 1.0
