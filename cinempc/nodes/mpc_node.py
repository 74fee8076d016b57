"""``mpc_node``: subjects + rig state + shot -> drone/gimbal/lens setpoints at >= 20 Hz.

Two loops, as a flight controller would run them: a *replanning* loop that solves the
CineMPC (``cinempc.mpc``) as often as ``replan_rate_hz`` allows, and a *setpoint* loop that
streams, at ``setpoint_rate_hz``, the latest plan sampled at the current time (so a slow
solve never starves the autopilot).  The plan goes out as ``nav_msgs/Path`` and
``trajectory_msgs/MultiDOFJointTrajectory``; status and solve times as ``diagnostic_msgs``
and a JSON status line for the director.

Safety, decided here before the optimiser is asked anything:

* no shot, the director's HOLD, subjects not heard from for ``subject_timeout_s``
  (perception down), or a plan older than ``max_plan_age_s`` -> a hold setpoint latched at
  the position where the hold began (``Setpoint.hold_at``), lens as it is;
* no rig state for ``state_timeout_s`` -> nothing is published (a setpoint computed from a
  stale state is worse than none: the autopilot's own offboard-loss failsafe takes over)
  and diagnostics go to ERROR.

Runtime parameters: any MPC parameter (``weights.*``, ``targets.*``, ``solver.*``) can be
changed with ``ros2 param set``; the change is validated with ``MPCParams`` first (an invalid
value is refused with the reason) and takes effect at the next solve.
"""

from __future__ import annotations

import json
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
from std_msgs.msg import Bool, String
from trajectory_msgs.msg import JointTrajectory, MultiDOFJointTrajectory

from cinempc.config import VehicleConfig, load_camera_profile
from cinempc.graph import Topics
from cinempc.nodes import convert
from cinempc.nodes.base import CONTROL_QOS, LATCHED_QOS, CineLifecycleNode, guarded, nested_parameters, run, section
from cinempc.state import Obstacle, RigState, Setpoint, SubjectTrack

MPC_SECTIONS = ("horizon", "structure", "weights", "targets", "solver")
VEHICLE_SECTIONS = ("vehicle", "gimbal", "airspace", "camera_profile")
PLAN_SERIES = ("position_m", "velocity_mps", "acceleration_mps2", "yaw_rad", "pitch_rad", "focal_length_mm",
               "focus_distance_m", "f_number")


def sample_plan(plan: dict, age_s: float, fallback: Setpoint) -> Setpoint:
    """The setpoint ``age_s`` after the plan was computed, as a Setpoint.

    Like ``MPCResult.setpoint`` (the plan's step 1), the setpoint leads the present by one plan
    step; between solves it slides along the plan (linear interpolation) instead of standing
    still, so the setpoint stream is smooth at any rate.  Series the plan lacks come from
    ``fallback`` (the solve's own setpoint); without a ``t_s`` series the fallback is returned.
    """
    times = np.asarray(plan.get("t_s", []), dtype=float).reshape(-1)
    if len(times) < 2 or age_s <= 0:
        return fallback
    t = times[1] + age_s

    def at(name: str, default):
        series = plan.get(name)
        if series is None:
            return default
        values = np.asarray(series, dtype=float)
        count = min(len(values), len(times))
        if count < 2:
            return default
        values, grid = values[:count], times[:count]
        if values.ndim == 1:
            return float(np.interp(t, grid, values))
        return np.array([np.interp(t, grid, values[:, i]) for i in range(values.shape[1])])

    yaw_series = plan.get("yaw_rad")
    yaw = fallback.yaw_rad
    if yaw_series is not None and len(yaw_series) >= 2:  # unwrap before interpolating an angle
        unwrapped = np.unwrap(np.asarray(yaw_series, dtype=float)[: len(times)])
        yaw = float(np.interp(t, times[: len(unwrapped)], unwrapped))
    velocity = at("velocity_mps", fallback.velocity_mps)
    return Setpoint(
        position_m=at("position_m", fallback.position_m), velocity_mps=velocity,
        acceleration_mps2=at("acceleration_mps2", fallback.acceleration_mps2),
        yaw_rad=math.atan2(math.sin(yaw), math.cos(yaw)), yaw_rate_rad_s=at("yaw_rate_rad_s", fallback.yaw_rate_rad_s),
        pitch_rad=at("pitch_rad", fallback.pitch_rad), focal_length_mm=at("focal_length_mm", fallback.focal_length_mm),
        focus_distance_m=at("focus_distance_m", fallback.focus_distance_m),
        f_number=at("f_number", fallback.f_number), hold=fallback.hold,
    )


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

    def __init__(self) -> None:
        super().__init__("mpc_node")
        self._lock = threading.Lock()
        self.mpc = None
        self._pending_params = None
        self._odometry: Odometry | None = None
        self._camera_state: JointState | None = None
        self._accel: AccelStamped | None = None
        self._state_time_s = -math.inf
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
        self._hold: Setpoint | None = None
        self._hold_reason = ""
        self._status = "waiting"
        self._message = "no rig state yet"
        self._solve_ms: list[float] = []
        self._setpoints_sent = 0
        self._solves = 0
        self._timers: list = []
        self._reset_pending = False
        self._result_weights: dict[str, float] = {}
        self.add_on_set_parameters_callback(self._validate_parameters)

    # ----------------------------------------------------------------- lifecycle
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        from cinempc.mpc import CineMPC, MPCParams

        self.p = self.node_params()
        try:
            everything = nested_parameters(self)
            self.vehicle = VehicleConfig(**{k: everything[k] for k in VEHICLE_SECTIONS})
            self.camera = load_camera_profile(self.vehicle.camera_profile)
            self.mpc_params = MPCParams(**{k: everything[k] for k in MPC_SECTIONS})
            self.mpc = CineMPC(self.camera, self.vehicle, params=self.mpc_params, solver=self.p["solver"],
                               lens_mode=self.p["lens_mode"])
        except (KeyError, ValueError) as exc:
            self.get_logger().error(f"cannot build the MPC from the parameters: {exc}")
            return TransitionCallbackReturn.FAILURE
        inputs = ReentrantCallbackGroup()
        self.pub_setpoint = self.create_lifecycle_publisher(JointTrajectory, Topics.SETPOINT, CONTROL_QOS)
        self.pub_path = self.create_lifecycle_publisher(Path, Topics.PLAN_PATH, CONTROL_QOS)
        self.pub_trajectory = self.create_lifecycle_publisher(MultiDOFJointTrajectory, Topics.PLAN_TRAJECTORY,
                                                              CONTROL_QOS)
        self.pub_status = self.create_lifecycle_publisher(String, Topics.MPC_STATUS, CONTROL_QOS)
        self.pub_diagnostics = self.create_lifecycle_publisher(DiagnosticArray, Topics.DIAGNOSTICS, CONTROL_QOS)
        self.create_subscription(Odometry, Topics.ODOMETRY, self.on_odometry, CONTROL_QOS, callback_group=inputs)
        self.create_subscription(JointState, Topics.CAMERA_STATE, self.on_camera_state, CONTROL_QOS,
                                 callback_group=inputs)
        self.create_subscription(AccelStamped, Topics.ACCEL, self.on_accel, CONTROL_QOS, callback_group=inputs)
        self.create_subscription(String, Topics.SUBJECTS, self.on_subjects, CONTROL_QOS, callback_group=inputs)
        self.create_subscription(String, Topics.OBSTACLES, self.on_obstacles, LATCHED_QOS, callback_group=inputs)
        self.create_subscription(String, Topics.SHOT, self.on_shot, LATCHED_QOS, callback_group=inputs)
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

    # ----------------------------------------------------------------- parameters
    def _validate_parameters(self, parameters) -> SetParametersResult:
        from cinempc.mpc import MPCParams

        updates = {p.name: p.value for p in parameters if p.name.split(".")[0] in MPC_SECTIONS}
        if not updates or self.mpc is None:
            return SetParametersResult(successful=True)
        structural = [n for n in updates if n.split(".")[0] in ("horizon", "structure")]
        if structural:
            return SetParametersResult(successful=False, reason=f"{structural} change the problem's structure: "
                                       "restart the node (deactivate, cleanup, configure) to apply them")
        try:
            candidate = MPCParams(**section(updates, self.mpc_params.model_dump()))
        except ValueError as exc:
            return SetParametersResult(successful=False, reason=" ".join(str(exc).split())[:400])
        with self._lock:
            self._pending_params = candidate
        self.get_logger().info(f"MPC parameters changed at run time: {updates}")
        return SetParametersResult(successful=True)

    def _apply_pending_params(self) -> None:
        from cinempc.mpc import CineMPC

        with self._lock:
            candidate, self._pending_params = self._pending_params, None
        if candidate is None:
            return
        setter = getattr(self.mpc, "set_params", None)
        if callable(setter):
            setter(candidate)
        else:  # same structure -> the compiled solver comes from the cache; only the numbers change
            self.mpc = CineMPC(self.camera, self.vehicle, params=candidate, solver=self.p["solver"],
                               lens_mode=self.p["lens_mode"])
        self.mpc_params = candidate

    # ----------------------------------------------------------------- inputs
    def _now_s(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    @guarded(Topics.ODOMETRY)
    def on_odometry(self, msg: Odometry) -> None:
        if self._camera_state is not None:
            convert.rig_state_from_msgs(msg, self._camera_state, self._accel)  # validate before accepting
        else:
            convert.rig_state_from_msgs(msg, convert.camera_state_msg(_PLACEHOLDER_STATE, 0.0))
        with self._lock:
            self._odometry = msg
            self._state_time_s = self._now_s()

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
    def on_subjects(self, msg: String) -> None:
        stamp_s, subjects = convert.subjects_from_msg(msg)
        with self._lock:
            self._subjects = subjects
            self._subjects_stamp_s = stamp_s
            self._subjects_time_s = self._now_s()

    @guarded(Topics.OBSTACLES)
    def on_obstacles(self, msg: String) -> None:
        obstacles, background = convert.obstacles_from_msg(msg)
        with self._lock:
            self._obstacles, self._background_m = obstacles, background

    @guarded(Topics.SHOT)
    def on_shot(self, msg: String) -> None:
        shot = convert.shot_from_msg(msg)
        with self._lock:
            if shot != self._shot:
                self._shot = shot
                self._shot_start_s = None
                self._reset_pending = True
        self.get_logger().info(f"new shot: {msg.data}")

    @guarded(Topics.HOLD)
    def on_hold(self, msg: Bool) -> None:
        with self._lock:
            self._director_hold = bool(msg.data)
        self.get_logger().info("director HOLD" if msg.data else "director RESUME")

    # ----------------------------------------------------------------- decisions
    def _rig_state(self) -> RigState | None:
        if self._odometry is None or self._camera_state is None:
            return None
        return convert.rig_state_from_msgs(self._odometry, self._camera_state, self._accel)

    def _hold_reason_now(self, now: float) -> str:
        if self._shot is None:
            return "no shot"
        if self._director_hold:
            return "director HOLD"
        if now - self._subjects_time_s > float(self.p["subject_timeout_s"]):
            return f"subjects lost (no perception for {now - self._subjects_time_s:.1f} s)" \
                if math.isfinite(self._subjects_time_s) else "no subjects yet"
        return ""

    def replan(self) -> None:
        """One MPC solve on the latest inputs (skipped while a node-level hold is in force)."""
        now = self._now_s()
        self._apply_pending_params()
        with self._lock:
            state = self._rig_state() if now - self._state_time_s <= float(self.p["state_timeout_s"]) else None
            reason = self._hold_reason_now(now)
            age_s = min(max(now - self._subjects_stamp_s, 0.0), float(self.p["subject_timeout_s"]))
            subjects = [advance_track(s, age_s) for s in self._subjects]
            shot, obstacles = self._shot, list(self._obstacles)
            reset = self._reset_pending
            self._reset_pending = False
            if state is not None and not reason and self._shot_start_s is None:
                self._shot_start_s = now
            background = self._background_m
            shot_time_s = now - self._shot_start_s if self._shot_start_s is not None else 0.0
        if reset:
            self.mpc.reset()
        if state is None or reason:
            return
        weights = self.mpc_params.weights.model_dump()  # what this solve is weighted with (for the status)
        started = time.perf_counter()
        try:
            result = self.mpc.solve(state, shot, subjects, obstacles, shot_time_s=shot_time_s,
                                    background_distance_m=background)
        except Exception as exc:  # noqa: BLE001 -- a solver crash must become a hold, not a dead node
            self.get_logger().error(f"MPC solve failed: {exc!r}")
            with self._lock:
                self._result, self._status, self._message = None, "error", repr(exc)[:200]
            return
        wall_ms = (time.perf_counter() - started) * 1e3
        with self._lock:
            self._result, self._result_time_s, self._result_weights = result, now, weights
            self._status, self._message = result.status, result.message
            self._solve_ms = (self._solve_ms + [float(getattr(result, "solve_ms", wall_ms))])[-200:]
            self._solves += 1
        try:
            path, trajectory = convert.plan_messages(result.plan, now)
            self.pub_path.publish(path)
            self.pub_trajectory.publish(trajectory)
        except ValueError as exc:
            self.get_logger().warning(f"plan not published: {exc}")

    def publish_setpoint(self) -> None:
        """Stream the setpoint: the plan sampled now, or a latched hold."""
        now = self._now_s()
        with self._lock:
            if now - self._state_time_s > float(self.p["state_timeout_s"]):
                self._status, self._message = "no_state", "no rig state: not publishing setpoints"
                return
            try:
                state = self._rig_state()
            except ValueError:
                return
            if state is None:
                return
            reason = self._hold_reason_now(now)
            result, age = self._result, now - self._result_time_s
            if not reason and (result is None or age > float(self.p["max_plan_age_s"])):
                reason = "no fresh plan"
            if not reason and result.setpoint.hold:  # the MPC itself chose to hold (no subject, failed solve)
                reason = f"MPC {result.status}: {result.message}"
            if reason:
                if self._hold is None or self._hold_reason != reason:
                    if self._hold is None:
                        self.get_logger().warning(f"holding: {reason}")
                        self._hold = Setpoint.hold_at(state)
                    self._hold_reason = reason
                setpoint = self._hold
                self._status, self._message = "hold", reason
            else:
                if self._hold is not None:
                    self.get_logger().info(f"resuming after hold ({self._hold_reason})")
                self._hold, self._hold_reason = None, ""
                setpoint = sample_plan(result.plan, age, result.setpoint)
            setpoint = self._fence(setpoint)
            self._setpoints_sent += 1
        self.pub_setpoint.publish(convert.setpoint_msg(setpoint, now))

    def _fence(self, setpoint: Setpoint) -> Setpoint:
        """Last line of defence: a setpoint outside the geofence/altitude band is clamped and stopped there."""
        airspace = self.vehicle.airspace
        if airspace.contains(setpoint.position_m):
            return setpoint
        self.get_logger().warning(f"setpoint {np.round(setpoint.position_m, 2)} outside the geofence: clamped")
        return replace(setpoint, position_m=np.asarray(airspace.clamp(setpoint.position_m)),
                       velocity_mps=np.zeros(3), acceleration_mps2=np.zeros(3))

    def status_document(self) -> dict[str, Any]:
        with self._lock:
            solve = np.asarray(self._solve_ms) if self._solve_ms else np.zeros(0)
            result = self._result
            return {
                "status": self._status, "message": self._message, "holding": self._hold is not None,
                "hold_reason": self._hold_reason, "solves": self._solves, "setpoints": self._setpoints_sent,
                "solve_ms_p50": float(np.percentile(solve, 50)) if solve.size else None,
                "solve_ms_p95": float(np.percentile(solve, 95)) if solve.size else None,
                "cost_breakdown": dict(getattr(result, "cost_breakdown", {}) or {}) if result is not None else {},
                "relaxations": list(getattr(result, "relaxations", []) or []) if result is not None else [],
                "weights": self._result_weights,  # of the solve reported here, not of a pending change
                "dropped_messages": dict(self.drops.counts),
                "subjects": [s.ref for s in self._subjects],
            }

    def publish_diagnostics(self) -> None:
        document = self.status_document()
        self.pub_status.publish(String(data=json.dumps(document)))
        level = DiagnosticStatus.OK
        if document["status"] in ("hold", "relaxed", "fallback_shifted", "fallback_hold", "no_subject"):
            level = DiagnosticStatus.WARN
        if document["status"] in ("no_state", "error"):
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
