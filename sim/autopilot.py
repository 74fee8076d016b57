"""A simulated autopilot: the PyBullet rig of :class:`cinempc_sim.simulator.Simulator` behind MAVLink on UDP.

Why: the bridge must be proven against a protocol peer that behaves like a
flight stack, not against itself.  This one has PX4 semantics (OFFBOARD needs a
live setpoint stream, offboard-loss failsafe to HOLD after ``COM_OF_LOSS_T``,
pre-arm checks, gimbal manager that obeys only its primary controller, MAVLink
camera taking focal length and metres) and an ArduPilot mode (GUIDED/LOITER/
BRAKE, AP_Camera taking percentages, ``GUID_TIMEOUT``).  It is complete enough
for MAVSDK to connect: AUTOPILOT_VERSION, a small parameter set, "no mission"; it stores rally points
uploaded with the mission protocol (:mod:`cinempc_sim.autopilot_mission`), and its Return (RTL: commanded, or
PX4's offboard-loss failsafe with ``COM_OBL_RC_ACT`` = 3) climbs to the return altitude (``RTL_RETURN_ALT`` m /
``RTL_ALT`` cm above home, capped by its airspace ceiling and its own vertical fence) when below it, flies across
to the nearest rally point at that altitude, descends to the point and hovers there (:class:`ReturnFlight`).  Its
other failsafe parameters (``NAV_DLL_ACT``, ``NAV_RCL_ACT``, ``COM_LOW_BAT_ACT``, ``RTL_TYPE``, ``FS_GCS_ENABLE``,
``FS_THR_ENABLE``, ``BATT_FS_*_ACT``, ``RALLY_INCL_HOME``, ...) are answered for preflight, not enforced.

Clocks: ``lockstep=False`` runs physics in a thread at wall-clock pace (link
tests, MAVSDK); ``lockstep=True`` advances only in :meth:`advance` so a closed
loop over MAVLink flies exactly the physics of the direct simulation, and the
setpoint-loss failsafe then counts simulated time, as PX4 SITL does in lockstep.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from pymavlink.dialects.v20 import ardupilotmega as mav

from cinempc.angles import wrap_angle
from cinempc.config import load_parameters
from cinempc.geofence import RallyPath, RallyPoint
from cinempc.mavlink import frames
from cinempc.mavlink.autopilots import (
    ARDUPILOT_MODES,
    IGNORE_ACCELERATION,
    IGNORE_POSITION,
    IGNORE_VELOCITY,
    IGNORE_YAW,
    IGNORE_YAW_RATE,
    PX4_MODES,
    Autopilot,
    px4_custom_mode,
)
from cinempc.mavlink.mission import RallyItem
from cinempc.mavlink.params import decode_param_value, encode_param_value
from cinempc.state import RigState, Setpoint
from cinempc_sim.autopilot_mission import SimRallyList
from cinempc_sim.autopilot_net import UdpEndpoint
from cinempc_sim.autopilot_payload import ACCEPTED, DENIED, UNSUPPORTED, GimbalManager, SimCamera

SYSTEM_ID = 1
AUTOPILOT_COMPONENT = mav.MAV_COMP_ID_AUTOPILOT1
CAMERA_COMPONENT = mav.MAV_COMP_ID_CAMERA
GIMBAL_DEVICE_ID = 1  # "gimbal 1 attached to the autopilot"
_EARTH_RADIUS_M = 6_378_137.0
# PX4 COM_OBL_RC_ACT values the offboard-loss failsafe flies; the others hold (no RC here to fly position,
# altitude or stabilized; terminate and disarm are not simulated)
PX4_OFFBOARD_LOSS_MODES = {3: "rtl", 4: "land"}
# a Return's (horizontal, up, down speed, acceleration) parameters per stack, and metres (per second) per unit
# PX4's integer parameters here: sent as INT32 packed bytewise into the float, as PX4 does (cinempc.mavlink.params)
PX4_INT32_PARAMS = frozenset({"COM_OBL_RC_ACT", "NAV_DLL_ACT", "COM_DL_LOSS_T", "GF_ACTION", "COM_ARM_WO_GPS",
                              "SYS_AUTOSTART", "NAV_RCL_ACT", "COM_LOW_BAT_ACT", "RTL_TYPE"})
RETURN_SPEED_PARAMS = {Autopilot.PX4: (("MPC_XY_CRUISE", "MPC_Z_V_AUTO_UP", "MPC_Z_V_AUTO_DN", "MPC_ACC_HOR"), 1.0),
                       Autopilot.ARDUPILOT: (("WPNAV_SPEED", "WPNAV_SPEED_UP", "WPNAV_SPEED_DN", "WPNAV_ACCEL"), 0.01)}
# the altitude a Return climbs to (above home; <= 0: where it is), and metres per unit
RETURN_ALTITUDE_PARAMS = {Autopilot.PX4: ("RTL_RETURN_ALT", 1.0), Autopilot.ARDUPILOT: ("RTL_ALT", 0.01)}


@dataclass(frozen=True)
class ModeChange:
    """A flight-mode transition with the autopilot's reason (failsafe, command...)."""

    wall_time_s: float  # time.monotonic()
    sim_time_s: float
    mode: str
    reason: str


@dataclass(frozen=True)
class ReturnFlight:
    """A simulated Return, as PX4 and ArduPilot fly one: up to the transit altitude, across to the rally point at
    it, then down (or up) to the point's altitude; each leg a minimum-jerk :class:`RallyPath` flown in turn.

    Rule: transit altitude = max(start, rally point, return altitude) capped by the ceiling -- a Return below the
    return altitude climbs first, one above it keeps its altitude, and none climbs through the ceiling.
    """

    legs: tuple[RallyPath, ...]
    rally_m: np.ndarray
    transit_altitude_m: float

    @classmethod
    def plan(cls, start_m: np.ndarray, rally_m: np.ndarray, return_altitude_m: float | None, ceiling_m: float,
             speed_mps: float, up_mps: float, down_mps: float, accel_mps2: float) -> ReturnFlight:
        """The three legs from ``start_m`` to ``rally_m`` (ENU metres) at the speeds and acceleration given."""
        start, rally = np.asarray(start_m, dtype=float), np.asarray(rally_m, dtype=float)
        climb_to = return_altitude_m if return_altitude_m is not None else -math.inf
        transit = min(max(float(start[2]), float(rally[2]), climb_to), float(ceiling_m))
        waypoints = [start, np.array([start[0], start[1], transit]), np.array([rally[0], rally[1], transit]), rally]
        legs = []
        for here, there in zip(waypoints[:-1], waypoints[1:], strict=True):
            vertical = up_mps if there[2] >= here[2] else down_mps
            point = RallyPoint(tuple(float(v) for v in there), after_s=1.0, speed_mps=speed_mps,
                               vertical_speed_mps=vertical, accel_mps2=accel_mps2)
            legs.append(point.path_from(here))
        return cls(tuple(legs), rally, transit)

    @property
    def duration_s(self) -> float:
        return sum(leg.duration_s for leg in self.legs)

    def sample(self, t_s: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
        """(position, velocity, acceleration, arrived) ``t_s`` seconds after the Return began."""
        t = max(0.0, float(t_s))
        for leg in self.legs:
            if t < leg.duration_s:
                return leg.sample(t)
            t -= leg.duration_s
        return self.legs[-1].sample(math.inf)


@dataclass
class _Target:
    """The last SET_POSITION_TARGET_LOCAL_NED, in ENU, with its type_mask."""

    position_m: np.ndarray
    velocity_mps: np.ndarray
    acceleration_mps2: np.ndarray
    yaw_rad: float
    yaw_rate_rad_s: float
    type_mask: int
    received_s: float
    tag_ms: int


def _px4_params(settings: dict[str, Any]) -> dict[str, float]:
    return {"COM_OF_LOSS_T": float(settings["offboard_loss_timeout_s"]), "COM_OBL_RC_ACT": 5.0,
            "MIS_TAKEOFF_ALT": 2.5, "MPC_XY_VEL_MAX": 8.0, "COM_ARM_WO_GPS": 0.0, "SYS_AUTOSTART": 4001.0,
            # a Return's flight (PX4 defaults), to the nearest rally point; it hovers there (RTL_LAND_DELAY -1)
            "MPC_XY_CRUISE": 5.0, "MPC_Z_V_AUTO_UP": 3.0, "MPC_Z_V_AUTO_DN": 1.5, "MPC_ACC_HOR": 3.0,
            "RTL_LAND_DELAY": -1.0,
            # a Return climbs to RTL_RETURN_ALT (metres above home) first when below it
            "RTL_RETURN_ALT": 15.0,
            # data-link loss (NAV_DLL_ACT 2: return), RC loss (NAV_RCL_ACT 2: return), critical battery
            # (COM_LOW_BAT_ACT 3: return, land at emergency), where a Return goes (RTL_TYPE 1: a rally point,
            # else home): read by preflight, not enforced here
            "NAV_DLL_ACT": 2.0, "COM_DL_LOSS_T": 10.0, "NAV_RCL_ACT": 2.0, "COM_RC_LOSS_T": 0.5,
            "COM_LOW_BAT_ACT": 3.0, "RTL_TYPE": 1.0,
            # the geofence (GF_ACTION 3: return): read by preflight, not enforced here
            "GF_MAX_HOR_DIST": float(settings["fence_max_hor_dist_m"]),
            "GF_MAX_VER_DIST": float(settings["fence_max_ver_dist_m"]), "GF_ACTION": 3.0}


def _ardupilot_params(settings: dict[str, Any]) -> dict[str, float]:
    return {"GUID_TIMEOUT": float(settings["offboard_loss_timeout_s"]), "FS_GCS_ENABLE": 5.0,
            # a Return climbs to RTL_ALT (centimetres above home) first when below it
            "RTL_ALT": 1500.0,
            # the GCS failsafe's timeout and exceptions, the radio failsafe (FS_THR_ENABLE 1: RTL), the battery
            # failsafes (low: RTL, critical: land), home not a rally point (RALLY_INCL_HOME 0): read by
            # preflight, not enforced here
            "FS_GCS_TIMEOUT": 5.0, "FS_OPTIONS": 0.0, "FS_THR_ENABLE": 1.0, "RC_FS_TIMEOUT": 1.0,
            "BATT_FS_LOW_ACT": 2.0, "BATT_FS_CRT_ACT": 1.0, "RALLY_INCL_HOME": 0.0,
            # a Return's flight (cm/s, cm/s/s; Copter defaults), to the nearest rally point
            "WPNAV_SPEED": 800.0, "WPNAV_SPEED_UP": 250.0, "WPNAV_SPEED_DN": 150.0, "WPNAV_ACCEL": 250.0,
            "MNT1_TYPE": 6.0, "CAM1_TYPE": 4.0, "SYSID_THISMAV": 1.0,
            # the geofence (FENCE_TYPE 3: max altitude + circle; FENCE_ACTION 1: RTL): read by preflight, not enforced
            "FENCE_ENABLE": 1.0, "FENCE_TYPE": 3.0, "FENCE_ACTION": 1.0,
            "FENCE_RADIUS": float(settings["fence_max_hor_dist_m"]),
            "FENCE_ALT_MAX": float(settings["fence_max_ver_dist_m"])}


class SimAutopilot:
    """A PX4- or ArduPilot-flavoured autopilot flying a Simulator, on a UDP port."""

    def __init__(self, simulator: Any, flavour: Autopilot | str = Autopilot.PX4, *, host: str = "127.0.0.1",
                 port: int = 0, signing_key: bytes | None = None, params: dict[str, Any] | None = None,
                 lockstep: bool = False) -> None:
        self.sim = simulator
        self.flavour = Autopilot(flavour)
        self.px4 = self.flavour is Autopilot.PX4
        mavlink_params = params if params is not None else load_parameters("mavlink.yaml")
        self.settings = dict(mavlink_params["sim_autopilot"])
        signing = mavlink_params.get("signing", {})
        self.lockstep = bool(lockstep)
        self.params = _px4_params(self.settings) if self.px4 else _ardupilot_params(self.settings)
        self.profile = simulator.camera_profile
        self.airspace = simulator.vehicle_config.airspace
        components = [AUTOPILOT_COMPONENT] + ([CAMERA_COMPONENT] if self.px4 else [])
        self.net = UdpEndpoint(host, port, SYSTEM_ID, components, signing_key, int(signing.get("link_id", 1)) + 100,
                               signing.get("allow_unsigned", ["RADIO_STATUS"]))
        self.camera_component = CAMERA_COMPONENT if self.px4 else AUTOPILOT_COMPONENT
        self.net.on_new_peer = self._greet
        # the rally list survives reset(), as a real autopilot keeps its stored rally points across flights
        self.rally = SimRallyList(self.net.sender(AUTOPILOT_COMPONENT), int(self.settings["max_rally_points"]))
        self._lock = threading.RLock()
        self._setpoint_seen = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.mode_log: list[ModeChange] = []
        self.statustexts: list[str] = []
        self.offboard_setpoints = 0
        self.commands: list[tuple[str, int, str]] = []  # (command, target component, result) as answered
        self.reset()

    # ------------------------------------------------------------ lifecycle
    def reset(self) -> None:
        """Disarmed, in hold, at the simulator's current pose."""
        with self._lock:
            state = self.sim.rig_state()
            self.armed = False
            self.mode = "hold"
            self.battery_percent = 100.0
            self._anchor = Setpoint.hold_at(state)
            # home is where the vehicle stands when the autopilot boots (PX4/ArduPilot set it at the first fix)
            self._home_enu = np.array([state.position_m[0], state.position_m[1], 0.0])
            self._target: _Target | None = None
            self._takeoff_altitude_m: float | None = None
            self._return: tuple[ReturnFlight, float] | None = None  # a Return's flight and its start (sim time)
            self.gimbal = GimbalManager()
            self.camera = SimCamera(self.profile, self.px4, state.focal_length_mm, state.focus_distance_m,
                                    state.f_number)
            self._last_fast_s = -math.inf
            self._last_slow_s = -math.inf
            self._last_heartbeat_s = -math.inf
            self._sent_aperture: float | None = None

    @property
    def address(self) -> tuple[str, int]:
        return self.net.address

    @property
    def url(self) -> str:
        """The URL a bridge uses to reach this autopilot."""
        host, port = self.address
        return f"udpout:{host}:{port}"

    def start(self) -> SimAutopilot:
        targets = [(self._receive_loop, "autopilot-rx")]
        targets.append((self._clock_loop if not self.lockstep else self._beat_loop, "autopilot-clock"))
        for target, name in targets:
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=2.0)
        self._threads.clear()
        self.net.close()

    def __enter__(self) -> SimAutopilot:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -------------------------------------------------------------- clocks
    def _clock_loop(self) -> None:
        dt = float(self.settings["physics_dt_s"])
        next_tick = time.monotonic()
        while not self._stop.is_set():
            self._physics(dt)
            self._publish(force=False)
            next_tick += dt
            delay = next_tick - time.monotonic()
            if delay < -0.5:
                next_tick = time.monotonic()
            self._stop.wait(max(delay, 0.0))

    def _beat_loop(self) -> None:
        """Lockstep: physics waits for advance(), but telemetry, heartbeats and failsafes keep wall-clock time."""
        while not self._stop.is_set():
            with self._lock:
                self._failsafes()
            self._publish(force=False)  # same sim time, fresh packets: the link stays visibly alive
            self._stop.wait(0.02)

    def advance(self, dt_s: float) -> None:
        """Lockstep: fly ``dt_s`` of simulated time in one Simulator step, then publish all telemetry."""
        self._physics(dt_s)
        self._publish(force=True)

    def publish_telemetry(self) -> None:
        """Send every telemetry message now (lockstep start, before the first advance)."""
        self._publish(force=True)

    def wait_for_setpoint(self, tag_ms: int, timeout_s: float = 2.0) -> bool:
        """True once a SET_POSITION_TARGET_LOCAL_NED with ``time_boot_ms >= tag_ms`` has arrived."""
        deadline = time.monotonic() + timeout_s
        with self._setpoint_seen:
            while self._target is None or self._target.tag_ms < tag_ms:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._setpoint_seen.wait(min(remaining, 0.05))
        return True

    def _greet(self, addr: tuple[str, int]) -> None:
        """A new peer gets a heartbeat at once instead of waiting up to a second."""
        with self._lock:
            self._last_heartbeat_s = -math.inf
            self._publish_heartbeat(time.monotonic())

    def _now(self) -> float:
        """The autopilot's clock for timeouts: simulated time in lockstep (as PX4 SITL), else wall time.

        Why: in lockstep the world stands still while the controller thinks; a setpoint
        "lost" during a long solve has not been lost in the vehicle's time.
        """
        return float(self.sim.time_s) if self.lockstep else time.monotonic()

    def time_boot_ms(self) -> int:
        """The autopilot's time_boot_ms: simulated time in milliseconds."""
        return self._ms()

    # ------------------------------------------------------------- modes
    def _set_mode(self, mode: str, reason: str) -> None:
        if mode == self.mode:
            return
        state = self.sim.rig_state()
        if mode in ("hold", "brake", "position", "rtl", "land") or (mode == "offboard" and not self.px4):
            self._anchor = Setpoint.hold_at(state)
        path = self._return_path(state.position_m) if mode == "rtl" else None
        self._return = None if path is None else (path, float(self.sim.time_s))
        if path is not None:
            reason += f"; to the nearest rally point, {math.dist(path.rally_m, state.position_m):.1f} m"
            reason += f", across at {path.transit_altitude_m - self._home_enu[2]:.1f} m above home"
            if path.transit_altitude_m > float(state.position_m[2]) + 0.05:
                reason += ", climbing first"
        self.mode = mode
        self.mode_log.append(ModeChange(time.monotonic(), float(self.sim.time_s), mode, reason))
        self._statustext(f"mode {mode}: {reason}", mav.MAV_SEVERITY_INFO)
        self._last_heartbeat_s = -math.inf  # announce the new mode now, not up to a second later
        self._publish_heartbeat(time.monotonic())

    def custom_mode(self) -> int:
        if self.px4:
            main, sub = PX4_MODES.get(self.mode, PX4_MODES["hold"])
            return px4_custom_mode(main, sub)
        return ARDUPILOT_MODES.get(self.mode, ARDUPILOT_MODES["hold"])

    def _mode_from_command(self, p2: float, p3: float) -> str | None:
        if self.px4:
            for name, (main, sub) in PX4_MODES.items():
                if int(p2) == main and (main != 4 or int(p3) == sub):
                    return name
            return None
        for name, number in ARDUPILOT_MODES.items():
            if int(p2) == number and name != "takeoff":
                return name
        return None

    def _return_path(self, start_m: np.ndarray) -> ReturnFlight | None:
        """A Return with rally points flies to the nearest (horizontally) at the return altitude; None without any."""
        if not self.rally.points:
            return None
        targets = [self._local(point) for point in self.rally.points]
        target = min(targets, key=lambda t: float(np.linalg.norm(t[:2] - start_m[:2])))
        names, unit = RETURN_SPEED_PARAMS[self.flavour]
        across, up, down, accel = (float(self.params[name]) * unit for name in names)
        return ReturnFlight.plan(start_m, target, self.return_altitude_m(), self.return_ceiling_m(), across, up,
                                 down, accel)

    def return_altitude_m(self) -> float | None:
        """The ENU altitude a Return climbs to (RTL_RETURN_ALT m / RTL_ALT cm above home); None: where it is."""
        name, unit = RETURN_ALTITUDE_PARAMS[self.flavour]
        above_home = float(self.params[name]) * unit
        return None if above_home <= 0 else float(self._home_enu[2]) + above_home

    def return_ceiling_m(self) -> float:
        """The highest a Return flies: the airspace ceiling, and the autopilot's own vertical fence when it has one."""
        ceiling = float(self.airspace.altitude_ceiling_m)
        if self.px4:
            fence = float(self.params["GF_MAX_VER_DIST"])
        else:  # FENCE_TYPE bit 0: the maximum-altitude fence
            on = self.params["FENCE_ENABLE"] >= 1 and int(self.params["FENCE_TYPE"]) & 1
            fence = float(self.params["FENCE_ALT_MAX"]) if on else 0.0
        return min(ceiling, float(self._home_enu[2]) + fence) if fence > 0 else ceiling

    def _failsafes(self) -> None:
        """Offboard-loss: no setpoint for COM_OF_LOSS_T (PX4) -> COM_OBL_RC_ACT's mode (return, land, else HOLD);
        GUID_TIMEOUT (ArduPilot) -> stop."""
        if self.mode != "offboard":
            return
        timeout = self.params["COM_OF_LOSS_T" if self.px4 else "GUID_TIMEOUT"]
        target = self._target
        silent = target is None or self._now() - target.received_s > timeout
        if not silent:
            return
        if self.px4:
            mode = PX4_OFFBOARD_LOSS_MODES.get(int(self.params["COM_OBL_RC_ACT"]), "hold")
            self._set_mode(mode, f"offboard setpoints lost for > {timeout:.2f} s (failsafe)")
        elif self._target is not None:
            self._anchor = Setpoint.hold_at(self.sim.rig_state())
            self._target = None
            self.mode_log.append(ModeChange(time.monotonic(), float(self.sim.time_s), "offboard",
                                            "guided target timed out: stopped"))

    def _physics(self, dt_s: float) -> None:
        with self._lock:
            self._failsafes()
            setpoint = self._control_setpoint()
        self.sim.step(setpoint, dt_s)
        with self._lock:
            if self.armed:
                self.battery_percent = max(0.0, self.battery_percent - 0.02 * dt_s)
            self._progress_auto_modes()

    def _control_setpoint(self) -> Setpoint:
        """What the flight controller tracks in the current mode (ENU Setpoint for the Simulator)."""
        state = self.sim.rig_state()
        anchor = self._anchor
        position, velocity, acceleration = anchor.position_m, np.zeros(3), np.zeros(3)
        yaw, yaw_rate = anchor.yaw_rad, 0.0
        target = self._target
        if self.armed and self.mode == "offboard" and target is not None:
            mask = target.type_mask
            position = target.position_m if not mask & IGNORE_POSITION else state.position_m
            velocity = target.velocity_mps if not mask & IGNORE_VELOCITY else np.zeros(3)
            acceleration = target.acceleration_mps2 if not mask & IGNORE_ACCELERATION else np.zeros(3)
            yaw = target.yaw_rad if not mask & IGNORE_YAW else state.yaw_rad
            yaw_rate = target.yaw_rate_rad_s if not mask & IGNORE_YAW_RATE else 0.0
        elif self.armed and self.mode == "rtl" and self._return is not None:
            path, began_s = self._return
            position, velocity, acceleration, _ = path.sample(float(self.sim.time_s) - began_s)
        elif self.armed and (self.mode in ("takeoff", "land")
                             or (self.mode == "offboard" and self._takeoff_altitude_m is not None)):
            position = anchor.position_m.copy()
            if self._takeoff_altitude_m is not None:
                position[2] = self._takeoff_altitude_m
            if self.mode == "land":
                position[2] = 0.0
        pitch = self.gimbal.pitch_rad if self.gimbal.pitch_rad is not None else anchor.pitch_rad
        if self.gimbal.yaw_earth_ned_rad is not None and self.profile.gimbal_yaw:
            # the Simulator's single heading drives airframe and pan axis together: the camera heading wins
            yaw = frames.yaw_ned_to_enu(self.gimbal.yaw_earth_ned_rad)
        cam = self.camera
        return Setpoint(position_m=position, velocity_mps=velocity, acceleration_mps2=acceleration, yaw_rad=yaw,
                        yaw_rate_rad_s=yaw_rate, pitch_rad=pitch, focal_length_mm=cam.focal_length_mm,
                        focus_distance_m=cam.focus_distance_m, f_number=cam.f_number,
                        hold=self.mode != "offboard")

    def _progress_auto_modes(self) -> None:
        z = float(self.sim.rig_state().position_m[2])
        if self.mode == "takeoff" and self._takeoff_altitude_m is not None and \
                abs(z - self._takeoff_altitude_m) < 0.3:
            self._set_mode("hold", "takeoff complete")
            self._takeoff_altitude_m = None
        elif self.mode == "land" and z < 0.3 and self.armed:
            self.armed = False
            self._statustext("landed, disarmed", mav.MAV_SEVERITY_INFO)
            self._last_heartbeat_s = -math.inf

    # -------------------------------------------------------------- receive
    def _receive_loop(self) -> None:
        while not self._stop.is_set():
            self.net.receive(self._handle)

    def _handle(self, msg: Any, addr: tuple[str, int]) -> None:
        kind = msg.get_type()
        sender = (msg.get_srcSystem(), msg.get_srcComponent())
        with self._lock:
            if kind == "SET_POSITION_TARGET_LOCAL_NED":
                self._on_position_target(msg)
            elif kind in ("COMMAND_LONG", "COMMAND_INT"):
                self._on_command(msg, sender)
            elif kind == "GIMBAL_MANAGER_SET_PITCHYAW":
                if msg.target_system == SYSTEM_ID and msg.gimbal_device_id in (0, GIMBAL_DEVICE_ID):
                    self.gimbal.command(sender, msg.pitch, msg.yaw, msg.flags, self._vehicle_yaw_ned())
            elif kind == "GIMBAL_MANAGER_SET_ATTITUDE":
                if msg.target_system == SYSTEM_ID and msg.gimbal_device_id in (0, GIMBAL_DEVICE_ID):
                    self.gimbal.attitude(sender, msg.q, msg.flags, self._vehicle_yaw_ned())
            elif kind == "PARAM_REQUEST_LIST" and msg.target_system == SYSTEM_ID:
                self._send_all_params()
            elif kind == "PARAM_REQUEST_READ" and msg.target_system == SYSTEM_ID:
                self._on_param_read(msg)
            elif kind == "PARAM_SET" and msg.target_system == SYSTEM_ID:
                self._on_param_set(msg)
            elif kind in ("PARAM_EXT_REQUEST_READ", "PARAM_EXT_SET") and msg.target_system == SYSTEM_ID:
                self._on_param_ext(msg, kind)
            elif kind.startswith("MISSION_") and msg.target_system == SYSTEM_ID and \
                    self.rally.handle(kind, msg, sender):
                pass  # the rally list's half of the mission protocol (autopilot_mission.py)
            elif kind == "MISSION_REQUEST_LIST" and msg.target_system == SYSTEM_ID:
                self.net.sender(AUTOPILOT_COMPONENT).mission_count_send(
                    sender[0], sender[1], 0, msg.mission_type)
            elif kind == "MISSION_CLEAR_ALL" and msg.target_system == SYSTEM_ID:
                self.net.sender(AUTOPILOT_COMPONENT).mission_ack_send(
                    sender[0], sender[1], mav.MAV_MISSION_ACCEPTED, msg.mission_type)
            elif kind == "TIMESYNC" and msg.tc1 == 0:
                self.net.sender(AUTOPILOT_COMPONENT).timesync_send(time.monotonic_ns(), msg.ts1)

    def _on_position_target(self, msg: Any) -> None:
        if msg.target_system != SYSTEM_ID or msg.coordinate_frame != mav.MAV_FRAME_LOCAL_NED:
            return
        values = [msg.x, msg.y, msg.z, msg.vx, msg.vy, msg.vz, msg.afx, msg.afy, msg.afz, msg.yaw, msg.yaw_rate]
        if not all(math.isfinite(v) for v in values):
            return  # a NaN target is rejected, the previous one stays
        self._target = _Target(
            position_m=frames.ned_to_enu([msg.x, msg.y, msg.z]),
            velocity_mps=frames.ned_to_enu([msg.vx, msg.vy, msg.vz]),
            acceleration_mps2=frames.ned_to_enu([msg.afx, msg.afy, msg.afz]), yaw_rad=frames.yaw_ned_to_enu(msg.yaw),
            yaw_rate_rad_s=-float(msg.yaw_rate), type_mask=int(msg.type_mask), received_s=self._now(),
            tag_ms=int(msg.time_boot_ms),
        )
        self.offboard_setpoints += 1
        self._setpoint_seen.notify_all()

    # ------------------------------------------------------------- commands
    def _ack(self, component: int, command: int, result: int, sender: tuple[int, int]) -> None:
        self.net.sender(component).command_ack_send(command, result, 0, 0, sender[0], sender[1])

    def _on_command(self, msg: Any, sender: tuple[int, int]) -> None:
        if msg.target_system not in (0, SYSTEM_ID):
            return
        component = msg.target_component
        if component not in self.net.senders and component != 0:
            return
        reply_from = component if component in self.net.senders else AUTOPILOT_COMPONENT
        cmd = int(msg.command)
        p = [msg.param1, msg.param2, msg.param3, msg.param4]
        p += [msg.param5, msg.param6, msg.param7] if msg.get_type() == "COMMAND_LONG" else [msg.x, msg.y, msg.z]
        handler = self._COMMANDS.get(cmd)
        result = handler(self, p, sender, component) if handler else UNSUPPORTED
        self._ack(reply_from, cmd, result, sender)
        name = mav.enums["MAV_CMD"][cmd].name if cmd in mav.enums["MAV_CMD"] else str(cmd)
        detail = f"{name}({int(p[0])})" if cmd == mav.MAV_CMD_REQUEST_MESSAGE else name
        self.commands.append((detail, component, mav.enums["MAV_RESULT"][result].name))
        if cmd in (mav.MAV_CMD_SET_CAMERA_ZOOM, mav.MAV_CMD_SET_CAMERA_FOCUS) and result == ACCEPTED:
            self._send_camera_settings(time.monotonic())

    def _cmd_arm(self, p, sender, component) -> int:
        if p[0] >= 0.5:
            problem = self._prearm_problem()
            if problem and int(p[1]) != 21196:
                self._statustext(f"Arming denied: {problem}", mav.MAV_SEVERITY_CRITICAL)
                return DENIED
            self.armed = True
            self._anchor = Setpoint.hold_at(self.sim.rig_state())
            self._statustext("Armed", mav.MAV_SEVERITY_INFO)
        else:
            self.armed = False
            self._statustext("Disarmed", mav.MAV_SEVERITY_INFO)
        self._last_heartbeat_s = -math.inf
        self._publish_heartbeat(time.monotonic())
        return ACCEPTED

    def _prearm_problem(self) -> str | None:
        state = self.sim.rig_state()
        if self.armed:
            return None
        if self.battery_percent < float(self.settings["min_battery_percent"]):
            return f"battery {self.battery_percent:.0f}% below {self.settings['min_battery_percent']}%"
        fence_point = state.position_m.copy()
        fence_point[2] = max(fence_point[2], self.airspace.altitude_floor_m)
        if not self.airspace.contains(fence_point):
            return "vehicle outside the geofence"
        if self.mode in ("land",):
            return f"cannot arm in {self.mode}"
        return None

    def _cmd_set_mode(self, p, sender, component) -> int:
        mode = self._mode_from_command(p[1], p[2])
        if mode is None:
            return DENIED
        if mode == "offboard" and self.px4:
            target = self._target
            period = 1.0 / float(self.settings["offboard_min_rate_hz"])
            if target is None or self._now() - target.received_s > period:
                self._statustext("Offboard denied: no setpoint stream", mav.MAV_SEVERITY_WARNING)
                return DENIED
        if mode == "takeoff":
            return DENIED if not self.armed else ACCEPTED
        self._set_mode(mode, "commanded")
        return ACCEPTED

    def _cmd_takeoff(self, p, sender, component) -> int:
        if not self.armed:
            self._statustext("Takeoff denied: disarmed", mav.MAV_SEVERITY_WARNING)
            return DENIED
        if not self.px4 and self.mode != "offboard":
            return DENIED  # ArduPilot: takeoff only in GUIDED
        altitude = p[6] if math.isfinite(p[6]) and p[6] > 0 else self.params.get("MIS_TAKEOFF_ALT", 2.5)
        altitude = min(max(float(altitude), self.airspace.altitude_floor_m), self.airspace.altitude_ceiling_m)
        self._anchor = Setpoint.hold_at(self.sim.rig_state())
        self._takeoff_altitude_m = altitude
        if self.px4:
            self._set_mode("takeoff", f"takeoff to {altitude:.1f} m")
        return ACCEPTED

    def _cmd_land(self, p, sender, component) -> int:
        if not self.armed:
            return DENIED
        self._anchor = Setpoint.hold_at(self.sim.rig_state())
        self._takeoff_altitude_m = None
        self._set_mode("land", "commanded")
        return ACCEPTED

    def _cmd_request_message(self, p, sender, component) -> int:
        msg_id = int(p[0])
        now = time.monotonic()
        if msg_id == mav.MAVLINK_MSG_ID_AUTOPILOT_VERSION and component in (0, AUTOPILOT_COMPONENT):
            self._send_autopilot_version()
        elif msg_id == mav.MAVLINK_MSG_ID_CAMERA_INFORMATION and component in (0, self.camera_component):
            self._send_camera_information()
        elif msg_id == mav.MAVLINK_MSG_ID_CAMERA_SETTINGS and component in (0, self.camera_component):
            self._send_camera_settings(now)
        elif msg_id == mav.MAVLINK_MSG_ID_GIMBAL_MANAGER_INFORMATION and component in (0, AUTOPILOT_COMPONENT):
            self._send_gimbal_manager_information()
        elif msg_id == mav.MAVLINK_MSG_ID_GIMBAL_DEVICE_INFORMATION and component in (0, AUTOPILOT_COMPONENT):
            self._send_gimbal_device_information()
        elif msg_id == mav.MAVLINK_MSG_ID_GIMBAL_MANAGER_STATUS and component in (0, AUTOPILOT_COMPONENT):
            self._send_gimbal_manager_status()
        elif msg_id == mav.MAVLINK_MSG_ID_HOME_POSITION and component in (0, AUTOPILOT_COMPONENT):
            self._send_home()
        elif msg_id == mav.MAVLINK_MSG_ID_CAMERA_CAPTURE_STATUS and component in (0, self.camera_component):
            self.net.sender(self.camera_component).camera_capture_status_send(
                self._ms(), 0, 0, 0.0, 0, float("nan"), 0)
        else:
            return UNSUPPORTED
        return ACCEPTED

    def _cmd_message_interval(self, p, sender, component) -> int:
        return ACCEPTED  # fixed-rate streams; accepted so GCS stacks do not retry forever

    def _cmd_autopilot_capabilities(self, p, sender, component) -> int:
        self._send_autopilot_version()
        return ACCEPTED

    def _cmd_gimbal_configure(self, p, sender, component) -> int:
        if component not in (0, AUTOPILOT_COMPONENT) or int(p[6]) not in (0, GIMBAL_DEVICE_ID):
            return DENIED
        result = self.gimbal.configure(sender, p[0], p[1])
        self._send_gimbal_manager_status()
        return result

    def _cmd_gimbal_pitchyaw(self, p, sender, component) -> int:
        ok = self.gimbal.command(sender, math.radians(p[0]), math.radians(p[1]), int(p[4]), self._vehicle_yaw_ned())
        return ACCEPTED if ok else DENIED

    def _cmd_zoom(self, p, sender, component) -> int:
        if component not in (0, self.camera_component):
            return UNSUPPORTED
        return self.camera.zoom(int(p[0]), float(p[1]))

    def _cmd_focus(self, p, sender, component) -> int:
        if component not in (0, self.camera_component):
            return UNSUPPORTED
        return self.camera.focus(int(p[0]), float(p[1]))

    def _cmd_digicam(self, p, sender, component) -> int:
        if component not in (0, self.camera_component):
            return UNSUPPORTED
        return self.camera.aperture(float(p[2]))

    def _cmd_camera_information(self, p, sender, component) -> int:
        self._send_camera_information()
        return ACCEPTED

    def _cmd_camera_settings(self, p, sender, component) -> int:
        self._send_camera_settings(time.monotonic())
        return ACCEPTED

    _COMMANDS = {
        mav.MAV_CMD_COMPONENT_ARM_DISARM: _cmd_arm,
        mav.MAV_CMD_DO_SET_MODE: _cmd_set_mode,
        mav.MAV_CMD_NAV_TAKEOFF: _cmd_takeoff,
        mav.MAV_CMD_NAV_LAND: _cmd_land,
        mav.MAV_CMD_REQUEST_MESSAGE: _cmd_request_message,
        mav.MAV_CMD_SET_MESSAGE_INTERVAL: _cmd_message_interval,
        mav.MAV_CMD_REQUEST_AUTOPILOT_CAPABILITIES: _cmd_autopilot_capabilities,
        mav.MAV_CMD_DO_GIMBAL_MANAGER_CONFIGURE: _cmd_gimbal_configure,
        mav.MAV_CMD_DO_GIMBAL_MANAGER_PITCHYAW: _cmd_gimbal_pitchyaw,
        mav.MAV_CMD_SET_CAMERA_ZOOM: _cmd_zoom,
        mav.MAV_CMD_SET_CAMERA_FOCUS: _cmd_focus,
        mav.MAV_CMD_DO_DIGICAM_CONFIGURE: _cmd_digicam,
        mav.MAV_CMD_REQUEST_CAMERA_INFORMATION: _cmd_camera_information,
        mav.MAV_CMD_REQUEST_CAMERA_SETTINGS: _cmd_camera_settings,
    }

    # -------------------------------------------------------------- params
    def _param_type(self, name: str) -> int:
        """INT32 for PX4's integer parameters (sent bytewise), REAL32 for the rest and for ArduPilot (C cast)."""
        return mav.MAV_PARAM_TYPE_INT32 if self.px4 and name in PX4_INT32_PARAMS else mav.MAV_PARAM_TYPE_REAL32

    def _send_param(self, name: str, index: int) -> None:
        kind = self._param_type(name)
        self.net.sender(AUTOPILOT_COMPONENT).param_value_send(
            name.encode("ascii"), encode_param_value(self.params[name], kind, self.px4), kind, len(self.params), index)

    def _send_all_params(self) -> None:
        for index, name in enumerate(self.params):
            self._send_param(name, index)

    def _on_param_read(self, msg: Any) -> None:
        names = list(self.params)
        name = msg.param_id.rstrip("\x00")
        if name in self.params:
            self._send_param(name, names.index(name))
        elif 0 <= msg.param_index < len(names):
            self._send_param(names[msg.param_index], msg.param_index)

    def _on_param_set(self, msg: Any) -> None:
        name = msg.param_id.rstrip("\x00")
        value = decode_param_value(msg.param_value, msg.param_type, self.px4)
        if name in self.params and math.isfinite(value):
            self.params[name] = value
            self._send_param(name, list(self.params).index(name))

    def _on_param_ext(self, msg: Any, kind: str) -> None:
        """Camera parameter CAM_APERTURE (camera definition style), REAL32 in PARAM_EXT_*."""
        import struct

        if msg.target_component != self.camera_component or msg.param_id.rstrip("\x00") != "CAM_APERTURE":
            return
        sender = self.net.sender(self.camera_component)
        if kind == "PARAM_EXT_SET":
            raw = bytes(msg.get_msgbuf())
            header = 10 if raw[:1] == b"\xfd" else 6
            payload = raw[header: header + raw[1]].ljust(147, b"\x00")
            # PARAM_EXT_SET wire order: target_system, target_component, param_id[16], param_value[128], type
            value = struct.unpack("<f", payload[18:22])[0]
            self.camera.aperture(value)
            sender.param_ext_ack_send(b"CAM_APERTURE", _real32(self.camera.f_number), mav.MAV_PARAM_EXT_TYPE_REAL32,
                                      mav.PARAM_ACK_ACCEPTED)
        self._send_aperture()

    def _send_aperture(self) -> None:
        self.net.sender(self.camera_component).param_ext_value_send(
            b"CAM_APERTURE", _real32(self.sim.rig_state().f_number), mav.MAV_PARAM_EXT_TYPE_REAL32, 1, 0)

    # ----------------------------------------------------------- telemetry
    def _ms(self) -> int:
        return int(round(float(self.sim.time_s) * 1000.0)) & 0xFFFFFFFF

    def _vehicle_yaw_ned(self) -> float:
        return frames.yaw_enu_to_ned(self.sim.vehicle.yaw_rad())

    def _statustext(self, text: str, severity: int) -> None:
        self.statustexts.append(text)
        self.net.sender(AUTOPILOT_COMPONENT).statustext_send(severity, text[:50].encode("ascii", "replace"))

    def _publish_heartbeat(self, now: float) -> None:
        if now - self._last_heartbeat_s < 1.0:
            return
        self._last_heartbeat_s = now
        self.net.refresh_signing()
        base = mav.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED | mav.MAV_MODE_FLAG_STABILIZE_ENABLED
        if self.armed:
            base |= mav.MAV_MODE_FLAG_SAFETY_ARMED
        if self.mode == "offboard":
            base |= mav.MAV_MODE_FLAG_GUIDED_ENABLED
        autopilot = mav.MAV_AUTOPILOT_PX4 if self.px4 else mav.MAV_AUTOPILOT_ARDUPILOTMEGA
        status = mav.MAV_STATE_ACTIVE if self.armed else mav.MAV_STATE_STANDBY
        self.net.sender(AUTOPILOT_COMPONENT).heartbeat_send(mav.MAV_TYPE_QUADROTOR, autopilot, base,
                                                            self.custom_mode(), status)
        if self.px4:
            self.net.sender(CAMERA_COMPONENT).heartbeat_send(mav.MAV_TYPE_CAMERA, mav.MAV_AUTOPILOT_INVALID, 0, 0,
                                                             mav.MAV_STATE_ACTIVE)

    def _publish(self, force: bool) -> None:
        now = time.monotonic()
        with self._lock:
            self._publish_heartbeat(now)
            fast = force or now - self._last_fast_s >= 1.0 / float(self.settings["telemetry_rate_hz"])
            slow = force or now - self._last_slow_s >= 1.0 / float(self.settings["slow_rate_hz"])
            if fast:
                self._last_fast_s = now
                self._send_fast()
            if slow:
                self._last_slow_s = now
                self._send_slow(now)

    def _send_fast(self) -> None:
        from scipy.spatial.transform import Rotation

        state: RigState = self.sim.rig_state()
        ms = self._ms()
        ap = self.net.sender(AUTOPILOT_COMPONENT)
        pos, vel, acc = (frames.enu_to_ned(v) for v in (state.position_m, state.velocity_mps, state.acceleration_mps2))
        ap.local_position_ned_send(ms, *pos, *vel)
        ap.local_position_ned_cov_send(ms * 1000, mav.MAV_ESTIMATOR_TYPE_AUTOPILOT, *pos, *vel, *acc,
                                       [float("nan")] + [0.0] * 44)
        _, matrix = self.sim.vehicle.pose()  # body (FLU) -> world (ENU), row-major
        _, pitch_flu, roll = Rotation.from_matrix(np.asarray(matrix, dtype=float).reshape(3, 3)).as_euler("ZYX")
        vehicle_yaw_ned = self._vehicle_yaw_ned()
        ap.attitude_send(ms, roll, -pitch_flu, vehicle_yaw_ned, 0.0, 0.0, 0.0)
        gimbal = self.sim.gimbal
        camera_yaw_ned = frames.yaw_enu_to_ned(state.yaw_rad)
        q = frames.quaternion_from_euler_ned(0.0, state.pitch_rad, camera_yaw_ned)
        flags = (mav.GIMBAL_DEVICE_FLAGS_ROLL_LOCK | mav.GIMBAL_DEVICE_FLAGS_PITCH_LOCK
                 | mav.GIMBAL_DEVICE_FLAGS_YAW_LOCK | mav.GIMBAL_DEVICE_FLAGS_YAW_IN_EARTH_FRAME)
        ap.gimbal_device_attitude_status_send(
            0, 0, ms, flags, q, 0.0, float(gimbal.pitch_rate_rad_s), -float(gimbal.yaw_rate_rad_s), 0,
            wrap_angle(camera_yaw_ned - vehicle_yaw_ned), float("nan"), GIMBAL_DEVICE_ID)
        if self._sent_aperture is None or abs(state.f_number - self._sent_aperture) > 0.005:
            self._sent_aperture = state.f_number
            if self.px4:
                self._send_aperture()
        self._send_camera_settings(time.monotonic())  # last: a lockstep reader waits for it

    def _send_slow(self, now: float) -> None:
        state = self.sim.rig_state()
        ms = self._ms()
        ap = self.net.sender(AUTOPILOT_COMPONENT)
        sensors = 0x1 | 0x2 | 0x4 | 0x8 | 0x20 | 0x200000  # gyro, accel, mag, baro, GPS, AHRS
        present = sensors | mav.MAV_SYS_STATUS_PREARM_CHECK
        healthy = present if self._prearm_problem() is None else sensors  # MAVSDK's is_armable
        ap.sys_status_send(present, present, healthy, 300, 15800, -1, int(self.battery_percent), 0, 0, 0, 0, 0, 0)
        landed = mav.MAV_LANDED_STATE_IN_AIR if self.armed and state.position_m[2] > 0.5 else \
            mav.MAV_LANDED_STATE_ON_GROUND
        ap.extended_sys_state_send(mav.MAV_VTOL_STATE_UNDEFINED, landed)
        lat, lon, alt = self._global(state.position_m)
        vn, ve, vd = frames.enu_to_ned(state.velocity_mps)
        heading = int(math.degrees(self._vehicle_yaw_ned()) % 360 * 100)
        ap.global_position_int_send(ms, lat, lon, alt, int(state.position_m[2] * 1000), int(vn * 100), int(ve * 100),
                                    int(vd * 100), heading)
        ap.gps_raw_int_send(ms * 1000, 3, lat, lon, alt, 80, 120, 0, 65535, 12)
        self._send_home()
        self._send_gimbal_manager_status()

    def _local(self, point: RallyItem) -> np.ndarray:
        """A rally point in the local ENU frame: _global's inverse, its altitude above home."""
        lat0, lon0 = float(self.settings["origin_lat_deg"]), float(self.settings["origin_lon_deg"])
        north = math.radians(point.lat_deg - lat0) * _EARTH_RADIUS_M
        east = math.radians(point.lon_deg - lon0) * _EARTH_RADIUS_M * math.cos(math.radians(lat0))
        return np.array([east, north, self._home_enu[2] + point.altitude_m])

    def _global(self, position_enu: np.ndarray) -> tuple[int, int, int]:
        lat0, lon0 = float(self.settings["origin_lat_deg"]), float(self.settings["origin_lon_deg"])
        lat = lat0 + math.degrees(position_enu[1] / _EARTH_RADIUS_M)
        lon = lon0 + math.degrees(position_enu[0] / (_EARTH_RADIUS_M * math.cos(math.radians(lat0))))
        alt = float(self.settings["origin_alt_m"]) + float(position_enu[2])
        return int(lat * 1e7), int(lon * 1e7), int(alt * 1000)

    def _send_home(self) -> None:
        lat, lon, alt = self._global(self._home_enu)
        x, y, z = frames.enu_to_ned(self._home_enu)
        self.net.sender(AUTOPILOT_COMPONENT).home_position_send(lat, lon, alt, x, y, z, [1, 0, 0, 0], 0, 0, 0,
                                                                self._ms() * 1000)

    def _send_autopilot_version(self) -> None:
        caps = (mav.MAV_PROTOCOL_CAPABILITY_MAVLINK2 | mav.MAV_PROTOCOL_CAPABILITY_SET_POSITION_TARGET_LOCAL_NED
                | mav.MAV_PROTOCOL_CAPABILITY_COMMAND_INT | mav.MAV_PROTOCOL_CAPABILITY_PARAM_FLOAT
                | mav.MAV_PROTOCOL_CAPABILITY_MISSION_INT)
        version = (1 << 24) | (15 << 16) | (0 << 8) | 255 if self.px4 else (4 << 24) | (5 << 16) | (0 << 8) | 255
        self.net.sender(AUTOPILOT_COMPONENT).autopilot_version_send(
            caps, version, 0, 0, 0, [0] * 8, [0] * 8, [0] * 8, 0, 0, 0x5EC0DE, [0] * 18)

    def _send_gimbal_manager_information(self) -> None:
        limits = self.sim.vehicle_config.gimbal
        caps, yaw_range = self._gimbal_caps()
        self.net.sender(AUTOPILOT_COMPONENT).gimbal_manager_information_send(
            self._ms(), caps, GIMBAL_DEVICE_ID, 0.0, 0.0, limits.pitch_min_rad, limits.pitch_max_rad,
            -yaw_range, yaw_range)

    def _gimbal_caps(self) -> tuple[int, float]:
        caps = (mav.GIMBAL_MANAGER_CAP_FLAGS_HAS_PITCH_AXIS | mav.GIMBAL_MANAGER_CAP_FLAGS_HAS_PITCH_LOCK
                | mav.GIMBAL_MANAGER_CAP_FLAGS_HAS_ROLL_LOCK)
        yaw_range = float(self.sim.gimbal.yaw_range_rad) if self.profile.gimbal_yaw else 0.0
        if self.profile.gimbal_yaw:
            caps |= (mav.GIMBAL_MANAGER_CAP_FLAGS_HAS_YAW_AXIS | mav.GIMBAL_MANAGER_CAP_FLAGS_HAS_YAW_LOCK
                     | mav.GIMBAL_MANAGER_CAP_FLAGS_HAS_YAW_FOLLOW
                     | mav.GIMBAL_MANAGER_CAP_FLAGS_SUPPORTS_YAW_IN_EARTH_FRAME)
        return caps, yaw_range

    def _send_gimbal_device_information(self) -> None:
        """The autopilot-attached gimbal device (id 1), as ArduPilot reports its mounts."""
        limits = self.sim.vehicle_config.gimbal
        caps, yaw_range = self._gimbal_caps()
        self.net.sender(AUTOPILOT_COMPONENT).gimbal_device_information_send(
            self._ms(), b"cinempc", b"sim gimbal", b"", 1, 1, 1, caps & 0xFFFF, 0, 0.0, 0.0, limits.pitch_min_rad,
            limits.pitch_max_rad, -yaw_range, yaw_range, GIMBAL_DEVICE_ID)

    def _send_gimbal_manager_status(self) -> None:
        primary = self.gimbal.primary or (0, 0)
        self.net.sender(AUTOPILOT_COMPONENT).gimbal_manager_status_send(
            self._ms(), mav.GIMBAL_MANAGER_FLAGS_ROLL_LOCK | mav.GIMBAL_MANAGER_FLAGS_PITCH_LOCK, GIMBAL_DEVICE_ID,
            primary[0], primary[1], 0, 0)

    def _send_camera_information(self) -> None:
        profile = self.profile
        flags = mav.CAMERA_CAP_FLAGS_CAPTURE_VIDEO | mav.CAMERA_CAP_FLAGS_HAS_BASIC_ZOOM | \
            mav.CAMERA_CAP_FLAGS_HAS_BASIC_FOCUS
        self.net.sender(self.camera_component).camera_information_send(
            self._ms(), b"cinempc".ljust(32, b"\x00"), profile.name.encode("ascii")[:32].ljust(32, b"\x00"), 1,
            float(self.sim.rig_state().focal_length_mm), profile.sensor_width_mm, profile.sensor_height_mm,
            profile.image_width_px, profile.image_height_px, 0, flags, 0, b"", GIMBAL_DEVICE_ID, 0)

    def _send_camera_settings(self, now: float) -> None:
        state = self.sim.rig_state()
        lens = self.camera.lens
        self.net.sender(self.camera_component).camera_settings_send(
            self._ms(), mav.CAMERA_MODE_VIDEO, lens.zoom_percent(state.focal_length_mm),
            lens.focus_percent(state.focus_distance_m), 0)


def _real32(value: float) -> bytes:
    import struct

    return struct.pack("<f", float(value)).ljust(128, b"\x00")
