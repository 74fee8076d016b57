"""``cinempc preflight`` against the simulated autopilot over real, signed MAVLink 2 on loopback UDP.

Every check passes on a good site, and each fails with its own reason for a fault the real parts produce
(wrong key, unprovisioned autopilot, armed vehicle, wrong field, a tighter autopilot fence or offboard-loss
timeout, the wrong camera profile, missing weights, a frame without people).  Only faults the simulated
autopilot cannot produce -- a camera that stays silent, a home never sent -- are injected, by a UDP relay
that drops those packets.
"""

from __future__ import annotations

import select
import socket
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import yaml

from cinempc.mavlink.bridge import mav
from cinempc.mavlink.mission import RallyItem, RallyTransfer
from cinempc.mavlink.signing import write_signing_key
from cinempc.preflight import Check, PreflightSettings, check_detector, connect, run_preflight, upload_rally
from cinempc.site import load_site
from cinempc_sim.autopilot import SimAutopilot
from cinempc_sim.simulator import Simulator

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "site_field.yaml"


class DroppingRelay:
    """UDP relay bridge <-> autopilot that drops autopilot packets matching ``drop(component, msg_id)``."""

    def __init__(self, target: tuple[str, int], drop: Callable[[int, int], bool]) -> None:
        self.target, self.drop = target, drop
        self.front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.front.bind(("127.0.0.1", 0))
        self.back = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.back.bind(("127.0.0.1", 0))
        self.client: tuple[str, int] | None = None
        self.dropped = 0
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"udpout:127.0.0.1:{self.front.getsockname()[1]}"

    def _run(self) -> None:
        while not self._stop:
            for s in select.select([self.front, self.back], [], [], 0.05)[0]:
                try:
                    data, addr = s.recvfrom(65535)
                except OSError:
                    continue
                if s is self.front:
                    self.client = addr
                    self.back.sendto(data, self.target)
                elif self.client is not None:
                    # MAVLink 2: magic, len, incompat, compat, seq, sysid, compid, msgid (3 bytes LE)
                    if data[:1] == b"\xfd" and self.drop(data[6], int.from_bytes(data[7:10], "little")):
                        self.dropped += 1
                        continue
                    self.front.sendto(data, self.client)

    def close(self) -> None:
        self._stop = True
        self._thread.join(timeout=1.0)
        self.front.close()
        self.back.close()


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> tuple[Path, bytes, Path]:
    folder = tmp_path_factory.mktemp("keys")
    good = folder / "field.key"
    key = write_signing_key(good)
    wrong = folder / "other.key"
    write_signing_key(wrong)
    return good, key, wrong


@pytest.fixture(scope="module")
def px4(keys):
    _, key, _ = keys
    with Simulator("single_walker", render=False) as sim:
        with SimAutopilot(sim, "px4", signing_key=key) as autopilot:
            yield autopilot


@pytest.fixture(scope="module")
def settings() -> PreflightSettings:
    # the shipped timings (5 s per reply, the stream timed over 1 s): 2 s / 0.5 s were bars on a loaded machine
    # (a late reply from this process's autopilot threads, or a stall of its stream thread, failed preflight)
    return PreflightSettings.load()


def write_site(folder: Path, url: str, key: Path | None, **changes) -> Path:
    """The shipped example site pointed at ``url`` with ``key``, with top-level/nested ``changes``."""
    document = yaml.safe_load(EXAMPLE.read_text())
    document["mavlink"]["url"] = url
    document["mavlink"]["signing_key"] = str(key) if key else None
    for dotted, value in changes.items():
        node = document
        *parents, leaf = dotted.split("__")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    path = folder / "field.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def preflight(tmp_path, url, key, settings, **changes):
    return run_preflight(load_site(write_site(tmp_path, url, key, **changes)), settings, detector=False)


def test_every_check_passes_on_a_good_site(px4, keys, settings, tmp_path):
    site_file = write_site(tmp_path, px4.url, keys[0])
    assert upload_rally(load_site(site_file), settings).passed  # `cinempc mavlink rally`, as first_flight.md says
    report = preflight(tmp_path, px4.url, keys[0], settings)
    assert report.passed, report.text()
    assert [r.check for r in report.results] == list(Check)
    link = report.result(Check.LINK).reason
    assert "signed both ways" in link
    stream = report.result(Check.STREAM).reason
    measured = float(stream.split(" Hz measured")[0])
    assert measured >= 20.0, stream  # config stream.setpoint_rate_hz 30; 12 Hz needed
    assert report.resolved is not None and report.resolved.fence.contains(report.resolved.home.local_enu_m[:2])


def test_no_autopilot_at_the_url(keys, settings, tmp_path):
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    try:
        report = preflight(tmp_path, f"udpout:127.0.0.1:{silent.getsockname()[1]}", keys[0], settings)
    finally:
        silent.close()
    assert not report.passed
    assert "no autopilot heartbeat" in report.result(Check.LINK).reason
    assert report.result(Check.HOME).reason == "not run: no link to the autopilot"


def test_autopilot_signing_with_another_key(px4, keys, settings, tmp_path):
    report = preflight(tmp_path, px4.url, keys[2], settings)
    reason = report.result(Check.LINK).reason
    assert not report.result(Check.LINK).passed and "signed with another key" in reason, reason


def test_unprovisioned_autopilot_is_refused(keys, settings, tmp_path):
    with Simulator("single_walker", render=False) as sim, SimAutopilot(sim, "px4") as unsigned:
        report = preflight(tmp_path, unsigned.url, keys[0], settings)
    reason = report.result(Check.LINK).reason
    assert not report.result(Check.LINK).passed and "not provisioned" in reason, reason


def test_site_without_a_key_fails_signing(px4, settings, tmp_path):
    with Simulator("single_walker", render=False) as sim, SimAutopilot(sim, "px4") as unsigned:
        report = preflight(tmp_path, unsigned.url, None, settings)
        bench = preflight(tmp_path, unsigned.url, None, settings, mavlink__require_signing=False)
    assert "UNSIGNED" in report.result(Check.LINK).reason and not report.result(Check.LINK).passed
    assert bench.result(Check.LINK).passed and "bench only" in bench.result(Check.LINK).reason


def test_armed_vehicle_fails_mode(px4, keys, settings, tmp_path):
    from pymavlink.dialects.v20 import ardupilotmega as mav

    from cinempc.preflight import connect

    site = load_site(write_site(tmp_path, px4.url, keys[0]))
    bridge, _ = connect(site, settings)
    try:
        assert bridge.operator_arm(True).accepted
        report = run_preflight(site, settings, detector=False, bridge=bridge)
    finally:
        bridge.command(mav.MAV_CMD_COMPONENT_ARM_DISARM, 0.0)
        bridge.close()
    reason = report.result(Check.MODE).reason
    assert not report.result(Check.MODE).passed and reason.startswith("already ARMED"), reason


def test_wrong_field_fails_home(px4, keys, settings, tmp_path):
    report = preflight(tmp_path, px4.url, keys[0], settings, home__lat_deg=47.3995)  # ~195 m north
    reason = report.result(Check.HOME).reason
    assert not report.result(Check.HOME).passed and "m from the site's home" in reason, reason
    assert report.result(Check.FENCE).reason == "not run: no home to anchor our fence at"


def test_home_never_sent_fails_home(px4, keys, settings, tmp_path):
    from pymavlink.dialects.v20 import ardupilotmega as mav

    relay = DroppingRelay(px4.address, lambda comp, msg_id: msg_id == mav.MAVLINK_MSG_ID_HOME_POSITION)
    try:
        report = preflight(tmp_path, relay.url, keys[0], settings)
    finally:
        relay.close()
    reason = report.result(Check.HOME).reason
    assert not report.result(Check.HOME).passed and reason.startswith("no HOME_POSITION"), reason
    assert relay.dropped > 0


def test_tighter_autopilot_fence_fails(px4, keys, settings, tmp_path):
    saved = dict(px4.params)
    px4.params.update({"GF_MAX_HOR_DIST": 50.0, "GF_ACTION": 1.0})  # what PARAM_SET does
    try:
        report = preflight(tmp_path, px4.url, keys[0], settings)
    finally:
        px4.params.update(saved)
    reason = report.result(Check.FENCE).reason
    assert not report.result(Check.FENCE).passed, reason
    assert "beyond its GF_MAX_HOR_DIST 50.0 m" in reason and "GF_ACTION = 1 only warns" in reason


def test_ardupilot_fence_parameters(keys, settings, tmp_path):
    with Simulator("single_walker", render=False) as sim, SimAutopilot(sim, "ardupilot", signing_key=keys[1]) as ap:
        good = preflight(tmp_path, ap.url, keys[0], settings)
        ap.params["FENCE_ENABLE"] = 0.0
        ap.params["FENCE_ALT_MAX"] = 20.0
        bad = preflight(tmp_path, ap.url, keys[0], settings)
    assert good.result(Check.FENCE).passed, good.result(Check.FENCE).reason
    assert "FENCE_RADIUS 100 m" in good.result(Check.FENCE).reason
    reason = bad.result(Check.FENCE).reason
    assert "FENCE_ENABLE = 0" in reason and "above its FENCE_ALT_MAX 20.0 m" in reason, reason


SITE_RALLY = RallyItem(47.397517, 8.545197, 10.0)  # examples/site_field.yaml failsafe.rally


def rally_list(site, settings, items: list[RallyItem] | None = None) -> list[RallyItem]:
    """The autopilot's rally list read (after replacing it with ``items``) by a client of our own, over the wire."""
    bridge, link = connect(site, settings)
    assert bridge is not None and link.passed, link.reason
    try:
        transfer = RallyTransfer(bridge)
        if items is not None:
            transfer.upload(items)
        return transfer.download()
    finally:
        bridge.close()


def test_rally_point_fails_preflight_until_uploaded_then_reads_back(px4, keys, settings, tmp_path):
    site = load_site(write_site(tmp_path, px4.url, keys[0]))
    assert rally_list(site, settings, []) == [] and px4.rally.points == []
    before = preflight(tmp_path, px4.url, keys[0], settings)
    reason = before.result(Check.RALLY).reason
    assert not before.passed and not before.result(Check.RALLY).passed, reason
    assert "the autopilot has no rally point" in reason and "cinempc mavlink rally --site" in reason, reason
    uploads = px4.rally.uploads
    uploaded = upload_rally(site, settings)
    assert uploaded.passed and "is the site's (47.3975170, 8.5451970, 10 m above home)" in uploaded.reason, \
        uploaded.reason
    # the simulated PX4 answered the mission protocol and stored exactly the site's point, as read back over UDP
    assert px4.rally.uploads == uploads + 1
    (stored,) = px4.rally.points
    assert stored.distance_m(SITE_RALLY) < 0.02
    (read,) = rally_list(site, settings)
    assert read.distance_m(SITE_RALLY) < 0.02
    after = preflight(tmp_path, px4.url, keys[0], settings)
    assert after.passed and after.result(Check.RALLY).passed, after.text()


def test_rally_check_fails_for_another_point_or_extra_points(px4, keys, settings, tmp_path):
    site = load_site(write_site(tmp_path, px4.url, keys[0]))
    (tmp_path / "moved").mkdir()
    moved = load_site(write_site(tmp_path / "moved", px4.url, keys[0], failsafe__rally__position=[47.3976, 8.5454]))
    try:
        assert upload_rally(site, settings).passed
        elsewhere = preflight(tmp_path, px4.url, keys[0], settings, failsafe__rally__position=[47.3976, 8.5454])
        reason = elsewhere.result(Check.RALLY).reason
        assert not elsewhere.result(Check.RALLY).passed and "rally point(s) is 17.9 m from the site's" in reason, reason
        assert len(rally_list(site, settings, [SITE_RALLY, RallyItem(47.3976, 8.5454, 10.0)])) == 2
        extra = preflight(tmp_path, px4.url, keys[0], settings)
        reason = extra.result(Check.RALLY).reason
        assert not extra.result(Check.RALLY).passed and "is one of the autopilot's 2" in reason, reason
        assert upload_rally(moved, settings).passed  # a moved site point is uploaded as given
        assert rally_list(site, settings)[0].distance_m(RallyItem(47.3976, 8.5454, 10.0)) < 0.02
    finally:
        assert upload_rally(site, settings).passed
    without = preflight(tmp_path, px4.url, keys[0], settings, failsafe__rally=None)
    assert without.result(Check.RALLY).passed, without.result(Check.RALLY).reason
    assert "no rally point in the site file" in without.result(Check.RALLY).reason
    assert "the autopilot has 1 rally point(s) of its own" in without.result(Check.RALLY).reason


def test_rally_upload_refusals(px4, keys, settings, tmp_path):
    site = load_site(write_site(tmp_path, px4.url, keys[0]))
    uploads = px4.rally.uploads
    none = upload_rally(load_site(write_site(tmp_path, px4.url, keys[0], failsafe__rally=None)), settings)
    assert not none.passed and none.reason == "the site file has no failsafe.rally to upload"
    # nothing is sent unless the site resolves at the autopilot's own home (here: the wrong field)
    elsewhere = upload_rally(load_site(write_site(tmp_path, px4.url, keys[0], home__lat_deg=47.3995)), settings)
    assert not elsewhere.passed and elsewhere.reason.startswith("not uploaded: home set:"), elsewhere.reason
    assert "m from the site's home" in elsewhere.reason, elsewhere.reason
    px4.rally.capacity = 0  # an autopilot with no room for rally points
    try:
        full = upload_rally(site, settings)
    finally:
        px4.rally.capacity = 5
    assert not full.passed and full.reason == "upload failed: the autopilot refused the rally list: " \
        "MAV_MISSION_NO_SPACE", full.reason
    assert px4.rally.uploads == uploads
    # an item that is not a rally point is refused by the autopilot, on the wire
    bridge, _ = connect(site, settings)
    try:
        bridge.send(lambda link: link.mission_count_send(1, 1, 1, mav.MAV_MISSION_TYPE_RALLY))
        request = bridge.mission_message(2.0)
        assert request.get_type() == "MISSION_REQUEST_INT" and request.seq == 0
        bridge.send(lambda link: link.mission_item_int_send(
            1, 1, 0, mav.MAV_FRAME_GLOBAL_RELATIVE_ALT, mav.MAV_CMD_NAV_WAYPOINT, 0, 0, 0, 0, 0, 0, 473975170,
            85451970, 10.0, mav.MAV_MISSION_TYPE_RALLY))
        ack = bridge.mission_message(2.0)
        assert ack.get_type() == "MISSION_ACK" and ack.type == mav.MAV_MISSION_UNSUPPORTED
    finally:
        bridge.close()
    assert px4.rally.uploads == uploads


def test_rally_upload_survives_a_lost_request(px4, keys, settings, tmp_path):
    lost: list[int] = []

    def first_request(component: int, msg_id: int) -> bool:  # MISSION_REQUEST_INT (51), once
        if msg_id == 51 and not lost:
            lost.append(msg_id)
            return True
        return False

    relay = DroppingRelay(px4.address, first_request)
    try:
        result = upload_rally(load_site(write_site(tmp_path, relay.url, keys[0])), settings)
    finally:
        relay.close()
    assert relay.dropped == 1 and result.passed, result.reason


def test_silent_camera_fails_camera_and_lens(px4, keys, settings, tmp_path):
    relay = DroppingRelay(px4.address, lambda comp, msg_id: comp == 100)  # MAV_COMP_ID_CAMERA
    try:
        report = preflight(tmp_path, relay.url, keys[0], settings)
    finally:
        relay.close()
    reason = report.result(Check.CAMERA).reason
    assert not report.result(Check.CAMERA).passed and "camera (component 100) did not answer" in reason, reason
    assert report.result(Check.LENS).reason == "no CAMERA_INFORMATION to compare with the profile"
    assert report.result(Check.LINK).passed  # the autopilot itself was heard


def test_wrong_camera_profile_fails_lens(px4, keys, settings, tmp_path):
    report = preflight(tmp_path, px4.url, keys[0], settings, camera_profile="one_inch_zoom")
    reason = report.result(Check.LENS).reason
    assert not report.result(Check.LENS).passed, reason
    assert "sensor width 24.89 mm reported, profile one_inch_zoom says 13.20 mm" in reason


def test_tight_offboard_loss_timeout_fails_stream(px4, keys, settings, tmp_path):
    saved = px4.params["COM_OF_LOSS_T"]
    px4.params["COM_OF_LOSS_T"] = 0.05
    try:
        report = preflight(tmp_path, px4.url, keys[0], settings)
    finally:
        px4.params["COM_OF_LOSS_T"] = saved
    reason = report.result(Check.STREAM).reason
    assert not report.result(Check.STREAM).passed and "60.0 Hz needed" in reason, reason


def _frame_with_a_person(path: Path) -> Path:
    import cv2

    with Simulator("single_walker", render=True, image_size=(640, 480)) as sim:
        frame = sim.render()
    cv2.imwrite(str(path), np.ascontiguousarray(frame.rgb[..., ::-1]))
    return path


@pytest.mark.slow
def test_detector_check(keys, tmp_path, settings):
    person = _frame_with_a_person(tmp_path / "person.png")
    blank = tmp_path / "blank.png"
    import cv2

    cv2.imwrite(str(blank), np.full((480, 640, 3), 90, dtype=np.uint8))
    # the rate this 2-core CI machine sustains, as a slow companion computer's site file would say
    site = load_site(write_site(tmp_path, "udpout:127.0.0.1:9", keys[0], perception__test_frame=str(person),
                                perception__frame_rate_hz=0.5))
    result = check_detector(site, settings)
    assert result.passed and " people in " in result.reason, result.reason
    no_people = check_detector(site.model_copy(update={"perception": site.perception.model_copy(
        update={"test_frame": blank})}), settings)
    assert not no_people.passed and "0 people found" in no_people.reason, no_people.reason
    missing = check_detector(site.model_copy(update={"perception": site.perception.model_copy(
        update={"weights": "/nonexistent/field.pt"})}), settings)
    assert not missing.passed and "did not load" in missing.reason and "not found" in missing.reason, missing.reason
    slow = check_detector(site.model_copy(update={"perception": site.perception.model_copy(
        update={"frame_rate_hz": 1000.0})}), settings)
    assert not slow.passed and "over the 1 ms a 1000 Hz perception rate allows" in slow.reason, slow.reason
