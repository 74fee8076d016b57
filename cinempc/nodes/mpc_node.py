"""``mpc_node``: subjects + rig state + shot -> drone/gimbal/lens setpoints at >= 20 Hz.

Two loops, as a flight controller would run them: a *replanning* loop that solves the
CineMPC (``cinempc.mpc``) as often as ``replan_rate_hz`` allows, and a *setpoint* loop that
streams, at ``setpoint_rate_hz``, the latest plan sampled at the current time (so a slow
solve never starves the autopilot).  The plan goes out as ``nav_msgs/Path`` and
``trajectory_msgs/MultiDOFJointTrajectory``; status and solve times as ``diagnostic_msgs``
and a ``PlanStatus`` (``mpc/status``) for the director.

Safety is the core's (``cinempc.safety.SafetyCore``, docs/safety.md), the same one every loop
calls: no shot, the director's HOLD, subjects not heard from for ``subject_timeout_s``
(perception down), a plan older than ``max_plan_age_s``, the MPC's own hold, a non-finite value
-> a hold latched where it began, lens as it is; no rig state for ``state_timeout_s`` -> a hold
at the last fresh state (nothing at all before the first one) and diagnostics go to ERROR.  The node
hands the core each odometry's arrival time and its header stamp, both on the node's clock (sim time
when ``use_sim_time`` is set, as ``cinempc up sim`` runs it): the core ages the state from the earlier
of the two, so odometry delivered late is as old as its stamp (a source stamping on another time base
than the node's -- sim time against wall time -- makes every state look old: a hold, never a flight).
Every setpoint is fenced into the airspace before it is published.

Runtime parameters, the ROS way: an on-set callback validates a change (an invalid value, or one
that changes the problem's structure, is refused with the reason) and a post-set callback applies
it -- weights, targets, solver settings and vehicle/gimbal/airspace limits reach the solver at the
next solve through ``CineMPC.set_params`` (no rebuild, warm start kept); the airspace, the
``node`` timeouts and the pose-jump rule (``max_state_jump_m``, ``state_jump_settle_s``) reach the
safety core before the next setpoint.  Rates, the solver back-end and
the lens mode are refused while configured (deactivate, clean up, configure).
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import replace
from typing import Any

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import AccelStamped
from nav_msgs.msg import Odometry, Path
from rcl_interfaces.msg import SetParametersResult
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.lifecycle import LifecycleState, TransitionCallbackReturn
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool
from trajectory_msgs.msg import JointTrajectory, MultiDOFJointTrajectory

from cinempc.config import VehicleConfig, load_camera_profile
from cinempc.graph import Topics
from cinempc.nodes import convert
from cinempc.nodes.base import CONTROL_QOS, LATCHED_QOS, CineLifecycleNode, guarded, nested_parameters, run, section
from cinempc.safety import Cause, SafetyCore, SafetyInputs, SafetyLimits, Status, sample_plan
from cinempc.state import Obstacle, RigState, SubjectTrack

MPC_SECTIONS = ("horizon", "structure", "weights", "targets", "solver")
VEHICLE_SECTIONS = ("vehicle", "gimbal", "airspace", "camera_profile")
PLAN_SERIES = ("position_m", "velocity_mps", "acceleration_mps2", "yaw_rad", "pitch_rad", "focal_length_mm",
               "focus_distance_m", "f_number")
STRUCTURAL = ("horizon.horizon_steps", "horizon.dt_s", "structure", "solver.compile_flags", "camera_profile")
# the safety core's limits a running node takes at its next setpoint (timeouts and the pose-jump rule)
RUNTIME_NODE = ("node.subject_timeout_s", "node.state_timeout_s", "node.max_plan_age_s", "node.max_state_jump_m",
                "node.state_jump_settle_s", "node.hold_brake_s")
__all__ = ["MPCNode", "advance_track", "sample_plan"]


def limits_from(node: dict[str, Any]) -> SafetyLimits:
    """The safety core's limits from the node's ``node`` parameters."""
    return SafetyLimits.from_parameters(node)


def advance_track(track: SubjectTrack, age_s: float) -> SubjectTrack:
    """A subject prediction made ``age_s`` ago, re-expressed from now (latency compensation).

    Row ``k`` of the result is the old prediction at ``k * dt_s + age_s`` (linear interpolation,
    the last row held), so perception's or the simulator's publishing delay does not become a
    framing error.  The covariance follows the same rows.
    """
    if age_s <= 0 or len(track.positions_m) < 2:
        return track
    rows = len(track.positions_m)
    grid = np.arange(rows) * track.dt_s
    t = np.minimum(grid + age_s, grid[-1])

    def shift(values: np.ndarray) -> np.ndarray:
        return np.stack([np.interp(t, grid, values[:, i]) for i in range(values.shape[1])], axis=1)

    covariance = track.covariance_m2
    if covariance is not None and len(covariance) == rows:
        nearest = np.minimum(np.round(t / track.dt_s).astype(int), rows - 1)
        covariance = covariance[nearest]
    return replace(track, positions_m=shift(track.positions_m), velocities_mps=shift(track.velocities_mps),
                   covariance_m2=covariance)


class MPCNode(CineLifecycleNode):
    """CineMPC adapter (lifecycle: configure compiles/loads the solver, activate starts the loops)."""

    RUNTIME_SECTIONS = MPC_SECTIONS + VEHICLE_SECTIONS

    def __init__(self, **kwargs) -> None:
        super().__init__("mpc_node", **kwargs)
        self._lock = threading.Lock()
        self.mpc = None
        self.safety: SafetyCore | None = None
        self._timers: list = []
        self._forget()
        self.add_on_set_parameters_callback(self._validate_parameters)
        self.add_post_set_parameters_callback(self._apply_parameters)

    def _forget(self) -> None:
        """The state of one configured session (cleared by cleanup)."""
        self._pending_params: tuple | None = None
        self._odometry: Odometry | None = None
        self._camera_state: JointState | None = None
        self._accel: AccelStamped | None = None
        self._state_time_s = -math.inf  # when the odometry arrived (the node's clock)
        self._state_stamp_s: float | None = None  # its header stamp (the time base the node's clock must share)
        self._subjects: list[SubjectTrack] = []
        self._subjects_time_s = -math.inf
        self._subjects_stamp_s = 0.0
        self._obstacles: list[Obstacle] = []
        self._background_m: float | None = None
        self._shot = None
        self._shot_start_s: float | None = None  # set at the shot's first solve: waiting time is not shot time
        self._director_hold = False
        self._result = None
        self._result_time_s = -math.inf
        self._holding: Cause | None = None
        self._hold_reason = ""
        self._status: Status | str = "waiting"
        self._message = "no rig state yet"
        self._solve_ms: list[float] = []
        self._setpoints_sent = 0
        self._solves = 0
        self._reset_pending = False
        self._result_weights: dict[str, float] = {}

    # ----------------------------------------------------------------- lifecycle
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        from cinempc.mpc import CineMPC, MPCParams

        self.begin_configure()
        self.p = self.node_params()
        try:
            everything = nested_parameters(self)
            self.vehicle = VehicleConfig(**{k: everything[k] for k in VEHICLE_SECTIONS})
            self.camera = load_camera_profile(self.vehicle.camera_profile)
            self.mpc_params = MPCParams(**{k: everything[k] for k in MPC_SECTIONS})
            self.mpc = CineMPC(self.camera, self.vehicle, params=self.mpc_params, solver=self.p["solver"],
                               lens_mode=self.p["lens_mode"])
            self.safety = SafetyCore(self.vehicle.airspace, limits_from(self.p))
        except (KeyError, ValueError) as exc:
            self.get_logger().error(f"cannot build the MPC from the parameters: {exc}")
            self.release_configured()
            self.mpc = self.safety = None
            return TransitionCallbackReturn.FAILURE
        inputs = ReentrantCallbackGroup()
        self.pub_setpoint = self.create_lifecycle_publisher(JointTrajectory, Topics.SETPOINT, CONTROL_QOS)
        self.pub_path = self.create_lifecycle_publisher(Path, Topics.PLAN_PATH, CONTROL_QOS)
        self.pub_trajectory = self.create_lifecycle_publisher(MultiDOFJointTrajectory, Topics.PLAN_TRAJECTORY,
                                                              CONTROL_QOS)
        self.pub_status = self.create_lifecycle_publisher(convert.ci.PlanStatus, Topics.MPC_STATUS, CONTROL_QOS)
        self.pub_diagnostics = self.create_lifecycle_publisher(DiagnosticArray, Topics.DIAGNOSTICS, CONTROL_QOS)
        self.create_subscription(Odometry, Topics.ODOMETRY, self.on_odometry, CONTROL_QOS, callback_group=inputs)
        self.create_subscription(JointState, Topics.CAMERA_STATE, self.on_camera_state, CONTROL_QOS,
                                 callback_group=inputs)
        self.create_subscription(AccelStamped, Topics.ACCEL, self.on_accel, CONTROL_QOS, callback_group=inputs)
        self.create_subscription(convert.ci.SubjectTrackArray, Topics.SUBJECTS, self.on_subjects, CONTROL_QOS,
                                 callback_group=inputs)
        self.create_subscription(convert.ci.ObstacleArray, Topics.OBSTACLES, self.on_obstacles, LATCHED_QOS,
                                 callback_group=inputs)
        self.create_subscription(convert.ci.ShotSpec, Topics.SHOT, self.on_shot, LATCHED_QOS, callback_group=inputs)
        self.create_subscription(Bool, Topics.HOLD, self.on_hold, LATCHED_QOS, callback_group=inputs)
        self.get_logger().info(f"MPC ready: {self.mpc.horizon_steps} steps x {self.mpc.dt_s} s, "
                               f"solver {self.p['solver']}, lens {self.p['lens_mode']}, camera {self.camera.name}")
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        result = super().on_activate(state)
        self._timers = [
            self.create_timer(1.0 / float(self.p["replan_rate_hz"]), self.replan,
                              callback_group=MutuallyExclusiveCallbackGroup()),
            self.create_timer(1.0 / float(self.p["setpoint_rate_hz"]), self.publish_setpoint,
                              callback_group=MutuallyExclusiveCallbackGroup()),
            self.create_timer(1.0 / float(self.p["diagnostics_rate_hz"]), self.publish_diagnostics,
                              callback_group=MutuallyExclusiveCallbackGroup()),
        ]
        return result

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        for timer in self._timers:
            self.destroy_timer(timer)
        self._timers = []
        return super().on_deactivate(state)

    def forget_configuration(self) -> None:
        self._timers = []  # destroyed with everything configure and activate created
        with self._lock:
            self.mpc = self.safety = None
            self._forget()

    # ----------------------------------------------------------------- parameters
    def runtime_parameter(self, name: str) -> bool:
        return name in RUNTIME_NODE

    def _candidate(self, parameters) -> tuple[Any, VehicleConfig, SafetyLimits]:
        """The MPC parameters, vehicle and safety limits with ``parameters`` applied (ValueError if invalid)."""
        from cinempc.mpc import MPCParams

        updates = {p.name: p.value for p in parameters}
        everything = section(updates, nested_parameters(self))
        params = MPCParams(**{k: everything[k] for k in MPC_SECTIONS})
        vehicle = VehicleConfig(**{k: everything[k] for k in VEHICLE_SECTIONS})
        return params, vehicle, limits_from(everything["node"])

    def _validate_parameters(self, parameters) -> SetParametersResult:
        """On-set: refuse an invalid value or a structural change with the reason; change nothing."""
        if self.mpc is None:
            return SetParametersResult(successful=True)
        names = [p.name for p in parameters]
        structural = [n for n in names if any(n == s or n.startswith(s + ".") for s in STRUCTURAL)]
        if structural:
            return SetParametersResult(successful=False, reason=f"{structural} change the problem's structure: "
                                       "restart the node (deactivate, cleanup, configure) to apply them")
        try:
            self._candidate(parameters)
        except (ValueError, TypeError, KeyError) as exc:
            return SetParametersResult(successful=False, reason=" ".join(str(exc).split())[:400])
        return SetParametersResult(successful=True)

    def _apply_parameters(self, parameters) -> None:
        """Post-set: the safety core takes the new fence, timeouts and jump rule now, the solver at its next solve."""
        if self.mpc is None or not any(p.name.split(".")[0] in self.RUNTIME_SECTIONS or self.runtime_parameter(p.name)
                                       for p in parameters):
            return
        params, vehicle, limits = self._candidate([])
        with self._lock:
            self.safety.reconfigure(airspace=vehicle.airspace, limits=limits)
            self._pending_params = (params, vehicle)
        self.get_logger().info(f"parameters changed at run time: {[p.name for p in parameters]}")

    def _apply_pending_params(self) -> None:
        with self._lock:
            pending, self._pending_params = self._pending_params, None
        if pending is None:
            return
        params, vehicle = pending
        self.mpc.set_params(params, vehicle)  # validated on set: same structure, no rebuild, warm start kept
        self.mpc_params, self.vehicle = params, vehicle

    # ----------------------------------------------------------------- inputs
    def _now_s(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    @guarded(Topics.ODOMETRY)
    def on_odometry(self, msg: Odometry) -> None:
        if self._camera_state is not None:
            convert.rig_state_from_msgs(msg, self._camera_state, self._accel)  # validate before accepting
        else:
            convert.rig_state_from_msgs(msg, convert.camera_state_msg(_PLACEHOLDER_STATE, 0.0))
        stamp_s = convert.stamp_to_s(msg.header.stamp)
        with self._lock:
            self._odometry = msg
            self._state_time_s = self._now_s()  # under the lock: never later than a decision's ``now``
            self._state_stamp_s = stamp_s

    @guarded(Topics.CAMERA_STATE)
    def on_camera_state(self, msg: JointState) -> None:
        reference = self._odometry or convert.odometry_msg(_PLACEHOLDER_STATE, 0.0)
        convert.rig_state_from_msgs(reference, msg)
        with self._lock:
            self._camera_state = msg

    @guarded(Topics.ACCEL)
    def on_accel(self, msg: AccelStamped) -> None:
        convert.accel_from_msg(msg)
        with self._lock:
            self._accel = msg

    @guarded(Topics.SUBJECTS)
    def on_subjects(self, msg: convert.ci.SubjectTrackArray) -> None:
        stamp_s, subjects = convert.subjects_from_msg(msg)
        with self._lock:
            self._subjects = subjects
            self._subjects_stamp_s = stamp_s
            self._subjects_time_s = self._now_s()

    @guarded(Topics.OBSTACLES)
    def on_obstacles(self, msg: convert.ci.ObstacleArray) -> None:
        obstacles, background = convert.obstacles_from_msg(msg)
        with self._lock:
            self._obstacles, self._background_m = obstacles, background

    @guarded(Topics.SHOT)
    def on_shot(self, msg: convert.ci.ShotSpec) -> None:
        shot = convert.shot_from_msg(msg)
        with self._lock:
            if shot != self._shot:
                self._shot = shot
                self._shot_start_s = None
                self._reset_pending = True
        self.get_logger().info(f"new shot: {shot.model_dump_json()}")

    @guarded(Topics.HOLD)
    def on_hold(self, msg: Bool) -> None:
        with self._lock:
            self._director_hold = bool(msg.data)
        self.get_logger().info("director HOLD" if msg.data else "director RESUME")

    # ----------------------------------------------------------------- decisions (the safety core's)
    def _rig_state(self) -> RigState | None:
        if self._odometry is None or self._camera_state is None:
            return None
        try:
            return convert.rig_state_from_msgs(self._odometry, self._camera_state, self._accel)
        except ValueError:
            return None

    def _inputs(self, now: float, with_plan: bool = True) -> SafetyInputs:
        """What the safety core decides on (call with the lock held)."""
        return SafetyInputs(
            now_s=now, state=self._rig_state(), state_time_s=self._state_time_s, state_stamp_s=self._state_stamp_s,
            subjects_time_s=self._subjects_time_s, subjects_stamp_s=self._subjects_stamp_s,
            shot_active=self._shot is not None,
            director_hold=self._director_hold, result=self._result if with_plan else None,
            result_time_s=self._result_time_s,
        )

    def replan(self) -> None:
        """One MPC solve on the latest inputs (skipped while the safety core holds for a reason a plan cannot lift)."""
        self._apply_pending_params()
        with self._lock:
            now = self._now_s()  # read under the lock, as the inputs' arrival times are
            if self.safety is None:
                return
            inputs = self._inputs(now, with_plan=False)
            blocked = self.safety.blocking(inputs)
            state = inputs.state
            age_s = min(max(now - self._subjects_stamp_s, 0.0), float(self.safety.limits.subject_timeout_s))
            subjects = [advance_track(s, age_s) for s in self._subjects]
            shot, obstacles = self._shot, list(self._obstacles)
            reset = self._reset_pending
            self._reset_pending = False
            if blocked is None and self._shot_start_s is None:
                self._shot_start_s = now
            background = self._background_m
            shot_time_s = now - self._shot_start_s if self._shot_start_s is not None else 0.0
        if reset:
            self.mpc.reset()
        if blocked is not None:
            return
        weights = self.mpc_params.weights.model_dump()  # what this solve is weighted with (for the status)
        started = time.perf_counter()
        try:
            result = self.mpc.solve(state, shot, subjects, obstacles, shot_time_s=shot_time_s,
                                    background_distance_m=background)
        except Exception as exc:  # noqa: BLE001 -- a solver crash must become a hold, not a dead node
            self.get_logger().error(f"MPC solve failed: {exc!r}")
            with self._lock:
                self._result, self._status, self._message = None, Status.CONTROLLER_ERROR, repr(exc)[:200]
            return
        wall_ms = (time.perf_counter() - started) * 1e3
        with self._lock:
            self._result, self._result_time_s, self._result_weights = result, now, weights
            self._solve_ms = (self._solve_ms + [float(getattr(result, "solve_ms", wall_ms))])[-200:]
            self._solves += 1
        if getattr(result, "plan", None) is None:  # a controller with no horizon: no plan to publish
            return
        try:
            path, trajectory = convert.plan_messages(result.plan, now)
            self.pub_path.publish(path)
            self.pub_trajectory.publish(trajectory)
        except ValueError as exc:
            self.get_logger().warning(f"plan not published: {exc}")

    def publish_setpoint(self) -> None:
        """Stream the setpoint the safety core decides: the plan sampled now, or the latched hold."""
        with self._lock:
            now = self._now_s()  # read under the lock, as the inputs' arrival times are
            if self.safety is None:
                return
            decision = self.safety.step(self._inputs(now))
            if decision.cause != self._holding:
                if decision.holding:
                    self.get_logger().warning(f"holding: {decision.reason}")
                elif self._holding is not None:
                    self.get_logger().info(f"resuming after hold ({self._hold_reason})")
            self._holding = decision.cause
            self._hold_reason = decision.reason if decision.holding else ""
            self._status, self._message = decision.status, decision.reason
            if decision.fenced:
                self.get_logger().warning("setpoint outside the geofence: clamped", throttle_duration_sec=1.0)
            if decision.setpoint is None:
                return
            self._setpoints_sent += 1
        self.pub_setpoint.publish(convert.setpoint_msg(decision.setpoint, now))

    def status_document(self) -> dict[str, Any]:
        """The node's status; the solve-time percentiles are computed after the lock is let go (the lock
        guards what the setpoint and the replan need; a GIL-starved thread held it through np.percentile)."""
        with self._lock:
            solve = np.asarray(self._solve_ms) if self._solve_ms else np.zeros(0)
            result = self._result
            document = {
                "status": str(self._status), "message": self._message, "holding": self._holding is not None,
                "hold_reason": self._hold_reason, "hold_cause": str(self._holding or ""),
                "solve_status": str(result.status) if result is not None else None,
                "solve_ms": float(result.solve_ms) if result is not None else None,
                "iterations": int(getattr(result, "iterations", 0) or 0) if result is not None else 0,
                "solves": self._solves, "setpoints": self._setpoints_sent,
                "cost_breakdown": dict(getattr(result, "cost_breakdown", {}) or {}) if result is not None else {},
                "relaxations": list(getattr(result, "relaxations", []) or []) if result is not None else [],
                "weights": self._result_weights,  # of the solve reported here, not of a pending change
                "dropped_messages": dict(self.drops.counts),
                "subjects": [s.ref for s in self._subjects],
            }
        document["solve_ms_p50"] = float(np.percentile(solve, 50)) if solve.size else None
        document["solve_ms_p95"] = float(np.percentile(solve, 95)) if solve.size else None
        return document

    def publish_diagnostics(self) -> None:
        document = self.status_document()
        self.pub_status.publish(convert.plan_status_msg(document, self._now_s()))
        level = DiagnosticStatus.OK
        if document["holding"] or document["status"] in (Status.RELAXED, Status.FALLBACK_SHIFTED):
            level = DiagnosticStatus.WARN
        if document["status"] in (Status.NO_STATE, Status.CONTROLLER_ERROR):
            level = DiagnosticStatus.ERROR
        values = {k: document[k] for k in ("status", "hold_reason", "solves", "setpoints", "solve_ms_p50",
                                           "solve_ms_p95")}
        status = DiagnosticStatus(
            level=level, name=f"{self.get_fully_qualified_name()}: CineMPC", message=str(document["message"])[:200],
            hardware_id=self.get_namespace(),
            values=[KeyValue(key=k, value=str(v)) for k, v in values.items()],
        )
        self.pub_diagnostics.publish(DiagnosticArray(header=convert.Header(stamp=self.get_clock().now().to_msg()),
                                                     status=[status]))


# Only to validate one half of the rig state before the other half has arrived.
_PLACEHOLDER_STATE = RigState(position_m=[0.0, 0.0, 0.0])


def main(args: list[str] | None = None) -> int:
    return run(MPCNode, args, threads=4)


if __name__ == "__main__":
    raise SystemExit(main())
