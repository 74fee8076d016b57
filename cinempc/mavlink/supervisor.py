"""The safety supervisor: what may be sent, and what happens when things go wrong.

Rules (issue #8, docs/hardware.md):

* a setpoint outside the geofence box / altitude band of config/vehicle.yaml is
  never sent: the safety core's one geofence rule (:func:`cinempc.safety.fence`) stops it
  where the vehicle is on the offending axes;
* no telemetry for ``link_timeout_s`` = link lost: stop the offboard stream and
  ask for HOLD/LOITER/BRAKE; the autopilot's own offboard-loss failsafe covers a
  link that is dead in both directions;
* a restored link does NOT resume the stream: it stays latched until the
  operator resumes;
* subject lost / controller failure: hold position, keep the gimbal where it is.

The supervisor is pure logic with an injected clock (no sockets, no threads) so
every rule is unit-tested; :class:`cinempc.mavlink.bridge.MavlinkBridge` calls it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from cinempc.config import Airspace
from cinempc.mavlink.events import EventLog
from cinempc.safety import fence
from cinempc.state import RigState, Setpoint


class SafetySupervisor:
    """Geofence gate, link watchdog and hold latch for one vehicle."""

    def __init__(
        self,
        airspace: Airspace,
        link_timeout_s: float,
        events: EventLog | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not link_timeout_s > 0:
            raise ValueError(f"link_timeout_s must be positive, got {link_timeout_s}")
        self.airspace = airspace
        self.link_timeout_s = float(link_timeout_s)
        self.events = events or EventLog()
        self._clock = clock
        self._last_telemetry_s: float | None = None
        self._link_ok = False
        self.operator_resume_required = False  # latched by link loss; cleared only by the operator
        self._outside_fence = False
        self._holding_reason: str | None = None

    # ------------------------------------------------------------------ link
    def telemetry_received(self) -> None:
        """Call on every message from the autopilot."""
        self._last_telemetry_s = self._clock()

    def update_link(self, streaming: bool = True) -> tuple[bool, str | None]:
        """Re-evaluate the link; returns (link_ok, transition) with transition "lost"/"restored"/None.

        ``streaming``: whether the vehicle was following our setpoints (then it is asked to hold).
        """
        now = self._clock()
        ok = self._last_telemetry_s is not None and now - self._last_telemetry_s <= self.link_timeout_s
        transition = None
        if ok and not self._link_ok:
            if self._last_telemetry_s is not None and self.operator_resume_required:
                self.events.record(
                    "link_restored", "telemetry is back; the shot stays on hold until the operator resumes", "warning"
                )
            else:
                self.events.record("link_up", "autopilot telemetry received", "info")
            transition = "restored"
        elif not ok and self._link_ok:
            silence = now - (self._last_telemetry_s or now)
            self.operator_resume_required = True
            action = "offboard stream stopped, HOLD requested" if streaming else "no offboard stream to stop"
            self.events.record(
                "link_lost", f"no telemetry for {silence:.2f} s (limit {self.link_timeout_s:.2f} s): {action}",
                "critical",
            )
            transition = "lost"
        self._link_ok = ok
        return ok, transition

    @property
    def link_ok(self) -> bool:
        return self._link_ok

    def operator_resume(self) -> None:
        """The operator takes responsibility to continue after a failsafe."""
        if self.operator_resume_required:
            self.events.record("operator_resume", "operator resumed the shot after a failsafe", "info")
        self.operator_resume_required = False

    # ------------------------------------------------------------- setpoints
    def gate(self, setpoint: Setpoint, state: RigState | None, reason: str | None = None) -> Setpoint:
        """The setpoint that may actually be sent for a requested one.

        The geofence is the safety core's one rule (:func:`cinempc.safety.fence`): on each axis the
        request leaves the box, the setpoint stops where the vehicle is and outward motion is removed.
        A hold request (``setpoint.hold``) is logged once per episode with its reason.
        """
        fenced, outside = fence(setpoint, self.airspace, state.position_m if state is not None else None)
        if outside:
            if not self._outside_fence:
                p = setpoint.position_m
                self.events.record(
                    "geofence",
                    f"setpoint ({p[0]:.1f}, {p[1]:.1f}, {p[2]:.1f}) m is outside the geofence/altitude band: "
                    "stopped at the vehicle's position on the offending axes",
                    "warning",
                )
            self._outside_fence = True
            setpoint = fenced
        elif self._outside_fence:
            self.events.record("geofence_clear", "setpoints are inside the geofence again", "info")
            self._outside_fence = False
        if setpoint.hold:
            why = reason or "controller requested a hold"
            if self._holding_reason != why:
                self.events.record("hold", f"holding position, gimbal kept: {why}", "warning")
            self._holding_reason = why
        elif self._holding_reason is not None:
            self.events.record("hold_released", "controller tracking again", "info")
            self._holding_reason = None
        return setpoint
