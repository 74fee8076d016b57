"""Pairing token, signed requests with replay protection, bind address and abuse limits of the director's app.

Why a token and not a login: the tablet pairs with one drone for one shoot, so a
random token shown in the terminal (like a Bluetooth pairing code) is enough and
needs no user database.  A client proves it holds the token in one of two ways --
never in a cookie (a cookie is sent by the browser on cross-site requests, a
header is not) and never in a query string (it would land in server and proxy
logs and in the browser history):

* **signed** (what the tablet page does): the token never leaves the tablet.  The client opens a
  session (``POST /api/session``, which answers a fresh server-issued id) and sends with every
  request ``X-Director-Session``, ``X-Director-Counter`` (1, 2, 3, ... per session) and
  ``X-Director-Signature``: HMAC-SHA256, keyed with the token, of :func:`canonical_request` (method,
  path and query, session, counter, SHA-256 of the body).  The server takes each counter of a
  session once (:class:`ReplayGuard`: a sliding window, as IPsec and DTLS do, so requests that
  overtake each other on parallel connections still pass): a request captured on the wire and sent
  again is refused (409) and changes nothing; changing its counter breaks the signature (401);
  a session the server does not know (it restarted, or evicted it) is refused (409) until the client
  opens a new one.
* **bearer** (scripts, ``curl``): the token itself in ``X-Director-Token`` (or ``Authorization:
  Bearer``), or as ``{"type": "auth", "token": ...}``, the first WebSocket message.  A bearer request
  carries no counter, so it could be replayed: it may only read and press HOLD.  Anything else that
  changes state is refused with 428 and how to sign.

HOLD is the exception to replay protection: any HOLD that proves the token (bearer, or a valid
signature with any session and counter, seen before or not) is accepted, because holding is always
safe and a HOLD refused for a stale counter could be the one that mattered.

The operator panel (``/api/operator/*``) signs with the same scheme, keyed with its own operator token,
in headers of its own (:data:`OPERATOR_SIGNING`), with sessions from ``POST /api/operator/session``: one
:func:`check_signed` decides for both.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cinempc.config import load_parameters

log = logging.getLogger("cinempc.director")

TOKEN_HEADER = "X-Director-Token"
SESSION_HEADER = "X-Director-Session"
COUNTER_HEADER = "X-Director-Counter"
SIGNATURE_HEADER = "X-Director-Signature"
SIGNATURE_VERSION = "cinempc-director-v1"  # first line of every signed string: a new scheme gets a new name
MAX_COUNTER = 2**53 - 1  # the largest integer a browser's JavaScript counts exactly
_COUNTER = re.compile(r"[1-9][0-9]{0,15}")
TOKEN_ALPHABET_HINT = "letters, digits, '-' and '_'"


@dataclass(frozen=True)
class SigningScheme:
    """Where one token's signed requests carry their proof, where they open sessions, how refusals are named."""

    label: str  # "director" / "operator": in refusals and logs
    session_header: str
    counter_header: str
    signature_header: str
    token_header: str  # the bare token (bearer: reads and HOLD only)
    open_path: str  # POST here for a new session
    hold_path: str  # HOLD: taken with any proof of the token, replayed or not
    reply_key: str  # the JSON key a refusal's one-word reason travels in


DIRECTOR_SIGNING = SigningScheme("director", SESSION_HEADER, COUNTER_HEADER, SIGNATURE_HEADER, TOKEN_HEADER,
                                 "/api/session", "/api/hold", "replay")
OPERATOR_SIGNING = SigningScheme("operator", "X-Operator-Session", "X-Operator-Counter", "X-Operator-Signature",
                                 "X-Operator-Token", "/api/operator/session", "/api/operator/hold", "operator_replay")


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
    replay_window: int = 64  # a session's counters this far below its highest are still taken once (out of order)
    max_sessions: int = 32  # signed sessions remembered at once; the least recently used is forgotten
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
            "default_shot_duration_s", "token_min_length", "replay_window", "max_sessions",
        )
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
                raise DirectorConfigError(f"director setting {name} must be a positive number, got {value!r}")
        for name in ("replay_window", "max_sessions"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise DirectorConfigError(f"director setting {name} must be a whole number, got {value!r}")
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


class ReplayRefused(Exception):
    """A signed request the replay protection refuses; ``reason`` says why in one word for clients."""

    def __init__(self, message: str, reason: str, status: int = 409) -> None:
        super().__init__(message)
        self.reason = reason
        self.status = status


def canonical_request(method: str, target: str, session: str, counter: str, body: bytes) -> bytes:
    """What a signature covers: the scheme, method, path with query, session, counter and the body's SHA-256.

    One line each, so no field can run into the next: the tablet page builds the same string
    (``static/index.html``).
    """
    digest = hashlib.sha256(body).hexdigest()
    return "\n".join((SIGNATURE_VERSION, method.upper(), target, session, counter, digest)).encode("utf-8")


def sign_request(token: str, method: str, target: str, session: str, counter: str, body: bytes = b"") -> str:
    """The request's signature: hex HMAC-SHA256 of :func:`canonical_request`, keyed with the pairing token."""
    message = canonical_request(method, target, session, counter, body)
    return hmac.new(token.encode("utf-8"), message, hashlib.sha256).hexdigest()


def parse_counter(text: str) -> int:
    """A request counter from its header (1 .. 2**53 - 1, decimal, no sign or leading zero); ValueError if not."""
    if not isinstance(text, str) or not _COUNTER.fullmatch(text) or int(text) > MAX_COUNTER:
        raise ValueError(f"{COUNTER_HEADER} must be a whole number from 1 to {MAX_COUNTER}, got {str(text)[:20]!r}")
    return int(text)


@dataclass
class _Session:
    highest: int = 0
    seen: int = 1  # bit k: counter ``highest - k`` was taken (bit 0 stands for counter 0, never valid)
    used_s: float = 0.0


@dataclass
class ReplayGuard:
    """Which counters of which signed session the server has taken: each once, never again.

    Rule: a session is an id the server issued (:meth:`open`); its counters may arrive in any order
    within ``window`` of the highest taken so far, each once.  A counter taken before, one ``window``
    or more below the highest, or a session the server does not know (never issued, forgotten after
    ``max_sessions`` newer ones, or issued before a restart) is refused with :class:`ReplayRefused`
    -- and the guard's state is unchanged.
    """

    window: int
    max_sessions: int
    clock: Any = time.monotonic
    scheme: SigningScheme = DIRECTOR_SIGNING
    _sessions: dict[str, _Session] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if not (isinstance(self.window, int) and 1 <= self.window <= 4096):
            raise ValueError(f"replay window must be 1-4096 counters, got {self.window!r}")
        if not (isinstance(self.max_sessions, int) and self.max_sessions >= 1):
            raise ValueError(f"max_sessions must be at least 1, got {self.max_sessions!r}")

    def open(self) -> str:
        """A new session id (128 random bits); the least recently used session goes beyond ``max_sessions``."""
        session = secrets.token_urlsafe(16)
        with self._lock:
            self._sessions[session] = _Session(used_s=self.clock())
            while len(self._sessions) > self.max_sessions:
                oldest = min(self._sessions, key=lambda k: self._sessions[k].used_s)
                del self._sessions[oldest]
        return session

    def __len__(self) -> int:
        return len(self._sessions)

    def take(self, session: str, counter: int) -> None:
        """Take ``counter`` of ``session`` (the request may go ahead), or raise ReplayRefused and change nothing."""
        with self._lock:
            state = self._sessions.get(session)
            if state is None:
                raise ReplayRefused(f"unknown or expired {self.scheme.label} session: open a new one (POST "
                                    f"{self.scheme.open_path}) and sign with it", "unknown_session")
            if counter > state.highest:
                shift = counter - state.highest
                state.seen = ((state.seen << shift) | 1) & ((1 << self.window) - 1) if shift < self.window else 1
                state.highest = counter
            else:
                offset = state.highest - counter
                if offset >= self.window:
                    raise ReplayRefused(f"request refused as a replay: counter {counter} is {offset} below the "
                                        f"session's highest ({state.highest}), outside its window of {self.window}",
                                        "counter_too_old")
                if state.seen >> offset & 1:
                    raise ReplayRefused(f"request refused as a replay: counter {counter} was already used in this "
                                        "session", "counter_used")
                state.seen |= 1 << offset
            state.used_s = self.clock()


@dataclass
class SignedProof:
    """The three signing headers of a request, as sent (None when a request carries none of them)."""

    session: str
    counter: str
    signature: str

    @classmethod
    def from_headers(cls, headers: Any, scheme: SigningScheme = DIRECTOR_SIGNING) -> SignedProof | None:
        """The proof in ``headers``; None without any of the three; ValueError when only some are there."""
        names = (scheme.session_header, scheme.counter_header, scheme.signature_header)
        values = [headers.get(name) for name in names]
        if all(v is None for v in values):
            return None
        if any(v is None for v in values):
            raise ValueError(f"incomplete signature: send {', '.join(names[:2])} and {names[2]} together")
        return cls(*values)

    def valid(self, token: PairingToken, method: str, target: str, body: bytes) -> bool:
        """True when the signature is the token's over this request (constant-time compare)."""
        if len(self.session) > 64 or len(self.counter) > 20 or len(self.signature) != 64:
            return False
        expected = sign_request(token.value, method, target, self.session, self.counter, body)
        return hmac.compare_digest(expected.encode("ascii"), self.signature.lower().encode("ascii", "replace"))


@dataclass(frozen=True)
class Refusal:
    """Why a request may not go ahead: its HTTP status, the error in words, a one-word reason (or "")."""

    status: int
    error: str
    reason: str = ""


def check_signed(token: PairingToken, guard: ReplayGuard, headers: Any, method: str, target: str, body: bytes,
                 *, bearer: bool, reads: bool = False) -> Refusal | None:
    """None when a request proves ``token`` as it must; else the :class:`Refusal` (the module's rules).

    The rules, for the director's and the operator's token alike (``guard.scheme`` names the headers):
    HOLD (``scheme.hold_path``) goes ahead with any proof of the token, replayed or not; a malformed or
    non-matching signature is 401; without a signature the bare token (``bearer``: it was presented) may
    only read (``reads``) or open a session, anything else is 428, and no proof at all is 401 (error "":
    the caller says where the token goes); opening a session takes no counter; any other signed request
    takes its counter from ``guard`` once (409 when replayed or its session is unknown, 400 malformed)
    -- a refusal changes nothing.
    """
    scheme = guard.scheme
    path = target.split("?", 1)[0]
    malformed = ""
    try:
        proof = SignedProof.from_headers(headers, scheme)
    except ValueError as exc:
        proof, malformed = None, str(exc)
    signed = proof is not None and proof.valid(token, method, target, body)
    if path == scheme.hold_path:  # HOLD always works: any proof of the token, replayed or not
        return None if bearer or signed else Refusal(401, malformed)
    if malformed:
        return Refusal(401, malformed)
    if proof is not None and not signed:
        return Refusal(401, f"request signature does not match (wrong {scheme.label} token, or the request was "
                            "altered)")
    if not signed:
        if not bearer:
            return Refusal(401, "")
        if reads or path == scheme.open_path:
            return None
        return Refusal(428, f"a request that changes anything must be signed with a fresh counter "
                            f"({scheme.session_header}, {scheme.counter_header}, {scheme.signature_header}: "
                            f"docs/director.md); the bare {scheme.label} token may only read and HOLD", "unsigned")
    if path == scheme.open_path:  # opening one takes no counter: the session it answers is new
        return None
    try:
        guard.take(proof.session, parse_counter(proof.counter))
    except ValueError as exc:
        return Refusal(400, str(exc).replace(COUNTER_HEADER, scheme.counter_header))
    except ReplayRefused as exc:
        log.warning("%s: %s %s refused: %s", scheme.label, method, path, exc)
        return Refusal(exc.status, str(exc), exc.reason)
    return None


@dataclass
class RequestSigner:
    """The client side of signed requests (what the tablet page does, for scripts and tests).

    ``headers`` numbers each request of the session (1, 2, 3, ...) and signs it; :meth:`restart` takes a
    new session from the server's ``POST /api/session`` answer.  ``session`` "" (none yet) signs requests
    only HOLD accepts -- and ``POST /api/session`` itself.  :meth:`httpx_auth` does all of it for an
    ``httpx`` client: it opens a session first, and again when the server has forgotten it.
    """

    token: str
    session: str = ""
    counter: int = 0
    scheme: SigningScheme = DIRECTOR_SIGNING
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def restart(self, session: str) -> None:
        with self._lock:
            self.session, self.counter = session, 0

    def headers(self, method: str, target: str, body: bytes = b"") -> dict[str, str]:
        """The signing headers of the next request (``target``: path and query, as sent)."""
        with self._lock:
            self.counter += 1
            session, counter = self.session, str(self.counter)
        return self._signed(method, target, session, counter, body)

    def _signed(self, method: str, target: str, session: str, counter: str, body: bytes) -> dict[str, str]:
        scheme = self.scheme
        return {scheme.session_header: session, scheme.counter_header: counter,
                scheme.signature_header: sign_request(self.token, method, target, session, counter, body)}

    def websocket_auth(self) -> dict[str, str]:
        """The first WebSocket message of a signed socket (it takes a counter like a ``GET /ws``)."""
        h = self.headers("GET", "/ws")
        return {"type": "auth", "session": h[SESSION_HEADER], "counter": h[COUNTER_HEADER],
                "signature": h[SIGNATURE_HEADER]}

    def open_headers(self) -> dict[str, str]:
        """The signing headers of ``POST`` to the scheme's session path (no session yet: session "", counter 1)."""
        return self._signed("POST", self.scheme.open_path, "", "1", b"")

    def httpx_auth(self) -> Any:
        """An ``httpx.Auth`` that signs every request (opening a session when there is none, or it expired)."""
        import httpx

        signer = self

        class _Auth(httpx.Auth):
            requires_response_body = True

            def auth_flow(self, request: httpx.Request):
                if not signer.session:
                    yield from self._open(request)
                request.headers.update(signer.headers(request.method, _target(request), request.content))
                response = yield request
                if response.status_code == 409 and _reason(response, signer.scheme) == "unknown_session":
                    yield from self._open(request)
                    request.headers.update(signer.headers(request.method, _target(request), request.content))
                    yield request

            def _open(self, request: httpx.Request):
                opened = yield httpx.Request("POST", request.url.copy_with(
                    raw_path=signer.scheme.open_path.encode("ascii")), headers=signer.open_headers())
                if opened.status_code != 200:
                    raise PermissionError(f"could not open a {signer.scheme.label} session: HTTP "
                                          f"{opened.status_code} {opened.text[:200]}")
                signer.restart(opened.json()["session"])

        return _Auth()


def request_target(request: Any) -> str:
    """The path and query as the client sent them (what a signature covers), still percent-encoded."""
    raw = request.scope.get("raw_path")
    path = raw.split(b"?", 1)[0].decode("latin-1") if raw else request.url.path
    query = request.scope.get("query_string", b"").decode("latin-1")
    return f"{path}?{query}" if query else path


def _target(request: Any) -> str:
    return request.url.raw_path.decode("ascii")


def _reason(response: Any, scheme: SigningScheme = DIRECTOR_SIGNING) -> str:
    try:
        return str(response.json().get(scheme.reply_key, ""))
    except ValueError:
        return ""


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
