"""Every conversion between cinempc's plain data (``cinempc.state``) and ROS 2 messages, in one place.

Why one module: no ``cinempc_interfaces`` package can be built on this machine (see
``docs/ros.md``), so subjects, shots and the lens ride on standard messages with a
documented encoding.  Switching to custom ``.msg`` types later changes this file only.

Encodings (all ENU, REP-103/105; SI units on the wire, mm only inside ``cinempc.state``):

* rig state = ``nav_msgs/Odometry`` (``odom`` -> ``base_link``, twist in ``base_link``,
  orientation = yaw of the camera heading, ROS rule: twist in the child frame)
  + ``geometry_msgs/AccelStamped`` (``map``) + ``sensor_msgs/JointState`` camera joints
  :data:`CAMERA_JOINTS` (rad, rad, m, m, f-number).  In simulation ``map`` == ``odom``.
* setpoint = ``trajectory_msgs/JointTrajectory`` with one point over :data:`SETPOINT_JOINTS`
  (positions, velocities, accelerations); the ``hold`` joint is 1.0 for a safety hold.
* subjects = ``std_msgs/String`` JSON ``{"stamp_s", "frame_id", "subjects": [...]}``.
* shot = ``std_msgs/String`` holding the ShotSpec JSON (the schema in ``docs/shot_spec.schema.json``).

Every ``*_from_msg`` raises ``ValueError`` with a specific message on malformed input
(NaN, wrong sizes, unknown encodings) so a node can log it and drop the message.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

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
from std_msgs.msg import Header, String
from trajectory_msgs.msg import (
    JointTrajectory,
    JointTrajectoryPoint,
    MultiDOFJointTrajectory,
    MultiDOFJointTrajectoryPoint,
)

from cinempc import optics
from cinempc.config import CameraProfile
from cinempc.shot import ShotSpec, parse_shot_document
from cinempc.state import Obstacle, RigState, Setpoint, SubjectTrack, require_finite

MAP_FRAME = "map"
ODOM_FRAME = "odom"
BASE_FRAME = "base_link"
CAMERA_FRAME = "camera_optical"

CAMERA_JOINTS = ("camera_yaw", "gimbal_pitch", "lens_focal_length", "lens_focus_distance", "lens_f_number")
SETPOINT_JOINTS = ("x", "y", "z", "camera_yaw", "gimbal_pitch", "lens_focal_length", "lens_focus_distance",
                   "lens_f_number", "hold")
SUBJECTS_ENCODING = "cinempc/subjects/v1"


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
    """The ``camera_optical`` pose in ``map`` -- what TF would carry if tf2_msgs were available."""
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


# ------------------------------------------------------------------ subjects, obstacles, shot (JSON)


def subject_to_dict(track: SubjectTrack) -> dict:
    return {
        "track_id": int(track.track_id), "name": track.name, "height_m": float(track.height_m),
        "dt_s": float(track.dt_s), "visible": bool(track.visible),
        "positions_m": np.asarray(track.positions_m, dtype=float).round(6).tolist(),
        "velocities_mps": np.asarray(track.velocities_mps, dtype=float).round(6).tolist(),
        "covariance_m2": None if track.covariance_m2 is None
        else np.asarray(track.covariance_m2, dtype=float).round(8).tolist(),
    }


def subject_from_dict(data: dict) -> SubjectTrack:
    if not isinstance(data, dict):
        raise ValueError(f"subject entry must be an object, got {type(data).__name__}")
    try:
        covariance = data.get("covariance_m2")
        return SubjectTrack(
            track_id=int(data["track_id"]), name=data.get("name"), height_m=float(data.get("height_m", 1.75)),
            dt_s=float(data.get("dt_s", 0.1)), visible=bool(data.get("visible", True)),
            positions_m=np.asarray(data["positions_m"], dtype=float),
            velocities_mps=np.asarray(data["velocities_mps"], dtype=float),
            covariance_m2=None if covariance is None else np.asarray(covariance, dtype=float),
        )
    except KeyError as exc:
        raise ValueError(f"subject entry lacks field {exc.args[0]!r}") from exc
    except (TypeError, ValueError) as exc:
        raise ValueError(f"subject entry malformed: {exc}") from exc


def subjects_msg(subjects: Sequence[SubjectTrack], time_s: float, frame_id: str = MAP_FRAME) -> String:
    """Tracked subjects with ids, names, predictions and covariances as JSON."""
    return String(data=json.dumps({
        "encoding": SUBJECTS_ENCODING, "stamp_s": float(time_s), "frame_id": frame_id,
        "subjects": [subject_to_dict(s) for s in subjects],
    }))


def _json_document(msg: String, what: str) -> dict:
    try:
        document = json.loads(msg.data)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{what}: not JSON ({exc})") from exc
    if not isinstance(document, dict):
        raise ValueError(f"{what}: expected a JSON object, got {type(document).__name__}")
    return document


def subjects_from_msg(msg: String) -> tuple[float, list[SubjectTrack]]:
    """``(stamp_s, subjects)``; ValueError names the first malformed entry."""
    document = _json_document(msg, "subjects")
    if document.get("encoding") != SUBJECTS_ENCODING:
        raise ValueError(f"subjects: unknown encoding {document.get('encoding')!r}, expected {SUBJECTS_ENCODING}")
    stamp = float(document.get("stamp_s", math.nan))
    require_finite("subjects stamp", stamp)
    entries = document.get("subjects")
    if not isinstance(entries, list):
        raise ValueError("subjects: 'subjects' must be a list")
    subjects = [subject_from_dict(entry) for entry in entries]
    ids = [s.track_id for s in subjects]
    if len(set(ids)) != len(ids):
        raise ValueError(f"subjects: duplicate track ids {ids}")
    return stamp, subjects


def pins_msg(pins: dict[str, tuple[float, float, float]]) -> String:
    """The director's map pins, ``{name: (x_m, y_m, stamp_s)}``, as ``director/subject_pins`` JSON.

    ``{"carol": {"position_m": [8.0, -3.0], "stamp_s": 12.5}}``: where the person was pointed out
    (ground, ENU map frame) and when (the graph's clock).  The message is the whole current set
    (latched); a name that leaves it was found or named on a track, never "forget this person".
    """
    return String(data=json.dumps({str(name): {"position_m": [float(x), float(y)], "stamp_s": float(stamp)}
                                   for name, (x, y, stamp) in pins.items()}))


def pins_from_msg(msg: String) -> dict[str, tuple[float, float, float]]:
    """``{name: (x_m, y_m, stamp_s)}``; ValueError names the first malformed entry."""
    from cinempc.shot import _check_subject_ref

    document = _json_document(msg, "subject pins")
    pins = {}
    for name, entry in document.items():
        try:
            clean = _check_subject_ref(name)
        except ValueError as exc:
            raise ValueError(f"subject pins: {exc}") from exc
        if clean == "all" or clean.startswith("#"):
            raise ValueError(f"subject pins: {name!r} is not a name")
        position = entry.get("position_m") if isinstance(entry, dict) else None
        stamp = entry.get("stamp_s") if isinstance(entry, dict) else None
        numbers = [*position, stamp] if isinstance(position, list) and len(position) == 2 else None
        if numbers is None or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in numbers):
            raise ValueError(f"subject pins: {name!r} needs {{\"position_m\": [x, y], \"stamp_s\": t}} "
                             f"numbers, got {json.dumps(entry)[:120]}")
        try:
            x, y, t = (float(v) for v in numbers)
        except OverflowError as exc:
            raise ValueError(f"subject pin {name!r}: a number too large ({exc})") from exc
        require_finite(f"subject pin {name!r}", [x, y, t])
        pins[clean] = (x, y, t)
    return pins


def obstacles_msg(obstacles: Sequence[Obstacle], background_distance_m: float | None = None) -> String:
    return String(data=json.dumps({
        "obstacles": [{
            "kind": o.kind, "center_m": o.center_m.tolist(), "radius_m": o.radius_m, "height_m": o.height_m,
            "half_extents_m": None if o.half_extents_m is None else o.half_extents_m.tolist(), "name": o.name,
        } for o in obstacles],
        "background_distance_m": background_distance_m,
    }))


def obstacles_from_msg(msg: String) -> tuple[list[Obstacle], float | None]:
    document = _json_document(msg, "obstacles")
    try:
        obstacles = [Obstacle(**entry) for entry in document.get("obstacles", [])]
    except (TypeError, ValueError) as exc:
        raise ValueError(f"obstacles: malformed entry: {exc}") from exc
    for obstacle in obstacles:
        require_finite(f"obstacle {obstacle.name}", obstacle.center_m, obstacle.radius_m, obstacle.height_m)
    background = document.get("background_distance_m")
    if background is not None:
        background = float(background)
        if not (math.isfinite(background) and background > 0):
            raise ValueError(f"obstacles: background_distance_m must be positive, got {background}")
    return obstacles, background


def shot_msg(shot: ShotSpec) -> String:
    return String(data=shot.model_dump_json(exclude_none=True))


def shot_from_msg(msg: String) -> ShotSpec:
    """The ShotSpec in a message (ShotSpecError -- a ValueError -- names the bad field)."""
    return parse_shot_document(msg.data, source="shot message")


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
