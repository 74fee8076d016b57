"""The simulator facade: one object that is the drone, the world and the camera.

The closed-loop runner, the Gymnasium environment and the tests talk only to
:class:`Simulator` (the interface agreed in the design notes): give it a
:class:`cinempc.state.Setpoint` and a time step, read back the measured
:class:`~cinempc.state.RigState`, ground-truth :class:`~cinempc.state.SubjectTrack`
predictions, :class:`~cinempc.state.Obstacle` primitives and rendered frames.

Each Simulator owns its own PyBullet DIRECT client, so several run side by side
in one process (parallel evaluation, an env per worker) without sharing state.
Physics and the drone's cascaded controller run at ``physics.rate_hz`` of
``config/sim.yaml``; gimbal and lens actuators follow the setpoint with the rate
limits of ``config/vehicle.yaml`` and ``config/cameras.yaml``; actors replay
their scripts as exact functions of time.
"""

from __future__ import annotations

import math
from concurrent.futures import Future
from pathlib import Path

import numpy as np
import pybullet as p

from cinempc.config import CameraProfile, VehicleConfig, load_camera_profile, load_parameters, load_vehicle_config
from cinempc.state import Obstacle, RigState, Setpoint, SubjectTrack
from cinempc_sim.actors import ActorBody, GaitParams
from cinempc_sim.camera import CameraRenderer, Frame
from cinempc_sim.gimbal import Gimbal
from cinempc_sim.lens import LensActuators, LensState
from cinempc_sim.scenario import Scenario, load_scenario
from cinempc_sim.vehicle import Quadrotor, VehicleParams
from cinempc_sim.world import build_world

__all__ = ["Frame", "Simulator", "load_sim_parameters"]

_ACTUATOR_DT_S = 1.0 / 60.0  # gimbal and lens motor updates inside one step


def load_sim_parameters(name: str = "sim.yaml") -> dict:
    """The ``config/sim.yaml`` parameters (physics, vehicle, controller, gimbal, actors, renderer)."""
    return load_parameters(name)


class Simulator:
    """A scenario's world with a flying camera drone in it."""

    def __init__(self, scenario: Scenario | str | Path, camera: CameraProfile | None = None, seed: int = 0,
                 render: bool = True, image_size: tuple[int, int] = (320, 240),
                 vehicle: VehicleConfig | None = None, params: dict | None = None) -> None:
        if not isinstance(scenario, Scenario):
            scenario = load_scenario(scenario)
        width, height = (int(v) for v in image_size)
        if not (16 <= width <= 4096 and 16 <= height <= 4096):
            raise ValueError(f"image_size must be two integers in 16..4096, got {image_size!r}")
        self.scenario = scenario
        self.seed = int(seed)
        self.render_enabled = bool(render)
        self.params = params if params is not None else load_sim_parameters()
        self.vehicle_config = vehicle if vehicle is not None else load_vehicle_config()
        self.camera_profile = camera if camera is not None else load_camera_profile(scenario.camera_profile)
        self.render_profile = self.camera_profile.with_resolution(width, height)
        airspace = self.vehicle_config.airspace
        if not airspace.contains(scenario.start.position_m):
            raise ValueError(f"scenario {scenario.name}: start position {list(scenario.start.position_m)} is outside "
                             f"the airspace of the vehicle config (geofence {airspace.geofence_min_m}.."
                             f"{airspace.geofence_max_m}, altitude {airspace.altitude_floor_m}.."
                             f"{airspace.altitude_ceiling_m} m)")
        self.rate_hz = float(self.params["physics"]["rate_hz"])
        if not 50.0 <= self.rate_hz <= 2000.0:
            raise ValueError(f"physics.rate_hz must be within 50..2000 Hz, got {self.rate_hz}")

        self._render_pool = None
        self.client = p.connect(p.DIRECT)
        try:
            self._build()
        except Exception:
            p.disconnect(self.client)
            raise
        self.reset()

    # ------------------------------------------------------------ building

    def _build(self) -> None:
        cid = self.client
        prm = self.params
        p.setPhysicsEngineParameter(fixedTimeStep=1.0 / self.rate_hz, numSubSteps=0, physicsClientId=cid)
        p.setGravity(0, 0, -float(prm["physics"]["gravity_mps2"]), physicsClientId=cid)
        self.world = build_world(cid, self.scenario, prm["renderer"])
        gait = GaitParams(**prm["actors"])
        self.actors = [ActorBody(cid, spec, gait) for spec in self.scenario.actors]
        self.vehicle = Quadrotor(cid, VehicleParams.from_parameters(prm), float(prm["physics"]["gravity_mps2"]),
                                 self.rate_hz)
        gp = prm["gimbal"]
        self.gimbal = Gimbal(self.vehicle_config.gimbal, self.camera_profile.gimbal_yaw, float(gp["time_constant_s"]),
                             float(gp["yaw_range_rad"]))
        start = self.scenario.start
        self.lens = LensActuators(self.camera_profile, LensState(start.focal_length_mm, start.focus_distance_m,
                                                                 start.f_number))
        lut: dict[int, int] = {}
        for actor in self.actors:
            lut[actor.body] = actor.spec.track_id
        self.camera = CameraRenderer(cid, self.render_profile, prm["renderer"], lut)

    # -------------------------------------------------------------- facade

    def reset(self) -> None:
        """Back to the scenario's start: drone hovering at the start pose, actors at t = 0, no collisions."""
        start = self.scenario.start
        self.time_s = 0.0
        self._steps = 0
        yaw = math.radians(start.yaw_deg)
        self.vehicle.reset(start.position_m, yaw)
        self.gimbal.reset(yaw, math.radians(start.pitch_deg))
        self.lens.reset(LensState(start.focal_length_mm, start.focus_distance_m, start.f_number))
        self._rng = np.random.default_rng(self.seed)
        self._gust = np.zeros(3)
        self.collisions = 0
        self._touching: set[int] = set()
        self._acceleration = np.zeros(3)
        self._last_setpoint = None
        for actor in self.actors:
            actor.update(0.0)

    @property
    def wind_mps(self) -> np.ndarray:
        """Wind velocity now (mean + gust), ENU m/s."""
        return np.asarray(self.scenario.wind.mean_mps, dtype=float) + self._gust

    def _update_gust(self, dt_s: float) -> None:
        """Ornstein-Uhlenbeck gust: correlated over ``gust_time_constant_s``, std ``gust_std_mps``."""
        std = self.scenario.wind.gust_std_mps
        if std <= 0:
            return
        tau = float(self.params["wind"]["gust_time_constant_s"])
        a = math.exp(-dt_s / tau)
        self._gust = a * self._gust + std * math.sqrt(1.0 - a * a) * self._rng.standard_normal(3)
        self._gust[2] *= 0.3  # vertical gusts are weaker near the ground

    def step(self, setpoint: Setpoint, dt_s: float) -> None:
        """Fly ``dt_s`` seconds toward ``setpoint`` (rounded to whole physics steps, at least one)."""
        if not isinstance(setpoint, Setpoint):
            raise TypeError(f"step() needs a cinempc.state.Setpoint, got {type(setpoint).__name__}")
        if not (isinstance(dt_s, int | float) and math.isfinite(dt_s) and 0.0 < dt_s <= 10.0):
            raise ValueError(f"dt_s must be a finite number of seconds in (0, 10], got {dt_s!r}")
        cid = self.client
        substeps = max(1, int(round(dt_s * self.rate_hz)))
        step_s = substeps / self.rate_hz
        self._update_gust(step_s)
        wind = tuple(float(v) for v in self.wind_mps)
        v0 = np.asarray(self.vehicle.velocity())
        drone = self.vehicle.body
        for _ in range(substeps):
            self.vehicle.control_step(setpoint, wind)
            p.stepSimulation(physicsClientId=cid)
            contacts = p.getContactPoints(bodyA=drone, physicsClientId=cid)
            touching = {c[2] for c in contacts} if contacts else set()
            self.collisions += len(touching - self._touching)
            self._touching = touching
        self._acceleration = (np.asarray(self.vehicle.velocity()) - v0) / step_s
        # gimbal and lens motors (rate limited) in small increments
        body_yaw = self.vehicle.yaw_rad()
        command = LensState(setpoint.focal_length_mm, setpoint.focus_distance_m, setpoint.f_number)
        n = max(1, int(math.ceil(step_s / _ACTUATOR_DT_S)))
        for _ in range(n):
            self.gimbal.step(setpoint.yaw_rad, setpoint.pitch_rad, body_yaw, step_s / n)
            self.lens.step(command, step_s / n)
        self.time_s += step_s
        self._steps += 1
        for actor in self.actors:
            actor.update(self.time_s)

    def rig_state(self) -> RigState:
        """Measured drone position/velocity/acceleration, camera heading and elevation, lens settings."""
        pos, _ = self.vehicle.pose()
        lens = self.lens.state
        return RigState(
            position_m=np.asarray(pos), velocity_mps=np.asarray(self.vehicle.velocity()),
            acceleration_mps2=self._acceleration.copy(), yaw_rad=self.gimbal.yaw_rad, pitch_rad=self.gimbal.pitch_rad,
            focal_length_mm=lens.focal_length_mm, focus_distance_m=lens.focus_distance_m, f_number=lens.f_number,
        )

    def subjects(self, horizon_steps: int, dt_s: float) -> list[SubjectTrack]:
        """Ground truth now plus a constant-velocity prediction over ``horizon_steps`` steps of ``dt_s``."""
        if int(horizon_steps) < 0 or not (math.isfinite(dt_s) and dt_s > 0):
            raise ValueError(f"need horizon_steps >= 0 and dt_s > 0, got {horizon_steps!r}, {dt_s!r}")
        k = np.arange(int(horizon_steps) + 1, dtype=float)[:, None]
        tracks = []
        for actor in self.actors:
            pose = actor.pose
            positions = pose.position_m[None, :] + k * dt_s * pose.velocity_mps[None, :]
            velocities = np.repeat(pose.velocity_mps[None, :], len(k), axis=0)
            tracks.append(SubjectTrack(track_id=actor.spec.track_id, positions_m=positions,
                                       velocities_mps=velocities, height_m=actor.spec.height_m,
                                       name=actor.spec.name, dt_s=float(dt_s)))
        return tracks

    def obstacles(self, near_m: float | None = None) -> list[Obstacle]:
        """Every solid thing of the world as Obstacle primitives; ``near_m`` keeps those within reach."""
        if near_m is None:
            return list(self.world.obstacles)
        pos, _ = self.vehicle.pose()
        return [o for o in self.world.obstacles if o.distance_m(pos) <= near_m]

    @property
    def background_distance_m(self) -> float:
        """Distance from the camera along its heading to the backdrop wall."""
        pos, _ = self.vehicle.pose()
        return self.world.background_distance_m(pos, self.gimbal.yaw_rad, self.scenario.background_distance_m)

    def render(self, depth_of_field: bool = True) -> Frame:
        """The camera image now, through the current lens (with depth-of-field blur unless disabled)."""
        if not self.render_enabled:
            raise RuntimeError("this Simulator was created with render=False: it has no camera images")
        pos, _ = self.vehicle.pose()
        lens = self.lens.state
        return self.camera.render(pos, self.gimbal.yaw_rad, self.gimbal.pitch_rad, lens.focal_length_mm,
                                  lens.focus_distance_m, lens.f_number, self.time_s, depth_of_field=depth_of_field)

    def render_async(self, depth_of_field: bool = True) -> Future:
        """The camera image now, rendered in a helper process; returns a ``Future[Frame]``.

        Why: TinyRenderer is the most expensive part of a step and runs on one core.  The
        world is static and the actors are exact functions of time, so a second PyBullet
        client in another process can draw the very same frame from the time, camera pose
        and lens alone -- while this process steps physics and solves the MPC on the
        other core.  The frame is identical to :meth:`render` at the same instant.
        """
        if not self.render_enabled:
            raise RuntimeError("this Simulator was created with render=False: it has no camera images")
        if self._render_pool is None:
            self._render_pool = _RenderHelper({
                "scenario": self.scenario.model_dump(mode="json"),
                "profile": self.render_profile.model_dump(mode="json"),
                "params": self.params,
            })
        pos, _ = self.vehicle.pose()
        lens = self.lens.state
        return self._render_pool.submit((tuple(float(v) for v in pos), self.gimbal.yaw_rad, self.gimbal.pitch_rad,
                                         lens.focal_length_mm, lens.focus_distance_m, lens.f_number, self.time_s,
                                         depth_of_field))

    def actor_by_name(self, name: str) -> ActorBody:
        """An actor by its scenario name (for tests and tools)."""
        for actor in self.actors:
            if actor.spec.name == name:
                return actor
        raise KeyError(f"no actor {name!r} in scenario {self.scenario.name}; "
                       f"known: {', '.join(a.spec.name for a in self.actors)}")

    # --------------------------------------------------------- lifetime

    def close(self) -> None:
        """Disconnect the PyBullet client and stop the render helper (idempotent)."""
        helper, self._render_pool = getattr(self, "_render_pool", None), None
        if helper is not None:
            helper.close()
        if getattr(self, "client", None) is not None:
            try:
                p.disconnect(self.client)
            except p.error:  # already gone
                pass
            self.client = None

    def __enter__(self) -> Simulator:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:  # pragma: no cover - interpreter shutdown order varies
        try:
            self.close()
        except Exception:  # noqa: BLE001
            pass


# ---------------------------------------------------------------- render helper process


class _RenderHelper:
    """A child Python process holding a copy of the world; renders frames on request.

    A plain subprocess speaking length-prefixed pickles over its stdin/stdout (not
    ``multiprocessing``: spawn re-imports the caller's ``__main__``, fork copies
    locked threads), driven from one thread of this process whose blocking pipe
    reads release the GIL.  Messages only ever come from this parent.
    """

    def __init__(self, init: dict) -> None:
        import os
        import subprocess
        import sys
        from concurrent.futures import ThreadPoolExecutor

        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        # one thread: the helper overlaps the control loop, which needs the other core; OpenCV's and
        # BLAS's thread pools in here fought the controller for it (render wait 45 -> 25 ms per frame)
        env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
        code = ("import os; fd = os.dup(1); os.dup2(2, 1); "  # keep stdout for frames, library chatter to stderr
                "from cinempc_sim.simulator import _render_helper_main; _render_helper_main(fd)")
        self.process = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        env=env)
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cinempc-render")
        self.executor.submit(self._roundtrip, init)  # build the world while the caller goes on

    def _roundtrip(self, message):
        _write_message(self.process.stdin, message)
        status, payload = _read_message(self.process.stdout)
        if status != "ok":
            raise RuntimeError(f"render helper failed: {payload}")
        return payload

    def submit(self, request: tuple) -> Future:
        return self.executor.submit(self._roundtrip, request)

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)
        try:
            _write_message(self.process.stdin, None)
            self.process.stdin.close()
            self.process.wait(timeout=5.0)
        except Exception:  # noqa: BLE001 -- a dead helper is stopped either way
            self.process.kill()
            self.process.wait()


def _write_message(stream, message) -> None:
    import pickle

    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(len(data).to_bytes(8, "little") + data)
    stream.flush()


def _read_message(stream):
    import pickle

    header = stream.read(8)
    if len(header) < 8:
        raise EOFError("render helper closed its pipe")
    size = int.from_bytes(header, "little")
    return pickle.loads(stream.read(size))


def _render_helper_main(out_fd: int) -> None:
    """The helper's loop: first message builds the world, then one frame per request until None."""
    import os
    import sys

    import cv2

    cv2.setNumThreads(1)  # see RenderHelper: this process must not take the control loop's core
    out = os.fdopen(out_fd, "wb")
    inp = sys.stdin.buffer
    init = _read_message(inp)
    scenario = Scenario(**init["scenario"])
    profile = CameraProfile(**init["profile"])
    params = init["params"]
    client = p.connect(p.DIRECT)
    build_world(client, scenario, params["renderer"])
    gait = GaitParams(**params["actors"])
    actors = [ActorBody(client, spec, gait) for spec in scenario.actors]
    camera = CameraRenderer(client, profile, params["renderer"], {a.body: a.spec.track_id for a in actors})
    _write_message(out, ("ok", None))
    while True:
        try:
            request = _read_message(inp)
        except EOFError:
            return
        if request is None:
            return
        try:
            position_m, yaw_rad, pitch_rad, focal_mm, focus_m, f_number, time_s, dof = request
            for actor in actors:
                actor.update(time_s)
            frame = camera.render(position_m, yaw_rad, pitch_rad, focal_mm, focus_m, f_number, time_s,
                                  depth_of_field=dof)
            _write_message(out, ("ok", frame))
        except Exception as exc:  # noqa: BLE001 -- reported to the caller, the helper stays up
            _write_message(out, ("error", repr(exc)))


def benchmark(scenario: Scenario | str | Path = "single_walker", seconds: float = 10.0, dt_s: float = 0.1,
              image_size: tuple[int, int] = (320, 240)) -> dict[str, float]:
    """CPU milliseconds of one step and one render (TinyRenderer and depth of field separately).

    A hovering drone filming the scenario's actors as they walk: the per-step work of a
    closed-loop run minus the controller.  CPU time (``time.process_time``) so the
    numbers mean something on a shared machine.
    """
    import time

    with Simulator(scenario, image_size=image_size) as sim:
        hold = Setpoint.hold_at(sim.rig_state())
        steps = max(1, int(round(seconds / dt_s)))
        step_s = render_s = pinhole_s = 0.0
        for _ in range(steps):
            t0 = time.process_time()
            sim.step(hold, dt_s)
            t1 = time.process_time()
            sim.render(depth_of_field=False)
            t2 = time.process_time()
            sim.render()
            t3 = time.process_time()
            step_s, pinhole_s, render_s = step_s + t1 - t0, pinhole_s + t2 - t1, render_s + t3 - t2
    return {
        "step_ms": 1e3 * step_s / steps,
        "render_ms": 1e3 * render_s / steps,
        "tinyrenderer_ms": 1e3 * pinhole_s / steps,
        "depth_of_field_ms": 1e3 * max(render_s - pinhole_s, 0.0) / steps,
        "sim_seconds": steps * dt_s,
    }


if __name__ == "__main__":  # pragma: no cover - a developer tool
    import argparse
    import json

    parser = argparse.ArgumentParser(description="time the simulator's step and render")
    parser.add_argument("--bench", default="single_walker", help="scenario name or file")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    print(json.dumps({k: round(v, 2) for k, v in benchmark(args.bench, args.seconds).items()}))
