"""``cinempc bench faults``: the fault-injection matrix (docs/safety.md).

Each fault is injected into a real closed loop -- PyBullet simulator, real CineMPC, the safety core
(:mod:`cinempc.safety`) that every loop calls -- while the rig flies the scenario's default shot.
Per fault it reports:

* ``time_to_safe_s``: from the fault to the first setpoint that is safe for it (a hold, or fenced);
  for a fault that must not lift a hold already in force ("held"), 0 when it held all through, None
  when the fault lifted it;
* ``excursion_m``: how far the rig moved from where the hold began, while it held during the fault;
* ``geofence_violations``: control steps with the rig outside the airspace (must be 0), and
  ``outside_m``, how far outside it got;
* ``exceptions_escaped``: exceptions that left the loop (must be 0); in the graph, nodes that died
  unasked and tracebacks in their logs;
* ``recovered_s``: from the end of the fault (or the director's RESUME) to the first setpoint flying
  the shot again (None: held to the end, which is what a fault that needs the operator must do).

Three harnesses, each through the real parts, a fake only where the fault is injected:

* ``FAULTS``: the in-process loop (``ClosedLoop``), in lockstep, figures in simulated time;
* ``LINK_FAULTS``: the MAVLink bridge and the simulated PX4 over loopback UDP through a relay that drops
  packets, timed on the autopilot's clock;
* ``GRAPH_FAULTS``: the ROS graph as processes over DDS (sim_node, mpc_node, director_node with its web
  app; the command lines ``cinempc up sim`` runs), figures on the graph's clock: the MPC node killed,
  its odometry withheld (a stale state) or its /clock stepped (the bench relays both), its setpoints
  reaching the sim node late or its subjects arriving old (the bench relays those when these rows run),
  and the director's tablet app attacked over real HTTP/WebSocket (unauthenticated and replayed
  requests, a half-dead socket).

Faults in what the estimator hands over (NaN, a jump) are measured on the rig's true position.  Figures
are printed, never asserted here (``test/test_faults.py`` and ``test/test_faults_ros.py`` assert the fast
subsets).  ``python -m cinempc_sim.fault_bench NAME ...`` runs named rows only.
"""
from __future__ import annotations

import argparse
import bisect
import math
import select
import socket
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
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
    # what counts as the safe answer: "hold", "fallback" (shifted plan or hold), "fenced", or "held" (a hold
    # already in force -- the director's, or a stale state's -- must stand all through the fault)
    safe: str
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
    detail: str = ""  # what else was measured (refusals, gaps), for the notes under the table
    outside_m: float = 0.0  # the farthest the rig got outside the airspace (0: never outside)


def _outside_m(airspace, positions) -> float:
    """How far the farthest of ``positions`` lies outside the geofence box and altitude band (0 inside)."""
    return max((float(np.linalg.norm(np.asarray(p) - np.asarray(airspace.clamp(p)))) for p in positions
                if not airspace.contains(p)), default=0.0)


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
                        error, outside_m=round(_outside_m(airspace, [where(e) for e in events]), 3))


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
    escaped, error, time_to_safe, excursion, violations, recovered, outside = 0, "", None, 0.0, 0, None, 0.0
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
                outside = _outside_m(airspace, positions)
        except Exception as exc:  # noqa: BLE001 -- counted: the figure that must stay 0
            escaped, error = 1, repr(exc)[:200]
        finally:
            bridge.close()
            relay.close()
            autopilot.close()
    return FaultFigures(fault.name, time_to_safe, round(excursion, 3), violations, escaped, recovered, fault.recovery,
                        error, outside_m=round(outside, 3))


# ================================================================== the ROS graph over DDS
# The simulated product as separate processes (the command lines `cinempc up sim` runs): sim_node
# (no camera), mpc_node fed the simulator's true subjects, director_node serving the real tablet app.
# The bench is a ROS node of its own: it records the truth and the setpoints, relays the MPC node's
# odometry and /clock (where it injects a stale state and a clock jump), plays the tablet over real
# HTTP and WebSocket, and kills processes.
GRAPH_NODES = ("sim_node", "mpc_node", "director_node")
GRAPH_FAULTS: tuple[Fault, ...] = (
    Fault("stale_state_ros", 1.0, "hold", "automatic with the next odometry"),
    Fault("delayed_state_ros", 3.0, "held", "automatic with the next odometry on time"),
    Fault("clock_jump_ros", 1.0, "hold", "automatic with the next odometry, subjects and solve"),
    Fault("director_unauthenticated", 2.0, "held", "none: every request refused, the director's HOLD stands"),
    Fault("director_replayed_resume", 2.0, "held", "none: every replay refused, the director's HOLD stands"),
    Fault("director_socket_dropped", 1.0, "hold", "automatic: the tablet opens a new socket; RESUME when wanted"),
    Fault("late_setpoints_ros", 3.0, "held", "automatic with the next setpoint on time"),
    Fault("old_subjects_ros", 1.0, "hold", "automatic with the next subjects on time"),
    Fault("mpc_node_killed", 2.0, "hold", "operator: restart the MPC node (it flies the shot again once up)"),
)
GRAPH_FAST_SUBSET = ("stale_state_ros", "delayed_state_ros", "clock_jump_ros", "director_unauthenticated",
                     "director_replayed_resume", "director_socket_dropped", "late_setpoints_ros", "old_subjects_ros",
                     "mpc_node_killed")
# what the bench relays, for the rows that need it: the sim node's setpoints, the MPC node's subjects
GRAPH_RELAYS = {"late_setpoints_ros": "setpoints", "old_subjects_ros": "subjects"}
STATE_DELAY_S = 1.0  # delayed_state_ros: the MPC node's odometry arrives this late (stamps as measured)
SETPOINT_DELAY_S = 1.0  # late_setpoints_ros: the MPC node's setpoints reach the sim node this late (stamps as decided)
SUBJECT_AGE_S = 1.5  # old_subjects_ros: the MPC node's subjects arrive stamped this far in the past
CLOCK_JUMP_S = 2.0  # clock_jump_ros: the MPC node's clock steps this far forward, and back at the fault's end
GRAPH_SETTLE_S = 2.0  # graph seconds of flying the shot (no hold) before each fault
DIRECTOR_HOLD_SETTLE_S = 1.0  # held rows: the director's HOLD this long before the fault (the rig has braked)
SOCKET_HOLD_AFTER_S = 0.5  # director_socket_dropped: the tablet presses HOLD this long after its socket died
GRAPH_TAIL_S = 2.0  # graph seconds watched after each fault's end for the recovery
GRAPH_WAIT_S = 120.0  # wall seconds any one wait in the graph may take (a loaded machine starts nodes slowly)


@dataclass(frozen=True)
class _Sample:
    """One observation on the graph's clock: a hold flag and a position."""

    time_s: float
    hold: bool
    position_m: np.ndarray


class TcpRelay:
    """A TCP relay (tablet <-> director app) that can go silent: the sockets stay open, nothing passes.

    What a half-dead WebSocket is on a set network: neither side has seen a close, the server's
    pushes pile up in the buffers, the tablet's messages never arrive.
    """

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.port = int(self.listener.getsockname()[1])
        self.passing = True
        self._peers: dict[socket.socket, socket.socket] = {}
        self._lock = threading.Lock()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="tcp-relay", daemon=True)
        self._thread.start()

    def silence(self) -> None:
        """Stop passing anything on the open connections (they stay open)."""
        self.passing = False

    def drop_all(self) -> None:
        """Close every connection (the dead socket finally goes) and pass new ones again."""
        with self._lock:
            for sock in list(self._peers):
                sock.close()
            self._peers.clear()
        self.passing = True

    def _run(self) -> None:
        while not self._stop:
            with self._lock:
                watched = [self.listener] + (list(self._peers) if self.passing else [])
            try:
                ready, _, _ = select.select(watched, [], [], 0.02)
            except (OSError, ValueError):  # a socket closed under select
                continue
            for sock in ready:
                if sock is self.listener:
                    client, _ = self.listener.accept()
                    upstream = socket.create_connection(self.target)
                    with self._lock:
                        self._peers[client], self._peers[upstream] = upstream, client
                    continue
                with self._lock:
                    peer = self._peers.get(sock)
                if peer is None or not self.passing:
                    continue
                try:
                    data = sock.recv(65536)
                    if data:
                        peer.sendall(data)
                        continue
                except OSError:
                    pass
                with self._lock:  # closed by one side: close the pair
                    for each in (sock, peer):
                        self._peers.pop(each, None)
                        each.close()

    def close(self) -> None:
        self._stop = True
        self._thread.join(timeout=1.0)
        self.drop_all()
        self.listener.close()


class Tablet:
    """The director's tablet over real HTTP and WebSocket: raw HTTP/1.1 bytes, so a request can be replayed.

    The director's own requests are signed as the tablet page signs them (a session, a counter per request,
    HMAC with the pairing token: cinempc.director.security); ``token`` given: a bearer token instead (an
    intruder's wrong one), None: no credentials at all.
    """

    def __init__(self, port: int, token: str) -> None:
        from cinempc.director.security import RequestSigner

        self.port, self.token = port, token
        self.signer = RequestSigner(token)

    def open_session(self) -> None:
        """A fresh signed session from the app (``POST /api/session``), as the page opens one when it loads."""
        import json

        status, body = self.exchange(self._bytes("POST", "/api/session", b"", self.signer.open_headers()))
        if status != 200:
            raise RuntimeError(f"the director app did not open a session: HTTP {status} {body[:200]!r}")
        self.signer.restart(json.loads(body)["session"])

    def request_bytes(self, method: str, path: str, body: dict | None = None, token: str | None = "") -> bytes:
        """The exact bytes of one request (``token=""``: the director's, signed; a string: that bearer token;
        None: no credentials)."""
        import json

        payload = json.dumps(body).encode() if body is not None else b""
        if token == "":
            if not self.signer.session:
                self.open_session()
            credentials = self.signer.headers(method, path, payload)
        else:
            credentials = {} if token is None else {"X-Director-Token": token}
        return self._bytes(method, path, payload, credentials)

    def _bytes(self, method: str, path: str, payload: bytes, headers: dict[str, str]) -> bytes:
        lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{self.port}", "Connection: close",
                 "Content-Type: application/json", f"Content-Length: {len(payload)}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload

    def exchange(self, data: bytes, timeout_s: float = 10.0) -> tuple[int, bytes]:
        """Send request bytes on a fresh connection; the HTTP status and body of the answer."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout_s) as sock:
            sock.sendall(data)
            answer = b""
            while True:  # Connection: close -- the server ends the answer by closing
                chunk = sock.recv(65536)
                if not chunk:
                    break
                answer += chunk
        status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else 0
        return status, answer.partition(b"\r\n\r\n")[2]

    def send(self, data: bytes, timeout_s: float = 10.0) -> int:
        """Send request bytes on a fresh connection; the HTTP status of the answer."""
        return self.exchange(data, timeout_s)[0]

    def post(self, path: str, body: dict | None = None, token: str | None = "") -> int:
        return self.send(self.request_bytes("POST", path, body, token))

    def auth_message(self, token: str | None = "") -> str | None:
        """The first WebSocket message: the director's signed auth (a fresh counter), a bearer one, or None."""
        import json

        if token == "":
            if not self.signer.session:
                self.open_session()
            return json.dumps(self.signer.websocket_auth())
        return None if token is None else json.dumps({"type": "auth", "token": token})

    @contextmanager
    def websocket(self, port: int | None = None, token: str | None = "", timeout_s: float = 10.0,
                  auth: str | None = None):
        """A WebSocket to ``/ws`` (through ``port``: a relay), authenticated as ``token`` says, or with ``auth``
        (a first message captured earlier)."""
        from websockets.sync.client import connect

        first = auth if auth is not None else self.auth_message(token)
        with connect(f"ws://127.0.0.1:{port or self.port}/ws", proxy=None, open_timeout=timeout_s,
                     compression=None, ping_interval=None, close_timeout=1.0) as ws:
            if first is not None:
                ws.send(first)
            yield ws

    def closed_with(self, token: str | None, first: str, timeout_s: float = 10.0,
                    auth: str | None = None) -> int | None:
        """Open a socket (``token``/``auth`` as in :meth:`websocket`), send ``first``, read until the server closes
        it: the close code (None: never closed)."""
        from websockets.exceptions import ConnectionClosed

        try:
            with self.websocket(token=token, auth=auth) as ws:
                ws.send(first)
                deadline = time.monotonic() + timeout_s
                while time.monotonic() < deadline:
                    ws.recv(timeout=max(0.01, deadline - time.monotonic()))
        except ConnectionClosed as exc:
            return exc.rcvd.code if exc.rcvd is not None else None
        except TimeoutError:
            return None
        return None


def _free_tcp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def domain_in_use(domain: int, participants: int = 10) -> bool:
    """Whether a DDS participant on this machine holds domain ``domain``: Fast DDS binds the metatraffic unicast port
    7400 + 250 d + 10 + 2 i for its i-th participant (RTPS well-known ports), so a port that cannot be bound is a
    participant of another graph -- a test run or bench beside this one on a shared machine."""
    for i in range(participants):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind(("0.0.0.0", 7400 + 250 * domain + 10 + 2 * i))
            except OSError:
                return True
    return False


def free_ros_domain(first: int, last: int, seed: int) -> int:
    """A domain id in ``first..last`` that no participant on this machine uses, starting from one ``seed`` picks
    (two runs drawing the same id from their pids would share a graph: nodes, services, the latched HOLD)."""
    import random

    start = random.Random(seed).randint(first, last)
    span = last - first + 1
    for k in range(span):
        domain = first + (start - first + k) % span
        if not domain_in_use(domain):
            return domain
    return start  # every one in use: the draw, as before


def private_ros_env() -> dict[str, str]:
    """Environment for a private DDS domain on loopback, so the bench never talks to another graph."""
    import os

    env = dict(os.environ)
    env["ROS_DOMAIN_ID"] = str(free_ros_domain(101, 200, os.getpid()))
    env.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
    env.pop("ROS_LOCALHOST_ONLY", None)  # deprecated: the discovery range below says the same
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    return env


class GraphSession:
    """The sim graph's processes, the bench's ROS node (recorder, relays, fault injector) and a tablet."""

    def __init__(self, env: dict[str, str] | None = None, logs: Any = None,
                 overrides: dict[str, dict[str, str]] | None = None, relays: frozenset[str] = frozenset()) -> None:
        import secrets
        import tempfile
        from pathlib import Path

        from cinempc.cli.up import commands
        from cinempc.config import load_vehicle_config
        from cinempc.graph import Topics

        self.env = {**(env or private_ros_env()), "PYTHONUNBUFFERED": "1"}
        self.logs = Path(logs) if logs is not None else Path(tempfile.mkdtemp(prefix="cinempc-fault-graph-"))
        self.logs.mkdir(parents=True, exist_ok=True)
        self.airspace = load_vehicle_config().airspace
        port, token = _free_tcp_port(), "bench-" + secrets.token_urlsafe(24)
        # Lockstep and no solver deadline, as test_ros_stack runs the graph: the world waits for each
        # replanning, so on a loaded machine a late solve is not a fault of its own and every figure is
        # graph time.  A silent MPC (held, killed) lets the world run free after lockstep_timeout_s.
        params = {"sim_node": {"node.render": "false", "node.ground_truth_rate_hz": "50.0", "node.lockstep": "true"},
                  "mpc_node": {"solver.deadline_ms": "1.0e9"},
                  "director_node": {"server.port": str(port), "server.token": token}}
        for name, values in (overrides or {}).items():  # an experiment's parameters on top (NODE -> NAME -> YAML)
            params[name] = {**params.get(name, {}), **values}
        argv = dict(commands("sim", overrides=params, ground_truth_subjects=True))
        # the MPC node's odometry and clock pass through the bench, where the faults are injected
        argv["mpc_node"] = argv["mpc_node"] + ["-r", "rig/odometry:=fault/rig/odometry", "-r", "/clock:=/fault/clock"]
        self.relays = relays
        if "setpoints" in relays:  # the MPC node's setpoints reach the sim node through the bench
            argv["sim_node"] = argv["sim_node"] + ["-r", f"{Topics.SETPOINT}:=fault/{Topics.SETPOINT}"]
        if "subjects" in relays:  # the MPC node's subjects too (its first matching remap rule is replaced)
            truth = f"{Topics.SUBJECTS}:={Topics.GROUND_TRUTH_SUBJECTS}"
            argv["mpc_node"] = [f"{Topics.SUBJECTS}:=fault/{Topics.SUBJECTS}" if a == truth else a
                                for a in argv["mpc_node"]]
        self.argv = {name: argv[name] for name in GRAPH_NODES}
        self.tablet = Tablet(port, token)
        self.processes: dict[str, Any] = {}
        self.expected_dead: set[str] = set()
        self.truth: list[_Sample] = []  # the simulator's true rig and whether sim_node holds
        # the MPC node's setpoints at their stamps (when the node decided, on its clock: the graph's as relayed,
        # less the relay's offset then), not when the bench got round to them: a loaded bench lags the graph
        self.setpoints: list[_Sample] = []
        self.director_hold: list[tuple[float, bool]] = []  # director/hold as the director node latched it
        self.clock_s = -math.inf  # the graph's clock (sim_node's /clock)
        self.scenario_s = 0.0
        self.paused = True
        self.withhold_odometry = False
        self.odometry_delay_s = 0.0
        self._delayed: list[tuple[float, Any]] = []  # (its stamp, odometry) held back by the relay
        self.last_relayed_stamp_s = -math.inf  # the stamp of the latest odometry the relay passed to the MPC node
        self.setpoint_delay_s = 0.0
        self._late_setpoints: list[tuple[float, Any]] = []  # (its stamp, setpoint) held back on the way to the sim node
        self.last_on_time_setpoint_s = -math.inf  # the stamp of the latest setpoint relayed to the sim node on time
        self.late_setpoints_relayed = 0
        self.subject_age_s = 0.0
        self.old_subjects_relayed = 0
        self._setpoint_out = self._subjects_out = None
        self.clock_offset_s = 0.0
        self._offsets: list[tuple[float, float]] = [(-math.inf, 0.0)]  # (graph time from, offset) the relay added
        self._lock = threading.Lock()
        self._context = self._node = self._executor = self._spinner = None
        self._spin = threading.Event()

    # ------------------------------------------------------------------ start and stop
    def __enter__(self) -> GraphSession:
        import os

        for name in GRAPH_NODES:
            self.start(name)
        os.environ.update({k: self.env[k] for k in ("ROS_DOMAIN_ID", "RMW_IMPLEMENTATION",
                                                    "ROS_AUTOMATIC_DISCOVERY_RANGE")})
        try:
            self._start_node()
        except Exception:
            self.__exit__(None, None, None)
            raise
        return self

    def start(self, name: str) -> None:
        import subprocess

        from cinempc.cli.up import Process

        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 -- closed with the process
        self.processes[name] = Process(name, self.argv[name], subprocess.Popen(
            self.argv[name], env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
        self.expected_dead.discard(name)

    def kill(self, name: str) -> None:
        """As hard as a crash: SIGKILL, no clean shutdown."""
        self.expected_dead.add(name)
        self.processes[name].popen.kill()
        self.processes[name].popen.wait(timeout=10)

    def _start_node(self) -> None:
        import rclpy
        from cinempc_interfaces.msg import GroundTruth
        from nav_msgs.msg import Odometry
        from rclpy.executors import SingleThreadedExecutor
        from rosgraph_msgs.msg import Clock
        from std_msgs.msg import Bool
        from trajectory_msgs.msg import JointTrajectory

        from cinempc.nodes.base import CONTROL_QOS, LATCHED_QOS

        self._context = rclpy.Context()
        rclpy.init(context=self._context)
        node = self._node = rclpy.create_node("fault_bench", context=self._context)
        self._odometry_out = node.create_publisher(Odometry, "fault/rig/odometry", CONTROL_QOS)
        self._clock_out = node.create_publisher(Clock, "/fault/clock", CONTROL_QOS)
        node.create_subscription(Clock, "/clock", self._on_clock, CONTROL_QOS)
        node.create_subscription(Odometry, "rig/odometry", self._on_odometry, CONTROL_QOS)
        node.create_subscription(GroundTruth, "sim/ground_truth", self._on_truth, CONTROL_QOS)
        node.create_subscription(JointTrajectory, "rig/setpoint", self._on_setpoint, CONTROL_QOS)
        node.create_subscription(Bool, "director/hold", self._on_hold, LATCHED_QOS)
        if "setpoints" in self.relays:
            self._setpoint_out = node.create_publisher(JointTrajectory, "fault/rig/setpoint", CONTROL_QOS)
        if "subjects" in self.relays:
            from cinempc_interfaces.msg import SubjectTrackArray

            self._subjects_out = node.create_publisher(SubjectTrackArray, "fault/subjects", CONTROL_QOS)
            node.create_subscription(SubjectTrackArray, "sim/ground_truth/subjects", self._on_subjects, CONTROL_QOS)
        self._executor = SingleThreadedExecutor(context=self._context)
        self._executor.add_node(node)
        self._spin.set()
        self._spinner = threading.Thread(target=self._spin_loop, name="fault-bench-ros", daemon=True)
        self._spinner.start()

    def _spin_loop(self) -> None:
        while self._spin.is_set():
            self._executor.spin_once(timeout_sec=0.05)

    def __exit__(self, *exc: Any) -> None:
        from cinempc.cli.up import _remove_override_files, stop_all

        stop_all(list(self.processes.values()), grace_s=10.0)
        _remove_override_files(list(self.argv.values()))
        self._spin.clear()
        if self._spinner is not None:
            self._spinner.join(timeout=2.0)
        if self._node is not None:
            import rclpy

            self._node.destroy_node()
            rclpy.shutdown(context=self._context)

    # ------------------------------------------------------------------ the bench node's callbacks
    def _on_clock(self, msg) -> None:
        from cinempc.nodes.convert import s_to_stamp, stamp_to_s

        with self._lock:
            self.clock_s = stamp_to_s(msg.clock)
            offset = self.clock_offset_s
        if offset:
            msg.clock = s_to_stamp(self.clock_s + offset)
        self._clock_out.publish(msg)
        self._release_delayed()  # after the clock that makes them late: the MPC node has it first

    def _relay(self, msg) -> None:
        from cinempc.nodes.convert import stamp_to_s

        self._odometry_out.publish(msg)
        self.last_relayed_stamp_s = max(self.last_relayed_stamp_s, stamp_to_s(msg.header.stamp))

    def _release_delayed(self) -> None:
        """Pass on each held-back odometry once the graph's clock is ``odometry_delay_s`` past its stamp: late by
        the time it was measured, however late the bench itself got it."""
        now = self.now_s()
        while self._delayed and self._delayed[0][0] <= now - self.odometry_delay_s:
            self._relay(self._delayed.pop(0)[1])
        while self._late_setpoints and self._late_setpoints[0][0] <= now - self.setpoint_delay_s:
            self._setpoint_out.publish(self._late_setpoints.pop(0)[1])
            self.late_setpoints_relayed += 1

    def _on_odometry(self, msg) -> None:
        from cinempc.nodes.convert import stamp_to_s

        if self.withhold_odometry:
            return
        if self.odometry_delay_s <= 0:
            self._delayed.clear()  # the delay ends: what was held back is dropped, the stream is on time again
            self._relay(msg)
            return
        self._delayed.append((stamp_to_s(msg.header.stamp), msg))
        self._release_delayed()

    def _on_truth(self, msg) -> None:
        from cinempc.nodes.convert import stamp_to_s

        p = msg.rig.position_m
        with self._lock:
            self.truth.append(_Sample(stamp_to_s(msg.header.stamp), bool(msg.holding), np.array([p.x, p.y, p.z])))
            self.scenario_s, self.paused = float(msg.scenario_time_s), bool(msg.paused)

    def _on_hold(self, msg) -> None:
        with self._lock:
            self.director_hold.append((self.clock_s, bool(msg.data)))

    def _on_setpoint(self, msg) -> None:
        from cinempc.nodes.convert import setpoint_from_msg, stamp_to_s

        try:
            setpoint = setpoint_from_msg(msg)
        except ValueError:
            return
        with self._lock:
            decided = self._graph_time(stamp_to_s(msg.header.stamp))
            self.setpoints.append(_Sample(decided, bool(setpoint.hold), np.asarray(setpoint.position_m)))
        if self._setpoint_out is not None:
            self._relay_setpoint(msg)

    def _relay_setpoint(self, msg) -> None:
        """Pass the MPC node's setpoint on to the sim node: at once, or held back ``setpoint_delay_s`` past its stamp
        (on the graph's clock, however late the bench itself got it), its stamp untouched."""
        from cinempc.nodes.convert import stamp_to_s

        stamp_s = stamp_to_s(msg.header.stamp)
        if self.setpoint_delay_s <= 0:
            self._late_setpoints.clear()  # the delay ends: what was held back is dropped, the stream is on time again
            self._setpoint_out.publish(msg)
            self.last_on_time_setpoint_s = max(self.last_on_time_setpoint_s, stamp_s)
            return
        self._late_setpoints.append((stamp_s, msg))
        self._release_delayed()

    def _on_subjects(self, msg) -> None:
        """Pass the simulator's subjects on to the MPC node, stamped ``subject_age_s`` in the past while that is set."""
        from cinempc.nodes.convert import s_to_stamp, stamp_to_s

        age_s = self.subject_age_s
        if age_s > 0:
            msg.header.stamp = s_to_stamp(max(stamp_to_s(msg.header.stamp) - age_s, 0.0))
            self.old_subjects_relayed += 1
        self._subjects_out.publish(msg)

    def _graph_time(self, stamp_s: float) -> float:
        """The graph time of a stamp made on the MPC node's clock (call with the lock held).

        The node's clock is the graph's as the relay passed it on, plus the offset the relay added then: the
        latest graph time, no later than the bench's own clock (it relayed every clock the node has), at which
        that offset was in force.  A stamp that fits none (not on the node's clock): when the bench got it.
        """
        fits = []
        for k, (since, offset) in enumerate(self._offsets):
            until = self._offsets[k + 1][0] if k + 1 < len(self._offsets) else math.inf
            decided = stamp_s - offset
            if since <= decided < until and decided <= self.clock_s:
                fits.append(decided)
        return max(fits) if fits and math.isfinite(stamp_s) else self.clock_s

    def set_clock_offset(self, offset_s: float) -> None:
        """What the relay adds to the graph's clock on its way to the MPC node (a clock jump), from now on."""
        with self._lock:
            self.clock_offset_s = offset_s
            self._offsets.append((self.clock_s, offset_s))

    # ------------------------------------------------------------------ waiting on the graph
    def now_s(self) -> float:
        with self._lock:
            return self.clock_s

    def wait(self, predicate: Callable[[], Any], what: str, timeout_s: float = GRAPH_WAIT_S) -> Any:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                value = predicate()
            if value:
                return value
            died = [n for n, p in self.processes.items() if not p.alive and n not in self.expected_dead]
            if died:
                raise RuntimeError(f"{died} died while waiting for {what} (logs in {self.logs})")
            time.sleep(0.01)
        raise TimeoutError(f"no {what} within {timeout_s:.0f} s (logs in {self.logs})")

    def wait_graph_s(self, seconds: float) -> float:
        """Wait ``seconds`` of graph time; the graph time then."""
        until = self.now_s() + seconds
        return self.wait(lambda: self.clock_s >= until and self.clock_s, f"{seconds} s of graph time")

    def wait_flying(self, seconds: float) -> None:
        """Until the MPC has streamed flying setpoints, and the sim node flown them, for ``seconds`` of graph time
        with the world running (a sim node still holding on its setpoint timeout -- the MPC slow to fly again
        after a long hold -- would make the next row's figures the last row's)."""
        def flying() -> bool:
            if self.paused or not self.setpoints or self.setpoints[-1].hold or not self.truth or self.truth[-1].hold:
                return False
            since = self.clock_s - seconds
            held = [s for s in self.setpoints if s.time_s >= since and s.hold]
            held += [t for t in self.truth if t.time_s >= since and t.hold]
            return not held and self.setpoints[0].time_s <= since and self.scenario_s >= seconds
        self.wait(flying, f"{seconds} s of the shot flown")

    def wait_setpoint(self, hold: bool, after_s: float) -> float:
        """The graph time of the first setpoint after ``after_s`` with this hold flag."""
        return self.wait(lambda: next((s.time_s for s in self.setpoints if s.time_s >= after_s and s.hold == hold),
                                      None), "a hold setpoint" if hold else "a flying setpoint")

    def log_errors(self) -> int:
        """Tracebacks and ASGI errors in every node's log so far."""
        count = 0
        for path in self.logs.glob("*.log"):
            text = path.read_text(errors="replace")
            count += text.count("Traceback (most recent call last)") + text.count("Exception in ASGI application")
        return count

    def dead(self) -> list[str]:
        return [n for n, p in self.processes.items() if not p.alive and n not in self.expected_dead]


@dataclass(frozen=True)
class _Window:
    """When a graph fault began and ended, and what its figures are measured from."""

    start_s: float
    end_s: float
    safe_from_s: float  # time to safe counts from here (the fault; for a director's HOLD: the press)
    recover_from_s: float  # recovered after counts from here (the fault's end; the director's RESUME)
    source: str = "setpoints"  # whose hold is the safe answer: the MPC's setpoints, or sim_node's own ("truth")
    describe: Callable[[], str] | None = None  # the row's detail, read once the recovery has been watched


def _inject_stale_state(session: GraphSession, fault: Fault) -> _Window:
    """The MPC node hears no odometry for the fault's duration (the relay withholds it); the rest flows on.

    Time to safe counts from the stamp of the last odometry the MPC node got (the state it ages), not from
    when the bench began to withhold: on a loaded machine the bench's relay runs behind the graph.
    """
    start = session.now_s()
    session.withhold_odometry = True
    last = session.last_relayed_stamp_s
    end = session.wait_graph_s(fault.duration_s)
    session.withhold_odometry = False
    last = last if math.isfinite(last) else start

    def describe() -> str:
        return f"the MPC node's last odometry was stamped {start - last:.2f} s before the bench withheld the rest"
    return _Window(start, end, last, end, describe=describe)


def _inject_delayed_state(session: GraphSession, fault: Fault) -> _Window:
    """The MPC node's odometry arrives STATE_DELAY_S late (stamped when measured) for the fault's duration.

    The first STATE_DELAY_S nothing arrives (the stale_state_ros case: a hold); from then on every state
    is STATE_DELAY_S old by its stamp, older than ``state_timeout_s``: safe is holding all through that.
    """
    start = session.now_s()
    session.odometry_delay_s = STATE_DELAY_S
    late = session.wait_graph_s(STATE_DELAY_S)
    end = session.wait_graph_s(fault.duration_s - STATE_DELAY_S)
    session.odometry_delay_s = 0.0

    def describe() -> str:
        during = [s for s in session.setpoints if late <= s.time_s < end]
        flying = [s for s in during if not s.hold]
        what = (f"flew the shot on {STATE_DELAY_S:.0f}-s-old odometry from {flying[0].time_s - late:.2f} s after it "
                f"began to arrive ({len(flying)} of {len(during)} setpoints)" if flying
                else f"held on {STATE_DELAY_S:.0f}-s-old odometry ({len(during)} setpoints)")
        first = next((s.time_s - start for s in session.setpoints if s.time_s >= start and s.hold), None)
        gap = f"held {first:.2f} s after the odometry stopped; " if first is not None else ""
        return gap + what
    return _Window(late, end, late, end, describe=describe)


def _inject_clock_jump(session: GraphSession, fault: Fault) -> _Window:
    """The MPC node's /clock steps CLOCK_JUMP_S forward for the fault's duration, then back."""
    start = session.now_s()
    session.set_clock_offset(CLOCK_JUMP_S)
    end = session.wait_graph_s(fault.duration_s)
    session.set_clock_offset(0.0)

    def describe() -> str:
        during = [s for s in session.setpoints if start <= s.time_s <= end + GRAPH_TAIL_S]
        held = [s.time_s for s in during if s.hold and s.time_s < end]
        flying = next((s.time_s for s in during if not s.hold and held and s.time_s > held[0]), None)
        held_for = f"held {flying - held[0]:.2f} s after the step forward" if held and flying else "never held"
        back = [s for s in during if s.time_s >= end]
        times = [s.time_s for s in during]
        gap, at = max(((b - a, a - start) for a, b in zip(times, times[1:], strict=False)), default=(0.0, 0.0))
        return (f"{held_for}; after the step back {sum(s.hold for s in back)} of {len(back)} setpoints held; "
                f"largest gap between setpoints {gap:.2f} s, {at:.2f} s after the step forward")
    return _Window(start, end, start, end, describe=describe)


def _inject_late_setpoints(session: GraphSession, fault: Fault) -> _Window:
    """The MPC node's setpoints reach the sim node SETPOINT_DELAY_S late (stamped when decided) for the fault's time.

    The first SETPOINT_DELAY_S nothing arrives (the sim node holds on its ``setpoint_timeout_s``, as for a killed
    MPC); from then on every setpoint arrives SETPOINT_DELAY_S old by its stamp, older than that timeout: safe is
    the sim node (its truth) holding all through that, never flying a setpoint a second old.
    """
    start = session.now_s()
    session.setpoint_delay_s = SETPOINT_DELAY_S
    late = session.wait_graph_s(SETPOINT_DELAY_S)
    last_on_time = session.last_on_time_setpoint_s  # read once the delay is in force: the sim node's last on time
    relayed_before = session.late_setpoints_relayed
    end = session.wait_graph_s(fault.duration_s - SETPOINT_DELAY_S)
    session.setpoint_delay_s = 0.0
    delivered = session.late_setpoints_relayed - relayed_before
    last_on_time = last_on_time if math.isfinite(last_on_time) else start

    def describe() -> str:
        during = [t for t in session.truth if late <= t.time_s < end]
        flying = [t for t in during if not t.hold]
        what = (f"flew {SETPOINT_DELAY_S:.0f}-s-old setpoints from {flying[0].time_s - late:.2f} s after they began to "
                f"arrive ({len(flying)} of {len(during)} samples; {delivered} late setpoints delivered)" if flying
                else f"held on {SETPOINT_DELAY_S:.0f}-s-old setpoints ({delivered} delivered, {len(during)} samples)")
        first = next((t.time_s - last_on_time for t in session.truth if t.time_s >= start and t.hold), None)
        gap = f"the sim node held {first:.2f} s after the stamp of the last setpoint on time; " if first is not None \
            else ""
        return gap + what
    return _Window(late, end, late, end, source="truth", describe=describe)


def _inject_old_subjects(session: GraphSession, fault: Fault) -> _Window:
    """The MPC node's subjects arrive stamped SUBJECT_AGE_S in the past (a perception stage that fell behind) for the
    fault's duration, older than ``subject_timeout_s``: safe is the MPC node holding at its next setpoint."""
    start = session.now_s()
    relayed_before = session.old_subjects_relayed
    session.subject_age_s = SUBJECT_AGE_S
    end = session.wait_graph_s(fault.duration_s)
    session.subject_age_s = 0.0
    delivered = session.old_subjects_relayed - relayed_before

    def describe() -> str:
        during = [s for s in session.setpoints if start <= s.time_s < end]
        first = next((k for k, s in enumerate(during) if s.hold), None)
        after = during[first:] if first is not None else []
        return (f"{delivered} subject messages arrived {SUBJECT_AGE_S:.1f} s old by their stamps; "
                f"{sum(s.hold for s in after)} of {len(after)} setpoints from the first hold to the fault's end held")
    return _Window(start, end, start, end, describe=describe)


def _director_hold(session: GraphSession) -> tuple[float, float]:
    """The director presses HOLD on the tablet (HTTP, with the token); the press and the first hold setpoint."""
    press = session.now_s()
    status = session.tablet.post("/api/hold")
    if status != 200:
        raise RuntimeError(f"the director's HOLD was answered {status}")
    return press, session.wait_setpoint(True, press)


def _attempt_in_turn(session, attempts: list[tuple[str, Callable[[], bool]]],
                     until_s: float) -> tuple[int, int, list[str]]:
    """Try each attempt in turn until ``until_s`` (session time), and each at least once: (tried, refused, what
    was accepted).

    A pause of 20 ms between attempts: a determined client, not a flood that starves the machine's other processes.
    (Each kind at least once: on a loaded machine a round of them can take longer than the fault's graph seconds.)
    """
    tried, refused, accepted = 0, 0, []
    while session.now_s() < until_s or tried < len(attempts):
        what, refuse = attempts[tried % len(attempts)]
        tried += 1
        if refuse():
            refused += 1
        else:
            accepted.append(what)
        time.sleep(0.02)
    return tried, refused, accepted


def _inject_unauthenticated(session: GraphSession, fault: Fault) -> _Window:
    """While the director holds, someone without the token tries to fly the rig: HTTP and WebSocket."""
    tablet = session.tablet
    press, held = _director_hold(session)
    session.wait_graph_s(DIRECTOR_HOLD_SETTLE_S)
    wrong = "bench-" + "x" * 32
    attempts: list[tuple[str, Callable[[], bool]]] = [
        ("HTTP resume, no token", lambda: tablet.post("/api/resume", token=None) == 401),
        ("HTTP resume, wrong token", lambda: tablet.post("/api/resume", token=wrong) == 401),
        ("HTTP preset dronie, no token", lambda: tablet.post("/api/preset", {"name": "dronie"}, token=None) == 401),
        ("HTTP command, wrong token", lambda: tablet.post("/api/command", {"text": "dronie", "mode": "now"},
                                                          token=wrong) == 401),
        ("HTTP skip, no token", lambda: tablet.post("/api/skip", token=None) == 401),
        ("HTTP abort, wrong token", lambda: tablet.post("/api/abort", token=wrong) == 401),
        ("WebSocket resume before auth", lambda: tablet.closed_with(None, '{"type": "resume"}') == 4401),
        ("WebSocket wrong token, then resume", lambda: tablet.closed_with(wrong, '{"type": "resume"}') == 4401),
    ]
    start = session.now_s()
    tried, refused, accepted = _attempt_in_turn(session, attempts, start + fault.duration_s)
    end = session.now_s()
    resume_at = session.now_s()
    if tablet.post("/api/resume") != 200:
        raise RuntimeError("the director's RESUME was refused")

    def describe() -> str:
        what = f"; NOT refused: {sorted(set(accepted))}" if accepted else ""
        return (f"{refused}/{tried} requests refused (HTTP 401, WebSocket closed 4401){what}; "
                f"the director's HOLD reached the setpoints {held - press:.2f} s after the press")
    return _Window(start, end, press, resume_at, describe=describe)


def _raise_counter(request: bytes) -> bytes:
    """A captured signed request with its counter raised (the signature kept): what an intruder can forge."""
    head, _, payload = request.partition(b"\r\n\r\n")
    lines = [line if not line.startswith(b"X-Director-Counter:") else
             b"X-Director-Counter: " + str(int(line.split(b":", 1)[1]) + 1000).encode() for line in head.split(b"\r\n")]
    return b"\r\n".join(lines) + b"\r\n\r\n" + payload


def _inject_replayed_resume(session: GraphSession, fault: Fault) -> _Window:
    """Requests the director sent earlier, captured on the wire (plain HTTP), replayed while the director holds.

    The director's RESUME (HTTP) and the first message of its WebSocket, both signed as the tablet page signs
    them, are captured while the shot flies.  While the director holds, they are sent again for the fault's
    duration: the RESUME byte for byte, and with its counter raised; the socket's auth on a new socket, then
    a RESUME over it.  Safe: every replay refused, the director's HOLD standing all through.  A replayed HOLD
    is accepted (HOLD always works): checked once at the end.
    """
    import json

    tablet = session.tablet
    tablet.open_session()  # the page loads: a fresh session
    captured = tablet.request_bytes("POST", "/api/resume")
    if tablet.send(captured) != 200:  # the director's own RESUME while flying: harmless, and on the wire
        raise RuntimeError("the director's RESUME was refused")
    socket_auth = tablet.auth_message()
    with tablet.websocket(auth=socket_auth) as ws:  # the page's socket: its auth on the wire too
        _until_state(ws)
    captured_hold = tablet.request_bytes("POST", "/api/hold")
    press = session.now_s()
    if tablet.send(captured_hold) != 200:  # the director presses HOLD (signed, as the page does)
        raise RuntimeError("the director's HOLD was refused")
    held = session.wait_setpoint(True, press)
    session.wait_graph_s(DIRECTOR_HOLD_SETTLE_S)
    attempts: list[tuple[str, Callable[[], bool]]] = [
        ("HTTP RESUME replayed byte for byte", lambda: tablet.send(captured) == 409),
        ("HTTP RESUME replayed, its counter raised", lambda: tablet.send(_raise_counter(captured)) == 401),
        ("WebSocket auth replayed, then RESUME",
         lambda: tablet.closed_with(None, json.dumps({"type": "resume"}), auth=socket_auth) == 4409),
    ]
    start = session.now_s()
    tried, refused, accepted = _attempt_in_turn(session, attempts, start + fault.duration_s)
    end = session.now_s()
    hold_again = tablet.send(captured_hold)  # the director's HOLD replayed: accepted, holding is always safe
    resume_at = session.now_s()
    if tablet.post("/api/resume") != 200:  # the director carries on, with a fresh counter
        raise RuntimeError("the director's RESUME was refused")

    def describe() -> str:
        flew = next((s.time_s for s in session.setpoints if start <= s.time_s < end and not s.hold), None)
        what = f"the rig flew the shot again {flew - start:.2f} s after the first" if flew is not None else \
            "the rig held all through"
        taken = f"; NOT refused: {sorted(set(accepted))}" if accepted else ""
        return (f"{refused}/{tried} replays refused (HTTP 409 byte for byte, 401 with the counter raised, "
                f"WebSocket auth closed 4409){taken}; {what}; the director's HOLD reached the setpoints "
                f"{held - press:.2f} s after the press; the HOLD replayed was answered {hold_again}")
    return _Window(start, end, press, resume_at, describe=describe)


def _inject_socket_dropped(session: GraphSession, fault: Fault) -> _Window:
    """The tablet's WebSocket goes half dead mid-shot (a relay stops passing anything, nobody closes)."""
    import json

    tablet = session.tablet
    relay = TcpRelay(("127.0.0.1", tablet.port))
    try:
        with tablet.websocket(port=relay.port) as old:
            _until_state(old)
            start = session.now_s()
            relay.silence()
            session.wait_graph_s(SOCKET_HOLD_AFTER_S)  # the shot flies on meanwhile
            press = session.now_s()
            old.send(json.dumps({"type": "hold", "id": 1}))  # as the page does: over the socket (lost) ...
            answered = time.monotonic()
            http_status = tablet.post("/api/hold")  # ... and over HTTP at once
            answered = time.monotonic() - answered
            held = session.wait_setpoint(True, press)
            end = session.wait(lambda: session.clock_s >= start + fault.duration_s and session.clock_s,
                               "the fault's end")
            relay.drop_all()  # the dead socket finally goes
        reconnect = time.monotonic()
        with tablet.websocket(port=relay.port) as new:
            _until_state(new)
            reconnect = time.monotonic() - reconnect
            resume_at = session.now_s()
            new.send(json.dumps({"type": "resume", "id": 2}))
    finally:
        relay.close()

    def describe() -> str:
        before = [s for s in session.setpoints if start <= s.time_s < press]
        return (f"the shot flew on for the {SOCKET_HOLD_AFTER_S} s before HOLD ({len(before)} setpoints, "
                f"{sum(s.hold for s in before)} holds); HOLD over HTTP answered {http_status} in "
                f"{answered * 1e3:.0f} ms wall, on the setpoints {held - press:.2f} s after the press; a new socket "
                f"authenticated and had state {reconnect:.2f} s wall after the old one was dropped")
    return _Window(start, end, press, resume_at, describe=describe)


def _until_state(ws, timeout_s: float = 10.0) -> None:
    """Read the socket until the server's first ``state`` push (the session is live)."""
    import json

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        message = ws.recv(timeout=max(0.01, deadline - time.monotonic()))
        if isinstance(message, str) and json.loads(message).get("type") == "state":
            return
    raise TimeoutError("no state on the director's WebSocket")


def _inject_mpc_killed(session: GraphSession, fault: Fault) -> _Window:
    """SIGKILL the MPC node mid-shot; restart it (what a supervisor's respawn does) after the fault's duration.

    Time to safe counts from the last setpoint the MPC node decided (its stamp, on the graph's clock): the sim
    node's setpoint timeout runs from that setpoint's arrival, which a loaded machine puts anywhere up to
    the kill, or from the kill if no setpoint was in the log.
    """
    start = session.now_s()
    session.kill("mpc_node")
    end = session.wait_graph_s(fault.duration_s)
    with session._lock:  # noqa: SLF001 -- the bench's own session
        last = max((s.time_s for s in session.setpoints if s.time_s <= start), default=start)
    session.start("mpc_node")
    return _Window(start, end, last, end, source="truth",
                   describe=lambda: (f"the last setpoint was decided {start - last:.2f} s before the kill; recovery "
                                     "includes the restarted process's start and solver load"))


GRAPH_INJECTORS: dict[str, Callable[[GraphSession, Fault], _Window]] = {
    "stale_state_ros": _inject_stale_state,
    "delayed_state_ros": _inject_delayed_state,
    "clock_jump_ros": _inject_clock_jump,
    "director_unauthenticated": _inject_unauthenticated,
    "director_replayed_resume": _inject_replayed_resume,
    "director_socket_dropped": _inject_socket_dropped,
    "late_setpoints_ros": _inject_late_setpoints,
    "old_subjects_ros": _inject_old_subjects,
    "mpc_node_killed": _inject_mpc_killed,
}


def _graph_figures(fault: Fault, session: GraphSession, w: _Window, errors_before: int) -> FaultFigures:
    """One graph row's figures, on the graph's clock, from the true rig and the recorded setpoints."""
    samples = session.truth if w.source == "truth" else session.setpoints
    first = next((s for s in samples if s.time_s >= w.safe_from_s and s.hold), None)
    if fault.safe == "held":  # held before the fault: safe is held all through it
        during = [s for s in samples if w.start_s <= s.time_s < w.end_s]
        # no setpoint flying the shot (none at all counts as held -- the sim node holds on its setpoint timeout --
        # once the world is seen running through the fault: its truth)
        watched = during or [t for t in session.truth if w.start_s <= t.time_s < w.end_s]
        # a director's HOLD in force must stay latched too, however slowly the MPC would act on its release
        latched = [h for t, h in session.director_hold if t < w.start_s][-1:] == [True]
        released = latched and any(not h for t, h in session.director_hold if w.start_s <= t < w.end_s)
        time_to_safe = 0.0 if watched and all(s.hold for s in during) and not released else None
        safe_s = w.start_s
    else:
        time_to_safe = None if first is None else round(first.time_s - w.safe_from_s, 3)
        safe_s = first.time_s if first is not None else math.inf
    excursion = 0.0
    if first is not None:
        anchor = first.position_m
        if w.source == "truth":  # sim_node latches where the rig was when it began to hold
            anchor = next(t.position_m for t in session.truth if t.time_s >= first.time_s)
        times = [s.time_s for s in samples]
        holding = [t for t in session.truth if safe_s <= t.time_s < w.end_s
                   and (k := bisect.bisect_right(times, t.time_s)) > 0 and samples[k - 1].hold]
        excursion = max((float(np.linalg.norm(t.position_m - anchor)) for t in holding), default=0.0)
    outside = [t for t in session.truth if t.time_s >= w.start_s and not session.airspace.contains(t.position_m)]
    violations = len(outside)
    back = next((s for s in samples if s.time_s >= w.recover_from_s and not s.hold), None)
    recovered = None if back is None else round(back.time_s - w.recover_from_s, 3)
    escaped = len(session.dead()) + session.log_errors() - errors_before
    detail = w.describe() if w.describe is not None else ""
    depth = _outside_m(session.airspace, [t.position_m for t in outside])
    if outside:
        detail += (f"; outside the airspace {outside[0].time_s - w.start_s:.2f}-{outside[-1].time_s - w.start_s:.2f} s"
                   f" after the fault, at most {depth:.3f} m")
    return FaultFigures(fault.name, time_to_safe, round(excursion, 3), violations, escaped, recovered, fault.recovery,
                        detail=detail.lstrip("; "), outside_m=round(depth, 3))


def run_graph_faults(names: tuple[str, ...] | None = None, env: dict[str, str] | None = None,
                     logs: Any = None, overrides: dict[str, dict[str, str]] | None = None) -> list[FaultFigures]:
    """The graph rows (all, or the named ones), one after the other in one running graph.

    Each fault starts once the shot has flown GRAPH_SETTLE_S without a hold since the last one; the
    MPC node is killed last.  A fault whose injection fails is a row with the error (counted escaped).
    ``overrides``: node parameters on top of the bench's (``{"mpc_node": {"node.state_timeout_s": "0.25"}}``).
    """
    chosen = [f for f in GRAPH_FAULTS if names is None or f.name in names]
    relays = frozenset(GRAPH_RELAYS[f.name] for f in chosen if f.name in GRAPH_RELAYS)
    rows: list[FaultFigures] = []
    with GraphSession(env, logs, overrides, relays) as session:
        session.wait_flying(FAULT_START_S)
        for fault in chosen:
            errors_before = session.log_errors()
            try:
                session.wait_flying(GRAPH_SETTLE_S)
                window = GRAPH_INJECTORS[fault.name](session, fault)
                source = session.truth if window.source == "truth" else session.setpoints
                try:
                    session.wait(lambda w=window, src=source: any(s.time_s >= w.recover_from_s and not s.hold
                                                                 for s in src), "the recovery")
                except TimeoutError:
                    pass  # never recovered: a figure, not an error
                session.wait_graph_s(GRAPH_TAIL_S)
                rows.append(_graph_figures(fault, session, window, errors_before))
            except Exception as exc:  # noqa: BLE001 -- counted: the figure that must stay 0
                rows.append(FaultFigures(fault.name, None, 0.0, 0, 1, None, fault.recovery, repr(exc)[:300]))
    return rows


# ================================================================== the matrix
ALL_FAULTS: tuple[Fault, ...] = FAULTS + LINK_FAULTS + GRAPH_FAULTS


def run_matrix(names: tuple[str, ...] | None = None, env: dict[str, str] | None = None,
               logs: Any = None) -> list[FaultFigures]:
    """Every fault (or the named ones): the in-process loop's, the MAVLink link's, then the ROS graph's.

    ``env`` and ``logs``: the graph rows' ROS environment (default: a private domain) and log folder.
    """
    unknown = set(names or ()) - {f.name for f in ALL_FAULTS}
    if unknown:
        raise ValueError(f"unknown faults {sorted(unknown)}; choose from {[f.name for f in ALL_FAULTS]}")
    chosen = [f for f in FAULTS + LINK_FAULTS if names is None or f.name in names]
    rows = [run_link_fault(fault) if fault in LINK_FAULTS else run_fault(fault) for fault in chosen]
    graph = tuple(f.name for f in GRAPH_FAULTS if names is None or f.name in names)
    if graph:
        rows += run_graph_faults(graph, env=env, logs=logs)
    return rows


def format_table(rows: list[FaultFigures]) -> str:
    """The matrix as the Markdown table of docs/safety.md."""
    lines = ["| fault | time to safe (s) | excursion (m) | geofence violations | exceptions escaped | "
             "recovered after (s) | recovery needs |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r.name} | {_cell(r.time_to_safe_s)} | {r.excursion_m:.2f} | {r.geofence_violations} | "
                     f"{r.exceptions_escaped} | {_cell(r.recovered_s)} | {r.recovery} |")
    return "\n".join(lines)


def format_notes(rows: list[FaultFigures]) -> str:
    """What else each row measured (and any error), one line per row that has something to say."""
    return "\n".join(f"* {r.name}: {'; '.join(x for x in (r.detail, r.error and 'error ' + r.error) if x)}"
                     for r in rows if r.detail or r.error)


def _cell(value: float | None) -> str:
    return "never" if value is None else f"{value:.2f}"


def run(args: argparse.Namespace) -> dict[str, Any]:
    """``cinempc bench faults``: the matrix (``--quick``: the fast CI subsets of the loop and the graph)."""
    started = time.perf_counter()
    rows = run_matrix(FAST_SUBSET + GRAPH_FAST_SUBSET if getattr(args, "quick", False) else None)
    if not getattr(args, "json", False):
        print(format_table(rows))
        print(format_notes(rows))
    return {"faults": [asdict(r) for r in rows], "wall_s": round(time.perf_counter() - started, 1)}


def main(argv: list[str] | None = None) -> int:
    """``python -m cinempc_sim.fault_bench [--json] [FAULT ...]``: the named rows only (default: all)."""
    import json

    parser = argparse.ArgumentParser(prog="python -m cinempc_sim.fault_bench", description=__doc__.split("\n")[0])
    parser.add_argument("faults", nargs="*", help=f"rows to run (default: all): {[f.name for f in ALL_FAULTS]}")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--logs", help="the graph rows' node logs go here (default: a temporary folder)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    rows = run_matrix(tuple(args.faults) or None, logs=args.logs)
    if args.json:
        print(json.dumps({"faults": [asdict(r) for r in rows], "wall_s": round(time.perf_counter() - started, 1)},
                         indent=2))
    else:
        print(format_table(rows))
        print(format_notes(rows))
        print(f"({time.perf_counter() - started:.0f} s wall)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
