"""The director's web app: FastAPI over HTTP + WebSocket, one tablet page, token on every call.

``create_app(hub, token, settings)`` builds the app; :class:`DirectorServer` runs it
with uvicorn in a background thread next to a control loop (simulator or ROS node).

Authentication (see ``security.py`` for why and how): every HTTP route answers 401 without
proof of the pairing token -- a request signed with it (session, counter, HMAC: what the
page sends; the token never travels) or the token itself in the ``X-Director-Token``
header (bearer: reads and HOLD only).  The one page a browser can open without a
header is the pairing shell at ``/``: it is served *with status 401* and carries
no data -- only a form (and a reader for a ``#token=`` link fragment, which the
browser never sends).  With the token it opens a signed session, fetches the real page
(``/app/*``) signed and starts it.  The WebSocket ``/ws`` must authenticate with its first
message within ``auth_timeout_s`` (signed: ``{"type": "auth", "session", "counter",
"signature"}``; bearer: ``{"type": "auth", "token"}``), else it is closed with code 4401
(4409: a signed auth replayed, or its session unknown) before anything is sent.

Replay protection (rule): a request that changes anything -- every POST/PUT/PATCH/DELETE and every
state-changing WebSocket message -- must come signed with a counter of its session not taken
before (a WebSocket: its signed auth took one); a replayed or old counter is refused with 409,
an altered one with 401, an unsigned one with 428, and nothing changes.  HOLD is exempt: any HOLD
that proves the token is accepted, replayed or not, because holding is always safe.  The operator
panel's routes (``/api/operator/*``) take any proof of the pairing token here: they are held to the same
signing rule with the operator token on top (``operator_panel.py``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from importlib import resources
from typing import Any, Literal

from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cinempc.director.live import CommandRejected, LiveHub
from cinempc.director.security import (
    TOKEN_HEADER,
    CommandRateLimiter,
    DirectorSettings,
    PairingToken,
    ReplayGuard,
    ReplayRefused,
    SignedProof,
    announce,
    base_url,
    check_signed,
    pairing_url,
    parse_counter,
    request_target,
)

log = logging.getLogger("cinempc.director")

WS_CLOSE_UNAUTHORISED = 4401
WS_CLOSE_AUTH_TIMEOUT = 4408
WS_CLOSE_REPLAYED = 4409  # a signed auth whose counter was taken, or whose session the server does not know
WS_CLOSE_TOO_BIG = 1009
HEARTBEAT_S = 1.0  # state re-sent at least this often, changed or not
APP_FILES = {"app.html": "text/html", "app.css": "text/css", "app.js": "text/javascript"}
NO_STORE = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
# The page only talks to its own origin; no inline event handlers, no third-party anything.
CSP = ("default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' blob: data:; connect-src 'self' ws: wss:; form-action 'none'; frame-ancestors 'none'; "
       "base-uri 'none'")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CommandBody(_Body):
    text: str
    mode: Literal["now", "append"] = "now"


class PresetBody(_Body):
    name: str = Field(max_length=80)
    subjects: list[str] | None = Field(default=None, max_length=16)
    mode: Literal["now", "append"] = "now"


class NameBody(_Body):
    name: str


def point_out_args(message: Any) -> tuple[Any, Any, Any]:
    """``{"name": ..., "x_m": ..., "y_m": ...}`` -> its three values (the hub checks them), or CommandRejected."""
    if not isinstance(message, dict):
        raise CommandRejected('point out: send a JSON object {"name": ..., "x_m": ..., "y_m": ...}')
    missing = [key for key in ("name", "x_m", "y_m") if key not in message]
    extra = sorted(set(message) - {"name", "x_m", "y_m"})
    if missing or extra:
        raise CommandRejected("point out needs exactly name, x_m and y_m (ground position in map metres)"
                              + (f"; missing {', '.join(missing)}" if missing else "")
                              + (f"; unexpected {', '.join(map(str, extra))}" if extra else ""), status=422)
    return message["name"], message["x_m"], message["y_m"]


def _static_text(name: str) -> str:
    return resources.files("cinempc.director").joinpath("static", name).read_text(encoding="utf-8")


def create_app(hub: LiveHub, token: PairingToken, settings: DirectorSettings | None = None,
               operator: Any = None) -> FastAPI:
    """The FastAPI app serving one hub to any number of paired tablets.

    ``operator``: a :class:`cinempc.director.operator_panel.OperatorPanel` adds the operator routes behind
    their own token (none: the page shows no operator panel).
    """
    settings = settings or hub.settings
    limiter = CommandRateLimiter(settings.command_rate_per_s, settings.command_burst)
    replay = ReplayGuard(settings.replay_window, settings.max_sessions)
    # opening sessions has a bucket of its own (same rate): a replayed open must not evict sessions by the
    # thousand, and opening one must not cost the director a command
    session_limiter = CommandRateLimiter(settings.command_rate_per_s, settings.command_burst)
    app = FastAPI(title="cinempc director", docs_url=None, redoc_url=None, openapi_url=None)
    shell = _static_text("index.html")
    app_files = {name: _static_text(name) for name in APP_FILES}

    def unauthorised(message: str = "") -> JSONResponse:
        message = message or (f"missing or wrong pairing token: sign the request with it (docs/director.md) or send "
                              f"it in the {TOKEN_HEADER} header")
        return JSONResponse(
            {"error": message}, status_code=401,
            headers={"WWW-Authenticate": 'Bearer realm="cinempc-director"', **NO_STORE},
        )

    @app.middleware("http")
    async def guard(request: Request, call_next):
        """Proof of the token on every route, replay protection, body size limit, security headers."""
        path, method = request.url.path, request.method
        if path == "/" and method == "GET":
            # the pairing shell: no data in it, 401 unless the header came along
            return Response(shell, status_code=200 if token.from_headers(request.headers) else 401,
                            media_type="text/html",
                            headers={"WWW-Authenticate": 'Bearer realm="cinempc-director"',
                                     "Content-Security-Policy": CSP, **NO_STORE})
        body = b""
        if method in ("POST", "PUT", "PATCH", "DELETE"):
            declared = request.headers.get("content-length")
            if declared is not None and (not declared.isdigit() or int(declared) > settings.max_message_bytes):
                return too_big()
            body = await request.body()
            if len(body) > settings.max_message_bytes:
                return too_big()
        refused = check_proof(request, body)
        if refused is not None:
            return refused
        response = await call_next(request)
        for key, value in NO_STORE.items():
            response.headers.setdefault(key, value)
        response.headers.setdefault("Content-Security-Policy", CSP)
        return response

    def too_big() -> JSONResponse:
        return JSONResponse({"error": f"request body over {settings.max_message_bytes} bytes"},
                            status_code=413, headers=NO_STORE)

    def check_proof(request: Request, body: bytes) -> JSONResponse | None:
        """None when the request may go ahead; else the refusal (the rules in the module docstring)."""
        path, method = request.url.path, request.method
        reads = method in ("GET", "HEAD") or path.startswith("/api/operator/")  # the operator's own check follows
        refusal = check_signed(token, replay, request.headers, method, request_target(request), body,
                               bearer=token.from_headers(request.headers), reads=reads)
        if refusal is None:
            return None
        if refusal.status == 401:
            return unauthorised(refusal.error)
        extra = {"replay": refusal.reason} if refusal.reason else {}
        return JSONResponse({"error": refusal.error, **extra}, status_code=refusal.status, headers=NO_STORE)

    def client_key(request: Request) -> str:
        return request.client.host if request.client else "unknown"

    def rate_limited(key: str, bucket: CommandRateLimiter = limiter) -> JSONResponse | None:
        if bucket.allow(key):
            return None
        retry = bucket.retry_after_s(key)
        return JSONResponse({"error": f"too many commands: wait {retry:.1f} s (HOLD is never limited)"},
                            status_code=429, headers={"Retry-After": str(max(1, round(retry)))})

    def rejected(exc: CommandRejected) -> JSONResponse:
        return JSONResponse({"error": str(exc), **exc.detail}, status_code=exc.status)

    @app.post("/api/session")
    def open_session(request: Request) -> Response:
        """A new signed session: its id, and the counter to start from (1)."""
        limited = rate_limited(client_key(request), session_limiter)
        if limited is not None:
            return limited
        return JSONResponse({"session": replay.open(), "counter": 1, "window": settings.replay_window})

    @app.get("/app/{name}")
    def app_file(name: str) -> Response:
        if name not in APP_FILES:
            return JSONResponse({"error": f"no app file {name!r}"}, status_code=404)
        return Response(app_files[name], media_type=APP_FILES[name])

    @app.get("/api/state")
    def state() -> dict[str, Any]:
        return hub.snapshot()

    @app.get("/api/frame")
    def frame() -> Response:
        seq, jpeg = hub.latest_frame()
        if jpeg is None:
            return Response(status_code=204)
        return Response(jpeg, media_type="image/jpeg", headers={"X-Frame-Seq": str(seq)})

    @app.get("/api/presets")
    def preset_list() -> dict[str, Any]:
        return {"presets": hub.preset_list()}

    @app.get("/api/config")
    def client_config() -> dict[str, Any]:
        return {"max_command_chars": settings.max_command_chars, "max_name_chars": settings.max_name_chars,
                "frame_rate_hz": settings.frame_rate_hz, "state_rate_hz": settings.state_rate_hz}

    # HOLD, RESUME and ABORT are coroutines: they run on the event loop itself, so they work even
    # when every worker thread is busy parsing commands; and they are never rate limited.
    @app.post("/api/hold")
    async def hold(request: Request) -> dict[str, Any]:
        return hub.hold(source=f"http {client_key(request)}")

    @app.post("/api/resume")
    async def resume(request: Request) -> dict[str, Any]:
        return hub.resume(source=f"http {client_key(request)}")

    @app.post("/api/abort")
    async def abort(request: Request) -> dict[str, Any]:
        return hub.abort(source=f"http {client_key(request)}")

    @app.post("/api/command")
    def command(body: CommandBody, request: Request) -> Response:
        limited = rate_limited(client_key(request))
        if limited is not None:
            return limited
        try:
            answer = hub.submit_text(body.text, body.mode, source=f"http {client_key(request)}")
        except CommandRejected as exc:
            return rejected(exc)
        # 202: understood, but kept back until the director points out the subjects it names
        return JSONResponse(answer, status_code=422 if "error" in answer else 202 if "point_out" in answer else 200)

    @app.post("/api/preset")
    def preset(body: PresetBody, request: Request) -> Response:
        limited = rate_limited(client_key(request))
        if limited is not None:
            return limited
        try:
            return JSONResponse(hub.submit_preset(body.name, body.subjects, body.mode,
                                                  source=f"http {client_key(request)}"))
        except CommandRejected as exc:
            return rejected(exc)

    @app.post("/api/skip")
    def skip(request: Request) -> Response:
        limited = rate_limited(client_key(request))
        if limited is not None:
            return limited
        try:
            return JSONResponse(hub.skip(source=f"http {client_key(request)}"))
        except CommandRejected as exc:
            return rejected(exc)

    @app.post("/api/subjects/point_out")
    async def point_out(request: Request) -> Response:
        limited = rate_limited(client_key(request))
        if limited is not None:
            return limited
        try:
            body = json.loads(await request.body() or b"null")
        except ValueError:
            return JSONResponse({"error": "point out: the body is not JSON"}, status_code=400)
        try:
            return JSONResponse(hub.point_out(*point_out_args(body), source=f"http {client_key(request)}"))
        except CommandRejected as exc:
            return rejected(exc)

    @app.delete("/api/awaiting")
    def cancel_awaiting(request: Request) -> Response:
        """Cancel the typed shot waiting for a subject to be pointed out (409 if none waits)."""
        limited = rate_limited(client_key(request))
        if limited is not None:
            return limited
        try:
            return JSONResponse(hub.cancel_awaiting(source=f"http {client_key(request)}"))
        except CommandRejected as exc:
            return rejected(exc)

    @app.delete("/api/subjects/pins/{name}")
    def remove_pin(name: str, request: Request) -> Response:
        limited = rate_limited(client_key(request))
        if limited is not None:
            return limited
        try:
            return JSONResponse(hub.remove_pin(name, source=f"http {client_key(request)}"))
        except CommandRejected as exc:
            return rejected(exc)

    @app.post("/api/subjects/{track_id}/name")
    def name_subject(track_id: int, body: NameBody, request: Request) -> Response:
        limited = rate_limited(client_key(request))
        if limited is not None:
            return limited
        try:
            return JSONResponse(hub.name_subject(track_id, body.name, source=f"http {client_key(request)}"))
        except CommandRejected as exc:
            return rejected(exc)

    if operator is not None:
        operator.install(app, token, settings)

    @app.websocket("/ws")
    async def websocket(ws: WebSocket) -> None:
        await ws.accept()
        signed = await _authenticate(ws, token, settings, replay)
        if signed is None:
            return
        client = f"ws {ws.client.host if ws.client else 'unknown'}"
        send_lock = asyncio.Lock()  # pushes and replies share the socket: one message at a time
        await _send(ws, {"type": "hello", "presets": hub.preset_list(),
                         "max_command_chars": settings.max_command_chars}, send_lock)
        sender = asyncio.create_task(_push_updates(ws, hub, settings, send_lock))
        try:
            while True:
                message = await ws.receive()
                if message.get("type") == "websocket.disconnect":
                    break
                text = message.get("text")
                if text is None:
                    await _send(ws, {"type": "result", "ok": False, "error": "send JSON text, not binary"}, send_lock)
                    continue
                if len(text.encode("utf-8")) > settings.max_message_bytes:
                    await ws.close(WS_CLOSE_TOO_BIG, "message too big")
                    break
                await _send(ws, await _handle_ws_message(text, hub, limiter, client, signed), send_lock)
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            sender.cancel()

    return app


async def _authenticate(ws: WebSocket, token: PairingToken, settings: DirectorSettings,
                        replay: ReplayGuard) -> bool | None:
    """First message must prove the token; else the socket is closed before any data is sent.

    True: signed (the auth took a counter of its session: every message may follow); False: bearer
    (reads, HOLD and ping only); None: closed.
    """
    try:
        first = await asyncio.wait_for(ws.receive_text(), timeout=settings.auth_timeout_s)
    except asyncio.TimeoutError:
        await ws.close(WS_CLOSE_AUTH_TIMEOUT, "no auth message in time")
        return None
    except (WebSocketDisconnect, RuntimeError, KeyError):
        return None
    try:
        message = json.loads(first) if len(first) <= settings.max_message_bytes else None
    except ValueError:
        message = None
    if not (isinstance(message, dict) and message.get("type") == "auth"):
        await ws.close(WS_CLOSE_UNAUTHORISED, "missing or wrong pairing token")
        return None
    if "token" in message:
        if token.check(message.get("token")):
            return False
        await ws.close(WS_CLOSE_UNAUTHORISED, "missing or wrong pairing token")
        return None
    values = [message.get(k) for k in ("session", "counter", "signature")]
    proof = SignedProof(*values) if all(isinstance(v, str) for v in values) else None
    if proof is None or not proof.valid(token, "GET", "/ws", b""):
        await ws.close(WS_CLOSE_UNAUTHORISED, "missing or wrong pairing token (or signature)")
        return None
    try:
        replay.take(proof.session, parse_counter(proof.counter))
    except (ValueError, ReplayRefused) as exc:
        log.warning("director: WebSocket auth refused: %s", exc)
        await ws.close(WS_CLOSE_REPLAYED, str(exc)[:120])
        return None
    return True


async def _handle_ws_message(text: str, hub: LiveHub, limiter: CommandRateLimiter, client: str,
                             signed: bool = True) -> dict[str, Any]:
    """One director message over the socket -> one result message (with the client's ``id`` echoed).

    A bearer socket (``signed`` False) may ping and HOLD; anything else is refused (428), as over HTTP.
    """
    try:
        message = json.loads(text)
    except ValueError:
        return {"type": "result", "ok": False, "error": "not JSON"}
    if not isinstance(message, dict):
        return {"type": "result", "ok": False, "error": "a message is a JSON object with a 'type'"}
    kind, ident = message.get("type"), message.get("id")
    reply: dict[str, Any] = {"type": "result", "id": ident if isinstance(ident, (int, str)) else None, "of": kind}
    try:
        if kind == "ping":
            return {**reply, "ok": True, "pong": time.time()}
        if kind == "hold":  # never rate limited, never refused
            return {**reply, "ok": True, **hub.hold(source=client)}
        if not signed:
            return {**reply, "ok": False, "status": 428, "replay": "unsigned",
                    "error": "this socket authenticated with the bare token: it may read and HOLD; sign its auth "
                             "(session, counter, signature) to send anything else"}
        if kind in ("resume", "abort"):  # never rate limited
            return {**reply, "ok": True, **getattr(hub, kind)(source=client)}
        if kind not in ("command", "preset", "skip", "name", "point_out", "remove_pin", "cancel_awaiting"):
            return {**reply, "ok": False, "error": f"unknown message type {kind!r}"}
        if not limiter.allow(client):
            return {**reply, "ok": False, "status": 429,
                    "error": f"too many commands: wait {limiter.retry_after_s(client):.1f} s (HOLD is never limited)"}
        if kind == "command":
            body = CommandBody(**{k: v for k, v in message.items() if k not in ("type", "id")})
            answer = await asyncio.to_thread(hub.submit_text, body.text, body.mode, client)
            return {**reply, "ok": "error" not in answer, **answer}
        if kind == "preset":
            body = PresetBody(**{k: v for k, v in message.items() if k not in ("type", "id")})
            return {**reply, "ok": True, **hub.submit_preset(body.name, body.subjects, body.mode, client)}
        if kind == "skip":
            return {**reply, "ok": True, **hub.skip(client)}
        if kind == "point_out":
            args = point_out_args({k: v for k, v in message.items() if k not in ("type", "id")})
            return {**reply, "ok": True, **hub.point_out(*args, source=client)}
        if kind == "remove_pin":
            return {**reply, "ok": True, **hub.remove_pin(message.get("name"), source=client)}
        if kind == "cancel_awaiting":
            return {**reply, "ok": True, **hub.cancel_awaiting(source=client)}
        track_id = message.get("track_id")
        return {**reply, "ok": True, **hub.name_subject(track_id, message.get("name"), client)}
    except CommandRejected as exc:
        return {**reply, "ok": False, "status": exc.status, "error": str(exc), **exc.detail}
    except ValidationError as exc:
        return {**reply, "ok": False, "status": 422, "error": "; ".join(e["msg"] for e in exc.errors())}
    except TypeError as exc:
        return {**reply, "ok": False, "status": 400, "error": str(exc)}


async def _push_updates(ws: WebSocket, hub: LiveHub, settings: DirectorSettings, lock: asyncio.Lock) -> None:
    """Push state (JSON) and frames (binary JPEG) when they change, at most at the configured rates."""
    state_period = 1.0 / settings.state_rate_hz
    frame_period = 1.0 / settings.frame_rate_hz
    seen_state, seen_frame = -1, 0
    next_state = next_frame = last_sent = 0.0
    try:
        while True:
            now = time.monotonic()
            state_seq = hub.state_seq
            frame_seq, jpeg = hub.latest_frame()
            if frame_seq != seen_frame and jpeg is not None and now >= next_frame:
                async with lock:
                    await ws.send_bytes(jpeg)
                seen_frame, next_frame = frame_seq, now + frame_period
                state_seq = -2  # the frame's boxes and time travel in the state: send it with every frame
            # unchanged state is still re-sent every HEARTBEAT_S: the loop's age in it is how the
            # tablet learns that a control loop has stalled (a stall publishes nothing)
            if (state_seq != seen_state and now >= next_state) or now >= last_sent + HEARTBEAT_S:
                snapshot = hub.snapshot()
                await _send(ws, {"type": "state", **snapshot}, lock)
                seen_state, next_state, last_sent = snapshot["seq"], now + state_period, now
            await asyncio.sleep(min(state_period, frame_period) / 2)
    except (WebSocketDisconnect, RuntimeError, ConnectionError):
        return
    except asyncio.CancelledError:
        raise
    except Exception:  # noqa: BLE001 -- a broken socket must not leak a task traceback per frame
        log.debug("director websocket push ended", exc_info=True)


async def _send(ws: WebSocket, payload: dict[str, Any], lock: asyncio.Lock) -> None:
    text = json.dumps(payload, allow_nan=False, default=str)
    async with lock:
        await ws.send_text(text)


class DirectorServer:
    """The app under uvicorn in a background thread, next to a control loop.

    ``port=0`` picks a free port (tests); :attr:`url` and :attr:`pairing_url` tell where.
    """

    def __init__(self, hub: LiveHub, settings: DirectorSettings | None = None,
                 token: PairingToken | None = None, operator: Any = None) -> None:
        import uvicorn

        self.hub = hub
        self.settings = settings or hub.settings
        self.token = token or PairingToken(self.settings.token, self.settings.token_min_length)
        if operator is None:
            from cinempc.director.operator_panel import build_operator_panel

            operator = build_operator_panel(self.settings)
        self.operator = operator
        self.app = create_app(hub, self.token, self.settings, operator=operator)
        config = uvicorn.Config(
            self.app, host=self.settings.host, port=self.settings.port, log_level="warning", lifespan="off",
            ws_max_size=self.settings.max_message_bytes, access_log=False, ws_ping_interval=5.0,
            ws_ping_timeout=10.0, ssl_certfile=self.settings.tls_certfile or None,
            ssl_keyfile=self.settings.tls_keyfile or None,
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None
        self.port = self.settings.port

    def start(self, timeout_s: float = 15.0) -> DirectorServer:
        """Start serving; returns once the socket is listening (raises if it cannot bind)."""
        self._thread = threading.Thread(target=self._server.run, name="cinempc-director", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive():
                raise OSError(f"director app could not start on {self.settings.host}:{self.settings.port} "
                              "(port in use or address not on this machine?)")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"director app did not start within {timeout_s} s")
            time.sleep(0.02)
        sockets = [s for server in self._server.servers for s in server.sockets]
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        announce(self.settings.host, self.port, self.token, self.settings.scheme)
        return self

    @property
    def url(self) -> str:
        """Base URL (``http://`` or, with a TLS certificate, ``https://``)."""
        return base_url(self.settings.host, self.port, self.settings.scheme)

    @property
    def pairing_url(self) -> str:
        """The link with the token in its fragment, as printed in the terminal."""
        return pairing_url(self.settings.host, self.port, self.token.value, self.settings.scheme)

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop serving and join the thread."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=timeout_s)
            if self._thread.is_alive():
                self._server.force_exit = True
                self._thread.join(timeout=timeout_s)

    def __enter__(self) -> DirectorServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
