"""The MAVLink receive path under 10,000+ generated inputs (hypothesis): nothing escapes, bad input is counted.

Real pymavlink framing and CRCs: telemetry the bridge reads (position, attitude, gimbal, camera, heartbeat,
acks, parameters) is packed with arbitrary field values -- NaN and infinities included, as a glitching
estimator or a booting gimbal sends them -- and then, half the time, its bytes are mutated (flipped, cut,
spliced).  Every frame the parser gives goes through ``MavlinkBridge._handle`` as the receive thread hands it
over; after each input ``rig_state()`` must be None or a finite RigState (a NaN must never reach the MPC), and
every bad input must be counted (a frame that does not parse, a state message with NaN/inf where the bridge
needs a number; a gimbal attitude that is not finite is ignored like a booting gimbal's zero quaternion).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymavlink.dialects.v20 import ardupilotmega as mav

from cinempc.config import load_camera_profile, load_parameters, load_vehicle_config
from cinempc.mavlink.bridge import MavlinkBridge
from cinempc.state import RigState

PARAMS = load_parameters("mavlink.yaml")
VEHICLE = load_vehicle_config()
BRIDGE = MavlinkBridge("udpout:127.0.0.1:9", load_camera_profile(VEHICLE.camera_profile), VEHICLE, params=PARAMS)
SYSTEM = BRIDGE.target_system
FIELD_EXAMPLES = 2_000  # hypothesis: structured telemetry with any values (shrinks a failure to its frame)
MUTATED_INPUTS = 8_000  # seeded: mutated frames (cheap per input) -- 10,000 generated inputs in all
pytestmark = [pytest.mark.filterwarnings("ignore::RuntimeWarning"),  # NaN arithmetic is the point here
              pytest.mark.filterwarnings("ignore::UserWarning")]  # scipy's gimbal-lock notice

anything = st.floats(allow_nan=True, allow_infinity=True, width=32)
small = st.integers(min_value=0, max_value=2**16 - 1)


def _pack(message, component: int) -> bytes:
    sender = mav.MAVLink(None, srcSystem=SYSTEM, srcComponent=component)
    return message.pack(sender)


@st.composite
def telemetry(draw) -> bytes:
    """One frame of what the bridge reads, with any field values."""
    kind = draw(st.sampled_from(["position", "covariance", "attitude", "gimbal", "settings", "information",
                                 "heartbeat", "ack", "param"]))
    f = [draw(anything) for _ in range(9)]
    if kind == "position":
        message = mav.MAVLink_local_position_ned_message(draw(small), *f[:6])
    elif kind == "covariance":
        message = mav.MAVLink_local_position_ned_cov_message(draw(small), 0, *f[:9], [0.0] * 45)
    elif kind == "attitude":
        message = mav.MAVLink_attitude_message(draw(small), *f[:6])
    elif kind == "gimbal":
        flags = draw(st.sampled_from([0, mav.GIMBAL_DEVICE_FLAGS_YAW_LOCK, mav.GIMBAL_DEVICE_FLAGS_YAW_IN_EARTH_FRAME,
                                      mav.GIMBAL_DEVICE_FLAGS_YAW_IN_VEHICLE_FRAME]))
        message = mav.MAVLink_gimbal_device_attitude_status_message(0, 0, draw(small), flags, f[:4], f[4], f[5], f[6],
                                                                    0, math.nan, math.nan, 0)
    elif kind == "settings":
        message = mav.MAVLink_camera_settings_message(draw(small), 0, f[0], f[1], 0)
    elif kind == "information":
        message = mav.MAVLink_camera_information_message(draw(small), b"x" * 32, b"y" * 32, 0, f[0], f[1], f[2], 0,
                                                         0, 0, 0, 0, b"", 0, 0)
    elif kind == "heartbeat":
        message = mav.MAVLink_heartbeat_message(mav.MAV_TYPE_QUADROTOR, draw(st.sampled_from(
            [mav.MAV_AUTOPILOT_PX4, mav.MAV_AUTOPILOT_ARDUPILOTMEGA, mav.MAV_AUTOPILOT_GENERIC])), 0,
            draw(st.integers(0, 2**32 - 1)), 0, 3)
    elif kind == "ack":
        message = mav.MAVLink_command_ack_message(draw(st.sampled_from(
            [mav.MAV_CMD_SET_CAMERA_ZOOM, mav.MAV_CMD_COMPONENT_ARM_DISARM, 0])), draw(st.integers(0, 255)))
    else:
        message = mav.MAVLink_param_ext_value_message(b"CAM_APERTURE", draw(st.binary(max_size=128)), 9, 1, 0)
    return _pack(message, draw(st.sampled_from([mav.MAV_COMP_ID_AUTOPILOT1, 100, 154])))


# what the bridge needs finite in each state message, written out here independently of the bridge's own table
NEEDED = {"LOCAL_POSITION_NED": ("x", "y", "z", "vx", "vy", "vz"), "LOCAL_POSITION_NED_COV": ("ax", "ay", "az"),
          "ATTITUDE": ("yaw",), "GIMBAL_DEVICE_ATTITUDE_STATUS": ("q",)}


def _finite(message) -> bool:
    return all(np.all(np.isfinite(np.asarray(getattr(message, f), dtype=float)))
               for f in NEEDED.get(message.get_type(), ()))


def _feed(data: bytes) -> int:
    """Parse like the receive thread (robust parsing: bad bytes become BAD_DATA) and hand every frame over.

    Checks the counters against what was fed, and that the rig state is None or finite.
    """
    parser = mav.MAVLink(None)
    parser.robust_parsing = True
    bad, non_finite = BRIDGE.bad_frames + BRIDGE.rejected_messages, BRIDGE.non_finite_telemetry
    frames = expected_bad = expected_non_finite = 0
    for message in parser.parse_buffer(data) or []:
        kind = message.get_type()
        ours = kind != "BAD_DATA" and message.get_srcSystem() == SYSTEM and kind in NEEDED
        expected_bad += kind == "BAD_DATA"
        expected_non_finite += ours and not _finite(message)
        BRIDGE._handle(message)
        frames += 1
    assert BRIDGE.bad_frames + BRIDGE.rejected_messages - bad == expected_bad
    assert BRIDGE.non_finite_telemetry - non_finite == expected_non_finite
    state = BRIDGE.rig_state()
    assert state is None or isinstance(state, RigState)
    if state is not None:
        assert np.all(np.isfinite(state.position_m)) and math.isfinite(state.yaw_rad)
    elif "LOCAL_POSITION_NED" in BRIDGE._messages:  # a position, but no state: a stored one is not finite
        stored = [BRIDGE._messages.get(k) for k in ("LOCAL_POSITION_NED", "LOCAL_POSITION_NED_COV", "ATTITUDE")]
        assert any(m is not None and not _finite(m) for m in stored)
    return frames


@settings(max_examples=FIELD_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(telemetry(), min_size=1, max_size=3))
def test_any_field_values_are_read_or_counted_never_raised(frames):
    assert _feed(b"".join(frames)) == len(frames)  # well-framed: every frame reached the bridge


def _random_frame(rng: np.random.Generator) -> bytes:
    """A state frame with random values, a tenth of them NaN or infinite."""
    values = rng.normal(0.0, 50.0, 9).astype(np.float32)
    values[rng.random(9) < 0.1] = rng.choice([np.nan, np.inf, -np.inf])
    v = [float(x) for x in values]
    kind = rng.integers(4)
    if kind == 0:
        message = mav.MAVLink_local_position_ned_message(int(rng.integers(2**16)), *v[:6])
    elif kind == 1:
        message = mav.MAVLink_attitude_message(int(rng.integers(2**16)), *v[:6])
    elif kind == 2:
        message = mav.MAVLink_gimbal_device_attitude_status_message(0, 0, 1, 0, v[:4], v[4], v[5], v[6], 0, 0.0,
                                                                    0.0, 0)
    else:
        message = mav.MAVLink_camera_settings_message(1, 0, v[0], v[1], 0)
    return _pack(message, mav.MAV_COMP_ID_AUTOPILOT1)


def test_mutated_bytes_are_parsed_or_counted_never_raised():
    """Flipped bytes, cut frames, junk between frames: parsed, or BAD_DATA counted; never an exception."""
    rng = np.random.default_rng(24)
    for _ in range(MUTATED_INPUTS):
        data = bytearray(_random_frame(rng) + rng.bytes(int(rng.integers(0, 24))) + _random_frame(rng))
        for position in rng.integers(0, len(data), int(rng.integers(0, 4))):
            data[position] = int(rng.integers(256))
        cut = int(rng.integers(1, len(data) + 1))
        _feed(bytes(data[:cut]) if rng.random() < 0.3 else bytes(data))
    assert BRIDGE.bad_frames > 0  # the mutations did produce unparseable frames, and they were counted


def test_a_non_finite_position_is_counted_and_the_last_good_one_is_not_reported_as_fresh():
    good = _pack(mav.MAVLink_local_position_ned_message(1, 1.0, 2.0, -5.0, 0.0, 0.0, 0.0), mav.MAV_COMP_ID_AUTOPILOT1)
    bad = _pack(mav.MAVLink_local_position_ned_message(2, math.nan, 2.0, -5.0, 0.0, 0.0, 0.0),
                mav.MAV_COMP_ID_AUTOPILOT1)
    BRIDGE._messages.clear()
    _feed(good)
    assert BRIDGE.rig_state() is not None
    dropped = BRIDGE.non_finite_telemetry
    _feed(bad)
    assert BRIDGE.rig_state() is None  # no state rather than a NaN one: the safety core holds
    assert BRIDGE.non_finite_telemetry == dropped + 1
