"""The operator panel of the director page: preflight, arm, take off, offboard, hold, land behind their own token.

Rules:

* every ``/api/operator/*`` route needs the operator token in ``X-Operator-Token`` -- on top of the director's
  pairing token the whole app needs; the director's token alone (in any header) gets 401, so a paired tablet
  can direct shots but never arm;
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
from pydantic import BaseModel, ConfigDict, Field

from cinempc.director.security import PairingToken

OPERATOR_HEADER = "X-Operator-Token"


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
        """True only for the operator token in its own header (never ``Authorization``, never the director's)."""
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

    def install(self, app: FastAPI, director_token: PairingToken) -> None:
        """Add the ``/api/operator`` routes to a director app."""
        if hmac.compare_digest(self.token.value.encode(), director_token.value.encode()):
            raise ValueError("the operator token must differ from the director's pairing token")

        def refused() -> JSONResponse:
            return JSONResponse({"error": f"operator token required in the {OPERATOR_HEADER} header (the "
                                 "director's token does not open the operator panel)"}, status_code=401,
                                headers={"Cache-Control": "no-store"})

        @app.get("/api/operator/status")
        def status(request: Request):
            if not self.authorised(request.headers):
                return refused()
            return {"site": self.site.name, "log": self.log[-20:]}

        @app.post("/api/operator/preflight")
        def preflight(request: Request):
            if not self.authorised(request.headers):
                return refused()
            return self.preflight()

        @app.post("/api/operator/{action}")
        def command(action: str, request: Request, body: OperatorBody | None = None):
            if not self.authorised(request.headers):
                return refused()
            if action not in ("arm", "takeoff", "offboard", "hold", "land"):
                return JSONResponse({"error": f"no operator command {action!r}: arm, takeoff, offboard, hold, "
                                     "land"}, status_code=404)
            answer = self.run(action, body or OperatorBody())
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
