"""Connects a closed-loop simulator run to the director's live hub, so a tablet can drive a simulated shoot.

:class:`DirectorBridge` is an ``on_step`` hook of :class:`cinempc_sim.closed_loop.ClosedLoop`:
every control step it pushes the rendered frame (with subject boxes from the ground-truth
segmentation), the rig and lens state and the controller status to the
:class:`cinempc.director.live.LiveHub`, then ticks the hub and applies what the director
wants (a new shot, HOLD, RESUME, abort) through the loop's thread-safe steering calls.
HOLD also reaches the loop directly from the web thread (a hold listener), so it does not
wait for the next hook call.

By default the loop flies on ground-truth subjects (the scenario's, with its names): people the
director points out on the map (``Direction.subject_pins``) are shown on the tablet's map but
change nothing in the flight -- a pin with a scenario subject's name is "found" at once.  With
``perception="yolo"`` the controller sees through the camera
(:class:`cinempc_sim.perception_data.PerceivingController`), as the ROS graph's perception node
does: the tablet shows perception's subjects and IDs (their estimates projected into the frame,
:func:`cinempc.director.live.perceived_subjects`), and the director's names and pins go to the
pipeline (:meth:`PerceptionPipeline.apply_director`).  The simulated operator still points the
scenario's named people out on the map at the first frame, as in ``cinempc perception closed-loop``.

A live run paces the simulation to wall-clock time (``realtime_factor``): a director
watching a shot that plays ten times too fast cannot direct it.  :func:`run_live` builds the
simulator, the controller and the loop exactly as ``cinempc sim`` does and flies until the
duration ends or :meth:`LiveRun.stop`.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cinempc.director.live import (
    Direction,
    GroundSubject,
    LiveHub,
    SubjectBox,
    perceived_subjects,
    resolve_subject_names,
)
from cinempc.perception.reports import search_reports
from cinempc.shot import ShotSpec

log = logging.getLogger("cinempc.director")

# kept under the name the bridge first gave it
shot_with_track_refs = resolve_subject_names


def subject_boxes(segmentation: np.ndarray, depth_m: np.ndarray | None = None,
                  names: dict[int, str] | None = None, min_pixels: int = 4) -> list[SubjectBox]:
    """Image boxes of every subject visible in a segmentation mask (track id per pixel, -1 elsewhere).

    Ground truth stands in for the detector here; the ROS node publishes the tracker's boxes instead.
    ``distance_m`` is the median depth of the subject's pixels (what the focus puller would measure).
    """
    seg = np.asarray(segmentation)
    boxes = []
    ids = np.unique(seg)
    for track_id in ids[ids >= 0]:
        mask = seg == track_id
        count = int(mask.sum())
        if count < min_pixels:
            continue
        rows = np.flatnonzero(mask.any(axis=1))
        cols = np.flatnonzero(mask.any(axis=0))
        distance = float(np.median(depth_m[mask])) if depth_m is not None else None
        boxes.append(SubjectBox(
            track_id=int(track_id), box_px=(float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1)),
            name=(names or {}).get(int(track_id)), distance_m=distance,
        ))
    return boxes


@dataclass
class DirectorBridge:
    """The ``on_step`` hook between a :class:`ClosedLoop` and a :class:`LiveHub`."""

    hub: LiveHub
    loop: Any  # cinempc_sim.closed_loop.ClosedLoop (steered through set_shot / hold / resume / stop)
    camera: Any = None  # CameraProfile for the lens panel's DoF numbers
    realtime_factor: float | None = 1.0  # sim seconds per wall second; None: as fast as it goes
    source: str = "scenario"
    perceiver: Any = None  # a PerceivingController: the controller sees through the camera, not ground truth
    _wall_start: float | None = None
    _first_entry_id: int | None = None
    _director_error: str | None = None
    _sim_start: float = 0.0
    _last_direction: Direction | None = None
    _holding: bool = False
    _fenced: bool = False
    _steps: int = 0
    _searched: frozenset[str] = frozenset()  # what perception searched for at its last frame
    _perceived_frames: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if self.realtime_factor is not None and not (math.isfinite(self.realtime_factor) and self.realtime_factor > 0):
            raise ValueError(f"realtime_factor must be a positive number or None, got {self.realtime_factor!r}")
        self.hub.start_shot(self.loop.shot, source=self.source)
        self.hub.set_link("simulator", True, "closed loop running")
        self.hub.add_hold_listener(self._on_hold)

    def _on_hold(self, holding: bool) -> None:
        """HOLD from the web thread: tell the loop at once (it applies it at its next step)."""
        if holding:
            self.loop.hold()
        elif not self.hub.holding_requested:
            self.loop.resume()

    def __call__(self, event: Any) -> None:
        """One control step: publish, then apply the director's wishes for the next step."""
        try:
            self._publish(event)
        except Exception:  # noqa: BLE001 -- a display glitch must never stop the flight
            log.exception("director bridge: publishing step %s failed", getattr(event, "index", "?"))
        direction = self.hub.tick(event.time_s)
        self._apply(direction)
        self._pace(event.time_s)

    def _publish(self, event: Any) -> None:
        if event.frame is not None:
            frame = event.frame
            self.hub.publish_frame(frame.rgb, time_s=event.time_s)
            if self.perceiver is not None:
                camera = self.camera
                self.hub.publish_subjects(*perceived_subjects(
                    self.perceiver.last_subjects, event.state, camera.focal_px(event.state.focal_length_mm),
                    camera.image_width_px, camera.image_height_px))
                self._report_search()
            else:
                names = {track.track_id: track.name for track in event.subjects if track.name}
                ground = [GroundSubject(track_id=track.track_id, name=track.name, visible=track.visible,
                                        track_state=track.track_state,
                                        position_m=(float(track.positions_m[0, 0]), float(track.positions_m[0, 1])))
                          for track in event.subjects]
                self.hub.publish_subjects(subject_boxes(frame.segmentation, frame.depth_m, names), ground)
        holding = event.status.startswith("hold") or bool(getattr(event.setpoint, "hold", False))
        self.hub.publish_rig(event.state, self.camera, time_s=event.time_s)
        self.hub.publish_control(
            event.status, holding=holding, solve_ms=round(float(event.solve_ms), 1),
            shot_time_s=round(float(event.shot_time_s), 2), collisions=int(event.collisions),
            nearest_subject_m=_finite_or_none(event.nearest_subject_m),
            nearest_obstacle_m=_finite_or_none(event.nearest_obstacle_m),
            shot_label=event.shot.name or "",
        )
        if holding != self._holding:
            self._holding = holding
            why = str(getattr(event, "hold_reason", "") or "")
            self.hub.event("safety", (f"rig holding position: {why}" if why else "rig holding position") if holding
                           else "controller back in charge", "warning" if holding else "info")
        fenced = bool(getattr(event, "fenced", False))
        if fenced and not self._fenced:
            self.hub.event("safety", "setpoint clamped to the geofence", "warning")
        self._fenced = fenced
        self._steps += 1

    def _report_search(self) -> None:
        """Perception's search for subjects since its last frame ("searching for maya") -> the tablet's log."""
        if self.perceiver.frames == self._perceived_frames:
            return  # no new frame: nothing changed
        self._perceived_frames = self.perceiver.frames
        pipeline = self.perceiver.pipeline
        for report in search_reports(self._searched, pipeline.searching, pipeline.lost):
            self.hub.event(report.kind, report.message, report.level)
        self._searched = frozenset(pipeline.searching)

    def _apply(self, direction: Direction) -> None:
        if self._first_entry_id is None:
            self._first_entry_id = direction.shot_entry_id  # the shot the loop started with (the scenario's)
        if self.perceiver is not None:
            pins = {name: (pin.x_m, pin.y_m, pin.stamp_s) for name, pin in direction.subject_pins.items()}
            try:
                self.perceiver.pipeline.apply_director(direction.subject_names, pins)
                self._director_error = None
            except ValueError as exc:  # (a name perception cannot bind, e.g. to #0): said once, never a crash
                if str(exc) != self._director_error:
                    self._director_error = str(exc)
                    self.hub.event("perception", f"director's names/pins not taken: {exc}", "warning")
            # a director's "#N" is one of the IDs the tablet shows (perception's); the scenario's own shot
            # speaks of the scenario's IDs
            self.perceiver.scenario_refs = direction.shot_entry_id in (None, self._first_entry_id)
        if direction.shot is not None and direction.shot_changed:
            self.loop.set_shot(direction.shot)  # director names already resolved to #id by the hub
        if direction.hold or direction.abort:
            self.loop.hold()
        else:
            self.loop.resume()
        self._last_direction = direction

    def _pace(self, sim_time_s: float) -> None:
        if self.realtime_factor is None:
            return
        now = time.monotonic()
        if self._wall_start is None:
            self._wall_start, self._sim_start = now, sim_time_s
            return
        ahead_s = (sim_time_s - self._sim_start) / self.realtime_factor - (now - self._wall_start)
        if ahead_s > 0:
            time.sleep(min(ahead_s, 1.0))
        elif ahead_s < -2.0:  # the computer cannot keep up: do not try to catch up in a burst
            self._wall_start, self._sim_start = now, sim_time_s


def _finite_or_none(value: float) -> float | None:
    return round(float(value), 2) if math.isfinite(value) else None


class LiveRun:
    """A closed-loop simulator run flying in a background thread, steered by the director hub."""

    def __init__(self, hub: LiveHub, scenario: Any, controller: str = "cinempc", shot: ShotSpec | str | None = None,
                 duration_s: float = 3600.0, seed: int = 0, solver: str = "fast",
                 image_size: tuple[int, int] = (320, 240), realtime_factor: float | None = 1.0,
                 render_rate_hz: float | None = None,
                 on_step: tuple[Callable[[Any], None], ...] = (), perception: str = "groundtruth",
                 backend: str | None = None) -> None:
        from cinempc.config import load_camera_profile, load_vehicle_config
        from cinempc_sim.baselines import make_controller
        from cinempc_sim.closed_loop import ClosedLoop, LoopSettings, resolve_shot
        from cinempc_sim.scenario import Scenario, load_scenario
        from cinempc_sim.simulator import Simulator

        if not isinstance(scenario, Scenario):
            scenario = load_scenario(scenario)
        if not (math.isfinite(duration_s) and duration_s > 0):
            raise ValueError(f"duration_s must be a positive number of seconds, got {duration_s!r}")
        if perception not in ("groundtruth", "yolo"):
            raise ValueError(f"perception must be 'groundtruth' or 'yolo', got {perception!r}")
        self.scenario = scenario
        self.duration_s = float(duration_s)
        settings = LoopSettings.from_config(render_rate_hz=render_rate_hz)
        camera = load_camera_profile(scenario.camera_profile).with_resolution(*image_size)
        vehicle = load_vehicle_config()
        self.sim = Simulator(scenario, camera=camera, seed=seed, render=settings.render_rate_hz > 0,
                             image_size=image_size)
        self.sim.reset()
        if controller == "follow":
            ctrl = make_controller(controller, camera, vehicle, dt_s=1.0 / settings.control_rate_hz)
        else:
            ctrl = make_controller(controller, camera, vehicle, solver=solver)
        self.perceiver = None
        if perception == "yolo":
            from cinempc.perception.pipeline import PerceptionPipeline
            from cinempc_sim.perception_data import PerceivingController

            pipeline = PerceptionPipeline.from_config(camera, backend)
            ctrl = self.perceiver = PerceivingController(ctrl, self.sim, pipeline, seed=seed)
        self.loop = ClosedLoop(self.sim, ctrl, resolve_shot(scenario, shot), camera, vehicle,
                               controller_name=controller, scenario_name=scenario.name, settings=settings,
                               on_step=list(on_step), render=settings.render_rate_hz > 0)
        self.bridge = DirectorBridge(hub, self.loop, camera, realtime_factor=realtime_factor,
                                     source=f"scenario {scenario.name}", perceiver=self.perceiver)
        self.loop.hooks.insert(0, self.bridge)
        self.hub = hub
        self.result = None
        self.error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> LiveRun:
        """Fly in a background thread."""
        self._thread = threading.Thread(target=self._run, name="cinempc-live-sim", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            self.result = self.loop.run(self.duration_s)
            self.hub.set_link("simulator", False, "run finished")
        except BaseException as exc:  # noqa: BLE001 -- reported to the tablet and re-raised by join()
            self.error = exc
            log.exception("live simulator run failed")
            self.hub.set_link("simulator", False, f"run failed: {exc}")

    def run(self) -> Any:
        """Fly in the calling thread until the duration ends or :meth:`stop`."""
        self._run()
        if self.error is not None:
            raise self.error
        return self.result

    def stop(self, timeout_s: float = 10.0) -> None:
        """End the run after the current step and wait for it."""
        self.loop.stop()
        self.join(timeout_s)

    def join(self, timeout_s: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout_s)
        if self.error is not None:
            raise self.error

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def close(self) -> None:
        """Stop and release the simulator."""
        if self.running:
            self.stop()
        self.sim.close()


def serve_live(scenario: Any, shot: ShotSpec | str | None = None, controller: str = "cinempc",
               duration_s: float | None = None, *, host: str | None = None, port: int | None = None,
               token: str | None = None, out_dir: Any = None, video: bool = True, seed: int = 0,
               solver: str = "fast", realtime_factor: float = 1.0, perception: str = "groundtruth") -> Any:
    """``cinempc sim ... --director``: fly a scenario live, steered from the tablet app, until Ctrl-C.

    Prints the pairing link, serves the app, flies in real time (the MPC keeps its wall-clock
    deadline, as in flight) and, with ``out_dir``, writes the run's evidence when it ends.
    """
    from pathlib import Path

    from cinempc.director.app import DirectorServer
    from cinempc.director.security import load_director_settings

    settings = load_director_settings(host=host, port=port, token=token)
    hub = LiveHub(settings)
    hooks: list[Callable[[Any], None]] = []
    writer = None
    if out_dir is not None and video:
        from cinempc_sim.closed_loop import LoopSettings
        from cinempc_sim.report import CameraVideo

        writer = CameraVideo(Path(out_dir) / "camera.mp4", fps=int(round(LoopSettings.from_config().render_rate_hz)))
        hooks.append(writer)
    live = LiveRun(hub, scenario, controller=controller, shot=shot, duration_s=duration_s or 3600.0, seed=seed,
                   solver=solver, realtime_factor=realtime_factor, on_step=tuple(hooks), perception=perception)
    server = DirectorServer(hub, settings).start()
    print(f"director app: open {server.pairing_url}  (pairing token {server.token.value}); Ctrl-C ends the run",
          flush=True)
    try:
        live.start()
        while live.running:
            time.sleep(0.2)
    except KeyboardInterrupt:
        print("stopping: the drone holds, the run is written", flush=True)
        hub.hold("operator Ctrl-C")
        live.stop()
    finally:
        server.stop()
        if writer is not None:
            writer.close()
        live.close()
    if live.error is not None:
        raise live.error
    if out_dir is not None and live.result is not None:
        from cinempc_sim.report import write_run

        write_run(live.result, out_dir, extra={"seed": seed, "solver": solver, "director": True,
                                               "perception": perception})
    return live.result
