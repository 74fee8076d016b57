"""``cinempc up`` itself: a namespaced sim graph with a recorder, stopped by SIGTERM like a service manager does."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

pytestmark = [pytest.mark.ros]


def test_dry_run_prints_the_namespaced_graph(tmp_path):
    out = subprocess.run([sys.executable, "-m", "cinempc", "up", "drone", "--namespace", "rig2", "--dry-run",
                          "--record", str(tmp_path / "bag")], capture_output=True, text=True, check=True).stdout
    lines = out.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == ["perception_node", "mpc_node", "director_node",
                                                      "mavlink_bridge_node", "bag_recorder"]
    assert all("__ns:=/rig2" in line for line in lines)
    bad = subprocess.run([sys.executable, "-m", "cinempc", "up", "sim", "--param", "nobody:x=1", "--dry-run"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "no node 'nobody'" in bad.stderr


def test_sigterm_stops_every_node_and_finalises_the_bag(tmp_path, ros_domain_env):
    import rclpy
    import rclpy.executors
    from cinempc_interfaces.msg import ShotSpec
    from nav_msgs.msg import Odometry
    from rosbags.highlevel import AnyReader

    from cinempc.nodes.base import CONTROL_QOS, LATCHED_QOS

    bag = tmp_path / "bag"
    log = open(tmp_path / "up.log", "wb")  # noqa: SIM115
    up = subprocess.Popen(
        [sys.executable, "-m", "cinempc", "up", "sim", "--namespace", "t1", "--record", str(bag),
         "--param", "director_node:node.serve_web=false", "--param", "sim_node:node.render=false"],
        env=ros_domain_env, stdout=log, stderr=subprocess.STDOUT)
    os.environ.update({k: ros_domain_env[k] for k in ("ROS_DOMAIN_ID", "RMW_IMPLEMENTATION",
                                                      "ROS_AUTOMATIC_DISCOVERY_RANGE")})
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node("cinempc_up_probe", context=context)
    seen: list = []
    shots: list = []
    node.create_subscription(Odometry, "/t1/rig/odometry", seen.append, CONTROL_QOS)
    node.create_subscription(ShotSpec, "/t1/director/shot", shots.append, LATCHED_QOS)
    executor = rclpy.executors.SingleThreadedExecutor(context=context)
    executor.add_node(node)
    try:
        deadline = time.monotonic() + 60
        # stop only once the director has published its (latched) shot, so the bag can hold it
        while (len(seen) < 20 or not shots) and time.monotonic() < deadline and up.poll() is None:
            executor.spin_once(timeout_sec=0.1)
        assert len(seen) >= 20, "no odometry under the namespace"
        assert shots, "the director never published its shot"
        # the recorder's own subscriptions must have met the publishers too (discovery can take seconds under
        # load): wait for its first message on each topic the bag is checked for, the latched shot included
        deadline = time.monotonic() + 30
        wanted = [f"first message on {topic}" for topic in ("/t1/director/shot", "/t1/rig/odometry", "/clock")]
        while not all(line in (tmp_path / "up.log").read_text(errors="replace") for line in wanted):
            assert time.monotonic() < deadline and up.poll() is None, "the recorder never got every topic"
            time.sleep(0.2)
        up.send_signal(signal.SIGTERM)
        assert up.wait(timeout=40) == 0
    finally:
        if up.poll() is None:
            up.kill()
        node.destroy_node()
        rclpy.shutdown(context=context)
        log.close()
    text = (tmp_path / "up.log").read_text(errors="replace")
    pids = [int(line.split("pid ")[1].rstrip(")")) for line in text.splitlines() if "(pid " in line]
    assert len(pids) == 5
    for pid in pids:  # every node is gone (reaped by cinempc up)
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    with AnyReader([bag]) as reader:
        counts = {c.topic: c.msgcount for c in reader.connections}
    assert counts["/t1/rig/odometry"] > 0 and counts["/clock"] > 0 and counts["/t1/director/shot"] == 1


def test_a_node_writes_every_threads_stack_on_sigusr1_and_still_stops_on_ctrl_c(tmp_path, ros_domain_env):
    """The tool for a node that looks stuck on a companion computer (and for a CI run where one did)."""
    from cinempc.cli.up import _remove_override_files, commands

    argv = dict(commands("sim"))["mpc_node"]
    log_path = tmp_path / "mpc_node.log"
    with open(log_path, "wb") as log:
        node = subprocess.Popen(argv, env={**ros_domain_env, "PYTHONUNBUFFERED": "1"}, stdout=log,
                                stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while "MPC ready" not in log_path.read_text(errors="replace"):
                assert time.monotonic() < deadline and node.poll() is None, log_path.read_text(errors="replace")
                time.sleep(0.2)
            node.send_signal(signal.SIGUSR1)
            deadline = time.monotonic() + 10
            while "most recent call first" not in log_path.read_text(errors="replace"):
                assert time.monotonic() < deadline, "no stack dump after SIGUSR1"
                time.sleep(0.2)
            assert node.poll() is None, "SIGUSR1 must not stop the node"
            node.send_signal(signal.SIGINT)
            assert node.wait(timeout=20) == 0
        finally:
            if node.poll() is None:
                node.kill()
            _remove_override_files([argv])
    text = log_path.read_text(errors="replace")
    assert "executors.py" in text and "spin" in text, text[-3000:]  # the main thread's stack: spinning
