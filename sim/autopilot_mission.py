"""The simulated autopilot's rally list: its half of the MAVLink mission protocol, for ``MAV_MISSION_TYPE_RALLY``.

As PX4 and ArduPilot answer it: an upload (``MISSION_COUNT``) is answered with ``MISSION_REQUEST_INT`` for each
item in turn, an item out of turn is asked for again, and the list is replaced only when the last item arrived
(``MISSION_ACK`` ``MAV_MISSION_ACCEPTED``); more items than it can store is ``MAV_MISSION_NO_SPACE``, an item that
is not a rally point ``MAV_MISSION_UNSUPPORTED``, one not above home ``MAV_MISSION_UNSUPPORTED_FRAME``.  A download
(``MISSION_REQUEST_LIST``) gets the count, then each item asked for.  The wire form is the client's own
(:class:`cinempc.mavlink.mission.RallyItem`).  The list is stored, not flown: the simulated return mode holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pymavlink.dialects.v20 import ardupilotmega as mav

from cinempc.mavlink.mission import RALLY, RallyItem

RELATIVE_FRAMES = (mav.MAV_FRAME_GLOBAL_RELATIVE_ALT, mav.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT)


@dataclass
class _Upload:
    """A rally upload in progress: who sends it, how many items, those received in order."""

    partner: tuple[int, int]
    count: int
    items: list[RallyItem] = field(default_factory=list)


class SimRallyList:
    """The rally points a simulated autopilot stores, and the mission protocol that reads and writes them."""

    def __init__(self, sender: Any, capacity: int) -> None:
        self.sender = sender  # the autopilot component's pymavlink MAVLink
        self.capacity = int(capacity)
        self.points: list[RallyItem] = []
        self.uploads = 0  # completed uploads
        self._upload: _Upload | None = None
        self._last_partner: tuple[int, int] | None = None

    def handle(self, kind: str, msg: Any, partner: tuple[int, int]) -> bool:
        """Answer one mission-protocol message of the rally type; False when it is not one."""
        if int(getattr(msg, "mission_type", -1)) != RALLY and not (
                kind == "MISSION_CLEAR_ALL" and msg.mission_type == mav.MAV_MISSION_TYPE_ALL):
            return False
        if kind == "MISSION_COUNT":
            self._on_count(int(msg.count), partner)
        elif kind == "MISSION_ITEM_INT":
            self._on_item(msg, partner)
        elif kind == "MISSION_REQUEST_LIST":
            self.sender.mission_count_send(partner[0], partner[1], len(self.points), RALLY)
        elif kind in ("MISSION_REQUEST_INT", "MISSION_REQUEST"):
            seq = int(msg.seq)
            if 0 <= seq < len(self.points):
                self.points[seq].send(self.sender, partner[0], partner[1], seq)
            else:
                self._ack(partner, mav.MAV_MISSION_INVALID_SEQUENCE)
        elif kind == "MISSION_CLEAR_ALL":
            self.points, self._upload = [], None
            self._ack(partner, mav.MAV_MISSION_ACCEPTED, int(msg.mission_type))  # RALLY or ALL, as asked
        elif kind != "MISSION_ACK":  # a download's closing ack needs no answer
            return False
        return True

    def _ack(self, partner: tuple[int, int], result: int, mission_type: int = RALLY) -> None:
        self.sender.mission_ack_send(partner[0], partner[1], result, mission_type)

    def _request(self, partner: tuple[int, int], seq: int) -> None:
        self.sender.mission_request_int_send(partner[0], partner[1], seq, RALLY)

    def _on_count(self, count: int, partner: tuple[int, int]) -> None:
        self._upload = None
        if count > self.capacity:
            self._ack(partner, mav.MAV_MISSION_NO_SPACE)
        elif count == 0:
            self._store([], partner)
        else:
            self._upload = _Upload(partner, count)
            self._request(partner, 0)

    def _on_item(self, msg: Any, partner: tuple[int, int]) -> None:
        upload = self._upload
        seq = int(msg.seq)
        if upload is None or upload.partner != partner:
            # the last item again: our ACCEPTED was lost on the way, say it again
            if partner == self._last_partner and self.points and seq == len(self.points) - 1:
                self._ack(partner, mav.MAV_MISSION_ACCEPTED)
            return
        if seq != len(upload.items):
            self._request(partner, len(upload.items))  # out of turn: ask for the one expected
            return
        if int(msg.command) != mav.MAV_CMD_NAV_RALLY_POINT:
            problem = mav.MAV_MISSION_UNSUPPORTED
        elif int(msg.frame) not in RELATIVE_FRAMES:
            problem = mav.MAV_MISSION_UNSUPPORTED_FRAME
        else:
            try:
                upload.items.append(RallyItem.from_message(msg))
                problem = None
            except ValueError:
                problem = mav.MAV_MISSION_INVALID
        if problem is not None:
            self._upload = None
            self._ack(partner, problem)
        elif len(upload.items) == upload.count:
            self._store(upload.items, partner)
        else:
            self._request(partner, len(upload.items))

    def _store(self, items: list[RallyItem], partner: tuple[int, int]) -> None:
        self.points, self._upload, self._last_partner = list(items), None, partner
        self.uploads += 1
        self._ack(partner, mav.MAV_MISSION_ACCEPTED)
