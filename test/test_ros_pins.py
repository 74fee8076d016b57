"""Pointing someone out on the tablet's map reaches perception over real DDS: web app -> director node -> topic.

The director node (with its web app on 127.0.0.1) and the perception node (lifecycle, real
detector weights loaded at configure) run in this process on a private ROS domain, each with
the parameter files the graph gives it; the pin travels as the tablet sends it: an HTTP POST
to the app, the hub, the director's latched ``director/subject_pins``, the perception node's
subscription, ``PerceptionPipeline.point_out``.  Malformed pin messages are logged and dropped.
"""

from __future__ import annotations

import os

import httpx
import numpy as np
import pytest
from waiting import spinning, wait_until

pytestmark = [pytest.mark.ros]

PARAMETER_FILES = ("nodes.yaml", "vehicle.yaml", "perception.yaml", "director.yaml")




@pytest.fixture(scope="module")
def graph(ros_domain_env, repo_root):
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    os.environ.update({k: ros_domain_env[k] for k in ("ROS_DOMAIN_ID", "RMW_IMPLEMENTATION",
                                                      "ROS_AUTOMATIC_DISCOVERY_RANGE")})
    args = ["--ros-args"]
    for name in PARAMETER_FILES:
        args += ["--params-file", str(repo_root / "config" / name)]
    args += ["-p", "use_sim_time:=false", "-p", "server.port:=0", "-p", "server.host:=127.0.0.1"]
    rclpy.init(args=args)
    from cinempc.nodes.director_node import DirectorNode
    from cinempc.nodes.perception_node import PerceptionNode

    perception = PerceptionNode()
    perception.autostart()
    assert perception.pipeline is not None, "the perception node did not configure"
    director = DirectorNode()
    probe = rclpy.create_node("cinempc_pins_probe")
    executor = SingleThreadedExecutor()
    for node in (perception, director, probe):
        executor.add_node(node)
    try:
        with spinning(executor):
            yield director, perception, probe
    finally:
        director.close()
        for node in (probe, director, perception):
            node.destroy_node()
        rclpy.shutdown()


_SIGNERS: dict[str, httpx.Auth] = {}


def signed(director) -> httpx.Auth:
    """Signs each request as the tablet page does (a session, a counter per request): state changes need it."""
    from cinempc.director.security import RequestSigner

    token = director.server.token.value
    return _SIGNERS.setdefault(token, RequestSigner(token).httpx_auth())


def post(director, path: str, body: dict) -> httpx.Response:
    return httpx.post(director.server.url + path, json=body, auth=signed(director), timeout=10.0)


def test_a_pin_from_the_tablet_reaches_the_perception_pipeline(graph):
    director, perception, _ = graph
    answer = post(director, "/api/subjects/point_out", {"name": "Carol", "x_m": 8.0, "y_m": -3.0})
    assert answer.status_code == 200, answer.text
    stamp_s = answer.json()["stamp_s"]
    pin = wait_until(lambda: perception.pipeline.names.pins.get("carol"), 15, "the pin in the perception pipeline")
    assert np.allclose(pin.position_m, [8.0, -3.0, 0.0])
    # the graph's clock (wall time here), never the hub's zero: a tap that came before the director node's
    # first tick (0.0 in the answer) is stamped at that tick
    assert pin.time_s > 1e9 and (stamp_s == 0.0 or pin.time_s == pytest.approx(stamp_s))
    # moved on the map: perception moves it too
    assert post(director, "/api/subjects/point_out", {"name": "carol", "x_m": 9.5, "y_m": -2.0}).status_code == 200
    wait_until(lambda: np.allclose(perception.pipeline.names.pins["carol"].position_m[:2], [9.5, -2.0]), 15,
               "the moved pin in the perception pipeline")
    # the director names track #5 "carol": the pin leaves the hub's set and perception binds the name
    assert post(director, "/api/subjects/5/name", {"name": "carol"}).status_code == 200
    wait_until(lambda: perception.pipeline.names.track_of("carol") == 5, 15, "carol bound to #5 in perception")
    assert "carol" not in perception.pipeline.names.pins
    # a pin the director takes back on the tablet: perception stops framing and looking for that person
    assert post(director, "/api/subjects/point_out", {"name": "dave", "x_m": 1.0, "y_m": 2.0}).status_code == 200
    wait_until(lambda: "dave" in perception.pipeline.names.pins, 15, "dave's pin in the perception pipeline")
    removed = httpx.delete(director.server.url + "/api/subjects/pins/dave", auth=signed(director), timeout=10.0)
    assert removed.status_code == 200, removed.text
    wait_until(lambda: "dave" not in perception.pipeline.names.pins, 15, "dave's pin withdrawn in perception")
    assert perception.pipeline.names.track_of("carol") == 5  # a found pin leaving the set unnamed nobody
    assert perception.drops.counts.get("director/subject_pins", 0) == 0


def test_malformed_pins_are_logged_and_dropped(graph):
    from cinempc.nodes import convert
    from cinempc.nodes.base import LATCHED_QOS

    _, perception, probe = graph
    publisher = probe.create_publisher(convert.ci.SubjectPins, "director/subject_pins", LATCHED_QOS)
    wait_until(lambda: publisher.get_subscription_count() > 0, 10, "the perception node's subscription")
    before = perception.drops.counts.get("director/subject_pins", 0)
    pins_before = perception.pipeline.names.pins
    nan_pin = convert.pins_msg({"dave": (1.0, 2.0, 1.0)})
    nan_pin.pins[0].position_m.x = float("nan")
    bad = [convert.pins_msg({"carol is over there!": (1.0, 2.0, 1.0)}), convert.pins_msg({"all": (1.0, 2.0, 1.0)}),
           convert.pins_msg({"#4": (1.0, 2.0, 1.0)}), nan_pin]
    for count, msg in enumerate(bad, start=before + 1):  # latched QoS keeps one message: one at a time
        publisher.publish(msg)
        wait_until(lambda count=count: perception.drops.counts.get("director/subject_pins", 0) >= count, 10,
                   f"the malformed pin message {msg!r} dropped")
    assert perception.pipeline.names.pins.keys() == pins_before.keys()
    # the node is alive and takes the next good message
    publisher.publish(convert.pins_msg({"erin": (2.0, 3.0, 100.0)}))
    pin = wait_until(lambda: perception.pipeline.names.pins.get("erin"), 10, "a good pin after the bad ones")
    assert np.allclose(pin.position_m, [2.0, 3.0, 0.0]) and pin.time_s == 100.0


def test_director_services_set_the_shot_and_name_a_subject(graph):
    """``director/set_shot`` and ``director/name_subject`` answer with the hub's verdict and reach the topics."""
    from cinempc_interfaces.srv import NameSubject, SetShot

    from cinempc.nodes import convert
    from cinempc.nodes.base import LATCHED_QOS
    from cinempc.shot import ShotSpec

    director, _, probe = graph
    shots: list = []
    names: list = []
    probe.create_subscription(convert.ci.ShotSpec, "director/shot", shots.append, LATCHED_QOS)
    probe.create_subscription(convert.ci.SubjectNames, "director/subject_names", names.append, LATCHED_QOS)

    def call(kind, name: str, request):
        client = probe.create_client(kind, name)
        assert client.wait_for_service(timeout_sec=20.0), name
        future = client.call_async(request)
        return wait_until(lambda: future.done() and future.result(), 15.0, f"an answer from {name}")

    wanted = ShotSpec(subjects=["alice"], framing="close_up", movement={"type": "orbit", "direction": "clockwise"})
    answer = call(SetShot, "director/set_shot", SetShot.Request(shot=convert.shot_msg(wanted)))
    assert answer.accepted, answer.message
    wait_until(lambda: shots and convert.shot_from_msg(shots[-1]) == wanted, 10.0, "the shot on director/shot")
    bad = convert.shot_msg(wanted)
    bad.movement_direction = "sideways"
    answer = call(SetShot, "director/set_shot", SetShot.Request(shot=bad))
    assert not answer.accepted and "direction" in answer.message
    assert convert.shot_from_msg(shots[-1]) == wanted  # a refused shot changes nothing

    answer = call(NameSubject, "director/name_subject", NameSubject.Request(track_id=3, name="Alice"))
    assert answer.success, answer.message
    wait_until(lambda: names and convert.names_from_msg(names[-1]).get(3) == "alice", 10.0, "the name published")
    answer = call(NameSubject, "director/name_subject", NameSubject.Request(track_id=4, name="b@d name"))
    assert not answer.success and answer.message


def test_the_search_for_a_subject_reaches_the_tablets_log(graph):
    """``perception/events``: the perception node's search ("searching for carol", then "carol found again")
    travels over DDS to the director node and lands in the hub's event log, once per change."""
    director, perception, _ = graph

    def told(text: str) -> list[dict]:
        return [e for e in director.hub.snapshot()["events"] if text in e["message"]]

    perception.pipeline.searching, perception.pipeline.lost = {"carol": 0.2}, []
    perception.report_search(100.0)
    (event,) = wait_until(lambda: told("searching for carol"), 15, "the search in the director's log")
    assert event["kind"] == "searching" and event["level"] == "info"
    perception.pipeline.searching = {"carol": 0.3}
    perception.report_search(100.1)  # still searching: nothing new to say
    perception.pipeline.searching = {}
    perception.report_search(100.2)
    wait_until(lambda: told("carol found again"), 15, "the find in the director's log")
    assert len(told("searching for carol")) == 1
    assert director.drops.counts.get("perception/events", 0) == 0
