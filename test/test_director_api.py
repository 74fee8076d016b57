"""The director app over real HTTP (FastAPI TestClient) and a real WebSocket (uvicorn on 127.0.0.1)."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from cinempc.director.app import DirectorServer, create_app
from cinempc.director.live import LiveHub, SubjectBox
from cinempc.director.security import TOKEN_HEADER, DirectorSettings, PairingToken, RequestSigner
from cinempc.shot import preset

TOKEN = "test-token-0123456789abcdef"


@pytest.fixture()
def hub() -> LiveHub:
    hub = LiveHub(DirectorSettings(command_rate_per_s=1.0, command_burst=6))
    hub.start_shot(preset("follow_medium"), source="scenario test")
    hub.tick(0.0)
    return hub


@pytest.fixture()
def client(hub: LiveHub) -> TestClient:
    return TestClient(create_app(hub, PairingToken(TOKEN)))


AUTH = {TOKEN_HEADER: TOKEN}  # bearer: reads and HOLD only


@pytest.fixture()
def signed():
    """Signs every request as the tablet page does (a session opened first, a counter per request)."""
    return RequestSigner(TOKEN).httpx_auth()


def concrete(path: str) -> str:
    return path.replace("{name}", "app.js").replace("{track_id}", "1")


def test_every_route_needs_the_token(client: TestClient):
    routes = [r for r in client.app.routes if isinstance(r, APIRoute)]
    assert len(routes) >= 10
    for route in routes:
        for method in route.methods:
            for headers in ({}, {TOKEN_HEADER: "wrong-token-0123456789abc"}, {"Cookie": f"token={TOKEN}"},
                            {"Authorization": f"Basic {TOKEN}"}):
                response = client.request(method, concrete(route.path), headers=headers, json={})
                assert response.status_code == 401, (method, route.path, headers)
                assert "token" in response.json()["error"]
            # the token in a query string is not accepted either (it would end up in logs)
            response = client.request(method, concrete(route.path) + f"?token={TOKEN}", json={})
            assert response.status_code == 401
    # unknown paths and the disabled API docs answer 401 too: nothing leaks without the token
    for path in ("/docs", "/openapi.json", "/static/app.js", "/nope"):
        assert client.get(path).status_code == 401


def test_pairing_shell_carries_no_data(client: TestClient, hub: LiveHub):
    hub.publish_subjects([SubjectBox(track_id=7, box_px=(1, 2, 3, 4), name="secretname")])
    response = client.get("/")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    page = response.text
    # it signs every request (the token never travels): no bearer header anywhere in the page
    assert "X-Director-Signature" in page and "X-Director-Token" not in page and "pair" in page.lower()
    for leak in (TOKEN, "secretname", "orbit_cw", "follow_medium", "HOLD"):
        assert leak not in page
    assert "set-cookie" not in response.headers
    assert client.get("/", headers=AUTH).status_code == 200


def test_app_files_and_state_with_the_token(client: TestClient):
    for name, kind in (("app.html", "text/html"), ("app.css", "text/css"), ("app.js", "text/javascript")):
        response = client.get(f"/app/{name}", headers=AUTH)
        assert response.status_code == 200 and response.headers["content-type"].startswith(kind)
        assert response.headers["cache-control"] == "no-store"
        assert "default-src 'none'" in response.headers["content-security-policy"]
    assert "btn-hold" in client.get("/app/app.html", headers=AUTH).text
    assert client.get("/app/../security.py", headers=AUTH).status_code == 404
    state = client.get("/api/state", headers=AUTH).json()
    assert state["queue"]["current"]["shot"]["name"] == "follow_medium"
    presets = client.get("/api/presets", headers=AUTH).json()["presets"]
    assert {"follow_medium", "orbit_cw", "dolly_zoom_in"} <= {p["name"] for p in presets}


def test_frame_endpoint(client: TestClient, hub: LiveHub):
    assert client.get("/api/frame", headers=AUTH).status_code == 204
    hub.publish_frame(np.full((48, 64, 3), 120, np.uint8), time_s=0.5)
    response = client.get("/api/frame", headers=AUTH)
    assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
    assert response.content[:2] == b"\xff\xd8" and response.headers["x-frame-seq"] == "1"


def test_preset_hold_resume_and_naming(client: TestClient, hub: LiveHub, signed):
    response = client.post("/api/preset", auth=signed, json={"name": "orbit_cw", "subjects": ["#1"]})
    assert response.status_code == 200
    direction = hub.tick(0.1)
    assert direction.shot_changed and direction.shot.name == "orbit_cw" and direction.shot.subjects == ["#1"]
    assert client.post("/api/preset", auth=signed, json={"name": "nope"}).status_code == 404
    assert client.post("/api/preset", auth=signed, json={"name": "orbit_cw", "extra": 1}).status_code == 422
    assert client.post("/api/hold", headers=AUTH).json() == {"command": "hold", "accepted": True}
    assert hub.tick(0.2).hold
    assert client.post("/api/resume", auth=signed).status_code == 200
    assert not hub.tick(0.3).hold
    response = client.post("/api/subjects/3/name", auth=signed, json={"name": "Bride"})
    assert response.json() == {"track_id": 3, "name": "bride"}
    assert client.post("/api/subjects/3/name", auth=signed, json={"name": "all"}).status_code == 400
    assert client.post("/api/subjects/x/name", auth=signed, json={"name": "bob"}).status_code == 422
    assert client.post("/api/skip", auth=signed).status_code == 409  # nothing queued behind


def test_point_out_over_http():
    hub = LiveHub(DirectorSettings(command_rate_per_s=50.0, command_burst=50))  # a burst of refusals below
    client = TestClient(create_app(hub, PairingToken(TOKEN)))
    signed = RequestSigner(TOKEN).httpx_auth()
    response = client.post("/api/subjects/point_out", auth=signed, json={"name": "Carol", "x_m": 8.0, "y_m": -3})
    assert response.status_code == 200, response.text
    assert response.json() == {"name": "carol", "position_m": [8.0, -3.0], "stamp_s": 0.0, "pin": True}
    state = client.get("/api/state", headers=AUTH).json()
    assert state["map"]["pins"] == [{"name": "carol", "position_m": [8.0, -3.0], "stamp_s": 0.0}]
    assert set(hub.tick(0.1).subject_pins) == {"carol"}
    state = client.get("/api/state", headers=AUTH).json()  # tapped before the loop's first tick: stamped at it
    assert state["map"]["pins"] == [{"name": "carol", "position_m": [8.0, -3.0], "stamp_s": 0.1}]
    for body, status, words in (
            ({"name": "all", "x_m": 1, "y_m": 1}, 400, "'all'"),
            ({"name": "b@d", "x_m": 1, "y_m": 1}, 400, "invalid subject reference"),
            ({"name": "dave", "x_m": "8", "y_m": 1}, 400, "x_m must be a number"),
            ({"name": "dave", "x_m": 1, "y_m": None}, 400, "y_m must be a number"),
            ({"name": "dave", "x_m": 1}, 422, "missing y_m"),
            ({"name": "dave", "x_m": 1, "y_m": 1, "z_m": 0}, 422, "unexpected z_m"),
            ([1, 2], 400, "JSON object")):
        refused = client.post("/api/subjects/point_out", auth=signed, json=body)
        assert refused.status_code == status and words in refused.json()["error"], (body, refused.text)
    for raw in (b'{"name": "dave", "x_m": NaN, "y_m": 1}', b'{"name": "dave", "x_m": 1e999, "y_m": 1}'):
        refused = client.post("/api/subjects/point_out", headers={"Content-Type": "application/json"},
                              content=raw, auth=signed)
        assert refused.status_code == 400 and "finite" in refused.json()["error"]
    not_json = client.post("/api/subjects/point_out", auth=signed, content=b"carol over there")
    assert not_json.status_code == 400 and "not JSON" in not_json.json()["error"]
    assert client.get("/api/state", headers=AUTH).json()["map"]["pins"] == state["map"]["pins"]  # unchanged
    # naming a track "carol" replaces the pin
    client.post("/api/subjects/5/name", auth=signed, json={"name": "carol"})
    assert client.get("/api/state", headers=AUTH).json()["map"]["pins"] == []
    # a pin taken back: gone from the map; one that is not there is a 404 that names the pins there are
    client.post("/api/subjects/point_out", auth=signed, json={"name": "dave", "x_m": 1.0, "y_m": 2.0})
    assert client.delete("/api/subjects/pins/Dave", auth=signed).json() == {"name": "dave", "removed": True}
    assert client.get("/api/state", headers=AUTH).json()["map"]["pins"] == []
    missing = client.delete("/api/subjects/pins/dave", auth=signed)
    assert missing.status_code == 404 and "no pin named 'dave'" in missing.json()["error"]
    assert client.delete("/api/subjects/pins/dave").status_code == 401


def test_size_and_rate_limits(signed):
    # the bucket refills at 1 command per 1000 s: only the burst counts here, however slowly the machine sends
    # (at 1/s, a loaded machine taking ~0.5 s a request refilled the bucket between the burst and the 429 asked for)
    hub = LiveHub(DirectorSettings(command_rate_per_s=1e-3, command_burst=6))
    hub.start_shot(preset("follow_medium"), source="scenario test")
    client = TestClient(create_app(hub, PairingToken(TOKEN)))
    too_long = client.post("/api/command", auth=signed, json={"text": "orbit " * 100})
    assert too_long.status_code == 413 and "too long" in too_long.json()["error"]
    huge = client.post("/api/command", auth=signed, content=b'{"text": "' + b"a" * 10000 + b'"}')
    assert huge.status_code == 413
    binary = client.post("/api/command", auth=signed, json={"text": "wide\x00\x01shot"})
    assert binary.status_code == 400
    codes = [client.post("/api/preset", auth=signed, json={"name": "orbit_cw"}).status_code for _ in range(8)]
    assert codes == [200] * 4 + [429] * 4, codes  # 6-command burst (the refused commands above used two)
    limited = client.post("/api/preset", auth=signed, json={"name": "orbit_cw"})
    assert limited.status_code == 429 and "Retry-After" in limited.headers
    # HOLD is never rate limited
    assert all(client.post("/api/hold", headers=AUTH).status_code == 200 for _ in range(30))
    assert hub.tick(1.0).hold


def test_typed_commands_through_the_real_parser(client: TestClient, hub: LiveHub, signed):
    response = client.post("/api/command", auth=signed, json={"text": "orbit clockwise slowly, wide shot"})
    assert response.status_code == 200, response.text
    shot = hub.tick(0.5).shot
    assert shot.movement.type == "orbit" and shot.movement.direction == "clockwise" and shot.framing == "wide"
    # a sequence appended behind the shot on air
    response = client.post("/api/command", auth=signed,
                           json={"text": "close up, then pull back", "mode": "append"})
    assert response.status_code == 200, response.text
    upcoming = client.get("/api/state", headers=AUTH).json()["queue"]["upcoming"]
    assert [e["shot"]["framing"] for e in upcoming][0] == "close_up" and len(upcoming) == 2
    # control words become commands, not shots
    assert client.post("/api/command", auth=signed, json={"text": "hold it!"}).json()["command"] == "hold"
    assert hub.tick(0.6).hold
    # gibberish gets a structured answer, and nothing changes
    answer = client.post("/api/command", auth=signed, json={"text": "florp the zibbet"})
    assert answer.status_code == 422 and "error" in answer.json()
    assert hub.tick(0.7).shot.movement.type == "orbit"


def test_ignored_words_and_a_subject_to_point_out_over_http(client: TestClient, hub: LiveHub, signed):
    answer = client.post("/api/command", auth=signed, json={"text": "wide shot of everyone, documentary vibe"})
    assert answer.status_code == 200 and answer.json()["ignored"] == ["documentary", "vibe"]
    assert hub.tick(0.5).shot.framing == "wide"
    # nobody is called "bass player": the shot waits (202) and the answer asks the director to point them out
    answer = client.post("/api/command", auth=signed, json={"text": "follow the bass player, documentary vibe"})
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert body["point_out"] == ["bass player"] and body["queued"] == [] and body["ignored"] == ["documentary", "vibe"]
    state = client.get("/api/state", headers=AUTH).json()
    assert state["awaiting"]["point_out"] == ["bass player"] and state["queue"]["current"]["shot"]["framing"] == "wide"
    pinned = client.post("/api/subjects/point_out", auth=signed, json={"name": "bass player", "x_m": 2.0, "y_m": 1})
    assert pinned.status_code == 200 and pinned.json()["flying"]["text"] == "follow the bass player, documentary vibe"
    assert hub.tick(1.0).shot.movement.type == "follow"
    state = client.get("/api/state", headers=AUTH).json()
    assert state["awaiting"] is None and state["queue"]["current"]["shot"]["subjects"] == ["bass player"]
    # a waiting shot the director does not want any more is cancelled; with none waiting that is a 409
    assert client.post("/api/command", auth=signed, json={"text": "orbit the drummer"}).status_code == 202
    cancelled = client.delete("/api/awaiting", auth=signed)
    assert cancelled.status_code == 200 and cancelled.json() == {"cancelled": {"text": "orbit the drummer",
                                                                               "names": ["drummer"]}}
    state = client.get("/api/state", headers=AUTH).json()
    assert state["awaiting"] is None and state["queue"]["current"]["shot"]["subjects"] == ["bass player"]
    again = client.delete("/api/awaiting", auth=signed)
    assert again.status_code == 409 and "no shot is waiting" in again.json()["error"]


# ---------------------------------------------------------------------- WebSocket on real uvicorn


@pytest.fixture()
def server(hub: LiveHub):
    # the command bucket refills at 1 per 1000 s: a burst of 6, however slowly a loaded machine gets through a
    # test (at 1/s, the seconds before test_websocket_session's burst refilled the bucket it expects a 429 from)
    hub.settings = DirectorSettings(port=0, token=TOKEN, auth_timeout_s=2.0, command_rate_per_s=1e-3,
                                    command_burst=6, state_rate_hz=20.0, frame_rate_hz=20.0)
    srv = DirectorServer(hub).start()
    yield srv
    srv.stop()


def ws_url(server: DirectorServer) -> str:
    return server.url.replace("http://", "ws://") + "/ws"


def receive_json(ws, kind: str, timeout_s: float = 5.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        message = ws.recv(timeout=max(0.01, deadline - time.monotonic()))
        if isinstance(message, str):
            data = json.loads(message)
            if data.get("type") == kind:
                return data
    raise AssertionError(f"no {kind!r} message within {timeout_s} s")


def signed_auth(server: DirectorServer, signer: RequestSigner | None = None) -> str:
    """A session opened over HTTP, and the signed first WebSocket message of it (as the page sends)."""
    import httpx

    signer = signer or RequestSigner(TOKEN)
    opened = httpx.post(server.url + "/api/session", headers=signer.open_headers(), timeout=5)
    assert opened.status_code == 200, opened.text
    signer.restart(opened.json()["session"])
    return json.dumps(signer.websocket_auth())


def test_server_binds_loopback_by_default(server: DirectorServer):
    assert server.settings.host == "127.0.0.1" and server.port > 0
    assert server.pairing_url.endswith(f"/#token={TOKEN}")


@pytest.mark.parametrize("first", [None, "not json", json.dumps({"type": "auth", "token": "wrong-0123456789abcdef"}),
                                   json.dumps({"type": "command", "text": "hold"}),
                                   json.dumps({"type": "auth"})])
def test_websocket_without_the_token_gets_nothing(server: DirectorServer, hub: LiveHub, first):
    hub.publish_frame(np.zeros((24, 32, 3), np.uint8))
    with connect(ws_url(server), open_timeout=5) as ws:
        if first is not None:
            ws.send(first)
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=5)
        assert closed.value.rcvd.code == (4408 if first is None else 4401)
    assert not hub.holding_requested


def test_websocket_token_in_query_string_is_not_enough(server: DirectorServer):
    with connect(ws_url(server) + f"?token={TOKEN}", open_timeout=5) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=5)
        assert closed.value.rcvd.code == 4408


def test_websocket_session(server: DirectorServer, hub: LiveHub):
    auth = signed_auth(server)  # the session opens over HTTP before the socket (and its auth deadline) opens
    with connect(ws_url(server), open_timeout=5) as ws:
        ws.send(auth)
        hello = receive_json(ws, "hello")
        assert any(p["name"] == "orbit_cw" for p in hello["presets"])
        state = receive_json(ws, "state")
        assert state["queue"]["current"]["shot"]["name"] == "follow_medium"
        # a frame published by the loop arrives as a binary JPEG
        hub.publish_frame(np.full((24, 32, 3), 200, np.uint8), time_s=1.0)
        deadline = time.monotonic() + 5
        while True:
            message = ws.recv(timeout=max(0.01, deadline - time.monotonic()))
            if isinstance(message, bytes):
                assert message[:2] == b"\xff\xd8"
                break
        ws.send(json.dumps({"type": "preset", "id": 7, "name": "dronie"}))
        result = receive_json(ws, "result")
        assert result["id"] == 7 and result["ok"] and result["shots"][0]["movement"]["type"] == "dronie"
        assert hub.tick(1.1).shot.name == "dronie"
        ws.send(json.dumps({"type": "hold", "id": 8}))
        assert receive_json(ws, "result")["command"] == "hold"
        assert hub.tick(1.2).hold
        deadline = time.monotonic() + 5
        while not receive_json(ws, "state")["hold"]:
            assert time.monotonic() < deadline
        ws.send(json.dumps({"type": "name", "id": 9, "track_id": 2, "name": "groom"}))
        assert receive_json(ws, "result")["name"] == "groom"
        ws.send(json.dumps({"type": "point_out", "id": 11, "name": "carol", "x_m": 8.0, "y_m": -3.0}))
        pinned = receive_json(ws, "result")
        assert pinned["id"] == 11 and pinned["ok"] and pinned["position_m"] == [8.0, -3.0]
        assert set(hub.tick(1.3).subject_pins) == {"carol"}
        ws.send(json.dumps({"type": "point_out", "id": 12, "name": "carol", "x_m": 8.0}))
        refused = receive_json(ws, "result")
        assert not refused["ok"] and refused["status"] == 422 and "missing y_m" in refused["error"]
        ws.send(json.dumps({"type": "remove_pin", "id": 13, "name": "carol"}))
        removed = receive_json(ws, "result")
        assert removed.get("removed") and hub.tick(1.35).subject_pins == {}, removed.get("error")
        ws.send(json.dumps({"type": "remove_pin", "id": 14, "name": "carol"}))
        refused = receive_json(ws, "result")
        assert not refused["ok"] and refused["status"] == 404
        ws.send(json.dumps({"type": "launch_missiles", "id": 10}))
        bad = receive_json(ws, "result")
        assert not bad["ok"] and "unknown message type" in bad["error"]
        ws.send(b"\x00\x01")
        assert "binary" in receive_json(ws, "result")["error"]
        codes = []
        for i in range(8):
            ws.send(json.dumps({"type": "preset", "id": 20 + i, "name": "orbit_cw"}))
            codes.append(receive_json(ws, "result").get("status", 200))
        assert 429 in codes
        ws.send(json.dumps({"type": "hold", "id": 40}))  # never rate limited
        assert receive_json(ws, "result")["ok"]
        # an oversized message closes the socket
        ws.send(json.dumps({"type": "command", "text": "x" * 5000}))
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                ws.recv(timeout=5)
        assert closed.value.rcvd.code == 1009


def test_websocket_asks_to_point_out_a_subject_nobody_carries(server: DirectorServer, hub: LiveHub):
    auth = signed_auth(server)  # the session opens over HTTP before the socket (and its auth deadline) opens
    with connect(ws_url(server), open_timeout=5) as ws:
        ws.send(auth)
        receive_json(ws, "hello")
        ws.send(json.dumps({"type": "command", "id": 1, "text": "orbit the drummer, documentary vibe"}))
        waiting = receive_json(ws, "result")
        assert waiting["ok"] and waiting["point_out"] == ["drummer"] and waiting["ignored"] == ["documentary", "vibe"]
        deadline = time.monotonic() + 5
        while not (receive_json(ws, "state").get("awaiting") or {}).get("point_out"):  # every tablet sees it
            assert time.monotonic() < deadline
        assert hub.tick(1.0).shot.name == "follow_medium"
        ws.send(json.dumps({"type": "name", "id": 2, "track_id": 3, "name": "drummer"}))
        assert receive_json(ws, "result")["flying"]["text"] == "orbit the drummer, documentary vibe"
        assert hub.tick(1.1).shot.subjects == ["#3"]
        ws.send(json.dumps({"type": "command", "id": 3, "text": "orbit the bass player"}))
        assert receive_json(ws, "result")["point_out"] == ["bass player"]
        ws.send(json.dumps({"type": "cancel_awaiting", "id": 4}))
        cancelled = receive_json(ws, "result")
        assert cancelled["ok"] and cancelled["id"] == 4 and cancelled["cancelled"]["names"] == ["bass player"]
        ws.send(json.dumps({"type": "cancel_awaiting", "id": 5}))
        nothing = receive_json(ws, "result")
        assert not nothing["ok"] and nothing["status"] == 409 and "no shot is waiting" in nothing["error"]
        assert hub.tick(1.2).shot.subjects == ["#3"] and hub.snapshot()["awaiting"] is None


def test_websocket_heartbeat_shows_a_stalled_loop(server: DirectorServer, hub: LiveHub):
    from cinempc.state import RigState

    hub.publish_rig(RigState(position_m=[0, 0, 2]), time_s=1.0)  # the loop publishes once, then stalls
    with connect(ws_url(server), open_timeout=5) as ws:
        ws.send(json.dumps({"type": "auth", "token": TOKEN}))
        first = receive_json(ws, "state")
        time.sleep(1.5)
        later = receive_json(ws, "state", timeout_s=3.0)
        while later["loop"]["age_s"] < 1.5:
            later = receive_json(ws, "state", timeout_s=3.0)
        assert later["seq"] == first["seq"]  # nothing changed, yet the tablet hears the loop's age grow


def test_tls_serves_https_and_wss(hub: LiveHub, repo_root):
    import ssl

    import httpx

    cert = repo_root / "test" / "data" / "director_test_tls.crt"  # self-signed for 127.0.0.1, test use only
    key = repo_root / "test" / "data" / "director_test_tls.key"
    hub.settings = DirectorSettings(port=0, token=TOKEN, tls_certfile=str(cert), tls_keyfile=str(key))
    server = DirectorServer(hub).start()
    try:
        assert server.url.startswith("https://127.0.0.1:") and server.pairing_url.startswith("https://")
        context = ssl.create_default_context(cafile=str(cert))
        assert httpx.get(server.url + "/api/state", verify=context, timeout=5).status_code == 401
        state = httpx.get(server.url + "/api/state", headers=AUTH, verify=context, timeout=5)
        assert state.status_code == 200 and state.json()["queue"]["current"]["shot"]["name"] == "follow_medium"
        with pytest.raises(httpx.TransportError):  # plain HTTP is not answered on a TLS port
            httpx.get(server.url.replace("https://", "http://") + "/api/state", headers=AUTH, timeout=5)
        with connect(server.url.replace("https://", "wss://") + "/ws", ssl=context, open_timeout=5) as ws:
            ws.send(json.dumps({"type": "auth", "token": TOKEN}))
            assert receive_json(ws, "hello")["presets"]
    finally:
        server.stop()
    with pytest.raises(ValueError, match="both"):
        DirectorSettings(tls_certfile=str(cert))
    with pytest.raises(ValueError, match="not a file"):
        DirectorSettings(tls_certfile="/nonexistent.crt", tls_keyfile=str(key))


# ---------------------------------------------------------------------- replay protection


def _signed_headers(signer: RequestSigner, method: str, path: str, body: bytes = b"") -> dict[str, str]:
    return {**signer.headers(method, path, body), "Content-Type": "application/json"}


def _open(client: TestClient, signer: RequestSigner) -> None:
    opened = client.post("/api/session", headers=signer.open_headers())
    assert opened.status_code == 200 and opened.json()["counter"] == 1, opened.text
    signer.restart(opened.json()["session"])


def test_a_replayed_request_is_refused_with_409_and_changes_nothing(client: TestClient, hub: LiveHub):
    signer = RequestSigner(TOKEN)
    _open(client, signer)
    assert client.post("/api/hold", headers=AUTH).status_code == 200 and hub.tick(0.1).hold
    captured = _signed_headers(signer, "POST", "/api/resume", b"{}")  # the director's RESUME, seen on the wire
    assert client.post("/api/resume", headers=captured, content=b"{}").status_code == 200
    assert not hub.tick(0.2).hold
    assert client.post("/api/hold", headers=AUTH).status_code == 200 and hub.tick(0.3).hold  # the director holds
    for _ in range(3):  # the captured RESUME sent again, byte for byte
        replayed = client.post("/api/resume", headers=captured, content=b"{}")
        assert replayed.status_code == 409 and replayed.json()["replay"] == "counter_used", replayed.text
        assert "replay" in replayed.json()["error"] and hub.tick(0.4).hold
    # its counter raised, the signature kept: not the token's signature any more
    raised = {**captured, "X-Director-Counter": "99"}
    assert client.post("/api/resume", headers=raised, content=b"{}").status_code == 401
    # the signature moved onto another route or body: refused too
    assert client.post("/api/abort", headers=captured, content=b"{}").status_code == 401
    assert client.post("/api/resume", headers=captured, content=b"{} ").status_code == 401
    # the bare token may read and HOLD, never change anything else: 428 and how to sign
    unsigned = client.post("/api/resume", headers=AUTH)
    assert unsigned.status_code == 428 and "signed" in unsigned.json()["error"]
    # a session the server never issued (or forgot: restarted, evicted): 409, open a new one
    stranger = RequestSigner(TOKEN, session="not-a-session")
    unknown = client.post("/api/resume", headers=_signed_headers(stranger, "POST", "/api/resume", b"{}"), content=b"{}")
    assert unknown.status_code == 409 and unknown.json()["replay"] == "unknown_session"
    # a counter that is not a counter: 400 with the rule
    from cinempc.director.security import sign_request

    bad = {"X-Director-Session": signer.session, "X-Director-Counter": "007",
           "X-Director-Signature": sign_request(TOKEN, "POST", "/api/resume", signer.session, "007", b"{}")}
    refused = client.post("/api/resume", headers=bad, content=b"{}")
    assert refused.status_code == 400 and "X-Director-Counter" in refused.json()["error"]
    assert hub.tick(0.5).hold  # nothing above lifted the HOLD
    # a fresh counter of the session: the director's own RESUME goes through
    fresh = client.post("/api/resume", headers=_signed_headers(signer, "POST", "/api/resume", b"{}"), content=b"{}")
    assert fresh.status_code == 200 and not hub.tick(0.6).hold


def test_every_state_changing_route_refuses_the_bare_token_and_a_replay(client: TestClient, hub: LiveHub):
    routes = [(method, concrete(r.path)) for r in client.app.routes if isinstance(r, APIRoute)
              for method in r.methods if method in ("POST", "PUT", "PATCH", "DELETE")]
    assert len(routes) >= 9
    signer = RequestSigner(TOKEN)
    _open(client, signer)
    for method, path in routes:
        if path in ("/api/hold", "/api/session"):
            continue
        assert client.request(method, path, headers=AUTH, json={}).status_code == 428, (method, path)
        headers = _signed_headers(signer, method, path, b"{}")
        first = client.request(method, path, headers=headers, content=b"{}")
        # taken: the route's own answer (whatever it says), never the replay protection's
        assert first.status_code not in (401, 428) and "replay" not in first.json(), (method, path, first.text)
        again = client.request(method, path, headers=headers, content=b"{}")
        assert again.status_code == 409 and again.json()["replay"] == "counter_used", (method, path, again.text)


def test_hold_always_works_replayed_or_not(client: TestClient, hub: LiveHub):
    signer = RequestSigner(TOKEN)
    hold = _signed_headers(signer, "POST", "/api/hold", b"{}")  # signed before any session was opened
    for _ in range(5):  # the same signed HOLD, again and again: holding is always safe
        assert client.post("/api/hold", headers=hold, content=b"{}").status_code == 200
    assert hub.tick(0.1).hold
    _open(client, signer)
    resume = _signed_headers(signer, "POST", "/api/resume", b"{}")
    assert client.post("/api/resume", headers=resume, content=b"{}").status_code == 200 and not hub.tick(0.2).hold
    held = _signed_headers(signer, "POST", "/api/hold", b"{}")
    for _ in range(3):
        assert client.post("/api/hold", headers=held, content=b"{}").status_code == 200
    assert client.post("/api/hold", headers=AUTH).status_code == 200  # the bare token holds too
    assert client.post("/api/hold", headers={**AUTH, "X-Director-Counter": "1"}).status_code == 200  # a stray header
    opened = client.post("/api/session", headers=AUTH)  # the bare token may open a session to sign with
    assert opened.status_code == 200 and opened.json()["session"]
    forgotten = _signed_headers(RequestSigner(TOKEN, session="forgotten-session"), "POST", "/api/hold", b"{}")
    assert client.post("/api/hold", headers=forgotten, content=b"{}").status_code == 200  # a session nobody knows
    assert hub.tick(0.3).hold
    # ... but a HOLD must still prove the token
    assert client.post("/api/hold", headers={**held, "X-Director-Counter": "77"}, content=b"{}").status_code == 401
    assert client.post("/api/hold").status_code == 401


def test_a_replayed_websocket_auth_is_closed_and_a_bearer_socket_may_only_read_and_hold(server: DirectorServer,
                                                                                         hub: LiveHub):
    auth = signed_auth(server)
    with connect(ws_url(server), open_timeout=5) as ws:
        ws.send(auth)
        receive_json(ws, "hello")
    hub.hold()
    with connect(ws_url(server), open_timeout=5) as ws:  # the captured auth message on a new socket
        ws.send(auth)
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                ws.recv(timeout=5)
        assert closed.value.rcvd.code == 4409
    with connect(ws_url(server), open_timeout=5) as ws:
        ws.send(json.dumps({"type": "auth", "token": TOKEN}))
        receive_json(ws, "hello")
        ws.send(json.dumps({"type": "resume", "id": 1}))
        refused = receive_json(ws, "result")
        assert not refused["ok"] and refused["status"] == 428 and refused["id"] == 1
        assert hub.tick(1.0).hold
        ws.send(json.dumps({"type": "hold", "id": 2}))
        assert receive_json(ws, "result")["ok"]
