"""The simulated product over real DDS: sim, perception, MPC and director nodes as separate processes.

One graph is started for the whole module (exactly the command lines ``cinempc up sim`` runs,
plus the MCAP recorder) on a private ROS domain, and a probe node in this process watches it.
In order: the default shot is achieved over 20 s of simulated time (the MPC fed the simulator's
true subjects, as the simulation issue's thresholds are defined; graded by ``sim/metrics.py`` from
the ground-truth topic); a weight changed at run time reaches the solver; malformed messages are
dropped without killing anything; the director's HOLD service holds the rig; with the MPC fed by
perception (the graph's own wiring), killing perception makes the MPC hold and a restarted
perception lets it plan again; Ctrl-C stops every node cleanly and the bag reads back.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.ros, pytest.mark.slow]

SHOT_SECONDS = 20.0
# The simulated world runs at most at this fraction of wall time (2 shared CI cores, five processes).
REAL_TIME_FACTOR = float(os.environ.get("CINEMPC_TEST_REAL_TIME_FACTOR", "1.0"))


class Probe:
    """A node in the test process: records what the graph says, publishes what a test injects."""

    def __init__(self, env: dict[str, str], mpc_subjects_topic: str) -> None:
        import rclpy
        from cinempc_interfaces.msg import GroundTruth, PlanStatus, ShotSpec
        from rclpy.executors import SingleThreadedExecutor
        from trajectory_msgs.msg import JointTrajectory

        from cinempc.nodes.base import CONTROL_QOS, LATCHED_QOS

        os.environ.update({k: env[k] for k in ("ROS_DOMAIN_ID", "RMW_IMPLEMENTATION", "ROS_AUTOMATIC_DISCOVERY_RANGE")})
        self.rclpy = rclpy
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node("cinempc_test_probe", context=self.context)
        self.lock = threading.Lock()
        self.truth: list[dict] = []
        self.status: list[dict] = []
        self.setpoints: list[tuple[float, bool]] = []
        self.shot = None  # the latest cinempc_interfaces/ShotSpec on director/shot
        self.node.create_subscription(GroundTruth, "sim/ground_truth", self._on_truth, CONTROL_QOS)
        self.node.create_subscription(PlanStatus, "mpc/status", self._on_status, CONTROL_QOS)
        self.node.create_subscription(JointTrajectory, "rig/setpoint", self._on_setpoint, CONTROL_QOS)
        self.node.create_subscription(ShotSpec, "director/shot", self._on_shot, LATCHED_QOS)
        self.mpc_subjects_topic = mpc_subjects_topic
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        while not self._stop.is_set():
            self.executor.spin_once(timeout_sec=0.05)

    def _on_truth(self, msg) -> None:
        from cinempc.nodes.convert import ground_truth_from_msg

        with self.lock:
            self.truth.append(ground_truth_from_msg(msg))

    def _on_status(self, msg) -> None:
        from cinempc.nodes.convert import plan_status_from_msg

        with self.lock:
            self.status.append(plan_status_from_msg(msg))

    def _on_setpoint(self, msg) -> None:
        from cinempc.nodes.convert import setpoint_from_msg, stamp_to_s

        with self.lock:
            self.setpoints.append((stamp_to_s(msg.header.stamp), setpoint_from_msg(msg).hold))

    def _on_shot(self, msg) -> None:
        with self.lock:
            self.shot = msg  # the director's ShotSpec message (typed)

    def latest_status(self) -> dict:
        with self.lock:
            return dict(self.status[-1]) if self.status else {}

    def wait_for(self, predicate, timeout_s: float, what: str):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self.lock:
                value = predicate()
            if value:
                return value
            time.sleep(0.1)
        raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}; last status: "
                             f"{self.latest_status()}")

    def publish(self, msg_type, topic: str, msg, qos=None, repeat: int = 3) -> None:
        from cinempc.nodes.base import CONTROL_QOS

        publisher = self.node.create_publisher(msg_type, topic, qos or CONTROL_QOS)
        deadline = time.monotonic() + 5.0
        while publisher.get_subscription_count() == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        for _ in range(repeat):
            publisher.publish(msg)
            time.sleep(0.1)

    def set_parameters(self, node_name: str, values: dict):
        from rcl_interfaces.srv import SetParameters
        from rclpy.parameter import Parameter

        client = self.node.create_client(SetParameters, f"/{node_name}/set_parameters")
        assert client.wait_for_service(timeout_sec=10.0), f"{node_name} has no set_parameters service"
        parameters = [Parameter(name, value=value).to_parameter_msg() for name, value in values.items()]
        request = SetParameters.Request(parameters=parameters)
        future = client.call_async(request)
        deadline = time.monotonic() + 10.0
        while not future.done() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert future.done(), "set_parameters did not answer"
        return future.result().results

    def call(self, srv_type, name: str, request):
        client = self.node.create_client(srv_type, name)
        assert client.wait_for_service(timeout_sec=10.0), f"no service {name}"
        future = client.call_async(request)
        deadline = time.monotonic() + 10.0
        while not future.done() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert future.done(), f"{name} did not answer"
        return future.result()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)
        self.node.destroy_node()
        self.rclpy.shutdown(context=self.context)


class Stack:
    """The running graph: processes by node name, their logs, the probe."""

    def __init__(self, tmp: Path, env: dict[str, str]) -> None:
        from cinempc.cli.up import Process, commands, recorder_argv

        self.env = {**env, "PYTHONUNBUFFERED": "1"}
        self.tmp = tmp
        self.bag = tmp / "bag"
        # Lockstep: the world waits for each replanning, and the solver's wall-clock deadline is lifted --
        # exactly what the closed-loop runner does, because on a busy CI machine a late solve is noise,
        # not physics.  Solve times are still measured (mpc/status) and printed.
        overrides = {"sim_node": {"node.real_time_factor": str(REAL_TIME_FACTOR), "node.lockstep": "true"},
                     "mpc_node": {"solver.deadline_ms": "1.0e9"},
                     "director_node": {"node.serve_web": "false"}}
        # The shot is graded with ground-truth subjects, as the simulation issue's thresholds are; perception
        # runs in the graph all along and feeds the MPC in the perception test (the graph's own remapping).
        self.commands = dict(commands("sim", overrides=overrides, ground_truth_subjects=True))
        self.perception_fed_mpc = dict(commands("sim", overrides=overrides))["mpc_node"]
        self.processes: dict[str, Process] = {}
        self.start("bag_recorder", recorder_argv("sim", self.bag))
        for name, argv in self.commands.items():
            self.start(name, argv)
        self.probe = Probe(env, "sim/ground_truth/subjects")

    def start(self, name: str, argv: list[str]) -> None:
        from cinempc.cli.up import Process

        log = open(self.tmp / f"{name}.log", "ab")  # noqa: SIM115 -- closed with the process
        self.processes[name] = Process(name, argv, subprocess.Popen(argv, env=self.env, stdout=log,
                                                                    stderr=subprocess.STDOUT,
                                                                    start_new_session=True))

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text(errors="replace")

    def alive(self) -> dict[str, bool]:
        return {name: process.alive for name, process in self.processes.items()}

    def stop(self) -> dict[str, int]:
        from cinempc.cli.up import _remove_override_files, stop_all

        stop_all(list(self.processes.values()), grace_s=15.0)
        _remove_override_files([*self.commands.values(), self.perception_fed_mpc])
        return {name: process.popen.returncode for name, process in self.processes.items()}


@pytest.fixture(scope="module")
def stack(tmp_path_factory, ros_domain_env):
    stack = Stack(tmp_path_factory.mktemp("ros_stack"), ros_domain_env)
    try:
        yield stack
    finally:
        stack.probe.close()
        stack.stop()
        for name in stack.processes:
            print(f"----- {name} (last lines)\n" + "\n".join(stack.log(name).splitlines()[-15:]))


def _grade(truth: list[dict], shot_msg) -> dict:
    """sim/metrics.py over the ground-truth topic: the same examiner as the closed-loop runs."""
    from cinempc.config import load_camera_profile
    from cinempc.nodes.convert import shot_from_msg
    from cinempc.shot import vocabulary
    from cinempc.state import RigState, SubjectTrack
    from cinempc_sim.metrics import MetricParams, RunRecord, TrueSubject, grade_step, subject_distance_m, summarise

    shot = shot_from_msg(shot_msg)
    params = MetricParams.from_config()
    record = RunRecord()
    first = truth[0]
    camera = load_camera_profile(first["camera_profile"]).with_resolution(*first["image_size_px"])
    start_s = first["scenario_time_s"]
    for doc in truth:
        state = RigState(**doc["rig"])
        subjects = [TrueSubject.from_track(SubjectTrack(**{**s, "positions_m": s["positions_m"][:1],
                                                           "velocities_mps": s["velocities_mps"][:1]}))
                    for s in doc["subjects"]]
        t = doc["scenario_time_s"] - start_s
        record.times_s.append(t)
        record.grades.append(grade_step(state, subjects, shot, camera, vocabulary(), doc["background_distance_m"],
                                        params, shot_time_s=t))
        record.accelerations_mps2.append(np.asarray(doc["rig"]["acceleration_mps2"]))
        record.subject_distances_m.append(min(subject_distance_m(state.position_m, s) for s in subjects))
        record.collisions = doc["collisions"]
    record.sim_time_s = truth[-1]["scenario_time_s"] - start_s
    record.wall_time_s = truth[-1]["wall_time_s"] - first["wall_time_s"]
    return summarise(record, params)


def test_sim_graph_achieves_the_default_shot(stack):
    probe = stack.probe
    budget_s = 120.0 + SHOT_SECONDS / REAL_TIME_FACTOR * 4.0
    probe.wait_for(lambda: probe.truth and probe.truth[-1]["scenario_time_s"] >= SHOT_SECONDS, budget_s,
                   f"{SHOT_SECONDS} s of simulated shot")
    assert all(stack.alive().values()), stack.alive()
    with probe.lock:
        truth = [d for d in probe.truth if not d["paused"] and d["scenario_time_s"] <= SHOT_SECONDS + 1e-6]
        shot_message = probe.shot
        setpoints = list(probe.setpoints)
    assert shot_message is not None, "the director never published a shot"
    metrics = _grade(truth, shot_message)
    status = probe.latest_status()
    print("ROS sim graph metrics:", json.dumps(metrics, indent=1),
          f"\nsubjects from ground truth; MPC solve ms p50/p95 "
          f"{status.get('solve_ms_p50')}/{status.get('solve_ms_p95')} over {status.get('solves')} solves")
    assert metrics["collisions"] == 0
    assert metrics["composition_error_rms"] <= 0.05
    assert metrics["in_focus_fraction"] >= 0.9
    # The setpoint stream: 20 per second of graph time while the shot ran.  A timer skips the ticks it missed
    # when its node waits for a CPU (2 cores, five processes, YOLO on the CPU): measured 18.1-19.6/s, every
    # gap one period or two.  What the autopilot needs is asserted: never a gap that its setpoint timeout
    # (sim_node's setpoint_timeout_s) would take for a lost link, and at least half the configured rate (a
    # timer at a wrong rate fails; a busy machine skipping ticks does not -- the old bar, 17/s, sat just under
    # the measured 18.1).
    from cinempc.config import load_parameters

    setpoint_timeout_s = load_parameters("nodes.yaml", "/**/sim_node")["node"]["setpoint_timeout_s"]
    setpoint_rate_hz = load_parameters("nodes.yaml", "/**/mpc_node")["node"]["setpoint_rate_hz"]
    t0, t1 = truth[0]["time_s"], truth[-1]["time_s"]
    during = sorted(t for t, _ in setpoints if t0 <= t <= t1)
    gaps = np.diff(during)
    print(f"setpoints: {len(during) / (t1 - t0):.1f}/s of graph time, gap p95 {np.percentile(gaps, 95):.3f} s, "
          f"max {gaps.max():.3f} s")
    assert len(during) / (t1 - t0) >= 0.5 * setpoint_rate_hz, f"{len(during)} setpoints in {t1 - t0:.1f} s"
    assert gaps.max() < setpoint_timeout_s, f"a {gaps.max():.2f} s gap in the setpoint stream"


def test_a_weight_changed_at_run_time_reaches_the_solver(stack):
    probe = stack.probe
    before = probe.wait_for(lambda: probe.status and probe.status[-1]["cost_breakdown"].get("focus", 0) > 0 and
                            dict(probe.status[-1]), 60, "a solve with a focus cost")
    refused = probe.set_parameters("mpc_node", {"weights.focus_follow": -1.0})
    assert not refused[0].successful and "focus_follow" in refused[0].reason
    refused = probe.set_parameters("mpc_node", {"horizon.horizon_steps": 10})
    assert not refused[0].successful and "structure" in refused[0].reason
    (result,) = probe.set_parameters("mpc_node", {"weights.focus_follow": 0.0})
    assert result.successful, result.reason
    after = probe.wait_for(
        lambda: probe.status and probe.status[-1]["weights"]["focus_follow"] == 0.0
        and probe.status[-1]["solves"] > before["solves"] + 2 and "focus" in probe.status[-1]["cost_breakdown"]
        and dict(probe.status[-1]), 60, "a solve with the new weight")
    assert after["cost_breakdown"]["focus"] == 0.0, after["cost_breakdown"]
    (result,) = probe.set_parameters("mpc_node", {"weights.focus_follow": before["weights"]["focus_follow"]})
    assert result.successful


def test_malformed_messages_are_logged_and_dropped(stack):
    from cinempc_interfaces.msg import ShotSpec, SubjectTrack, SubjectTrackArray
    from nav_msgs.msg import Odometry
    from sensor_msgs.msg import Image

    from cinempc.nodes import convert
    from cinempc.nodes.base import LATCHED_QOS, SENSOR_QOS
    from cinempc.shot import ShotSpec as Shot

    probe = stack.probe
    with probe.lock:
        original_shot = probe.shot  # the director's; the probe hears its own injections too
    nan_odometry = Odometry()
    nan_odometry.pose.pose.position.x = math.nan
    nan_odometry.pose.pose.orientation.w = 1.0
    probe.publish(Odometry, "rig/odometry", nan_odometry)
    probe.publish(Image, "camera/image_raw", Image(), qos=SENSOR_QOS)
    no_positions = SubjectTrackArray(header=convert.Header(frame_id="map"), subjects=[SubjectTrack(track_id=7)])
    probe.publish(SubjectTrackArray, probe.mpc_subjects_topic, no_positions)
    gigantic = convert.shot_msg(Shot())
    gigantic.framing = "gigantic"
    probe.publish(ShotSpec, "director/shot", gigantic, qos=LATCHED_QOS, repeat=1)
    status = probe.wait_for(lambda: probe.status and set(probe.status[-1]["dropped_messages"]) >= {
        "rig/odometry", "subjects", "director/shot"} and dict(probe.status[-1]), 30, "the MPC to report the drops")
    assert status["dropped_messages"]["rig/odometry"] >= 1
    # a well-formed shot about a subject nobody sees: the MPC holds instead of guessing
    probe.publish(ShotSpec, "director/shot", convert.shot_msg(Shot(subjects=["bob"], framing="medium")),
                  qos=LATCHED_QOS, repeat=1)
    probe.wait_for(lambda: probe.status and probe.status[-1]["holding"] and probe.status[-1]["subjects"], 30,
                   "a hold for the unknown subject 'bob'")
    probe.publish(ShotSpec, "director/shot", original_shot, qos=LATCHED_QOS, repeat=1)
    probe.wait_for(lambda: probe.status and not probe.status[-1]["holding"], 60, "flying again on the real shot")
    assert all(stack.alive().values()), stack.alive()
    assert "dropped malformed message on camera/image_raw" in stack.log("perception_node")
    assert "dropped malformed message on rig/odometry" in stack.log("mpc_node")


def test_director_hold_service_holds_the_rig_and_resume_releases_it(stack):
    from std_srvs.srv import Trigger

    probe = stack.probe
    probe.wait_for(lambda: probe.status and not probe.status[-1]["holding"], 60, "flying before HOLD")
    assert probe.call(Trigger, "director/hold_shot", Trigger.Request()).success
    status = probe.wait_for(lambda: probe.status and probe.status[-1]["holding"] and dict(probe.status[-1]), 20,
                            "the MPC to hold on the director's HOLD")
    assert status["hold_reason"] == "director HOLD"
    with probe.lock:
        last = probe.setpoints[-1]
    assert last[1], "the setpoint stream carries the hold flag"
    assert probe.call(Trigger, "director/resume_shot", Trigger.Request()).success
    probe.wait_for(lambda: probe.status and not probe.status[-1]["holding"], 30, "flying again after RESUME")


def test_killing_perception_holds_and_a_restart_recovers(stack):
    probe = stack.probe

    def perception_feeds_the_mpc(since: int):
        """A status (from the MPC started after index ``since``) planning on perception's subjects."""
        fresh = probe.status[since:]
        return fresh and fresh[-1]["solves"] > 0 and not fresh[-1]["hold_reason"].startswith(
            ("subjects lost", "no subjects")) and dict(fresh[-1])

    # the MPC as the sim graph wires it: subjects from perception (restarted like any node)
    mpc = stack.processes["mpc_node"]
    mpc.popen.send_signal(signal.SIGINT)
    try:
        code = mpc.popen.wait(timeout=20)
    except subprocess.TimeoutExpired:  # the node's log has every thread's stack (base.run's shutdown report)
        raise AssertionError(f"mpc_node still running 20 s after SIGINT:\n{stack.log('mpc_node')[-6000:]}") from None
    assert code == 0, stack.log("mpc_node")[-3000:]
    with probe.lock:
        since = len(probe.status)
    stack.start("mpc_node", stack.perception_fed_mpc)
    probe.wait_for(lambda: perception_feeds_the_mpc(since), 90, "the MPC planning on perception's subjects")

    perception = stack.processes["perception_node"]
    perception.popen.kill()  # as hard as a crash
    perception.popen.wait(timeout=10)
    try:
        probe.wait_for(lambda: probe.status and probe.status[-1]["hold_reason"].startswith("subjects lost"), 30,
                       "the MPC to hold without perception")
        with probe.lock:
            first = len(probe.setpoints) + 2  # skip any setpoint still in flight when the status arrived
        # counted in setpoints, not wall seconds: on a loaded CI machine the graph clock runs slower than wall time
        probe.wait_for(lambda: len(probe.setpoints) >= first + 10, 60, "10 setpoints during the outage")
        with probe.lock:
            holds = [hold for _, hold in probe.setpoints[first:]]
        assert all(holds), f"setpoints during the outage must be hold setpoints: {holds}"
    finally:  # restart perception even on failure, so the tests after this one see the whole graph
        with probe.lock:
            since = len(probe.status)
        stack.start("perception_node", stack.commands["perception_node"])
    try:
        status = probe.wait_for(lambda: perception_feeds_the_mpc(since), 120, "recovery after the restart")
    except AssertionError as exc:  # say what the restarted node was doing (CI once saw it publish nothing)
        raise AssertionError(f"{exc}\n----- restarted perception_node:\n{stack.log('perception_node')[-3000:]}") \
            from None
    print("after the perception restart:", status["status"], status["hold_reason"], status["subjects"])


def test_ctrl_c_stops_every_node_cleanly_and_the_bag_reads_back(stack):
    from rosbags.highlevel import AnyReader

    from cinempc.graph import graph, resolve_topic

    with stack.probe.lock:
        truth_seen = len(stack.probe.truth)
    codes = stack.stop()
    assert all(code == 0 for code in codes.values()), codes
    assert (stack.bag / "metadata.yaml").is_file() and list(stack.bag.glob("*.mcap"))
    with AnyReader([stack.bag]) as reader:
        counts = {c.topic: c.msgcount for c in reader.connections}
        for topic in graph("sim").recorded_topics:
            assert resolve_topic(topic) in counts, f"{topic} missing from the bag"
        for topic in ("/rig/odometry", "/rig/setpoint", "/camera/camera_info", "/mpc/plan", "/mpc/trajectory",
                      "/mpc/status", "/diagnostics", "/clock"):
            assert counts[topic] > 10, (topic, counts[topic])
        assert counts["/director/shot"] >= 1 and counts["/world/obstacles"] >= 1
        assert abs(counts["/sim/ground_truth"] - truth_seen) <= 0.1 * truth_seen + 20
        connection = next(c for c in reader.connections if c.topic == "/rig/setpoint")
        _, _, raw = next(reader.messages(connections=[connection]))
        message = reader.deserialize(raw, connection.msgtype)
        assert list(message.joint_names)[:3] == ["x", "y", "z"]
    print("bag:", json.dumps(counts, indent=1), file=sys.stderr)
