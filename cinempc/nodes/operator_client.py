"""Call the MAVLink bridge node's operator services from a plain process (no ``ros2`` CLI needed).

Used by ``cinempc mavlink offboard --via-ros``: while ``cinempc up drone`` flies, the bridge node owns the
setpoint stream, so OFFBOARD must be started by it (``mavlink/start_offboard``), not by a second stream.
"""

from __future__ import annotations

from cinempc.graph import resolve_topic

SERVICES = {"offboard": "mavlink/start_offboard", "hold": "mavlink/hold", "land": "mavlink/land"}


def call_operator_service(action: str, namespace: str = "", timeout_s: float = 15.0) -> tuple[bool, str]:
    """``(success, message)`` of the bridge node's service for ``action``; a missing node is a clear failure."""
    import rclpy
    from std_srvs.srv import Trigger

    if action not in SERVICES:
        raise ValueError(f"no bridge service for {action!r}; one of {', '.join(SERVICES)}")
    name = resolve_topic(SERVICES[action], namespace)
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        node = rclpy.create_node("cinempc_operator_cli", context=context)
        client = node.create_client(Trigger, name)
        if not client.wait_for_service(timeout_sec=timeout_s):
            return False, f"no bridge node answers {name} within {timeout_s:g} s: is `cinempc up drone` running?"
        future = client.call_async(Trigger.Request())
        executor = rclpy.executors.SingleThreadedExecutor(context=context)
        executor.add_node(node)
        executor.spin_until_future_complete(future, timeout_sec=timeout_s)
        if not future.done():
            return False, f"{name} did not answer within {timeout_s:g} s"
        response = future.result()
        return bool(response.success), f"{name} -> {response.message}"
    finally:
        rclpy.shutdown(context=context)
