"""Operator commands without ROS: arm, take off, offboard, hold, land -- each behind preflight.

Rules (docs/first_flight.md):

* arm, takeoff and offboard run the preflight checks first (all but the detector, which ``cinempc preflight``
  covers) for the phase they start from, and are refused with every failed check's reason;
* arming is an explicit operator act: it needs ``confirm`` (``--confirm``, or typing ARM at the prompt); nothing
  else arms, and takeoff/offboard refuse a disarmed vehicle;
* a first take-off goes no higher than ``takeoff_max_altitude_m`` and stays inside the site's altitude band;
* hold and land are never refused: they are what an operator does when something is wrong;
* offboard holds where the vehicle is for ``hold_s`` (the hand-over test), then asks for HOLD before the
  stream stops -- the autopilot's offboard-loss failsafe would do it anyway, later.

Each command is a second MAVLink client beside the bridge node (its own ids and signing link, as a ground
station), so it works whether or not ``cinempc up drone`` is running.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from cinempc.preflight import Phase, PreflightBridge, PreflightReport, PreflightSettings, connect, run_preflight
from cinempc.site import Site


class Action(StrEnum):
    """The operator's commands."""

    ARM = "arm"
    TAKEOFF = "takeoff"
    OFFBOARD = "offboard"
    HOLD = "hold"
    LAND = "land"


PHASE = {Action.ARM: Phase.GROUND, Action.TAKEOFF: Phase.ARMED, Action.OFFBOARD: Phase.FLYING}


@dataclass(frozen=True)
class Outcome:
    """What a command did: ``done`` False with the reason when it was refused or the autopilot said no."""

    action: Action
    done: bool
    message: str
    report: PreflightReport | None = None


def _wait(predicate: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def _height(bridge: PreflightBridge) -> float:
    state = bridge.rig_state()
    return math.nan if state is None else float(state.position_m[2])


def operate(site: Site, action: Action, *, confirm: bool = False, altitude_m: float | None = None,
            hold_s: float = 5.0, settings: PreflightSettings | None = None,
            on_result: Callable | None = None,
            handover: Callable[[PreflightBridge], tuple[bool, str]] | None = None) -> Outcome:
    """Run one operator command against the site's autopilot (see the module rules).

    ``handover`` (offboard only): after preflight passes, start OFFBOARD through it -- the bridge node's
    service while the graph flies -- instead of this command's own hold stream.
    """
    settings = settings or PreflightSettings.load()
    action = Action(action)
    if action is Action.ARM and not confirm:
        return Outcome(action, False, "arm refused: arming is an explicit operator act -- pass --confirm (or type "
                       "ARM at the prompt)")
    if action is Action.TAKEOFF:
        if altitude_m is None or not math.isfinite(altitude_m):
            return Outcome(action, False, "takeoff refused: give --altitude in metres above home")
        band = (site.geofence.altitude_floor_m, min(site.geofence.altitude_ceiling_m, settings.takeoff_max_altitude_m))
        if not band[0] <= altitude_m <= band[1]:
            return Outcome(action, False, f"takeoff refused: {altitude_m:g} m is outside {band[0]:g}-{band[1]:g} m "
                           "(the site's altitude floor up to preflight.takeoff_max_altitude_m for a first hover)")
    bridge, link = connect(site, settings)
    if bridge is None:
        return Outcome(action, False, f"{action.value} refused: {link.check.value}: {link.reason}")
    try:
        if action in (Action.HOLD, Action.LAND):
            return _safety_action(bridge, action, settings)
        report = run_preflight(site, settings, detector=False, bridge=bridge, link=link, phase=PHASE[action],
                               on_result=on_result)
        if not report.passed:
            return Outcome(action, False, report.refusal(action.value), report)
        if action is Action.ARM:
            result = bridge.operator_arm(True)
            ok = result.accepted and _wait(lambda: bridge.armed, settings.timeout_s)
            return Outcome(action, ok, f"arm -> {result.result}" + ("; ARMED" if ok else "; the autopilot did not "
                           "arm (its own pre-arm checks: see its messages)"), report)
        if action is Action.TAKEOFF:
            result = bridge.operator_takeoff(float(altitude_m))
            if not result.accepted:
                return Outcome(action, False, f"takeoff -> {result.result}", report)
            reached = _wait(lambda: abs(_height(bridge) - altitude_m) < 0.3, settings.takeoff_timeout_s)
            return Outcome(action, reached, f"takeoff -> {result.result}; " + (
                f"in hover at {_height(bridge):.2f} m, mode {bridge.mode}" if reached else
                f"at {_height(bridge):.2f} m after {settings.takeoff_timeout_s:g} s, not {altitude_m:g} m"), report)
        if handover is not None:
            ok, message = handover(bridge)
            return Outcome(action, ok, f"offboard (bridge node) {message}", report)
        result = bridge.operator_start_offboard()
        if not result.accepted:
            return Outcome(action, False, f"offboard -> {result.result}: the autopilot refused OFFBOARD/GUIDED", report)
        start = bridge.rig_state()
        time.sleep(hold_s)
        end = bridge.rig_state()
        held_in_offboard = bridge.mode == "offboard"
        drift = math.dist(start.position_m, end.position_m) if start is not None and end is not None else math.nan
        hold = bridge.operator_hold()
        return Outcome(action, held_in_offboard, f"offboard -> {result.result}; held {hold_s:g} s in "
                       f"{'OFFBOARD' if held_in_offboard else bridge.mode} (drift {drift:.2f} m), then hold -> "
                       f"{hold.result}", report)
    finally:
        bridge.close()


def _safety_action(bridge: PreflightBridge, action: Action, settings: PreflightSettings) -> Outcome:
    if action is Action.HOLD:
        result = bridge.operator_hold()
        return Outcome(action, result.accepted, f"hold -> {result.result}; mode {bridge.mode}")
    result = bridge.operator_land()
    if not result.accepted:
        return Outcome(action, False, f"land -> {result.result}")
    landed = _wait(lambda: not bridge.armed, settings.takeoff_timeout_s)
    return Outcome(action, landed, f"land -> {result.result}; " + (
        f"landed and disarmed at {_height(bridge):.2f} m" if landed else
        f"still armed at {_height(bridge):.2f} m after {settings.takeoff_timeout_s:g} s"))
