"""The MAVLink bridge: the one component that talks to the autopilot.

It connects by URL, beats as an onboard controller, detects PX4/ArduPilot,
streams ``SET_POSITION_TARGET_LOCAL_NED`` + gimbal v2 + camera v2 commands from
the latest :class:`~cinempc.state.Setpoint`, turns telemetry back into a
:class:`~cinempc.state.RigState`, and lets the :class:`SafetySupervisor` veto
anything unsafe.  Arm, mode changes, takeoff and land happen ONLY through the
``operator_*`` methods -- nothing in here calls them by itself; the one
autonomous command is the HOLD request of a safety reaction.

Threads: a receiver (parses and files telemetry and acks) and a ticker (link
watchdog, heartbeat, setpoint stream).  All sends go through one lock because
pymavlink's sequence numbers and signing are not thread-safe.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

os.environ.setdefault("MAVLINK20", "1")  # signing and the gimbal/camera v2 messages need MAVLink 2

import numpy as np  # noqa: E402
from pymavlink.dialects.v20 import ardupilotmega as mav  # noqa: E402

from cinempc.angles import wrap_angle  # noqa: E402
from cinempc.config import CameraProfile, VehicleConfig, load_parameters  # noqa: E402
from cinempc.mavlink import frames  # noqa: E402
from cinempc.mavlink.autopilots import (  # noqa: E402
    MAV_MODE_FLAG_SAFETY_ARMED,
    Autopilot,
    AutopilotDialect,
    detect_autopilot,
)
from cinempc.mavlink.connection import open_link, parse_url  # noqa: E402
from cinempc.mavlink.events import EventLog, SafetyEvent  # noqa: E402
from cinempc.mavlink.lens import LensMapping  # noqa: E402
from cinempc.mavlink.signing import enable_signing, refresh_signing_timestamp  # noqa: E402
from cinempc.mavlink.supervisor import SafetySupervisor  # noqa: E402
from cinempc.state import RigState, Setpoint  # noqa: E402

MAV_COMP_ID_AUTOPILOT1 = 1
MAV_COMP_ID_CAMERA = 100
_ACCEPTED = (mav.MAV_RESULT_ACCEPTED, mav.MAV_RESULT_IN_PROGRESS)
_GIMBAL_LOCK_FLAGS = (
    mav.GIMBAL_MANAGER_FLAGS_ROLL_LOCK | mav.GIMBAL_MANAGER_FLAGS_PITCH_LOCK | mav.GIMBAL_MANAGER_FLAGS_YAW_LOCK
)
LOCKSTEP_MESSAGES = ("LOCAL_POSITION_NED", "ATTITUDE", "GIMBAL_DEVICE_ATTITUDE_STATUS", "CAMERA_SETTINGS")


@dataclass(frozen=True)
class CommandResult:
    """Outcome of a COMMAND_LONG: ``accepted`` and the MAV_RESULT name ("TIMEOUT" if no ack came)."""

    command: str
    accepted: bool
    result: str


def _result_name(value: int) -> str:
    entry = mav.enums["MAV_RESULT"].get(int(value))
    return entry.name.replace("MAV_RESULT_", "") if entry else str(value)


def _command_name(value: int) -> str:
    entry = mav.enums["MAV_CMD"].get(int(value))
    return entry.name if entry else str(value)


class MavlinkBridge:
    """Offboard control of one PX4/ArduPilot vehicle with its gimbal and camera."""

    def __init__(
        self,
        url: str,
        camera: CameraProfile,
        vehicle: VehicleConfig,
        params: dict[str, Any] | None = None,
        signing_key: bytes | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``clock`` times the link watchdog: wall time on a vehicle; simulated time when the bridge
        shares a lockstep simulation, whose world (and telemetry) pauses while the controller thinks."""
        self.params = params if params is not None else load_parameters("mavlink.yaml")
        connection = self.params["connection"]
        stream = self.params["stream"]
        safety = self.params["safety"]
        parse_url(url)  # a wrong URL fails here, before any thread starts
        self.url = url
        self.camera = camera
        self.vehicle = vehicle
        self.lens = LensMapping(camera)
        self.system_id = int(connection["system_id"])
        self.component_id = int(connection["component_id"])
        self.target_system = int(connection["target_system"])
        self.heartbeat_period_s = 1.0 / float(connection["heartbeat_rate_hz"])
        self.command_timeout_s = float(connection["command_timeout_s"])
        self.command_retries = int(connection["command_retries"])
        self.stream_rate_hz = float(stream["setpoint_rate_hz"])
        if self.stream_rate_hz < 20.0:
            raise ValueError(f"stream.setpoint_rate_hz must be >= 20 Hz (got {self.stream_rate_hz})")
        self.prestream_s = float(stream["prestream_s"])
        self.lens_period_s = 1.0 / float(stream["lens_rate_hz"])
        self.zoom_deadband_mm = float(stream["zoom_deadband_mm"])
        self.focus_deadband_m = float(stream["focus_deadband_m"])
        self.aperture_deadband_stops = float(stream["aperture_deadband_stops"])
        self.gimbal_device_id = int(stream["gimbal_device_id"])
        self.hold_repeat_s = float(safety["hold_command_repeat_s"])
        self.events = EventLog(int(safety["max_events"]))
        self.supervisor = SafetySupervisor(vehicle.airspace, float(safety["link_timeout_s"]), self.events, clock)
        self._signing_key = signing_key
        self._signing = self.params.get("signing", {})
        # both stacks' settings are validated now, not when a heartbeat happens to arrive
        self._dialects = {a: AutopilotDialect.from_params(a, self.params) for a in Autopilot}

        self._conn: Any = None
        self._t0 = time.monotonic()
        self._send_lock = threading.Lock()
        self._lock = threading.Condition()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.dialect: AutopilotDialect | None = None
        self._heartbeat: Any = None
        self._acks: dict[int, Any] = {}
        self._messages: dict[str, Any] = {}
        self._mission: deque[Any] = deque(maxlen=64)  # mission-protocol messages addressed to us, oldest first
        self._message_time_ms: dict[str, int] = {}
        self._f_number_feedback: float | None = None
        self._setpoint: Setpoint | None = None
        self._hold_on_loss = False
        self._streaming = False
        self._stream_since_s: float | None = None
        self._gimbal_target: tuple[float, float] | None = None  # (pitch, yaw_ned)
        self._lens_sent: dict[str, float] = {}
        self._lens_sent_s = -math.inf
        self._last_tag_ms = 0
        self._last_hold_request_s = -math.inf
        self._reported_rejections: set[str] = set()
        self.rejected_messages = 0  # badly signed frames
        self.bad_frames = 0  # frames that failed to parse (bad CRC, unknown id, cut short)
        self.non_finite_telemetry = 0  # state messages with NaN/inf where a number is needed: no rig state then

    # ------------------------------------------------------------ lifecycle
    def start(self, wait_heartbeat_s: float = 5.0) -> Autopilot:
        """Open the link, start beating, wait for the autopilot; returns which stack it is."""
        self._conn = open_link(self.url, self.system_id, self.component_id)
        if self._signing_key is not None:
            enable_signing(
                self._conn.mav, self._signing_key, int(self._signing.get("link_id", 1)),
                self._signing.get("allow_unsigned", ["RADIO_STATUS"]),
            )
        for target, name in ((self._receive_loop, "mavlink-rx"), (self._tick_loop, "mavlink-tick")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        deadline = time.monotonic() + wait_heartbeat_s
        with self._lock:
            while self.dialect is None and time.monotonic() < deadline:
                self._lock.wait(0.05)
        if self.dialect is None:
            self.close()
            raise TimeoutError(f"no autopilot heartbeat on {self.url} within {wait_heartbeat_s:.1f} s")
        return self.dialect.autopilot

    def close(self) -> None:
        """Stop threads and close the port (the vehicle's own offboard-loss failsafe takes over)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=2.0)
        self._threads.clear()
        if self._conn is not None:
            try:
                self._conn.close()
            except OSError:
                pass

    def __enter__(self) -> MavlinkBridge:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------- status
    @property
    def autopilot(self) -> Autopilot | None:
        return self.dialect.autopilot if self.dialect else None

    @property
    def link_ok(self) -> bool:
        return self.supervisor.link_ok

    @property
    def armed(self) -> bool:
        hb = self._heartbeat
        return bool(hb is not None and hb.base_mode & MAV_MODE_FLAG_SAFETY_ARMED)

    @property
    def mode(self) -> str | None:
        hb = self._heartbeat
        return self.dialect.mode_name(hb.custom_mode) if hb is not None and self.dialect else None

    @property
    def streaming(self) -> bool:
        return self._streaming

    @property
    def event_list(self) -> list[SafetyEvent]:
        return self.events.snapshot()

    def message(self, name: str) -> Any:
        """The latest message of a type from the vehicle (None if never seen)."""
        with self._lock:
            return self._messages.get(name)

    def wait_message(self, name: str, timeout_s: float = 2.0, newer_than_ms: int | None = None) -> Any:
        """Block until a message of that type arrives (with ``time_boot_ms`` >= newer_than_ms if given)."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while True:
                msg = self._messages.get(name)
                if msg is not None and (newer_than_ms is None or self._message_time_ms.get(name, -1) >= newer_than_ms):
                    return msg
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._lock.wait(min(remaining, 0.05))

    def wait_for_telemetry(self, time_boot_ms: int, names=LOCKSTEP_MESSAGES, timeout_s: float = 2.0) -> bool:
        """True once every named message has been received with ``time_boot_ms`` at least this (lockstep)."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while any(self._message_time_ms.get(n, -1) < time_boot_ms for n in names):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._lock.wait(min(remaining, 0.05))
        return True

    # ------------------------------------------------- raw sends and the mission protocol
    def send(self, build: Callable[[Any], None]) -> None:
        """Send what ``build`` sends on the link's pymavlink ``MAVLink`` object, under the send lock (one sequence
        and signing stream); the mission protocol (:mod:`cinempc.mavlink.mission`) sends through it."""
        with self._send_lock:
            build(self._conn.mav)

    def mission_message(self, timeout_s: float) -> Any:
        """The oldest mission-protocol message addressed to us not yet taken (None after ``timeout_s``)."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while not self._mission:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._lock.wait(min(remaining, 0.05))
            return self._mission.popleft()

    def clear_mission_messages(self) -> None:
        """Forget mission-protocol messages not yet taken (a transfer starts afresh)."""
        with self._lock:
            self._mission.clear()

    # -------------------------------------------------------- rig state
    def rig_state(self) -> RigState | None:
        """Drone, gimbal and lens as the vehicle reports them (None before the first position)."""
        with self._lock:
            local = self._messages.get("LOCAL_POSITION_NED")
            if local is None:
                return None
            cov = self._messages.get("LOCAL_POSITION_NED_COV")
            attitude = self._messages.get("ATTITUDE")
            gimbal = self._messages.get("GIMBAL_DEVICE_ATTITUDE_STATUS")
            settings = self._messages.get("CAMERA_SETTINGS")
            info = self._messages.get("CAMERA_INFORMATION")
            f_number_feedback = self._f_number_feedback
            commanded = self._setpoint
        position = frames.ned_to_enu([local.x, local.y, local.z])
        velocity = frames.ned_to_enu([local.vx, local.vy, local.vz])
        acceleration = frames.ned_to_enu([cov.ax, cov.ay, cov.az]) if cov is not None else np.zeros(3)
        vehicle_yaw_ned = float(attitude.yaw) if attitude is not None else None
        yaw_ned, pitch = vehicle_yaw_ned, (commanded.pitch_rad if commanded else 0.0)
        if gimbal is not None and _finite_fields(gimbal, ("q",)):  # a NaN attitude: as a booting gimbal's zero
            try:
                _, g_pitch, g_yaw = frames.euler_from_quaternion_ned(gimbal.q)
                pitch = g_pitch
                earth = gimbal.flags & mav.GIMBAL_DEVICE_FLAGS_YAW_IN_EARTH_FRAME or (
                    gimbal.flags & mav.GIMBAL_DEVICE_FLAGS_YAW_LOCK
                    and not gimbal.flags & mav.GIMBAL_DEVICE_FLAGS_YAW_IN_VEHICLE_FRAME
                )
                if earth:
                    yaw_ned = g_yaw
                elif vehicle_yaw_ned is not None:
                    yaw_ned = wrap_angle(vehicle_yaw_ned + g_yaw)
            except ValueError:
                pass  # a zero quaternion from a booting gimbal: keep the vehicle yaw
        yaw_enu = frames.yaw_ned_to_enu(yaw_ned) if yaw_ned is not None else (commanded.yaw_rad if commanded else 0.0)
        focal = commanded.focal_length_mm if commanded else self.camera.focal_length_mm.clamp(35.0)
        focus = commanded.focus_distance_m if commanded else self.camera.focus_distance_m.clamp(5.0)
        if settings is not None and math.isfinite(settings.zoomLevel):
            focal = self.lens.focal_length_mm(settings.zoomLevel)
        elif info is not None and math.isfinite(info.focal_length) and info.focal_length > 0:
            focal = float(info.focal_length)
        if settings is not None and math.isfinite(settings.focusLevel):
            focus = self.lens.focus_distance_m(settings.focusLevel)
        f_number = f_number_feedback or (commanded.f_number if commanded else self.camera.f_number.min)
        try:
            return RigState(
                position_m=position, velocity_mps=velocity, acceleration_mps2=acceleration, yaw_rad=yaw_enu,
                pitch_rad=float(pitch), focal_length_mm=float(focal), focus_distance_m=float(focus),
                f_number=float(f_number),
            )
        except ValueError:  # NaN/inf from the vehicle (counted on arrival): no state rather than a wrong one
            return None

    # ------------------------------------------------- operator commands
    def command(self, command: int, *params: float, target_component: int = MAV_COMP_ID_AUTOPILOT1,
                wait: bool = True) -> CommandResult:
        """Send COMMAND_LONG (with retries) and wait for its COMMAND_ACK."""
        name = _command_name(command)
        p = [float(v) for v in params] + [0.0] * (7 - len(params))
        if len(p) != 7 or not all(math.isfinite(v) or math.isnan(v) for v in p):
            raise ValueError(f"{name}: up to 7 numeric params expected")
        with self._lock:
            self._acks.pop(int(command), None)
        for confirmation in range(self.command_retries if wait else 1):
            with self._send_lock:
                self._conn.mav.command_long_send(self.target_system, target_component, command, confirmation, *p)
            if not wait:
                return CommandResult(name, True, "SENT")
            deadline = time.monotonic() + self.command_timeout_s
            with self._lock:
                while time.monotonic() < deadline:
                    ack = self._acks.pop(int(command), None)
                    if ack is not None:
                        if ack.result == mav.MAV_RESULT_IN_PROGRESS:
                            deadline = time.monotonic() + self.command_timeout_s
                            continue
                        return CommandResult(name, ack.result in _ACCEPTED, _result_name(ack.result))
                    self._lock.wait(0.02)
        return CommandResult(name, False, "TIMEOUT")

    def _require_dialect(self) -> AutopilotDialect:
        if self.dialect is None:
            raise RuntimeError("not connected to an autopilot yet (call start())")
        return self.dialect

    def operator_set_mode(self, mode: str) -> CommandResult:
        """Switch flight mode (cinempc names: offboard, hold, brake, land, rtl, position...)."""
        dialect = self._require_dialect()
        result = self.command(mav.MAV_CMD_DO_SET_MODE, *dialect.mode_args(mode))
        self.events.record("operator_mode", f"operator: mode {mode} -> {result.result}", "info")
        return result

    def operator_arm(self, arm: bool = True) -> CommandResult:
        """Arm (or disarm) the motors -- the autopilot runs its pre-arm checks."""
        result = self.command(mav.MAV_CMD_COMPONENT_ARM_DISARM, 1.0 if arm else 0.0)
        self.events.record("operator_arm", f"operator: {'arm' if arm else 'disarm'} -> {result.result}", "info")
        return result

    def operator_takeoff(self, altitude_m: float) -> CommandResult:
        """Take off to ``altitude_m`` above the local origin (within the altitude band)."""
        floor, ceiling = self.vehicle.airspace.altitude_floor_m, self.vehicle.airspace.altitude_ceiling_m
        if not (math.isfinite(altitude_m) and floor <= altitude_m <= ceiling):
            raise ValueError(f"takeoff altitude {altitude_m} m is outside the altitude band [{floor}, {ceiling}] m")
        dialect = self._require_dialect()
        if dialect.autopilot is Autopilot.ARDUPILOT:
            self.command(mav.MAV_CMD_DO_SET_MODE, *dialect.mode_args("offboard"))
        result = self.command(mav.MAV_CMD_NAV_TAKEOFF, 0, 0, 0, math.nan, math.nan, math.nan, float(altitude_m))
        self.events.record("operator_takeoff", f"operator: takeoff to {altitude_m:.1f} m -> {result.result}", "info")
        return result

    def operator_land(self) -> CommandResult:
        """Land where we are; stops the offboard stream first."""
        self._stop_stream()
        result = self.command(mav.MAV_CMD_NAV_LAND, 0, 0, 0, math.nan, math.nan, math.nan, math.nan)
        self.events.record("operator_land", f"operator: land -> {result.result}", "info")
        return result

    def operator_hold(self) -> CommandResult:
        """Stop the stream and put the vehicle in its hold mode (PX4 HOLD / ArduPilot BRAKE or LOITER)."""
        self._stop_stream()
        return self.operator_set_mode(self._require_dialect().hold_mode)

    def operator_start_offboard(self, initial: Setpoint | None = None) -> CommandResult:
        """Start the setpoint stream, let it run ``prestream_s``, then switch to OFFBOARD/GUIDED.

        The stream starts first because PX4 refuses (and drops out of) OFFBOARD
        without it.  Also the operator's way to resume after a failsafe.  Without
        ``initial`` the stream starts as a hold at the vehicle's position.
        """
        dialect = self._require_dialect()
        self._hold_on_loss = False
        if initial is None:
            # never resume into a setpoint planned before a failsafe: start by holding where the vehicle is
            state = self.rig_state()
            if state is None or not self.link_ok:
                raise RuntimeError("no live vehicle position: cannot start offboard")
            initial = Setpoint.hold_at(state)
        self.supervisor.operator_resume()
        self.set_setpoint(initial, "operator start: holding until the controller sends a setpoint")
        with self._lock:
            self._streaming = True
            self._stream_since_s = time.monotonic()
        self.configure_gimbal()
        time.sleep(self.prestream_s)
        result = self.command(mav.MAV_CMD_DO_SET_MODE, *dialect.mode_args("offboard"))
        if result.result == "DENIED":
            # PX4 denies OFFBOARD until its own clock has seen the stream; on a congested link (or a busy
            # companion computer) the first setpoints can arrive late.  Keep streaming and ask once more
            # rather than make the operator retry; a denial for another reason is simply denied again.
            time.sleep(self.prestream_s)
            result = self.command(mav.MAV_CMD_DO_SET_MODE, *dialect.mode_args("offboard"))
        self.events.record("operator_offboard", f"operator: start offboard -> {result.result}", "info")
        if not result.accepted:
            self._stop_stream()
        return result

    def configure_gimbal(self) -> CommandResult:
        """Take primary control of the gimbal manager (MAV_CMD_DO_GIMBAL_MANAGER_CONFIGURE)."""
        dialect = self._require_dialect()
        return self.command(
            mav.MAV_CMD_DO_GIMBAL_MANAGER_CONFIGURE, self.system_id, self.component_id, -1, -1, 0, 0,
            self.gimbal_device_id, target_component=dialect.gimbal_manager_component_id,
        )

    # ---------------------------------------------------------- setpoints
    def set_setpoint(self, setpoint: Setpoint, reason: str | None = None) -> Setpoint:
        """Make a setpoint the one streamed (after the supervisor's geofence gate); returns what will be sent."""
        state = self.rig_state()
        gated = self.supervisor.gate(setpoint, state, reason)
        with self._lock:
            self._setpoint = gated
        return gated

    def send_setpoint_now(self, setpoint: Setpoint, reason: str | None = None) -> int:
        """Gate, store and immediately send a setpoint; returns its ``time_boot_ms`` tag (for lockstep)."""
        self.set_setpoint(setpoint, reason)
        return self._send_stream(force_lens=True)

    def _time_boot_ms(self) -> int:
        with self._send_lock:
            tag = max(int((time.monotonic() - self._t0) * 1000.0), self._last_tag_ms + 1)
            self._last_tag_ms = tag
        return tag & 0xFFFFFFFF

    def _stop_stream(self) -> None:
        with self._lock:
            self._streaming = False
            self._stream_since_s = None

    def _send_stream(self, force_lens: bool = False) -> int:
        """One round of the stream: position target, gimbal, lens. Returns the tag sent (0 if nothing)."""
        with self._lock:
            setpoint, streaming, dialect = self._setpoint, self._streaming, self.dialect
        if not streaming or setpoint is None or dialect is None or self.supervisor.operator_resume_required:
            return 0
        tag = self._time_boot_ms()
        pos = frames.enu_to_ned(setpoint.position_m)
        vel = frames.enu_to_ned(setpoint.velocity_mps)
        acc = frames.enu_to_ned(setpoint.acceleration_mps2)
        yaw_ned = frames.yaw_enu_to_ned(setpoint.yaw_rad)
        yaw_rate_ned = -float(setpoint.yaw_rate_rad_s)  # CCW-positive (ENU, z up) -> CW-positive (NED, z down)
        if setpoint.hold:
            vel, acc, yaw_rate_ned = np.zeros(3), np.zeros(3), 0.0
        # gimbal and lens first, the position target (which carries the tag) last: a lockstep
        # autopilot that waits for the tag has then already applied the whole setpoint
        if not setpoint.hold:
            self._send_lens(setpoint, dialect, force_lens)
        with self._send_lock:
            if not setpoint.hold or self._gimbal_target is None:  # hold keeps the gimbal where it was aimed
                yaw_cmd = yaw_ned if self.camera.gimbal_yaw else math.nan
                self._gimbal_target = (float(setpoint.pitch_rad), yaw_cmd)
            pitch_cmd, yaw_cmd = self._gimbal_target
            self._conn.mav.gimbal_manager_set_pitchyaw_send(
                self.target_system, dialect.gimbal_manager_component_id, _GIMBAL_LOCK_FLAGS, self.gimbal_device_id,
                pitch_cmd, yaw_cmd, math.nan, math.nan,
            )
            self._conn.mav.set_position_target_local_ned_send(
                tag, self.target_system, MAV_COMP_ID_AUTOPILOT1, mav.MAV_FRAME_LOCAL_NED, dialect.type_mask,
                *pos, *vel, *acc, yaw_ned, yaw_rate_ned,
            )
        return tag

    def _send_lens(self, setpoint: Setpoint, dialect: AutopilotDialect, force: bool) -> None:
        now = time.monotonic()
        if not force and now - self._lens_sent_s < self.lens_period_s:
            return
        camera_target = dialect.camera_component_id
        sent = self._lens_sent
        focal = self.camera.focal_length_mm.clamp(setpoint.focal_length_mm)
        focus = self.camera.focus_distance_m.clamp(setpoint.focus_distance_m)
        f_number = self.camera.f_number.clamp(setpoint.f_number)
        commands = []
        if abs(focal - sent.get("zoom", math.inf)) > self.zoom_deadband_mm:
            if dialect.zoom_command == "focal_length":
                commands.append(("zoom", focal, (mav.MAV_CMD_SET_CAMERA_ZOOM, mav.ZOOM_TYPE_FOCAL_LENGTH, focal, 0)))
            else:
                pct = self.lens.zoom_percent(focal)
                commands.append(("zoom", focal, (mav.MAV_CMD_SET_CAMERA_ZOOM, mav.ZOOM_TYPE_RANGE, pct, 0)))
        if abs(focus - sent.get("focus", math.inf)) > self.focus_deadband_m:
            if dialect.focus_command == "meters":
                commands.append(("focus", focus, (mav.MAV_CMD_SET_CAMERA_FOCUS, mav.FOCUS_TYPE_METERS, focus, 0)))
            else:
                pct = self.lens.focus_percent(focus)
                commands.append(("focus", focus, (mav.MAV_CMD_SET_CAMERA_FOCUS, mav.FOCUS_TYPE_RANGE, pct, 0)))
        if abs(math.log2(f_number / sent.get("iris", 1e-9))) * 2.0 > self.aperture_deadband_stops:
            # stops = 2 log2(N); params: mode, shutter, aperture (f-number), ISO, exposure, command id, cut-off
            commands.append(("iris", f_number, (mav.MAV_CMD_DO_DIGICAM_CONFIGURE, 0, 0, f_number, 0, 0, 0, 0)))
        if not commands:
            return
        with self._send_lock:
            for key, value, (cmd, *params) in commands:
                p = [float(v) for v in params] + [math.nan] * (7 - len(params))
                if cmd == mav.MAV_CMD_DO_DIGICAM_CONFIGURE:
                    p = [float(v) for v in params]
                self._conn.mav.command_long_send(self.target_system, camera_target, cmd, 0, *p)
                sent[key] = value
        self._lens_sent_s = now

    # -------------------------------------------------------------- loops
    def _tick_loop(self) -> None:
        period = 1.0 / self.stream_rate_hz
        next_heartbeat = 0.0
        next_tick = time.monotonic()
        while not self._stop.is_set():
            now = time.monotonic()
            try:
                if now >= next_heartbeat:
                    with self._send_lock:
                        refresh_signing_timestamp(self._conn.mav)
                        self._conn.mav.heartbeat_send(
                            mav.MAV_TYPE_ONBOARD_CONTROLLER, mav.MAV_AUTOPILOT_INVALID, 0, 0, mav.MAV_STATE_ACTIVE
                        )
                    next_heartbeat = now + self.heartbeat_period_s
                ok, transition = self.supervisor.update_link(self._streaming)
                if transition == "lost":
                    # only a vehicle that was following our stream is asked to hold: a landing or a
                    # pilot-flown vehicle keeps doing what it does
                    self._hold_on_loss = self._streaming
                    self._stop_stream()
                if not ok and self._hold_on_loss and self.dialect is not None:
                    if now - self._last_hold_request_s >= self.hold_repeat_s:
                        self._last_hold_request_s = now
                        self.command(mav.MAV_CMD_DO_SET_MODE, *self.dialect.mode_args(self.dialect.hold_mode),
                                     wait=False)
                elif ok:
                    self._send_stream()
            except (OSError, ValueError) as exc:  # a serial port unplugged, a bad setpoint: report, keep beating
                self.events.record("bridge_error", f"bridge tick failed: {exc}", "warning")
            next_tick += period
            self._stop.wait(max(0.0, next_tick - time.monotonic()))
            if time.monotonic() - next_tick > 1.0:
                next_tick = time.monotonic()

    def _receive_loop(self) -> None:
        while not self._stop.is_set():
            try:
                msg = self._conn.recv_match(blocking=True, timeout=0.05)
            except (OSError, ValueError, TypeError):
                time.sleep(0.01)
                continue
            if msg is None:
                continue
            try:
                self._handle(msg)
            except Exception as exc:  # noqa: BLE001 -- one malformed message must not kill the receiver
                self.events.record("bridge_error", f"could not handle {msg.get_type()}: {exc}", "warning")

    def _handle(self, msg: Any) -> None:
        kind = msg.get_type()
        if kind == "BAD_DATA":
            if "signature" in str(getattr(msg, "reason", "")).lower():
                self.rejected_messages += 1
            else:
                self.bad_frames += 1
            return
        if msg.get_srcSystem() != self.target_system:
            return
        if msg.get_srcComponent() == MAV_COMP_ID_AUTOPILOT1:  # the link is alive when the autopilot is heard
            self.supervisor.telemetry_received()
        with self._lock:
            if kind == "HEARTBEAT":
                if msg.get_srcComponent() == MAV_COMP_ID_AUTOPILOT1:
                    self._on_autopilot_heartbeat(msg)
                elif msg.type == mav.MAV_TYPE_CAMERA and "CAMERA_INFORMATION" not in self._messages:
                    threading.Thread(target=self._request_camera_information, args=(msg.get_srcComponent(),),
                                     daemon=True).start()
            elif kind == "COMMAND_ACK":
                self._acks[int(msg.command)] = msg
                self._note_lens_rejection(msg)
            elif kind in _MISSION_MESSAGES:
                if msg.target_system == self.system_id and msg.target_component in (0, self.component_id):
                    self._mission.append(msg)
            elif kind == "PARAM_EXT_VALUE":
                if msg.param_id.rstrip("\x00") == "CAM_APERTURE":
                    self._f_number_feedback = _param_ext_float(msg) or self._f_number_feedback
            else:
                # kept even when not finite: the rig state is then None (the safety core holds), never the
                # previous position reported as fresh
                self._messages[kind] = msg
                if not _finite_fields(msg, _STATE_FIELDS.get(kind, ())):
                    self.non_finite_telemetry += 1
                if hasattr(msg, "time_boot_ms"):
                    self._message_time_ms[kind] = int(msg.time_boot_ms)
            self._lock.notify_all()

    def _on_autopilot_heartbeat(self, msg: Any) -> None:
        autopilot = detect_autopilot(msg)
        if autopilot is None:
            return
        previous = self._heartbeat
        self._heartbeat = msg
        self._messages["HEARTBEAT"] = msg
        if self.dialect is None or self.dialect.autopilot is not autopilot:
            self.dialect = self._dialects[autopilot]
            self.events.record("autopilot", f"connected to {autopilot.value} (system {msg.get_srcSystem()})", "info")
        if previous is not None and previous.custom_mode != msg.custom_mode:
            self.events.record("mode", f"vehicle mode {self.dialect.mode_name(msg.custom_mode)}", "info")

    def _note_lens_rejection(self, ack: Any) -> None:
        if ack.command in (mav.MAV_CMD_SET_CAMERA_ZOOM, mav.MAV_CMD_SET_CAMERA_FOCUS, mav.MAV_CMD_DO_DIGICAM_CONFIGURE,
                           mav.MAV_CMD_DO_GIMBAL_MANAGER_CONFIGURE) and ack.result not in _ACCEPTED:
            key = f"{ack.command}:{ack.result}"
            if key not in self._reported_rejections:
                self._reported_rejections.add(key)
                self.events.record(
                    "camera_rejected", f"{_command_name(ack.command)} rejected: {_result_name(ack.result)}", "warning"
                )

    def _request_camera_information(self, component: int) -> None:
        self.command(mav.MAV_CMD_REQUEST_MESSAGE, mav.MAVLINK_MSG_ID_CAMERA_INFORMATION, target_component=component)
        with self._send_lock:
            self._conn.mav.param_ext_request_read_send(self.target_system, component, b"CAM_APERTURE", -1)


# mission-protocol messages: filed for a transfer in progress (cinempc.mavlink.mission), never as telemetry
_MISSION_MESSAGES = frozenset({"MISSION_COUNT", "MISSION_REQUEST_INT", "MISSION_REQUEST", "MISSION_ITEM_INT",
                               "MISSION_ACK"})

# the numbers of each state message that rig_state() uses (a NaN elsewhere, e.g. an unknown zoom level, is legal)
_STATE_FIELDS = {"LOCAL_POSITION_NED": ("x", "y", "z", "vx", "vy", "vz"), "LOCAL_POSITION_NED_COV": ("ax", "ay", "az"),
                 "ATTITUDE": ("yaw",), "GIMBAL_DEVICE_ATTITUDE_STATUS": ("q",)}


def _finite_fields(msg: Any, names: tuple[str, ...]) -> bool:
    """True when every named field of a message is finite (arrays: every element)."""
    return all(np.all(np.isfinite(np.asarray(getattr(msg, name, 0.0), dtype=float))) for name in names)


def _param_ext_float(msg: Any) -> float | None:
    """The REAL32 value of a PARAM_EXT_VALUE, read from the raw payload.

    Why raw: pymavlink decodes the 128-char ``param_value`` as text and cuts it
    at the first zero byte, which destroys a binary float (4.0 is 00 00 80 40).
    Wire order: param_count, param_index (2 x uint16), param_id (16 chars), param_value.
    """
    import struct

    buf = bytes(msg.get_msgbuf())
    header = 10 if buf[:1] == b"\xfd" else 6
    payload_len = buf[1] if len(buf) > 1 else 0
    raw = buf[header + 20: header + min(payload_len, 24)].ljust(4, b"\x00") if payload_len > 20 else b"\x00" * 4
    number = struct.unpack("<f", raw[:4])[0]
    return float(number) if math.isfinite(number) and number > 0 else None
