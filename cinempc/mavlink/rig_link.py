""":class:`MavlinkRigLink`: what a closed-loop runner drives instead of the simulator.

The runner hands it the controller's setpoint every control step and reads the
rig back; everything in between -- geofence gate, hold reasons, link loss,
signing -- is the bridge's business.  ``rig_state()`` is None while the link is
down: a controller must not plan from stale telemetry.
"""

from __future__ import annotations

from cinempc.mavlink.bridge import MavlinkBridge
from cinempc.mavlink.events import SafetyEvent
from cinempc.safety import HOLD_STATUSES
from cinempc.state import RigState, Setpoint


class MavlinkRigLink:
    """The rig behind a :class:`MavlinkBridge`, as a runner sees it."""

    def __init__(self, bridge: MavlinkBridge) -> None:
        self.bridge = bridge

    def send_setpoint(self, setpoint: Setpoint, status: str | None = None, message: str = "") -> Setpoint:
        """Stream this setpoint from now on; returns what is actually sent (a hold if it left the fence).

        ``status``/``message`` are the controller's (MPCResult.status/.message):
        a hold setpoint is logged with them as the reason the director sees.
        """
        reason = None
        if setpoint.hold or (status in HOLD_STATUSES):
            reason = f"{status or 'hold'}{': ' + message if message else ''}"
            if not setpoint.hold:
                from dataclasses import replace

                setpoint = replace(setpoint, hold=True)
        return self.bridge.set_setpoint(setpoint, reason)

    def rig_state(self) -> RigState | None:
        """The measured rig, or None when the link is down or no telemetry arrived yet."""
        if not self.bridge.link_ok:
            return None
        return self.bridge.rig_state()

    @property
    def link_ok(self) -> bool:
        return self.bridge.link_ok

    @property
    def events(self) -> list[SafetyEvent]:
        return self.bridge.event_list

    @property
    def operator_resume_required(self) -> bool:
        """True after a failsafe until the operator resumes (``bridge.operator_start_offboard``)."""
        return self.bridge.supervisor.operator_resume_required
