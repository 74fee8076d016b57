"""UDP transport of the simulated autopilot: several peers, several components, signing.

Why not ``mavutil.mavudp``: a real autopilot talks to a GCS, a companion
computer and MAVSDK at once, and its autopilot, camera and gimbal each send as
their own component.  This endpoint keeps one parser per peer (MAVLink sequence
and signing streams are per link) and one sender per component id, and sends
every outgoing packet to all peers heard from recently -- like PX4's
``mavlink`` module in "onboard" mode on a UDP port.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from pymavlink.dialects.v20 import ardupilotmega as mav

from cinempc.mavlink.signing import enable_signing, refresh_signing_timestamp

PEER_TIMEOUT_S = 10.0


class _PeerWriter:
    """File-like sink for pymavlink senders: one datagram per packet, to every live peer."""

    def __init__(self, endpoint: UdpEndpoint) -> None:
        self._endpoint = endpoint

    def write(self, buf: bytes) -> None:
        self._endpoint.broadcast(bytes(buf))


class UdpEndpoint:
    """A bound UDP socket speaking MAVLink 2 for several components of one system."""

    def __init__(self, host: str, port: int, system_id: int, component_ids: Iterable[int],
                 signing_key: bytes | None = None, link_id: int = 0,
                 allow_unsigned: Iterable[str] = ("RADIO_STATUS",)) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, int(port)))
        self.sock.settimeout(0.05)
        self.system_id = int(system_id)
        self._signing_key = signing_key
        self._link_id = int(link_id)
        self._allow_unsigned = tuple(allow_unsigned)
        self._peers: dict[tuple[str, int], float] = {}
        self._parsers: dict[tuple[str, int], Any] = {}
        self._lock = threading.Lock()
        writer = _PeerWriter(self)
        self.senders: dict[int, Any] = {}
        for component in component_ids:
            sender = mav.MAVLink(writer, srcSystem=self.system_id, srcComponent=int(component))
            if signing_key is not None:
                enable_signing(sender, signing_key, self._link_id, self._allow_unsigned)
            self.senders[int(component)] = sender
        self.rejected = 0  # unsigned / wrongly signed / corrupt packets dropped
        self.sent = 0
        self.on_new_peer: Callable[[tuple[str, int]], None] | None = None

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.sock.getsockname()[:2]
        return host, port

    def sender(self, component_id: int) -> Any:
        return self.senders[component_id]

    def broadcast(self, packet: bytes) -> None:
        now = time.monotonic()
        with self._lock:
            peers = [addr for addr, seen in self._peers.items() if now - seen < PEER_TIMEOUT_S]
        for addr in peers:
            try:
                self.sock.sendto(packet, addr)
                self.sent += 1
            except OSError:
                pass

    def refresh_signing(self) -> None:
        for sender in self.senders.values():
            refresh_signing_timestamp(sender)

    def receive(self, handler: Callable[[Any, tuple[str, int]], None]) -> None:
        """Wait up to 50 ms for one datagram and hand each decoded message to ``handler``."""
        try:
            data, addr = self.sock.recvfrom(65535)
        except TimeoutError:
            return
        except OSError:
            time.sleep(0.01)
            return
        with self._lock:
            self._peers[addr] = time.monotonic()
            parser = self._parsers.get(addr)
            new_peer = parser is None
            if parser is None:
                parser = mav.MAVLink(None, srcSystem=self.system_id, srcComponent=1)
                parser.robust_parsing = True
                if self._signing_key is not None:
                    enable_signing(parser, self._signing_key, self._link_id, self._allow_unsigned)
                self._parsers[addr] = parser
        if new_peer and self.on_new_peer is not None:
            self.on_new_peer(addr)
        try:
            messages = parser.parse_buffer(data) or []
        except mav.MAVError:
            self.rejected += 1
            return
        for msg in messages:
            if msg.get_type() == "BAD_DATA":
                self.rejected += 1
                continue
            handler(msg, addr)

    def close(self) -> None:
        self.sock.close()
