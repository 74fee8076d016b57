"""Cross-check with an independent MAVLink implementation: MAVSDK (native C++) against the simulated autopilot.

Why: a bridge and an autopilot written by the same hands can agree on a wrong
protocol.  MAVSDK is what real ground stations and companions use; if its
telemetry, action, offboard, gimbal and camera plugins work against
``sim/autopilot.py``, our autopilot stand-in speaks MAVLink the way PX4 and
ArduPilot do.
"""

from __future__ import annotations

import asyncio
import math
import time

import numpy as np
import pytest

mavsdk = pytest.importorskip("mavsdk")

from mavsdk.asyncio import Autopilot, ComponentType, Configuration, Mavsdk  # noqa: E402
from mavsdk.asyncio.plugins.action import ActionAsync  # noqa: E402
from mavsdk.asyncio.plugins.camera import CameraAsync  # noqa: E402
from mavsdk.asyncio.plugins.gimbal import GimbalAsync  # noqa: E402
from mavsdk.asyncio.plugins.offboard import OffboardAsync, PositionNedYaw  # noqa: E402
from mavsdk.asyncio.plugins.telemetry import TelemetryAsync  # noqa: E402
from mavsdk.plugins.gimbal import ControlMode, GimbalMode, SendMode  # noqa: E402
from mavsdk.plugins.telemetry import FlightMode  # noqa: E402

from cinempc.config import load_parameters  # noqa: E402
from cinempc_sim.autopilot import SimAutopilot  # noqa: E402
from cinempc_sim.simulator import Simulator  # noqa: E402


@pytest.fixture(scope="module")
def sim():
    simulator = Simulator("single_walker", render=False)
    yield simulator
    simulator.close()


def _params() -> dict:
    """mavlink.yaml with a 1 s offboard-loss timeout (shipped 0.25 s): this file checks the protocol, not failsafe
    timing (test_mavlink_link's link cut does), and MAVSDK's setpoint stream and the autopilot's threads share two
    loaded cores with the rest of a run -- a 0.25 s gap there is a failsafe HOLD that latches, the product right."""
    params = load_parameters("mavlink.yaml")
    params["sim_autopilot"] = {**params["sim_autopilot"], "offboard_loss_timeout_s": 1.0}
    return params


# the waits below only give up: generous, as the simulated vehicle flies at real time on a loaded machine
async def _first(generator, predicate=lambda _: True, timeout_s: float = 30.0):
    async def scan():
        async for item in generator:
            if predicate(item):
                return item
    return await asyncio.wait_for(scan(), timeout_s)


async def _eventually(check, timeout_s: float = 30.0):
    deadline = time.monotonic() + timeout_s
    while True:
        result = await check()
        if result or time.monotonic() > deadline:
            return result
        await asyncio.sleep(0.1)


async def _connect(autopilot: SimAutopilot, drone: Mavsdk):
    host, port = autopilot.address
    await drone.add_any_connection(f"udpout://{host}:{port}")
    system = await drone.first_autopilot(timeout_s=30.0)
    assert system is not None, "MAVSDK found no autopilot"
    return system


def test_mavsdk_flies_the_px4_flavour(sim):
    sim.reset()
    autopilot = SimAutopilot(sim, "px4", params=_params()).start()

    async def session():
        config = Configuration.create_with_component_type(ComponentType.GROUND_STATION)
        async with Mavsdk(config) as drone:
            system = await _connect(autopilot, drone)
            assert await system.autopilot_type() == Autopilot.PX4
            telemetry = TelemetryAsync(system)
            # telemetry: NED on the wire equals the simulator's ENU truth
            pv = await _first(telemetry.subscribe_position_velocity_ned())
            truth = sim.rig_state().position_m
            assert (pv.position.north_m, pv.position.east_m, pv.position.down_m) == (
                pytest.approx(truth[1], abs=0.05), pytest.approx(truth[0], abs=0.05),
                pytest.approx(-truth[2], abs=0.05))
            health = await _first(telemetry.subscribe_health(), lambda h: h.is_armable)
            assert health.is_local_position_ok and health.is_home_position_ok

            # action + offboard
            await ActionAsync(system).arm()
            assert autopilot.armed
            offboard = OffboardAsync(system)
            # 1 m north, 5 m west, 3 m up, facing east
            await offboard.set_position_ned(PositionNedYaw(1.0, -5.0, -3.0, 90.0))
            await offboard.start()
            assert autopilot.mode == "offboard"
            mode = await _first(telemetry.subscribe_flight_mode(), lambda m: m == FlightMode.OFFBOARD)
            assert mode == FlightMode.OFFBOARD

            async def arrived():
                s = sim.rig_state()
                return np.linalg.norm(s.position_m - [-5.0, 1.0, 3.0]) < 0.3 and math.cos(s.yaw_rad) > 0.99
            assert await _eventually(arrived), sim.rig_state()  # NED yaw 90 deg = facing east = ENU yaw 0

            # gimbal v2 through MAVSDK: discovery, take control, angles, attitude feedback
            gimbal = GimbalAsync(system)

            async def gimbals():
                return (await gimbal.gimbal_list()).gimbals
            found = await _eventually(gimbals)
            assert found, "MAVSDK discovered no gimbal"
            gimbal_id = found[0].gimbal_id
            await gimbal.take_control(gimbal_id, ControlMode.PRIMARY)
            assert autopilot.gimbal.primary is not None
            await gimbal.set_angles(gimbal_id, 0.0, -30.0, 0.0, GimbalMode.YAW_FOLLOW, SendMode.ONCE)

            async def tilted():
                return abs(math.degrees(sim.rig_state().pitch_rad) + 30.0) < 0.5
            assert await _eventually(tilted)
            attitude = await _first(gimbal.subscribe_attitude(),
                                    lambda a: abs(a.euler_angle_forward.pitch_deg + 30.0) < 0.5)
            assert attitude.gimbal_id == gimbal_id

            # camera v2 through MAVSDK: discovery, zoom range, focus metres
            camera = CameraAsync(system)

            async def cameras():
                return (await camera.camera_list()).cameras
            listed = await _eventually(cameras)
            assert listed, "MAVSDK discovered no camera"
            component = listed[0].component_id
            assert component == 100
            await camera.zoom_range(component, 50.0)
            await camera.focus_meters(component, 7.0)
            profile = sim.camera_profile
            mid_focal = (profile.focal_length_mm.min + profile.focal_length_mm.max) / 2

            async def lens_moved():
                s = sim.rig_state()
                return abs(s.focal_length_mm - mid_focal) < 0.5 and abs(s.focus_distance_m - 7.0) < 0.05
            assert await _eventually(lens_moved), sim.rig_state()
            await offboard.stop()

    try:
        asyncio.run(asyncio.wait_for(session(), 240.0))
    finally:
        autopilot.close()


def test_mavsdk_sees_the_ardupilot_flavour(sim):
    sim.reset()
    autopilot = SimAutopilot(sim, "ardupilot", params=_params()).start()

    async def session():
        config = Configuration.create_with_component_type(ComponentType.GROUND_STATION)
        async with Mavsdk(config) as drone:
            system = await _connect(autopilot, drone)
            assert await system.autopilot_type() == Autopilot.ARDUPILOT
            telemetry = TelemetryAsync(system)
            position = await _first(telemetry.subscribe_position())
            assert position.relative_altitude_m == pytest.approx(sim.rig_state().position_m[2], abs=0.1)
            await ActionAsync(system).arm()
            assert autopilot.armed
            armed = await _first(telemetry.subscribe_armed(), lambda a: a)
            assert armed

    try:
        asyncio.run(asyncio.wait_for(session(), 120.0))
    finally:
        autopilot.close()
