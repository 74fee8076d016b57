"""The operator panel of the director page: preflight, arm, take off, offboard, hold, land behind their own token.

Rules:

* every ``/api/operator/*`` route needs proof of the operator token -- on top of the director's pairing token
  the whole app needs; the director's token alone (in any header) gets 401, so a paired tablet can direct
  shots but never arm;
* the proof is the director's scheme (``security.check_signed``), keyed with the operator token, in the
  operator's own headers (``security.OPERATOR_SIGNING``): a session from ``POST /api/operator/session``, a
  counter per request, HMAC-SHA256 -- the operator token never travels.  A captured operator request sent
  again is refused (409), an altered one 401; the bare token (``X-Operator-Token``) may only read the status
  and HOLD (anything else 428); HOLD is taken with any proof of the operator token, replayed or not;
* the operator token is a different secret from the director's (refused if equal) and is never sent to the page;
* the commands are :func:`cinempc.operator.operate`'s, with its refusals: arming needs ``confirm``; arm,
  takeoff and offboard re-run preflight; hold and land are never refused.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from cinempc.director.security import (
    OPERATOR_SIGNING,
    CommandRateLimiter,
    DirectorSettings,
    PairingToken,
    ReplayGuard,
    check_signed,
    request_target,
)

OPERATOR_HEADER = OPERATOR_SIGNING.token_header
OPERATOR_ACTIONS = ("arm", "takeoff", "offboard", "hold", "land")
NO_STORE = {"Cache-Control": "no-store"}


class OperatorBody(BaseModel):
    """What a command may carry."""

    model_config = ConfigDict(extra="forbid")
    confirm: bool = False
    altitude_m: float | None = Field(None, gt=0.0, le=120.0)
    hold_s: float = Field(5.0, gt=0.0, le=60.0)


@dataclass
class OperatorPanel:
    """One site's operator commands for the director app (see the module rules)."""

    site: Any  # cinempc.site.Site
    token: PairingToken
    settings: Any = None  # cinempc.preflight.PreflightSettings (None: config/preflight.yaml)
    # offboard hand-over to the bridge node's stream while the graph flies (None: the command's own hold stream)
    handover: Callable[[Any], tuple[bool, str]] | None = None
    log: list[dict[str, Any]] = field(default_factory=list)

    def authorised(self, headers: Any) -> bool:
        """True only for the bare operator token in its own header (never ``Authorization``, never the director's)."""
        return self.token.check(headers.get(OPERATOR_HEADER))

    def run(self, action: str, body: OperatorBody) -> dict[str, Any]:
        from cinempc.operator import Action, operate

        outcome = operate(self.site, Action(action), confirm=body.confirm, altitude_m=body.altitude_m,
                          hold_s=body.hold_s, settings=self.settings,
                          handover=self.handover if action == "offboard" else None)
        answer = {"action": action, "done": outcome.done, "message": outcome.message,
                  "checks": [r.as_dict() for r in outcome.report.results] if outcome.report else []}
        self.log.append({"action": action, "done": outcome.done, "message": outcome.message})
        return answer

    def preflight(self) -> dict[str, Any]:
        from cinempc.preflight import run_preflight

        return run_preflight(self.site, self.settings, detector=False).as_dict()

    def install(self, app: FastAPI, director_token: PairingToken, settings: DirectorSettings | None = None) -> None:
        """Add the ``/api/operator`` routes to a director app (replay window and rates from ``settings``)."""
        if hmac.compare_digest(self.token.value.encode(), director_token.value.encode()):
            raise ValueError("the operator token must differ from the director's pairing token")
        settings = settings or DirectorSettings()
        guard = ReplayGuard(settings.replay_window, settings.max_sessions, scheme=OPERATOR_SIGNING)
        # a replayed open must not evict the operator's sessions by the thousand
        opens = CommandRateLimiter(settings.command_rate_per_s, settings.command_burst)

        async def refused(request: Request, reads: bool = False) -> JSONResponse | None:
            """None when the request proves the operator token as the rules ask; else the refusal."""
            body = await request.body()
            refusal = check_signed(self.token, guard, request.headers, request.method, request_target(request), body,
                                   bearer=self.authorised(request.headers), reads=reads)
            if refusal is None:
                return None
            error = refusal.error or ("operator token required: sign the request with it (docs/director.md) or, to "
                                      f"read, send it in {OPERATOR_HEADER} (the director's token does not open the "
                                      "operator panel)")
            extra = {OPERATOR_SIGNING.reply_key: refusal.reason} if refusal.reason else {}
            return JSONResponse({"error": error, **extra}, status_code=refusal.status, headers=NO_STORE)

        @app.post(OPERATOR_SIGNING.open_path)
        async def open_session(request: Request):
            """A new signed operator session: its id and the counter to start from (1)."""
            refusal = await refused(request)
            if refusal is not None:
                return refusal
            client = request.client.host if request.client else "unknown"
            if not opens.allow(client):
                return JSONResponse({"error": "too many operator sessions opened: wait"}, status_code=429,
                                    headers={"Retry-After": str(max(1, round(opens.retry_after_s(client))))})
            return JSONResponse({"session": guard.open(), "counter": 1, "window": settings.replay_window},
                                headers=NO_STORE)

        @app.get("/api/operator/status")
        async def status(request: Request):
            refusal = await refused(request, reads=True)
            if refusal is not None:
                return refusal
            return {"site": self.site.name, "log": self.log[-20:]}

        @app.post("/api/operator/preflight")
        async def preflight(request: Request):
            refusal = await refused(request)
            if refusal is not None:
                return refusal
            return await run_in_threadpool(self.preflight)

        @app.post("/api/operator/{action}")
        async def command(action: str, request: Request):
            refusal = await refused(request)
            if refusal is not None:
                return refusal
            if action not in OPERATOR_ACTIONS:
                return JSONResponse({"error": f"no operator command {action!r}: {', '.join(OPERATOR_ACTIONS)}"},
                                    status_code=404)
            raw = await request.body()
            try:
                body = OperatorBody.model_validate_json(raw) if raw.strip() else OperatorBody()
            except ValidationError as exc:
                problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors())
                return JSONResponse({"error": f"operator {action}: {problems}"}, status_code=422)
            answer = await run_in_threadpool(self.run, action, body)
            return JSONResponse(answer, status_code=200 if answer["done"] else 409)


def build_operator_panel(settings: Any) -> OperatorPanel | None:
    """The panel a director app's settings ask for (``operator_site``), or None; prints its token apart."""
    if not settings.operator_site:
        return None
    from cinempc.site import load_site

    token = PairingToken(settings.operator_token, settings.token_min_length)
    handover = None
    if settings.operator_offboard_via_ros:
        from cinempc.nodes.operator_client import call_operator_service

        def handover(bridge: Any) -> tuple[bool, str]:
            return call_operator_service("offboard")

    panel = OperatorPanel(load_site(settings.operator_site), token, handover=handover)
    if token.generated:
        import sys

        print(f"director operator panel for site {panel.site.name!r}: operator token {token.value} (generated; "
              "give it to the pilot in command only, never with the pairing link)", file=sys.stderr, flush=True)
    return panel
