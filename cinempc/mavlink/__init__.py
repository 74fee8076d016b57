"""MAVLink deployment: the bridge between cinempc setpoints and a PX4/ArduPilot vehicle.

* :mod:`~cinempc.mavlink.frames` -- the one ENU <-> NED conversion;
* :mod:`~cinempc.mavlink.autopilots` -- PX4/ArduPilot detection, modes, type_mask;
* :mod:`~cinempc.mavlink.lens` -- zoom/focus percentages through the camera profile;
* :mod:`~cinempc.mavlink.signing` -- MAVLink 2 signing key and policy;
* :mod:`~cinempc.mavlink.supervisor` / :mod:`~cinempc.mavlink.events` -- safety reactions with reasons;
* :mod:`~cinempc.mavlink.bridge` -- connection, heartbeat, setpoint/gimbal/camera streaming, telemetry;
* :mod:`~cinempc.mavlink.rig_link` -- :class:`MavlinkRigLink`, what a closed-loop runner drives;
* :mod:`~cinempc.mavlink.mission` -- the rally-point mission protocol (upload, read back).
* :mod:`~cinempc.mavlink.params` -- PARAM_VALUE's float as meant (PX4 packs integers bytewise).

Importing :mod:`cinempc.mavlink.bridge` selects MAVLink 2 for pymavlink (``MAVLINK20=1``).
"""

from cinempc.mavlink.autopilots import Autopilot, AutopilotDialect, detect_autopilot
from cinempc.mavlink.events import EventLog, SafetyEvent
from cinempc.mavlink.frames import enu_to_ned, ned_to_enu, yaw_enu_to_ned, yaw_ned_to_enu
from cinempc.mavlink.lens import LensMapping
from cinempc.mavlink.signing import SigningKeyError, load_signing_key, write_signing_key
from cinempc.mavlink.supervisor import SafetySupervisor

__all__ = [
    "Autopilot",
    "AutopilotDialect",
    "EventLog",
    "LensMapping",
    "SafetyEvent",
    "SafetySupervisor",
    "SigningKeyError",
    "detect_autopilot",
    "enu_to_ned",
    "load_mavlink_params",
    "load_signing_key",
    "ned_to_enu",
    "write_signing_key",
    "yaw_enu_to_ned",
    "yaw_ned_to_enu",
]


def load_mavlink_params(name: str = "mavlink.yaml") -> dict:
    """The ``config/mavlink.yaml`` parameters."""
    from cinempc.config import load_parameters

    return load_parameters(name)
