"""``cinempc bench sim``: real-time factor of the full closed loop with a 320x240 camera at 10 Hz.

Full loop = physics at 240 Hz with the cascaded flight controller, gimbal and lens actuators,
walking actors, a 320x240 frame with depth-of-field blur rendered every control step (in the
simulator's helper process, overlapping the controller and physics: ``render`` below is the
time the loop still waits for the frame), the
controller (CineMPC's fast path), the ground-truth grading and the trajectory log -- everything
``cinempc sim`` does except encoding the video.  Real-time factor = simulated seconds per wall
second; >= 1.0 means the simulator keeps up with a real flight.

The time is also split by stage (physics, render, controller, rest) so a regression points
at its culprit.  Timings are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np


class TimedLink:
    """A rig link that times the simulator's ``step`` and ``render`` (otherwise a pass-through)."""

    def __init__(self, sim) -> None:
        self.sim = sim
        self.step_ms: list[float] = []
        self.render_ms: list[float] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sim, name)

    def step(self, setpoint, dt_s: float) -> None:
        start = time.perf_counter()
        self.sim.step(setpoint, dt_s)
        self.step_ms.append((time.perf_counter() - start) * 1e3)

    def render(self):
        start = time.perf_counter()
        frame = self.sim.render()
        self.render_ms.append((time.perf_counter() - start) * 1e3)
        return frame

    def render_async(self):
        """Background render; what counts is how long the loop then *waits* for the frame."""
        return _TimedFuture(self.sim.render_async(), self.render_ms)


class _TimedFuture:
    """A Future whose ``result()`` records the time the caller was blocked on it."""

    def __init__(self, future, sink: list[float]) -> None:
        self.future, self.sink = future, sink

    def result(self, timeout: float | None = None):
        start = time.perf_counter()
        frame = self.future.result(timeout)
        self.sink.append((time.perf_counter() - start) * 1e3)
        return frame


def _p(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def measure(scenario: str = "single_walker", controller: str = "cinempc", duration_s: float = 10.0,
            image_size: tuple[int, int] = (320, 240), control_rate_hz: float = 10.0) -> dict[str, Any]:
    """Run the loop and return the real-time factor with its per-stage breakdown."""
    from cinempc.cli.sim import resolve_scenario_path
    from cinempc.config import load_camera_profile, load_vehicle_config
    from cinempc_sim.baselines import make_controller
    from cinempc_sim.closed_loop import ClosedLoop, LoopSettings, resolve_shot
    from cinempc_sim.scenario import load_scenario
    from cinempc_sim.simulator import Simulator

    spec = load_scenario(resolve_scenario_path(scenario))
    camera = load_camera_profile(spec.camera_profile).with_resolution(*image_size)
    vehicle = load_vehicle_config()
    if controller == "follow":
        ctrl = make_controller("follow", camera, vehicle, dt_s=1.0 / control_rate_hz)
    else:
        ctrl = make_controller(controller, camera, vehicle)
        # Build/compile (or load from the disk cache) outside the timed loop, as a flight would before take-off.
        warm = Simulator(spec, camera=camera, render=False, image_size=image_size)
        ctrl.solve(warm.rig_state(), resolve_shot(spec, None), warm.subjects(ctrl.horizon_steps, ctrl.dt_s),
                   warm.obstacles(), 0.0, warm.background_distance_m)
        warm.close()
    sim = Simulator(spec, camera=camera, render=True, image_size=image_size)
    if hasattr(sim, "render_async"):  # start the render helper process before the clock runs (take-off prep)
        sim.render_async().result()
    link = TimedLink(sim)
    settings = LoopSettings(control_rate_hz=control_rate_hz, render_rate_hz=control_rate_hz, video_fps=10)
    loop = ClosedLoop(link, ctrl, resolve_shot(spec, None), camera, vehicle, controller_name=controller,
                      scenario_name=spec.name, settings=settings)
    result = loop.run(duration_s)
    sim.close()
    steps = len(result.events)
    solve_ms = [e.solve_ms for e in result.events]
    wall_ms_per_step = result.wall_time_s * 1e3 / max(steps, 1)
    stage = {
        "physics_ms_per_step": float(np.mean(link.step_ms)),
        "render_wait_ms_per_frame": float(np.mean(link.render_ms)) if link.render_ms else 0.0,
        "controller_ms_per_step": float(np.mean(solve_ms)),
    }
    stage["rest_ms_per_step"] = wall_ms_per_step - sum(stage.values())
    return {
        "scenario": spec.name, "controller": controller, "image_size": list(image_size),
        "control_rate_hz": control_rate_hz, "render_rate_hz": control_rate_hz, "steps": steps,
        "sim_time_s": float(result.metrics["real_time_factor"] or 0.0) * result.wall_time_s,
        "wall_time_s": result.wall_time_s, "real_time_factor": result.metrics["real_time_factor"],
        "wall_ms_per_step": wall_ms_per_step, **stage,
        "render_wait_ms_p95": _p(link.render_ms, 95), "controller_ms_p95": _p(solve_ms, 95),
        "statuses": result.statuses,
    }


def run(args: argparse.Namespace | None = None) -> dict[str, Any]:
    """Entry point of the benchmark registry (``cinempc bench sim``): measure, print, return the numbers."""
    scenario = getattr(args, "scenario", None) or "single_walker"
    duration = float(getattr(args, "duration", None) or 10.0)
    controller = getattr(args, "controller", None) or "cinempc"
    try:
        numbers = measure(scenario, controller, duration)
    except ImportError as exc:  # the MPC package is not installed in this checkout: measure the loop anyway
        numbers = measure(scenario, "follow", duration)
        numbers["note"] = f"cinempc controller unavailable ({exc}); measured with the follow baseline"
    if not getattr(args, "json", False):
        print(
            f"sim loop ({numbers['scenario']}, {numbers['controller']}, {numbers['image_size'][0]}x"
            f"{numbers['image_size'][1]} @ {numbers['control_rate_hz']:g} Hz): real-time factor "
            f"{numbers['real_time_factor']:.2f}  [per step {numbers['wall_ms_per_step']:.1f} ms = physics "
            f"{numbers['physics_ms_per_step']:.1f} + render wait {numbers['render_wait_ms_per_frame']:.1f} + "
            f"controller {numbers['controller_ms_per_step']:.1f} + rest {numbers['rest_ms_per_step']:.1f}]"
        )
    return numbers


def main(argv: list[str] | None = None) -> int:
    """``python -m cinempc_sim.bench [--json] [--scenario S] [--controller C] [--duration S]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--scenario", default="single_walker")
    parser.add_argument("--controller", default="cinempc", choices=("cinempc", "extrinsics_only", "follow"))
    parser.add_argument("--duration", type=float, default=10.0)
    args = parser.parse_args(argv)
    numbers = run(args)
    if args.json:
        print(json.dumps(numbers))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
