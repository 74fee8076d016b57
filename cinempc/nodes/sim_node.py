"""``sim_node``: the PyBullet simulator as a ROS 2 camera drone.

Publishes what a real rig's drivers would (camera image + camera info that follows the
zoom, odometry, gimbal and lens joints, the camera pose, TF ``map -> odom -> base_link ->
gimbal -> camera_optical`` with every rig state) plus, on separate ``sim/...``
topics used only for evaluation, the ground truth.  It is the clock of the simulated
graph (``/clock``); every other node runs on ``use_sim_time``.  Setpoints arriving on
``rig/setpoint`` are executed by the simulator's own vehicle/gimbal/lens dynamics; with
no fresh setpoint for ``setpoint_timeout_s`` the rig holds where it is (what PX4 does when
offboard setpoints stop) -- the safety core's decision (``cinempc.safety``), latched where the
setpoints stopped and fenced like every other loop's.  A setpoint is as old as its header stamp
says (the MPC node stamps it on the graph's clock, which this node publishes), so one delivered
late or replayed holds too.  With ``start_paused`` the world stays
frozen (the clock runs, actors and drone stand still) until the first non-hold setpoint: a shot
starts when the controller is up, however long the MPC takes to load on a slow machine -- like
SITL waiting for its autopilot.
With ``lockstep`` the world also waits, at most ``lockstep_timeout_s``, for each replanning
(``mpc/plan``) -- what the closed-loop runner does -- so shot quality does not depend on how
busy the machine is; off by default, as a real flight never waits.

Why a node-driven loop with ``real_time_factor``: on a loaded 2-core CI machine a graph
that insists on wall-clock real time misses deadlines nondeterministically; slowing the
simulated world keeps the control problem identical and the test meaningful.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from nav_msgs.msg import Path
from rclpy.clock import Clock, ClockType
from rclpy.lifecycle import LifecycleState, TransitionCallbackReturn
from rosgraph_msgs.msg import Clock as ClockMsg
from sensor_msgs.msg import CameraInfo, Image, JointState
from trajectory_msgs.msg import JointTrajectory

from cinempc.graph import Topics
from cinempc.nodes import convert
from cinempc.nodes.base import (
    CONTROL_QOS,
    LATCHED_QOS,
    SENSOR_QOS,
    CineLifecycleNode,
    guarded,
    nested_parameters,
    run,
)
from cinempc.nodes.frames import TfBroadcaster
from cinempc.safety import Cause, SafetyCore, SafetyInputs, SafetyLimits, SetpointResult
from cinempc.state import Setpoint

NOT_SIM_PARAMETERS = ("node", "autostart", "use_sim_time", "start_type_description_service")


class SimNode(CineLifecycleNode):
    """Simulator adapter (lifecycle: configure loads the scenario, activate starts the clock)."""

    def __init__(self, **kwargs) -> None:
        super().__init__("sim_node", **kwargs)
        self.sim = None
        self.camera = None
        self._timer = None
        self._setpoint: Setpoint | None = None
        self._setpoint_time_s = -1e9
        self._setpoint_stamp_s: float | None = None  # its header stamp, on this node's clock (the graph's)
        self.safety: SafetyCore | None = None
        self._holding = self._stopped = False
        self._next: dict[str, float] = {}
        self.wall_start_s = 0.0
        self._paused_s = 0.0  # ROS time spent with the world frozen, waiting for the controller
        self._paused = False
        self._plan_stamp_s: float | None = None
        self._blocked_since: float | None = None

    # ----------------------------------------------------------------- lifecycle
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        from cinempc_sim.scenario import load_scenario
        from cinempc_sim.simulator import Simulator

        self.begin_configure()
        p = self.node_params()
        self.p = p
        try:
            scenario = load_scenario(p["scenario"])
            size = (int(p["image_width_px"]), int(p["image_height_px"]))
            # the physics/vehicle/renderer numbers come from this node's parameters (config/sim.yaml)
            sim_params = {k: v for k, v in nested_parameters(self).items() if k not in NOT_SIM_PARAMETERS}
            self.sim = Simulator(scenario, seed=int(p["seed"]), render=bool(p["render"]), image_size=size,
                                 params=sim_params)
        except (ValueError, KeyError, FileNotFoundError) as exc:
            self.get_logger().error(f"cannot start scenario {p.get('scenario')!r}: {exc}")
            self.release_configured()
            return TransitionCallbackReturn.FAILURE
        self.camera = self.sim.render_profile
        self.dt_s = 1.0 / float(p["step_rate_hz"])
        self.safety = SafetyCore(self.sim.vehicle_config.airspace, replace(
            SafetyLimits.from_config(), plan_timeout_s=float(p["setpoint_timeout_s"])))
        self.pub_image = self.create_lifecycle_publisher(Image, Topics.IMAGE, SENSOR_QOS)
        self.pub_depth = self.create_lifecycle_publisher(Image, Topics.DEPTH, SENSOR_QOS)
        self.pub_info = self.create_lifecycle_publisher(CameraInfo, Topics.CAMERA_INFO, CONTROL_QOS)
        self.pub_odom = self.create_lifecycle_publisher(convert.Odometry, Topics.ODOMETRY, CONTROL_QOS)
        self.pub_accel = self.create_lifecycle_publisher(convert.AccelStamped, Topics.ACCEL, CONTROL_QOS)
        self.pub_joints = self.create_lifecycle_publisher(JointState, Topics.CAMERA_STATE, CONTROL_QOS)
        self.pub_pose = self.create_lifecycle_publisher(convert.PoseStamped, Topics.CAMERA_POSE, CONTROL_QOS)
        self.pub_truth = self.create_lifecycle_publisher(convert.ci.GroundTruth, Topics.GROUND_TRUTH, CONTROL_QOS)
        self.pub_truth_subjects = self.create_lifecycle_publisher(convert.ci.SubjectTrackArray,
                                                                  Topics.GROUND_TRUTH_SUBJECTS, CONTROL_QOS)
        self.pub_obstacles = self.create_lifecycle_publisher(convert.ci.ObstacleArray, Topics.OBSTACLES, LATCHED_QOS)
        self.pub_default_shot = self.create_lifecycle_publisher(convert.ci.ShotSpec, Topics.DEFAULT_SHOT,
                                                                LATCHED_QOS)
        self.tf = TfBroadcaster(self)
        self.pub_clock = self.create_lifecycle_publisher(ClockMsg, Topics.CLOCK, CONTROL_QOS)
        self.create_subscription(JointTrajectory, Topics.SETPOINT, self.on_setpoint, CONTROL_QOS)
        if p["lockstep"]:
            self.create_subscription(Path, Topics.PLAN_PATH, self.on_plan, CONTROL_QOS)
        self.get_logger().info(f"scenario {scenario.name!r} ({scenario.duration_s} s), camera {self.camera.name}")
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        result = super().on_activate(state)
        self._publish_world()
        default_shot = self.sim.scenario.shot() if callable(getattr(self.sim.scenario, "shot", None)) else None
        if default_shot is not None:
            self.pub_default_shot.publish(convert.shot_msg(default_shot))
        period_s = self.dt_s / max(float(self.p["real_time_factor"]), 1e-3)
        self._timer = self.create_timer(period_s, self.step, clock=Clock(clock_type=ClockType.STEADY_TIME))
        self.wall_start_s = time.monotonic()
        self._paused = bool(self.p["start_paused"])
        self._publish_clock()
        return result

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        if self._timer is not None:
            self.destroy_timer(self._timer)
            self._timer = None
        return super().on_deactivate(state)

    def forget_configuration(self) -> None:
        self._timer = None  # destroyed with everything configure and activate created
        self.close()
        self.sim = self.safety = None
        self._setpoint, self._setpoint_time_s, self._setpoint_stamp_s, self._holding = None, -1e9, None, False
        self._next, self._paused_s, self._paused, self._plan_stamp_s, self._blocked_since = {}, 0.0, False, None, None

    def close(self) -> None:
        close = getattr(self.sim, "close", None)
        if close is not None:
            close()

    # ----------------------------------------------------------------- inputs
    @guarded(Topics.SETPOINT)
    def on_setpoint(self, msg: JointTrajectory) -> None:
        setpoint = convert.setpoint_from_msg(msg)
        self._setpoint = setpoint
        self._setpoint_time_s = self.now_s
        self._setpoint_stamp_s = convert.stamp_to_s(msg.header.stamp)  # the graph's clock, as this node's
        if self._paused and not setpoint.hold:
            self._paused = False
            self.get_logger().info(f"controller is flying the shot: the world starts (after {self._paused_s:.1f} s)")

    # ----------------------------------------------------------------- the loop
    def _command(self) -> Setpoint:
        """The safety core's setpoint: the latest received one while fresh, else a hold latched where they stopped."""
        now, state = self.now_s, self.sim.rig_state()
        decision = self.safety.step(SafetyInputs(
            now_s=now, state=state, state_time_s=now,
            result=SetpointResult.of(self._setpoint) if self._setpoint is not None else None,
            result_time_s=self._setpoint_time_s, result_stamp_s=self._setpoint_stamp_s))
        stopped = decision.cause is Cause.STALE_PLAN and self._setpoint is not None
        if stopped and not self._stopped:
            self.get_logger().warning(f"no fresh setpoint: holding position ({decision.reason})")
        self._holding, self._stopped = decision.holding, stopped
        return decision.setpoint if decision.setpoint is not None else Setpoint.hold_at(state)

    def _due(self, what: str, rate_hz: float) -> bool:
        now = self.now_s
        if now + 1e-9 >= self._next.get(what, 0.0):
            self._next[what] = self._next.get(what, 0.0) + 1.0 / rate_hz
            if self._next[what] < now:  # fell behind (e.g. a long render): don't burst
                self._next[what] = now + 1.0 / rate_hz
            return True
        return False

    @property
    def now_s(self) -> float:
        """ROS time of the graph: scenario time plus the time the world stood frozen at the start."""
        return self._paused_s + self.sim.time_s

    def _waiting_for_plan(self) -> bool:
        """Lockstep: hold the world at one replanning period past the newest plan (bounded by a wall timeout).

        Only while plans are flowing: if none comes within ``lockstep_timeout_s`` (the planner holds,
        perception is down) the world runs free until the next plan, so a silent planner can never
        freeze the graph.
        """
        if not self.p["lockstep"] or self._plan_stamp_s is None:
            return False
        if self.now_s + 1e-9 < self._plan_stamp_s + float(self.p["lockstep_period_s"]):
            self._blocked_since = None
            return False
        if self._blocked_since is None:
            self._blocked_since = time.monotonic()
        return time.monotonic() - self._blocked_since < float(self.p["lockstep_timeout_s"])

    def on_plan(self, msg: Path) -> None:
        self._plan_stamp_s = convert.stamp_to_s(msg.header.stamp)

    def step(self) -> None:
        if self._waiting_for_plan():
            return
        if self._paused:  # time runs (so the other nodes' timers do), the world does not
            self._paused_s += self.dt_s
        else:
            self.sim.step(self._command(), self.dt_s)
        self._publish_clock()
        now = self.now_s
        state = self.sim.rig_state()
        if self._due("state", float(self.p["state_rate_hz"])):
            self.pub_odom.publish(convert.odometry_msg(state, now))
            self.pub_accel.publish(convert.accel_msg(state, now))
            self.pub_joints.publish(convert.camera_state_msg(state, now))
            self.pub_pose.publish(convert.camera_pose_msg(state, now))
            self.tf.send(state, now)
        if self._due("truth", float(self.p["ground_truth_rate_hz"])):
            self._publish_ground_truth(state, now)
        if self._due("world", float(self.p["world_rate_hz"])):
            self._publish_world()
        if self.p["render"] and self._due("camera", float(self.p["camera_rate_hz"])):
            frame = self.sim.render()
            stamp_s = now
            # camera_info goes out with every frame (as camera drivers do), so a zoom change reaches
            # perception in the very frame whose intrinsics it changed.
            if self.p["publish_depth"]:  # depth first: perception pairs it with the image of the same stamp
                self.pub_depth.publish(convert.depth_msg(frame.depth_m, stamp_s))
            self.pub_info.publish(convert.camera_info_msg(self.camera, frame.focal_length_mm, stamp_s))
            self.pub_image.publish(convert.image_msg(frame.rgb, stamp_s))

    def _publish_world(self) -> None:
        """Obstacles and the backdrop distance along the camera heading: what a mapping stack would provide."""
        self.pub_obstacles.publish(convert.obstacles_msg(self.sim.obstacles(), self.sim.background_distance_m,
                                                         self.now_s))

    def _publish_clock(self) -> None:
        self.pub_clock.publish(ClockMsg(clock=convert.s_to_stamp(self.now_s)))

    def _publish_ground_truth(self, state, now: float) -> None:
        horizon = int(self.p["ground_truth_horizon_steps"])
        subjects = self.sim.subjects(horizon, float(self.p["ground_truth_dt_s"]))
        self.pub_truth_subjects.publish(convert.subjects_msg(subjects, now))
        document: dict[str, Any] = {
            "scenario_time_s": self.sim.time_s,
            "paused": self._paused,
            "wall_time_s": time.monotonic() - self.wall_start_s,
            "collisions": int(self.sim.collisions),
            "background_distance_m": self.sim.background_distance_m,
            "camera_profile": self.camera.name,
            "image_size_px": [self.camera.image_width_px, self.camera.image_height_px],
            "holding": self._holding,
        }
        self.pub_truth.publish(convert.ground_truth_msg(document, state, subjects, now))


def main(args: list[str] | None = None) -> int:
    return run(SimNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
