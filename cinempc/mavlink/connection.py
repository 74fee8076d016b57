"""Connection URLs -> pymavlink links (UDP in/out, TCP client/server, serial).

Why our own parser: pymavlink guesses from the string and reads
``/dev/ttyACM0:921600`` as a UDP address; a flight link must either open what
the operator meant or fail with a message that says what is wrong.

Accepted forms (pymavlink's and MAVSDK's spellings):

* ``udpin:HOST:PORT`` / ``udpin://HOST:PORT`` -- listen (the autopilot sends to us, PX4 onboard style)
* ``udpout:HOST:PORT`` / ``udpout://HOST:PORT`` -- send first (the peer answers to our address)
* ``tcp:HOST:PORT`` / ``tcp://HOST:PORT`` -- TCP client (SITL, routers); ``tcpin:HOST:PORT`` -- TCP server
* ``serial:/dev/ttyACM0:921600``, ``serial:///dev/ttyACM0:921600``, ``/dev/ttyTHS1:921600``, ``COM3:57600``,
  or a bare device (``/dev/ttyACM0``, at :data:`DEFAULT_BAUD`)
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

DEFAULT_BAUD = 921600
_NETWORK = ("udpin", "udpout", "tcp", "tcpin")


@dataclass(frozen=True)
class LinkAddress:
    """A parsed connection URL."""

    kind: str  # udpin | udpout | tcp | tcpin | serial
    device: str  # HOST:PORT for network links, the device path for serial
    baud: int | None = None

    @property
    def pymavlink_device(self) -> str:
        return self.device if self.kind == "serial" else f"{self.kind}:{self.device}"


def parse_url(url: str) -> LinkAddress:
    """Parse a connection URL; raises ValueError naming what is wrong."""
    if not isinstance(url, str) or not url.strip():
        raise ValueError("empty MAVLink connection URL")
    text = url.strip()
    scheme, sep, rest = text.partition(":")
    scheme = scheme.lower()
    if sep and scheme in _NETWORK:
        rest = rest[2:] if rest.startswith("//") else rest
        host, colon, port = rest.rpartition(":")
        if not colon or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{url!r}: expected {scheme}:HOST:PORT with a port in 1..65535")
        return LinkAddress(scheme, f"{host or '0.0.0.0'}:{int(port)}")
    if scheme == "serial":
        text = rest[2:] if rest.startswith("//") else rest
    elif sep and not text.startswith("/") and not re.fullmatch(r"com\d+", scheme):
        raise ValueError(f"{url!r}: unknown link type {scheme!r}; use udpin:, udpout:, tcp:, tcpin: or serial:")
    device, colon, baud = text.rpartition(":")
    if not colon or not baud.isdigit():
        device, baud = text, str(DEFAULT_BAUD)
    if not device:
        raise ValueError(f"{url!r}: no serial device given")
    if int(baud) <= 0:
        raise ValueError(f"{url!r}: baud rate must be positive")
    return LinkAddress("serial", device, int(baud))


def open_link(url: str, system_id: int, component_id: int) -> Any:
    """A pymavlink connection for ``url`` speaking MAVLink 2 with the ``ardupilotmega`` dialect."""
    os.environ.setdefault("MAVLINK20", "1")
    from pymavlink import mavutil

    address = parse_url(url)
    return mavutil.mavlink_connection(
        address.pymavlink_device, baud=address.baud or DEFAULT_BAUD, source_system=system_id,
        source_component=component_id, dialect="ardupilotmega", autoreconnect=address.kind in ("tcp", "serial"),
    )
