"""The safety core through the ROS nodes: real rclpy over DDS, real CineMPC, real PyBullet, real MAVLink over UDP.

* the same fault -- a controller answer far outside the geofence, with the rig standing at the scenario's
  start -- fed through each of the four paths (MPC node, closed loop, sim node, MAVLink bridge) ends in the
  same safe setpoint, the one :func:`cinempc.safety.fence` gives;
* ``ros2 param set`` on the MPC node: an invalid value, a structural change and a rate are refused with a
  reason; a narrowed geofence applies to the next setpoint (it used to report success and be ignored);
  a new timeout reaches the safety core;
* every lifecycle node can be cycled configure -> activate -> deactivate -> cleanup -> configure -> activate
  with no duplicate subscription, publisher or timer.

Fault injection: a controller that answers (500, -500, 90) m -- the real CineMPC never plans outside its hard
fence, so a fake stands in for it (and only for it).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np
import pytest
from ros_params import node_overrides
from waiting import spinning, wait_until

from cinempc.config import load_parameters, load_vehicle_config
from cinempc.plan import Plan
from cinempc.safety import fence
from cinempc.state import Setpoint

pytestmark = [pytest.mark.ros]

AIRSPACE = load_vehicle_config().airspace


@dataclass
class _Answer:
    setpoint: Setpoint
    status: str = "optimal"
    plan: Plan | None = None
    message: str = ""
    solve_ms: float = 1.0


class _Runaway:
    """Fault injection: a controller whose every answer is far outside the geofence, flying outward."""

    horizon_steps, dt_s = 5, 0.1

    def reset(self) -> None:
        pass

    def set_params(self, *args, **kwargs) -> None:
        pass

    def solve(self, state, *args, **kwargs) -> _Answer:
        return _Answer(runaway(state))


def runaway(state) -> Setpoint:
    return Setpoint(position_m=[500.0, -500.0, 90.0], velocity_mps=[8.0, -8.0, 3.0], acceleration_mps2=[2.0, -2.0, 1.0],
                    yaw_rad=state.yaw_rad, yaw_rate_rad_s=0.0, pitch_rad=state.pitch_rad,
                    focal_length_mm=state.focal_length_mm, focus_distance_m=state.focus_distance_m,
                    f_number=state.f_number)


@pytest.fixture(scope="module")
def ros(ros_domain_env):
    import rclpy
    from rclpy.executors import MultiThreadedExecutor

    os.environ.update({k: ros_domain_env[k] for k in ("ROS_DOMAIN_ID", "RMW_IMPLEMENTATION",
                                                      "ROS_AUTOMATIC_DISCOVERY_RANGE")})
    context = rclpy.Context()
    rclpy.init(context=context)
    executor = MultiThreadedExecutor(num_threads=4, context=context)
    probe = rclpy.create_node("safety_probe", context=context)
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
            yield context, probe, add
    finally:
        for node in nodes:
            close = getattr(node, "close", None)
            if close is not None:
                close()
            node.destroy_node()
        probe.destroy_node()
        rclpy.shutdown(context=context)


def _entity_counts(node) -> tuple[int, int, int, int]:
    return (len(list(node.subscriptions)), len(list(node.publishers)), len(list(node.timers)),
            len(list(node.services)))


def _cycle(node) -> None:
    """configure -> activate -> deactivate -> cleanup -> configure -> activate, counting entities; no duplicates."""
    from rclpy.lifecycle import TransitionCallbackReturn as R

    assert node.trigger_configure() == R.SUCCESS
    assert node.trigger_activate() == R.SUCCESS
    first = _entity_counts(node)
    assert node.trigger_deactivate() == R.SUCCESS
    assert node.trigger_cleanup() == R.SUCCESS
    idle = _entity_counts(node)
    assert idle[0] == 0 and idle[2] == 0, f"cleanup left subscriptions/timers: {idle}"
    assert node.trigger_configure() == R.SUCCESS
    assert node.trigger_activate() == R.SUCCESS
    assert _entity_counts(node) == first, (first, _entity_counts(node))


def _endpoints(probe, node_name: str, topic: str, subscriptions: bool) -> int:
    """How many subscriptions (publishers) the named node has on ``topic``, as the ROS graph sees them."""
    query = probe.get_subscriptions_info_by_topic if subscriptions else probe.get_publishers_info_by_topic
    return sum(1 for info in query(topic) if info.node_name == node_name)


def _set(probe, node_name: str, values: dict):
    from rcl_interfaces.srv import SetParameters
    from rclpy.parameter import Parameter

    client = probe.create_client(SetParameters, f"/{node_name}/set_parameters")
    assert client.wait_for_service(timeout_sec=10.0)
    future = client.call_async(SetParameters.Request(
        parameters=[Parameter(k, value=v).to_parameter_msg() for k, v in values.items()]))
    wait_until(future.done, 10.0, f"{node_name}/set_parameters to answer")
    probe.destroy_client(client)
    return future.result().results[0]


def _start_state():
    from cinempc_sim.simulator import Simulator

    with Simulator("single_walker", render=False) as sim:
        return sim.rig_state()


def test_mpc_node_cycles_refuses_bad_parameters_applies_a_narrowed_fence_and_fences_a_runaway(ros):
    from std_msgs.msg import Bool
    from trajectory_msgs.msg import JointTrajectory

    from cinempc.nodes import convert
    from cinempc.nodes.base import CONTROL_QOS, LATCHED_QOS
    from cinempc.nodes.mpc_node import MPCNode
    from cinempc.shot import preset
    from cinempc.state import SubjectTrack

    context, probe, add = ros
    node = add(MPCNode, "mpc_node", ("vehicle.yaml", "mpc.yaml"))
    _cycle(node)
    wait_until(lambda: _endpoints(probe, "mpc_node", "/rig/odometry", True), 10.0, "the MPC node in the graph")
    assert _endpoints(probe, "mpc_node", "/rig/odometry", True) == 1
    assert _endpoints(probe, "mpc_node", "/director/hold", True) == 1
    assert _endpoints(probe, "mpc_node", "/rig/setpoint", False) == 1

    state = _start_state()
    setpoints: list[Setpoint] = []
    probe.create_subscription(JointTrajectory, "rig/setpoint", lambda m: setpoints.append(
        convert.setpoint_from_msg(m)), CONTROL_QOS)
    odometry = probe.create_publisher(convert.Odometry, "rig/odometry", CONTROL_QOS)
    joints = probe.create_publisher(convert.JointState, "rig/camera_state", CONTROL_QOS)
    subjects = probe.create_publisher(convert.ci.SubjectTrackArray, "subjects", CONTROL_QOS)
    shot = probe.create_publisher(convert.ci.ShotSpec, "director/shot", LATCHED_QOS)
    hold = probe.create_publisher(Bool, "director/hold", LATCHED_QOS)
    walker = SubjectTrack(track_id=1, positions_m=np.tile(state.position_m + [8.0, 0.0, -state.position_m[2]], (30, 1)),
                          velocities_mps=np.zeros((30, 3)), name="alice")

    def feed() -> None:
        now = node.get_clock().now().nanoseconds * 1e-9
        odometry.publish(convert.odometry_msg(state, now))
        joints.publish(convert.camera_state_msg(state, now))
        subjects.publish(convert.subjects_msg([walker], now))

    hold.publish(Bool(data=True))
    shot.publish(convert.shot_msg(preset("follow_medium")))

    def latest(predicate):
        def check():
            feed()
            return bool(setpoints) and predicate(setpoints[-1]) and setpoints[-1]
        return check

    # director HOLD: held where the rig is
    held = wait_until(latest(lambda s: s.hold), 20.0, "a hold setpoint")
    np.testing.assert_allclose(held.position_m, state.position_m, atol=1e-6)

    # parameters: refused with a reason, never accepted and ignored
    refused = _set(probe, "mpc_node", {"weights.focus_follow": -1.0})
    assert not refused.successful and "focus_follow" in refused.reason
    refused = _set(probe, "mpc_node", {"horizon.horizon_steps": 10})
    assert not refused.successful and "structure" in refused.reason
    refused = _set(probe, "mpc_node", {"node.setpoint_rate_hz": 5.0})
    assert not refused.successful and "setpoint_rate_hz" in refused.reason
    refused = _set(probe, "mpc_node", {"airspace.geofence_max_m": [-70.0, 60.0]})
    assert not refused.successful and "geofence" in refused.reason
    accepted = _set(probe, "mpc_node", {"node.subject_timeout_s": 2.5})
    assert accepted.successful and node.safety.limits.subject_timeout_s == 2.5
    # a geofence narrowed on site takes effect on the next setpoint: the hold is brought inside
    narrow_x = float(state.position_m[0]) - 2.0
    accepted = _set(probe, "mpc_node", {"airspace.geofence_max_m": [narrow_x, 60.0]})
    assert accepted.successful, accepted.reason
    inside = wait_until(latest(lambda s: s.position_m[0] <= narrow_x + 1e-9), 10.0, "a setpoint inside the new fence")
    assert inside.position_m[0] == pytest.approx(narrow_x)
    assert _set(probe, "mpc_node", {"airspace.geofence_max_m": list(AIRSPACE.geofence_max_m)}).successful

    # the fault: the controller answers far outside the fence
    node.mpc = _Runaway()
    hold.publish(Bool(data=False))
    expected, _ = fence(runaway(state), AIRSPACE, state.position_m)
    sent = wait_until(latest(lambda s: not s.hold), 20.0, "the MPC node's answer to the runaway controller")
    _assert_same(sent, expected)
    FAULT_PATHS["mpc_node"] = sent
    assert node.trigger_deactivate().value  # stop streaming: the sim node is next on the same graph


def test_sim_node_cycles_and_fences_a_runaway_setpoint(ros):
    from trajectory_msgs.msg import JointTrajectory

    from cinempc.nodes import convert
    from cinempc.nodes.base import CONTROL_QOS
    from cinempc.nodes.sim_node import SimNode

    context, probe, add = ros
    node = add(SimNode, "sim_node", ("sim.yaml",), **{"node.render": False})
    _cycle(node)
    state = node.sim.rig_state()  # frozen until the first flying setpoint
    decisions = []
    step = node.safety.step
    node.safety.step = lambda inputs: decisions.append(step(inputs)) or decisions[-1]  # record, change nothing
    publisher = probe.create_publisher(JointTrajectory, "rig/setpoint", CONTROL_QOS)
    wait_until(lambda: _endpoints(probe, "sim_node", "/rig/setpoint", True), 10.0, "the sim node in the graph")
    assert _endpoints(probe, "sim_node", "/rig/setpoint", True) == 1
    assert _endpoints(probe, "sim_node", "/rig/odometry", False) == 1
    wait_until(lambda: node.now_s > 0.0, 10.0, "the sim node's clock running")  # a stamp 0 is no stamp

    def fresh_decision():
        """Publish the runaway stamped now on the graph's clock (as the MPC does); the first decision that flies.

        Published at every poll: one delivered later than the setpoint timeout on a loaded machine is rightly
        held as stale, and the next one is fresh."""
        publisher.publish(convert.setpoint_msg(runaway(state), node.now_s))
        return next((d for d in decisions if not d.holding), None)

    first = wait_until(fresh_decision, 10.0, "the sim node's decision")
    expected, _ = fence(runaway(state), AIRSPACE, state.position_m)
    assert first.fenced
    _assert_same(first.setpoint, expected)
    FAULT_PATHS["sim_node"] = first.setpoint

    # the node hands the core the setpoint's header stamp: one 1 s old by its stamp (delivered late, replayed) is
    # held however fresh its arrival; one stamped ahead of the node's clock beyond the skew is held too
    timeout_s = load_parameters("nodes.yaml", "/**/sim_node")["node"]["setpoint_timeout_s"]
    wait_until(lambda: node.now_s > timeout_s + 1.0, 10.0, "the sim node's clock past the late stamp")
    for stamp_offset_s, words in ((-(timeout_s + 0.5), "old by its stamp"), (1.0, "ahead of its arrival")):
        seen = len(decisions)
        publisher.publish(convert.setpoint_msg(runaway(state), node.now_s + stamp_offset_s))
        held = wait_until(lambda w=words, n=seen: next((d for d in decisions[n:] if w in d.reason), None), 10.0,
                          f"the sim node holding a setpoint {words}")
        assert held.holding and held.setpoint.hold, held


def test_closed_loop_and_mavlink_bridge_fence_the_same_runaway_the_same_way():
    from cinempc.config import load_camera_profile
    from cinempc.mavlink.bridge import MavlinkBridge
    from cinempc.shot import preset
    from cinempc_sim.autopilot import SimAutopilot
    from cinempc_sim.closed_loop import ClosedLoop, LoopSettings
    from cinempc_sim.simulator import Simulator

    state = _start_state()
    expected, _ = fence(runaway(state), AIRSPACE, state.position_m)
    with Simulator("single_walker", render=False) as sim:
        camera = load_camera_profile(sim.scenario.camera_profile)
        loop = ClosedLoop(sim, _Runaway(), preset("follow_medium"), camera, sim.vehicle_config,
                          settings=LoopSettings(control_rate_hz=10.0, render_rate_hz=0.0), render=False)
        event = loop.run(0.1).events[0]
    assert event.fenced and event.status == "optimal"
    _assert_same(event.setpoint, expected)
    FAULT_PATHS["closed_loop"] = event.setpoint

    params = load_parameters("mavlink.yaml")
    with Simulator("single_walker", render=False) as sim:
        autopilot = SimAutopilot(sim, "px4", params=params).start()
        bridge = MavlinkBridge(autopilot.url, sim.camera_profile, sim.vehicle_config, params=params)
        try:
            bridge.start()
            wait_until(lambda: bridge.rig_state() is not None, 10.0, "telemetry over UDP")
            sent = bridge.set_setpoint(runaway(state))
        finally:
            bridge.close()
            autopilot.close()
    _assert_same(sent, expected, atol=1e-3)  # LOCAL_POSITION_NED carries float32
    FAULT_PATHS["mavlink_bridge"] = sent


def test_the_four_paths_end_in_the_same_safe_setpoint():
    if len(FAULT_PATHS) < 4:
        pytest.fail(f"only {sorted(FAULT_PATHS)} of the four paths ran (run the whole module)")
    reference = FAULT_PATHS["closed_loop"]
    for name, setpoint in FAULT_PATHS.items():
        _assert_same(setpoint, reference, atol=1e-3)
        assert AIRSPACE.contains(setpoint.position_m), name


FAULT_PATHS: dict[str, Setpoint] = {}


def _assert_same(actual: Setpoint, expected: Setpoint, atol: float = 1e-6) -> None:
    np.testing.assert_allclose(actual.position_m, expected.position_m, atol=atol)
    np.testing.assert_allclose(actual.velocity_mps, expected.velocity_mps, atol=atol)
    np.testing.assert_allclose(actual.acceleration_mps2, expected.acceleration_mps2, atol=atol)
    assert math.isclose(actual.yaw_rad, expected.yaw_rad, abs_tol=atol)
