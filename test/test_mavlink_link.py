"""The bridge against the simulated autopilot over real MAVLink 2 bytes on loopback UDP.

The autopilot wraps the real PyBullet Simulator.  Fault injection (link cut) is
a UDP proxy this test controls; everything else is the real code path.
"""

from __future__ import annotations

import math
import select
import socket
import struct
import threading
import time
from collections.abc import Callable

import numpy as np
import pytest
from pymavlink import mavutil
from pymavlink.dialects.v20 import ardupilotmega as mav

from cinempc.config import load_parameters
from cinempc.mavlink.autopilots import Autopilot
from cinempc.mavlink.bridge import MavlinkBridge
from cinempc.mavlink.rig_link import MavlinkRigLink
from cinempc.mavlink.signing import enable_signing
from cinempc.state import Setpoint
from cinempc_sim.autopilot import SimAutopilot
from cinempc_sim.fault_bench import LinkRelay  # the cut radio: one relay for the bench and the tests
from cinempc_sim.simulator import Simulator

KEY = bytes(range(1, 33))
WRONG_KEY = bytes(range(2, 34))


def wait_until(predicate: Callable[[], bool], timeout_s: float = 5.0, period_s: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(period_s)
    return bool(predicate())



@pytest.fixture(scope="module")
def sim():
    simulator = Simulator("single_walker", render=False)
    yield simulator
    simulator.close()


@pytest.fixture(scope="module")
def shipped_params():
    """mavlink.yaml as shipped: the link-loss tests time its 0.25 s link watchdog and offboard-loss failsafe."""
    return load_parameters("mavlink.yaml")


@pytest.fixture(scope="module")
def params(shipped_params):
    """The same with a 1 s link watchdog and offboard-loss timeout, for every test that is not about link loss.

    The bridge, the simulated autopilot and this test share one process: on a loaded machine a quarter-second
    stall of its threads tripped the watchdog or the failsafe, and the vehicle held mid-flight (measured under
    two busy loops: stopped 0.6 m into a 2.1 m move, velocity 0) -- the product right, the test not about it."""
    return {**shipped_params, "safety": {**shipped_params["safety"], "link_timeout_s": 1.0},
            "sim_autopilot": {**shipped_params["sim_autopilot"], "offboard_loss_timeout_s": 1.0}}


def _autopilot(sim, params, flavour="px4", **kwargs) -> SimAutopilot:
    sim.reset()
    return SimAutopilot(sim, flavour, params=params, **kwargs).start()


def _bridge(sim, params, url, key=None) -> MavlinkBridge:
    return MavlinkBridge(url, sim.camera_profile, sim.vehicle_config, params=params, signing_key=key)


@pytest.fixture()
def px4(sim, params):
    autopilot = _autopilot(sim, params)
    yield autopilot
    autopilot.close()


@pytest.fixture()
def bridge(sim, params, px4):
    b = _bridge(sim, params, px4.url)
    b.start()
    yield b
    b.close()


def _target(state, dx=(1.5, -1.0, 1.0), yaw=0.6, pitch=-0.35, focal=60.0, focus=9.0, f_number=5.6) -> Setpoint:
    return Setpoint(position_m=state.position_m + np.asarray(dx), velocity_mps=np.zeros(3),
                    acceleration_mps2=np.zeros(3), yaw_rad=yaw, yaw_rate_rad_s=0.0, pitch_rad=pitch,
                    focal_length_mm=focal, focus_distance_m=focus, f_number=f_number)


def _fly(bridge: MavlinkBridge, setpoint: Setpoint) -> None:
    assert bridge.operator_arm().accepted
    result = bridge.operator_start_offboard(setpoint)
    assert result.accepted, result
    assert wait_until(lambda: bridge.mode == "offboard", 10.0)


# ------------------------------------------------------------------------------ telemetry
def test_telemetry_round_trip(sim, bridge, px4):
    assert bridge.autopilot is Autopilot.PX4
    assert wait_until(lambda: bridge.rig_state() is not None and bridge.message("CAMERA_INFORMATION") is not None)
    assert bridge.mode == "hold" and not bridge.armed
    for name in ("HEARTBEAT", "SYS_STATUS", "LOCAL_POSITION_NED", "LOCAL_POSITION_NED_COV", "ATTITUDE",
                 "GIMBAL_DEVICE_ATTITUDE_STATUS", "CAMERA_SETTINGS", "GLOBAL_POSITION_INT", "EXTENDED_SYS_STATE",
                 "GIMBAL_MANAGER_STATUS", "HOME_POSITION", "CAMERA_INFORMATION"):
        assert wait_until(lambda n=name: bridge.message(n) is not None, 10.0), name
    info = bridge.message("CAMERA_INFORMATION")
    assert info.sensor_size_h == pytest.approx(sim.camera_profile.sensor_width_mm)
    # the aperture comes in a reply of its own (PARAM_EXT_VALUE CAM_APERTURE, asked for after CAMERA_INFORMATION's
    # ack): waited for, not read at once -- under load it had not arrived yet (1.4, the lens's minimum, until then)
    assert wait_until(lambda: bridge.rig_state().f_number == pytest.approx(sim.rig_state().f_number, rel=1e-4), 10.0)
    mav_state, truth = bridge.rig_state(), sim.rig_state()
    np.testing.assert_allclose(mav_state.position_m, truth.position_m, atol=0.05)
    assert mav_state.pitch_rad == pytest.approx(truth.pitch_rad, abs=1e-3)
    assert math.cos(mav_state.yaw_rad - truth.yaw_rad) == pytest.approx(1.0, abs=1e-5)
    assert mav_state.focal_length_mm == pytest.approx(truth.focal_length_mm, rel=1e-4)
    assert mav_state.focus_distance_m == pytest.approx(truth.focus_distance_m, rel=1e-4)
    assert mav_state.f_number == pytest.approx(truth.f_number, rel=1e-4)
    # NED on the wire: z is down
    assert bridge.message("LOCAL_POSITION_NED").z == pytest.approx(-truth.position_m[2], abs=0.05)


def test_nothing_flies_without_the_operator(sim, bridge, px4):
    state = bridge.rig_state() or sim.rig_state()
    bridge.set_setpoint(_target(state))
    since = float(sim.time_s)  # a second of the vehicle's clock, not of a possibly starved test thread
    assert wait_until(lambda: sim.time_s >= since + 1.0, 10.0)
    assert not px4.armed and px4.mode == "hold" and px4.offboard_setpoints == 0
    assert not bridge.streaming
    # PX4 semantics: OFFBOARD is refused without a live setpoint stream
    refused = bridge.command(mav.MAV_CMD_DO_SET_MODE, *bridge.dialect.mode_args("offboard"))
    assert not refused.accepted and refused.result == "DENIED"
    assert any("Offboard denied" in t for t in px4.statustexts)


def test_offboard_flight_gimbal_and_lens(sim, bridge, px4):
    start = sim.rig_state()
    target = _target(start)
    _fly(bridge, target)
    # the stream started before the mode switch: the first setpoint arrived before the OFFBOARD change
    assert px4.mode_log[-1].mode == "offboard"

    def arrived() -> bool:
        s = bridge.rig_state()
        return s is not None and np.linalg.norm(s.position_m - target.position_m) < 0.25 and \
            abs(s.pitch_rad - target.pitch_rad) < 0.02 and abs(s.focal_length_mm - 60.0) < 0.5
    assert wait_until(arrived, 20.0), (bridge.rig_state(), target, px4.mode_log[-3:], bridge.event_list[-3:])
    state = bridge.rig_state()
    assert math.cos(state.yaw_rad - target.yaw_rad) > math.cos(0.03)
    assert state.focus_distance_m == pytest.approx(9.0, rel=0.02)
    assert state.f_number == pytest.approx(5.6, rel=0.02)
    truth = sim.rig_state()
    np.testing.assert_allclose(state.position_m, truth.position_m, atol=0.1)
    # PX4's MAVLink camera got zoom as a focal length and focus in metres
    assert px4.camera.focal_length_mm == pytest.approx(60.0, abs=1e-3)
    assert px4.camera.focus_distance_m == pytest.approx(9.0, abs=1e-3)
    assert px4.gimbal.primary == (bridge.system_id, bridge.component_id)


def test_hold_keeps_the_gimbal_and_a_fence_breach_is_never_sent(sim, bridge, px4):
    start = sim.rig_state()
    _fly(bridge, _target(start, pitch=-0.4))
    assert wait_until(lambda: px4.gimbal.pitch_rad == pytest.approx(-0.4))
    link = MavlinkRigLink(bridge)
    state = link.rig_state()
    hold = Setpoint.hold_at(state.with_(pitch_rad=0.2, focal_length_mm=120.0))
    link.send_setpoint(hold, status="no_subject", message="alice not seen for 1.5 s")
    # (waited for, not slept on: on a loaded machine the hold took longer than 0.3 s to reach the autopilot)
    assert wait_until(lambda: np.linalg.norm(px4._target.position_m - state.position_m) < 1.0, 10.0)
    assert px4.gimbal.pitch_rad == pytest.approx(-0.4)  # gimbal kept
    assert px4.camera.focal_length_mm != pytest.approx(120.0)  # lens kept
    np.testing.assert_allclose(px4._target.velocity_mps, 0.0)
    assert any(e.kind == "hold" and "alice not seen" in e.reason for e in link.events)
    # a setpoint outside the geofence never goes out; the vehicle holds inside
    airspace = sim.vehicle_config.airspace
    link.send_setpoint(_target(state, dx=(500.0, 0.0, 0.0)))
    tag = bridge._time_boot_ms()  # whatever the bridge streams from now on was decided after the breach attempt
    assert px4.wait_for_setpoint(tag, timeout_s=10.0)  # waited for, not slept on
    assert airspace.contains(px4._target.position_m)
    assert np.linalg.norm(px4._target.position_m - state.position_m) < 1.0
    assert any(e.kind == "geofence" for e in link.events)


def test_arming_checks(bridge, px4):
    px4.battery_percent = 10.0
    result = bridge.operator_arm()
    assert not result.accepted and result.result == "DENIED"
    assert any("battery" in t for t in px4.statustexts)
    assert not px4.armed
    px4.battery_percent = 90.0
    assert bridge.operator_arm().accepted and px4.armed
    assert bridge.operator_arm(False).accepted and not px4.armed


def test_takeoff_and_land_are_operator_commands(sim, bridge, px4):
    with pytest.raises(ValueError, match="altitude band"):
        bridge.operator_takeoff(100.0)
    assert not bridge.operator_takeoff(4.0).accepted  # disarmed: denied
    assert bridge.operator_arm().accepted
    assert bridge.operator_takeoff(4.0).accepted
    assert wait_until(lambda: abs(sim.rig_state().position_m[2] - 4.0) < 0.3 and px4.mode == "hold", 30.0)
    assert bridge.operator_land().accepted
    assert wait_until(lambda: px4.mode == "land")


def test_gimbal_manager_obeys_only_its_primary_controller(sim, params, bridge, px4):
    intruder = mavutil.mavlink_connection(px4.url, source_system=200, source_component=190, dialect="ardupilotmega")
    try:
        for _ in range(5):
            intruder.mav.gimbal_manager_set_pitchyaw_send(1, 1, 0, 0, -1.0, 0.0, math.nan, math.nan)
            time.sleep(0.02)
        assert wait_until(lambda: px4.gimbal.ignored_commands >= 1)
        assert px4.gimbal.pitch_rad is None
        assert bridge.configure_gimbal().accepted
        assert px4.gimbal.primary == (bridge.system_id, bridge.component_id)
        before = px4.gimbal.ignored_commands
        intruder.mav.gimbal_manager_set_pitchyaw_send(1, 1, 0, 0, -1.0, 0.0, math.nan, math.nan)
        assert wait_until(lambda: px4.gimbal.ignored_commands > before)
        assert px4.gimbal.pitch_rad is None
    finally:
        intruder.close()


def test_gcs_protocol_params_mission_version(px4):
    gcs = mavutil.mavlink_connection(px4.url, source_system=255, source_component=190, dialect="ardupilotmega")
    try:
        gcs.mav.heartbeat_send(mav.MAV_TYPE_GCS, mav.MAV_AUTOPILOT_INVALID, 0, 0, 0)
        assert gcs.recv_match(type="HEARTBEAT", blocking=True, timeout=10)
        gcs.mav.param_set_send(1, 1, b"COM_OF_LOSS_T", 0.4, mav.MAV_PARAM_TYPE_REAL32)
        echo = gcs.recv_match(type="PARAM_VALUE", blocking=True, timeout=10)
        assert echo.param_id == "COM_OF_LOSS_T" and echo.param_value == pytest.approx(0.4)
        assert px4.params["COM_OF_LOSS_T"] == pytest.approx(0.4)
        gcs.mav.param_request_list_send(1, 1)
        names = set()
        while (msg := gcs.recv_match(type="PARAM_VALUE", blocking=True, timeout=5)) is not None:
            names.add(msg.param_id)
            if len(names) == msg.param_count:
                break
        assert {"COM_OF_LOSS_T", "COM_OBL_RC_ACT"} <= names
        gcs.mav.mission_request_list_send(1, 1, mav.MAV_MISSION_TYPE_MISSION)
        assert gcs.recv_match(type="MISSION_COUNT", blocking=True, timeout=10).count == 0
        gcs.mav.command_long_send(1, 1, mav.MAV_CMD_REQUEST_MESSAGE, 0, mav.MAVLINK_MSG_ID_AUTOPILOT_VERSION,
                                  0, 0, 0, 0, 0, 0)
        version = gcs.recv_match(type="AUTOPILOT_VERSION", blocking=True, timeout=10)
        assert version.capabilities & mav.MAV_PROTOCOL_CAPABILITY_MAVLINK2
        # aperture through the camera's parameters (camera definition style), REAL32 in PARAM_EXT_SET
        gcs.mav.param_ext_set_send(1, 100, b"CAM_APERTURE", struct.pack("<f", 8.0).ljust(128, b"\x00"),
                                   mav.MAV_PARAM_EXT_TYPE_REAL32)
        ext_ack = gcs.recv_match(type="PARAM_EXT_ACK", blocking=True, timeout=10)
        assert ext_ack.param_result == mav.PARAM_ACK_ACCEPTED and px4.camera.f_number == pytest.approx(8.0)
        gcs.mav.timesync_send(0, 123456789)
        sync = gcs.recv_match(type="TIMESYNC", blocking=True, timeout=10, condition="TIMESYNC.ts1==123456789")
        assert sync.tc1 > 0
        gcs.mav.command_long_send(1, 1, 42424, 0, 0, 0, 0, 0, 0, 0, 0)  # an unknown command is answered
        ack = gcs.recv_match(type="COMMAND_ACK", blocking=True, timeout=10, condition="COMMAND_ACK.command==42424")
        assert ack.result == mav.MAV_RESULT_UNSUPPORTED
    finally:
        gcs.close()


# ------------------------------------------------------------------------------ serial and TCP links
class _Peer:
    """A minimal autopilot-side MAVLink peer on any byte stream: heartbeats + one position."""

    def __init__(self, write) -> None:
        class _File:
            def write(self, data):
                write(bytes(data))

        self.mav = mav.MAVLink(_File(), srcSystem=1, srcComponent=1)
        self.parser = mav.MAVLink(None)
        self.parser.robust_parsing = True
        self.received: set[str] = set()
        self.stop = False

    def beat(self) -> None:
        while not self.stop:
            self.mav.heartbeat_send(mav.MAV_TYPE_QUADROTOR, mav.MAV_AUTOPILOT_PX4, 0, 0, 3)
            self.mav.local_position_ned_send(0, 1.0, 2.0, -3.0, 0.0, 0.0, 0.0)
            time.sleep(0.05)

    def feed(self, data: bytes) -> None:
        self.received |= {m.get_type() for m in self.parser.parse_buffer(data) or []}


def _check_bridge(sim, params, url: str, peer: Callable[[], _Peer | None]) -> None:
    bridge = _bridge(sim, params, url)
    try:
        assert bridge.start(wait_heartbeat_s=5.0) is Autopilot.PX4
        assert wait_until(lambda: bridge.rig_state() is not None)
        np.testing.assert_allclose(bridge.rig_state().position_m, [2.0, 1.0, 3.0], atol=1e-6)  # NED -> ENU
        assert wait_until(lambda: "HEARTBEAT" in peer().received)  # we beat as an onboard controller
    finally:
        bridge.close()


def test_serial_link(sim, params):
    import os
    import tty

    master, slave = os.openpty()
    tty.setraw(slave)
    peer = _Peer(lambda data: os.write(master, data))
    threading.Thread(target=peer.beat, daemon=True).start()

    def pump():
        while not peer.stop:
            if select.select([master], [], [], 0.05)[0]:
                peer.feed(os.read(master, 4096))
    threading.Thread(target=pump, daemon=True).start()
    try:
        _check_bridge(sim, params, f"serial:{os.ttyname(slave)}:921600", lambda: peer)
    finally:
        peer.stop = True
        time.sleep(0.1)
        os.close(master)
        os.close(slave)


def test_tcp_link(sim, params):
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(5.0)
    state = {}

    def serve():
        conn, _ = server.accept()
        conn.settimeout(0.05)
        peer = _Peer(conn.sendall)
        state["peer"], state["conn"] = peer, conn
        threading.Thread(target=peer.beat, daemon=True).start()
        while not peer.stop:
            try:
                peer.feed(conn.recv(4096))
            except (TimeoutError, OSError):
                continue
    threading.Thread(target=serve, daemon=True).start()
    try:
        _check_bridge(sim, params, f"tcp:127.0.0.1:{server.getsockname()[1]}", lambda: state.get("peer"))
    finally:
        if "peer" in state:
            state["peer"].stop = True
            time.sleep(0.1)
            state["conn"].close()
        server.close()


# ------------------------------------------------------------------------------ ArduPilot
def test_ardupilot_flavour(sim, params):
    autopilot = _autopilot(sim, params, "ardupilot")
    bridge = _bridge(sim, params, autopilot.url)
    try:
        assert bridge.start() is Autopilot.ARDUPILOT
        start = sim.rig_state()
        target = _target(start, focal=90.0, focus=4.0)
        _fly(bridge, target)
        assert autopilot.mode == "offboard" and bridge.message("HEARTBEAT").custom_mode == 4  # GUIDED
        assert wait_until(lambda: abs(bridge.rig_state().focal_length_mm - 90.0) < 0.5, 20.0)
        assert autopilot.camera.focal_length_mm == pytest.approx(90.0, abs=0.05)  # sent as a percentage
        assert autopilot.camera.focus_distance_m == pytest.approx(4.0, rel=1e-3)
        assert autopilot._target.type_mask == 2048
        # ArduPilot refuses zoom as a focal length, exactly like AP_Camera
        refused = bridge.command(mav.MAV_CMD_SET_CAMERA_ZOOM, mav.ZOOM_TYPE_FOCAL_LENGTH, 50.0, 0)
        assert refused.result == "UNSUPPORTED"
        assert bridge.operator_hold().accepted
        assert wait_until(lambda: bridge.mode == "brake")
    finally:
        bridge.close()
        autopilot.close()


# ------------------------------------------------------------------------------- signing
def test_signed_link_works_and_wrong_or_missing_signatures_are_dropped(sim, params):
    autopilot = _autopilot(sim, params, signing_key=KEY)
    try:
        with _bridge(sim, params, autopilot.url, key=KEY) as good:
            good.start()
            assert good.operator_arm().accepted and autopilot.armed
            assert good.message("HEARTBEAT").get_signed()
        # a bridge with the wrong key: its commands are rejected and it trusts none of the telemetry
        wrong = _bridge(sim, params, autopilot.url, key=WRONG_KEY)
        with pytest.raises(TimeoutError, match="no autopilot heartbeat"):
            wrong.start(wait_heartbeat_s=1.5)
        rejected_before = autopilot.net.rejected
        assert rejected_before > 0  # its heartbeats were dropped
        # an unsigned sender: setpoints and commands dropped
        raw = mavutil.mavlink_connection(autopilot.url, source_system=1, source_component=191,
                                         dialect="ardupilotmega")
        try:
            for _ in range(10):
                raw.mav.set_position_target_local_ned_send(1, 1, 1, mav.MAV_FRAME_LOCAL_NED, 0, 0, 0, -3,
                                                           0, 0, 0, 0, 0, 0, 0, 0)
                raw.mav.command_long_send(1, 1, mav.MAV_CMD_COMPONENT_ARM_DISARM, 0, 0, 0, 0, 0, 0, 0, 0)
            assert wait_until(lambda: autopilot.net.rejected >= rejected_before + 20)
            assert autopilot.offboard_setpoints == 0 and autopilot.armed  # no disarm from an unsigned sender
            # a forged signature (wrong key) on a setpoint is dropped too
            enable_signing(raw.mav, WRONG_KEY, 7)
            rejected = autopilot.net.rejected
            raw.mav.set_position_target_local_ned_send(1, 1, 1, mav.MAV_FRAME_LOCAL_NED, 0, 0, 0, -3,
                                                       0, 0, 0, 0, 0, 0, 0, 0)
            assert wait_until(lambda: autopilot.net.rejected > rejected)  # it arrived and was dropped
            assert autopilot.offboard_setpoints == 0
        finally:
            raw.close()
    finally:
        autopilot.close()


def test_bridge_rejects_unsigned_telemetry(sim, params):
    autopilot = _autopilot(sim, params)  # no signing on the vehicle side
    bridge = _bridge(sim, params, autopilot.url, key=KEY)
    try:
        with pytest.raises(TimeoutError):
            bridge.start(wait_heartbeat_s=1.5)
        assert bridge.rig_state() is None
    finally:
        bridge.close()
        autopilot.close()


# ---------------------------------------------------------------------------- link loss
@pytest.mark.parametrize("downlink_only", [False, True], ids=["both_ways", "telemetry_only"])
def test_link_cut_mid_shot_is_safe_within_half_a_second_and_never_resumes_alone(sim, shipped_params, downlink_only):
    autopilot = _autopilot(sim, shipped_params)
    cutter = LinkRelay(autopilot.address)
    bridge = _bridge(sim, shipped_params, cutter.url)
    try:
        bridge.start()
        start = sim.rig_state()
        setpoint = _target(start, dx=(3.0, 0.0, 0.5))
        _fly(bridge, setpoint)
        time.sleep(0.5)
        commands_before = len(autopilot.commands)
        cut_sim_s = float(sim.time_s)  # the autopilot's own clock: a starved test thread cannot stretch it
        cutter.cut(uplink=not downlink_only, downlink=True)
        # the bars are on the vehicle's clock (below); the wall-clock waits only give up, generously for a loaded
        # machine (a 1-2 s wait here was a bar on the test thread's scheduling, not on the system)
        assert wait_until(lambda: autopilot.mode == "hold", 10.0)
        change = autopilot.mode_log[-1]
        assert change.sim_time_s - cut_sim_s <= 0.5, change

        def hold_requests() -> list:
            return [c for c in autopilot.commands[commands_before:] if c[0] == "MAV_CMD_DO_SET_MODE"]

        if downlink_only:
            # telemetry only: the bridge's HOLD gets through.  Which comes first, it or the vehicle's own
            # failsafe 0.25 s after the last setpoint, is thread scheduling in this one process (on a vehicle
            # they are two computers): the test asks that the request arrived, not that it won the race.
            assert wait_until(hold_requests, 10.0), autopilot.commands[commands_before:]
        else:  # both ways cut: nothing gets through, the vehicle's own offboard-loss failsafe holds it
            assert "failsafe" in change.reason and not hold_requests(), change
        assert wait_until(lambda: not bridge.link_ok and not bridge.streaming, 10.0)
        assert MavlinkRigLink(bridge).rig_state() is None
        lost = [e for e in bridge.event_list if e.kind == "link_lost"]
        assert lost and lost[0].severity == "critical" and "HOLD" in lost[0].reason

        cutter.restore()
        assert wait_until(lambda: bridge.link_ok, 10.0)
        # no silent resume: nothing the bridge sends from now on is a setpoint (tags only grow; counting
        # arrivals instead once caught two sent before the cut and read late by a starved receive thread)
        restored_tag, restored_sim_s = bridge._time_boot_ms(), float(sim.time_s)
        # a second of the vehicle's clock with the link up (the bridge streams at 30 Hz when it streams): none came
        assert wait_until(lambda: sim.time_s >= restored_sim_s + 1.0, 10.0)
        assert autopilot._target is None or autopilot._target.tag_ms <= restored_tag, autopilot._target
        assert autopilot.mode == "hold"
        assert not bridge.streaming and bridge.supervisor.operator_resume_required
        assert any(e.kind == "link_restored" and "operator" in e.reason for e in bridge.event_list)
        # the operator resumes explicitly
        resumed = bridge.operator_start_offboard(Setpoint.hold_at(bridge.rig_state()))
        assert resumed.accepted and wait_until(lambda: autopilot.mode == "offboard")
    finally:
        bridge.close()
        cutter.close()
        autopilot.close()


def test_link_loss_does_not_interrupt_a_landing(sim, shipped_params):
    """Only a vehicle that was following our stream is asked to hold; a landing continues."""
    autopilot = _autopilot(sim, shipped_params)
    cutter = LinkRelay(autopilot.address)
    bridge = _bridge(sim, shipped_params, cutter.url)
    try:
        bridge.start()
        assert bridge.operator_arm().accepted and bridge.operator_land().accepted
        assert wait_until(lambda: bridge.mode == "land")
        commands_before = len(autopilot.commands)
        cutter.cut(uplink=False, downlink=True)  # telemetry lost, our commands would still get through
        assert wait_until(lambda: not bridge.link_ok, 10.0)
        # the bridge has decided (its link_lost event), then the vehicle's clock runs on: still landing
        assert wait_until(lambda: any(e.kind == "link_lost" for e in bridge.event_list), 10.0)
        since = float(sim.time_s)
        assert wait_until(lambda: sim.time_s >= since + 0.6, 10.0)
        assert autopilot.mode == "land"
        assert not [c for c in autopilot.commands[commands_before:] if c[0] == "MAV_CMD_DO_SET_MODE"]
        lost = [e for e in bridge.event_list if e.kind == "link_lost"]
        assert lost and "no offboard stream" in lost[0].reason
    finally:
        bridge.close()
        cutter.close()
        autopilot.close()


def test_cli_keygen_and_status(sim, params, px4, tmp_path, capsys, repo_root):
    import json

    from cinempc.cli import main

    key = tmp_path / "mavlink.key"
    assert main(["mavlink", "keygen", "--out", str(key)]) == 0
    assert len(bytes.fromhex(key.read_text().strip())) == 32
    assert main(["mavlink", "keygen", "--out", str(repo_root / "leaked.key")]) == 2  # inside the checkout
    assert not (repo_root / "leaked.key").exists()
    capsys.readouterr()
    assert main(["mavlink", "status", "--url", px4.url, "--timeout", "5"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["autopilot"] == "px4" and report["armed"] is False and report["link_ok"] is True
    assert report["rig_state"]["position_m"] == pytest.approx(sim.rig_state().position_m.tolist(), abs=0.05)
    assert main(["mavlink", "status", "--url", "nonsense:1:2"]) == 2


def test_lockstep_rig_flies_the_direct_physics_and_small_lens_steps(params):
    """MavlinkSimRig vs the bare Simulator on the same setpoints: same physics, lens ramps never stall.

    The lens ramps move less per step than any coarse deadband would pass; a bridge that drops
    small lens changes leaves the MPC (which plans from the measured lens) stuck for good.
    """
    from cinempc_sim.autopilot_link import MavlinkSimRig

    direct, carried = Simulator("single_walker", render=False), Simulator("single_walker", render=False)
    rig = MavlinkSimRig(carried, params=params)
    try:
        start = direct.rig_state()
        for k in range(25):
            setpoint = Setpoint(
                position_m=start.position_m + [0.08 * k, -0.04 * k, 0.02 * k], velocity_mps=[0.8, -0.4, 0.2],
                acceleration_mps2=[0.0, 0.0, 0.0], yaw_rad=0.02 * k, yaw_rate_rad_s=0.2, pitch_rad=-0.1 - 0.01 * k,
                focal_length_mm=35.0 + 0.05 * k, focus_distance_m=6.0 + 0.005 * k, f_number=4.0 * 2 ** (0.01 * k),
            )
            direct.step(setpoint, 0.1)
            rig.step(setpoint, 0.1)
            a, b = direct.rig_state(), rig.rig_state()
            np.testing.assert_allclose(b.position_m, a.position_m, atol=1e-4)
            np.testing.assert_allclose(b.velocity_mps, a.velocity_mps, atol=1e-4)
            assert b.yaw_rad == pytest.approx(a.yaw_rad, abs=1e-5)
            assert b.pitch_rad == pytest.approx(a.pitch_rad, abs=1e-5)
            assert b.focal_length_mm == pytest.approx(a.focal_length_mm, abs=1e-3)
            assert b.focus_distance_m == pytest.approx(a.focus_distance_m, abs=1e-3)
            assert b.f_number == pytest.approx(a.f_number, abs=1e-3)
        assert rig.autopilot.mode == "offboard" and rig.link.link_ok
        assert wait_until(lambda: rig.bridge.mode == "offboard")
    finally:
        rig.close()
        direct.close()
        carried.close()
