"""Every conversion between cinempc's plain data (``cinempc.state``, ``cinempc.shot``) and ROS 2 messages.

Rule: nodes publish and read typed messages only (no JSON on any topic); every conversion is
here, so a message change touches this file and ``interfaces/`` only.

Encodings (all ENU, REP-103/105; SI units on the wire, mm only inside ``cinempc.state``):

* rig state = ``nav_msgs/Odometry`` (``odom`` -> ``base_link``, twist in ``base_link``,
  orientation = yaw of the camera heading, ROS rule: twist in the child frame)
  + ``geometry_msgs/AccelStamped`` (``map``) + ``sensor_msgs/JointState`` camera joints
  :data:`CAMERA_JOINTS` (rad, rad, m, m, f-number).  In simulation ``map`` == ``odom``.
* setpoint = ``trajectory_msgs/JointTrajectory`` with one point over :data:`SETPOINT_JOINTS`
  (positions, velocities, accelerations); the ``hold`` joint is 1.0 for a safety hold.
* subjects, shot, plan status, obstacles, director names/pins/events, ground truth =
  ``cinempc_interfaces`` messages; detections = ``vision_msgs/Detection2DArray``.

Every ``*_from_msg`` raises ``ValueError`` with a specific message on malformed input
(NaN, wrong sizes, unknown enumerations) so a node can log it and drop the message.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cinempc_interfaces.msg as ci
import numpy as np
from builtin_interfaces.msg import Duration, Time
from geometry_msgs.msg import (
    AccelStamped,
    Point,
    Pose,
    PoseStamped,
    Quaternion,
    Transform,
    Twist,
    Vector3,
)
from nav_msgs.msg import Odometry, Path
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Header
from trajectory_msgs.msg import (
    JointTrajectory,
    JointTrajectoryPoint,
    MultiDOFJointTrajectory,
    MultiDOFJointTrajectoryPoint,
)
from vision_msgs.msg import (
    BoundingBox2D,
    Detection2D,
    Detection2DArray,
    ObjectHypothesis,
    ObjectHypothesisWithPose,
    Point2D,
    Pose2D,
)

from cinempc import optics
from cinempc.config import CameraProfile
from cinempc.shot import ShotSpec
from cinempc.state import Obstacle, RigState, Setpoint, SubjectTrack, require_finite

MAP_FRAME = "map"
ODOM_FRAME = "odom"
BASE_FRAME = "base_link"
CAMERA_FRAME = "camera_optical"

CAMERA_JOINTS = ("camera_yaw", "gimbal_pitch", "lens_focal_length", "lens_focus_distance", "lens_f_number")
SETPOINT_JOINTS = ("x", "y", "z", "camera_yaw", "gimbal_pitch", "lens_focal_length", "lens_focus_distance",
                   "lens_f_number", "hold")


# ------------------------------------------------------------------ time and small geometry


def stamp_to_s(stamp: Time) -> float:
    """``builtin_interfaces/Time`` in seconds."""
    return float(stamp.sec) + float(stamp.nanosec) * 1e-9


def s_to_stamp(time_s: float) -> Time:
    """Seconds as ``builtin_interfaces/Time`` (non-negative)."""
    if not math.isfinite(time_s) or time_s < 0:
        raise ValueError(f"time stamp must be a finite, non-negative number of seconds, got {time_s!r}")
    nanoseconds = int(round(time_s * 1e9))
    return Time(sec=nanoseconds // 1_000_000_000, nanosec=nanoseconds % 1_000_000_000)


def s_to_duration(time_s: float) -> Duration:
    nanoseconds = int(round(time_s * 1e9))
    return Duration(sec=nanoseconds // 1_000_000_000, nanosec=nanoseconds % 1_000_000_000)


def yaw_quaternion(yaw_rad: float) -> Quaternion:
    """Rotation about +z (ENU up) by ``yaw_rad``."""
    return Quaternion(x=0.0, y=0.0, z=math.sin(yaw_rad / 2.0), w=math.cos(yaw_rad / 2.0))


def quaternion_yaw_rad(q: Quaternion) -> float:
    """Heading of a quaternion (yaw of its ZYX Euler decomposition)."""
    return math.atan2(2.0 * (q.w * q.z + q.x * q.y), 1.0 - 2.0 * (q.y * q.y + q.z * q.z))


def _matrix_quaternion(matrix: np.ndarray) -> Quaternion:
    from scipy.spatial.transform import Rotation

    x, y, z, w = Rotation.from_matrix(matrix).as_quat()
    return Quaternion(x=float(x), y=float(y), z=float(z), w=float(w))


def camera_optical_quaternion(yaw_rad: float, pitch_rad: float) -> Quaternion:
    """Orientation of ``camera_optical`` (x right, y down, z forward) in ``map``."""
    right, down, forward = optics.camera_axes(yaw_rad, pitch_rad)
    return _matrix_quaternion(np.column_stack([right, down, forward]).astype(float))


def _vector(v) -> Vector3:
    return Vector3(x=float(v[0]), y=float(v[1]), z=float(v[2]))


def _array(v) -> np.ndarray:
    return np.array([v.x, v.y, v.z], dtype=float)


def _rotate_z(vector: np.ndarray, angle_rad: float) -> np.ndarray:
    c, s = math.cos(angle_rad), math.sin(angle_rad)
    return np.array([c * vector[0] - s * vector[1], s * vector[0] + c * vector[1], vector[2]])


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
    if abs(q.x**2 + q.y**2 + q.z**2 + q.w**2 - 1.0) > 1e-3:
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


# ------------------------------------------------------------------ subjects (cinempc_interfaces)


def subject_track_msg(track: SubjectTrack) -> ci.SubjectTrack:
    """One ``SubjectTrack`` with its prediction over the horizon (SI units, map frame)."""
    positions = np.asarray(track.positions_m, dtype=float)
    velocities = np.asarray(track.velocities_mps, dtype=float)
    covariance = [] if track.covariance_m2 is None else \
        np.asarray(track.covariance_m2, dtype=float).reshape(-1).tolist()
    return ci.SubjectTrack(
        track_id=int(track.track_id), name=track.name or "",
        state=ci.SubjectTrack.STATE_VISIBLE if track.visible else ci.SubjectTrack.STATE_COASTING,
        height_m=float(track.height_m), heading_rad=float(track.heading_rad()), dt_s=float(track.dt_s),
        positions_m=[Point(x=float(p[0]), y=float(p[1]), z=float(p[2])) for p in positions],
        velocities_mps=[_vector(v) for v in velocities], covariance_m2=covariance,
    )


def subject_track_from_msg(msg: ci.SubjectTrack) -> SubjectTrack:
    """Inverse of :func:`subject_track_msg`; ValueError names what is wrong."""
    what = f"subject #{msg.track_id}"
    count = len(msg.positions_m)
    if count == 0:
        raise ValueError(f"{what}: no positions")
    if len(msg.velocities_mps) != count:
        raise ValueError(f"{what}: {count} positions but {len(msg.velocities_mps)} velocities")
    covariance = np.asarray(msg.covariance_m2, dtype=float)
    if covariance.size not in (0, 9 * count):
        raise ValueError(f"{what}: covariance has {covariance.size} values, expected 0 or {9 * count}")
    if msg.state not in (ci.SubjectTrack.STATE_VISIBLE, ci.SubjectTrack.STATE_COASTING):
        raise ValueError(f"{what}: unknown state {msg.state}")
    if not (math.isfinite(msg.dt_s) and msg.dt_s > 0):
        raise ValueError(f"{what}: dt_s must be positive, got {msg.dt_s}")
    require_finite(what, covariance)
    return SubjectTrack(
        track_id=int(msg.track_id), name=msg.name or None, height_m=float(msg.height_m), dt_s=float(msg.dt_s),
        visible=msg.state == ci.SubjectTrack.STATE_VISIBLE,
        positions_m=np.array([[p.x, p.y, p.z] for p in msg.positions_m], dtype=float),
        velocities_mps=np.array([_array(v) for v in msg.velocities_mps], dtype=float),
        covariance_m2=covariance.reshape(count, 3, 3) if covariance.size else None,
    )


def subjects_msg(subjects: Sequence[SubjectTrack], time_s: float, frame_id: str = MAP_FRAME) -> ci.SubjectTrackArray:
    """Tracked subjects with ids, names, predictions and covariances."""
    return ci.SubjectTrackArray(header=Header(stamp=s_to_stamp(time_s), frame_id=frame_id),
                                subjects=[subject_track_msg(s) for s in subjects])


def subjects_from_msg(msg: ci.SubjectTrackArray) -> tuple[float, list[SubjectTrack]]:
    """``(stamp_s, subjects)``; ValueError names the first malformed entry (positions must be in ``map``)."""
    if msg.header.frame_id not in (MAP_FRAME, ""):
        raise ValueError(f"subjects: frame {msg.header.frame_id!r} is not {MAP_FRAME!r}")
    try:
        subjects = [subject_track_from_msg(entry) for entry in msg.subjects]
    except (TypeError, ValueError) as exc:
        raise ValueError(f"subjects: {exc}") from exc
    ids = [s.track_id for s in subjects]
    if len(set(ids)) != len(ids):
        raise ValueError(f"subjects: duplicate track ids {ids}")
    return stamp_to_s(msg.header.stamp), subjects


def subject_to_dict(track: SubjectTrack) -> dict:
    """A track as plain JSON-able data (reports and the director's web app; never on a topic)."""
    return {
        "track_id": int(track.track_id), "name": track.name, "height_m": float(track.height_m),
        "dt_s": float(track.dt_s), "visible": bool(track.visible),
        "positions_m": np.asarray(track.positions_m, dtype=float).round(6).tolist(),
        "velocities_mps": np.asarray(track.velocities_mps, dtype=float).round(6).tolist(),
        "covariance_m2": None if track.covariance_m2 is None
        else np.asarray(track.covariance_m2, dtype=float).round(8).tolist(),
    }


# ------------------------------------------------------------------ director: names, pins, events


def names_msg(names: dict[int, str]) -> ci.SubjectNames:
    """The director's ``{track_id: name}`` (the whole set, latched)."""
    return ci.SubjectNames(names=[ci.SubjectName(track_id=int(k), name=str(v)) for k, v in sorted(names.items())])


def names_from_msg(msg: ci.SubjectNames) -> dict[int, str]:
    """``{track_id: name}``; ValueError for an empty name or a track named twice."""
    names: dict[int, str] = {}
    for entry in msg.names:
        if not entry.name.strip():
            raise ValueError(f"subject names: track #{entry.track_id} has an empty name")
        if entry.track_id in names:
            raise ValueError(f"subject names: track #{entry.track_id} named twice")
        names[int(entry.track_id)] = entry.name
    return names


def pins_msg(pins: dict[str, tuple[float, float, float]]) -> ci.SubjectPins:
    """The director's map pins, ``{name: (x_m, y_m, stamp_s)}``: where (ground, map) and when (graph clock).

    The message is the whole current set (latched); a name that leaves it was found or named on a
    track, never "forget this person".
    """
    return ci.SubjectPins(pins=[ci.SubjectPin(name=str(name), position_m=Point(x=float(x), y=float(y), z=0.0),
                                              stamp=s_to_stamp(max(float(stamp), 0.0)))
                                for name, (x, y, stamp) in pins.items()])


def pins_from_msg(msg: ci.SubjectPins) -> dict[str, tuple[float, float, float]]:
    """``{name: (x_m, y_m, stamp_s)}``; ValueError names the first malformed entry."""
    from cinempc.shot import _check_subject_ref

    pins = {}
    for entry in msg.pins:
        try:
            clean = _check_subject_ref(entry.name)
        except ValueError as exc:
            raise ValueError(f"subject pins: {exc}") from exc
        if clean == "all" or clean.startswith("#"):
            raise ValueError(f"subject pins: {entry.name!r} is not a name")
        x, y, t = float(entry.position_m.x), float(entry.position_m.y), stamp_to_s(entry.stamp)
        require_finite(f"subject pin {entry.name!r}", [x, y, t])
        pins[clean] = (x, y, t)
    return pins


def event_msg(kind: str, message: str, level: str, time_s: float) -> ci.DirectorEvent:
    """A link or safety event for the director (``level``: info, warning or critical)."""
    return ci.DirectorEvent(header=Header(stamp=s_to_stamp(time_s)), kind=kind, message=message, level=level)


def event_from_msg(msg: ci.DirectorEvent) -> dict:
    """``{"kind", "message", "level", "time_s"}``; ValueError for an unknown level."""
    levels = (ci.DirectorEvent.LEVEL_INFO, ci.DirectorEvent.LEVEL_WARNING, ci.DirectorEvent.LEVEL_CRITICAL)
    if msg.level not in levels:
        raise ValueError(f"event: unknown level {msg.level!r} (allowed: {', '.join(levels)})")
    return {"kind": msg.kind, "message": msg.message, "level": msg.level, "time_s": stamp_to_s(msg.header.stamp)}


# ------------------------------------------------------------------ obstacles

_OBSTACLE_KINDS = {"sphere": ci.Obstacle.KIND_SPHERE, "cylinder": ci.Obstacle.KIND_CYLINDER,
                   "box": ci.Obstacle.KIND_BOX}


def obstacles_msg(obstacles: Sequence[Obstacle], background_distance_m: float | None = None,
                  time_s: float = 0.0) -> ci.ObstacleArray:
    """The world's obstacles (map frame); no background distance is 0."""
    return ci.ObstacleArray(
        header=Header(stamp=s_to_stamp(time_s), frame_id=MAP_FRAME),
        obstacles=[ci.Obstacle(
            kind=_OBSTACLE_KINDS[o.kind], name=o.name,
            center_m=Point(x=float(o.center_m[0]), y=float(o.center_m[1]), z=float(o.center_m[2])),
            radius_m=float(o.radius_m), height_m=float(o.height_m),
            half_extents_m=_vector(o.half_extents_m if o.half_extents_m is not None else np.zeros(3)),
        ) for o in obstacles],
        background_distance_m=float(background_distance_m or 0.0),
    )


def obstacles_from_msg(msg: ci.ObstacleArray) -> tuple[list[Obstacle], float | None]:
    """``(obstacles, background_distance_m or None)``; ValueError for unknown kinds or bad numbers."""
    kinds = {v: k for k, v in _OBSTACLE_KINDS.items()}
    obstacles = []
    for entry in msg.obstacles:
        if entry.kind not in kinds:
            raise ValueError(f"obstacles: unknown kind {entry.kind} on {entry.name!r}")
        kind = kinds[entry.kind]
        try:
            obstacle = Obstacle(kind=kind, center_m=np.array([entry.center_m.x, entry.center_m.y, entry.center_m.z]),
                                radius_m=float(entry.radius_m), height_m=float(entry.height_m),
                                half_extents_m=_array(entry.half_extents_m) if kind == "box" else None,
                                name=entry.name)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"obstacles: malformed entry: {exc}") from exc
        require_finite(f"obstacle {obstacle.name}", obstacle.center_m, obstacle.radius_m, obstacle.height_m)
        obstacles.append(obstacle)
    background = float(msg.background_distance_m)
    if not (math.isfinite(background) and background >= 0):
        raise ValueError(f"obstacles: background_distance_m must be positive or 0, got {background}")
    return obstacles, background if background > 0 else None


# ------------------------------------------------------------------ shot

# ShotSpec field -> message field, for the nested parts (the rest keep their names)
_SHOT_NESTED = {("movement", "type"): "movement_type", ("movement", "speed"): "movement_speed",
                ("movement", "speed_mps"): "movement_speed_mps", ("movement", "direction"): "movement_direction",
                ("focus", "target"): "focus_target", ("focus", "depth_of_field"): "focus_depth_of_field",
                ("focus", "rack_to"): "focus_rack_to", ("focus", "rack_duration_s"): "focus_rack_duration_s",
                ("lens", "focal_length_mm"): "lens_focal_length_mm"}
_SHOT_FLAT = ("name", "framing", "screen_position", "angle", "side", "distance_m", "duration_s")


def shot_msg(shot: ShotSpec) -> ci.ShotSpec:
    """The ShotSpec as typed fields (unset optional numbers are 0, unset strings empty)."""
    document = shot.model_dump()
    msg = ci.ShotSpec(subjects=list(shot.subjects))
    for (part, key), field in {**_SHOT_NESTED, **{(name, None): name for name in _SHOT_FLAT}}.items():
        value = document[part] if key is None else document[part][key]
        setattr(msg, field, (0.0 if field.endswith(("_s", "_m", "_mm", "_mps")) else "") if value is None else value)
    return msg


def shot_from_msg(msg: ci.ShotSpec) -> ShotSpec:
    """The ShotSpec in a message (ShotSpecError -- a ValueError -- names the bad field)."""
    from pydantic import ValidationError

    from cinempc.shot import ShotSpecError, describe_validation_error

    def value(field: str):
        raw = getattr(msg, field)
        return None if raw in ("", 0.0) else raw

    document: dict = {"subjects": list(msg.subjects), "movement": {}, "focus": {}, "lens": {}}
    for name in _SHOT_FLAT:
        if value(name) is not None:
            document[name] = value(name)
    for (part, key), field in _SHOT_NESTED.items():
        if value(field) is not None:
            document[part][key] = value(field)
    try:
        return ShotSpec(**document)
    except ValidationError as exc:
        raise ShotSpecError("shot message: " + describe_validation_error(exc)) from exc


# ------------------------------------------------------------------ MPC status


def _named_values(values: dict) -> list[ci.NamedValue]:
    return [ci.NamedValue(name=str(k), value=float(v)) for k, v in values.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)]


def _optional(value: float | None) -> float:
    return math.nan if value is None else float(value)


def plan_status_msg(document: dict, time_s: float) -> ci.PlanStatus:
    """The MPC node's status document (see ``MPCNode.status_document``) as ``PlanStatus``."""
    return ci.PlanStatus(
        header=Header(stamp=s_to_stamp(time_s), frame_id=MAP_FRAME), status=str(document["status"]),
        message=str(document.get("message") or ""), holding=bool(document.get("holding")),
        hold_reason=str(document.get("hold_reason") or ""), hold_cause=str(document.get("hold_cause") or ""),
        solve_status=str(document.get("solve_status") or ""), solves=int(document.get("solves", 0)),
        setpoints=int(document.get("setpoints", 0)), solve_ms=_optional(document.get("solve_ms")),
        iterations=int(document.get("iterations") or 0),
        solve_ms_p50=_optional(document.get("solve_ms_p50")), solve_ms_p95=_optional(document.get("solve_ms_p95")),
        cost_breakdown=_named_values(document.get("cost_breakdown") or {}),
        relaxations=[str(r) for r in document.get("relaxations") or []],
        weights=_named_values(document.get("weights") or {}),
        dropped_messages=_named_values(document.get("dropped_messages") or {}),
        subjects=[str(s) for s in document.get("subjects") or []],
    )


def plan_status_from_msg(msg: ci.PlanStatus) -> dict:
    """The status document back (NaN -> None), as the director and the tests read it."""
    def number(value: float) -> float | None:
        return None if math.isnan(value) else float(value)

    return {
        "status": msg.status, "message": msg.message, "holding": msg.holding, "hold_reason": msg.hold_reason,
        "hold_cause": msg.hold_cause, "solve_status": msg.solve_status or None, "solves": msg.solves,
        "setpoints": msg.setpoints, "solve_ms": number(msg.solve_ms), "iterations": msg.iterations,
        "solve_ms_p50": number(msg.solve_ms_p50), "solve_ms_p95": number(msg.solve_ms_p95),
        "cost_breakdown": {v.name: v.value for v in msg.cost_breakdown}, "relaxations": list(msg.relaxations),
        "weights": {v.name: v.value for v in msg.weights},
        "dropped_messages": {v.name: int(v.value) for v in msg.dropped_messages}, "subjects": list(msg.subjects),
        "stamp_s": stamp_to_s(msg.header.stamp),
    }


# ------------------------------------------------------------------ simulator ground truth


def rig_state_msg(state: RigState) -> ci.RigState:
    return ci.RigState(
        position_m=Point(x=float(state.position_m[0]), y=float(state.position_m[1]), z=float(state.position_m[2])),
        velocity_mps=_vector(state.velocity_mps), acceleration_mps2=_vector(state.acceleration_mps2),
        yaw_rad=float(state.yaw_rad), pitch_rad=float(state.pitch_rad), focal_length_m=state.focal_length_mm * 1e-3,
        focus_distance_m=float(state.focus_distance_m), f_number=float(state.f_number),
    )


def ground_truth_msg(document: dict, state: RigState, subjects: Sequence[SubjectTrack], time_s: float
                     ) -> ci.GroundTruth:
    """The simulator's truth: ``document`` holds the scalars (scenario_time_s, wall_time_s, paused, holding,
    collisions, background_distance_m, camera_profile, image_size_px)."""
    width, height = document["image_size_px"]
    return ci.GroundTruth(
        header=Header(stamp=s_to_stamp(time_s), frame_id=MAP_FRAME),
        scenario_time_s=float(document["scenario_time_s"]), wall_time_s=float(document["wall_time_s"]),
        paused=bool(document["paused"]), holding=bool(document["holding"]), rig=rig_state_msg(state),
        subjects=[subject_track_msg(s) for s in subjects], collisions=int(document["collisions"]),
        background_distance_m=float(document.get("background_distance_m") or 0.0),
        camera_profile=str(document["camera_profile"]), image_width_px=int(width), image_height_px=int(height),
    )


def ground_truth_from_msg(msg: ci.GroundTruth) -> dict:
    """The truth as plain data: ``rig`` holds ``RigState`` keyword arguments, ``subjects`` track dicts."""
    rig = msg.rig
    return {
        "time_s": stamp_to_s(msg.header.stamp), "scenario_time_s": msg.scenario_time_s,
        "wall_time_s": msg.wall_time_s, "paused": msg.paused, "holding": msg.holding,
        "rig": {"position_m": [rig.position_m.x, rig.position_m.y, rig.position_m.z],
                "velocity_mps": _array(rig.velocity_mps).tolist(),
                "acceleration_mps2": _array(rig.acceleration_mps2).tolist(), "yaw_rad": rig.yaw_rad,
                "pitch_rad": rig.pitch_rad, "focal_length_mm": rig.focal_length_m * 1e3,
                "focus_distance_m": rig.focus_distance_m, "f_number": rig.f_number},
        "subjects": [subject_to_dict(subject_track_from_msg(s)) for s in msg.subjects],
        "collisions": msg.collisions, "background_distance_m": msg.background_distance_m or None,
        "camera_profile": msg.camera_profile, "image_size_px": [msg.image_width_px, msg.image_height_px],
    }


# ------------------------------------------------------------------ detections (vision_msgs)

PERSON_CLASS = "person"


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two xyxy boxes."""
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - width * height
    return float(width * height / union) if union > 0 else 0.0


def detections_msg(boxes_xyxy, scores, subject_boxes: dict[int, np.ndarray], time_s: float,
                   class_names: Sequence[str] | None = None, classes=None, min_iou: float = 0.5) -> Detection2DArray:
    """One frame's detector boxes (pixels, xyxy) as ``vision_msgs/Detection2DArray`` in ``camera_optical``.

    ``id`` is the subject's track id (as in ``perception/subjects``) when the box is the one that
    measured that subject this frame (IoU >= ``min_iou``), empty otherwise; the hypothesis is the
    detector's class (``person`` by default) with its confidence.
    """
    header = Header(stamp=s_to_stamp(time_s), frame_id=CAMERA_FRAME)
    owners = {int(k): np.asarray(v, dtype=float) for k, v in subject_boxes.items()}
    detections = []
    for index, (box, score) in enumerate(zip(np.asarray(boxes_xyxy, dtype=float).reshape(-1, 4),
                                             np.asarray(scores, dtype=float).reshape(-1), strict=True)):
        best = max(owners.items(), key=lambda item: _iou(box, item[1]), default=None)
        track_id = str(best[0]) if best is not None and _iou(box, best[1]) >= min_iou else ""
        if track_id:
            owners.pop(best[0])
        cls = int(classes[index]) if classes is not None else 0
        label = class_names[cls] if class_names is not None and 0 <= cls < len(class_names) else \
            PERSON_CLASS if cls == 0 else str(cls)
        bbox = BoundingBox2D(center=Pose2D(position=Point2D(x=float(box[0] + box[2]) / 2,
                                                            y=float(box[1] + box[3]) / 2), theta=0.0),
                             size_x=float(box[2] - box[0]), size_y=float(box[3] - box[1]))
        hypothesis = ObjectHypothesisWithPose(hypothesis=ObjectHypothesis(class_id=label, score=float(score)))
        detections.append(Detection2D(header=header, results=[hypothesis], bbox=bbox, id=track_id))
    return Detection2DArray(header=header, detections=detections)


def detections_from_msg(msg: Detection2DArray) -> list[dict]:
    """``[{"xyxy", "score", "class_id", "track_id" (int or None)}]``: what a consumer reads back."""
    result = []
    for detection in msg.detections:
        c, w, h = detection.bbox.center.position, detection.bbox.size_x, detection.bbox.size_y
        best = max(detection.results, key=lambda r: r.hypothesis.score, default=None)
        result.append({"xyxy": [c.x - w / 2, c.y - h / 2, c.x + w / 2, c.y + h / 2],
                       "score": best.hypothesis.score if best else math.nan,
                       "class_id": best.hypothesis.class_id if best else "",
                       "track_id": int(detection.id) if detection.id.isdigit() else None})
    return result


# ------------------------------------------------------------------ camera


def camera_info_msg(camera: CameraProfile, focal_length_mm: float, time_s: float) -> CameraInfo:
    """Pinhole intrinsics at the current zoom (principal point at the centre, no distortion)."""
    k = optics.intrinsics_matrix(focal_length_mm * 1e-3, camera.sensor_width_m, camera.image_width_px,
                                 camera.image_height_px)
    p = np.zeros((3, 4))
    p[:, :3] = k
    return CameraInfo(
        header=Header(stamp=s_to_stamp(time_s), frame_id=CAMERA_FRAME),
        width=camera.image_width_px, height=camera.image_height_px, distortion_model="plumb_bob",
        d=[0.0] * 5, k=k.reshape(-1).tolist(), r=np.eye(3).reshape(-1).tolist(), p=p.reshape(-1).tolist(),
    )


def focal_length_mm_from_camera_info(msg: CameraInfo, camera: CameraProfile) -> float:
    """Focal length implied by a CameraInfo's fx for this camera's sensor (ValueError if implausible)."""
    fx = float(msg.k[0]) if len(msg.k) == 9 else math.nan
    if not (math.isfinite(fx) and fx > 0 and msg.width > 0):
        raise ValueError(f"camera info: fx must be positive and finite, got {fx}")
    return fx * camera.sensor_width_mm / float(msg.width)


def image_msg(rgb: np.ndarray, time_s: float) -> Image:
    """An HxWx3 uint8 RGB frame as ``rgb8``."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"image must be HxWx3, got shape {rgb.shape}")
    height, width = rgb.shape[:2]
    return Image(header=Header(stamp=s_to_stamp(time_s), frame_id=CAMERA_FRAME), height=height, width=width,
                 encoding="rgb8", is_bigendian=0, step=width * 3, data=rgb.tobytes())


def depth_msg(depth_m: np.ndarray, time_s: float) -> Image:
    depth = np.ascontiguousarray(depth_m, dtype=np.float32)
    height, width = depth.shape
    return Image(header=Header(stamp=s_to_stamp(time_s), frame_id=CAMERA_FRAME), height=height, width=width,
                 encoding="32FC1", is_bigendian=0, step=width * 4, data=depth.tobytes())


def image_from_msg(msg: Image) -> np.ndarray:
    """An ``rgb8``/``bgr8`` image as HxWx3 uint8 RGB; ValueError for empty or inconsistent images."""
    if msg.height == 0 or msg.width == 0:
        raise ValueError("image is empty (0 x 0)")
    if msg.encoding not in ("rgb8", "bgr8"):
        raise ValueError(f"image encoding {msg.encoding!r} not supported (rgb8, bgr8)")
    if msg.step < msg.width * 3 or len(msg.data) < msg.step * msg.height:
        raise ValueError(f"image data too short: {len(msg.data)} bytes for {msg.height} rows of step {msg.step}")
    buffer = np.frombuffer(bytes(msg.data), dtype=np.uint8)[: msg.step * msg.height].reshape(msg.height, msg.step)
    image = buffer[:, : msg.width * 3].reshape(msg.height, msg.width, 3)
    return image[:, :, ::-1].copy() if msg.encoding == "bgr8" else image.copy()


def depth_from_msg(msg: Image) -> np.ndarray:
    if msg.height == 0 or msg.width == 0 or msg.encoding != "32FC1":
        raise ValueError(f"depth image must be non-empty 32FC1, got {msg.width}x{msg.height} {msg.encoding!r}")
    if len(msg.data) < msg.height * msg.width * 4:
        raise ValueError("depth image data too short")
    return np.frombuffer(bytes(msg.data), dtype=np.float32)[: msg.height * msg.width].reshape(msg.height, msg.width)
