"""Rig state, setpoint and plan <-> standard messages (Odometry, AccelStamped, JointState, JointTrajectory, Path).

Rule: twist in the child frame (REP-105), lens in SI units on the wire, ``hold`` a joint of the setpoint.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from geometry_msgs.msg import (
    AccelStamped,
    Point,
    Pose,
    PoseStamped,
    Transform,
    Twist,
    Vector3,
)
from nav_msgs.msg import Odometry, Path
from sensor_msgs.msg import JointState
from std_msgs.msg import Header
from trajectory_msgs.msg import (
    JointTrajectory,
    JointTrajectoryPoint,
    MultiDOFJointTrajectory,
    MultiDOFJointTrajectoryPoint,
)

from cinempc.nodes.convert.geometry import (
    BASE_FRAME,
    CAMERA_JOINTS,
    MAP_FRAME,
    ODOM_FRAME,
    SETPOINT_JOINTS,
    _array,
    _rotate_z,
    _vector,
    camera_optical_quaternion,
    quaternion_yaw_rad,
    s_to_duration,
    s_to_stamp,
    yaw_quaternion,
)
from cinempc.state import RigState, Setpoint, require_finite

# ------------------------------------------------------------------ rig state


def odometry_msg(state: RigState, time_s: float) -> Odometry:
    """The drone's odometry; ``base_link`` heads along the camera heading (gimbal yaw folded in)."""
    msg = Odometry()
    msg.header = Header(stamp=s_to_stamp(time_s), frame_id=ODOM_FRAME)
    msg.child_frame_id = BASE_FRAME
    msg.pose.pose = Pose(position=Point(x=float(state.position_m[0]), y=float(state.position_m[1]),
                                        z=float(state.position_m[2])),
                         orientation=yaw_quaternion(state.yaw_rad))
    msg.twist.twist = Twist(linear=_vector(_rotate_z(state.velocity_mps, -state.yaw_rad)))
    return msg


def accel_msg(state: RigState, time_s: float) -> AccelStamped:
    msg = AccelStamped()
    msg.header = Header(stamp=s_to_stamp(time_s), frame_id=MAP_FRAME)
    msg.accel.linear = _vector(state.acceleration_mps2)
    return msg


def accel_from_msg(msg: AccelStamped) -> np.ndarray:
    """Linear acceleration (ENU, m/s^2); ValueError if non-finite."""
    acceleration = _array(msg.accel.linear)
    require_finite("acceleration", acceleration)
    return acceleration


def camera_state_msg(state: RigState, time_s: float) -> JointState:
    """Camera yaw, gimbal pitch and the lens as joints (SI: rad, rad, m, m, f-number)."""
    return JointState(
        header=Header(stamp=s_to_stamp(time_s), frame_id=BASE_FRAME),
        name=list(CAMERA_JOINTS),
        position=[float(state.yaw_rad), float(state.pitch_rad), state.focal_length_mm * 1e-3,
                  float(state.focus_distance_m), float(state.f_number)],
    )


def _joint_values(names: Sequence[str], values: Sequence[float], joints: Sequence[str], what: str) -> dict[str, float]:
    """Pick ``joints`` out of parallel name/value lists; ValueError if missing, mis-sized or non-finite."""
    names, values = list(names), list(values)
    missing = [j for j in joints if j not in names]
    if missing:
        raise ValueError(f"{what}: missing joints {missing} (got {names})")
    if len(values) != len(names):
        raise ValueError(f"{what}: {len(names)} joint names but {len(values)} values")
    result = {name: float(values[names.index(name)]) for name in joints}
    require_finite(what, list(result.values()))
    return result


def rig_state_from_msgs(odometry: Odometry, camera_state: JointState, accel: AccelStamped | None = None) -> RigState:
    """Rebuild the measured ``RigState`` from the three rig topics (ValueError if malformed)."""
    pose = odometry.pose.pose
    position = np.array([pose.position.x, pose.position.y, pose.position.z], dtype=float)
    q = pose.orientation
    require_finite("odometry", position, [q.x, q.y, q.z, q.w], _array(odometry.twist.twist.linear))
    components = np.array([q.x, q.y, q.z, q.w], dtype=float)
    # components first: a unit quaternion's lie in [-1, 1], and squaring a corrupt 1e154 would overflow
    if np.max(np.abs(components)) > 1.0 + 1e-3 or abs(float(components @ components) - 1.0) > 1e-3:
        raise ValueError("odometry: orientation is not a unit quaternion")
    base_yaw = quaternion_yaw_rad(q)
    velocity = _rotate_z(_array(odometry.twist.twist.linear), base_yaw)
    joints = _joint_values(camera_state.name, camera_state.position, CAMERA_JOINTS, "camera state")
    acceleration = accel_from_msg(accel) if accel is not None else np.zeros(3)
    if joints["lens_focal_length"] <= 0 or joints["lens_focus_distance"] <= 0 or joints["lens_f_number"] <= 0:
        raise ValueError(f"camera state: lens values must be positive, got {joints}")
    return RigState(
        position_m=position, velocity_mps=velocity, acceleration_mps2=acceleration,
        yaw_rad=joints["camera_yaw"], pitch_rad=joints["gimbal_pitch"],
        focal_length_mm=joints["lens_focal_length"] * 1e3, focus_distance_m=joints["lens_focus_distance"],
        f_number=joints["lens_f_number"],
    )


def camera_pose_msg(state: RigState, time_s: float) -> PoseStamped:
    """The ``camera_optical`` pose in ``map`` (the same as TF ``map`` -> ``camera_optical``, for plain displays)."""
    return PoseStamped(
        header=Header(stamp=s_to_stamp(time_s), frame_id=MAP_FRAME),
        pose=Pose(position=Point(x=float(state.position_m[0]), y=float(state.position_m[1]),
                                 z=float(state.position_m[2])),
                  orientation=camera_optical_quaternion(state.yaw_rad, state.pitch_rad)),
    )


# ------------------------------------------------------------------ setpoint


def setpoint_msg(setpoint: Setpoint, time_s: float) -> JointTrajectory:
    """One-point ``JointTrajectory`` over :data:`SETPOINT_JOINTS` (``map`` frame, SI units)."""
    positions = [*map(float, setpoint.position_m), setpoint.yaw_rad, setpoint.pitch_rad,
                 setpoint.focal_length_mm * 1e-3, setpoint.focus_distance_m, setpoint.f_number,
                 1.0 if setpoint.hold else 0.0]
    velocities = [*map(float, setpoint.velocity_mps), setpoint.yaw_rate_rad_s, 0.0, 0.0, 0.0, 0.0, 0.0]
    accelerations = [*map(float, setpoint.acceleration_mps2), 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    return JointTrajectory(
        header=Header(stamp=s_to_stamp(time_s), frame_id=MAP_FRAME),
        joint_names=list(SETPOINT_JOINTS),
        points=[JointTrajectoryPoint(positions=[float(p) for p in positions], velocities=velocities,
                                     accelerations=accelerations, time_from_start=s_to_duration(0.0))],
    )


def setpoint_from_msg(msg: JointTrajectory) -> Setpoint:
    """Inverse of :func:`setpoint_msg` (ValueError on a malformed or non-finite setpoint)."""
    if len(msg.points) != 1:
        raise ValueError(f"setpoint: expected exactly one trajectory point, got {len(msg.points)}")
    point, names = msg.points[0], msg.joint_names
    positions = _joint_values(names, point.positions, SETPOINT_JOINTS, "setpoint positions")
    velocities = _joint_values(names, point.velocities, SETPOINT_JOINTS[:4], "setpoint velocities")
    accelerations = _joint_values(names, point.accelerations, SETPOINT_JOINTS[:3], "setpoint accelerations")
    return Setpoint(
        position_m=[positions["x"], positions["y"], positions["z"]],
        velocity_mps=[velocities["x"], velocities["y"], velocities["z"]],
        acceleration_mps2=[accelerations["x"], accelerations["y"], accelerations["z"]],
        yaw_rad=positions["camera_yaw"], yaw_rate_rad_s=velocities["camera_yaw"],
        pitch_rad=positions["gimbal_pitch"], focal_length_mm=positions["lens_focal_length"] * 1e3,
        focus_distance_m=positions["lens_focus_distance"], f_number=positions["lens_f_number"],
        hold=positions["hold"] >= 0.5,
    )


# ------------------------------------------------------------------ plan


def plan_messages(plan: dict, time_s: float) -> tuple[Path, MultiDOFJointTrajectory]:
    """The MPC horizon as ``nav_msgs/Path`` (camera poses) and ``MultiDOFJointTrajectory`` (full plan).

    ``plan`` is ``MPCResult.plan``: arrays over the horizon with ``t_s`` and ``position_m``, and
    where present ``velocity_mps``, ``acceleration_mps2``, ``yaw_rad``, ``pitch_rad``.
    """
    times = np.asarray(plan.get("t_s", []), dtype=float).reshape(-1)
    positions = np.asarray(plan.get("position_m", np.zeros((0, 3))), dtype=float).reshape(-1, 3)
    count = min(len(times), len(positions))
    if count == 0:
        raise ValueError("plan has no t_s/position_m samples")

    def column(key: str, shape: tuple[int, ...]) -> np.ndarray:
        """A plan array with ``count`` rows: zeros when absent, the last row held when short."""
        value = plan.get(key)
        if value is None or len(np.asarray(value)) == 0:
            return np.zeros((count, *shape))
        rows = np.asarray(value, dtype=float).reshape(-1, *shape)
        return rows[np.minimum(np.arange(count), len(rows) - 1)]

    yaw, pitch = column("yaw_rad", ()), column("pitch_rad", ())
    velocity, acceleration = column("velocity_mps", (3,)), column("acceleration_mps2", (3,))
    header = Header(stamp=s_to_stamp(time_s), frame_id=MAP_FRAME)
    path = Path(header=header)
    trajectory = MultiDOFJointTrajectory(header=header, joint_names=[BASE_FRAME])
    t0 = times[0]
    for k in range(count):
        orientation = camera_optical_quaternion(float(yaw[k]), float(pitch[k]))
        position = Point(x=float(positions[k, 0]), y=float(positions[k, 1]), z=float(positions[k, 2]))
        path.poses.append(PoseStamped(header=Header(stamp=s_to_stamp(time_s + times[k] - t0), frame_id=MAP_FRAME),
                                      pose=Pose(position=position, orientation=orientation)))
        trajectory.points.append(MultiDOFJointTrajectoryPoint(
            transforms=[Transform(translation=Vector3(x=position.x, y=position.y, z=position.z),
                                  rotation=yaw_quaternion(float(yaw[k])))],
            velocities=[Twist(linear=_vector(velocity[k]))],
            accelerations=[Twist(linear=_vector(acceleration[k]))],
            time_from_start=s_to_duration(float(times[k] - t0)),
        ))
    return path, trajectory
