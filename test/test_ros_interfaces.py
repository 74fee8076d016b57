"""Typed ROS 2 interfaces and TF: type hashes, the TF tree, a real graph read by an independent listener.

* The stand-ins built here (``tf2_msgs``, ``vision_msgs``) carry the real Jazzy type hashes, so they
  interoperate with real ROS nodes; rosbags computes the same hashes from the ``.msg`` files.
* TF ``map -> odom -> base_link -> gimbal -> camera_optical`` puts a subject where the MPC's own
  projection (``cinempc.optics.project``) does.
* ``cinempc up sim --record``: a separate process with only the generated types reads subjects, shot,
  plan status and detections by field name; TF arrives at >= 20 Hz; the MCAP bag decodes with the
  standard ``mcap`` + ``mcap-ros2-support`` readers.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
VENV_SHARE = Path(sys.prefix) / "share"

# Published RIHS01 hashes of vision_msgs 4.x (Humble/Jazzy), as rosidl_generator_c writes them into the real
# package's detail/*__description.c (seen in a colcon build of ros-perception/vision_msgs: the
# detection2_d_array__description.c of github.com/borednuna/ipm-ws, build/vision_msgs/...).
REAL_VISION_MSGS_HASHES = {
    "Detection2DArray": "214274120007f4a683866481336b70310268cfa107aebe9d594a6acf75bda968",
    "Detection2D": "0d12b69df5c593b3455b7346fac8205437a7d4bcb09b9e0e0b2dde787ded38ea",
    "BoundingBox2D": "008eacbb0cf8f26e83795547bed013eec3675485ef386ec056d80eaaf1c1ce2f",
    "ObjectHypothesis": "51da43cec11c01957a64d1e05a24acd18aae7745ec30b74348ad5f6d634f7f90",
    "ObjectHypothesisWithPose": "41c12344c0396c48b81df12467c192d99b2a0eb1463c5c37194e4223251c80bc",
    "Point2D": "eab0e83f44ab4de92ceaf76dd7d0e7638f2bdd1d16ffbe16c7a136c48e407247",
    "Pose2D": "b0b5d1d7b4c20dd4fcde3ed1d4b289a919290572007d67a97043814db25d3648",
}
# The dependency hashes the same generated file expects: equal to Jazzy's, so that build was against Jazzy's
# std_msgs/geometry_msgs/builtin_interfaces (RIHS01 exists since Iron; Humble has no type hashes).
REFERENCE_DEPENDENCY_HASHES = {
    "std_msgs/msg/Header": "f49fb3ae2cf070f793645ff749683ac6b06203e41c891e17701b1cb597ce6a01",
    "geometry_msgs/msg/PoseWithCovariance": "9a7c0fd234b7f45c6098745ecccd773ca1085670e64107135397aee31c02e1bb",
    "builtin_interfaces/msg/Time": "b106235e25a4c5ed35098aa0a61a3ee9c9b18d197f398b0e4206cea9acf9c197",
}


def _built_hash(package: str, name: str) -> str:
    """The hash rosidl generated for the installed package (what its C type support announces on DDS)."""
    description = json.loads((VENV_SHARE / package / "msg" / f"{name}.json").read_text(encoding="utf-8"))
    return next(h["hash_string"] for h in description["type_hashes"] if h["type_name"] == f"{package}/msg/{name}")


def test_stand_ins_carry_the_real_jazzy_type_hashes():
    from rosbags.typesys import Stores, get_typestore

    jazzy = get_typestore(Stores.ROS2_JAZZY)
    assert _built_hash("tf2_msgs", "TFMessage") == jazzy.hash_rihs01("tf2_msgs/msg/TFMessage")
    for type_name, digest in REFERENCE_DEPENDENCY_HASHES.items():
        assert jazzy.hash_rihs01(type_name) == f"RIHS01_{digest}", type_name
    for name, digest in REAL_VISION_MSGS_HASHES.items():
        assert _built_hash("vision_msgs", name) == f"RIHS01_{digest}", name


def test_rosbags_computes_the_generated_hashes_from_the_msg_files():
    """The recorder's schemas (rosbags, from the .msg text) and the generated code agree on every type."""
    from cinempc.nodes.recorder import typestore_for

    for package in ("cinempc_interfaces", "vision_msgs"):
        names = sorted(p.stem for p in (ROOT / "interfaces" / package / "msg").glob("*.msg"))
        store = typestore_for([f"{package}/msg/{name}" for name in names])
        for name in names:
            assert store.hash_rihs01(f"{package}/msg/{name}") == _built_hash(package, name), (package, name)


def _compose(transforms: list[dict]) -> np.ndarray:
    """4x4 pose of the last child in the first parent, from a parent -> child chain."""
    from scipy.spatial.transform import Rotation

    pose = np.eye(4)
    for t in transforms:
        step = np.eye(4)
        step[:3, :3] = Rotation.from_quat(t["rotation_xyzw"]).as_matrix()
        step[:3, 3] = t["translation"]
        pose = pose @ step
    return pose


def _chain(transforms: list[dict], frames: tuple[str, ...]) -> list[dict]:
    by_child = {t["child"]: t for t in transforms}
    chain = []
    for parent, child in zip(frames, frames[1:], strict=False):
        assert child in by_child and by_child[child]["parent"] == parent, (parent, child, sorted(by_child))
        chain.append(by_child[child])
    return chain


FRAMES = ("map", "odom", "base_link", "gimbal", "camera_optical")


def _pixel_through_tf(transforms: list[dict], point_map: np.ndarray, k: np.ndarray) -> np.ndarray:
    camera_in_map = _compose(_chain(transforms, FRAMES))
    x, y, z = (np.linalg.inv(camera_in_map) @ np.append(point_map, 1.0))[:3]
    assert z > 0, "the subject is behind the camera"
    return (k @ np.array([x / z, y / z, 1.0]))[:2]


def test_tf_chain_projects_a_subject_where_the_mpc_does():
    """Pure frames: several rig poses, the TF chain and optics.project agree to a micro-pixel."""
    from cinempc import optics
    from cinempc.nodes import frames
    from cinempc.nodes.convert import ci  # noqa: F401 -- the interfaces are installed
    from cinempc.state import RigState

    k = optics.intrinsics_matrix(0.05, 0.0249, 1280, 720)
    focal_px = float(k[0, 0])
    for yaw, pitch in ((0.0, 0.0), (2.5, -0.4), (-1.2, 0.3), (3.1, -1.2)):
        state = RigState(position_m=[3.0, -2.0, 6.0], yaw_rad=yaw, pitch_rad=pitch)
        forward = np.array(optics.camera_axes(yaw, pitch)[2])
        subject = state.position_m + 12.0 * forward + np.array([0.5, -0.7, 0.3])
        msgs = [*frames.static_transforms().transforms, *frames.rig_transforms(state, 1.0).transforms]
        as_dicts = [{"parent": t.header.frame_id, "child": t.child_frame_id,
                     "translation": [t.transform.translation.x, t.transform.translation.y, t.transform.translation.z],
                     "rotation_xyzw": [t.transform.rotation.x, t.transform.rotation.y, t.transform.rotation.z,
                                       t.transform.rotation.w]} for t in msgs]
        u, v, depth = optics.project(subject, state.position_m, yaw, pitch, focal_px, 1280, 720)
        np.testing.assert_allclose(_pixel_through_tf(as_dicts, subject, k), [u, v], atol=1e-6)


# ------------------------------------------------------------------ the running graph

NAMESPACE = "typed"


@pytest.fixture(scope="module")
def recorded_graph(tmp_path_factory, ros_domain_env):
    """``cinempc up sim --record`` under a namespace, an independent listener's summary, then the bag."""
    tmp = tmp_path_factory.mktemp("typed")
    bag, summary_path = tmp / "bag", tmp / "listener.json"
    log = open(tmp / "up.log", "wb")  # noqa: SIM115
    up = subprocess.Popen([sys.executable, "-m", "cinempc", "up", "sim", "--namespace", NAMESPACE, "--record",
                           str(bag), "--param", "director_node:node.serve_web=false"],
                          env=ros_domain_env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        listener = subprocess.run([sys.executable, str(ROOT / "test" / "ros_listener.py"), "--namespace", NAMESPACE,
                                   "--out", str(summary_path), "--timeout-s", "240"],
                                  env=ros_domain_env, capture_output=True, text=True, timeout=300)
        assert listener.returncode == 0, listener.stderr[-3000:]
        deadline = time.monotonic() + 30  # the recorder must have met the latched shot and TF before we stop
        wanted = [f"first message on /{NAMESPACE}/{t}" for t in ("director/shot", "tf_static", "mpc/status")]
        while not all(w in (tmp / "up.log").read_text(errors="replace") for w in wanted):
            if time.monotonic() > deadline or up.poll() is not None:
                break
            time.sleep(0.2)
    finally:
        if up.poll() is None:
            up.send_signal(signal.SIGINT)
            try:
                up.wait(timeout=60)
            except subprocess.TimeoutExpired:
                up.kill()
        log.close()
    yield {"summary": json.loads(summary_path.read_text(encoding="utf-8")), "bag": bag,
           "log": (tmp / "up.log").read_text(errors="replace"), "returncode": up.returncode}


@pytest.mark.ros
@pytest.mark.slow
def test_an_independent_listener_reads_every_typed_topic_by_field(recorded_graph):
    seen = recorded_graph["summary"]["seen"]
    missing = {"perception/subjects", "director/shot", "mpc/status", "perception/detections", "tf", "tf_static",
               "camera/camera_info"} - set(seen)
    assert not missing, (missing, recorded_graph["log"][-3000:])
    shot = seen["director/shot"]["last"]
    assert shot["subjects"] and shot["framing"] and shot["framing_constant"] == "medium"
    status = seen["mpc/status"]["last"]
    assert status["known_status"] and isinstance(status["holding"], bool), status
    assert status["solves"] == 0 or status["weights"] > 0, status  # a solve reports the weights it used
    # every typed message the graph itself sent was accepted: none counted as malformed by the MPC
    assert not status["dropped"], status["dropped"]
    subjects = seen["perception/subjects"]["last"]
    assert subjects["frame_id"] == "map"
    for track in subjects["subjects"]:
        assert track["positions_m"] and track["velocities"] == len(track["positions_m"]) and track["dt_s"] > 0
    detections = seen["perception/detections"]["last"]
    assert detections["frame_id"] == "camera_optical" and detections["detections"], detections
    for detection in detections["detections"]:
        assert detection["class_id"] == "person" and 0.0 < detection["score"] <= 1.0
        assert min(detection["size"]) > 0
    frames = recorded_graph["summary"]["frames"]  # per camera frame: detection ids and the subjects' track ids
    assert frames, "no frame with both detections and subjects"
    for frame in frames:
        assert set(frame["detection_ids"]) <= set(frame["track_ids"]), frame
    assert any(frame["detection_ids"] for frame in frames), frames[-5:]


@pytest.mark.ros
@pytest.mark.slow
def test_tf_tree_is_published_at_20_hz_and_puts_the_subject_where_the_mpc_projects_it(recorded_graph):
    from cinempc import optics

    summary = recorded_graph["summary"]
    static = {(t["parent"], t["child"]) for t in summary["tf_static"]}
    assert static == {("map", "odom"), ("gimbal", "camera_optical")}
    assert sorted(map(tuple, summary["seen"]["tf"]["last"]["frames"])) == [("base_link", "gimbal"),
                                                                            ("odom", "base_link")]
    stamps = np.array(summary["tf_stamps"])
    graph_rate_hz = (len(stamps) - 1) / (stamps[-1] - stamps[0])
    wall_rate_hz = (summary["tf_messages"] - 1) / summary["tf_wall_span_s"]
    print(f"TF: {graph_rate_hz:.1f} Hz of graph time, {wall_rate_hz:.1f} Hz of wall time "
          f"({summary['tf_messages']} messages)")
    assert graph_rate_hz >= 20.0
    info = summary["seen"]["camera/camera_info"]["last"]
    assert info["frame_id"] == "camera_optical"
    k = np.array(info["k"]).reshape(3, 3)
    checked = 0
    for sample in summary["matched"]:
        rig = sample["truth"]
        focal_px = k[0, 0]
        for subject in sample["subjects"]:
            head = np.array(subject["positions_m"][0]) + [0.0, 0.0, 0.5 * subject["height_m"]]
            u, v, depth = optics.project(head, rig["position_m"], rig["yaw_rad"], rig["pitch_rad"], focal_px,
                                         info["width"], info["height"])
            if depth <= 0:
                continue
            pixel = _pixel_through_tf(summary["tf_static"] + sample["tf"], head, k)
            np.testing.assert_allclose(pixel, [u, v], atol=1e-3)
            checked += 1
    assert checked > 0, summary["matched"]


@pytest.mark.ros
@pytest.mark.slow
def test_the_recording_decodes_with_the_standard_mcap_ros2_reader(recorded_graph):
    from mcap.reader import make_reader
    from mcap_ros2.decoder import DecoderFactory

    assert recorded_graph["returncode"] == 0, recorded_graph["log"][-3000:]
    (path,) = list(Path(recorded_graph["bag"]).glob("*.mcap"))
    decoded: dict[str, object] = {}
    counts: dict[str, int] = {}
    with open(path, "rb") as stream:
        reader = make_reader(stream, decoder_factories=[DecoderFactory()])
        for schema, channel, _, message in reader.iter_decoded_messages():
            counts[channel.topic] = counts.get(channel.topic, 0) + 1
            decoded.setdefault(channel.topic, (schema.name, message))
    ns = f"/{NAMESPACE}"
    for topic, type_name in (("director/shot", "cinempc_interfaces/msg/ShotSpec"),
                             ("mpc/status", "cinempc_interfaces/msg/PlanStatus"),
                             ("perception/subjects", "cinempc_interfaces/msg/SubjectTrackArray"),
                             ("perception/detections", "vision_msgs/msg/Detection2DArray"),
                             ("sim/ground_truth", "cinempc_interfaces/msg/GroundTruth"),
                             ("world/obstacles", "cinempc_interfaces/msg/ObstacleArray"),
                             ("tf", "tf2_msgs/msg/TFMessage"), ("tf_static", "tf2_msgs/msg/TFMessage")):
        assert f"{ns}/{topic}" in decoded, (topic, sorted(counts))
        assert decoded[f"{ns}/{topic}"][0] == type_name
    shot = decoded[f"{ns}/director/shot"][1]
    assert shot.framing and list(shot.subjects)
    status = decoded[f"{ns}/mpc/status"][1]
    assert status.status and status.header.frame_id == "map"
    truth = decoded[f"{ns}/sim/ground_truth"][1]
    assert truth.camera_profile and truth.rig.f_number > 0 and truth.image_width_px > 0
    static = decoded[f"{ns}/tf_static"][1]
    assert {t.child_frame_id for t in static.transforms} == {"odom", "camera_optical"}
    print("mcap-ros2 decoded:", json.dumps(counts, indent=1), file=sys.stderr)

