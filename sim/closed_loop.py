"""The closed loop: a controller flies a rig through a shot while ground truth grades it.

One job: at the control rate, read the rig, ask the controller for a setpoint, send it,
and log what really happened.  The two ends are pluggable:

* the **rig link** (:class:`RigLink`) is anything that can take a setpoint and report the
  rig, the subjects and the world -- today the PyBullet :class:`cinempc_sim.simulator.Simulator`
  itself, later the same simulator behind MAVLink over UDP, or a real drone;
* the **controller** (:class:`Controller`) is anything with ``solve(...)`` returning a result
  with a ``setpoint`` -- CineMPC, the ``extrinsics_only`` MPC, the ``follow`` baseline.

Outside code watches and steers a running loop through a small hook: ``on_step`` callbacks
receive every :class:`StepEvent` (frame + state + result + grade; called once the step's
setpoint has been sent, so rendering overlaps the controller and the physics), and :meth:`ClosedLoop.set_shot`,
:meth:`ClosedLoop.hold`, :meth:`ClosedLoop.resume` and :meth:`ClosedLoop.stop` may be called from
any thread (a director web app) -- they take effect at the next control step.

Safety lives here too, independent of the controller, in the same core every loop uses
(:class:`cinempc.safety.SafetyCore`): HOLD, an exception or a non-finite answer from the
controller becomes a hover latched where it began, and a setpoint outside the geofence/altitude
band is clamped into it before it reaches the rig (docs/safety.md).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np

from cinempc.config import CameraProfile, VehicleConfig, load_parameters
from cinempc.safety import SafetyCore, SafetyInputs, SafetyLimits, Status
from cinempc.shot import ShotSpec, ShotVocabulary, vocabulary
from cinempc.state import Obstacle, RigState, Setpoint, SubjectTrack
from cinempc_sim.metrics import (
    MetricParams,
    MoveExaminer,
    RunRecord,
    StepGrade,
    TrueSubject,
    grade_step,
    min_obstacle_distance_m,
    subject_distance_m,
    summarise,
)


class RigLink(Protocol):
    """What the loop needs from the rig side (the Simulator facade satisfies it as is)."""

    time_s: float
    collisions: int
    background_distance_m: float

    def step(self, setpoint: Setpoint, dt_s: float) -> None: ...
    def rig_state(self) -> RigState: ...
    def subjects(self, horizon_steps: int, dt_s: float) -> list[SubjectTrack]: ...
    def obstacles(self) -> list[Obstacle]: ...
    def render(self) -> Any: ...


class Controller(Protocol):
    """What the loop needs from a controller (CineMPC satisfies it as is).

    A controller that renders the camera itself (one that sees through perception) may also have
    ``last_frame``: the loop then uses the frame it drew for this instant instead of drawing it
    twice (:meth:`ClosedLoop._frame_from_controller`).
    """

    horizon_steps: int
    dt_s: float

    def reset(self) -> None: ...

    def solve(
        self, state: RigState, shot: ShotSpec, subjects: list[SubjectTrack], obstacles: list[Obstacle],
        shot_time_s: float, background_distance_m: float | None = None,
    ) -> Any: ...


@dataclass(frozen=True)
class LoopSettings:
    """Rates of the loop (``config/closed_loop.yaml`` ``closed_loop``)."""

    control_rate_hz: float = 10.0
    render_rate_hz: float = 10.0
    video_fps: int = 10

    @classmethod
    def from_config(cls, **overrides) -> LoopSettings:
        params = dict(load_parameters("closed_loop.yaml")["closed_loop"])
        params.update({k: v for k, v in overrides.items() if v is not None})
        settings = cls(
            control_rate_hz=float(params["control_rate_hz"]), render_rate_hz=float(params["render_rate_hz"]),
            video_fps=int(params["video_fps"]),
        )
        if not (0 < settings.control_rate_hz <= 100 and 0 <= settings.render_rate_hz <= settings.control_rate_hz):
            raise ValueError(
                f"control_rate_hz must be in (0, 100] and render_rate_hz in [0, control rate], got "
                f"{settings.control_rate_hz} and {settings.render_rate_hz}"
            )
        return settings


@dataclass(frozen=True)
class StepEvent:
    """Everything about one control step, handed to ``on_step`` hooks and kept in the log."""

    index: int
    time_s: float
    shot_time_s: float
    shot: ShotSpec
    state: RigState
    subjects: list[SubjectTrack]
    setpoint: Setpoint
    status: Status
    solve_ms: float
    grade: StepGrade
    nearest_subject_m: float
    nearest_obstacle_m: float
    subject_depths_m: dict[str, float]
    collisions: int
    result: Any = None  # the controller's own result object (MPCResult: plan, costs, ...)
    frame: Any = None  # the rendered Frame when this step was rendered, else None
    fenced: bool = False  # the safety core clamped the setpoint into the geofence
    hold_reason: str = ""  # why the safety core holds ("" when flying the controller's setpoint)


@dataclass
class RunResult:
    """A finished run: the per-step log and ``metrics.json``."""

    controller: str
    scenario: str
    shot: ShotSpec
    events: list[StepEvent]
    metrics: dict[str, Any]
    camera: CameraProfile
    wall_time_s: float
    statuses: dict[str, int] = field(default_factory=dict)


def subject_label(track: SubjectTrack | TrueSubject) -> str:
    """A subject's display name: its name, else ``#id``."""
    return track.name or f"#{track.track_id}"


class ClosedLoop:
    """Runs a controller against a rig link at a fixed control rate and grades every step."""

    def __init__(
        self,
        link: RigLink,
        controller: Controller,
        shot: ShotSpec,
        camera: CameraProfile,
        vehicle: VehicleConfig,
        *,
        controller_name: str = "cinempc",
        scenario_name: str = "",
        settings: LoopSettings | None = None,
        metric_params: MetricParams | None = None,
        vocab: ShotVocabulary | None = None,
        on_step: Sequence[Callable[[StepEvent], None]] = (),
        render: bool = True,
        async_render: bool = True,
    ) -> None:
        self.link = link
        self.controller = controller
        self.camera = camera
        self.vehicle = vehicle
        self.controller_name = controller_name
        self.scenario_name = scenario_name
        self.settings = settings or LoopSettings.from_config()
        self.metric_params = metric_params or MetricParams.from_config()
        self.vocab = vocab or vocabulary()
        self.hooks: list[Callable[[StepEvent], None]] = list(on_step)
        self.render_enabled = render and self.settings.render_rate_hz > 0
        self.async_render = async_render
        self._lock = threading.Lock()
        self._shot = shot
        self._pending_shot: ShotSpec | None = None
        self._hold = False
        self.safety = SafetyCore(vehicle.airspace, SafetyLimits.from_config())  # latches holds, fences setpoints
        self._stop = False
        self._shot_start_s = 0.0

    # ----------------------------------------------------------- steering hooks (thread-safe)

    @property
    def shot(self) -> ShotSpec:
        return self._shot

    def set_shot(self, shot: ShotSpec) -> None:
        """Cut to a new shot at the next control step (the controller forgets its warm start)."""
        if not isinstance(shot, ShotSpec):
            raise TypeError(f"set_shot needs a ShotSpec, got {type(shot).__name__}")
        with self._lock:
            self._pending_shot = shot

    def hold(self) -> None:
        """Hover in place with the lens as it is, from the next step until :meth:`resume`."""
        with self._lock:
            self._hold = True

    def resume(self) -> None:
        """Hand control back to the controller after :meth:`hold`."""
        with self._lock:
            self._hold = False

    def stop(self) -> None:
        """End :meth:`run` after the current step."""
        with self._lock:
            self._stop = True

    # ------------------------------------------------------------------------------ loop

    def _frame_from_controller(self, now_s: float):
        """The frame the controller rendered for the instant ``now_s``, else a frame rendered now.

        Why: the live run with ``--perception yolo`` drew every frame twice, once for the
        tablet and once for the detector (2 cores: 20 ms of a 100 ms step at 320 px).
        """
        frame = getattr(self.controller, "last_frame", None)
        if frame is not None and abs(float(getattr(frame, "time_s", math.nan)) - now_s) < 1e-6:
            return frame
        return self.link.render()  # (the solve failed before it rendered: the tablet still gets this instant)

    def _controller_answer(self, state, subjects, obstacles, shot_time_s, background_m):
        """Ask the controller: (result, error, solve_ms); an exception is reported, never raised."""
        start = time.perf_counter()
        try:
            result = self.controller.solve(state, self._shot, subjects, obstacles, shot_time_s, background_m)
            solve_ms = float(getattr(result, "solve_ms", (time.perf_counter() - start) * 1e3))
            return result, None, solve_ms
        except Exception as exc:  # noqa: BLE001 -- a controller fault must never crash the flight
            return exc, repr(exc), (time.perf_counter() - start) * 1e3

    def _examiner(self) -> MoveExaminer:
        """A fresh examiner of the current shot's acquire -> move -> hold."""
        return MoveExaminer(self._shot, self.camera, self.vocab, self.vehicle.airspace, self.metric_params)

    def _start_render(self):
        """A frame of the rig now: a Future when the link can render in the background, else the frame."""
        if self.async_render and hasattr(self.link, "render_async"):
            return self.link.render_async()
        return self.link.render()

    def run(self, duration_s: float, progress: Callable[[float], None] | None = None) -> RunResult:
        """Fly for ``duration_s`` seconds of simulated time (or until :meth:`stop`)."""
        if not (math.isfinite(duration_s) and duration_s > 0):
            raise ValueError(f"duration_s must be a positive number of seconds, got {duration_s!r}")
        dt_s = 1.0 / self.settings.control_rate_hz
        steps = int(round(duration_s * self.settings.control_rate_hz))
        render_every = (
            max(1, int(round(self.settings.control_rate_hz / self.settings.render_rate_hz)))
            if self.render_enabled else 0
        )
        self.controller.reset()
        obstacles = list(self.link.obstacles())
        events: list[StepEvent] = []
        record = RunRecord()
        statuses: dict[str, int] = {}
        self._shot_start_s = float(self.link.time_s)
        examiner = self._examiner()
        wall_start = time.perf_counter()
        sim_start = float(self.link.time_s)
        for index in range(steps):
            with self._lock:
                if self._stop:
                    break
                if self._pending_shot is not None:
                    self._shot, self._pending_shot = self._pending_shot, None
                    self._shot_start_s = float(self.link.time_s)
                    self.controller.reset()
                    examiner = self._examiner()
                holding = self._hold
            now_s = float(self.link.time_s)
            shot_time_s = now_s - self._shot_start_s
            # The frame of this instant is drawn while the controller thinks and the physics steps -- unless
            # the controller draws it itself (perception), when its frame is taken after the solve.
            frame_due = bool(render_every) and index % render_every == 0
            borrow = frame_due and not holding and hasattr(self.controller, "last_frame")
            pending = self._start_render() if frame_due and not borrow else None
            state = self.link.rig_state()
            background_m = float(self.link.background_distance_m)
            subjects = list(self.link.subjects(self.controller.horizon_steps, self.controller.dt_s))
            result, error, solve_ms = None, None, 0.0
            if not holding:
                result, error, solve_ms = self._controller_answer(state, subjects, obstacles, shot_time_s,
                                                                  background_m)
            decision = self.safety.step(SafetyInputs(
                now_s=now_s, state=state, state_time_s=now_s, director_hold=holding,
                result=None if error is not None else result, result_time_s=now_s, error=error))
            if decision.setpoint is None:  # the rig reports no usable state: hover where it is (the rig's own hold)
                decision = replace(decision, setpoint=Setpoint.hold_at(state))
            setpoint, status, fenced = decision.setpoint, decision.status, decision.fenced

            truth = [TrueSubject.from_track(track) for track in subjects]
            expected = examiner.observe(state, truth, shot_time_s)
            grade = expected.graded(grade_step(state, truth, self._shot, self.camera, self.vocab, background_m,
                                               self.metric_params, shot_time_s, expected.size_scale,
                                               expected.rack_time_s))
            nearest_subject = min((subject_distance_m(state.position_m, s) for s in truth), default=math.inf)
            nearest_obstacle = min_obstacle_distance_m(state.position_m, obstacles)
            depths = _subject_depths(state, truth, self.metric_params.eye_height_fraction)
            collisions = int(self.link.collisions)
            if borrow:
                pending = self._frame_from_controller(now_s)
            self.link.step(setpoint, dt_s)
            frame = pending.result() if hasattr(pending, "result") else pending
            event = StepEvent(
                index=index, time_s=now_s - sim_start, shot_time_s=shot_time_s, shot=self._shot, state=state,
                subjects=subjects, setpoint=setpoint, status=status, solve_ms=solve_ms, grade=grade,
                nearest_subject_m=nearest_subject, nearest_obstacle_m=nearest_obstacle, subject_depths_m=depths,
                collisions=collisions, result=result, frame=frame, fenced=fenced,
                hold_reason=decision.reason if decision.holding else "",
            )
            for hook in self.hooks:
                hook(event)
            events.append(_without_frame(event))
            statuses[status] = statuses.get(status, 0) + 1

            record.times_s.append(event.time_s)
            record.grades.append(grade)
            record.accelerations_mps2.append(state.acceleration_mps2)
            record.subject_distances_m.append(nearest_subject)
            if math.isfinite(nearest_obstacle):
                record.obstacle_distances_m.append(nearest_obstacle)
            if result is not None:
                record.solve_ms.append(solve_ms)
            if status.startswith(("fallback", "controller_error")):
                record.solve_failures += 1

            if progress is not None:
                progress((index + 1) / steps)
        wall_time_s = time.perf_counter() - wall_start
        record.collisions = int(self.link.collisions)
        if examiner.acquired_s is not None:  # the current shot's acquisition, relative to the run's start
            record.acquired_s = examiner.acquired_s + self._shot_start_s - sim_start
            record.acquire_timed_out = examiner.timed_out
        record.sim_time_s = float(self.link.time_s) - sim_start
        record.wall_time_s = wall_time_s
        return RunResult(
            controller=self.controller_name, scenario=self.scenario_name, shot=self._shot, events=events,
            metrics=summarise(record, self.metric_params), camera=self.camera, wall_time_s=wall_time_s,
            statuses=statuses,
        )


def _without_frame(event: StepEvent) -> StepEvent:
    """The event kept in the log: frames go to the hooks (video writer), not into memory."""
    if event.frame is None:
        return event
    return replace(event, frame=None)


def _subject_depths(state: RigState, subjects: Sequence[TrueSubject], eye_fraction: float) -> dict[str, float]:
    """Optical depth of each subject's eyes: what the focus ring and the DoF plot talk about."""
    from cinempc.optics import camera_frame_point

    depths = {}
    for subject in subjects:
        eye = np.asarray(subject.feet_m) + np.array([0.0, 0.0, eye_fraction * subject.height_m])
        depths[subject_label(subject)] = float(camera_frame_point(eye, state.position_m, state.yaw_rad,
                                                                  state.pitch_rad)[2])
    return depths


# ------------------------------------------------------------------ one scenario, one controller


@dataclass
class RunSetup:
    """A scenario made ready to fly: its shot, duration, loop settings, camera, limits and a reset simulator."""

    scenario: Any
    shot: ShotSpec
    duration_s: float
    settings: LoopSettings
    camera: CameraProfile
    vehicle: VehicleConfig
    sim: Any
    render: bool

    def make_controller(self, name: str, solver: str = "fast", lockstep: bool = True):
        """The named controller for this camera and vehicle (the follow baseline runs at the loop's rate)."""
        from cinempc_sim.baselines import make_controller

        if name == "follow":
            return make_controller(name, self.camera, self.vehicle, dt_s=1.0 / self.settings.control_rate_hz)
        return make_controller(name, self.camera, self.vehicle, solver=solver, lockstep=lockstep)


def prepare_run(scenario, shot: ShotSpec | str | None, duration_s: float | None, *, seed: int = 0,
                render_rate_hz: float | None = None, image_size: tuple[int, int] = (320, 240),
                render: bool | None = None) -> RunSetup:
    """Everything every closed-loop runner (direct, MAVLink, perception) sets up the same way.

    ``render`` defaults to the loop's render rate being positive; the duration is the
    caller's, else the shot's, else the scenario's.
    """
    from cinempc.config import load_camera_profile, load_vehicle_config
    from cinempc_sim.scenario import Scenario, load_scenario
    from cinempc_sim.simulator import Simulator

    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    shot_spec = resolve_shot(scenario, shot)
    duration = float(duration_s if duration_s is not None else (shot_spec.duration_s or scenario.duration_s))
    settings = LoopSettings.from_config(render_rate_hz=render_rate_hz)
    camera = load_camera_profile(scenario.camera_profile).with_resolution(*image_size)
    vehicle = load_vehicle_config()
    render = settings.render_rate_hz > 0 if render is None else render
    sim = Simulator(scenario, camera=camera, seed=seed, render=render, image_size=image_size)
    sim.reset()
    return RunSetup(scenario, shot_spec, duration, settings, camera, vehicle, sim, render)


def resolve_shot(scenario, shot: ShotSpec | str | None) -> ShotSpec:
    """The shot to fly: a ShotSpec, a preset name / ShotSpec file, or the scenario's default."""
    from cinempc.shot import load_shot

    if isinstance(shot, ShotSpec):
        return shot
    if shot is not None:
        return load_shot(shot)
    default = scenario.default_shot
    if isinstance(default, dict):
        return ShotSpec(**{"name": f"{scenario.name}_default", **default})
    return load_shot(default)


def run_scenario(
    scenario,
    shot: ShotSpec | str | None = None,
    controller: str = "cinempc",
    duration_s: float | None = None,
    *,
    seed: int = 0,
    out_dir=None,
    video: bool = True,
    render_rate_hz: float | None = None,
    solver: str = "fast",
    lockstep: bool = True,
    image_size: tuple[int, int] = (320, 240),
    on_step: Sequence[Callable[[StepEvent], None]] = (),
    progress: Callable[[float], None] | None = None,
) -> RunResult:
    """Fly one controller through one scenario in the PyBullet simulator and (optionally) write its evidence.

    ``scenario`` is a :class:`cinempc_sim.scenario.Scenario` or a path to its YAML file.  With
    ``out_dir`` the run writes camera.mp4 (when ``video``), metrics.json, trajectory.csv,
    plots.png and run.json there.  ``render_rate_hz=0`` skips rendering entirely: the metrics
    come from ground-truth geometry and never from frames, so a metrics-only run is honest.
    ``lockstep`` (default) lifts the MPC's wall-clock deadline: the simulated world waits while the
    controller thinks, so results do not depend on how busy the machine is (solve times are still
    reported); ``lockstep=False`` keeps the deadline and its fallbacks, as on a real flight.
    """
    setup = prepare_run(scenario, shot, duration_s, seed=seed, render_rate_hz=render_rate_hz, image_size=image_size)
    scenario, shot_spec, duration, settings = setup.scenario, setup.shot, setup.duration_s, setup.settings
    camera, vehicle, sim, render = setup.camera, setup.vehicle, setup.sim, setup.render
    if render and hasattr(sim, "render_async"):  # start the render helper before the loop's clock runs
        sim.render_async().result()
    hooks = list(on_step)
    writer = None
    if out_dir is not None and video and render:
        from pathlib import Path

        from cinempc_sim.report import CameraVideo

        writer = CameraVideo(Path(out_dir) / "camera.mp4", fps=int(round(settings.render_rate_hz)))
        hooks.append(writer)
    loop = ClosedLoop(
        sim, setup.make_controller(controller, solver=solver, lockstep=lockstep), shot_spec, camera, vehicle,
        controller_name=controller, scenario_name=scenario.name, settings=settings, on_step=hooks, render=render,
    )
    try:
        result = loop.run(duration, progress=progress)
    finally:
        if writer is not None:
            writer.close()
        if hasattr(sim, "close"):
            sim.close()
    if out_dir is not None:
        from cinempc_sim.report import write_run

        write_run(result, out_dir, extra={"seed": seed, "duration_s": duration, "solver": solver,
                                          "lockstep": lockstep})
    return result
