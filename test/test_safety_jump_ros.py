"""``node.max_state_jump_m`` set at run time over rclpy: the MPC node's pose-jump rule changes from the next step.

Real rclpy over DDS (the parameter service and the topics), the real MPC node (its CineMPC configured); the
fault -- a rig state 3 m off where the last one was heading, as a GPS or estimator jump delivers it -- is
published on ``rig/odometry`` by a probe in the test's process (the only stand-in: for the estimator).

The director holds all along (so no solve competes for the interpreter with the estimator stand-in); the
state rules come before HOLD in the safety core, so ``mpc/status`` says why the node holds.  With the
shipped 2 m a 3 m jump holds as ``rig state jumped`` / ``settling``; after ``ros2 param set`` to 5 m the
same 3 m jump back is no jump (every status says ``director HOLD``); after setting 2 m again the next
3 m jump holds again.  Invalid values are refused with the reason and change nothing.
"""

from __future__ import annotations

import math
import os
import threading
import time
from dataclasses import replace

import numpy as np
import pytest
from ros_params import node_overrides
from waiting import spinning, wait_until

pytestmark = [pytest.mark.ros]

JUMP_M = np.array([3.0, 0.0, 0.0])  # between the shipped 2 m and the 5 m set at run time
# mpc/status goes out at diagnostics_rate_hz (2 Hz): three of them span 1-1.5 s, so a jump hold -- the jump
# and state_jump_settle_s (1 s) of settling, the first cause the core checks -- is in at least two of them
STATUSES = 3
JUMP_REASONS = ("rig state jumped", "rig state settling")


@pytest.fixture(scope="module")
def graph(ros_domain_env):
    """An MPC node (shipped parameters) and a probe on a private domain, spun in this process."""
    import rclpy
    from rclpy.executors import MultiThreadedExecutor
    from rclpy.lifecycle import TransitionCallbackReturn

    from cinempc.nodes.mpc_node import MPCNode

    os.environ.update({k: ros_domain_env[k] for k in ("ROS_DOMAIN_ID", "RMW_IMPLEMENTATION",
                                                      "ROS_AUTOMATIC_DISCOVERY_RANGE")})
    context = rclpy.Context()
    rclpy.init(context=context)
    executor = MultiThreadedExecutor(num_threads=4, context=context)
    probe = rclpy.create_node("jump_probe", context=context)
    node = MPCNode(context=context, use_global_arguments=False,
                   parameter_overrides=node_overrides("mpc_node", ("vehicle.yaml", "mpc.yaml")))
    for each in (probe, node):
        executor.add_node(each)
    try:
        with spinning(executor, join_timeout_s=5.0):
            assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
            assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
            yield probe, node
    finally:
        node.destroy_node()
        probe.destroy_node()
        rclpy.shutdown(context=context)


def _set(probe, values: dict):
    """``ros2 param set`` on the MPC node: its set_parameters service over DDS."""
    from rcl_interfaces.srv import SetParameters
    from rclpy.parameter import Parameter

    client = probe.create_client(SetParameters, "/mpc_node/set_parameters")
    assert client.wait_for_service(timeout_sec=10.0)
    future = client.call_async(SetParameters.Request(
        parameters=[Parameter(k, value=v).to_parameter_msg() for k, v in values.items()]))
    wait_until(future.done, 10.0, "mpc_node/set_parameters to answer")
    probe.destroy_client(client)
    return future.result().results[0]


def test_max_state_jump_m_set_over_rclpy_changes_the_jump_rule_from_the_next_step(graph):
    from cinempc_interfaces.msg import PlanStatus
    from std_msgs.msg import Bool

    from cinempc.nodes import convert
    from cinempc.nodes.base import CONTROL_QOS, LATCHED_QOS
    from cinempc.shot import preset
    from cinempc.state import SubjectTrack
    from cinempc_sim.simulator import Simulator

    probe, node = graph
    with Simulator("single_walker", render=False) as sim:
        start = sim.rig_state()
    reasons: list[str] = []  # hold reasons on mpc/status, as they arrive
    probe.create_subscription(PlanStatus, "mpc/status", lambda m: reasons.append(
        convert.plan_status_from_msg(m)["hold_reason"]), CONTROL_QOS)
    odometry = probe.create_publisher(convert.Odometry, "rig/odometry", CONTROL_QOS)
    joints = probe.create_publisher(convert.JointState, "rig/camera_state", CONTROL_QOS)
    subjects = probe.create_publisher(convert.ci.SubjectTrackArray, "subjects", CONTROL_QOS)
    shot = probe.create_publisher(convert.ci.ShotSpec, "director/shot", LATCHED_QOS)
    hold = probe.create_publisher(Bool, "director/hold", LATCHED_QOS)
    walker = SubjectTrack(track_id=1, positions_m=np.tile(start.position_m + [8.0, 0.0, -start.position_m[2]],
                                                          (30, 1)), velocities_mps=np.zeros((30, 3)), name="alice")
    where = {"offset": np.zeros(3)}  # what the estimator adds to the true position (the injected jump)
    fed: list[float] = []  # wall times of the estimator's publishes

    def feed() -> None:  # the estimator, standing still
        state = replace(start, position_m=start.position_m + where["offset"])
        now = node.get_clock().now().nanoseconds * 1e-9
        odometry.publish(convert.odometry_msg(state, now))
        joints.publish(convert.camera_state_msg(state, now))
        subjects.publish(convert.subjects_msg([walker], now))
        fed.append(time.monotonic())

    # The estimator streams on its own thread at 20 Hz, as one does: not only while the test thread waits (the
    # parameter calls below would leave it silent, and a silent estimator is a stale state, not a jump).
    feeding = threading.Event()
    feeding.set()
    feeder = threading.Thread(target=lambda: [(feed(), time.sleep(0.05)) for _ in iter(feeding.is_set, False)],
                              daemon=True)

    def reasons_after(index: int):
        """The hold reasons of the first STATUSES statuses after ``index``, or None."""
        def check():
            later = list(reasons)[index:]
            return later[:STATUSES] if len(later) >= STATUSES else None
        return check

    def jump_to(offset: np.ndarray) -> list[str]:
        """Move the estimate by a jump; the hold reasons of the statuses that follow."""
        wait_until(lambda: reasons and reasons[-1] == "director HOLD", 20.0, "a settled state")
        seen = len(reasons)
        where["offset"] = offset
        jumped = time.monotonic()
        why = wait_until(reasons_after(seen), 20.0, "statuses after the jump")
        after = [t for t in fed if t >= jumped - 0.1]
        gap = max((b - a for a, b in zip(after, after[1:], strict=False)), default=0.0)
        print(f"jump by {np.linalg.norm(offset - previous[0]):.1f} m: {why}; the estimator's largest gap {gap:.3f} s")
        previous[0] = offset
        return why

    previous = [np.zeros(3)]
    feeder.start()
    try:
        # The director holds all along: no solve competes with the estimator for the interpreter, and the state
        # rules are checked before the director's HOLD, so a jump is what the status reports while it holds.
        hold.publish(Bool(data=True))
        shot.publish(convert.shot_msg(preset("follow_medium")))
        assert node.safety.limits.max_state_jump_m == 2.0  # config/nodes.yaml

        why = jump_to(JUMP_M)  # the shipped rule: a 3 m jump holds
        assert any(r.startswith(JUMP_REASONS) for r in why), why

        # invalid values: refused with the reason, nothing changes
        for bad in (-1.0, 0.0, math.nan):
            refused = _set(probe, {"node.max_state_jump_m": bad})
            assert not refused.successful and "max_state_jump_m" in refused.reason, (bad, refused.reason)
        refused = _set(probe, {"node.state_jump_settle_s": 0.0})
        assert not refused.successful and "state_jump_settle_s" in refused.reason
        refused = _set(probe, {"node.hold_brake_s": -0.5})
        assert not refused.successful and "hold_brake_s" in refused.reason
        assert node.safety.limits.max_state_jump_m == 2.0
        # the floor braking margin is a runtime limit as well (config/nodes.yaml 0.5 s)
        assert node.safety.limits.hold_brake_s == 0.5
        assert _set(probe, {"node.hold_brake_s": 0.8}).successful
        assert wait_until(lambda: node.safety.limits.hold_brake_s == 0.8, 5.0, "hold_brake_s to reach the core")
        assert _set(probe, {"node.hold_brake_s": 0.5}).successful

        # set over rclpy: 5 m -- the same 3 m jump back is no jump from the next step
        accepted = _set(probe, {"node.max_state_jump_m": 5.0})
        assert accepted.successful, accepted.reason
        assert node.safety.limits.max_state_jump_m == 5.0
        why = jump_to(np.zeros(3))
        # no jump and no settling: the state is taken (a "director HOLD" status); a stale-state status is allowed:
        # what a process starved by the machine's load sees, not the jump rule
        assert not any(r.startswith(JUMP_REASONS) for r in why), \
            f"max_state_jump_m 5 m must not hold on a 3 m jump: {why}"
        assert "director HOLD" in why, why

        # and back to 2 m: the next 3 m jump holds again
        accepted = _set(probe, {"node.max_state_jump_m": 2.0})
        assert accepted.successful, accepted.reason
        why = jump_to(JUMP_M)
        assert any(r.startswith(JUMP_REASONS) for r in why), why
    finally:
        feeding.clear()
        feeder.join(timeout=2.0)
