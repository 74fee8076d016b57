"""Pure-logic parts of the MAVLink bridge: frames, lens mapping, dialect tables, signing keys, supervisor."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cinempc.config import load_camera_profile, load_parameters, load_vehicle_config
from cinempc.mavlink import frames
from cinempc.mavlink.autopilots import (
    ARDUPILOT_MODES,
    Autopilot,
    AutopilotDialect,
    detect_autopilot,
    px4_custom_mode,
)
from cinempc.mavlink.lens import LensMapping
from cinempc.mavlink.signing import SigningKeyError, load_signing_key, write_signing_key
from cinempc.mavlink.supervisor import SafetySupervisor
from cinempc.state import RigState, Setpoint

finite = st.floats(-1e4, 1e4, allow_nan=False)
angles = st.floats(-3 * math.pi, 3 * math.pi, allow_nan=False)


# ------------------------------------------------------------------------------------ frames
def test_enu_ned_axes():
    # east 1, north 2, up 3  ->  north 2, east 1, down -3
    np.testing.assert_allclose(frames.enu_to_ned([1.0, 2.0, 3.0]), [2.0, 1.0, -3.0])
    np.testing.assert_allclose(frames.ned_to_enu([2.0, 1.0, -3.0]), [1.0, 2.0, 3.0])
    stack = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    np.testing.assert_allclose(frames.enu_to_ned(stack), [[0, 1, 0], [1, 0, 0], [0, 0, -1]])


@given(finite, finite, finite)
def test_enu_ned_round_trip(x, y, z):
    np.testing.assert_allclose(frames.ned_to_enu(frames.enu_to_ned([x, y, z])), [x, y, z])


def test_yaw_conventions():
    # ENU yaw 0 = facing east = NED yaw +90 deg; ENU +90 (north) = NED 0
    assert frames.yaw_enu_to_ned(0.0) == pytest.approx(math.pi / 2)
    assert frames.yaw_enu_to_ned(math.pi / 2) == pytest.approx(0.0)
    assert frames.yaw_enu_to_ned(math.pi) == pytest.approx(-math.pi / 2)  # west


@given(angles)
def test_yaw_round_trip_and_heading_vector(yaw):
    back = frames.yaw_ned_to_enu(frames.yaw_enu_to_ned(yaw))
    assert math.cos(back - yaw) == pytest.approx(1.0)
    heading_enu = np.array([math.cos(yaw), math.sin(yaw), 0.0])
    yaw_ned = frames.yaw_enu_to_ned(yaw)
    heading_ned = np.array([math.cos(yaw_ned), math.sin(yaw_ned), 0.0])
    np.testing.assert_allclose(frames.enu_to_ned(heading_enu), heading_ned, atol=1e-9)


@given(st.floats(-1.5, 1.5), st.floats(-1.5, 1.5), angles)
def test_quaternion_round_trip(roll, pitch, yaw):
    q = frames.quaternion_from_euler_ned(roll, pitch, yaw)
    assert np.linalg.norm(q) == pytest.approx(1.0)
    r, p, y = frames.euler_from_quaternion_ned(q)
    assert (r, p) == (pytest.approx(roll, abs=1e-9), pytest.approx(pitch, abs=1e-9))
    assert math.cos(y - yaw) == pytest.approx(1.0)


def test_camera_looking_down_has_negative_pitch_quaternion():
    # looking 30 deg down toward north: the optical axis (body x) must point north and down (+z in NED)
    from scipy.spatial.transform import Rotation

    q = frames.quaternion_from_euler_ned(0.0, -math.radians(30), 0.0)
    axis = Rotation.from_quat(q, scalar_first=True).apply([1.0, 0.0, 0.0])
    assert axis[0] > 0 and axis[2] > 0


def test_bad_quaternion_is_rejected():
    with pytest.raises(ValueError, match="quaternion"):
        frames.euler_from_quaternion_ned([0, 0, 0, 0])
    with pytest.raises(ValueError):
        frames.euler_from_quaternion_ned([math.nan, 0, 0, 1])


# -------------------------------------------------------------------------------------- lens
@pytest.fixture(scope="module")
def lens() -> LensMapping:
    return LensMapping(load_camera_profile("super35_cine_zoom"))


def test_zoom_percent_is_linear_in_focal_length(lens):
    assert lens.zoom_percent(25.0) == 0.0
    assert lens.zoom_percent(250.0) == 100.0
    assert lens.zoom_percent(137.5) == pytest.approx(50.0)
    assert lens.zoom_percent(1000.0) == 100.0  # clamped to the lens
    assert lens.focal_length_mm(lens.zoom_percent(85.0)) == pytest.approx(85.0)


def test_focus_percent_is_dioptre_linear(lens):
    assert lens.focus_percent(1.2) == 0.0
    assert lens.focus_percent(100.0) == pytest.approx(100.0)
    # halfway in dioptres between 1/1.2 and 1/100 is ~2.37 m: most of the ring is close focus
    half = lens.focus_distance_m(50.0)
    assert 2.0 < half < 3.0
    for distance in (1.5, 3.0, 7.0, 40.0):
        assert lens.focus_distance_m(lens.focus_percent(distance)) == pytest.approx(distance)


def test_lens_rejects_nan(lens):
    with pytest.raises(ValueError, match="finite"):
        lens.zoom_percent(math.nan)
    with pytest.raises(ValueError, match="finite"):
        lens.focus_distance_m(math.inf)


# ------------------------------------------------------------------------------- dialects
@pytest.fixture(scope="module")
def params() -> dict:
    return load_parameters("mavlink.yaml")


class _Heartbeat:
    def __init__(self, autopilot: int) -> None:
        self.autopilot = autopilot


def test_detect_autopilot():
    assert detect_autopilot(_Heartbeat(12)) is Autopilot.PX4
    assert detect_autopilot(_Heartbeat(3)) is Autopilot.ARDUPILOT
    assert detect_autopilot(_Heartbeat(8)) is None  # MAV_AUTOPILOT_INVALID: a camera, a GCS


def test_px4_modes(params):
    px4 = AutopilotDialect.from_params(Autopilot.PX4, params)
    assert px4.mode_args("offboard") == (1.0, 6.0, 0.0)
    assert px4.mode_args("hold") == (1.0, 4.0, 3.0)
    assert px4.mode_name(px4_custom_mode(6)) == "offboard"
    assert px4.mode_name(px4_custom_mode(4, 3)) == "hold"
    assert px4.mode_name(px4_custom_mode(4, 6)) == "land"
    assert px4.is_offboard(px4_custom_mode(6)) and px4.is_hold(px4_custom_mode(4, 3))
    assert px4.type_mask == 0  # PX4 takes position + velocity + acceleration + yaw + yaw rate
    assert (px4.zoom_command, px4.focus_command, px4.camera_component_id) == ("focal_length", "meters", 100)
    with pytest.raises(ValueError, match="PX4 has no mode"):
        px4.mode_args("brake")


def test_ardupilot_modes(params):
    ap = AutopilotDialect.from_params(Autopilot.ARDUPILOT, params)
    assert ap.mode_args("offboard") == (1.0, 4.0, 0.0)  # GUIDED
    assert ap.mode_args("brake") == (1.0, 17.0, 0.0)
    assert ap.mode_name(ARDUPILOT_MODES["hold"]) == "hold" and ap.mode_name(4) == "offboard"
    assert ap.hold_mode == "brake" and ap.is_hold(17)
    assert ap.type_mask & 2048 and not ap.type_mask & 0b111111111  # yaw rate ignored, p/v/a used
    assert (ap.zoom_command, ap.focus_command) == ("range", "range")


def test_ardupilot_rejects_focal_length_zoom(params):
    bad = {**params, "ardupilot": {**params["ardupilot"], "zoom_command": "focal_length"}}
    with pytest.raises(ValueError, match="ArduPilot accepts zoom"):
        AutopilotDialect.from_params(Autopilot.ARDUPILOT, bad)
    no_position = {**params, "px4": {**params["px4"], "type_mask": 7}}
    with pytest.raises(ValueError, match="position target"):
        AutopilotDialect.from_params(Autopilot.PX4, no_position)


# ---------------------------------------------------------------------------------- signing
def test_signing_key_round_trip(tmp_path):
    path = tmp_path / "keys" / "mavlink.key"
    key = write_signing_key(path)
    assert len(key) == 32 and oct(path.stat().st_mode & 0o777) == "0o600"
    assert load_signing_key(path) == key


def test_signing_key_formats(tmp_path):
    raw = tmp_path / "px4.bin"
    raw.write_bytes(bytes(range(32)) + b"\x00" * 8)  # PX4's key file: key + timestamp
    raw.chmod(0o600)
    assert load_signing_key(raw) == bytes(range(32))
    bad = tmp_path / "short.key"
    bad.write_text("abcd")
    bad.chmod(0o600)
    with pytest.raises(SigningKeyError, match="64 hex"):
        load_signing_key(bad)


def test_signing_key_refused_when_readable_or_in_repo(tmp_path, repo_root):
    path = tmp_path / "open.key"
    write_signing_key(path)
    path.chmod(0o644)
    with pytest.raises(SigningKeyError, match="chmod 600"):
        load_signing_key(path)
    with pytest.raises(SigningKeyError, match="inside the repository"):
        write_signing_key(repo_root / "leaked.key")
    inside = repo_root / "test" / "test_mavlink_frames.py"  # any file inside the checkout
    with pytest.raises(SigningKeyError, match="inside the repository"):
        load_signing_key(inside)
    with pytest.raises(SigningKeyError, match="does not exist"):
        load_signing_key(tmp_path / "missing.key")
    assert not os.path.exists(repo_root / "leaked.key")


# ------------------------------------------------------------------------------- supervisor
class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _setpoint(x: float, y: float, z: float, hold: bool = False, velocity=(1.0, 0, 0)) -> Setpoint:
    return Setpoint(position_m=[x, y, z], velocity_mps=list(velocity), acceleration_mps2=[0, 0, 0], yaw_rad=0.3,
                    yaw_rate_rad_s=0.1, pitch_rad=-0.2, focal_length_mm=50, focus_distance_m=5, f_number=4, hold=hold)


def test_supervisor_link_loss_latches_until_operator():
    clock = _Clock()
    sup = SafetySupervisor(load_vehicle_config().airspace, 0.25, clock=clock)
    assert sup.update_link() == (False, None)  # never heard: not ok, no transition
    sup.telemetry_received()
    assert sup.update_link() == (True, "restored")
    clock.now += 0.2
    assert sup.update_link() == (True, None)
    clock.now += 0.1  # 0.3 s of silence
    assert sup.update_link() == (False, "lost")
    assert sup.operator_resume_required
    sup.telemetry_received()
    assert sup.update_link() == (True, "restored")
    assert sup.operator_resume_required  # a restored link does not resume by itself
    kinds = sup.events.kinds()
    assert kinds == ["link_up", "link_lost", "link_restored"]
    assert "operator" in sup.events.snapshot()[-1].reason
    sup.operator_resume()
    assert not sup.operator_resume_required and sup.events.kinds()[-1] == "operator_resume"


def test_supervisor_never_passes_a_setpoint_outside_the_fence():
    airspace = load_vehicle_config().airspace
    sup = SafetySupervisor(airspace, 0.25, clock=_Clock())
    state = RigState(position_m=[10.0, 5.0, 3.0], yaw_rad=1.0, pitch_rad=-0.3)
    inside = _setpoint(0, 0, 5)
    assert sup.gate(inside, state) is inside
    for outside, axis in ((_setpoint(500, 0, 5, velocity=(8, 1, 0)), 0), (_setpoint(0, -61, 5, velocity=(1, -8, 0)), 1),
                          (_setpoint(0, 0, 0.5, velocity=(1, 1, -3)), 2),
                          (_setpoint(0, 0, 41, velocity=(1, 1, 3)), 2)):
        sent = sup.gate(outside, state)
        assert airspace.contains(sent.position_m)
        # the offending axis stops where the vehicle is, with no outward motion; the others keep the request
        assert sent.position_m[axis] == pytest.approx(state.position_m[axis]) and sent.velocity_mps[axis] == 0.0
        others = [i for i in range(3) if i != axis]
        np.testing.assert_allclose(sent.position_m[others], outside.position_m[others])
        np.testing.assert_allclose(sent.velocity_mps[others], outside.velocity_mps[others])
    assert sup.events.kinds() == ["geofence"]  # one event per episode, not per setpoint
    sup.gate(inside, state)
    assert sup.events.kinds() == ["geofence", "geofence_clear"]
    # position unknown: the request clamped into the fence
    unknown = SafetySupervisor(airspace, 0.25, clock=_Clock()).gate(_setpoint(500, 0, 100), None)
    np.testing.assert_allclose(unknown.position_m, [60.0, 0.0, 40.0])


def test_supervisor_hold_reason_is_an_event():
    sup = SafetySupervisor(load_vehicle_config().airspace, 0.25, clock=_Clock())
    sup.gate(_setpoint(0, 0, 5, hold=True), None, "no_subject: alice lost for 1.2 s")
    sup.gate(_setpoint(0, 0, 5, hold=True), None, "no_subject: alice lost for 1.2 s")
    sup.gate(_setpoint(0, 0, 5), None)
    events = sup.events.snapshot()
    assert [e.kind for e in events] == ["hold", "hold_released"]
    assert "alice lost" in events[0].reason and "gimbal kept" in events[0].reason
    assert events[0].as_dict()["severity"] == "warning"


# ------------------------------------------------------------------------------ connection URLs
@pytest.mark.parametrize("url, kind, device, baud", [
    ("udpin:0.0.0.0:14540", "udpin", "0.0.0.0:14540", None),
    ("udpout://127.0.0.1:14580", "udpout", "127.0.0.1:14580", None),
    ("tcp:127.0.0.1:5760", "tcp", "127.0.0.1:5760", None),
    ("tcpin:0.0.0.0:5760", "tcpin", "0.0.0.0:5760", None),
    ("serial:/dev/ttyACM0:921600", "serial", "/dev/ttyACM0", 921600),
    ("serial:///dev/ttyUSB0:57600", "serial", "/dev/ttyUSB0", 57600),
    ("/dev/ttyTHS1:921600", "serial", "/dev/ttyTHS1", 921600),  # pymavlink alone would open UDP here
    ("/dev/ttyACM0", "serial", "/dev/ttyACM0", 921600),
    ("COM3:57600", "serial", "COM3", 57600),
])
def test_connection_urls(url, kind, device, baud):
    from cinempc.mavlink.connection import parse_url

    address = parse_url(url)
    assert (address.kind, address.device, address.baud) == (kind, device, baud)


@pytest.mark.parametrize("url, message", [
    ("", "empty"), ("udpin:14540", "HOST:PORT"), ("udpout:host:99999", "1..65535"), ("bogus:1.2.3.4:5", "unknown"),
])
def test_bad_connection_urls(url, message):
    from cinempc.mavlink.connection import parse_url

    with pytest.raises(ValueError, match=message):
        parse_url(url)
