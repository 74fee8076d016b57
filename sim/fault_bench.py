"""``cinempc bench faults``: the fault-injection matrix of the in-process loop (docs/safety.md).

Each fault is injected into a real closed loop -- PyBullet simulator, real CineMPC, the safety core
(:mod:`cinempc.safety`) that every loop calls -- while the rig flies the scenario's default shot.
Per fault it reports, in simulated time:

* ``time_to_safe_s``: from the fault to the first setpoint that is safe for it (a hold, or fenced);
* ``excursion_m``: how far the rig moved from where the hold began, while the fault lasted;
* ``geofence_violations``: control steps with the rig outside the airspace (must be 0);
* ``exceptions_escaped``: exceptions that left the loop (must be 0);
* ``recovered_s``: from the end of the fault to the first setpoint flying the shot again (None: held
  to the end, which is what a fault that needs the operator must do).

A cut MAVLink link (both ways, or the telemetry only) is run over real UDP between the bridge and the
simulated PX4 (``LINK_FAULTS``).  Faults neither can express (a killed process, signing, director
sockets, a stale state in the in-process loop, which stamps the state with its own clock) are covered
by the ROS and MAVLink suites or unit tests; see docs/safety.md.  Faults in what the estimator hands over (NaN, a
jump) are measured on the rig's true position.  Figures are printed, never
asserted here (``test/test_faults.py`` asserts the fast subset).
"""

from __future__ import annotations

import argparse
import math
import select
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from cinempc.safety import FAILED_SOLVE_STATUSES
from cinempc.state import Setpoint

FAULT_START_S = 3.0  # every fault starts here, once the shot is under way
FENCE_AHEAD_M = 25.0  # geofence_full_speed: the fence's +x wall this far from the rig's start
POSE_JUMP_M = np.array([5.0, 0.0, 0.0])  # pose_jump_5m: what the estimator adds to the position while it lasts


@dataclass(frozen=True)
class Fault:
    """One row of the matrix: what is broken, for how long, and what counts as safe."""

    name: str
    duration_s: float  # how long the fault lasts (math.inf: to the end of the run)
    safe: str  # "hold", "fallback" (shifted plan or hold) or "fenced": what counts as the safe answer
    recovery: str  # what recovery needs


@dataclass
class FaultFigures:
    name: str
    time_to_safe_s: float | None
    excursion_m: float
    geofence_violations: int
    exceptions_escaped: int
    recovered_s: float | None
    recovery: str
    error: str = ""


class _FaultyLink:
    """The simulator with a fault injected into what the controller sees (pass-through otherwise)."""

    def __init__(self, sim: Any, fault: str, active: Callable[[], bool]) -> None:
        self.sim, self.fault, self.active = sim, fault, active
        self.truth: list[np.ndarray] = []  # the rig's true position at each step (the figures are measured on it)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sim, name)

    def rig_state(self):
        state = self.sim.rig_state()
        self.truth.append(state.position_m.copy())
        if not self.active():
            return state
        if self.fault == "nan_rig_state":  # an estimator glitch: built valid, then poisoned (the arrays are mutable)
            state = replace(state, position_m=state.position_m.copy())
            state.position_m[0] = math.nan
        elif self.fault == "pose_jump_5m":  # a GPS jump: the estimate is off by 5 m for the fault's duration
            state = replace(state, position_m=state.position_m + POSE_JUMP_M)
        return state

    def subjects(self, horizon_steps: int, dt_s: float):
        tracks = self.sim.subjects(horizon_steps, dt_s)
        if not self.active():
            return tracks
        if self.fault.startswith("occluded") or self.fault == "subject_lost_10s":
            return [replace(t, visible=False) for t in tracks]
        return tracks


class _FaultyController:
    """CineMPC with a fault injected into its answers (pass-through otherwise)."""

    def __init__(self, mpc: Any, fault: str, active: Callable[[], bool], airspace) -> None:
        self.mpc, self.fault, self.active, self.airspace = mpc, fault, active, airspace
        self._deadline_ms: float | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.mpc, name)

    def solve(self, state, shot, subjects, *args, **kwargs):
        if self.fault == "nan_subject_track" and self.active():  # what perception would hand over, not the truth
            subjects = [replace(t, positions_m=np.full_like(t.positions_m, np.nan)) for t in subjects]
        if self.fault == "solver_timeout":  # a real deadline miss: the deadline set below any solve time
            deadline = self.mpc.params.solver.deadline_ms
            if self.active() and self._deadline_ms is None:
                self._deadline_ms = deadline
                self.mpc.set_params(self.mpc.params.with_updates(solver={"deadline_ms": 1e-3}))
            elif not self.active() and self._deadline_ms is not None:
                self.mpc.set_params(self.mpc.params.with_updates(solver={"deadline_ms": self._deadline_ms}))
                self._deadline_ms = None
        result = self.mpc.solve(state, shot, subjects, *args, **kwargs)
        if not self.active():
            return result
        if self.fault == "controller_exception":
            raise RuntimeError("injected solver crash")
        if self.fault == "garbage_setpoint":
            return replace(result, setpoint=None)
        if self.fault == "geofence_full_speed":  # race straight at the nearest wall of the fence at full speed
            heading = np.array([1.0, 0.0, 0.0])
            speed = self.mpc.vehicle.vehicle.max_speed_mps
            target = replace(result.setpoint, position_m=state.position_m + heading * speed * 1.0,
                             velocity_mps=heading * speed, acceleration_mps2=np.zeros(3), hold=False)
            return replace(result, setpoint=target)
        return result


FAULTS: tuple[Fault, ...] = (
    Fault("director_hold", 3.0, "hold", "automatic on RESUME"),
    Fault("hold_toggled_50hz", 2.0, "hold", "automatic when the toggling stops"),
    Fault("occluded_1s", 1.0, "hold", "automatic when the subject is seen again"),
    Fault("occluded_3s", 3.0, "hold", "automatic when the subject is seen again"),
    Fault("subject_lost_10s", 10.0, "hold", "automatic when the subject is seen again"),
    Fault("nan_subject_track", 1.0, "hold", "automatic with the next finite track"),
    Fault("nan_rig_state", 1.0, "hold", "automatic with the next finite rig state"),
    Fault("pose_jump_5m", 1.0, "hold", "automatic once the rig states agree again for state_jump_settle_s"),
    Fault("controller_exception", 1.0, "hold", "automatic with the next good solve"),
    Fault("garbage_setpoint", 1.0, "hold", "automatic with the next good solve"),
    Fault("solver_timeout", 1.0, "fallback", "automatic: the next solve within its deadline"),
    Fault("geofence_full_speed", 6.0, "fenced", "automatic: the controller's next setpoint inside"),
)
# Over MAVLink (bridge + simulated PX4 on loopback UDP through a relay that drops packets), not the in-process loop.
LINK_FAULTS: tuple[Fault, ...] = (
    Fault("mavlink_link_cut_both_ways", 1.0, "hold", "operator: start offboard again (never resumes alone)"),
    Fault("mavlink_telemetry_cut", 1.0, "hold", "operator: start offboard again (never resumes alone)"),
)
LINK_TARGET_AHEAD_M = np.array([20.0, 0.0, 1.0])  # the streamed setpoint, from the start: the vehicle cruises
LINK_CRUISE_MPS = 2.0  # the cut happens once the vehicle flies at least this fast
FAST_SUBSET = ("director_hold", "occluded_1s", "controller_exception", "geofence_full_speed", "pose_jump_5m")


def run_fault(fault: Fault, scenario: str = "single_walker", tail_s: float = 2.0) -> FaultFigures:
    """Fly one fault through the real closed loop and measure it."""
    from cinempc_sim.closed_loop import ClosedLoop, LoopSettings, prepare_run

    setup = prepare_run(scenario, None, None, render=False, render_rate_hz=0.0)
    if fault.name == "geofence_full_speed":  # a wall close enough to reach at full speed within the fault
        start_x = float(setup.sim.rig_state().position_m[0])
        airspace = setup.vehicle.airspace.model_copy(update={
            "geofence_max_m": (start_x + FENCE_AHEAD_M, setup.vehicle.airspace.geofence_max_m[1])})
        setup.vehicle = setup.vehicle.model_copy(update={"airspace": airspace})
    sim = setup.sim
    end_s = FAULT_START_S + (fault.duration_s if math.isfinite(fault.duration_s) else 5.0)
    clock = {"t": 0.0}

    def active() -> bool:
        return FAULT_START_S <= clock["t"] < end_s

    link = _FaultyLink(sim, fault.name, active)
    controller = _FaultyController(setup.make_controller("cinempc"), fault.name, active, setup.vehicle.airspace)
    shot = setup.shot
    events: list = []

    def director(event) -> None:
        clock["t"] = event.time_s + 1.0 / setup.settings.control_rate_hz  # what the next step will see
        if fault.name == "director_hold":
            loop.hold() if active() else loop.resume()
        elif fault.name == "hold_toggled_50hz":
            for k in range(5):  # five presses per 0.1 s step = 50 per second
                loop.hold() if active() and k % 2 == 0 else loop.resume()
        events.append(event)

    loop = ClosedLoop(link, controller, shot, setup.camera, setup.vehicle, settings=LoopSettings(
        control_rate_hz=setup.settings.control_rate_hz, render_rate_hz=0.0), render=False, on_step=[director],
        scenario_name=scenario)
    escaped, error = 0, ""
    try:
        loop.run(end_s + tail_s)
    except Exception as exc:  # noqa: BLE001 -- counted: the figure that must stay 0
        escaped, error = 1, repr(exc)[:200]
    finally:
        sim.close()
    return _figures(fault, events, link.truth, setup.vehicle.airspace, end_s, escaped, error)


def _safe(event, fault: Fault) -> bool:
    setpoint: Setpoint = event.setpoint
    if fault.safe == "fenced":
        return bool(event.fenced)
    return bool(setpoint.hold) or (fault.safe == "fallback" and event.status in FAILED_SOLVE_STATUSES)


def _figures(fault: Fault, events: list, truth: list[np.ndarray], airspace, end_s: float, escaped: int,
             error: str) -> FaultFigures:
    """The figures of one run, measured on the rig's true position (a faulty estimate is what is injected)."""
    def where(e) -> np.ndarray:
        return truth[e.index] if e.index < len(truth) else e.state.position_m

    during = [e for e in events if FAULT_START_S - 1e-9 <= e.time_s < end_s]
    first_safe = next((e for e in during if _safe(e, fault)), None)
    time_to_safe = None if first_safe is None else round(first_safe.time_s - FAULT_START_S, 3)
    excursion = 0.0
    if first_safe is not None and fault.safe == "hold":
        anchor = first_safe.setpoint.position_m
        excursion = max((float(np.linalg.norm(where(e) - anchor)) for e in during
                         if e.time_s >= first_safe.time_s and e.setpoint.hold), default=0.0)
    violations = sum(1 for e in events if not airspace.contains(where(e)))
    if fault.safe == "fenced":  # how far past the fence's wall the rig got (0 inside)
        excursion = max((max(0.0, where(e)[0] - airspace.geofence_max_m[0]) for e in events), default=0.0)
    after = [e for e in events if e.time_s >= end_s]
    back = next((e for e in after if not e.setpoint.hold and not e.fenced
                 and e.status not in FAILED_SOLVE_STATUSES), None)
    recovered = None if back is None else round(back.time_s - end_s, 3)
    return FaultFigures(fault.name, time_to_safe, round(excursion, 3), violations, escaped, recovered, fault.recovery,
                        error)


class LinkRelay:
    """A UDP relay between the bridge and the autopilot that can drop either direction (the cut radio)."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.upstream = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.upstream.bind(("127.0.0.1", 0))
        self.client: tuple[str, int] | None = None
        self.uplink = self.downlink = True  # bridge -> autopilot, autopilot -> bridge
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="link-relay", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"udpout:127.0.0.1:{self.sock.getsockname()[1]}"

    def cut(self, uplink: bool, downlink: bool) -> None:
        self.uplink, self.downlink = not uplink, not downlink

    def restore(self) -> None:
        self.uplink = self.downlink = True

    def _run(self) -> None:
        while not self._stop:
            ready, _, _ = select.select([self.sock, self.upstream], [], [], 0.05)
            for sock in ready:
                try:
                    data, addr = sock.recvfrom(65535)
                except OSError:
                    continue
                if sock is self.sock:
                    self.client = addr
                    if self.uplink:
                        self.upstream.sendto(data, self.target)
                elif self.downlink and self.client is not None:
                    self.sock.sendto(data, self.client)

    def close(self) -> None:
        self._stop = True
        self._thread.join(timeout=1.0)
        self.sock.close()
        self.upstream.close()


def _wait(predicate: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return bool(predicate())


def run_link_fault(fault: Fault, settle_s: float = 3.0) -> FaultFigures:
    """Cut the MAVLink link while the vehicle cruises to a streamed setpoint; restore it after the fault.

    Safe is the vehicle in HOLD; times are the autopilot's simulated clock (it runs in real time).  The
    excursion is measured from where the vehicle was when it went to HOLD.  Recovery needs the operator:
    after the restore the bridge must not stream again by itself (``recovered_s`` stays None).
    """
    from cinempc.config import load_parameters
    from cinempc.mavlink.bridge import MavlinkBridge
    from cinempc_sim.autopilot import SimAutopilot
    from cinempc_sim.simulator import Simulator

    params = load_parameters("mavlink.yaml")
    escaped, error, time_to_safe, excursion, violations, recovered = 0, "", None, 0.0, 0, None
    with Simulator("single_walker", render=False) as sim:
        airspace = sim.vehicle_config.airspace
        autopilot = SimAutopilot(sim, "px4", params=params).start()
        relay = LinkRelay(autopilot.address)
        bridge = MavlinkBridge(relay.url, sim.camera_profile, sim.vehicle_config, params=params)
        try:
            bridge.start()
            start = sim.rig_state()
            target = replace(Setpoint.hold_at(start), position_m=start.position_m + LINK_TARGET_AHEAD_M, hold=False)
            if not (bridge.operator_arm().accepted and bridge.operator_start_offboard(target).accepted):
                raise RuntimeError("the autopilot refused arm/offboard")
            if not _wait(lambda: np.linalg.norm(sim.rig_state().velocity_mps) > LINK_CRUISE_MPS, 20.0):
                raise RuntimeError("the vehicle never cruised")
            cut_s = float(sim.time_s)
            relay.cut(uplink=fault.name == "mavlink_link_cut_both_ways", downlink=True)
            if _wait(lambda: autopilot.mode == "hold", 5.0):
                change = autopilot.mode_log[-1]
                time_to_safe = round(change.sim_time_s - cut_s, 3)
                held_at = sim.rig_state().position_m
                positions = []
                end = time.monotonic() + fault.duration_s
                while time.monotonic() < end:
                    positions.append(sim.rig_state().position_m)
                    time.sleep(0.02)
                relay.restore()
                end = time.monotonic() + settle_s
                while time.monotonic() < end:
                    positions.append(sim.rig_state().position_m)
                    if bridge.streaming and recovered is None:  # it must not: the operator resumes
                        recovered = round(float(sim.time_s) - cut_s - fault.duration_s, 3)
                    time.sleep(0.02)
                excursion = max(float(np.linalg.norm(p - held_at)) for p in positions)
                violations = sum(1 for p in positions if not airspace.contains(p))
        except Exception as exc:  # noqa: BLE001 -- counted: the figure that must stay 0
            escaped, error = 1, repr(exc)[:200]
        finally:
            bridge.close()
            relay.close()
            autopilot.close()
    return FaultFigures(fault.name, time_to_safe, round(excursion, 3), violations, escaped, recovered, fault.recovery,
                        error)


def run_matrix(names: tuple[str, ...] | None = None) -> list[FaultFigures]:
    """Every fault (or the named ones), one run each: the in-process loop's, then the MAVLink link's."""
    everything = FAULTS + LINK_FAULTS
    chosen = [f for f in everything if names is None or f.name in names]
    unknown = set(names or ()) - {f.name for f in everything}
    if unknown:
        raise ValueError(f"unknown faults {sorted(unknown)}; choose from {[f.name for f in everything]}")
    return [run_link_fault(fault) if fault in LINK_FAULTS else run_fault(fault) for fault in chosen]


def format_table(rows: list[FaultFigures]) -> str:
    """The matrix as the Markdown table of docs/safety.md."""
    lines = ["| fault | time to safe (s) | excursion (m) | geofence violations | exceptions escaped | "
             "recovered after (s) | recovery needs |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r.name} | {_cell(r.time_to_safe_s)} | {r.excursion_m:.2f} | {r.geofence_violations} | "
                     f"{r.exceptions_escaped} | {_cell(r.recovered_s)} | {r.recovery} |")
    return "\n".join(lines)


def _cell(value: float | None) -> str:
    return "never" if value is None else f"{value:.2f}"


def run(args: argparse.Namespace) -> dict[str, Any]:
    """``cinempc bench faults``: the matrix (``--quick``: the fast CI subset)."""
    started = time.perf_counter()
    rows = run_matrix(FAST_SUBSET if getattr(args, "quick", False) else None)
    if not getattr(args, "json", False):
        print(format_table(rows))
    return {"faults": [asdict(r) for r in rows], "wall_s": round(time.perf_counter() - started, 1)}
