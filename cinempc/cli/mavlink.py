"""``cinempc mavlink``: signing keys, key provisioning, link status, operator commands, and a simulated autopilot."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

GROUND_HEIGHT_M = 0.15  # the simulated vehicle's body centre when it stands on the ground


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``mavlink`` sub-command and its actions."""
    parser = subparsers.add_parser(
        "mavlink", help="MAVLink tools: signing keys, provisioning, link status, simulated autopilot",
        description="Tools for the MAVLink deployment (see docs/hardware.md).",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    keygen = actions.add_parser("keygen", help="write a new random 32-byte signing key (hex, mode 0600)")
    keygen.add_argument("--out", required=True,
                        help="key file OUTSIDE the repository, e.g. ~/.config/cinempc/mavlink.key")
    keygen.set_defaults(func=run_keygen)

    provision = actions.add_parser(
        "provision", help="send the key to the autopilot with SETUP_SIGNING (do it over USB, never a radio)")
    provision.add_argument("--url", required=True, help="e.g. /dev/ttyACM0 or serial:/dev/ttyACM0:115200")
    provision.add_argument("--key", required=True, help="key file written by `cinempc mavlink keygen`")
    provision.add_argument("--target-system", type=int, default=1)
    provision.set_defaults(func=run_provision)

    status = actions.add_parser("status", help="connect, print autopilot, mode, arming state, rig state and exit")
    status.add_argument("--url", required=True, help="udpin:0.0.0.0:14540, udpout:host:port, tcp:host:port, serial")
    status.add_argument("--key", help="signing key file (omit on an unsigned bench link)")
    status.add_argument("--camera", help="camera profile for the lens mapping (default: config/vehicle.yaml's)")
    status.add_argument("--timeout", type=float, default=5.0)
    status.set_defaults(func=run_status)

    sim = actions.add_parser("sim-autopilot", help="serve the simulated PX4/ArduPilot autopilot on a UDP port")
    sim.add_argument("--flavour", choices=("px4", "ardupilot"), default="px4")
    sim.add_argument("--scenario", default="single_walker", help="scenario file or name in sim/scenarios/")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=14580)
    sim.add_argument("--key", help="signing key file (incoming commands must then be signed)")
    sim.add_argument("--duration", type=float, help="stop after this many seconds (default: run until Ctrl-C)")
    sim.add_argument("--on-ground", action="store_true",
                     help="start the vehicle standing on the ground below the scenario's start (a first flight)")
    sim.set_defaults(func=run_sim_autopilot)

    rally = actions.add_parser(
        "rally", help="upload the site's rally point to the autopilot (mission protocol, rally list) and read it back",
        description="Replaces the autopilot's rally list with the site file's failsafe.rally (checked inside the "
        "site's box at the autopilot's home first), reads it back and compares: preflight's rally check then passes "
        "and the autopilot's own Return goes where cinempc's rally goes (docs/first_flight.md).")
    rally.add_argument("--site", type=Path, required=True, help="the site file (FIELD.yaml)")
    rally.set_defaults(func=run_rally)

    from cinempc.cli._operator import add_actions

    add_actions(actions)  # arm, takeoff, offboard, hold, land (cinempc/operator.py)


def run_rally(args: argparse.Namespace) -> int:
    import sys

    from cinempc.preflight import upload_rally
    from cinempc.site import load_site

    result = upload_rally(load_site(args.site))
    if result.passed:
        print(f"rally point uploaded and read back: {result.reason}")
        return 0
    print(f"cinempc mavlink rally: {result.reason}", file=sys.stderr)
    return 1


def run_keygen(args: argparse.Namespace) -> int:
    from cinempc.mavlink.signing import write_signing_key

    write_signing_key(args.out)
    print(f"wrote a new MAVLink signing key to {args.out} (mode 0600); provision it with "
          f"`cinempc mavlink provision --url <USB port> --key {args.out}`")
    return 0


def run_provision(args: argparse.Namespace) -> int:
    from cinempc.mavlink.connection import open_link
    from cinempc.mavlink.signing import load_signing_key, signing_timestamp_now

    key = load_signing_key(args.key)
    conn = open_link(args.url, 255, 190)
    try:
        if conn.wait_heartbeat(timeout=5) is None:
            raise ValueError(f"no heartbeat on {args.url}")
        conn.mav.setup_signing_send(args.target_system, 0, key, signing_timestamp_now())
    finally:
        conn.close()
    print(f"sent SETUP_SIGNING to system {args.target_system} on {args.url}; reboot the autopilot and check that an "
          "unsigned link is refused (docs/hardware.md, pre-flight checklist)")
    return 0


def run_status(args: argparse.Namespace) -> int:
    from cinempc.config import load_camera_profile, load_vehicle_config
    from cinempc.mavlink.bridge import MavlinkBridge
    from cinempc.mavlink.signing import load_signing_key

    vehicle = load_vehicle_config()
    camera = load_camera_profile(args.camera) if args.camera else vehicle.camera()
    key = load_signing_key(args.key) if args.key else None
    with MavlinkBridge(args.url, camera, vehicle, signing_key=key) as bridge:
        try:
            autopilot = bridge.start(wait_heartbeat_s=args.timeout)
        except TimeoutError as exc:
            raise ValueError(str(exc)) from exc
        for name in ("LOCAL_POSITION_NED", "ATTITUDE", "GIMBAL_DEVICE_ATTITUDE_STATUS", "CAMERA_SETTINGS"):
            bridge.wait_message(name, timeout_s=2.0)  # a vehicle without gimbal/camera just takes longer
        deadline = time.monotonic() + args.timeout  # report the link as it settles, not one instant's jitter
        while not bridge.link_ok and time.monotonic() < deadline:
            time.sleep(0.05)
        state = bridge.rig_state()
        print(json.dumps({
            "autopilot": autopilot.value, "mode": bridge.mode, "armed": bridge.armed, "link_ok": bridge.link_ok,
            "rig_state": None if state is None else {
                "position_m": state.position_m.round(3).tolist(), "yaw_rad": round(state.yaw_rad, 4),
                "pitch_rad": round(state.pitch_rad, 4), "focal_length_mm": round(state.focal_length_mm, 2),
                "focus_distance_m": round(state.focus_distance_m, 3), "f_number": round(state.f_number, 2)},
            "events": [e.as_dict() for e in bridge.event_list],
        }, indent=2))
    return 0


def run_sim_autopilot(args: argparse.Namespace) -> int:
    from cinempc.mavlink.signing import load_signing_key
    from cinempc_sim.autopilot import SimAutopilot
    from cinempc_sim.simulator import Simulator

    key = load_signing_key(args.key) if args.key else None
    scenario, vehicle = args.scenario, None
    if args.on_ground:
        from cinempc.config import load_vehicle_config
        from cinempc_sim.scenario import load_scenario

        scenario = load_scenario(args.scenario)
        x, y, _ = scenario.start.position_m
        scenario = scenario.model_copy(update={"start": scenario.start.model_copy(
            update={"position_m": (x, y, GROUND_HEIGHT_M)})})
        vehicle = load_vehicle_config()  # the world lets the vehicle stand on the ground, under the flight floor
        vehicle = vehicle.model_copy(update={"airspace": vehicle.airspace.model_copy(update={"altitude_floor_m": 0.0})})
    with Simulator(scenario, render=False, vehicle=vehicle) as sim:
        with SimAutopilot(sim, args.flavour, host=args.host, port=args.port, signing_key=key) as autopilot:
            host, port = autopilot.address
            print(f"simulated {args.flavour} autopilot on udp {host}:{port}: connect a bridge with "
                  f"--url udpout:{host}:{port} or MAVSDK with udpout://{host}:{port}", flush=True)
            deadline = time.monotonic() + args.duration if args.duration else None
            while deadline is None or time.monotonic() < deadline:
                time.sleep(0.2)
    return 0
