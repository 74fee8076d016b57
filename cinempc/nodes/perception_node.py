"""``perception_node``: camera image + camera info + rig state -> tracked subjects with ids and predictions.

A thin adapter over ``cinempc.perception.PerceptionPipeline`` (detector, tracker, 3D
estimate, Kalman filter, names).  The intrinsics come from ``camera/camera_info`` of the
same moment, because the zoom changes them frame to frame; the pose from the latest
odometry and camera joints.  Output, one message each per processed frame -- also when empty, so
the MPC can tell "nobody in the picture" (hold on the MPC side) from "perception is down" (no
messages at all: the MPC's subject timeout): ``perception/subjects``
(``cinempc_interfaces/SubjectTrackArray``, each subject with the tracker's state in ``track_state``,
e.g. ``searching``) and ``perception/detections``
(``vision_msgs/Detection2DArray``: the detector's boxes, ``id`` = the subject's track id for the
box that measured it); and, when it changes, the search for subjects on ``perception/events``
(``cinempc_interfaces/DirectorEvent``, kind ``searching`` / ``found`` / ``lost``) for the director's tablet.
"""

from __future__ import annotations

import math

from geometry_msgs.msg import AccelStamped
from nav_msgs.msg import Odometry
from rclpy.lifecycle import LifecycleState, TransitionCallbackReturn
from sensor_msgs.msg import CameraInfo, Image, JointState

from cinempc.config import load_camera_profile
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


class PerceptionNode(CineLifecycleNode):
    """Perception adapter (lifecycle: configure loads the detector weights, activate subscribes)."""

    def __init__(self, **kwargs) -> None:
        super().__init__("perception_node", **kwargs)
        self._forget()

    def _forget(self) -> None:
        """The state of one configured session (cleared by cleanup)."""
        self.pipeline = None
        self._info: CameraInfo | None = None
        self._odometry: Odometry | None = None
        self._camera_state: JointState | None = None
        self._accel: AccelStamped | None = None
        self._state_time_s = -math.inf
        self._depth = None
        self._depth_stamp_s = -math.inf
        self.frames = 0
        self._searched: frozenset[str] = frozenset()  # refs the pipeline searched for at the last frame

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        from cinempc.perception.detector import build_detector
        from cinempc.perception.params import PerceptionParams
        from cinempc.perception.pipeline import PerceptionPipeline

        self.begin_configure()
        self.p = self.node_params()
        try:
            everything = nested_parameters(self)
            params = PerceptionParams.model_validate(everything["perception"])
            self.camera = load_camera_profile(everything["camera_profile"])
            self.pipeline = PerceptionPipeline(self.camera, params, build_detector(params))
        except (KeyError, ValueError, FileNotFoundError, RuntimeError) as exc:
            self.get_logger().error(f"cannot build the perception pipeline: {exc}")
            self.release_configured()
            return TransitionCallbackReturn.FAILURE
        self.pub_subjects = self.create_lifecycle_publisher(convert.ci.SubjectTrackArray, Topics.PERCEPTION_SUBJECTS,
                                                            CONTROL_QOS)
        self.pub_events = self.create_lifecycle_publisher(convert.ci.DirectorEvent, Topics.PERCEPTION_EVENTS,
                                                          CONTROL_QOS)
        self.pub_detections = self.create_lifecycle_publisher(convert.Detection2DArray, Topics.DETECTIONS,
                                                              CONTROL_QOS)
        self.create_subscription(Image, Topics.IMAGE, self.on_image, SENSOR_QOS)
        self.create_subscription(Image, Topics.DEPTH, self.on_depth, SENSOR_QOS)
        self.create_subscription(CameraInfo, Topics.CAMERA_INFO, self.on_camera_info, CONTROL_QOS)
        self.create_subscription(Odometry, Topics.ODOMETRY, self.on_odometry, CONTROL_QOS)
        self.create_subscription(JointState, Topics.CAMERA_STATE, self.on_camera_state, CONTROL_QOS)
        self.create_subscription(AccelStamped, Topics.ACCEL, self.on_accel, CONTROL_QOS)
        self.create_subscription(convert.ci.SubjectNames, Topics.SUBJECT_NAMES, self.on_subject_names, LATCHED_QOS)
        self.create_subscription(convert.ci.SubjectPins, Topics.SUBJECT_PINS, self.on_subject_pins, LATCHED_QOS)
        self.get_logger().info(f"perception ready: {params.backend} {params.weights}, camera {self.camera.name}")
        return TransitionCallbackReturn.SUCCESS

    def forget_configuration(self) -> None:
        self._forget()

    def _now_s(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    @guarded(Topics.CAMERA_INFO)
    def on_camera_info(self, msg: CameraInfo) -> None:
        convert.focal_length_mm_from_camera_info(msg, self.camera)
        self._info = msg

    @guarded(Topics.ODOMETRY)
    def on_odometry(self, msg: Odometry) -> None:
        if self._camera_state is not None:
            convert.rig_state_from_msgs(msg, self._camera_state)
        self._odometry = msg
        self._state_time_s = self._now_s()

    @guarded(Topics.CAMERA_STATE)
    def on_camera_state(self, msg: JointState) -> None:
        if self._odometry is not None:
            convert.rig_state_from_msgs(self._odometry, msg)
        self._camera_state = msg

    @guarded(Topics.ACCEL)
    def on_accel(self, msg: AccelStamped) -> None:
        convert.accel_from_msg(msg)
        self._accel = msg

    @guarded(Topics.SUBJECT_NAMES)
    def on_subject_names(self, msg: convert.ci.SubjectNames) -> None:
        """The director's names for track ids ("maya = #3"): bound in the tracker's namer."""
        self.pipeline.apply_director(names=convert.names_from_msg(msg))

    @guarded(Topics.SUBJECT_PINS)
    def on_subject_pins(self, msg: convert.ci.SubjectPins) -> None:
        """People the director pointed out on the map (the whole current set, latched): see
        :meth:`PerceptionPipeline.apply_director`."""
        self.pipeline.apply_director(pins=convert.pins_from_msg(msg))

    @guarded(Topics.DEPTH)
    def on_depth(self, msg: Image) -> None:
        if self.p["use_depth"]:
            self._depth = convert.depth_from_msg(msg)
            self._depth_stamp_s = convert.stamp_to_s(msg.header.stamp)

    @guarded(Topics.IMAGE)
    def on_image(self, msg: Image) -> None:
        rgb = convert.image_from_msg(msg)
        if self._info is None or self._odometry is None or self._camera_state is None:
            return  # not ready yet: not an error
        if self._now_s() - self._state_time_s > float(self.p["max_state_age_s"]):
            raise ValueError("image arrived but the rig state is stale")
        stamp_s = convert.stamp_to_s(msg.header.stamp)
        info_width = self._info.width or rgb.shape[1]
        if (rgb.shape[1], rgb.shape[0]) != (info_width, self._info.height or rgb.shape[0]):
            raise ValueError(f"image {rgb.shape[1]}x{rgb.shape[0]} does not match camera_info "
                             f"{self._info.width}x{self._info.height}")
        rig = convert.rig_state_from_msgs(self._odometry, self._camera_state, self._accel)
        focal_mm = convert.focal_length_mm_from_camera_info(self._info, self.camera.with_resolution(
            int(self._info.width), int(self._info.height)))
        depth = self._depth if abs(self._depth_stamp_s - stamp_s) < 1e-6 and self._depth is not None \
            and self._depth.shape == rgb.shape[:2] else None
        camera = self.camera.with_resolution(rgb.shape[1], rgb.shape[0])
        if self.pipeline.camera != camera:
            self.pipeline.camera = camera
        subjects = self.pipeline.process(rgb, rig, stamp_s, focal_length_mm=focal_mm, depth_m=depth,
                                         horizon_steps=int(self.p["horizon_steps"]),
                                         dt_s=float(self.p["prediction_dt_s"]))
        self.frames += 1
        self.pub_subjects.publish(convert.subjects_msg(subjects, stamp_s))
        detections = self.pipeline.last_detections
        reported = {s.track_id for s in subjects}  # a box's id is a subject's id on perception/subjects
        boxes = {sid: box for sid, box in self.pipeline.last_subject_boxes.items() if sid in reported}
        self.pub_detections.publish(convert.detections_msg(detections.xyxy, detections.conf, boxes, stamp_s,
                                                           classes=detections.cls))
        self.report_search(stamp_s)

    def report_search(self, stamp_s: float) -> None:
        """The changes in the pipeline's search for subjects since the last frame, as director events."""
        from cinempc.perception.reports import search_reports

        for report in search_reports(self._searched, self.pipeline.searching, self.pipeline.lost):
            self.pub_events.publish(convert.event_msg(report.kind, report.message, report.level, stamp_s))
        self._searched = frozenset(self.pipeline.searching)


def main(args: list[str] | None = None) -> int:
    return run(PerceptionNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
