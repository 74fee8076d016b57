"""``director_node``: the director's tablet web app on the ROS graph.

It owns a ``cinempc.director.live.LiveHub`` (the thread-safe meeting point of the web app
and a control loop) and plays the loop's part: it feeds the hub what the rig sees and does
(images, subjects, rig and lens, MPC status, link events) and, ``tick_rate_hz`` times a
second, asks it what the director wants.  The answer is published *latched*, so an MPC that
restarts gets it at once: ``director/shot`` (the active ``ShotSpec``) and
``director/hold`` (HOLD/RESUME), and for perception the director's names for tracks
(``director/subject_names``) and the people pointed out on the map (``director/subject_pins``).
``director/hold_shot`` and ``director/resume_shot`` (``std_srvs/Trigger``) do what the tablet's
buttons do, for a ground station or a script; ``director/set_shot`` (``SetShot``: fly this shot now)
and ``director/name_subject`` (``NameSubject``: "maya = #3") answer with the hub's verdict.

Not a lifecycle node: HOLD must work from the moment the process exists.
"""

from __future__ import annotations

import math

from cinempc_interfaces.srv import NameSubject, SetShot
from nav_msgs.msg import Odometry
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Bool
from std_srvs.srv import Trigger

from cinempc.config import load_camera_profile
from cinempc.graph import Topics
from cinempc.nodes import convert
from cinempc.nodes.base import CONTROL_QOS, LATCHED_QOS, SENSOR_QOS, DropCounter, guarded, nested_parameters, run
from cinempc.shot import ShotSpec, load_shot, parse_shot_document

DIRECTOR_SECTIONS = ("server", "security", "live", "queue")


class DirectorNode(Node):
    """Director web app + shot/hold publisher."""

    def __init__(self) -> None:
        super().__init__("director_node", automatically_declare_parameters_from_overrides=True)
        from cinempc.director.live import LiveHub
        from cinempc.director.security import DirectorSettings

        self.drops = DropCounter(self)
        self.p = nested_parameters(self, "node")
        everything = nested_parameters(self)
        flat: dict = {}
        for key in DIRECTOR_SECTIONS:
            flat.update(everything.get(key, {}) or {})
        flat["token"] = str(flat.get("token") or "")
        self.settings = DirectorSettings(**flat)
        self.camera = load_camera_profile(everything["camera_profile"]) if "camera_profile" in everything else None
        self.hub = LiveHub(self.settings, clock=self._now_s)
        self.server = None
        self._published_entry: int | None = None
        self._published_shot: ShotSpec | None = None
        self._published_hold: bool | None = None
        self._has_shot = False
        self._odometry: Odometry | None = None
        self._camera_state: JointState | None = None
        self._info: CameraInfo | None = None
        self._last_frame_s = -math.inf

        self.pub_shot = self.create_publisher(convert.ci.ShotSpec, Topics.SHOT, LATCHED_QOS)
        self.pub_hold = self.create_publisher(Bool, Topics.HOLD, LATCHED_QOS)
        self.pub_names = self.create_publisher(convert.ci.SubjectNames, Topics.SUBJECT_NAMES, LATCHED_QOS)
        self._published_names: dict[int, str] | None = None
        self.pub_pins = self.create_publisher(convert.ci.SubjectPins, Topics.SUBJECT_PINS, LATCHED_QOS)
        self._published_pins: dict | None = None
        self.create_service(Trigger, Topics.HOLD_SERVICE, self.on_hold_service)
        self.create_service(Trigger, Topics.RESUME_SERVICE, self.on_resume_service)
        self.create_service(SetShot, Topics.SET_SHOT_SERVICE, self.on_set_shot_service)
        self.create_service(NameSubject, Topics.NAME_SUBJECT_SERVICE, self.on_name_subject_service)
        self.create_subscription(convert.ci.ShotSpec, Topics.DEFAULT_SHOT, self.on_default_shot, LATCHED_QOS)
        self.create_subscription(Image, Topics.IMAGE, self.on_image, SENSOR_QOS)
        self.create_subscription(CameraInfo, Topics.CAMERA_INFO, self.on_camera_info, CONTROL_QOS)
        self.create_subscription(Odometry, Topics.ODOMETRY, self.on_odometry, CONTROL_QOS)
        self.create_subscription(JointState, Topics.CAMERA_STATE, self.on_camera_state, CONTROL_QOS)
        self.create_subscription(convert.ci.SubjectTrackArray, Topics.PERCEPTION_SUBJECTS, self.on_subjects,
                                 CONTROL_QOS)
        self.create_subscription(convert.ci.PlanStatus, Topics.MPC_STATUS, self.on_mpc_status, CONTROL_QOS)
        self.create_subscription(convert.ci.DirectorEvent, Topics.LINK_EVENTS, self.on_link_event, CONTROL_QOS)
        self.create_subscription(convert.ci.DirectorEvent, Topics.PERCEPTION_EVENTS, self.on_perception_event,
                                 CONTROL_QOS)

        initial = str(self.p.get("initial_shot") or "").strip()
        if initial:
            shot = parse_shot_document(initial) if initial.startswith("{") else load_shot(initial)
            self.hub.start_shot(shot, source="initial_shot parameter")
            self._has_shot = True
        self.create_timer(1.0 / float(self.p["tick_rate_hz"]), self.tick)
        self.publish_hold(False)
        if self.p.get("serve_web", True):
            from cinempc.director.app import DirectorServer

            self.server = DirectorServer(self.hub, self.settings).start()
            self.get_logger().info(f"director app at {self.server.url}")

    def _now_s(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()

    # ----------------------------------------------------------------- director -> graph
    def tick(self) -> None:
        direction = self.hub.tick(self._now_s())
        if direction.shot is not None and (direction.shot_entry_id != self._published_entry
                                           or direction.shot != self._published_shot):
            self._published_entry, self._published_shot = direction.shot_entry_id, direction.shot
            self.pub_shot.publish(convert.shot_msg(direction.shot))
            self.get_logger().info(f"shot: {direction.shot.model_dump_json(exclude_none=True)}")
        self._has_shot = self._has_shot or direction.shot is not None
        self.publish_hold(direction.hold or direction.abort)
        if direction.subject_names != self._published_names:  # the tablet's "maya = #3" -> perception
            self._published_names = dict(direction.subject_names)
            self.pub_names.publish(convert.names_msg(direction.subject_names))
        if direction.subject_pins != self._published_pins:  # "carol is there" on the tablet's map -> perception
            self._published_pins = dict(direction.subject_pins)
            self.pub_pins.publish(convert.pins_msg({name: (pin.x_m, pin.y_m, pin.stamp_s)
                                                    for name, pin in direction.subject_pins.items()}))

    def publish_hold(self, hold: bool) -> None:
        if hold != self._published_hold:
            self._published_hold = hold
            self.pub_hold.publish(Bool(data=hold))

    def on_hold_service(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        self.hub.hold(source="ros service")
        self.publish_hold(True)  # at once, not at the next tick
        response.success, response.message = True, "HOLD latched"
        return response

    def on_resume_service(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        self.hub.resume(source="ros service")
        self.publish_hold(False)
        response.success, response.message = True, "resumed"
        return response

    def on_set_shot_service(self, request: SetShot.Request, response: SetShot.Response) -> SetShot.Response:
        try:
            shot = convert.shot_from_msg(request.shot)
        except ValueError as exc:
            response.accepted, response.message = False, str(exc)
            return response
        self.hub.start_shot(shot, source="ros service")
        self._has_shot = True
        response.accepted, response.message = True, f"flying {shot.model_dump_json(exclude_none=True)}"
        return response

    def on_name_subject_service(self, request: NameSubject.Request,
                                response: NameSubject.Response) -> NameSubject.Response:
        try:
            answer = self.hub.name_subject(int(request.track_id), request.name, source="ros service")
        except ValueError as exc:  # CommandRejected is a ValueError naming the problem
            response.success, response.message = False, str(exc)
            return response
        response.success, response.message = True, f"#{answer['track_id']} is now {answer['name']!r}"
        return response

    @guarded(Topics.DEFAULT_SHOT)
    def on_default_shot(self, msg: convert.ci.ShotSpec) -> None:
        shot = convert.shot_from_msg(msg)
        if not self._has_shot:  # the scenario proposes, the director (or initial_shot) disposes
            self.hub.start_shot(shot, source="scenario default")
            self._has_shot = True

    # ----------------------------------------------------------------- graph -> tablet
    @guarded(Topics.IMAGE)
    def on_image(self, msg: Image) -> None:
        now = self._now_s()
        if now - self._last_frame_s < 1.0 / float(self.p["live_frame_rate_hz"]):
            return
        self._last_frame_s = now
        self.hub.publish_frame(convert.image_from_msg(msg), time_s=convert.stamp_to_s(msg.header.stamp))

    @guarded(Topics.CAMERA_INFO)
    def on_camera_info(self, msg: CameraInfo) -> None:
        self._info = msg

    @guarded(Topics.ODOMETRY)
    def on_odometry(self, msg: Odometry) -> None:
        self._odometry = msg
        if self._camera_state is not None:
            self.hub.publish_rig(convert.rig_state_from_msgs(msg, self._camera_state), self.camera,
                                 time_s=convert.stamp_to_s(msg.header.stamp))

    @guarded(Topics.CAMERA_STATE)
    def on_camera_state(self, msg: JointState) -> None:
        self._camera_state = msg

    @guarded(Topics.PERCEPTION_SUBJECTS)
    def on_subjects(self, msg: convert.ci.SubjectTrackArray) -> None:
        from cinempc.director.live import perceived_subjects

        _, subjects = convert.subjects_from_msg(msg)
        if self._info is None or self._odometry is None or self._camera_state is None:
            self.hub.publish_subjects(*perceived_subjects(subjects, None, 1.0, 1, 1))
            return
        state = convert.rig_state_from_msgs(self._odometry, self._camera_state)
        self.hub.publish_subjects(*perceived_subjects(subjects, state, float(self._info.k[0]), int(self._info.width),
                                                      int(self._info.height)))

    @guarded(Topics.MPC_STATUS)
    def on_mpc_status(self, msg: convert.ci.PlanStatus) -> None:
        document = convert.plan_status_from_msg(msg)
        self.hub.publish_control(str(document.get("status", "?")), str(document.get("message", "")),
                                 holding=bool(document.get("holding", False)),
                                 solve_ms_p50=document.get("solve_ms_p50"))

    @guarded(Topics.LINK_EVENTS)
    def on_link_event(self, msg: convert.ci.DirectorEvent) -> None:
        self._log_event(msg, "link")

    @guarded(Topics.PERCEPTION_EVENTS)
    def on_perception_event(self, msg: convert.ci.DirectorEvent) -> None:
        """Perception's search for subjects ("searching for maya", "maya found again", "maya lost") -> the log."""
        self._log_event(msg, "perception")

    def _log_event(self, msg: convert.ci.DirectorEvent, default_kind: str) -> None:
        document = convert.event_from_msg(msg)
        self.hub.event(str(document.get("kind") or default_kind), str(document.get("message", "")),
                       str(document.get("level", "info")))


def main(args: list[str] | None = None) -> int:
    return run(DirectorNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
