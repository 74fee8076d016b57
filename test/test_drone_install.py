"""The flight-only venv (``make install-drone``): small, free of the simulator/plots/torch, and it flies.

Run by ``make test-drone`` (which builds the venv from scratch first; ``CINEMPC_DRONE_VENV`` names it); skipped
when no such venv exists, so the plain ``make test`` does not depend on it.

* its size on disk is at most ``DRONE_VENV_MAX_BYTES``;
* the flight modules import, and the ONNX detector + tracker + pipeline run on a frame, with none of pybullet,
  gymnasium, matplotlib, torch or ultralytics in ``sys.modules`` (nor installed);
* ``cinempc up drone`` started from that venv (perception on ONNX Runtime with supervision's ByteTrack, MPC,
  director, MAVLink bridge) flies the simulated PX4 (``cinempc mavlink sim-autopilot`` from the full venv) over
  UDP: the first setpoint within ``FIRST_SETPOINT_MAX_S`` of the start, the MPC's setpoints move the vehicle,
  HOLD stops it (a probe publishes the subjects, as in ``test_up_drone``); then a rendered camera stream goes
  into the graph's perception node, which boxes the person in it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from waiting import spinning, stop_process, wait_at_rest, wait_until

ROOT = Path(__file__).resolve().parents[1]
VENV = Path(os.environ.get("CINEMPC_DRONE_VENV", ROOT / ".venv-drone"))
if not VENV.is_absolute():
    VENV = ROOT / VENV
PYTHON = VENV / "bin" / "python"
DRONE_VENV_MAX_BYTES = 10**9  # issue 29: the flight-only venv fits in 1 GB
FIRST_SETPOINT_MAX_S = 10.0  # issue 29: `cinempc up drone` to the first MPC setpoint
HEAVY = ("pybullet", "gymnasium", "matplotlib", "torch", "ultralytics", "cinempc_sim")
FLIGHT_MODULES = (
    "cinempc.cli", "cinempc.cli.up", "cinempc.nodes.perception_node", "cinempc.nodes.mpc_node",
    "cinempc.nodes.director_node", "cinempc.nodes.mavlink_bridge_node", "cinempc.nodes.recorder",
    "cinempc.director.app", "cinempc.mavlink.bridge", "cinempc.perception.pipeline", "cinempc.mpc.controller",
)
WALK_MPS = np.array([0.0, 1.2, 0.0])
CAMERA_PX = (320, 240)
HORIZON = 30  # prediction rows the MPC reads (config/nodes.yaml perception_node.horizon_steps)

pytestmark = pytest.mark.skipif(not PYTHON.is_file(), reason=f"no flight-only venv at {VENV} (make install-drone)")


def _venv_bytes(path: Path) -> int:
    """Disk used, as ``du -s -B1`` counts it: allocated blocks, each hard-linked file once."""
    inodes = {}
    for p in path.rglob("*"):
        stat = p.lstat()
        inodes[(stat.st_dev, stat.st_ino)] = stat.st_blocks * 512
    return sum(inodes.values())


def test_the_flight_venv_fits_in_a_gigabyte():
    size = _venv_bytes(VENV)
    print(f"{VENV}: {size / 1e6:.0f} MB on disk")
    assert size <= DRONE_VENV_MAX_BYTES


FLIGHT_PROBE = """
import importlib, importlib.util, json, sys, time
import numpy as np
start = time.perf_counter()
for name in MODULES:
    importlib.import_module(name)
imported_s = time.perf_counter() - start
from cinempc.config import load_camera_profile
from cinempc.perception import load_perception_params
from cinempc.perception.detector import build_detector
from cinempc.perception.pipeline import PerceptionPipeline
from cinempc.state import RigState
params = load_perception_params().with_(backend="onnx")
pipeline = PerceptionPipeline(load_camera_profile("sim_super35"), params, build_detector(params))
rig = RigState(position_m=[0.0, 0.0, 2.5], yaw_rad=0.0, pitch_rad=-0.1, focal_length_mm=24.0)
for k in range(3):
    pipeline.process(np.full((240, 320, 3), 90, np.uint8), rig, k / 10)
print(json.dumps({"heavy": sorted(m for m in HEAVY if m in sys.modules),
                  "installed": sorted(m for m in HEAVY if importlib.util.find_spec(m)),
                  "tracker": type(pipeline.tracker).__name__, "detector": pipeline.detector.backend,
                  "imported_s": imported_s}))
"""


def test_flight_modules_load_and_perceive_without_the_heavy_packages(tmp_path):
    code = f"MODULES = {FLIGHT_MODULES!r}\nHEAVY = {HEAVY!r}\n" + FLIGHT_PROBE
    # run outside the checkout, so the venv's installed cinempc is what is imported
    # bytecode written, as on the companion computer: this first start compiles what the flight stack imports
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE")}
    result = subprocess.run([str(PYTHON), "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path,
                            env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    print(report)
    assert report["heavy"] == []
    assert report["installed"] == ["cinempc_sim"]  # in the same wheel; it needs pybullet, so it cannot load
    assert report["tracker"] == "NumpyByteTracker" and report["detector"] == "onnx"



def _call(node, srv_type, name: str, request, timeout_s: float = 60.0):
    client = node.create_client(srv_type, name)
    assert client.wait_for_service(timeout_sec=timeout_s), f"no service {name}"
    future = client.call_async(request)
    wait_until(future.done, 20.0, f"an answer from {name}")
    return future.result()


@pytest.mark.ros
@pytest.mark.slow
def test_up_drone_from_the_flight_venv_flies_the_autopilot_and_holds(tmp_path, ros_domain_env):
    import rclpy
    from nav_msgs.msg import Odometry
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import Image
    from std_srvs.srv import SetBool, Trigger
    from trajectory_msgs.msg import JointTrajectory

    from cinempc.config import load_camera_profile
    from cinempc.graph import Topics
    from cinempc.nodes import convert
    from cinempc.nodes.base import CONTROL_QOS, SENSOR_QOS
    from cinempc.state import SubjectTrack
    from cinempc_sim.perception_data import scripted_sequence
    from cinempc_sim.scenario import ActorSpec, ScriptStep

    # the camera's stream: a person walking across a rendered field, 320x240 rgb at 10 Hz (the full venv renders)
    camera = load_camera_profile("sim_super35").with_resolution(*CAMERA_PX)
    person = ActorSpec(name="walker", track_id=1, start_m=(10, -2), script=[ScriptStep(to=(10, 2), speed_mps=1.4)])
    stream = [view.rgb for _, view in scripted_sequence(camera, [person], (0.0, 0.0, 2.0), duration_s=3.0,
                                                        focal_length_mm=24.0, look_at_m=(10.0, 0.0, 0.9),
                                                        image_size=CAMERA_PX)]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    params = {"mavlink_bridge_node:node.url": f"udpout:127.0.0.1:{port}",
              "mavlink_bridge_node:node.heartbeat_wait_s": "1.0", "mavlink_bridge_node:autostart_retry_s": "1.0",
              "mavlink_bridge_node:safety.link_timeout_s": "1.0",
              "perception_node:perception.backend": "onnx",  # the flight venv has no ultralytics
              "director_node:node.serve_web": "false", "director_node:node.initial_shot": "follow_medium",
              # the plumbing is tested here, not solve time (as test_up_drone: two shared CI cores)
              "mpc_node:solver.deadline_ms": "10000.0", "mpc_node:node.max_plan_age_s": "10.0"}
    os.environ.update({k: ros_domain_env[k] for k in ("ROS_DOMAIN_ID", "RMW_IMPLEMENTATION",
                                                      "ROS_AUTOMATIC_DISCOVERY_RANGE")})
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node("up_drone_flight_venv_probe", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    track: list[tuple[np.ndarray, np.ndarray]] = []  # vehicle position, velocity (ENU) from the bridge
    holds: list[bool] = []
    first_setpoint: list[float] = []
    node.create_subscription(Odometry, Topics.ODOMETRY, lambda m: track.append((
        np.array([m.pose.pose.position.x, m.pose.pose.position.y, m.pose.pose.position.z]),
        np.array([m.twist.twist.linear.x, m.twist.twist.linear.y, m.twist.twist.linear.z]))), CONTROL_QOS)

    def on_setpoint(msg: JointTrajectory) -> None:
        first_setpoint.append(first_setpoint[0] if first_setpoint else time.monotonic())
        holds.append(convert.setpoint_from_msg(msg).hold)

    node.create_subscription(JointTrajectory, Topics.SETPOINT, on_setpoint, CONTROL_QOS)
    argv = [str(PYTHON), "-m", "cinempc", "up", "drone"]
    for key, value in params.items():
        argv += ["--param", f"{key}={value}"]
    env = {**ros_domain_env, "PATH": f"{VENV / 'bin'}:{ros_domain_env.get('PATH', '')}"}
    for name in ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE"):  # a companion computer keeps its bytecode
        env.pop(name, None)
    log_path, autopilot_log = tmp_path / "up.log", tmp_path / "sim_autopilot.log"
    with open(autopilot_log, "wb") as log:  # the simulated PX4 needs the simulator: from the full venv
        autopilot = subprocess.Popen([sys.executable, "-m", "cinempc", "mavlink", "sim-autopilot", "--flavour", "px4",
                                      "--scenario", "single_walker", "--port", str(port)],
                                     stdout=log, stderr=subprocess.STDOUT)
    # on the aircraft the autopilot is up before the companion computer starts the graph: wait for it
    wait_until(lambda: b"simulated px4 autopilot" in autopilot_log.read_bytes(), 120.0, "the simulated autopilot")
    started = time.monotonic()
    with open(log_path, "wb") as log:
        up = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    perceiving = threading.Event()
    code = None
    try:
        with spinning(executor, join_timeout_s=2.0):
            wait_until(lambda: first_setpoint, 120.0, "a setpoint from the MPC of cinempc up drone")
            to_first_setpoint_s = first_setpoint[0] - started
            print(f"cinempc up drone (flight venv): first setpoint {to_first_setpoint_s:.1f} s after the start")
            wait_until(lambda: len(track) > 5, 120.0, "telemetry from the bridge node")
            ground = track[-1][0] * [1.0, 1.0, 0.0]
            walker_start, t0 = ground + np.array([9.0, 0.0, 0.0]), time.time()

            def walker(now: float) -> SubjectTrack:
                here = walker_start + WALK_MPS * (now - t0)
                ahead = here + np.outer(np.arange(HORIZON) * 0.1, WALK_MPS)
                return SubjectTrack(track_id=1, positions_m=ahead, velocities_mps=np.tile(WALK_MPS, (HORIZON, 1)))

            publisher = node.create_publisher(type(convert.subjects_msg([walker(t0)], t0)), Topics.PERCEPTION_SUBJECTS,
                                              CONTROL_QOS)
            perceiving.set()

            def perceive() -> None:
                while perceiving.is_set():
                    now = time.time()
                    publisher.publish(convert.subjects_msg([walker(now)], now))
                    time.sleep(0.1)

            threading.Thread(target=perceive, daemon=True).start()
            assert _call(node, SetBool, "mavlink/arm", SetBool.Request(data=True)).success
            answer = _call(node, Trigger, "mavlink/start_offboard", Trigger.Request())
            assert answer.success, answer.message
            wait_until(lambda: holds and not holds[-1], 120.0, "the MPC flying the shot (not holding)")
            origin = track[-1][0]
            wait_until(lambda: track[-1][0][1] - origin[1] > 2.0, 60.0, "the vehicle moving with the walker")
            assert _call(node, Trigger, "director/hold_shot", Trigger.Request()).success
            wait_until(lambda: holds and holds[-1], 10.0, "hold setpoints from the MPC")
            # braking and settling (< 4 s on a quiet machine, test_cinempc_director_loop; longer at CI load)
            wait_at_rest(track, 20.0, "the vehicle at rest after HOLD")
            settled = track[-1][0]
            time.sleep(2.0)
            drift = float(np.linalg.norm(track[-1][0] - settled))
            print(f"HOLD from the flight venv: drift {drift:.3f} m over 2 s")
            assert drift < 0.3 and np.linalg.norm(track[-1][1]) < 0.2, (drift, track[-1][1])

            # perception on ONNX Runtime + the numpy ByteTrack, fed the camera stream: boxes come out
            perceiving.clear()
            boxes: list[int] = []
            node.create_subscription(convert.Detection2DArray, Topics.DETECTIONS,
                                     lambda m: boxes.append(len(m.detections)), CONTROL_QOS)
            info_pub = node.create_publisher(type(convert.camera_info_msg(camera, 24.0, 0.0)), Topics.CAMERA_INFO,
                                             CONTROL_QOS)
            image_pub = node.create_publisher(Image, Topics.IMAGE, SENSOR_QOS)
            for rgb in stream * 3:
                now = time.time()
                info_pub.publish(convert.camera_info_msg(camera, 24.0, now))
                image_pub.publish(convert.image_msg(rgb, now))
                time.sleep(0.1)
            wait_until(lambda: any(boxes), 30.0, "person boxes from the drone graph's perception node")
            print(f"perception from the flight venv: {len(boxes)} frames, {sum(boxes)} boxes")
            assert up.poll() is None
            perceiving.clear()
            code = stop_process(up, 40.0)
    finally:
        perceiving.clear()
        if code is None:
            stop_process(up, 40.0)
        stop_process(autopilot, 40.0)
        node.destroy_node()
        rclpy.shutdown(context=context)
        print(log_path.read_text(errors="replace")[-4000:])
        print(autopilot_log.read_text(errors="replace")[-1500:])
    assert code == 0, f"cinempc up exit code {code}"
    assert "perception ready: onnx" in log_path.read_text(errors="replace")  # the ONNX detector + numpy tracker
    load, cores = os.getloadavg()[0], os.cpu_count() or 1
    if load > cores:  # five processes starting on shared cores: the time measures the neighbours, not the graph
        print(f"time to first setpoint not asserted: load {load:.1f} on {cores} cores")
    else:
        assert to_first_setpoint_s <= FIRST_SETPOINT_MAX_S
