"""Preflight: is this vehicle, on this field, ready for cinempc to fly?  One pass/fail and reason per check.

Rules (docs/first_flight.md; the numbers are config/preflight.yaml's):

* link: the autopilot's heartbeat arrives, and -- with a signing key -- its messages verify with our key and our
  signed command is acknowledged; without a key the site must say ``require_signing: false`` (bench only);
* mode: disarmed and not in OFFBOARD/GUIDED (preflight is done on the ground, before the operator arms);
* home: the autopilot reports HOME_POSITION, near the site's expected home, inside the polygon, with the
  vehicle standing there;
* fence: the autopilot's own fence (PX4 ``GF_*``, ArduPilot ``FENCE_*`` parameters) contains ours -- every polygon
  vertex within its radius, our ceiling under its ceiling -- and acts (not just warns);
* rally: with a site rally point, the autopilot's rally list (read with the mission protocol) is that point alone,
  within ``rally_tolerance_m``, so its own Return goes where cinempc's rally goes (``cinempc mavlink rally``
  uploads it); without one, the autopilot's own rally points are reported, not judged;
* failsafe: the autopilot's own failsafes -- link loss, offboard loss, RC loss, battery (PX4 ``NAV_DLL_ACT``,
  ``COM_OBL_RC_ACT``, ``NAV_RCL_ACT`` with their timeouts, ``COM_LOW_BAT_ACT``; ArduPilot ``FS_GCS_ENABLE``,
  ``FS_THR_ENABLE`` with their timeouts, ``BATT_FS_LOW_ACT``/``BATT_FS_CRT_ACT``, ``FS_OPTIONS``), where a Return
  goes (PX4 ``RTL_TYPE``, ArduPilot ``RALLY_INCL_HOME``: to the site's rally point when it has one) and its
  altitude: an action that returns or lands passes, hold warns, disabled fails naming what to set (the values
  are config/preflight.yaml's);
* camera/gimbal: the camera answers CAMERA_INFORMATION and the gimbal manager GIMBAL_MANAGER_INFORMATION;
* lens: the camera's sensor size and resolution match the site's camera profile, its focal length is in range;
* detector: the site's weights load and detect on a test frame within 1 / frame_rate_hz;
* stream: our setpoint stream, measured, is fast enough for the autopilot's offboard-loss timeout.

A failed check never stops the others (except what needs the link or home), so one run lists every problem.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from cinempc.config import load_parameters, load_vehicle_config
from cinempc.mavlink.autopilots import Autopilot
from cinempc.mavlink.bridge import MavlinkBridge, mav
from cinempc.mavlink.mission import MissionError, RallyItem, RallyTransfer
from cinempc.mavlink.params import decode_param_value
from cinempc.site import Home, ResolvedSite, Site, horizontal_distance_m, resolve_site
from cinempc.state import Setpoint


class Check(StrEnum):
    """The preflight checks, in the order they run."""

    LINK = "autopilot reachable and signed"
    MODE = "mode and arming state"
    HOME = "home set"
    FENCE = "our fence inside the autopilot's fence"
    RALLY = "rally point on the autopilot"
    FAILSAFE = "autopilot's failsafes"
    CAMERA = "camera and gimbal respond"
    LENS = "lens profile matches the camera"
    DETECTOR = "detector loaded, on a test frame"
    STREAM = "setpoint stream rate"


@dataclass(frozen=True)
class CheckResult:
    """One check's outcome; ``reason`` says what was measured and, on failure, what to do.

    ``warning``: passed, but something the operator should know and may want to change (never refuses a command).
    """

    check: Check
    passed: bool
    reason: str
    warning: bool = False

    @property
    def label(self) -> str:
        """FAIL, WARN (passed with a warning) or PASS."""
        return "FAIL" if not self.passed else "WARN" if self.warning else "PASS"

    def line(self) -> str:
        """The report's line for this check."""
        return f"{self.label}  {self.check.value}: {self.reason}"

    def as_dict(self) -> dict[str, Any]:
        return {"check": self.check.name.lower(), "title": self.check.value, "passed": self.passed,
                "warning": self.warning, "reason": self.reason}


@dataclass
class PreflightReport:
    """Every check's result, the autopilot's home and the site resolved there (when home was known)."""

    results: list[CheckResult] = field(default_factory=list)
    autopilot: str | None = None
    home: Home | None = None
    resolved: ResolvedSite | None = None

    @property
    def passed(self) -> bool:
        return bool(self.results) and all(r.passed for r in self.results)

    @property
    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if not r.passed]

    def result(self, check: Check) -> CheckResult:
        return next(r for r in self.results if r.check is check)

    def as_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "autopilot": self.autopilot,
                "home": None if self.home is None else {"lat_deg": self.home.lat_deg, "lon_deg": self.home.lon_deg,
                                                        "alt_m": round(self.home.alt_m, 2)},
                "checks": [r.as_dict() for r in self.results]}

    def text(self) -> str:
        warnings = sum(r.passed and r.warning for r in self.results)
        verdict = "preflight PASSED" if self.passed else f"preflight FAILED ({len(self.failures)} of " \
            f"{len(self.results)} checks)"
        if warnings:
            verdict += f", {warnings} check{'s' if warnings > 1 else ''} with a warning (read the WARN lines)"
        return "\n".join([*(r.line() for r in self.results), verdict])

    def refusal(self, action: str) -> str:
        """Why an operator command is refused: every failed check's reason."""
        return f"{action} refused: preflight failed -- " + "; ".join(
            f"{r.check.value}: {r.reason}" for r in self.failures)


class Grade(StrEnum):
    """How one failsafe setting is judged: fine, worth a warning, or not flyable."""

    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True)
class Finding:
    """One judged failsafe setting and what it means (and, unless it passes, what to set)."""

    grade: Grade
    text: str


DEFAULT_WARN_WHY = "which neither returns nor lands"


@dataclass(frozen=True)
class FailsafeAction:
    """An autopilot's failsafe-action parameter and the rule for it (config/preflight.yaml ``failsafe``).

    Rule: a value in ``passes`` passes, one in ``warns`` warns (``warn_why`` says why), any other fails and
    ``fix`` is the value to set; a ``timeout`` parameter, when the action has one, must be > 0 (else the
    failsafe never fires) and should be <= ``max_timeout_s``.
    """

    param: str
    event: str
    labels: tuple[str, ...]
    passes: frozenset[int]
    warns: frozenset[int]
    fix: int
    timeout: str | None = None
    max_timeout_s: float | None = None
    warn_why: str = DEFAULT_WARN_WHY

    @classmethod
    def from_config(cls, param: str, values: dict[str, Any]) -> FailsafeAction:
        """From one entry of ``failsafe.<autopilot>.actions`` (or a destination merged with its site variant)."""
        timeout = values.get("timeout") or None
        max_timeout = values.get("max_timeout_s")
        action = cls(param, str(values["event"]), tuple(str(v) for v in values["labels"]),
                     frozenset(int(v) for v in values["passes"]), frozenset(int(v) for v in values["warns"]),
                     int(values["fix"]), None if timeout is None else str(timeout),
                     None if max_timeout is None else float(max_timeout),
                     str(values.get("warn_why") or DEFAULT_WARN_WHY))
        timed_right = (action.timeout is None) == (action.max_timeout_s is None) and (
            action.max_timeout_s is None or action.max_timeout_s > 0)
        if action.fix not in action.passes or action.passes & action.warns or not timed_right:
            raise ValueError(f"preflight.yaml: failsafe action {param}: fix must be one of passes, passes and warns "
                             "must not overlap, timeout and a positive max_timeout_s come together")
        if max(action.passes | action.warns) >= len(action.labels):
            raise ValueError(f"preflight.yaml: failsafe action {param}: every passing or warning value needs a label")
        return action

    def setting(self, value: int) -> str:
        """``PARAM = value (what it does)``."""
        label = self.labels[value] if 0 <= value < len(self.labels) else "unknown value"
        return f"{self.param} = {value} ({label})"


SITE_VARIANTS = {True: "with_rally", False: "without_rally"}


@dataclass(frozen=True)
class FailsafeRules:
    """What preflight reads and accepts of one autopilot stack's failsafes (config/preflight.yaml).

    ``destinations``: where a Return goes, one rule per parameter for a site with a rally point (True) and one for
    a site without (False).
    """

    actions: tuple[FailsafeAction, ...]
    return_altitude_param: str
    return_altitude_scale: float  # metres per parameter unit
    options_param: str | None = None
    options_warn_bits: int = 0
    options_why: str = ""
    destinations: dict[bool, tuple[FailsafeAction, ...]] = field(
        default_factory=lambda: {True: (), False: ()})

    @classmethod
    def from_config(cls, values: dict[str, Any]) -> FailsafeRules:
        """From ``failsafe.<autopilot>``; the options bitmask and the destination rules are optional."""
        destinations: dict[bool, tuple[FailsafeAction, ...]] = {}
        for has_rally, variant in SITE_VARIANTS.items():
            rules = []
            for name, entry in (values.get("destination") or {}).items():
                base = {k: v for k, v in entry.items() if k not in SITE_VARIANTS.values()}
                rules.append(FailsafeAction.from_config(name, {**base, **entry[variant]}))
            destinations[has_rally] = tuple(rules)
        return cls(tuple(FailsafeAction.from_config(name, v) for name, v in values["actions"].items()),
                   str(values["return_altitude_param"]), float(values["return_altitude_scale"]),
                   values.get("options_param") or None, int(values.get("options_warn_bits", 0)),
                   str(values.get("options_why", "")), destinations)


@dataclass(frozen=True)
class PreflightSettings:
    """config/preflight.yaml: ``preflight`` numbers and the ``failsafe`` rules per autopilot stack."""

    timeout_s: float
    offboard_min_rate_hz: float
    setpoints_per_loss_timeout: float
    stream_measure_s: float
    sensor_size_tolerance: float
    detector_runs: int
    detector_min_subjects: int
    home_max_vehicle_distance_m: float
    rally_tolerance_m: float
    takeoff_max_altitude_m: float
    takeoff_timeout_s: float
    operator_system_id: int
    operator_component_id: int
    operator_link_id: int
    failsafe: dict[str, FailsafeRules]  # by Autopilot value ("px4", "ardupilot")

    @classmethod
    def load(cls, name: str = "preflight.yaml") -> PreflightSettings:
        document = load_parameters(name)
        values = document["preflight"]
        settings = cls(**values, failsafe={stack: FailsafeRules.from_config(rules)
                                           for stack, rules in document["failsafe"].items()})
        for key, value in values.items():
            if not (isinstance(value, int | float) and value > 0):
                raise ValueError(f"{name}: preflight.{key} must be a positive number, got {value!r}")
        return settings


class PreflightBridge(MavlinkBridge):
    """The bridge plus what preflight asks of the link: parameters, requested messages, signing counts,
    and a measured setpoint stream."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._params: dict[str, float] = {}
        self._stream_sent = 0
        self.signed_from_autopilot = 0
        self.unsigned_from_autopilot = 0

    def _handle(self, msg: Any) -> None:
        if msg.get_type() != "BAD_DATA" and msg.get_srcSystem() == self.target_system:
            if msg.get_signed():
                self.signed_from_autopilot += 1
            else:
                self.unsigned_from_autopilot += 1
            if msg.get_type() == "PARAM_VALUE":
                # PX4 packs integer parameters bytewise into the float (cinempc.mavlink.params)
                value = decode_param_value(msg.param_value, msg.param_type, self.autopilot is Autopilot.PX4)
                with self._lock:
                    self._params[msg.param_id.rstrip("\x00")] = value
                    self._lock.notify_all()
        super()._handle(msg)

    def signing_counts(self) -> dict[str, int]:
        """pymavlink's signature counters for what we received (bad signatures, refused unsigned packets)."""
        signing = self._conn.mav.signing if self._conn is not None else None
        if signing is None:
            return {"badsig": 0, "rejected": 0, "goodsig": 0}
        return {"badsig": int(signing.badsig_count), "rejected": int(signing.reject_count),
                "goodsig": int(signing.goodsig_count)}

    def read_parameter(self, name: str, timeout_s: float) -> float | None:
        """A parameter of the autopilot (PARAM_REQUEST_READ; None if it does not answer)."""
        with self._lock:
            self._params.pop(name, None)
        deadline = time.monotonic() + timeout_s
        next_request = 0.0
        with self._lock:
            while name not in self._params:
                now = time.monotonic()
                if now >= deadline:
                    return None
                if now >= next_request:  # UDP may lose the request or the answer: ask again
                    with self._send_lock:
                        self._conn.mav.param_request_read_send(self.target_system, 1, name.encode("ascii"), -1)
                    next_request = now + min(self.command_timeout_s, timeout_s / 3)
                self._lock.wait(0.02)
            return self._params[name]

    def request_message(self, message_id: int, component: int, name: str, timeout_s: float) -> Any:
        """Ask a component for one message (MAV_CMD_REQUEST_MESSAGE) and wait for it (None if none came)."""
        with self._lock:
            self._messages.pop(name, None)
        self.command(mav.MAV_CMD_REQUEST_MESSAGE, message_id, target_component=component, wait=False)
        deadline = time.monotonic() + timeout_s
        resend = time.monotonic() + self.command_timeout_s
        while time.monotonic() < deadline:
            msg = self.wait_message(name, timeout_s=0.05)
            if msg is not None:
                return msg
            if time.monotonic() >= resend:
                self.command(mav.MAV_CMD_REQUEST_MESSAGE, message_id, target_component=component, wait=False)
                resend = time.monotonic() + self.command_timeout_s
        return None

    def _send_stream(self, force_lens: bool = False) -> int:
        tag = super()._send_stream(force_lens)
        if tag:
            self._stream_sent += 1
        return tag

    def measure_stream_hz(self, seconds: float) -> float:
        """Stream hold setpoints at the vehicle's position for ``seconds`` (no mode change: a disarmed vehicle
        ignores them) and return the rate at which position targets actually left."""
        state = self.rig_state()
        if state is None:
            raise RuntimeError("no vehicle position yet")
        self.set_setpoint(Setpoint.hold_at(state), "preflight: timing the setpoint stream")
        with self._lock:
            self._stream_sent = 0
            self._streaming = True
        start = time.monotonic()
        time.sleep(seconds)
        with self._lock:
            sent = self._stream_sent
            self._streaming = False
        return sent / (time.monotonic() - start)


def load_site_key(site: Site) -> bytes | None:
    """The site's signing key (SigningKeyError names the problem), or None when it has none."""
    from cinempc.mavlink.signing import load_signing_key

    return load_signing_key(site.mavlink.signing_key) if site.mavlink.signing_key is not None else None


def connect(site: Site, settings: PreflightSettings | None = None,
            bridge_class: type[PreflightBridge] = PreflightBridge) -> tuple[PreflightBridge | None, CheckResult]:
    """Open the site's link; the LINK check's result (and None as bridge when it failed)."""
    settings = settings or PreflightSettings.load()
    params = site.mavlink_params()
    # a second client beside the bridge node, as a ground station is: its own ids and signing stream
    params["connection"]["system_id"] = settings.operator_system_id
    params["connection"]["component_id"] = settings.operator_component_id
    params["signing"]["link_id"] = settings.operator_link_id
    url = params["connection"]["url"]
    try:
        key = load_site_key(site)
    except ValueError as exc:
        return None, CheckResult(Check.LINK, False, f"signing key unusable: {exc}")
    vehicle = load_vehicle_config()
    bridge = bridge_class(url, site.camera(vehicle), vehicle, params=params, signing_key=key)
    try:
        autopilot = bridge.start(wait_heartbeat_s=settings.timeout_s)
    except TimeoutError:
        counts = bridge.signing_counts()
        if counts["badsig"]:
            why = (f"heard {counts['badsig']} messages signed with another key: the autopilot's signing key is not "
                   f"{site.mavlink.signing_key} (provision it again over USB: cinempc mavlink provision)")
        elif counts["rejected"]:
            why = (f"heard {counts['rejected']} unsigned messages and refused them: the autopilot is not provisioned "
                   "with our signing key (cinempc mavlink provision over USB)")
        else:
            why = (f"no autopilot heartbeat on {url} within {settings.timeout_s:.1f} s: check the radio/cable, the "
                   "URL in the site file and that the autopilot is powered")
        return None, CheckResult(Check.LINK, False, why)
    if key is None:
        if site.mavlink.require_signing:
            return bridge, CheckResult(Check.LINK, False, f"{autopilot.value} reachable on {url} but the link is "
                                       "UNSIGNED: set mavlink.signing_key in the site file (cinempc mavlink keygen + "
                                       "provision); anyone with a radio could fly an unsigned drone")
        return bridge, CheckResult(Check.LINK, True, f"{autopilot.value} on {url}, unsigned (site: require_signing "
                                   "false -- bench only)")
    reply = bridge.request_message(mav.MAVLINK_MSG_ID_AUTOPILOT_VERSION, 1, "AUTOPILOT_VERSION", settings.timeout_s)
    if reply is None:
        return bridge, CheckResult(Check.LINK, False, f"{autopilot.value} heard (signed) but it ignored our signed "
                                   "request for AUTOPILOT_VERSION: it may check signatures with another key")
    if bridge.unsigned_from_autopilot and not bridge.signed_from_autopilot:
        return bridge, CheckResult(Check.LINK, False, "the autopilot's messages are not signed")
    return bridge, CheckResult(Check.LINK, True, f"{autopilot.value} on {url}, signed both ways "
                               f"({bridge.signed_from_autopilot} signed messages verified, our signed request "
                               "answered)")


class Phase(StrEnum):
    """Where in the flight a check runs: what the mode, arming and position checks expect."""

    GROUND = "on the ground, disarmed"  # preflight, arm
    ARMED = "armed on the ground"  # takeoff
    FLYING = "armed and flying"  # offboard


def check_mode(bridge: MavlinkBridge, phase: Phase = Phase.GROUND, floor_m: float | None = None) -> CheckResult:
    """GROUND: disarmed, not in OFFBOARD/GUIDED; ARMED: armed on the ground; FLYING: armed above the floor."""
    mode, armed = bridge.mode, bridge.armed
    if phase is not Phase.GROUND:
        state = bridge.rig_state()
        height = None if state is None else float(state.position_m[2])
        if not armed:
            return CheckResult(Check.MODE, False, f"disarmed (mode {mode}): arm first (cinempc mavlink arm)")
        if mode == "offboard" and bridge.autopilot is Autopilot.PX4:
            # a live stream flies it: preflight's timing stream would mix hold setpoints into it
            return CheckResult(Check.MODE, False, "already in OFFBOARD, following a setpoint stream: hold first "
                               "(cinempc mavlink hold)")
        if height is None:
            return CheckResult(Check.MODE, False, "no vehicle position")
        if phase is Phase.ARMED and floor_m is not None and height >= floor_m:
            return CheckResult(Check.MODE, False, f"already flying ({height:.1f} m): takeoff is from the ground")
        if phase is Phase.FLYING and floor_m is not None and height < floor_m:
            return CheckResult(Check.MODE, False, f"at {height:.1f} m, under the fence floor {floor_m:.1f} m: take "
                               "off first (cinempc mavlink takeoff)")
        return CheckResult(Check.MODE, True, f"armed, mode {mode}, {height:.1f} m")
    if armed:
        return CheckResult(Check.MODE, False, f"already ARMED (mode {mode}): preflight is for a disarmed vehicle on "
                           "the ground; land and disarm first")
    if mode == "offboard":
        return CheckResult(Check.MODE, False, "in OFFBOARD/GUIDED before arming: switch to hold/position first")
    return CheckResult(Check.MODE, True, f"disarmed, mode {mode}")


def check_home(bridge: PreflightBridge, site: Site, settings: PreflightSettings,
               phase: Phase = Phase.GROUND) -> tuple[CheckResult, Home | None, ResolvedSite | None]:
    """HOME_POSITION received, near the site's home, inside the polygon; the vehicle standing at it (on the
    ground) or inside the fence (flying)."""
    msg = bridge.request_message(mav.MAVLINK_MSG_ID_HOME_POSITION, 1, "HOME_POSITION", settings.timeout_s)
    if msg is None:
        return CheckResult(Check.HOME, False, f"no HOME_POSITION within {settings.timeout_s:.1f} s: the autopilot "
                           "has no home yet (wait for a 3D GPS fix)"), None, None
    if msg.latitude == 0 and msg.longitude == 0:
        return CheckResult(Check.HOME, False, "HOME_POSITION is 0, 0: home not set (no GPS fix)"), None, None
    home = Home.from_home_position(msg)
    where = f"home {home.lat_deg:.7f}, {home.lon_deg:.7f}, {home.alt_m:.1f} m AMSL"
    if site.home is not None:
        distance = horizontal_distance_m(home, site.home)
        if distance > site.home.tolerance_m:
            return CheckResult(Check.HOME, False, f"{where} is {distance:.1f} m from the site's home (tolerance "
                               f"{site.home.tolerance_m:.1f} m): wrong field, or GPS not settled"), home, None
    try:
        resolved = resolve_site(site, home)
    except ValueError as exc:
        return CheckResult(Check.HOME, False, f"{where}: the fence does not resolve there: {exc}"), home, None
    if not resolved.fence.contains(home.local_enu_m[:2]):
        return CheckResult(Check.HOME, False, f"{where} is outside the site's geofence polygon"), home, resolved
    state = bridge.rig_state()
    if state is None:
        return CheckResult(Check.HOME, False, f"{where}, but no local position from the vehicle"), home, resolved
    offset = math.dist(state.position_m[:2], home.local_enu_m[:2])
    if phase is Phase.FLYING:
        if not resolved.fence.contains(state.position_m[:2]):
            return CheckResult(Check.HOME, False, f"{where}; the vehicle is OUTSIDE the geofence polygon"), home, \
                resolved
        return CheckResult(Check.HOME, True, f"{where}; vehicle inside the polygon, {offset:.1f} m from home"), \
            home, resolved
    if offset > settings.home_max_vehicle_distance_m:
        return CheckResult(Check.HOME, False, f"{where}, but the vehicle stands {offset:.1f} m from it (limit "
                           f"{settings.home_max_vehicle_distance_m:.1f} m): home was set elsewhere; re-set it here"), \
            home, resolved
    return CheckResult(Check.HOME, True, f"{where}; vehicle {offset:.1f} m from it, inside the polygon"), home, resolved


def check_fence(bridge: PreflightBridge, resolved: ResolvedSite, settings: PreflightSettings) -> CheckResult:
    """The autopilot's own fence contains ours (its parameters, per stack)."""
    reach = resolved.fence.max_distance_m(resolved.home.local_enu_m[:2])
    ceiling = resolved.site.geofence.altitude_ceiling_m
    floor = resolved.site.geofence.altitude_floor_m

    def read(name: str) -> float | None:
        return bridge.read_parameter(name, settings.timeout_s)

    if bridge.autopilot is Autopilot.PX4:
        names = ("GF_MAX_HOR_DIST", "GF_MAX_VER_DIST", "GF_ACTION")
        values = {n: read(n) for n in names}
        missing = [n for n, v in values.items() if v is None]
        if missing:
            return CheckResult(Check.FENCE, False, f"the autopilot did not answer {', '.join(missing)}: cannot "
                               "compare fences")
        horizontal, vertical, action = (values[n] for n in names)
        problems = []
        if horizontal <= 0:
            problems.append("its horizontal fence is off (GF_MAX_HOR_DIST = 0)")
        elif reach > horizontal:
            problems.append(f"our polygon reaches {reach:.1f} m from home, beyond its GF_MAX_HOR_DIST "
                            f"{horizontal:.1f} m")
        if vertical <= 0:
            problems.append("its vertical fence is off (GF_MAX_VER_DIST = 0)")
        elif ceiling > vertical:
            problems.append(f"our ceiling {ceiling:.1f} m is above its GF_MAX_VER_DIST {vertical:.1f} m")
        if action < 2:
            problems.append(f"GF_ACTION = {action:.0f} only {'warns' if action == 1 else 'does nothing'} on a breach")
        summary = f"GF_MAX_HOR_DIST {horizontal:.0f} m, GF_MAX_VER_DIST {vertical:.0f} m, GF_ACTION {action:.0f}"
    else:
        names = ("FENCE_ENABLE", "FENCE_TYPE", "FENCE_RADIUS", "FENCE_ALT_MAX", "FENCE_ACTION")
        values = {n: read(n) for n in names}
        missing = [n for n, v in values.items() if v is None]
        if missing:
            return CheckResult(Check.FENCE, False, f"the autopilot did not answer {', '.join(missing)}: cannot "
                               "compare fences")
        enable, kind, radius, alt_max, action = (values[n] for n in names)
        kind = int(kind)
        problems = []
        if enable < 1:
            problems.append("its fence is disabled (FENCE_ENABLE = 0)")
        if kind & 2:
            if reach > radius:
                problems.append(f"our polygon reaches {reach:.1f} m from home, beyond its FENCE_RADIUS {radius:.1f} m")
        elif not kind & 4:
            problems.append(f"FENCE_TYPE {kind} has no horizontal fence (neither circle nor polygon)")
        if kind & 1 and ceiling > alt_max:
            problems.append(f"our ceiling {ceiling:.1f} m is above its FENCE_ALT_MAX {alt_max:.1f} m")
        elif not kind & 1:
            problems.append(f"FENCE_TYPE {kind} has no altitude ceiling")
        if kind & 8:
            alt_min = read("FENCE_ALT_MIN")
            if alt_min is not None and floor < alt_min:
                problems.append(f"our floor {floor:.1f} m is below its FENCE_ALT_MIN {alt_min:.1f} m")
        if action < 1:
            problems.append("FENCE_ACTION = 0 only reports a breach")
        summary = f"FENCE_TYPE {kind}, FENCE_RADIUS {radius:.0f} m, FENCE_ALT_MAX {alt_max:.0f} m"
        if kind & 4:
            summary += " (its inclusion polygon is uploaded with the mission protocol and not compared here)"
    if problems:
        return CheckResult(Check.FENCE, False, "; ".join(problems) + f" ({summary})")
    return CheckResult(Check.FENCE, True, f"ours reaches {reach:.1f} m from home up to {ceiling:.1f} m, inside "
                       f"{summary}")


def site_rally_item(site: Site) -> RallyItem | None:
    """The site's rally point as the autopilot stores it (lat/lon, metres above home); None without one."""
    rally = site.failsafe.rally
    return None if rally is None else RallyItem(rally.position.lat_deg, rally.position.lon_deg, rally.altitude_m)


def check_rally(bridge: MavlinkBridge, site: Site, settings: PreflightSettings) -> CheckResult:
    """The autopilot's rally list is the site's rally point alone (read back with the mission protocol)."""
    wanted = site_rally_item(site)
    try:
        stored = RallyTransfer(bridge).download()
    except MissionError as exc:
        return CheckResult(Check.RALLY, False, f"could not read the autopilot's rally points: {exc}")
    if wanted is None:
        return CheckResult(Check.RALLY, True, f"no rally point in the site file (cinempc's holds stay where they "
                           f"began); the autopilot has {len(stored)} rally point(s) of its own")
    where = f"({wanted.lat_deg:.7f}, {wanted.lon_deg:.7f}, {wanted.altitude_m:g} m above home)"
    upload = "upload it: cinempc mavlink rally --site <the site file>"
    if not stored:
        return CheckResult(Check.RALLY, False, f"the autopilot has no rally point, so its failsafe Return does not go "
                           f"to the site's {where}: {upload}")
    off = min(wanted.distance_m(point) for point in stored)
    if off > settings.rally_tolerance_m:
        return CheckResult(Check.RALLY, False, f"the autopilot's nearest of {len(stored)} rally point(s) is "
                           f"{off:.1f} m from the site's {where} (tolerance {settings.rally_tolerance_m:g} m): "
                           f"{upload}")
    if len(stored) > 1:
        return CheckResult(Check.RALLY, False, f"the site's rally point {where} is one of the autopilot's "
                           f"{len(stored)}: its Return goes to the nearest, which may be another: {upload} alone")
    return CheckResult(Check.RALLY, True, f"the autopilot's rally point is the site's {where}, {off:.2f} m off")


ReadParameter = Callable[[str], float | None]


def judge_action(action: FailsafeAction, read: ReadParameter) -> list[Finding]:
    """One failsafe action and its timeout, by the action's rule (FailsafeAction)."""
    raw = read(action.param)
    if raw is None:
        return [Finding(Grade.FAIL, f"the autopilot did not answer {action.param}: what it does ({action.event}) "
                        "is unknown")]
    value = int(round(raw))
    timeout = read(action.timeout) if action.timeout is not None else None
    when = f"{action.event}" + (f" > {timeout:g} s ({action.timeout})" if timeout is not None and timeout > 0 else "")
    fix = f"set {action.param} to {action.fix} ({action.labels[action.fix]})"
    if value not in action.passes and value not in action.warns:
        return [Finding(Grade.FAIL, f"{action.event}: {action.setting(value)}, unsafe: {fix}")]
    findings = [Finding(Grade.PASS, f"{when}: {action.setting(value)}") if value in action.passes else
                Finding(Grade.WARN, f"{when}: {action.setting(value)}, {action.warn_why} ({fix} for that)")]
    if action.timeout is None or action.max_timeout_s is None:
        return findings
    if timeout is None:
        findings.append(Finding(Grade.WARN, f"{action.timeout} not reported: when {action.param} acts is unknown"))
    elif timeout <= 0:
        findings.append(Finding(Grade.FAIL, f"{action.timeout} = {timeout:g}: {action.param} never acts; set "
                                f"{action.timeout} to at most {action.max_timeout_s:g} s"))
    elif timeout > action.max_timeout_s:
        findings.append(Finding(Grade.WARN, f"{action.timeout} = {timeout:g} s: {action.param} waits longer than "
                                f"{action.max_timeout_s:g} s"))
    return findings


def judge_return_altitude(rules: FailsafeRules, read: ReadParameter, site: Site) -> Finding:
    """The altitude a failsafe Return flies at should lie in the site's altitude band (<= 0: where it is)."""
    name = rules.return_altitude_param
    raw = read(name)
    if raw is None:
        return Finding(Grade.WARN, f"{name} not reported: the altitude a failsafe return flies at is unknown")
    altitude = raw * rules.return_altitude_scale
    floor, ceiling = site.geofence.altitude_floor_m, site.geofence.altitude_ceiling_m
    if altitude <= 0:
        return Finding(Grade.PASS, f"a return keeps its altitude ({name} = {raw:g})")
    if altitude > ceiling:
        return Finding(Grade.WARN, f"{name} = {raw:g}: a return climbs to {altitude:g} m, above the site's ceiling "
                       f"{ceiling:g} m (set it inside {floor:g}-{ceiling:g} m)")
    if altitude < floor:
        return Finding(Grade.WARN, f"{name} = {raw:g}: a return flies at {altitude:g} m, under the site's floor "
                       f"{floor:g} m (set it inside {floor:g}-{ceiling:g} m)")
    return Finding(Grade.PASS, f"a return flies at {altitude:g} m above home ({name} = {raw:g})")


def judge_options(rules: FailsafeRules, read: ReadParameter) -> list[Finding]:
    """A failsafe-exception bitmask with any of the config's warn bits set warns (none: nothing to judge)."""
    if rules.options_param is None:
        return []
    raw = read(rules.options_param)
    if raw is None:
        return [Finding(Grade.WARN, f"{rules.options_param} not reported: its failsafe exceptions are unknown")]
    bits = int(raw) & rules.options_warn_bits
    if not bits:
        return [Finding(Grade.PASS, f"{rules.options_param} = {int(raw)}")]
    return [Finding(Grade.WARN, f"{rules.options_param} = {int(raw)} sets {bits}: {rules.options_why} (clear "
                    f"{bits} for that)")]


def failsafe_result(findings: list[Finding]) -> CheckResult:
    """FAILSAFE's result: fails on any failing finding, warns on any warning, else passes; every finding told."""
    texts = {grade: [f.text for f in findings if f.grade is grade] for grade in Grade}
    if texts[Grade.FAIL]:
        return CheckResult(Check.FAILSAFE, False, "; ".join(texts[Grade.FAIL] + texts[Grade.WARN]))
    if texts[Grade.WARN]:
        return CheckResult(Check.FAILSAFE, True, "warning: " + "; ".join(texts[Grade.WARN]) + "; fine: "
                           + "; ".join(texts[Grade.PASS]), warning=True)
    return CheckResult(Check.FAILSAFE, True, "; ".join(texts[Grade.PASS]))


def check_failsafe(bridge: PreflightBridge, site: Site, settings: PreflightSettings) -> CheckResult:
    """The autopilot's failsafes and Return, read as parameters and judged by config/preflight.yaml's rules."""
    stack = bridge.autopilot.value if bridge.autopilot is not None else None
    rules = settings.failsafe.get(stack) if stack is not None else None
    if rules is None:
        return CheckResult(Check.FAILSAFE, False, f"no failsafe rules for autopilot {stack} in preflight.yaml")

    def read(name: str) -> float | None:
        return bridge.read_parameter(name, settings.timeout_s)

    findings = [finding for action in rules.actions for finding in judge_action(action, read)]
    has_rally = site.failsafe.rally is not None
    findings += [finding for rule in rules.destinations[has_rally] for finding in judge_action(rule, read)]
    findings.append(judge_return_altitude(rules, read, site))
    findings += judge_options(rules, read)
    return failsafe_result(findings)


def check_camera(bridge: PreflightBridge, settings: PreflightSettings) -> tuple[CheckResult, Any]:
    """CAMERA_INFORMATION from the camera, GIMBAL_MANAGER_INFORMATION from the gimbal manager."""
    dialect = bridge.dialect
    assert dialect is not None
    info = bridge.request_message(mav.MAVLINK_MSG_ID_CAMERA_INFORMATION, dialect.camera_component_id,
                                  "CAMERA_INFORMATION", settings.timeout_s)
    gimbal = bridge.request_message(mav.MAVLINK_MSG_ID_GIMBAL_MANAGER_INFORMATION,
                                    dialect.gimbal_manager_component_id, "GIMBAL_MANAGER_INFORMATION",
                                    settings.timeout_s)
    problems = []
    if info is None:
        problems.append(f"the camera (component {dialect.camera_component_id}) did not answer CAMERA_INFORMATION "
                        f"within {settings.timeout_s:.1f} s")
    if gimbal is None:
        problems.append(f"the gimbal manager (component {dialect.gimbal_manager_component_id}) did not answer "
                        f"GIMBAL_MANAGER_INFORMATION within {settings.timeout_s:.1f} s")
    if problems:
        return CheckResult(Check.CAMERA, False, "; ".join(problems)), info
    model = bytes(info.model_name).rstrip(b"\x00").decode("ascii", "replace") if not isinstance(
        info.model_name, str) else info.model_name.rstrip("\x00")
    return CheckResult(Check.CAMERA, True, f"camera '{model}' and gimbal manager (pitch "
                       f"{math.degrees(gimbal.pitch_min):.0f}..{math.degrees(gimbal.pitch_max):.0f} deg) "
                       "answered"), info


def check_lens(info: Any, site: Site, settings: PreflightSettings) -> CheckResult:
    """Sensor size and resolution as the camera reports them vs the site's camera profile; focal length in range."""
    profile = site.camera()
    if info is None:
        return CheckResult(Check.LENS, False, "no CAMERA_INFORMATION to compare with the profile")
    tol = settings.sensor_size_tolerance
    problems = []
    for what, reported, expected in (("sensor width", info.sensor_size_h, profile.sensor_width_mm),
                                     ("sensor height", info.sensor_size_v, profile.sensor_height_mm)):
        if not (math.isfinite(reported) and reported > 0):
            problems.append(f"the camera does not report its {what}")
        elif abs(reported - expected) > tol * expected:
            problems.append(f"{what} {reported:.2f} mm reported, profile {profile.name} says {expected:.2f} mm")
    if (info.resolution_h, info.resolution_v) != (profile.image_width_px, profile.image_height_px) and \
            info.resolution_h > 0:
        problems.append(f"resolution {info.resolution_h}x{info.resolution_v} reported, profile {profile.name} says "
                        f"{profile.image_width_px}x{profile.image_height_px}")
    focal = float(info.focal_length)
    if math.isfinite(focal) and focal > 0 and not (
            profile.focal_length_mm.min - 0.05 <= focal <= profile.focal_length_mm.max + 0.05):
        problems.append(f"focal length {focal:.1f} mm is outside the profile's {profile.focal_length_mm.min:g}-"
                        f"{profile.focal_length_mm.max:g} mm")
    if problems:
        return CheckResult(Check.LENS, False, "; ".join(problems) + ": set camera_profile in the site file to the "
                           "camera on the drone (cinempc optics --list-cameras)")
    return CheckResult(Check.LENS, True, f"{profile.name}: sensor {info.sensor_size_h:.2f} x {info.sensor_size_v:.2f} "
                       f"mm, {info.resolution_h}x{info.resolution_v} px, focal length {focal:.1f} mm in range")


def check_detector(site: Site, settings: PreflightSettings) -> CheckResult:
    """Load the site's detector and time it on the test frame (or a blank frame of the camera's size)."""
    import numpy as np

    params = site.perception_params()
    weights = params.onnx_weights if params.backend == "onnx" else params.weights
    try:
        from cinempc.perception.detector import build_detector

        detector = build_detector(params)
    except Exception as exc:  # noqa: BLE001 -- any load failure is this check's answer
        return CheckResult(Check.DETECTOR, False, f"{params.backend} weights {weights} did not load: {exc}")
    frame_path = site.perception.test_frame
    if frame_path is not None:
        import cv2

        image = cv2.imread(str(frame_path.expanduser()), cv2.IMREAD_COLOR)
        if image is None:
            return CheckResult(Check.DETECTOR, False, f"test_frame {frame_path} could not be read as an image")
        frame = image[..., ::-1].copy()
    else:
        camera = site.camera()
        frame = np.full((camera.image_height_px, camera.image_width_px, 3), 128, dtype=np.uint8)
    detector.detect(frame)  # warm-up: the first run builds the graph
    times, found = [], 0
    for _ in range(settings.detector_runs):
        start = time.perf_counter()
        detections = detector.detect(frame)
        times.append(time.perf_counter() - start)
        found = len(detections)
    worst = max(times)
    budget = 1.0 / params.frame_rate_hz
    timing = f"{1000 * float(np.median(times)):.0f} ms median, {1000 * worst:.0f} ms worst of {len(times)}"
    if worst > budget:
        return CheckResult(Check.DETECTOR, False, f"{weights}: {timing} -- over the {1000 * budget:.0f} ms a "
                           f"{params.frame_rate_hz:g} Hz perception rate allows (onnx backend, smaller "
                           "image_size_px or a faster computer)")
    if frame_path is None:
        return CheckResult(Check.DETECTOR, True, f"{weights} loaded; {timing} on a blank frame (no test_frame in the "
                           "site file: timed only, no detection checked)")
    if found < settings.detector_min_subjects:
        return CheckResult(Check.DETECTOR, False, f"{weights}: {found} people found in test_frame {frame_path} "
                           f"(need {settings.detector_min_subjects}); these weights may not see this field's "
                           "people -- the shipped ones learnt only simulator renders")
    return CheckResult(Check.DETECTOR, True, f"{weights}: {found} people in {frame_path}; {timing}")


def check_stream(bridge: PreflightBridge, settings: PreflightSettings) -> CheckResult:
    """Measured setpoint rate vs the autopilot's needs: its offboard minimum and N setpoints per loss timeout."""
    name = "COM_OF_LOSS_T" if bridge.autopilot is Autopilot.PX4 else "GUID_TIMEOUT"
    loss_timeout = bridge.read_parameter(name, settings.timeout_s)
    if loss_timeout is None:
        return CheckResult(Check.STREAM, False, f"the autopilot did not answer {name}: its offboard-loss timeout "
                           "is unknown")
    if not loss_timeout > 0:
        return CheckResult(Check.STREAM, False, f"{name} = {loss_timeout:g}: the autopilot has no offboard-loss "
                           "failsafe; set it (PX4 default 1 s, ours 0.25 s)")
    required = max(settings.offboard_min_rate_hz, settings.setpoints_per_loss_timeout / loss_timeout)
    try:
        measured = bridge.measure_stream_hz(settings.stream_measure_s)
    except RuntimeError as exc:
        return CheckResult(Check.STREAM, False, f"could not stream: {exc}")
    detail = (f"{measured:.1f} Hz measured over {settings.stream_measure_s:g} s, {required:.1f} Hz needed "
              f"({settings.setpoints_per_loss_timeout:g} setpoints per {name} = {loss_timeout:g} s)")
    if measured < required:
        return CheckResult(Check.STREAM, False, detail + ": raise stream.setpoint_rate_hz or the autopilot's "
                           f"{name}, or unload the companion computer")
    return CheckResult(Check.STREAM, True, detail)


def run_preflight(site: Site, settings: PreflightSettings | None = None, *, detector: bool = True,
                  bridge: PreflightBridge | None = None, link: CheckResult | None = None,
                  phase: Phase = Phase.GROUND,
                  on_result: Callable[[CheckResult], None] | None = None) -> PreflightReport:
    """Every check against the site's autopilot; ``bridge``: an open one to reuse (then it is left open, with
    the site's resolved fence as its geofence gate)."""
    settings = settings or PreflightSettings.load()
    report = PreflightReport()

    def add(result: CheckResult) -> None:
        report.results.append(result)
        if on_result is not None:
            on_result(result)

    own = bridge is None
    if bridge is None:
        bridge, link = connect(site, settings)
    elif link is None:
        link = CheckResult(Check.LINK, bridge.link_ok, "the link opened by the caller")
    add(link)
    try:
        if bridge is None or not link.passed and bridge.autopilot is None:
            for check in (Check.MODE, Check.HOME, Check.FENCE, Check.RALLY, Check.FAILSAFE, Check.CAMERA, Check.LENS,
                          Check.STREAM):
                add(CheckResult(check, False, "not run: no link to the autopilot"))
        else:
            report.autopilot = bridge.autopilot.value if bridge.autopilot else None
            bridge.wait_message("LOCAL_POSITION_NED", timeout_s=settings.timeout_s)
            home_result, report.home, report.resolved = check_home(bridge, site, settings, phase)
            floor = report.resolved.fence.altitude_floor_m if report.resolved else None
            add(check_mode(bridge, phase, floor))
            add(home_result)
            if report.resolved is not None:
                # from now on the link gates every setpoint with the site's box and band
                bridge.vehicle = report.resolved.vehicle
                bridge.supervisor.airspace = report.resolved.vehicle.airspace
                add(check_fence(bridge, report.resolved, settings))
            else:
                add(CheckResult(Check.FENCE, False, "not run: no home to anchor our fence at"))
            add(check_rally(bridge, site, settings))
            add(check_failsafe(bridge, site, settings))
            camera_result, info = check_camera(bridge, settings)
            add(camera_result)
            add(check_lens(info, site, settings))
            mode_result = next(r for r in report.results if r.check is Check.MODE)
            if not mode_result.passed and mode_result.reason.startswith("already in OFFBOARD"):
                add(CheckResult(Check.STREAM, False, "not measured: the vehicle follows another stream"))
            else:
                add(check_stream(bridge, settings))
    finally:
        if own and bridge is not None:
            bridge.close()
    if detector:
        # after the link is closed, never beside it: importing and loading the network holds the interpreter
        # long enough to starve the link's threads (measured: 0 setpoints/s and a "lost" link while it loads)
        add(check_detector(site, settings))
    else:
        add(CheckResult(Check.DETECTOR, True, "not run here (cinempc preflight without --skip-detector loads it)"))
    order = list(Check)
    report.results.sort(key=lambda r: order.index(r.check))
    return report


def upload_rally(site: Site, settings: PreflightSettings | None = None) -> CheckResult:
    """Upload the site's rally point as the autopilot's rally list, then read it back: the RALLY check after it.

    Refused (nothing sent) when the site has no rally point, the link fails, or the point does not resolve inside
    the site's box at the autopilot's own home (site.resolve_rally's rule).
    """
    settings = settings or PreflightSettings.load()
    wanted = site_rally_item(site)
    if wanted is None:
        return CheckResult(Check.RALLY, False, "the site file has no failsafe.rally to upload")
    bridge, link = connect(site, settings)
    if bridge is None or not link.passed:
        if bridge is not None:
            bridge.close()
        return CheckResult(Check.RALLY, False, f"not uploaded: {link.check.value}: {link.reason}")
    try:
        bridge.wait_message("LOCAL_POSITION_NED", timeout_s=settings.timeout_s)
        home, _, resolved = check_home(bridge, site, settings, Phase.FLYING if bridge.armed else Phase.GROUND)
        if resolved is None:
            return CheckResult(Check.RALLY, False, f"not uploaded: {home.check.value}: {home.reason}")
        try:
            RallyTransfer(bridge).upload([wanted])
        except MissionError as exc:
            return CheckResult(Check.RALLY, False, f"upload failed: {exc}")
        return check_rally(bridge, site, settings)
    finally:
        bridge.close()


def anchor_site(site: Site, settings: PreflightSettings | None = None) -> ResolvedSite:
    """The site anchored at the autopilot's own home (connect, read home, disconnect); ValueError says why not.

    Why not the site's ``home``: the local frame is the autopilot's, and only it knows where home lies in it.
    """
    settings = settings or PreflightSettings.load()
    bridge, link = connect(site, settings)
    if bridge is None or not link.passed:
        if bridge is not None:
            bridge.close()
        raise ValueError(f"cannot anchor the site's fence: {link.check.value}: {link.reason}")
    try:
        bridge.wait_message("LOCAL_POSITION_NED", timeout_s=settings.timeout_s)
        result, _, resolved = check_home(bridge, site, settings, Phase.FLYING if bridge.armed else Phase.GROUND)
    finally:
        bridge.close()
    if not result.passed or resolved is None:
        raise ValueError(f"cannot anchor the site's fence: {result.check.value}: {result.reason}")
    return resolved
