"""An independent ROS 2 listener: subscribes to the graph with the generated message types only.

Rule: no ``cinempc`` import here -- what a third-party ROS package sees.  It reads fields by name
and writes a JSON summary (``--out``) once every topic has spoken (or at ``--timeout-s``).
Usage: ``python test/ros_listener.py --namespace NS --out FILE [--timeout-s S]``.
"""

from __future__ import annotations

import argparse
import json
import time

import rclpy
from cinempc_interfaces.msg import GroundTruth, PlanStatus, ShotSpec, SubjectTrackArray
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo
from tf2_msgs.msg import TFMessage
from vision_msgs.msg import Detection2DArray

RELIABLE = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)


def stamp(header) -> float:
    return header.stamp.sec + header.stamp.nanosec * 1e-9


def point(p) -> list[float]:
    return [p.x, p.y, p.z]


def transform(t) -> dict:
    return {"parent": t.header.frame_id, "child": t.child_frame_id, "stamp_s": stamp(t.header),
            "translation": [t.transform.translation.x, t.transform.translation.y, t.transform.translation.z],
            "rotation_xyzw": [t.transform.rotation.x, t.transform.rotation.y, t.transform.rotation.z,
                              t.transform.rotation.w]}


class Listener:
    """Keeps what each topic said, as plain data."""

    def __init__(self, node, namespace: str) -> None:
        self.seen: dict[str, dict] = {}
        self.tf_wall_s: list[float] = []
        self.tf: dict[float, list[dict]] = {}
        self.tf_static: list[dict] = []
        self.truth: dict[float, dict] = {}
        self.truth_subjects: dict[float, list[dict]] = {}
        self.track_ids: dict[float, list[int]] = {}  # per camera frame (stamp): perception's subjects
        self.detection_ids: dict[float, list[int]] = {}  # and the track ids its detections carry
        ns = f"/{namespace}" if namespace else ""
        subscriptions = [
            (SubjectTrackArray, "perception/subjects", self.on_subjects, RELIABLE),
            (SubjectTrackArray, "sim/ground_truth/subjects", self.on_truth_subjects, RELIABLE),
            (GroundTruth, "sim/ground_truth", self.on_truth, RELIABLE),
            (ShotSpec, "director/shot", self.on_shot, LATCHED),
            (PlanStatus, "mpc/status", self.on_status, RELIABLE),
            (Detection2DArray, "perception/detections", self.on_detections, RELIABLE),
            (TFMessage, "tf", self.on_tf, QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)),
            (TFMessage, "tf_static", self.on_tf_static, LATCHED),
            (CameraInfo, "camera/camera_info", self.on_camera_info, RELIABLE),
        ]
        for kind, topic, callback, qos in subscriptions:
            node.create_subscription(kind, f"{ns}/{topic}", callback, qos)

    def _keep(self, topic: str, sample: dict) -> None:
        entry = self.seen.setdefault(topic, {"count": 0})
        entry["count"] += 1
        entry["last"] = sample

    def on_subjects(self, msg) -> None:
        self.track_ids[stamp(msg.header)] = [s.track_id for s in msg.subjects]
        self._keep("perception/subjects", {"frame_id": msg.header.frame_id, "stamp_s": stamp(msg.header),
                                           "subjects": [self.track(s) for s in msg.subjects]})

    @staticmethod
    def track(s) -> dict:
        return {"track_id": s.track_id, "name": s.name, "state": s.state, "height_m": s.height_m,
                "heading_rad": s.heading_rad, "dt_s": s.dt_s, "positions_m": [point(p) for p in s.positions_m],
                "velocities": len(s.velocities_mps), "covariance": len(s.covariance_m2)}

    def on_truth_subjects(self, msg) -> None:
        self.truth_subjects[stamp(msg.header)] = [self.track(s) for s in msg.subjects]

    def on_truth(self, msg) -> None:
        rig = msg.rig
        self.truth[stamp(msg.header)] = {"position_m": point(rig.position_m), "yaw_rad": rig.yaw_rad,
                                         "pitch_rad": rig.pitch_rad, "focal_length_m": rig.focal_length_m,
                                         "paused": msg.paused}

    def on_shot(self, msg) -> None:
        self._keep("director/shot", {"subjects": list(msg.subjects), "framing": msg.framing,
                                     "movement_type": msg.movement_type, "framing_constant": msg.FRAMING_MEDIUM})

    def on_status(self, msg) -> None:
        self._keep("mpc/status", {"status": msg.status, "holding": msg.holding, "solves": msg.solves,
                                  "cost_breakdown": {v.name: v.value for v in msg.cost_breakdown},
                                  "weights": len(msg.weights),
                                  "dropped": {v.name: v.value for v in msg.dropped_messages},
                                  "known_status": msg.status in (
                                      msg.STATUS_OPTIMAL, msg.STATUS_RELAXED, msg.STATUS_TRACKING,
                                      msg.STATUS_FALLBACK_SHIFTED, msg.STATUS_FALLBACK_HOLD, msg.STATUS_NO_SUBJECT,
                                      msg.STATUS_CONTROLLER_ERROR, msg.STATUS_HOLD, msg.STATUS_NO_STATE)})

    def on_detections(self, msg) -> None:
        self.detection_ids[stamp(msg.header)] = [int(d.id) for d in msg.detections if d.id]
        detections = [{"id": d.id, "class_id": d.results[0].hypothesis.class_id if d.results else "",
                       "score": d.results[0].hypothesis.score if d.results else None,
                       "center": [d.bbox.center.position.x, d.bbox.center.position.y],
                       "size": [d.bbox.size_x, d.bbox.size_y]} for d in msg.detections]
        entry = self.seen.get("perception/detections")
        if entry is None or detections or not entry["last"]["detections"]:  # keep the last non-empty frame
            self._keep("perception/detections", {"frame_id": msg.header.frame_id, "detections": detections})
        else:
            entry["count"] += 1

    def on_tf(self, msg) -> None:
        self.tf_wall_s.append(time.monotonic())
        for t in msg.transforms:
            self.tf.setdefault(stamp(t.header), []).append(transform(t))
        self._keep("tf", {"frames": sorted((t.header.frame_id, t.child_frame_id) for t in msg.transforms)})

    def on_tf_static(self, msg) -> None:
        self.tf_static = [transform(t) for t in msg.transforms]
        self._keep("tf_static", {"frames": sorted((t.header.frame_id, t.child_frame_id) for t in msg.transforms)})

    def on_camera_info(self, msg) -> None:
        self._keep("camera/camera_info", {"k": list(msg.k), "width": msg.width, "height": msg.height,
                                          "frame_id": msg.header.frame_id})

    def done(self, topics: list[str]) -> bool:
        detections = self.seen.get("perception/detections")
        return all(t in self.seen for t in topics) and len(self.tf_wall_s) >= 100 and \
            bool(set(self.tf) & set(self.truth) & set(self.truth_subjects)) and \
            (detections is None or any(self.detection_ids[s] for s in set(self.detection_ids) & set(self.track_ids)))

    def summary(self) -> dict:
        span = self.tf_wall_s[-1] - self.tf_wall_s[0] if len(self.tf_wall_s) > 1 else 0.0
        common = sorted(set(self.tf) & set(self.truth) & set(self.truth_subjects))[-5:]
        frames = [{"stamp_s": s, "detection_ids": self.detection_ids[s], "track_ids": self.track_ids[s]}
                  for s in sorted(set(self.detection_ids) & set(self.track_ids))]
        return {"seen": self.seen, "frames": frames, "tf_static": self.tf_static, "tf_messages": len(self.tf_wall_s),
                "tf_wall_span_s": span, "tf_stamps": sorted(self.tf)[-200:],
                "matched": [{"stamp_s": s, "tf": self.tf[s], "truth": self.truth[s],
                             "subjects": self.truth_subjects[s]} for s in common]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--namespace", default="")
    parser.add_argument("--out", required=True)
    parser.add_argument("--timeout-s", type=float, default=120.0)
    parser.add_argument("--topics", nargs="*", default=["perception/subjects", "director/shot", "mpc/status",
                                                        "perception/detections", "tf_static", "camera/camera_info"])
    options = parser.parse_args()
    rclpy.init()
    node = rclpy.create_node("independent_listener")
    listener = Listener(node, options.namespace)
    deadline = time.monotonic() + options.timeout_s
    while time.monotonic() < deadline and not listener.done(options.topics):
        rclpy.spin_once(node, timeout_sec=0.05)
    with open(options.out, "w", encoding="utf-8") as out:
        json.dump(listener.summary(), out)
    node.destroy_node()
    rclpy.shutdown()


if __name__ == "__main__":
    main()
