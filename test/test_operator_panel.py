"""The operator panel on the director app: its routes are unreachable with the director's token, and with the
operator token they fly the simulated PX4 over signed UDP with the same refusals as the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from cinempc.director.app import create_app
from cinempc.director.live import LiveHub
from cinempc.director.operator_panel import OPERATOR_HEADER, OperatorPanel
from cinempc.director.security import TOKEN_HEADER, DirectorSettings, PairingToken
from cinempc.mavlink.signing import write_signing_key
from cinempc.preflight import PreflightSettings, upload_rally
from cinempc.site import load_site
from cinempc_sim.autopilot import SimAutopilot
from cinempc_sim.simulator import Simulator

DIRECTOR = "director-token-0123456789abcdef"
OPERATOR = "operator-token-fedcba9876543210"
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "site_field.yaml"


@pytest.fixture(scope="module")
def px4_site(tmp_path_factory):
    folder = tmp_path_factory.mktemp("panel")
    key = write_signing_key(folder / "field.key")
    with Simulator("single_walker", render=False) as sim, SimAutopilot(sim, "px4", signing_key=key) as px4:
        document = yaml.safe_load(EXAMPLE.read_text())
        document["mavlink"].update(url=px4.url, signing_key=str(folder / "field.key"))
        (folder / "field.yaml").write_text(yaml.safe_dump(document))
        assert upload_rally(load_site(folder / "field.yaml")).passed  # as docs/first_flight.md does before preflight
        yield px4, load_site(folder / "field.yaml")


@pytest.fixture(scope="module")
def client(px4_site) -> TestClient:
    _, site = px4_site
    base = PreflightSettings.load()
    settings = PreflightSettings(**{**base.__dict__, "timeout_s": 2.0, "stream_measure_s": 0.5})
    panel = OperatorPanel(site, PairingToken(OPERATOR), settings)
    return TestClient(create_app(LiveHub(DirectorSettings()), PairingToken(DIRECTOR), operator=panel))


def operator_routes(client: TestClient) -> list[tuple[str, str]]:
    return [(method, route.path.replace("{action}", "arm")) for route in client.app.routes
            if isinstance(route, APIRoute) and route.path.startswith("/api/operator")
            for method in route.methods]


def test_the_directors_token_never_reaches_the_operator_routes(client, px4_site):
    px4, _ = px4_site
    routes = operator_routes(client)
    assert {path for _, path in routes} == {"/api/operator/status", "/api/operator/preflight", "/api/operator/arm"}
    for method, path in routes:
        for headers in ({TOKEN_HEADER: DIRECTOR}, {"Authorization": f"Bearer {DIRECTOR}"},
                        {TOKEN_HEADER: DIRECTOR, OPERATOR_HEADER: DIRECTOR},
                        {TOKEN_HEADER: DIRECTOR, "Authorization": f"Bearer {OPERATOR}"},
                        {OPERATOR_HEADER: OPERATOR}):  # the operator token alone does not pass the app's guard
            response = client.request(method, path, headers=headers, json={"confirm": True})
            assert response.status_code == 401, (method, path, headers, response.text)
    assert not px4.armed  # no arm got through
    both = {TOKEN_HEADER: DIRECTOR, OPERATOR_HEADER: OPERATOR}
    assert client.get("/api/operator/status", headers=both).json()["site"] == "practice meadow (simulated autopilot)"
    # and the operator token opens nothing of the director's on its own
    assert client.get("/api/state", headers={OPERATOR_HEADER: OPERATOR}).status_code == 401


def test_the_operator_token_must_differ():
    with pytest.raises(ValueError, match="must differ"):
        create_app(LiveHub(DirectorSettings()), PairingToken(DIRECTOR),
                   operator=OperatorPanel(None, PairingToken(DIRECTOR)))


def test_operator_commands_with_the_operator_token(client, px4_site):
    px4, _ = px4_site
    both = {TOKEN_HEADER: DIRECTOR, OPERATOR_HEADER: OPERATOR}
    report = client.post("/api/operator/preflight", headers=both).json()
    assert report["passed"], report
    unconfirmed = client.post("/api/operator/arm", headers=both, json={})
    assert unconfirmed.status_code == 409 and "explicit operator act" in unconfirmed.json()["message"]
    assert not px4.armed
    armed = client.post("/api/operator/arm", headers=both, json={"confirm": True})
    assert armed.status_code == 200 and "ARMED" in armed.json()["message"], armed.text
    assert px4.armed
    assert all(c["passed"] for c in armed.json()["checks"])
    hold = client.post("/api/operator/hold", headers=both, json={})
    assert hold.status_code == 200 and hold.json()["message"].startswith("hold -> ACCEPTED")
    disarm = px4._cmd_arm([0.0, 0, 0, 0, 0, 0, 0], (255, 190), 1)  # leave the shared autopilot disarmed
    assert disarm == 0 and not px4.armed
    assert client.post("/api/operator/fly", headers=both, json={}).status_code == 404


def test_settings_with_a_site_add_the_panel(px4_site, capsys):
    """``operator_site`` in config/director.yaml (set by ``cinempc up drone --site``) is all the director node needs."""
    from cinempc.director.app import DirectorServer

    _, site = px4_site
    site_file = Path(str(site.mavlink.signing_key)).parent / "field.yaml"
    hub = LiveHub(DirectorSettings())
    plain = DirectorServer(hub, DirectorSettings(port=0))
    assert plain.operator is None
    assert not [r for r in plain.app.routes if getattr(r, "path", "").startswith("/api/operator")]
    server = DirectorServer(hub, DirectorSettings(port=0, operator_site=str(site_file)))
    assert server.operator is not None and server.operator.site.name == site.name
    assert "operator token" in capsys.readouterr().err  # generated, printed apart from the pairing token
    client = TestClient(server.app)
    both = {TOKEN_HEADER: server.token.value, OPERATOR_HEADER: server.operator.token.value}
    assert client.get("/api/operator/status", headers=both).status_code == 200
    assert client.get("/api/operator/status", headers={TOKEN_HEADER: server.token.value}).status_code == 401
