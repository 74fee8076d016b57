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

The conversions live in small modules by subject (``geometry``, ``rig``, ``camera``, ``subjects``,
``shot``, ``status``, ``world``, ``detections``); this package re-exports them, so a node calls
``convert.subjects_msg(...)`` and never needs to know which.
"""

from __future__ import annotations

import cinempc_interfaces.msg as ci
from geometry_msgs.msg import AccelStamped, PoseStamped
from nav_msgs.msg import Odometry, Path
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Header
from trajectory_msgs.msg import JointTrajectory, MultiDOFJointTrajectory
from vision_msgs.msg import Detection2DArray

from cinempc.nodes.convert.camera import (
    camera_info_msg,
    depth_from_msg,
    depth_msg,
    focal_length_mm_from_camera_info,
    image_from_msg,
    image_msg,
)
from cinempc.nodes.convert.detections import (
    PERSON_CLASS,
    detections_from_msg,
    detections_msg,
)
from cinempc.nodes.convert.geometry import (
    BASE_FRAME,
    CAMERA_FRAME,
    CAMERA_JOINTS,
    MAP_FRAME,
    ODOM_FRAME,
    SETPOINT_JOINTS,
    camera_optical_quaternion,
    quaternion_yaw_rad,
    s_to_duration,
    s_to_stamp,
    stamp_to_s,
    yaw_quaternion,
)
from cinempc.nodes.convert.rig import (
    accel_from_msg,
    accel_msg,
    camera_pose_msg,
    camera_state_msg,
    odometry_msg,
    plan_messages,
    rig_state_from_msgs,
    setpoint_from_msg,
    setpoint_msg,
)
from cinempc.nodes.convert.shot import (
    shot_from_msg,
    shot_msg,
)
from cinempc.nodes.convert.status import (
    plan_status_from_msg,
    plan_status_msg,
)
from cinempc.nodes.convert.subjects import (
    TRACK_STATES,
    checked_track_state,
    event_from_msg,
    event_msg,
    names_from_msg,
    names_msg,
    pins_from_msg,
    pins_msg,
    subject_to_dict,
    subject_track_from_msg,
    subject_track_msg,
    subjects_from_msg,
    subjects_msg,
)
from cinempc.nodes.convert.world import (
    ground_truth_from_msg,
    ground_truth_msg,
    obstacles_from_msg,
    obstacles_msg,
    rig_state_msg,
)

__all__ = [
    "ci",
    "AccelStamped",
    "PoseStamped",
    "Odometry",
    "Path",
    "CameraInfo",
    "Image",
    "JointState",
    "Header",
    "JointTrajectory",
    "MultiDOFJointTrajectory",
    "Detection2DArray",
    "MAP_FRAME",
    "ODOM_FRAME",
    "BASE_FRAME",
    "CAMERA_FRAME",
    "CAMERA_JOINTS",
    "SETPOINT_JOINTS",
    "stamp_to_s",
    "s_to_stamp",
    "s_to_duration",
    "yaw_quaternion",
    "quaternion_yaw_rad",
    "camera_optical_quaternion",
    "odometry_msg",
    "accel_msg",
    "accel_from_msg",
    "camera_state_msg",
    "rig_state_from_msgs",
    "camera_pose_msg",
    "setpoint_msg",
    "setpoint_from_msg",
    "plan_messages",
    "camera_info_msg",
    "focal_length_mm_from_camera_info",
    "image_msg",
    "depth_msg",
    "image_from_msg",
    "depth_from_msg",
    "subject_track_msg",
    "subject_track_from_msg",
    "subjects_msg",
    "subjects_from_msg",
    "subject_to_dict",
    "TRACK_STATES",
    "checked_track_state",
    "names_msg",
    "names_from_msg",
    "pins_msg",
    "pins_from_msg",
    "event_msg",
    "event_from_msg",
    "shot_msg",
    "shot_from_msg",
    "plan_status_msg",
    "plan_status_from_msg",
    "obstacles_msg",
    "obstacles_from_msg",
    "rig_state_msg",
    "ground_truth_msg",
    "ground_truth_from_msg",
    "PERSON_CLASS",
    "detections_msg",
    "detections_from_msg",
]
