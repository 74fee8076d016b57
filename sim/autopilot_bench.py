"""Numbers for the MAVLink path (printed, never asserted): ``python -m cinempc_sim.autopilot_bench``.

* setpoint stream rate the autopilot actually receives (requirement: >= 20 Hz);
* link cut -> vehicle in HOLD, both ways cut and telemetry-only cut (requirement: <= 0.5 s);
* lockstep overhead of one control step over MAVLink versus the direct simulator;
* composition_error_rms of default shots, direct versus over MAVLink, per scenario and controller.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np

from cinempc.config import load_parameters
from cinempc.mavlink.bridge import MavlinkBridge
from cinempc.state import Setpoint
from cinempc_sim.autopilot import SimAutopilot
from cinempc_sim.simulator import Simulator


def _relay(target):
    """A UDP relay with cut switches (the same fault injection the tests use)."""
    import select
    import socket
    import threading

    class Relay:
        uplink = downlink = True
        stop = False

    relay = Relay()
    front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    front.bind(("127.0.0.1", 0))
    back = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    back.bind(("127.0.0.1", 0))
    client = {}

    def run():
        while not relay.stop:
            for s in select.select([front, back], [], [], 0.05)[0]:
                data, addr = s.recvfrom(65535)
                if s is front:
                    client["addr"] = addr
                    if relay.uplink:
                        back.sendto(data, target)
                elif relay.downlink and "addr" in client:
                    front.sendto(data, client["addr"])

    threading.Thread(target=run, daemon=True).start()
    relay.url = f"udpout:127.0.0.1:{front.getsockname()[1]}"
    return relay


def stream_and_failsafe(sim: Simulator, params: dict, trials: int) -> dict:
    rates, reactions = [], {"both_ways": [], "telemetry_only": []}
    for _trial in range(trials):
        for kind in reactions:
            sim.reset()
            autopilot = SimAutopilot(sim, "px4", params=params).start()
            relay = _relay(autopilot.address)
            bridge = MavlinkBridge(relay.url, sim.camera_profile, sim.vehicle_config, params=params)
            try:
                bridge.start()
                state = bridge.rig_state() or sim.rig_state()
                bridge.operator_arm()
                bridge.operator_start_offboard(Setpoint.hold_at(state))
                count0, t0 = autopilot.offboard_setpoints, time.monotonic()
                time.sleep(2.0)
                rates.append((autopilot.offboard_setpoints - count0) / (time.monotonic() - t0))
                cut = time.monotonic()
                relay.downlink = False
                relay.uplink = kind == "telemetry_only"
                deadline = cut + 3.0
                while autopilot.mode != "hold" and time.monotonic() < deadline:
                    time.sleep(0.005)
                reactions[kind].append(autopilot.mode_log[-1].wall_time_s - cut)
            finally:
                bridge.close()
                relay.stop = True
                autopilot.close()
    return {"setpoint_rate_hz_min": min(rates), "setpoint_rate_hz_mean": statistics.mean(rates),
            **{f"cut_{k}_to_hold_s_max": max(v) for k, v in reactions.items()},
            **{f"cut_{k}_to_hold_s_mean": statistics.mean(v) for k, v in reactions.items()}}


def lockstep_overhead(scenario: str, steps: int) -> dict:
    from cinempc_sim.autopilot_link import MavlinkSimRig

    direct = Simulator(scenario, render=False)
    via_sim = Simulator(scenario, render=False)
    rig = MavlinkSimRig(via_sim)
    try:
        start = direct.rig_state()
        target = Setpoint(position_m=start.position_m + [1.0, 0.5, 0.5], velocity_mps=np.zeros(3),
                          acceleration_mps2=np.zeros(3), yaw_rad=start.yaw_rad + 0.2, yaw_rate_rad_s=0.0,
                          pitch_rad=-0.2, focal_length_mm=50.0, focus_distance_m=8.0, f_number=5.6)
        t = time.perf_counter()
        for _ in range(steps):
            direct.step(target, 0.1)
        direct_ms = (time.perf_counter() - t) / steps * 1e3
        t = time.perf_counter()
        for _ in range(steps):
            rig.step(target, 0.1)
        via_ms = (time.perf_counter() - t) / steps * 1e3
        error = float(np.abs(rig.rig_state().position_m - direct.rig_state().position_m).max())
    finally:
        rig.close()
        direct.close()
        via_sim.close()
    return {"direct_step_ms": direct_ms, "mavlink_step_ms": via_ms, "position_difference_m": error}


def shots(controllers: list[str], duration_s: float | None) -> list[dict]:
    from cinempc_sim.autopilot_link import run_scenario_via_mavlink
    from cinempc_sim.closed_loop import run_scenario
    from cinempc_sim.scenario import SCENARIO_DIR

    rows = []
    for scenario in sorted(Path(SCENARIO_DIR).glob("*.yaml")):
        for controller in controllers:
            direct = run_scenario(scenario, controller=controller, duration_s=duration_s, render_rate_hz=0)
            via = run_scenario_via_mavlink(scenario, controller=controller, duration_s=duration_s, render_rate_hz=0)
            rows.append({"scenario": scenario.stem, "controller": controller,
                         "direct": direct.metrics["composition_error_rms"],
                         "mavlink": via.metrics["composition_error_rms"],
                         "delta": via.metrics["composition_error_rms"] - direct.metrics["composition_error_rms"]})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--controllers", default="follow", help="comma list: follow,cinempc,extrinsics_only")
    parser.add_argument("--duration", type=float, help="seconds per shot (default: the shot's / scenario's)")
    parser.add_argument("--skip-shots", action="store_true")
    args = parser.parse_args(argv)
    params = load_parameters("mavlink.yaml")
    sim = Simulator("single_walker", render=False)
    try:
        print(json.dumps(stream_and_failsafe(sim, params, args.trials)), flush=True)
    finally:
        sim.close()
    print(json.dumps(lockstep_overhead("single_walker", 100)), flush=True)
    if not args.skip_shots:
        shots(args.controllers.split(","), args.duration)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
