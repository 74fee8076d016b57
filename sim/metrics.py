"""Shot-quality metrics from ground truth: what a camera operator would grade in the dailies.

Everything here is computed from the simulator's *true* subject positions projected
through the *measured* camera pose and lens (``cinempc.optics``), never from what a
controller believed.  That is what makes the numbers comparable between CineMPC and
the baselines: they are graded by the same examiner.

Two layers, both pure functions on plain data so each can be checked on a hand-made case:

* :func:`grade_step` -- one instant: composition error, size error, focus, blur,
  visibility, distances.
* :func:`summarise` -- a run: exactly the keys of ``metrics.json`` (:data:`METRIC_KEYS`).

Definitions (fractions are of the image width unless said otherwise):

* composition error: distance between where the framed subjects are and where the shot
  wants them -- horizontally the mean body centre line against
  ``screen_position_u_fraction``, vertically the mean head top against
  ``framing_head_v_fraction`` -- in pixels over the image width, capped at
  ``max_step_composition_error`` (a subject behind the camera scores the cap).
* size error: mean apparent body length (``cinempc.framing``: focal length x height / depth, the
  head-to-feet height at eye level, unshrunk when seen from above) over the image height, relative to what the
  move expects now -- ``framing_height_fraction`` times the move's size scale (a dolly in grows,
  a dronie shrinks, everything else keeps it; :class:`MoveExaminer`): ``(measured - wanted) / wanted``.
* time to acquire: when the true subjects are first framed within the acquisition tolerances
  of ``config/shots.yaml`` (``None`` when the timeout came first).  The shot-quality averages
  start at ``settle_time_s`` for every controller alike, so a slow acquisition costs composition.
* in focus: every focus subject is in front of the camera and its eyes (optical
  depth) lie inside the thin-lens depth of field, i.e. blur circle <= circle of confusion.
* background blur: the blur circle, in pixels, of a point at the scenario's
  background distance from the camera.
* visible: every framed subject's eyes project inside the image (the face is in the picture --
  in a medium close-up the body centre is far below the frame, the eyes never are).
* angle error: |camera elevation above the framed group's eye line - what the shot asks| in degrees,
  for moves that keep or change the elevation (``keeps``/``changes`` in ``config/shots.yaml``): the
  shot's angle, plus the move's elevation change so far (a crane); ``None`` for the others.
* side error: |camera bearing - the shot's side of the subject's direction of travel| in degrees, for
  moves that keep the side (follow), once the subject has been seen moving; ``None`` otherwise.
* depth-of-field style: the fraction of instants the background looks as the shot asks -- blurred past
  ``shallow_background_blur_px`` for a shallow shot, inside the circle of confusion for a deep one
  (``None`` when the shot asks neither).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from cinempc import optics
from cinempc.angles import wrap_angle
from cinempc.config import Airspace, CameraProfile, load_parameters
from cinempc.framing import composition_error, measure_frame, size_error, view_geometry
from cinempc.moves import (
    FrameErrors,
    MoveLimits,
    MovePlan,
    MoveStart,
    MoveTable,
    framing_focal_mm,
    is_acquired,
    move_table,
    plan_move,
    start_offset_m,
)
from cinempc.shot import ShotSpec, ShotVocabulary, side_bearing_rad
from cinempc.state import Obstacle, RigState

METRIC_KEYS: tuple[str, ...] = (
    "composition_error_rms",
    "time_to_acquire_s",
    "size_error_mean",
    "in_focus_fraction",
    "subject_blur_px_p95",
    "background_blur_px_mean",
    "jerk_rms",
    "min_subject_distance_m",
    "min_obstacle_distance_m",
    "collisions",
    "visible_fraction",
    "solve_ms_p50",
    "solve_ms_p95",
    "solve_ms_max",
    "solve_failures",
    "real_time_factor",
    "angle_error_deg_mean",
    "side_error_deg_mean",
    "dof_style_fraction",
)


@dataclass(frozen=True)
class MetricParams:
    """The metric definitions' numbers (``config/closed_loop.yaml`` ``metrics``)."""

    settle_time_s: float = 2.0
    eye_height_fraction: float = 0.94
    max_step_composition_error: float = 1.0
    still_speed_mps: float = 0.2  # below this a subject's heading is the last one seen while moving
    rack_start_s: float = 0.0  # when a rack focus starts, after the start frame is acquired
    rack_duration_s: float = 2.0  # how long it takes when the shot gives no duration
    shallow_background_blur_px: float = 6.0  # a shallow shot's background is blurred past this

    @classmethod
    def from_config(cls) -> MetricParams:
        """``config/closed_loop.yaml`` ``metrics``; the rack timing from ``config/mpc.yaml`` ``targets``.

        The rack's start is part of what the shot means (when the focus should be where), not a
        controller belief, so the examiner reads the one place that defines it.
        """
        params = {key: float(value) for key, value in load_parameters("closed_loop.yaml")["metrics"].items()}
        try:
            targets = load_parameters("mpc.yaml")["targets"]
            params.setdefault("rack_start_s", float(targets["rack_start_s"]))
            params.setdefault("rack_duration_s", float(targets["rack_duration_s"]))
            params.setdefault("shallow_background_blur_px", float(targets["background_blur_px"]))
        except (FileNotFoundError, KeyError):
            pass
        return cls(**params)


@dataclass(frozen=True)
class TrueSubject:
    """A subject as the world knows it at one instant: feet point on the ground and height."""

    track_id: int
    feet_m: tuple[float, float, float]
    height_m: float
    name: str | None = None
    velocity_mps: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def matches(self, reference: str) -> bool:
        """Same rule as :meth:`cinempc.state.SubjectTrack.matches` (name, ``#id`` or ``all``)."""
        reference = reference.strip().lower()
        return reference in ("all", f"#{self.track_id}") or (
            self.name is not None and reference == self.name.lower()
        )

    @classmethod
    def from_track(cls, track) -> TrueSubject:
        """Row 0 (now) of a ground-truth :class:`cinempc.state.SubjectTrack`."""
        return cls(
            track_id=int(track.track_id),
            feet_m=tuple(float(v) for v in track.positions_m[0]),
            height_m=float(track.height_m),
            name=track.name,
            velocity_mps=tuple(float(v) for v in track.velocities_mps[0]),
        )


@dataclass(frozen=True)
class StepGrade:
    """How one instant of the shot looks, graded against the ShotSpec."""

    composition_error: float  # fraction of image width
    size_error: float  # relative, signed
    in_focus: bool
    subject_blur_px: float  # worst focus subject; inf when behind the camera
    background_blur_px: float
    visible: bool
    framed: int  # how many subjects the shot frames (0: nothing to grade)
    focus_distances_m: tuple[float, ...] = ()  # optical depth of each focus subject's eyes
    near_m: float = 0.0
    far_m: float = math.inf
    u_fraction: float = math.nan  # measured composition point (for plots)
    v_head_fraction: float = math.nan
    angle_error_deg: float = math.nan  # |elevation - expected| where the move defines it (MoveExaminer)
    side_error_deg: float = math.nan  # |bearing - the shot's side| where the move keeps the side
    dof_style: bool | None = None  # the background as the shot's depth of field asks (None: it asks neither)


def _resolve(subjects: Sequence[TrueSubject], references: Iterable[str]) -> list[TrueSubject]:
    """Subjects named by any of the references, in scene order, each once."""
    references = list(references)
    return [s for s in subjects if any(s.matches(r) for r in references)]


def focus_references(
    shot: ShotSpec, shot_time_s: float, rack_start_s: float = 0.0, rack_duration_s: float = 2.0
) -> list[list[str]]:
    """Who must be sharp at ``shot_time_s``, as alternatives (each a list of references, all sharp).

    Normally one alternative: the focus target.  With a rack focus the target changes to
    ``rack_to`` after ``rack_duration_s``; during the rack itself the focus is in transit by
    design, so being sharp on either the old or the new target counts -- and so does a focal
    plane on its way between them (see :func:`grade_step`).
    """
    target = shot.focus_target
    if shot.focus.rack_to is None or shot_time_s < rack_start_s:
        return [[target]]
    if shot_time_s < rack_start_s + (shot.focus.rack_duration_s or rack_duration_s):
        return [[target], [shot.focus.rack_to]]
    return [[shot.focus.rack_to]]


def grade_step(
    state: RigState,
    subjects: Sequence[TrueSubject],
    shot: ShotSpec,
    camera: CameraProfile,
    vocab: ShotVocabulary,
    background_distance_m: float | None = None,
    params: MetricParams | None = None,
    shot_time_s: float = 0.0,
    size_scale: float = 1.0,
    rack_time_s: float | None = None,
) -> StepGrade:
    """Grade one instant: project the true subjects through the measured camera and lens.

    ``size_scale`` is the size the move expects now over the framing's (:class:`MoveExaminer`);
    ``rack_time_s`` the time a rack focus is judged at (since acquisition; default the shot time).
    """
    params = params or MetricParams()
    width, height = camera.image_width_px, camera.image_height_px
    f_m = state.focal_length_mm * 1e-3
    focal_px = camera.focal_px(state.focal_length_mm)
    pose = (state.position_m, state.yaw_rad, state.pitch_rad)

    def project(point):
        return optics.project(point, *pose, focal_px, width, height)

    def blur_px(depth_m: float) -> float:
        if depth_m <= f_m:
            return math.inf
        return float(
            optics.blur_circle_px(f_m, state.f_number, state.focus_distance_m, depth_m, camera.pixel_pitch_m)
        )

    dof = optics.depth_of_field(f_m, state.f_number, max(state.focus_distance_m, 1.001 * f_m), camera.coc_m)
    background_blur = blur_px(background_distance_m) if background_distance_m else math.nan

    framed = _resolve(subjects, shot.subjects)
    if not framed:
        return StepGrade(
            composition_error=params.max_step_composition_error, size_error=-1.0, in_focus=False,
            subject_blur_px=math.inf, background_blur_px=background_blur, visible=False, framed=0,
            near_m=dof.near_m, far_m=dof.far_m,
        )

    visible = True
    for subject in framed:
        eye = np.asarray(subject.feet_m, dtype=float) + np.array([0.0, 0.0, params.eye_height_fraction
                                                                  * subject.height_m])
        u_eye, v_eye, z_eye = project(eye)
        visible = visible and z_eye > 0 and (0.0 <= u_eye <= width and 0.0 <= v_eye <= height)
    view = measure_frame(state.position_m, state.yaw_rad, state.pitch_rad, state.focal_length_mm, camera,
                         [(np.asarray(s.feet_m, dtype=float), s.height_m) for s in framed])
    if view is None:  # a framed subject behind the camera
        composition, size, visible = params.max_step_composition_error, -1.0, False
        u_frac = v_frac = math.nan
    else:
        composition = min(composition_error(view, shot, vocab, camera), params.max_step_composition_error)
        size = size_error(view, shot, vocab, size_scale)
        u_frac, v_frac = view.u_fraction, view.head_v_fraction

    # Focus: every focus subject's eyes inside the depth of field (any alternative of a rack).
    best_blur, in_focus, distances = math.inf, False, ()
    coc_px = camera.coc_m / camera.pixel_pitch_m
    alternatives = focus_references(shot, shot_time_s if rack_time_s is None else rack_time_s,
                                    params.rack_start_s, params.rack_duration_s)
    transit_depths: list[float] = []
    for alternative in alternatives:
        group = _resolve(subjects, alternative)
        if not group:
            continue
        depths = []
        for subject in group:
            eye = np.asarray(subject.feet_m, dtype=float) + np.array(
                [0.0, 0.0, params.eye_height_fraction * subject.height_m]
            )
            depths.append(float(project(eye)[2]))
        transit_depths += depths
        worst = max(blur_px(d) for d in depths)
        if worst < best_blur or not distances:
            best_blur, distances = worst, tuple(depths)
        in_focus = in_focus or worst <= coc_px * (1.0 + 1e-9)
    if len(alternatives) > 1 and transit_depths:
        # a rack in progress: the pull itself is the requested image, so a focal plane between the
        # old and the new target is on cue (a lens parked anywhere else, or pulled the wrong way, is not)
        in_focus = in_focus or min(transit_depths) <= state.focus_distance_m <= max(transit_depths)

    dof_style = None
    if shot.focus.depth_of_field == "shallow" and math.isfinite(background_blur):
        dof_style = background_blur >= params.shallow_background_blur_px
    elif shot.focus.depth_of_field == "deep" and math.isfinite(background_blur):
        dof_style = background_blur <= coc_px
    return StepGrade(
        composition_error=float(composition), size_error=float(size), in_focus=bool(in_focus),
        subject_blur_px=float(best_blur), background_blur_px=float(background_blur), visible=bool(visible),
        framed=len(framed), focus_distances_m=distances, near_m=float(dof.near_m), far_m=float(dof.far_m),
        u_fraction=u_frac, v_head_fraction=v_frac, dof_style=dof_style,
    )


@dataclass(frozen=True)
class MoveExpectation:
    """What the shot's move expects at one instant, from the ShotSpec and ground truth alone."""

    size_scale: float  # expected subject height over the framing's
    acquired_s: float | None  # when the start frame was acquired (or the acquisition timed out)
    rack_time_s: float | None  # time since acquisition (a rack focus is timed from there)
    angle_error_deg: float | None = None  # |elevation - expected| (moves that keep or change it)
    side_error_deg: float | None = None  # |bearing - the shot's side| (moves that keep the side)

    def graded(self, grade: StepGrade) -> StepGrade:
        """The step's grade with the angle and side errors this expectation measured."""
        return replace(grade, angle_error_deg=_nan_if_none(self.angle_error_deg),
                       side_error_deg=_nan_if_none(self.side_error_deg))


def _nan_if_none(value: float | None) -> float:
    return math.nan if value is None else float(value)


class MoveExaminer:
    """The examiner's own account of acquire -> move -> hold (``cinempc.moves``), never the controller's.

    The start frame counts as acquired at the first instant the true subjects are framed within the
    acquisition tolerances (composition, size, angle) of ``config/shots.yaml``, or at its timeout;
    from there the move's extent is planned from the true camera-to-subject distance, and the size it
    expects follows.
    """

    def __init__(self, shot: ShotSpec, camera: CameraProfile, vocab: ShotVocabulary, airspace: Airspace,
                 params: MetricParams | None = None, table: MoveTable | None = None) -> None:
        self.shot, self.camera, self.vocab = shot, camera, vocab
        self.params = params or MetricParams()
        self.table = table or move_table()
        self.limits = MoveLimits.of(camera, airspace, self.table)
        self.acquired_s: float | None = None
        self.timed_out = False
        self.plan: MovePlan | None = None
        self.heading_rad: float | None = None  # the primary's direction of travel, last seen while moving

    def _side_error_deg(self, bearing_rad: float, distance_m: float) -> float | None:
        """Camera bearing off the start frame's, for moves whose start frame is on the shot's side."""
        cfg = self.table[self.shot.movement.type]
        if not cfg.acquires_side or self.heading_rad is None:  # never seen moving: its sides are unknown
            return None
        want = start_offset_m(cfg, self.heading_rad + side_bearing_rad(self.shot.side),
                              math.radians(self.vocab.angle_elevation_deg[self.shot.angle]), distance_m,
                              self.vocab.movement_speed_mps(self.shot.movement))
        return math.degrees(wrap_angle(bearing_rad - math.atan2(want[1], want[0])))

    def _stand_off_m(self) -> float:
        """The shot's stand-off: its distance, else the framing's default, never inside the move limits."""
        wanted = self.shot.distance_m or self.vocab.default_distance_m[self.shot.framing]
        return max(wanted, self.limits.min_distance_m)

    def observe(self, state: RigState, subjects: Sequence[TrueSubject], shot_time_s: float) -> MoveExpectation:
        """Update the acquisition from this instant and say what the move expects now (size, angle, side)."""
        framed = _resolve(subjects, self.shot.subjects)
        if framed and math.hypot(*framed[0].velocity_mps[:2]) > self.params.still_speed_mps:
            self.heading_rad = math.atan2(framed[0].velocity_mps[1], framed[0].velocity_mps[0])
        elevation = side = None
        if framed:
            feet = np.mean([s.feet_m for s in framed], axis=0)
            eye_m = self.params.eye_height_fraction * float(np.mean([s.height_m for s in framed]))
            anchor = feet + np.array([0.0, 0.0, eye_m])
            distance, bearing, elevation = view_geometry(state.position_m, anchor)
            side = self._side_error_deg(bearing, self._stand_off_m())
        want = math.radians(self.vocab.angle_elevation_deg[self.shot.angle])
        if self.acquired_s is None and framed:
            view = measure_frame(state.position_m, state.yaw_rad, state.pitch_rad, state.focal_length_mm, self.camera,
                                 [(np.asarray(s.feet_m, dtype=float), s.height_m) for s in framed])
            size = size_error(view, self.shot, self.vocab) if view is not None else math.inf
            start = MoveStart(distance_m=max(distance, self.limits.min_distance_m), elevation_rad=elevation,
                              camera_height_m=float(state.position_m[2]),
                              focal_length_mm=framing_focal_mm(state.focal_length_mm, size, self.limits))
            rule = self.table.acquire
            acquired = view is not None and is_acquired(FrameErrors(
                composition=composition_error(view, self.shot, self.vocab, self.camera),
                size=size, elevation_deg=math.degrees(elevation - want), side_deg=side,
            ), rule, self.table[self.shot.movement.type], start, self.limits)
            if acquired or shot_time_s >= rule.timeout_s:
                self.acquired_s, self.timed_out = shot_time_s, not acquired
                self.plan = plan_move(self.shot, self.vocab, start, self.limits, self.table)
        cfg = self.table[self.shot.movement.type]
        progress = 0.0
        if self.acquired_s is not None and self.plan is not None:
            progress = self.plan.progress(shot_time_s - self.acquired_s)
        angle_error = None
        if elevation is not None and ({"angle", "elevation"} & set(cfg.keeps) or "elevation" in cfg.changes):
            expected = want + (self.plan.elevation_change_rad * progress if self.plan is not None else 0.0)
            angle_error = abs(math.degrees(elevation - expected))
        side_error = abs(side) if side is not None and "side" in cfg.keeps else None
        if self.acquired_s is None or self.plan is None:
            return MoveExpectation(size_scale=1.0, acquired_s=None, rack_time_s=-math.inf,
                                   angle_error_deg=angle_error, side_error_deg=side_error)
        return MoveExpectation(self.plan.size_scale(progress), self.acquired_s, shot_time_s - self.acquired_s,
                               angle_error_deg=angle_error, side_error_deg=side_error)


def subject_distance_m(position_m, subject: TrueSubject) -> float:
    """Distance from a point to the subject's body axis (the vertical segment feet..head)."""
    p = np.asarray(position_m, dtype=float)
    feet = np.asarray(subject.feet_m, dtype=float)
    z = min(max(p[2], feet[2]), feet[2] + subject.height_m)
    return float(np.linalg.norm(p - np.array([feet[0], feet[1], z])))


def jerk_rms(acceleration_mps2: np.ndarray, dt_s: float) -> float:
    """RMS of the jerk magnitude (m/s^3) from accelerations sampled every ``dt_s``."""
    acceleration = np.asarray(acceleration_mps2, dtype=float)
    if len(acceleration) < 2:
        return 0.0
    jerk = np.diff(acceleration, axis=0) / dt_s
    return float(np.sqrt(np.mean(np.sum(jerk**2, axis=1))))


@dataclass
class RunRecord:
    """What :func:`summarise` needs from a run (the closed-loop log fills it)."""

    times_s: list[float] = field(default_factory=list)
    grades: list[StepGrade] = field(default_factory=list)
    accelerations_mps2: list[np.ndarray] = field(default_factory=list)
    subject_distances_m: list[float] = field(default_factory=list)  # nearest subject per step
    obstacle_distances_m: list[float] = field(default_factory=list)  # nearest obstacle per step
    solve_ms: list[float] = field(default_factory=list)
    solve_failures: int = 0  # steps whose solve failed or came late (a fallback flew instead)
    acquired_s: float | None = None  # when the examiner saw the start frame acquired
    acquire_timed_out: bool = False
    collisions: int = 0
    sim_time_s: float = 0.0
    wall_time_s: float = 0.0


def min_obstacle_distance_m(position_m, obstacles: Sequence[Obstacle]) -> float:
    """Distance from the drone centre to the nearest obstacle surface (inf without obstacles)."""
    return min((obstacle.distance_m(position_m) for obstacle in obstacles), default=math.inf)


def _finite_or_none(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _mean_finite(values: Sequence[float]) -> float | None:
    """Mean of the finite values; None when there are none (the metric does not apply)."""
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else None


def _fraction_known(flags: Sequence[bool | None]) -> float | None:
    """Fraction of True among the flags that are not None; None when all are."""
    known = [f for f in flags if f is not None]
    return float(np.mean(known)) if known else None


def summarise(record: RunRecord, params: MetricParams | None = None) -> dict[str, float | int | None]:
    """The ``metrics.json`` dictionary: exactly :data:`METRIC_KEYS`.

    Shot-quality averages skip the first ``settle_time_s`` (the flight into position) when the
    run is longer than that; safety numbers cover the whole run.  A value that cannot exist (no
    obstacles in the scene, no solve times) is ``None`` (JSON ``null``), never a made-up number.
    """
    params = params or MetricParams()
    times = np.asarray(record.times_s, dtype=float)
    # one window for every controller: grading each from its own acquisition favoured late acquirers (a
    # baseline acquiring at 5.9 s was graded on the easy rest of a shot CineMPC had framed since 1.1 s)
    graded = [g for t, g in zip(times, record.grades, strict=True) if t >= params.settle_time_s]
    if not graded:
        graded = list(record.grades)
    framed = [g for g in graded if g.framed > 0]
    composition = np.array([g.composition_error for g in framed]) if framed else np.array([1.0])
    size = np.array([abs(g.size_error) for g in framed]) if framed else np.array([1.0])
    blur = np.array([g.subject_blur_px for g in framed if math.isfinite(g.subject_blur_px)])
    background = np.array([g.background_blur_px for g in graded if math.isfinite(g.background_blur_px)])
    dt_s = float(np.median(np.diff(times))) if len(times) > 1 else 0.1
    solve = np.asarray(record.solve_ms, dtype=float)
    acquired = record.acquired_s is not None and not record.acquire_timed_out
    metrics: dict[str, float | int | None] = {
        "composition_error_rms": float(np.sqrt(np.mean(composition**2))),
        "time_to_acquire_s": float(record.acquired_s) if acquired else None,
        "size_error_mean": float(np.mean(size)),
        "in_focus_fraction": float(np.mean([g.in_focus for g in framed])) if framed else 0.0,
        "subject_blur_px_p95": float(np.percentile(blur, 95)) if blur.size else None,
        "background_blur_px_mean": float(np.mean(background)) if background.size else None,
        "jerk_rms": jerk_rms(np.asarray(record.accelerations_mps2).reshape(-1, 3), dt_s),
        "min_subject_distance_m": _finite_or_none(min(record.subject_distances_m, default=math.inf)),
        "min_obstacle_distance_m": _finite_or_none(min(record.obstacle_distances_m, default=math.inf)),
        "collisions": int(record.collisions),
        "visible_fraction": float(np.mean([g.visible for g in framed])) if framed else 0.0,
        "solve_ms_p50": float(np.percentile(solve, 50)) if solve.size else None,
        "solve_ms_p95": float(np.percentile(solve, 95)) if solve.size else None,
        "solve_ms_max": float(np.max(solve)) if solve.size else None,
        "solve_failures": int(record.solve_failures),
        "real_time_factor": float(record.sim_time_s / record.wall_time_s) if record.wall_time_s > 0 else None,
        "angle_error_deg_mean": _mean_finite([g.angle_error_deg for g in framed]),
        "side_error_deg_mean": _mean_finite([g.side_error_deg for g in framed]),
        "dof_style_fraction": _fraction_known([g.dof_style for g in framed]),
    }
    assert tuple(metrics) == METRIC_KEYS
    return metrics
