"""Lifecycle cycles of the perception and MAVLink bridge nodes: real rclpy over DDS, real detector, real MAVLink.

Each node is taken configure -> activate -> deactivate -> cleanup -> configure -> activate, as docs/ros.md
tells operators to do after changing a setting.  After cleanup it must hold no subscription and no timer;
after the second activation exactly what it held after the first, and the ROS graph must see one
subscription per topic (a duplicate would process every message twice).  The bridge connects to the
simulated PX4 autopilot over UDP, and its reconfigured link must carry telemetry again.  (The MPC and
sim nodes are cycled in test_safety_ros.py.)
"""

from __future__ import annotations

import os

import pytest
from ros_params import node_overrides
from waiting import spinning, wait_until

from cinempc.config import load_parameters

pytestmark = [pytest.mark.ros]


@pytest.fixture(scope="module")
def ros(ros_domain_env):
    import rclpy
    from rclpy.executors import MultiThreadedExecutor

    os.environ.update({k: ros_domain_env[k] for k in ("ROS_DOMAIN_ID", "RMW_IMPLEMENTATION",
                                                      "ROS_AUTOMATIC_DISCOVERY_RANGE")})
    context = rclpy.Context()
    rclpy.init(context=context)
    executor = MultiThreadedExecutor(num_threads=4, context=context)
    probe = rclpy.create_node("lifecycle_probe", context=context)
    executor.add_node(probe)
    nodes = []

    def add(factory, node_name, files, **extra):
        node = factory(context=context, use_global_arguments=False,
                       parameter_overrides=node_overrides(node_name, files, **extra))
        nodes.append(node)
        executor.add_node(node)
        return node

    try:
        with spinning(executor, join_timeout_s=5.0):
            yield probe, add
    finally:
        for node in nodes:
            close = getattr(node, "close", None)
            if close is not None:
                close()
            node.destroy_node()
        probe.destroy_node()
        rclpy.shutdown(context=context)


def _counts(node) -> tuple[int, int, int, int]:
    return (len(list(node.subscriptions)), len(list(node.publishers)), len(list(node.timers)),
            len(list(node.services)))


def _subscribers(probe, node_name: str, topic: str) -> int:
    return sum(1 for info in probe.get_subscriptions_info_by_topic(topic) if info.node_name == node_name)


def _cycle(probe, node, topics: tuple[str, ...]) -> None:
    """configure -> activate -> deactivate -> cleanup -> configure -> activate: nothing left, nothing doubled."""
    from rclpy.lifecycle import TransitionCallbackReturn as R

    assert node.trigger_configure() == R.SUCCESS
    assert node.trigger_activate() == R.SUCCESS
    first = _counts(node)
    assert first[0] >= len(topics), first
    assert node.trigger_deactivate() == R.SUCCESS
    assert node.trigger_cleanup() == R.SUCCESS
    idle = _counts(node)
    assert idle[0] == 0 and idle[2] == 0, f"cleanup left subscriptions/timers: {idle}"
    wait_until(lambda: all(_subscribers(probe, node.get_name(), t) == 0 for t in topics), 10.0,
               "the graph to see the cleaned-up node's subscriptions gone")
    assert node.trigger_configure() == R.SUCCESS
    assert node.trigger_activate() == R.SUCCESS
    assert _counts(node) == first, (first, _counts(node))
    wait_until(lambda: all(_subscribers(probe, node.get_name(), t) >= 1 for t in topics), 10.0,
               "the graph to see the reconfigured node's subscriptions")
    doubled = {t: _subscribers(probe, node.get_name(), t) for t in topics}
    assert all(n == 1 for n in doubled.values()), doubled


def test_perception_node_cycles_through_cleanup_with_no_duplicate_subscription_or_timer(ros):
    from cinempc.nodes.perception_node import PerceptionNode

    probe, add = ros
    node = add(PerceptionNode, "perception_node", ("vehicle.yaml", "perception.yaml"))
    _cycle(probe, node, ("/camera/image_raw", "/rig/odometry", "/rig/camera_state"))
    assert node.pipeline is not None  # the detector is loaded again by the second configure
    node.trigger_deactivate()


def test_mavlink_bridge_node_cycles_through_cleanup_and_its_new_link_carries_telemetry(ros):
    from nav_msgs.msg import Odometry

    from cinempc.nodes.base import CONTROL_QOS
    from cinempc.nodes.mavlink_bridge_node import MavlinkBridgeNode
    from cinempc_sim.autopilot import SimAutopilot
    from cinempc_sim.simulator import Simulator

    probe, add = ros
    params = load_parameters("mavlink.yaml")
    with Simulator("single_walker", render=False) as sim:
        autopilot = SimAutopilot(sim, "px4", params=params).start()
        try:
            node = add(MavlinkBridgeNode, "mavlink_bridge_node", ("vehicle.yaml", "mavlink.yaml"),
                       **{"node.url": autopilot.url, "node.heartbeat_wait_s": 10.0})
            _cycle(probe, node, ("/rig/setpoint", "/director/hold"))
            odometry: list = []
            probe.create_subscription(Odometry, "rig/odometry", odometry.append, CONTROL_QOS)
            wait_until(lambda: len(odometry) >= 3, 20.0, "telemetry through the reconfigured link")
            # link_ok means telemetry within link_timeout_s (0.25 s) of now: waited for, not read once, so a load
            # spike between the odometry and the read (the autopilot runs in this process) is not a dead link
            wait_until(lambda: node.bridge is not None and node.bridge.link_ok, 10.0, "the reconfigured link ok")
            node.trigger_deactivate()
            node.trigger_cleanup()
            assert node.bridge is None and node.safety is None
        finally:
            autopilot.close()
