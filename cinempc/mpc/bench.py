"""``cinempc bench mpc``: solve-time benchmark of the fast and reference paths on standard shots.

A closed loop of a few hundred steps (the rig follows each setpoint exactly, the
subjects walk) over follow, orbit, dolly zoom, two subjects at 4 m and 9 m kept
in focus, and a shallow-DoF close-up, with N = 30 and dt = 0.1 s.  The fast path
drives the loop and each step's inputs are recorded; the reference path then
solves the very same inputs from a cold start, so both are timed on identical
problems in one run.  Why afterwards and not step by step: a ~200 ms IPOPT solve
in the same thread right before every fast solve evicted the fast solver's data
from the caches -- an artefact no deployment has (the MPC node solves alone in
its process) that moved the fast p95 from ~9 to ~12 ms.  Not a test: it prints
numbers (the machine may be shared; report its load with them).
"""

from __future__ import annotations

import argparse
import math
import os
import time
from typing import Any

import numpy as np

from cinempc.config import load_vehicle_config
from cinempc.mpc.controller import CineMPC
from cinempc.mpc.params import load_mpc_params
from cinempc.shot import ShotSpec, preset
from cinempc.state import RigState, SubjectTrack

SHOTS = ("follow", "orbit", "dolly_zoom", "two_subjects_4m_9m", "shallow_close_up")


def _track(track_id: int, start, velocity, time_s: float, steps: int, dt_s: float, name: str) -> SubjectTrack:
    start = np.asarray(start, float) + np.asarray(velocity, float) * time_s
    velocity = np.asarray(velocity, float)
    return SubjectTrack(track_id, positions_m=np.array([start + velocity * k * dt_s for k in range(steps)]),
                        velocities_mps=np.tile(velocity, (steps, 1)), name=name, dt_s=dt_s)


def scenario(name: str, time_s: float, steps: int, dt_s: float) -> tuple[ShotSpec, list[SubjectTrack], float | None]:
    """Shot, subjects (at shot time ``time_s``) and background distance of a benchmark case."""
    if name == "follow":
        return preset("follow_medium"), [_track(1, [0, 0, 0], [1.0, 0.3, 0], time_s, steps, dt_s, "alice")], None
    if name == "orbit":
        return preset("orbit_cw"), [_track(1, [0, 0, 0], [0, 0, 0], time_s, steps, dt_s, "alice")], None
    if name == "dolly_zoom":
        return preset("dolly_zoom_out"), [_track(1, [0, 0, 0], [0, 0, 0], time_s, steps, dt_s, "alice")], None
    if name == "two_subjects_4m_9m":
        # a walk-and-talk: both walk towards the camera, which backs away in front of them
        shot = ShotSpec(subjects=["all"], framing="wide", focus={"target": "all"}, movement={"type": "follow"})
        return shot, [
            _track(1, [4, 0, 0], [-0.3, 0, 0], time_s, steps, dt_s, "near"),
            _track(2, [9, 0.5, 0], [-0.3, 0, 0], time_s, steps, dt_s, "far"),
        ], None
    if name == "shallow_close_up":
        return preset("shallow_close_up"), [_track(1, [0, 0, 0], [0.5, 0, 0], time_s, steps, dt_s, "alice")], 30.0
    raise KeyError(f"unknown benchmark shot {name!r}; known: {', '.join(SHOTS)}")


def start_state(name: str) -> RigState:
    if name == "two_subjects_4m_9m":
        return RigState(position_m=[0, 0, 1.7], yaw_rad=0.0, focal_length_mm=30, f_number=5.6, focus_distance_m=6)
    if name == "dolly_zoom":
        return RigState(position_m=[3, 0, 1.6], yaw_rad=math.pi, focal_length_mm=54, focus_distance_m=3)
    if name == "orbit":
        return RigState(position_m=[9, 0, 5], yaw_rad=math.pi, pitch_rad=-0.4, focal_length_mm=40)
    return RigState(position_m=[6, 0, 2], yaw_rad=math.pi, focal_length_mm=50)


def _summary(times_ms: list[float], iterations: list[int], failures: int) -> dict[str, float]:
    times = np.asarray(times_ms) if times_ms else np.zeros(1)
    return {
        "solve_ms_p50": float(np.percentile(times, 50)),
        "solve_ms_p95": float(np.percentile(times, 95)),
        "solve_ms_max": float(np.max(times)),
        "failures": int(failures),
        "iterations_mean": float(np.mean(iterations)) if iterations else 0.0,
        "solves": len(times_ms),
    }


def measure(steps_per_shot: int = 60, shots: tuple[str, ...] = SHOTS, reference: bool = True) -> dict[str, Any]:
    """Run the benchmark and return its numbers (see the module docstring)."""
    vehicle = load_vehicle_config()
    camera = vehicle.camera()
    params = load_mpc_params()
    deadline = params.solver.deadline_ms
    timing = params.with_updates(solver={"deadline_ms": 1e12})  # time every solve, never substitute a fallback
    start = time.perf_counter()
    fast = CineMPC(camera, vehicle, params=timing, solver="fast")
    fast_setup_s = time.perf_counter() - start
    ref = CineMPC(camera, vehicle, params=timing, solver="reference") if reference else None
    data: dict[str, dict[str, list]] = {"fast": {"t": [], "it": [], "fail": []}, "reference": {"t": [], "it": [],
                                                                                                  "fail": []}}
    per_shot: dict[str, dict[str, float]] = {}
    visited: dict[str, list[tuple[float, RigState]]] = {}
    for name in shots:
        fast.reset()
        state = start_state(name)
        shot_fast: list[float] = []
        visited[name] = []
        for step in range(steps_per_shot):
            t = step * fast.dt_s
            shot, subjects, background = scenario(name, t, fast.horizon_steps + 1, fast.dt_s)
            visited[name].append((t, state))
            result = fast.solve(state, shot, subjects, [], t, background)
            ok = result.status in ("optimal", "relaxed")
            data["fast"]["t"].append(result.solve_ms)
            data["fast"]["it"].append(result.iterations)
            data["fast"]["fail"].append(not ok)
            shot_fast.append(result.solve_ms)
            state = result.planned_state(1)
        per_shot[name] = {"fast_solve_ms_p50": float(np.percentile(shot_fast, 50)),
                          "fast_solve_ms_p95": float(np.percentile(shot_fast, 95))}
    for name in shots if ref is not None else ():
        ref.reset()  # the same steps in the same order: the shot's move starts at the same first solve
        for t, state in visited[name]:
            shot, subjects, background = scenario(name, t, ref.horizon_steps + 1, ref.dt_s)
            reference_result = ref.solve(state, shot, subjects, [], t, background)
            data["reference"]["t"].append(reference_result.solve_ms)
            data["reference"]["it"].append(reference_result.iterations)
            data["reference"]["fail"].append(reference_result.status not in ("optimal", "relaxed"))
    out: dict[str, Any] = {
        "horizon_steps": fast.horizon_steps,
        "dt_s": fast.dt_s,
        "steps": steps_per_shot * len(shots),
        "shots": list(shots),
        "fast": _summary(data["fast"]["t"], data["fast"]["it"], sum(data["fast"]["fail"])),
        "reference": _summary(data["reference"]["t"], data["reference"]["it"], sum(data["reference"]["fail"])),
        "per_shot": per_shot,
        "fast_late_solves": int(sum(t > deadline for t in data["fast"]["t"])),
        "deadline_ms": deadline,
        "fast_build_s": fast.build_s,
        "fast_setup_s": fast_setup_s,
        "machine": {"cpus": os.cpu_count(), "load_avg_1m": os.getloadavg()[0]},
    }
    if reference and out["fast"]["solve_ms_p50"] > 0:
        out["speedup_p50"] = out["reference"]["solve_ms_p50"] / out["fast"]["solve_ms_p50"]
    else:
        out["speedup_p50"] = None
    return out


def run(args: argparse.Namespace | None = None) -> dict[str, Any]:
    """Entry point of the benchmark registry (``cinempc bench mpc``)."""
    steps = getattr(args, "steps", None) or (10 if getattr(args, "quick", False) else 60)
    reference = not getattr(args, "no_reference", False)
    return measure(steps_per_shot=int(steps), reference=reference)


def format_text(numbers: dict[str, Any]) -> str:
    """Human-readable table of :func:`measure`'s numbers."""
    lines = [f"CineMPC solve times, N={numbers['horizon_steps']} dt={numbers['dt_s']} s, "
             f"{numbers['steps']} closed-loop steps over {', '.join(numbers['shots'])}"]
    for path in ("fast", "reference"):
        s = numbers[path]
        lines.append(f"  {path:9s} p50 {s['solve_ms_p50']:8.2f} ms  p95 {s['solve_ms_p95']:8.2f} ms  "
                     f"max {s['solve_ms_max']:8.2f} ms  iterations {s['iterations_mean']:5.1f}  "
                     f"failures {s['failures']}")
    if numbers.get("speedup_p50"):
        lines.append(f"  speed-up (reference p50 / fast p50): {numbers['speedup_p50']:.1f}x")
    lines.append(f"  fast-path build {numbers['fast_build_s']:.1f} s (0 = loaded from the disk cache); "
                 f"machine: {numbers['machine']['cpus']} CPUs, load {numbers['machine']['load_avg_1m']:.1f}")
    return "\n".join(lines)
