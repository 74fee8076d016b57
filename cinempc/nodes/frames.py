"""TF for the rig: ``map -> odom -> base_link -> gimbal -> camera_optical`` (REP-103/105).

Rule: ``map -> odom`` (identity: the rig's odometry is already in the map frame) and
``gimbal -> camera_optical`` (the optical convention, x right, y down, z forward) are static and
latched on ``tf_static``; ``odom -> base_link`` (position, camera heading) and ``base_link ->
gimbal`` (pitch, positive up, so a rotation of -pitch about ``base_link`` y) go on ``tf`` with every
rig state.  The camera sits at ``base_link``'s origin, as ``camera/pose`` has it.  With a
namespace the topics are ``NS/tf`` and ``NS/tf_static`` (the multi-robot convention), so two rigs'
frames never collide.
"""

from __future__ import annotations

import math

from geometry_msgs.msg import Quaternion, Transform, TransformStamped, Vector3
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from std_msgs.msg import Header
from tf2_msgs.msg import TFMessage

from cinempc.graph import Topics
from cinempc.nodes.convert import BASE_FRAME, CAMERA_FRAME, MAP_FRAME, ODOM_FRAME, s_to_stamp, yaw_quaternion
from cinempc.state import RigState

GIMBAL_FRAME = "gimbal"
# tf2_ros's own profiles: dynamic transforms reliable with a deep queue, static ones latched
TF_QOS = QoSProfile(depth=100, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE)
TF_STATIC_QOS = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST, durability=DurabilityPolicy.TRANSIENT_LOCAL,
                           reliability=ReliabilityPolicy.RELIABLE)
# camera_optical in gimbal (x forward, y left, z up): its x is -y, its y is -z, its z is +x
OPTICAL_IN_GIMBAL = Quaternion(x=-0.5, y=0.5, z=-0.5, w=0.5)


def _transform(parent: str, child: str, time_s: float, rotation: Quaternion,
               translation: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> TransformStamped:
    x, y, z = (float(v) for v in translation)
    return TransformStamped(header=Header(stamp=s_to_stamp(time_s), frame_id=parent), child_frame_id=child,
                            transform=Transform(translation=Vector3(x=x, y=y, z=z), rotation=rotation))


def static_transforms(time_s: float = 0.0) -> TFMessage:
    """``map -> odom`` (identity) and ``gimbal -> camera_optical`` (optical convention)."""
    return TFMessage(transforms=[
        _transform(MAP_FRAME, ODOM_FRAME, time_s, Quaternion(w=1.0)),
        _transform(GIMBAL_FRAME, CAMERA_FRAME, time_s, OPTICAL_IN_GIMBAL),
    ])


def rig_transforms(state: RigState, time_s: float) -> TFMessage:
    """``odom -> base_link`` (position, heading) and ``base_link -> gimbal`` (pitch) at ``time_s``."""
    half = -float(state.pitch_rad) / 2.0  # positive pitch looks up: a negative rotation about y (FLU)
    return TFMessage(transforms=[
        _transform(ODOM_FRAME, BASE_FRAME, time_s, yaw_quaternion(float(state.yaw_rad)), tuple(state.position_m)),
        _transform(BASE_FRAME, GIMBAL_FRAME, time_s, Quaternion(x=0.0, y=math.sin(half), z=0.0, w=math.cos(half))),
    ])


class TfBroadcaster:
    """Publishes the static frames once (latched) and the rig's frames with every :meth:`send`."""

    def __init__(self, node: Node) -> None:
        self._dynamic = node.create_publisher(TFMessage, Topics.TF, TF_QOS)
        self._static = node.create_publisher(TFMessage, Topics.TF_STATIC, TF_STATIC_QOS)
        self._static.publish(static_transforms())

    def send(self, state: RigState, time_s: float) -> None:
        self._dynamic.publish(rig_transforms(state, time_s))
