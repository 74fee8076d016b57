"""Articulated actors: scripts are followed exactly, limbs really swing, the simulator reports ground truth."""

from __future__ import annotations

import math

import numpy as np
import pybullet as p
import pytest

from cinempc.state import Setpoint
from cinempc_sim.actors import ActorTimeline, GaitParams
from cinempc_sim.scenario import ActorSpec, Scenario, load_scenario
from cinempc_sim.simulator import Simulator, load_sim_parameters

GAIT = GaitParams(**load_sim_parameters()["actors"])

SCRIPT = {
    "name": "walker", "track_id": 7, "height_m": 1.8, "start_m": [0.0, 0.0], "start_heading_deg": 0.0,
    "script": [
        {"to": [10.0, 0.0], "speed_mps": 2.0},
        {"pause_s": 3.0},
        {"to": [10.0, 8.0], "speed_mps": 4.0},
        {"turn_to_deg": 180.0},
    ],
}


def _timeline(**changes) -> ActorTimeline:
    return ActorTimeline(ActorSpec(**{**SCRIPT, **changes}), GAIT)


def _time_at(timeline: ActorTimeline, x: float, y: float) -> float:
    """The time the timeline first reaches a waypoint (end of the segment that ends there)."""
    for seg in timeline.segments:
        if seg.end_m == (x, y) and seg.start_m != seg.end_m:
            return seg.t1_s
    raise AssertionError(f"waypoint {(x, y)} never reached")


def test_waypoints_speeds_pauses_and_turns_follow_the_script():
    tl = _timeline()
    t1 = _time_at(tl, 10.0, 0.0)
    assert t1 == pytest.approx(5.0)  # 10 m at 2 m/s, no turn needed (already facing +x)
    mid = tl.pose(2.5)
    np.testing.assert_allclose(mid.position_m, [5.0, 0.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(mid.velocity_mps, [2.0, 0.0, 0.0])
    # the pause: standing still at the waypoint for 3 s
    for t in (t1 + 0.1, t1 + 2.9):
        pose = tl.pose(t)
        np.testing.assert_allclose(pose.position_m, [10.0, 0.0, 0.0], atol=1e-9)
        assert np.all(pose.velocity_mps == 0.0)
    # then a turn on the spot to face +y (90 deg at the configured turn rate), then the run
    turn_s = 90.0 / GAIT.turn_rate_deg_s
    during_turn = tl.pose(t1 + 3.0 + turn_s / 2)
    assert during_turn.heading_rad == pytest.approx(math.radians(45.0), abs=1e-6)
    np.testing.assert_allclose(during_turn.position_m, [10.0, 0.0, 0.0], atol=1e-9)
    t2 = _time_at(tl, 10.0, 8.0)
    assert t2 == pytest.approx(t1 + 3.0 + turn_s + 2.0)
    running = tl.pose(t2 - 1.0)
    assert running.running and running.heading_rad == pytest.approx(math.pi / 2)
    assert np.linalg.norm(running.velocity_mps) == pytest.approx(4.0)
    # the final turn_to and then standing at the end forever
    end = tl.pose(t2 + 100.0)
    np.testing.assert_allclose(end.position_m, [10.0, 8.0, 0.0])
    assert abs(end.heading_rad) == pytest.approx(math.pi)
    assert not end.running and np.all(end.velocity_mps == 0)


def test_a_looping_script_returns_home_without_jumps():
    tl = _timeline(loop=True)
    times = np.arange(0.0, 3 * tl.duration_s, 0.05)
    positions = np.array([tl.pose(t).position_m for t in times])
    steps = np.linalg.norm(np.diff(positions, axis=0), axis=1)
    assert steps.max() <= 4.0 * 0.05 + 1e-6  # never faster than the fastest leg: no teleport at the wrap
    np.testing.assert_allclose(tl.pose(tl.duration_s * 2 + 1e-6).position_m, [0.0, 0.0, 0.0], atol=1e-3)


def test_gait_is_only_auto_run_above_the_threshold():
    walk = _timeline(script=[{"to": [10.0, 0.0], "speed_mps": GAIT.run_speed_threshold_mps - 0.1}])
    run = _timeline(script=[{"to": [10.0, 0.0], "speed_mps": GAIT.run_speed_threshold_mps}])
    forced = _timeline(script=[{"to": [10.0, 0.0], "speed_mps": 1.0, "gait": "run"}])
    assert not walk.pose(1.0).running and run.pose(1.0).running and forced.pose(1.0).running


@pytest.fixture(scope="module")
def crossing():
    sim = Simulator(load_scenario("crossing"), render=False)
    yield sim
    sim.close()


def _shin_bottom_z(sim: Simulator, actor_name: str) -> list[float]:
    actor = sim.actor_by_name(actor_name)
    return [p.getAABB(actor.body, link, physicsClientId=sim.client)[0][2] for link in (3, 5)]


def test_limbs_swing_in_anti_phase_and_feet_stay_on_the_ground(crossing):
    sim = crossing
    sim.reset()
    hold = Setpoint.hold_at(sim.rig_state())
    bob = sim.actor_by_name("bob")
    knee_x, ankle_gap, hand_gap = [], [], []
    for _ in range(30):
        sim.step(hold, 0.1)
        joints = bob.link_world_positions()
        heading = bob.pose.heading_rad
        fwd = np.array([math.cos(heading), math.sin(heading), 0.0])
        knee_x.append(float((joints["l_knee"] - joints["r_knee"]) @ fwd))
        hand_gap.append(float((joints["l_elbow"] - joints["r_elbow"]) @ fwd))
        lowest = min(_shin_bottom_z(sim, "bob"))
        ankle_gap.append(lowest)
    knee_x, hand_gap = np.array(knee_x), np.array(hand_gap)
    assert knee_x.max() > 0.15 and knee_x.min() < -0.15  # each leg takes its turn in front
    assert np.corrcoef(knee_x, hand_gap)[0, 1] < -0.8  # arms swing opposite to the legs
    assert max(abs(z) for z in ankle_gap) < 0.06  # the stance foot is on the ground, never under it


def test_standing_actor_has_straight_limbs_and_runner_swings_wider():
    spec = ActorSpec(**{**SCRIPT, "script": [{"to": [50.0, 0.0], "speed_mps": 1.4}]})
    run_spec = ActorSpec(**{**SCRIPT, "script": [{"to": [50.0, 0.0], "speed_mps": 4.5}]})
    scenario = Scenario(name="gaits", actors=[spec, run_spec.model_copy(update={"name": "runner", "track_id": 8})])
    with Simulator(scenario, render=False) as sim:
        walker, runner = sim.actors
        walk_max = max(max(abs(a) for a in walker.joint_angles(walker.timeline.pose(t))[0][:1])
                       for t in np.arange(0, 5, 0.05))
        run_max = max(max(abs(a) for a in runner.joint_angles(runner.timeline.pose(t))[0][:1])
                      for t in np.arange(0, 5, 0.05))
        assert run_max > walk_max * 1.4
        still = walker.joint_angles(walker.timeline.pose(1000.0))
        assert still[0] == [0.0] * 8 and still[1] == pytest.approx(walker.shape.hip_height_m)


def test_simulator_subjects_are_ground_truth_with_constant_velocity_prediction(crossing):
    sim = crossing
    sim.reset()
    hold = Setpoint.hold_at(sim.rig_state())
    for _ in range(20):
        sim.step(hold, 0.1)
    tracks = {t.name: t for t in sim.subjects(horizon_steps=15, dt_s=0.2)}
    assert set(tracks) == {"bob", "carol", "dave"}
    assert {t.track_id for t in tracks.values()} == {1, 2, 3}
    bob = tracks["bob"]
    truth = sim.actor_by_name("bob").timeline.pose(sim.time_s)
    np.testing.assert_allclose(bob.positions_m[0], truth.position_m, atol=1e-9)
    assert bob.positions_m.shape == (16, 3) and bob.dt_s == 0.2
    np.testing.assert_allclose(bob.positions_m[5] - bob.positions_m[0], 5 * 0.2 * truth.velocity_mps, atol=1e-9)
    assert bob.height_m == pytest.approx(1.78) and tracks["dave"].height_m == pytest.approx(1.92)
    assert np.all(tracks["dave"].velocities_mps == 0.0)  # standing still
    assert bob.matches("bob") and bob.matches("#1")
    with pytest.raises(ValueError):
        sim.subjects(horizon_steps=-1, dt_s=0.1)


def test_scenarios_have_three_distinct_looking_figures():
    scenario = load_scenario("crossing")
    looks = {(a.shirt_rgb, a.height_m, a.build) for a in scenario.actors}
    assert len(scenario.actors) >= 3 and len(looks) == len(scenario.actors)


def test_flying_into_a_person_is_a_collision():
    scenario = Scenario(name="bump", start={"position_m": [-3.0, 0.0, 1.5]},
                        actors=[{"name": "target", "track_id": 1, "start_m": [0.0, 0.0], "script": [{"pause_s": 60}]}])
    with Simulator(scenario, render=False) as sim:
        into = Setpoint(position_m=[1.0, 0.0, 1.5], velocity_mps=[0, 0, 0], acceleration_mps2=[0, 0, 0], yaw_rad=0,
                        yaw_rate_rad_s=0, pitch_rad=0, focal_length_mm=35, focus_distance_m=5, f_number=4)
        for _ in range(40):
            sim.step(into, 0.1)
        assert sim.collisions >= 1
