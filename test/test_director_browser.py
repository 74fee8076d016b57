"""End to end in real headless Chromium: a director pairs, watches, types a shot and holds a simulated drone.

The whole chain is real: the PyBullet simulator flies the closed loop in real time
(``sim/director_bridge.LiveRun``), the FastAPI app runs under uvicorn on 127.0.0.1, and
Debian's ``chromium`` (``apt-get install -y chromium``) is driven by Playwright.
``CINEMPC_SCREENSHOT_DIR=docs`` makes the test refresh the screenshots in ``docs/``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from waiting import wait_until

from cinempc.director.app import DirectorServer
from cinempc.director.live import GroundSubject, LiveHub, SubjectBox
from cinempc.director.security import load_director_settings
from cinempc.state import RigState

pytestmark = pytest.mark.browser

CONTROLLER = "follow"  # a real controller cheap enough to fly in real time next to a browser on 2 cores
VIEWPORT = {"width": 1280, "height": 800}  # a 10-12" tablet in landscape


def chromium_path() -> str:
    path = os.environ.get("CINEMPC_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.fail("headless Chromium not found: install Debian's browser with `apt-get install -y chromium` "
                    "(or point CINEMPC_CHROMIUM at a Chromium binary)")
    return path


@pytest.fixture(scope="module")
def live():
    """A real-time simulated shoot with the director app in front of it."""
    from cinempc_sim.director_bridge import LiveRun

    settings = load_director_settings(port=0)
    hub = LiveHub(settings)
    run = LiveRun(hub, "single_walker", controller=CONTROLLER, duration_s=600.0, realtime_factor=1.0).start()
    server = DirectorServer(hub, settings).start()
    yield hub, run, server
    server.stop()
    run.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=chromium_path(), headless=True,
                                      args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        yield chromium
        chromium.close()


def screenshot(page, name: str) -> None:
    target = os.environ.get("CINEMPC_SCREENSHOT_DIR")
    if target:
        page.screenshot(path=str(Path(target) / name))


def frames_shown(page) -> int:
    return int(page.get_attribute("#live", "data-frames") or 0)




def test_without_the_token_the_page_gets_nothing(live, browser):
    hub, run, server = live
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    sockets, responses = [], []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    page.on("response", lambda r: responses.append((r.url, r.status)))
    response = page.goto(server.url + "/")
    assert response.status == 401
    page.wait_for_selector("#pair-form")
    # a wrong token is refused and nothing of the app appears
    page.fill("#pair-token", "not-the-token-0123456789")
    page.click("#pair-submit")
    page.wait_for_function("() => document.getElementById('pair-error').textContent.length > 0")
    assert "wrong pairing token" in page.inner_text("#pair-error")
    assert page.query_selector("#live") is None and page.query_selector("#btn-hold") is None
    # the page's own scripts cannot read anything without the header either
    statuses = page.evaluate("""async () => Promise.all(['/api/state', '/api/frame', '/app/app.js', '/api/presets']
        .map(u => fetch(u).then(r => r.status)))""")
    assert statuses == [401, 401, 401, 401]
    time.sleep(1.0)
    assert sockets == []  # no live socket without pairing
    assert all(status == 401 for _, status in responses), responses
    assert page.evaluate("document.cookie") == ""
    screenshot(page, "director_pairing.png")
    context.close()


def _paired_tablet(browser, server, frames: list | None = None):
    """A touch tablet opened on the pairing link printed in the terminal (token in the #fragment).

    Returns the context, the page and the list its script errors are collected in; ``frames`` collects the
    text messages the page sends on its WebSockets.
    """
    context = browser.new_context(viewport=VIEWPORT, has_touch=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    if frames is not None:
        page.on("websocket", lambda ws: ws.on("framesent", lambda payload: frames.append(payload)))
    page.goto(server.pairing_url)
    return context, page, errors


def test_director_drives_the_simulated_shoot(live, browser):
    hub, run, server = live
    frames: list = []
    context, page, errors = _paired_tablet(browser, server, frames)
    page.wait_for_selector("#btn-hold")
    assert "token" not in page.url  # the fragment is wiped from the address bar

    # live image updates over the WebSocket
    page.wait_for_selector('#conn[data-state="ok"]', timeout=15000)
    # its first message is a signed auth (the token never travels): captured and sent again, it opens nothing
    auth = json.loads(frames[0])
    assert set(auth) == {"type", "session", "counter", "signature"}, auth
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    with connect(server.url.replace("http://", "ws://") + "/ws", open_timeout=5) as ws:
        ws.send(frames[0])
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                ws.recv(timeout=5)
    assert closed.value.rcvd.code == 4409
    first = wait_until(lambda: frames_shown(page), 15, "the first live frame")
    wait_until(lambda: frames_shown(page) >= first + 5, 15, "the live image to update")
    page.wait_for_selector(".box[data-track='1']", timeout=10000)
    assert "alice" in page.inner_text(".box[data-track='1']")
    assert page.inner_text("#lens-focal").endswith("mm") and page.inner_text("#lens-fnumber").startswith("f/")
    start_shot = run.loop.shot
    assert start_shot.name == "follow_medium"

    # tap the subject box, name her
    page.tap(".box[data-track='1']")
    page.wait_for_selector("#subject-panel:not([hidden])")
    page.fill("#subject-name", "star")
    page.click("#subject-save")
    wait_until(lambda: hub.snapshot()["names"].get("1") == "star", 10, "the subject name to reach the hub")
    page.wait_for_function("() => document.querySelector(\".box[data-track='1']\").textContent.includes('star')")
    screenshot(page, "director.png")

    # type a command: the queue and the simulated shot change
    page.fill("#cmd", "extreme wide shot of the star from behind, high angle")
    page.press("#cmd", "Enter")
    page.wait_for_function("() => document.getElementById('cmd-result').className.includes('ok')", timeout=10000)
    page.wait_for_function("() => document.getElementById('shot-now').textContent.startsWith('EWS')", timeout=10000)
    assert "EWS" in page.inner_text("#queue .q.current")
    shot = wait_until(lambda: run.loop.shot if run.loop.shot.framing == "extreme_wide" else None, 10,
                      "the loop to fly the new shot")
    assert shot.side == "back" and shot.angle == "high" and shot.subjects == ["#1"]  # "star" is track #1

    def distance_on_page() -> float:
        text = page.inner_text("#dof-marks")
        found = re.search(r"([0-9.]+)m", text)
        return float(found.group(1)) if found else 0.0

    # the drone really backs off to an extreme wide stand-off (it started at about 6 m)
    wait_until(lambda: distance_on_page() > 15.0, 40, "the DoF bar to show the subject far away", poll_s=0.5)

    # a sequence appended behind the shot on air shows in the queue
    page.check("#cmd-append")
    page.fill("#cmd", "medium shot, then orbit clockwise")
    page.click("#cmd-send")
    page.wait_for_function("() => document.querySelectorAll('#queue .q.upcoming').length === 2", timeout=10000)
    page.uncheck("#cmd-append")
    screenshot(page, "director_queue.png")

    # HOLD: the drone hovers where it is
    page.click("#btn-hold")
    page.wait_for_function("() => document.getElementById('btn-hold').textContent === 'HOLDING'", timeout=10000)
    assert page.is_visible("#holding-banner")
    # judged on simulated time from what the loop publishes (the sim may run slower than the wall here)
    held_at_s = hub.snapshot()["loop"]["time_s"]
    held = wait_until(lambda: (lambda s: s if s["loop"]["time_s"] >= held_at_s + 4.0 else None)(hub.snapshot()),
                      30, "4 s of simulated hover")
    still = wait_until(lambda: (lambda s: s if s["loop"]["time_s"] >= held["loop"]["time_s"] + 1.0 else None)(
        hub.snapshot()), 30, "one more simulated second")
    assert still["control"]["status"] == "hold" and still["rig"]["speed_mps"] < 0.3
    assert np.linalg.norm(np.subtract(still["rig"]["position_m"], held["rig"]["position_m"])) < 0.3
    assert float(page.get_attribute("#rig-speed", "data-speed")) < 0.5
    assert hub.snapshot()["queue"]["paused"]
    screenshot(page, "director_hold.png")

    page.click("#btn-resume")
    page.wait_for_function("() => document.getElementById('btn-hold').textContent === 'HOLD'", timeout=10000)
    wait_until(lambda: hub.snapshot()["control"]["status"] != "hold", 10, "the loop to fly again")
    assert errors == []
    context.close()


def tap_map_at(page, x_m: float, y_m: float, touch: bool = True) -> tuple[float, float]:
    """Tap (or click) the map where the page draws the ground point (x_m, y_m); the point the page took.

    The map may re-fit between reading where it draws the point and the tap landing (a walker
    leaving its inner 80 %): then the tap was aimed at an old drawing, and it is made again.
    """
    page.locator("#map").scroll_into_view_if_needed()
    canvas = page.locator("#map-canvas")
    for _ in range(3):
        view, (px, py) = page.evaluate("([x, y]) => [window.cinempcDirector.mapView(), "
                                       "window.cinempcDirector.worldToMap(x, y)]", [x_m, y_m])
        (canvas.tap if touch else canvas.click)(position={"x": px, "y": py})
        page.wait_for_selector("#pin-panel:not([hidden])")
        if page.evaluate("() => window.cinempcDirector.tapView()") == view:
            break
    return float(page.get_attribute("#pin-panel", "data-x")), float(page.get_attribute("#pin-panel", "data-y"))


def test_director_points_someone_out_on_the_map(live, browser):
    hub, run, server = live
    context, page, errors = _paired_tablet(browser, server)
    page.wait_for_selector('#conn[data-state="ok"]', timeout=15000)
    # the map draws the drone and the scenario's walker where the loop says they are
    page.wait_for_function("() => +document.getElementById('map-canvas').dataset.subjects >= 1", timeout=15000)
    # the subject list under the map names the walker; ground truth has no tracker state: nobody searched for
    page.wait_for_selector("#map-subjects li[data-track='1']", timeout=10000)
    assert page.get_attribute("#map-subjects li[data-track='1']", "data-state") == ""
    assert page.query_selector("#map-subjects li.searching") is None
    rig = hub.snapshot()["rig"]["position_m"]
    target = (round(rig[0] + 6.0, 2), round(rig[1] - 4.0, 2))  # somewhere nobody is tracked
    tapped = tap_map_at(page, *target)
    assert np.hypot(tapped[0] - target[0], tapped[1] - target[1]) < 0.5, (tapped, target)  # the tap is where drawn

    # a name the hub refuses: the error shows, the panel stays, nothing is pinned
    page.fill("#pin-name", "all")
    page.click("#pin-save")
    page.wait_for_function("() => document.getElementById('cmd-result').className.includes('err')", timeout=10000)
    assert "'all'" in page.inner_text("#cmd-result") and page.is_visible("#pin-panel")
    assert hub.snapshot()["map"]["pins"] == []

    page.fill("#pin-name", "Carol")
    page.press("#pin-name", "Enter")
    pins = wait_until(lambda: hub.snapshot()["map"]["pins"], 10, "the pin to reach the hub")
    assert [(p["name"], p["position_m"]) for p in pins] == [("carol", [tapped[0], tapped[1]])]
    assert set(hub.tick(hub.snapshot()["loop"]["time_s"]).subject_pins) == {"carol"}
    assert any(h["kind"] == "pin" and h["source"].startswith("ws") for h in hub.snapshot()["history"])
    page.wait_for_selector("#pin-panel", state="hidden")
    page.wait_for_selector("#map-pins li[data-name='carol']", timeout=10000)
    page.wait_for_function("() => document.getElementById('map-canvas').dataset.pins === '1'", timeout=10000)
    assert "pointed out" in page.inner_text("#cmd-result")
    screenshot(page, "director_map.png")
    # a wrong tap is taken back from the list under the map
    page.click("#map-pins li[data-name='carol'] .pin-remove")
    wait_until(lambda: hub.snapshot()["map"]["pins"] == [], 10, "the pin removed from the hub")
    page.wait_for_selector("#map-pins li[data-name='carol']", state="detached", timeout=10000)
    assert "no longer pointed out" in page.inner_text("#cmd-result")
    assert errors == []
    context.close()


@pytest.fixture
def quiet_hub():
    """A director app whose hub the test feeds itself (no simulator): subjects in exactly the states it wants."""
    settings = load_director_settings(port=0)
    hub = LiveHub(settings)
    server = DirectorServer(hub, settings).start()
    yield hub, server
    server.stop()


def _publish_states(hub: LiveHub, second_state: str) -> None:
    """Alice tracked in the picture, #2 (in the picture's right half) in ``second_state``."""
    hub.publish_subjects(
        [SubjectBox(1, (40.0, 40.0, 80.0, 160.0), name="alice", track_state="tracked"),
         SubjectBox(2, (220.0, 40.0, 260.0, 160.0), track_state=second_state)],
        [GroundSubject(1, (5.0, 0.0), name="alice", track_state="tracked"),
         GroundSubject(2, (8.0, 3.0), track_state=second_state)])


def test_the_subject_list_marks_a_subject_being_searched_for(quiet_hub, browser):
    hub, server = quiet_hub
    hub.publish_frame(np.zeros((240, 320, 3), np.uint8), time_s=1.0)
    hub.publish_rig(RigState(position_m=[0.0, 0.0, 4.0]), time_s=1.0)
    _publish_states(hub, "searching")
    context, page, errors = _paired_tablet(browser, server)
    page.wait_for_selector('#conn[data-state="ok"]', timeout=15000)
    searched = "#map-subjects li[data-track='2']"
    page.wait_for_selector(searched + ".searching", timeout=10000)
    assert page.get_attribute(searched, "data-state") == "searching" and "searching" in page.inner_text(searched)
    tracked = "#map-subjects li[data-track='1']"
    assert page.get_attribute(tracked, "class") == "" and "tracked" in page.inner_text(tracked)
    assert "#1 alice" in page.inner_text(tracked)

    def color(selector: str) -> str:
        return page.eval_on_selector(selector, "e => getComputedStyle(e).color")

    assert color(searched) != color(tracked)  # visibly marked, not only a word
    page.wait_for_selector(".box[data-track='2'].searching", timeout=10000)  # and its box in the picture
    assert "searching" in page.inner_text(".box[data-track='2']")
    assert "searching" not in page.inner_text(".box[data-track='1']")
    screenshot(page, "director_searching.png")
    # a subject out of the picture can be picked from the list
    page.tap(searched)
    page.wait_for_selector("#subject-panel:not([hidden])")
    assert page.inner_text("#subject-title") == "#2"
    # found again: the mark goes
    _publish_states(hub, "tracked")
    page.wait_for_selector(searched + ":not(.searching)", timeout=10000)
    assert page.get_attribute(searched, "data-state") == "tracked"
    assert page.query_selector(".box.searching") is None
    assert errors == []
    context.close()


def test_hold_works_when_the_websocket_is_down(live, browser):
    hub, run, server = live
    hub.resume("test setup")
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    # the WebSocket never reaches the server (a Wi-Fi that passes HTTP but kills sockets)
    page.route_web_socket(re.compile(r".*/ws$"), lambda ws: ws.close())
    sent: list = []  # every request the page makes, as it goes on the wire
    page.on("request", lambda request: sent.append(request))
    page.goto(server.pairing_url)
    page.wait_for_selector('#conn[data-state="bad"]', timeout=15000)
    assert "HTTP fallback" in page.inner_text("#conn")
    first = wait_until(lambda: frames_shown(page), 15, "a frame over HTTP polling")
    wait_until(lambda: frames_shown(page) > first, 15, "the image to update over HTTP polling")
    wait_until(lambda: page.get_attribute("#rig-speed", "data-speed"), 10, "rig state over HTTP polling")
    # commands go by HTTP POST too
    page.fill("#cmd", "slow orbit counterclockwise")
    page.press("#cmd", "Enter")
    page.wait_for_function("() => document.getElementById('cmd-result').className.includes('ok')", timeout=10000)
    wait_until(lambda: run.loop.shot.movement.direction == "counterclockwise", 10, "the orbit to reach the loop")
    # the page's requests carry a signature, never the token; the command, captured and sent again, is refused
    assert sent and not any("x-director-token" in r.headers for r in sent)
    changing = [r for r in sent if r.method in ("POST", "DELETE") and not r.url.endswith("/api/session")]
    assert changing and all("x-director-signature" in r.headers for r in changing)
    captured = next(r for r in sent if r.method == "POST" and r.url.endswith("/api/command"))
    history = len(hub.snapshot()["history"])
    replayed = httpx.post(captured.url, content=captured.post_data_buffer, timeout=5.0, headers={
        k: v for k, v in captured.headers.items() if k.startswith("x-director-") or k == "content-type"})
    assert replayed.status_code == 409 and replayed.json()["replay"] == "counter_used", replayed.text
    assert len(hub.snapshot()["history"]) == history  # nothing happened
    # pointing someone out goes by HTTP POST too
    rig = hub.snapshot()["rig"]["position_m"]
    tapped = tap_map_at(page, rig[0] - 5.0, rig[1] + 5.0, touch=False)  # a mouse click does it too
    page.fill("#pin-name", "dave")
    page.click("#pin-save")
    wait_until(lambda: {"name": "dave", "position_m": list(tapped)} in [
        {k: p[k] for k in ("name", "position_m")} for p in hub.snapshot()["map"]["pins"]],
        10, "the pin posted over HTTP to reach the hub")
    assert any(h["kind"] == "pin" and h["source"].startswith("http") for h in hub.snapshot()["history"])
    page.click("#map-pins li[data-name='dave'] .pin-remove")  # taken back by HTTP DELETE
    wait_until(lambda: all(p["name"] != "dave" for p in hub.snapshot()["map"]["pins"]), 10,
               "the pin removed over HTTP")
    page.click("#btn-hold")
    page.wait_for_function("() => document.getElementById('btn-hold').textContent === 'HOLDING'", timeout=10000)
    assert hub.holding_requested and hub.snapshot()["control"]["holding"]
    assert any(h["kind"] == "hold" and h["source"].startswith("http") for h in hub.snapshot()["history"])
    hub.resume("test teardown")
    context.close()


def test_director_is_asked_to_point_out_a_subject_nobody_carries(live, browser):
    hub, run, server = live
    hub.resume("test setup")
    text = "follow the bass player, documentary vibe"
    context, page, errors = _paired_tablet(browser, server)
    page.wait_for_selector('#conn[data-state="ok"]', timeout=15000)
    page.wait_for_selector(".box[data-track='1']", timeout=10000)
    page.fill("#cmd", text)
    page.press("#cmd", "Enter")
    # the answer asks for the subject and lists the words that set nothing; the shot does not fly
    page.wait_for_function("() => document.getElementById('cmd-result').className.includes('ask')", timeout=10000)
    assert "point out bass player" in page.inner_text("#cmd-result")
    assert page.inner_text("#cmd-result .ignored") == "ignored: documentary, vibe"
    page.wait_for_selector("#awaiting:not([hidden])", timeout=10000)
    assert "bass player" in page.inner_text("#awaiting")
    assert page.get_attribute("#awaiting", "data-names") == "bass player"
    held_at_s = hub.snapshot()["loop"]["time_s"]
    wait_until(lambda: hub.snapshot()["loop"]["time_s"] >= held_at_s + 1.0, 30, "a simulated second")
    current = hub.snapshot()["queue"]["current"]
    assert current is None or current["source"] != text  # still not flown
    # the director taps the walker and names them so: the waiting shot flies on that track
    page.tap(".box[data-track='1']")
    page.wait_for_selector("#subject-panel:not([hidden])")
    page.fill("#subject-name", "bass player")
    page.click("#subject-save")
    page.wait_for_selector("#awaiting", state="hidden", timeout=10000)
    assert "flying “" + text + "”" in page.inner_text("#cmd-result")
    shot = wait_until(lambda: (lambda c: c if c and c["source"] == text else None)(hub.snapshot()["queue"]["current"]),
                      10, "the waiting shot to go on air")
    assert shot["shot"]["subjects"] == ["bass player"] and shot["shot"]["movement"]["type"] == "follow"
    wait_until(lambda: run.loop.shot.subjects == ["#1"] and run.loop.shot.movement.type == "follow", 10,
               "the loop to fly it on track #1")
    assert errors == []
    context.close()


def test_director_cancels_a_shot_waiting_for_someone_to_be_pointed_out(live, browser):
    hub, run, server = live
    hub.resume("test setup")
    text = "orbit the drummer slowly"
    context, page, errors = _paired_tablet(browser, server)
    page.wait_for_selector('#conn[data-state="ok"]', timeout=15000)
    on_air = hub.snapshot()["queue"]["current"]
    page.fill("#cmd", text)
    page.press("#cmd", "Enter")
    page.wait_for_selector("#awaiting:not([hidden])", timeout=10000)
    assert "drummer" in page.inner_text("#awaiting") and page.is_visible("#awaiting-cancel")
    # the director changes their mind: one tap drops the waiting shot, the shot on air flies on
    page.tap("#awaiting-cancel")
    page.wait_for_selector("#awaiting", state="hidden", timeout=10000)
    assert "Cancelled “" + text + "”" in page.inner_text("#cmd-result")
    snap = hub.snapshot()
    assert snap["awaiting"] is None and any(h["kind"] == "cancel" for h in snap["history"])
    current = snap["queue"]["current"]
    assert (current and current["id"]) == (on_air and on_air["id"])  # nothing new went on air
    # pointing the drummer out now flies nothing: the shot was cancelled, not kept
    hub.point_out("drummer", 3.0, 3.0)
    held_at_s = hub.snapshot()["loop"]["time_s"]
    wait_until(lambda: hub.snapshot()["loop"]["time_s"] >= held_at_s + 0.5, 30, "half a simulated second")
    current = hub.snapshot()["queue"]["current"]
    assert current is None or current["source"] != text
    hub.remove_pin("drummer")
    assert errors == []
    context.close()


@pytest.fixture(scope="module")
def operator_server(tmp_path_factory):
    """A director app with the operator panel for a field whose simulated PX4 stands on the ground."""
    from field_site import field_site

    from cinempc.director.operator_panel import OperatorPanel
    from cinempc.director.security import PairingToken
    from cinempc.preflight import PreflightSettings
    from cinempc.site import load_site

    with field_site(tmp_path_factory.mktemp("operator_page")) as (site_file, px4):
        settings = load_director_settings(port=0)
        # the shipped timings (5 s to connect and read, as test_operator): the operator's HOLD connects first
        preflight = PreflightSettings.load()
        panel = OperatorPanel(load_site(site_file), PairingToken(), preflight)
        server = DirectorServer(LiveHub(settings), settings, operator=panel).start()
        yield server, px4
        server.stop()


def test_the_operator_panel_signs_with_the_operator_token(operator_server, browser):
    """The page's operator requests carry the operator token's signature, never the token: a replay is refused."""
    server, px4 = operator_server
    operator_token = server.operator.token.value
    context, page, errors = _paired_tablet(browser, server)
    sent: list = []
    page.on("request", lambda r: sent.append(r) if "/api/operator/" in r.url else None)
    page.wait_for_selector("#operator:not([hidden])", timeout=15000)  # the panel is there (401 without its token)
    page.click("#operator summary")

    # a wrong operator token opens nothing
    page.fill("#op-token", "not-the-operator-token-0123")
    page.click("#op-preflight")  # opening an operator session with it: refused
    page.wait_for_function("() => document.getElementById('op-result').textContent.includes('wrong operator token')",
                           timeout=10000)
    page.click("#op-hold")  # a hold signed with it: refused too
    page.wait_for_function("() => document.getElementById('op-result').textContent.includes('operator token required')",
                           timeout=10000)
    assert [entry["action"] for entry in server.operator.log] == []

    page.fill("#op-token", operator_token)
    page.click("#op-preflight")
    page.wait_for_function("() => /preflight (PASSED|FAILED)/.test(document.getElementById('op-result').textContent)",
                           timeout=30000)
    page.click("#op-hold")
    page.wait_for_function("() => document.getElementById('op-result').textContent.includes('hold -> ACCEPTED')",
                           timeout=30000)
    assert [entry["action"] for entry in server.operator.log] == ["hold"]

    # what went over the wire: signed with the operator token, the token itself never
    for request in sent:
        headers = request.headers
        assert operator_token not in json.dumps(headers) + (request.post_data or ""), request.url
        assert "x-operator-token" not in headers, request.url
        assert "x-director-signature" in headers, request.url  # the pairing token's proof on every route
    preflight = [r for r in sent if r.url.endswith("/api/operator/preflight")]
    assert len(preflight) == 1 and "x-operator-signature" in preflight[0].headers
    assert any(r.url.endswith("/api/operator/session") for r in sent)

    # the page's captured preflight sent again: refused as a replay, nothing run
    captured = dict(preflight[0].headers)
    replay = httpx.post(server.url + "/api/operator/preflight", content=preflight[0].post_data or b"",
                        headers={k: v for k, v in captured.items() if k.startswith("x-") or k == "content-type"},
                        timeout=10)
    assert replay.status_code == 409, replay.text  # the director's counter already taken
    # ... and with a fresh proof of the pairing token (the bare one): the operator's own counter was taken
    operator_only = {k: v for k, v in captured.items() if k.startswith("x-operator-") or k == "content-type"}
    replay = httpx.post(server.url + "/api/operator/preflight", content=preflight[0].post_data or b"",
                        headers={**operator_only, "X-Director-Token": server.token.value}, timeout=10)
    assert replay.status_code == 409 and replay.json()["operator_replay"] == "counter_used", replay.text
    assert not px4.armed
    assert errors == []
    context.close()
