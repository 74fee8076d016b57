"""``mavlink_bridge_node``: the MPC's setpoints to a PX4/ArduPilot vehicle, its telemetry back to the graph.

A thin adapter over ``cinempc.mavlink`` (``MavlinkBridge`` + ``MavlinkRigLink``): the ENU/NED
conversion, geofence gate, link-loss failsafe, signing, gimbal and camera protocols all live
there.  This node

* streams ``rig/setpoint`` through the rig link (a hold setpoint carries its reason);
* publishes the vehicle's telemetry as the same rig topics the simulator publishes
  (odometry, acceleration, camera joints, camera pose, TF), so the MPC cannot tell them apart;
  nothing is published while the link is down (the MPC must not plan from stale telemetry);
* holds when the MPC's setpoints stop for ``setpoint_timeout_s`` (a setpoint is as old as its header
  stamp says: one delivered late, replayed or stamped ahead of this node's clock holds too) or the
  director asks for HOLD, keeping the gimbal where it is -- the safety core's decision
  (``cinempc.safety``), latched where the hold began, as in every other loop;
* with the site's rally point (``node.rally_*``, given to this node as to the MPC node by
  ``cinempc.site.site_node_parameters``) the same core escalates a hold of stopped MPC setpoints (the MPC node
  died or hangs) after ``rally_after_s``, as the MPC node's core escalates its own chain's failures: the vehicle
  flies to the rally point and holds there until the director's HOLD, then RESUME (docs/safety.md);
* republishes every safety/link event on ``mavlink/events`` (``DirectorEvent``) for the director page;
* arms, switches to OFFBOARD/GUIDED, takes off, lands or holds ONLY when an operator calls
  the matching service (``mavlink/arm``, ``mavlink/start_offboard``, ``mavlink/takeoff``,
  ``mavlink/land``, ``mavlink/hold``) -- never by itself.

It spins a single-threaded executor.  The operator commands block for their COMMAND_ACKs (and
offboard pre-streams 0.6 s), so they run one at a time on their own thread and the service
answers when they finish, while setpoints and telemetry keep flowing.  rclpy's multi-threaded
executor did the same job but spun the GIL hot enough to delay the bridge's 30 Hz setpoint
thread by up to 0.8 s (p99 0.3 s), long enough for an autopilot to drop out of offboard.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import AccelStamped, PoseStamped
from nav_msgs.msg import Odometry
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.lifecycle import LifecycleState, TransitionCallbackReturn
from rclpy.task import Future
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool
from std_srvs.srv import SetBool, Trigger
from trajectory_msgs.msg import JointTrajectory

from cinempc.config import VehicleConfig, load_camera_profile, load_parameters
from cinempc.graph import Topics
from cinempc.nodes import convert
from cinempc.nodes.base import CONTROL_QOS, LATCHED_QOS, CineLifecycleNode, guarded, nested_parameters, run
from cinempc.nodes.frames import TfBroadcaster
from cinempc.safety import Cause, Decision, SafetyCore, SafetyInputs, SafetyLimits, SetpointResult
from cinempc.state import Setpoint

MAVLINK_SECTIONS = ("connection", "stream", "safety", "signing", "px4", "ardupilot", "sim_autopilot")
VEHICLE_SECTIONS = ("vehicle", "gimbal", "airspace", "camera_profile")


class MavlinkBridgeNode(CineLifecycleNode):
    """MAVLink adapter (lifecycle: configure reads the key and settings, activate opens the link)."""

    def __init__(self, **kwargs) -> None:
        super().__init__("mavlink_bridge_node", **kwargs)
        self.bridge = None
        self.link = None
        self._lock = threading.Lock()
        self._setpoint: Setpoint | None = None
        self._setpoint_time_s = -math.inf
        self._setpoint_stamp_s: float | None = None  # its header stamp, on this node's clock
        self._director_hold = False
        self._sent: Setpoint | None = None
        self.safety: SafetyCore | None = None
        self._timers: list = []
        self._operator = ThreadPoolExecutor(max_workers=1, thread_name_prefix="operator")  # one command at a time

    # ----------------------------------------------------------------- lifecycle
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        from cinempc.mavlink.bridge import MavlinkBridge
        from cinempc.mavlink.rig_link import MavlinkRigLink
        from cinempc.mavlink.signing import SigningKeyError, load_signing_key

        self.begin_configure()
        self.p = self.node_params()
        try:
            everything = nested_parameters(self)
            params = {k: everything[k] for k in MAVLINK_SECTIONS if k in everything}
            vehicle = VehicleConfig(**{k: everything[k] for k in VEHICLE_SECTIONS})
            camera = load_camera_profile(vehicle.camera_profile)
            url = str(self.p.get("url") or params["connection"]["url"])
            key_file = str(params.get("signing", {}).get("key_file") or "")
            key = load_signing_key(key_file) if key_file else None
            MavlinkBridge(url, camera, vehicle, params, signing_key=key)  # validates the settings; opens nothing
        except (KeyError, ValueError, SigningKeyError, OSError) as exc:
            self.get_logger().error(f"cannot configure the MAVLink bridge: {exc}")
            self.release_configured()
            return TransitionCallbackReturn.FAILURE
        try:
            limits = bridge_limits(self.p)
        except (KeyError, TypeError, ValueError) as exc:
            self.get_logger().error(f"cannot configure the MAVLink bridge's safety limits: {exc}")
            self.release_configured()
            return TransitionCallbackReturn.FAILURE
        self.safety = SafetyCore(vehicle.airspace, limits)
        self._make_bridge = lambda: MavlinkBridge(url, camera, vehicle, params, signing_key=key)
        self._rig_link = MavlinkRigLink
        self.url = url
        self.pub_odom = self.create_lifecycle_publisher(Odometry, Topics.ODOMETRY, CONTROL_QOS)
        self.pub_accel = self.create_lifecycle_publisher(AccelStamped, Topics.ACCEL, CONTROL_QOS)
        self.pub_joints = self.create_lifecycle_publisher(JointState, Topics.CAMERA_STATE, CONTROL_QOS)
        self.pub_pose = self.create_lifecycle_publisher(PoseStamped, Topics.CAMERA_POSE, CONTROL_QOS)
        self.pub_diagnostics = self.create_lifecycle_publisher(DiagnosticArray, Topics.DIAGNOSTICS, CONTROL_QOS)
        # events go out on a plain publisher: a failsafe must reach the director in any lifecycle state
        self.pub_events = self.create_publisher(convert.ci.DirectorEvent, Topics.LINK_EVENTS, CONTROL_QOS)
        self.tf = TfBroadcaster(self)
        self.create_subscription(JointTrajectory, Topics.SETPOINT, self.on_setpoint, CONTROL_QOS)
        self.create_subscription(Bool, Topics.HOLD, self.on_director_hold, LATCHED_QOS)
        # an awaiting service keeps its callback group busy: not the default one, which the setpoint
        # subscription and the telemetry timer share
        operator = MutuallyExclusiveCallbackGroup()
        self.create_service(SetBool, "mavlink/arm", self.on_arm, callback_group=operator)
        self.create_service(Trigger, "mavlink/start_offboard", self.on_start_offboard, callback_group=operator)
        self.create_service(Trigger, "mavlink/takeoff", self.on_takeoff, callback_group=operator)
        self.create_service(Trigger, "mavlink/land", self.on_land, callback_group=operator)
        self.create_service(Trigger, "mavlink/hold", self.on_hold, callback_group=operator)
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        bridge = self._make_bridge()  # a fresh one per attempt: a failed start closes its bridge
        bridge.events.subscribe(self._on_event)
        try:
            autopilot = bridge.start(wait_heartbeat_s=float(self.p["heartbeat_wait_s"]))
        except (TimeoutError, OSError) as exc:
            self.get_logger().error(f"no vehicle on {self.url}: {exc}")
            return TransitionCallbackReturn.FAILURE
        self.bridge, self.link = bridge, self._rig_link(bridge)
        self.get_logger().info(f"connected to {autopilot.value} on {self.url}")
        result = super().on_activate(state)
        self._timers = [
            self.create_timer(1.0 / float(self.p["state_rate_hz"]), self.publish_state),
            self.create_timer(1.0 / float(self.p["diagnostics_rate_hz"]), self.publish_diagnostics),
        ]
        return result

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        for timer in self._timers:
            self.destroy_timer(timer)
        self._timers = []
        self.close()
        self.bridge = self.link = None
        return super().on_deactivate(state)

    def forget_configuration(self) -> None:
        self._timers = []  # destroyed with everything configure and activate created
        self.close()
        self.bridge = self.link = self.safety = None
        with self._lock:
            self._setpoint, self._setpoint_time_s, self._setpoint_stamp_s = None, -math.inf, None
            self._director_hold, self._sent = False, None

    def close(self) -> None:
        if self.bridge is not None:
            self.bridge.close()  # the vehicle's own offboard-loss failsafe takes over

    def destroy_node(self) -> None:
        self._operator.shutdown(wait=False, cancel_futures=True)  # not in close(): a reactivated node needs it
        super().destroy_node()

    # ----------------------------------------------------------------- setpoints
    def _now_s(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    @guarded(Topics.SETPOINT)
    def on_setpoint(self, msg: JointTrajectory) -> None:
        setpoint = convert.setpoint_from_msg(msg)
        stamp_s = convert.stamp_to_s(msg.header.stamp)  # the MPC node's clock: this node's time base
        with self._lock:
            self._setpoint, self._setpoint_time_s, self._setpoint_stamp_s = setpoint, self._now_s(), stamp_s
        self._decide()

    @guarded(Topics.HOLD)
    def on_director_hold(self, msg: Bool) -> None:
        with self._lock:
            self._director_hold = bool(msg.data)
        self._decide()

    def _decide(self) -> Decision | None:
        """Ask the safety core what to stream now and hand it to the link (only when it changed)."""
        bridge, link, safety = self.bridge, self.link, self.safety
        if bridge is None or link is None or safety is None:
            return None  # not connected (inactive): nothing to stream to
        now = self._now_s()
        state = bridge.rig_state() if bridge.link_ok else None
        with self._lock:
            received = self._setpoint
            was_rallying = safety.rallying
            decision = safety.step(SafetyInputs(
                now_s=now, state=state, state_time_s=now, director_hold=self._director_hold,
                link_ok=bridge.link_ok,
                result=SetpointResult.of(received) if received is not None else None,
                result_time_s=self._setpoint_time_s, result_stamp_s=self._setpoint_stamp_s))
            if decision.setpoint is None or decision.setpoint is self._sent:
                return decision
            self._sent = decision.setpoint
        if safety.rallying and not was_rallying:  # the director's page shows why the vehicle moves on its own
            bridge.events.record("rally", f"bridge: {decision.reason}", "warning")
        if decision.cause is Cause.RALLY and not decision.setpoint.hold:
            self.get_logger().warning(f"rally: {decision.reason}", throttle_duration_sec=1.0)
            link.send_setpoint(decision.setpoint)  # the flight to the rally point, with its feed-forward
        elif decision.holding:
            why = _HOLD_REASONS.get(decision.cause, decision.reason)
            self.get_logger().warning(f"holding: {why} ({decision.reason})", throttle_duration_sec=1.0)
            link.send_setpoint(decision.setpoint, "hold", why)
        else:
            link.send_setpoint(decision.setpoint)
        return decision

    # ----------------------------------------------------------------- telemetry
    def publish_state(self) -> None:
        now = self._now_s()
        if math.isfinite(self._setpoint_time_s) or self._director_hold:  # before the MPC speaks, the operator's hold
            self._decide()
        state = self.link.rig_state()
        if state is None:
            return
        self.pub_odom.publish(convert.odometry_msg(state, now))
        self.pub_accel.publish(convert.accel_msg(state, now))
        self.pub_joints.publish(convert.camera_state_msg(state, now))
        self.pub_pose.publish(convert.camera_pose_msg(state, now))
        self.tf.send(state, now)

    def _on_event(self, event) -> None:
        if not self.context.ok():  # events recorded while shutting down have nobody to go to
            return
        self.pub_events.publish(convert.event_msg(event.kind, event.reason, event.severity, event.time_s))

    def publish_diagnostics(self) -> None:
        bridge = self.bridge
        ok = bridge.link_ok
        values = {"autopilot": bridge.autopilot.value if bridge.autopilot else "none", "mode": bridge.mode,
                  "armed": bridge.armed, "streaming": bridge.streaming, "link_ok": ok,
                  "operator_resume_required": self.link.operator_resume_required,
                  "rejected_messages": bridge.rejected_messages}
        status = DiagnosticStatus(
            level=DiagnosticStatus.OK if ok else DiagnosticStatus.ERROR,
            name=f"{self.get_fully_qualified_name()}: MAVLink link", hardware_id=self.url,
            message="link ok" if ok else "link lost: vehicle commanded to hold",
            values=[KeyValue(key=k, value=str(v)) for k, v in values.items()],
        )
        self.pub_diagnostics.publish(DiagnosticArray(header=convert.Header(stamp=self.get_clock().now().to_msg()),
                                                     status=[status]))

    # ----------------------------------------------------------------- operator commands (explicit only)
    def _on_operator_thread(self, action: Callable[[], object]) -> Future:
        """Run a blocking operator command off the executor; the Future wakes the executor when it is done."""
        future = Future(executor=self.executor)
        future.add_done_callback(lambda _: None)  # a done callback is scheduled as a task: that wakes the executor

        def finish(work) -> None:
            error = work.exception()
            if error is None:
                future.set_result(work.result())
            else:
                future.set_exception(error)

        self._operator.submit(action).add_done_callback(finish)
        return future

    async def _answer(self, response, action: Callable[[object], object]) -> object:
        bridge = self.bridge
        if bridge is None:
            response.success, response.message = False, "not connected to a vehicle (node inactive)"
            return response
        try:
            result = await self._on_operator_thread(lambda: action(bridge))
        except (RuntimeError, ValueError, TimeoutError, OSError) as exc:  # OSError: deactivated meanwhile
            response.success, response.message = False, str(exc)
            return response
        response.success = bool(getattr(result, "accepted", True))
        response.message = str(getattr(result, "result", result))
        return response

    async def on_arm(self, request: SetBool.Request, response: SetBool.Response) -> SetBool.Response:
        return await self._answer(response, lambda bridge: bridge.operator_arm(bool(request.data)))

    async def on_start_offboard(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        return await self._answer(response, lambda bridge: bridge.operator_start_offboard())

    async def on_takeoff(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        altitude_m = float(self.p["takeoff_altitude_m"])
        return await self._answer(response, lambda bridge: bridge.operator_takeoff(altitude_m))

    async def on_land(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        return await self._answer(response, lambda bridge: bridge.operator_land())

    async def on_hold(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        return await self._answer(response, lambda bridge: bridge.operator_hold())


def bridge_limits(node: dict[str, Any]) -> SafetyLimits:
    """The bridge's safety limits: the MPC node's (config/nodes.yaml, the one place), this node's
    ``setpoint_timeout_s`` as the plan timeout, and its own ``rally_*`` parameters (the site's rally point, none
    without them) -- read by the one parser, SafetyLimits.from_parameters."""
    mpc = load_parameters("nodes.yaml", "/**/mpc_node")["node"]
    own = {name: value for name, value in node.items() if name.startswith("rally_")}
    return SafetyLimits.from_parameters({**mpc, **own, "max_plan_age_s": float(node["setpoint_timeout_s"])})


# hold reasons as the director's event log shows them: one stable line per cause (the core's reasons carry ages)
_HOLD_REASONS = {Cause.STALE_PLAN: "MPC setpoints stopped or stale", Cause.CONTROLLER_HOLD: "MPC hold setpoint",
                 Cause.DIRECTOR_HOLD: "director HOLD", Cause.STALE_STATE: "no telemetry"}


def main(args: list[str] | None = None) -> int:
    return run(MavlinkBridgeNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
