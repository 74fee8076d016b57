"""Pairing token, bind address and abuse limits of the director's web app.

Why a token and not a login: the tablet pairs with one drone for one shoot, so a
random token shown in the terminal (like a Bluetooth pairing code) is enough and
needs no user database.  It travels in the ``X-Director-Token`` header (or
``Authorization: Bearer``) on every HTTP call and as the FIRST WebSocket message
-- never in a cookie (a cookie is sent by the browser on cross-site requests, a
header is not) and never in a query string (it would land in server and proxy
logs and in the browser history).
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cinempc.config import load_parameters

log = logging.getLogger("cinempc.director")

TOKEN_HEADER = "X-Director-Token"
TOKEN_ALPHABET_HINT = "letters, digits, '-' and '_'"


class DirectorConfigError(ValueError):
    """A director setting that would make the app unsafe or unusable."""


@dataclass(frozen=True)
class DirectorSettings:
    """Everything in ``config/director.yaml``, validated."""

    host: str = "127.0.0.1"
    port: int = 8765
    token: str = ""
    token_min_length: int = 16
    auth_timeout_s: float = 5.0
    max_command_chars: int = 500
    max_message_bytes: int = 4096
    command_rate_per_s: float = 2.0
    command_burst: int = 6
    max_name_chars: int = 40
    frame_rate_hz: float = 10.0
    state_rate_hz: float = 10.0
    jpeg_quality: int = 75
    history_length: int = 50
    event_length: int = 50
    default_shot_duration_s: float = 8.0
    tls_certfile: str = ""  # PEM certificate chain: serve HTTPS/WSS (an open set network sniffs plain HTTP)
    tls_keyfile: str = ""  # its private key
    operator_site: str = ""  # a site file: adds the operator panel (cinempc/director/operator_panel.py)
    operator_token: str = ""  # its own token ("" = generate one at start, printed apart from the pairing token)
    operator_offboard_via_ros: bool = False  # panel's offboard asks the bridge node (drone graph), not its own stream

    def __post_init__(self) -> None:
        positive = (
            "auth_timeout_s", "max_command_chars", "max_message_bytes", "command_rate_per_s", "command_burst",
            "max_name_chars", "frame_rate_hz", "state_rate_hz", "history_length", "event_length",
            "default_shot_duration_s", "token_min_length",
        )
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
                raise DirectorConfigError(f"director setting {name} must be a positive number, got {value!r}")
        if not 0 <= self.port <= 65535:
            raise DirectorConfigError(f"director port {self.port} is not a TCP port (0-65535; 0 = any free port)")
        if not 1 <= self.jpeg_quality <= 100:
            raise DirectorConfigError(f"director jpeg_quality {self.jpeg_quality} must be 1-100")
        if self.max_command_chars * 4 + 256 > self.max_message_bytes:
            raise DirectorConfigError(
                "director max_message_bytes must hold a command of max_command_chars UTF-8 characters "
                f"plus its envelope: raise it to at least {self.max_command_chars * 4 + 256}"
            )
        if self.token:
            check_token_strength(self.token, self.token_min_length)
        if self.operator_token:
            check_token_strength(self.operator_token, self.token_min_length)
        if self.operator_site and not Path(self.operator_site).expanduser().is_file():
            raise DirectorConfigError(f"director operator_site {self.operator_site!r} is not a file")
        if bool(self.tls_certfile) != bool(self.tls_keyfile):
            raise DirectorConfigError("director TLS needs both tls_certfile and tls_keyfile (or neither)")
        for name in ("tls_certfile", "tls_keyfile"):
            path = getattr(self, name)
            if path and not Path(path).is_file():
                raise DirectorConfigError(f"director {name} {path!r} is not a file")

    @property
    def scheme(self) -> str:
        """``https`` with a TLS certificate, else ``http``."""
        return "https" if self.tls_certfile else "http"

    @property
    def loopback_only(self) -> bool:
        """True when only this machine can reach the app."""
        return is_loopback(self.host)


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load_director_settings(name: str = "director.yaml", **overrides: Any) -> DirectorSettings:
    """Settings from the parameter file, with keyword overrides (CLI flags); ``None`` overrides are ignored."""
    params = load_parameters(name)
    flat: dict[str, Any] = {}
    for section in ("server", "security", "live", "queue"):
        flat.update(params.get(section, {}) or {})
    flat.update({key: value for key, value in overrides.items() if value is not None})
    known = set(DirectorSettings.__dataclass_fields__)
    unknown = sorted(set(flat) - known)
    if unknown:
        raise DirectorConfigError(f"{name}: unknown director settings {unknown}; known: {sorted(known)}")
    for key in ("token", "tls_certfile", "tls_keyfile", "operator_site", "operator_token"):
        flat[key] = "" if flat.get(key) is None else str(flat[key])
    return DirectorSettings(**flat)


def check_token_strength(token: str, min_length: int) -> None:
    """Refuse short or odd tokens: the token is the only thing between the set Wi-Fi and the drone."""
    if len(token) < min_length:
        raise DirectorConfigError(f"director token is {len(token)} characters; use at least {min_length}")
    if len(token) > 256 or not all(c.isascii() and (c.isalnum() or c in "-_") for c in token):
        raise DirectorConfigError(f"director token may only use {TOKEN_ALPHABET_HINT} (at most 256 characters)")


def generate_token() -> str:
    """A fresh 192-bit pairing token, URL-safe so it fits in a link fragment."""
    return secrets.token_urlsafe(24)


class PairingToken:
    """The shared secret; comparisons are constant time so timing does not leak it."""

    def __init__(self, token: str = "", min_length: int = 16) -> None:
        if token:
            check_token_strength(token, min_length)
            self._token = token
            self.generated = False
        else:
            self._token = generate_token()
            self.generated = True

    @property
    def value(self) -> str:
        """The token itself (for the log line and the pairing link)."""
        return self._token

    def check(self, presented: str | None) -> bool:
        """True if ``presented`` is the token."""
        if not isinstance(presented, str) or not presented:
            return False
        return hmac.compare_digest(presented.encode("utf-8", "replace"), self._token.encode("utf-8"))

    def from_headers(self, headers: Any) -> bool:
        """True if the request headers carry the token (``X-Director-Token`` or ``Authorization: Bearer``)."""
        presented = headers.get(TOKEN_HEADER)
        if presented is None:
            auth = headers.get("Authorization") or ""
            scheme, _, value = auth.partition(" ")
            presented = value.strip() if scheme.lower() == "bearer" else None
        return self.check(presented)


@dataclass
class _Bucket:
    tokens: float
    stamp_s: float


@dataclass
class CommandRateLimiter:
    """Token bucket per client: a stuck key or a script cannot flood the drone with shot changes.

    HOLD is never passed through here (a safety stop must always get through).
    """

    rate_per_s: float
    burst: int
    clock: Any = time.monotonic
    _buckets: dict[str, _Bucket] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def allow(self, client: str) -> bool:
        """Take one command from ``client``'s bucket; False if it is empty."""
        now = self.clock()
        with self._lock:
            bucket = self._buckets.get(client)
            if bucket is None:
                bucket = self._buckets[client] = _Bucket(float(self.burst), now)
                if len(self._buckets) > 1024:  # forget the oldest clients, never grow without bound
                    for key in sorted(self._buckets, key=lambda k: self._buckets[k].stamp_s)[:512]:
                        if key != client:
                            del self._buckets[key]
            bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.stamp_s) * self.rate_per_s)
            bucket.stamp_s = now
            if bucket.tokens < 1.0:
                return False
            bucket.tokens -= 1.0
            return True

    def retry_after_s(self, client: str) -> float:
        """Seconds until ``client`` may send the next command."""
        with self._lock:
            bucket = self._buckets.get(client)
            if bucket is None or bucket.tokens >= 1.0:
                return 0.0
            return (1.0 - bucket.tokens) / self.rate_per_s


def base_url(host: str, port: int, scheme: str = "http") -> str:
    """Where a browser on this machine reaches the app (a wildcard bind is shown as loopback)."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"{scheme}://{shown}:{port}"


def pairing_url(host: str, port: int, token: str, scheme: str = "http") -> str:
    """The link to open on the tablet: the token rides in the #fragment, which browsers never send."""
    return f"{base_url(host, port, scheme)}/#token={token}"


def announce(host: str, port: int, token: PairingToken, scheme: str = "http") -> str:
    """Log (and return) the pairing line the operator reads off the terminal."""
    where = "this machine only" if is_loopback(host) else f"EVERY network interface of this machine ({host})"
    clear = "" if scheme == "https" else "; plain HTTP: use it on a closed network (or set tls_certfile/tls_keyfile)"
    line = (
        f"director app on {scheme}://{host}:{port}/ reachable from {where}; pairing token {token.value} "
        f"({'generated' if token.generated else 'configured'}); open {pairing_url(host, port, token.value, scheme)}"
        + ("" if is_loopback(host) else clear)
    )
    log.warning(line)
    return line
