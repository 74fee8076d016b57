"""A broken ROS 2 install must fail CI, not a user: pass a message between two processes over DDS."""

import os
import subprocess
import sys
import time

import pytest
import rclpy  # noqa: E402 -- a missing ROS install must fail here, loudly

TALKER = r"""
import sys, time, rclpy
from std_msgs.msg import String
rclpy.init()
node = rclpy.create_node("cinempc_test_talker")
pub = node.create_publisher(String, "cinempc_test/chatter", 10)
deadline = time.monotonic() + 20
while time.monotonic() < deadline:
    pub.publish(String(data="action"))
    rclpy.spin_once(node, timeout_sec=0.05)
"""


@pytest.mark.ros
def test_message_crosses_processes_over_dds(ros_domain_env):
    from std_msgs.msg import String

    talker = subprocess.Popen([sys.executable, "-c", TALKER], env=ros_domain_env)
    try:
        os.environ.update({k: ros_domain_env[k] for k in ("ROS_DOMAIN_ID", "RMW_IMPLEMENTATION")})
        context = rclpy.Context()
        rclpy.init(context=context)
        node = rclpy.create_node("cinempc_test_listener", context=context)
        received: list[str] = []
        node.create_subscription(String, "cinempc_test/chatter", lambda m: received.append(m.data), 10)
        executor = rclpy.executors.SingleThreadedExecutor(context=context)
        executor.add_node(node)
        deadline = time.monotonic() + 15
        while not received and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.1)
        node.destroy_node()
        rclpy.shutdown(context=context)
        assert received and received[0] == "action", "no message arrived over DDS within 15 s"
        assert rclpy.get_rmw_implementation_identifier() == "rmw_fastrtps_cpp"
    finally:
        talker.kill()
        talker.wait()
