"""The MAVLink mission protocol for rally points: upload the site's rally point, read the autopilot's back.

Rules (https://mavlink.io/en/services/mission.html, mission type ``MAV_MISSION_TYPE_RALLY``):

* a rally point is one ``MISSION_ITEM_INT`` with ``MAV_CMD_NAV_RALLY_POINT``, latitude/longitude in degE7 and
  the altitude in metres above home (``MAV_FRAME_GLOBAL_RELATIVE_ALT``): :class:`RallyItem`, the one wire form
  the client and the simulated autopilot share;
* upload: ``MISSION_COUNT`` -> the autopilot asks for each item (``MISSION_REQUEST_INT``, or the older
  ``MISSION_REQUEST``) -> ``MISSION_ITEM_INT`` -> ``MISSION_ACK``; the list replaces the autopilot's rally list;
  only ``MAV_MISSION_ACCEPTED`` after the last item is success, any other ack is the autopilot's refusal;
* download: ``MISSION_REQUEST_LIST`` -> ``MISSION_COUNT`` -> ``MISSION_REQUEST_INT`` per item ->
  ``MISSION_ITEM_INT`` -> our ``MISSION_ACK``;
* UDP may lose any packet: a step with no answer within ``command_timeout_s`` resends its last message, up to
  ``command_retries`` times (config/mavlink.yaml), then :class:`MissionError` says which step went unanswered.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cinempc.mavlink.bridge import mav

if TYPE_CHECKING:
    from cinempc.mavlink.bridge import MavlinkBridge

RALLY = mav.MAV_MISSION_TYPE_RALLY
RALLY_FRAME = mav.MAV_FRAME_GLOBAL_RELATIVE_ALT


class MissionError(RuntimeError):
    """A rally transfer that failed: the step that went unanswered, or the autopilot's refusal."""


def mission_result_name(value: int) -> str:
    """``MAV_MISSION_ACCEPTED`` ... from a MISSION_ACK's ``type``."""
    entry = mav.enums["MAV_MISSION_RESULT"].get(int(value))
    return entry.name if entry else str(value)


@dataclass(frozen=True)
class RallyItem:
    """One rally point as the autopilot stores it: WGS-84 degrees and metres above home."""

    lat_deg: float
    lon_deg: float
    altitude_m: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.lat_deg) and -90.0 <= self.lat_deg <= 90.0
                and math.isfinite(self.lon_deg) and -180.0 <= self.lon_deg <= 180.0
                and math.isfinite(self.altitude_m)):
            raise ValueError(f"a rally point needs a finite lat/lon in range and altitude, got {self!r}")

    def send(self, link: Any, target_system: int, target_component: int, seq: int) -> None:
        """Send it as MISSION_ITEM_INT number ``seq`` of the rally list on a pymavlink ``MAVLink`` object."""
        link.mission_item_int_send(target_system, target_component, seq, RALLY_FRAME, mav.MAV_CMD_NAV_RALLY_POINT,
                                   0, 0, 0.0, 0.0, 0.0, 0.0, round(self.lat_deg * 1e7), round(self.lon_deg * 1e7),
                                   float(self.altitude_m), RALLY)

    @classmethod
    def from_message(cls, msg: Any) -> RallyItem:
        """From a MISSION_ITEM_INT; ValueError names what is not a rally point above home."""
        if int(msg.command) != mav.MAV_CMD_NAV_RALLY_POINT:
            raise ValueError(f"item {msg.seq} is command {int(msg.command)}, not MAV_CMD_NAV_RALLY_POINT")
        if int(msg.frame) not in (mav.MAV_FRAME_GLOBAL_RELATIVE_ALT, mav.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT):
            raise ValueError(f"item {msg.seq} has frame {int(msg.frame)}, not an altitude above home")
        return cls(msg.x * 1e-7, msg.y * 1e-7, float(msg.z))

    def distance_m(self, other: RallyItem) -> float:
        """Straight-line distance to another rally point (local tangent plane: fine over a field)."""
        north = math.radians(other.lat_deg - self.lat_deg) * 6_378_137.0
        east = math.radians(other.lon_deg - self.lon_deg) * 6_378_137.0 * math.cos(math.radians(self.lat_deg))
        return math.sqrt(north * north + east * east + (other.altitude_m - self.altitude_m) ** 2)


class RallyTransfer:
    """Rally-list upload and download over an open :class:`MavlinkBridge` (its timeouts and retries)."""

    def __init__(self, bridge: MavlinkBridge, component: int = 1) -> None:
        self.bridge = bridge
        self.component = int(component)
        self.timeout_s = bridge.command_timeout_s
        self.retries = bridge.command_retries

    def _answer(self, wanted: set[str], resend: Any, step: str, accept: Any = None) -> Any:
        """The next rally message of a ``wanted`` kind (and ``accept(msg)``), resending ``resend`` on silence."""
        for attempt in range(self.retries + 1):
            if attempt:
                self.bridge.send(resend)
            while True:
                msg = self.bridge.mission_message(self.timeout_s)
                if msg is None:
                    break
                if int(getattr(msg, "mission_type", 0)) != RALLY or msg.get_type() not in wanted:
                    continue
                if accept is None or accept(msg):
                    return msg
        raise MissionError(f"no answer to {step} within {self.retries + 1} x {self.timeout_s:g} s")

    def upload(self, items: list[RallyItem]) -> None:
        """Replace the autopilot's rally list with ``items`` (MissionError says why not)."""
        target = self.bridge.target_system
        self.bridge.clear_mission_messages()

        def count(link: Any) -> None:
            link.mission_count_send(target, self.component, len(items), RALLY)

        last, step, sent = count, f"MISSION_COUNT {len(items)} (rally)", set()
        self.bridge.send(last)
        while True:
            msg = self._answer({"MISSION_REQUEST_INT", "MISSION_REQUEST", "MISSION_ACK"}, last, step)
            if msg.get_type() == "MISSION_ACK":
                if msg.type != mav.MAV_MISSION_ACCEPTED:
                    raise MissionError(f"the autopilot refused the rally list: {mission_result_name(msg.type)}")
                if len(sent) == len(items):
                    return
                continue  # an early ACCEPTED belongs to no item of ours: keep waiting
            seq = int(msg.seq)
            if not 0 <= seq < len(items):
                raise MissionError(f"the autopilot asked for rally item {seq} of {len(items)}")

            def item(link: Any, seq: int = seq) -> None:
                items[seq].send(link, target, self.component, seq)

            last, step = item, f"rally item {seq}"
            sent.add(seq)
            self.bridge.send(last)

    def download(self) -> list[RallyItem]:
        """The autopilot's rally list (MissionError says which step failed or which item is not a rally point)."""
        target = self.bridge.target_system
        self.bridge.clear_mission_messages()

        def request_list(link: Any) -> None:
            link.mission_request_list_send(target, self.component, RALLY)

        self.bridge.send(request_list)
        count = int(self._answer({"MISSION_COUNT"}, request_list, "MISSION_REQUEST_LIST (rally)").count)
        items = []
        for seq in range(count):
            def request(link: Any, seq: int = seq) -> None:
                link.mission_request_int_send(target, self.component, seq, RALLY)

            self.bridge.send(request)
            msg = self._answer({"MISSION_ITEM_INT"}, request, f"MISSION_REQUEST_INT {seq} (rally)",
                               accept=lambda m, seq=seq: int(m.seq) == seq)
            try:
                items.append(RallyItem.from_message(msg))
            except ValueError as exc:
                raise MissionError(f"the autopilot's rally list: {exc}") from None
        self.bridge.send(lambda link: link.mission_ack_send(target, self.component, mav.MAV_MISSION_ACCEPTED, RALLY))
        return items
