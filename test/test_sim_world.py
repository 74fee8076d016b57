"""Scenarios and the static world: files validate, obstacles are the PyBullet geometry, runs replay exactly."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pybullet as p
import pytest

from cinempc.state import Setpoint
from cinempc_sim.scenario import Scenario, ScenarioError, load_scenario, scenario_paths
from cinempc_sim.simulator import Simulator

REQUIRED = {"single_walker", "runner", "two_depths", "crossing", "occlusion_trees", "stop_and_go",
            "open_field_dolly_zoom", "wind"}


def test_the_scenario_suite_has_every_required_world_and_each_default_shot_parses():
    scenarios = {path.stem: load_scenario(path) for path in scenario_paths()}
    assert REQUIRED <= set(scenarios)
    for name, scenario in scenarios.items():
        assert scenario.name == name
        shot = scenario.shot()
        assert shot.framing  # a valid ShotSpec
        assert scenario.wind.gust_std_mps >= 0
    assert scenarios["wind"].wind.mean_mps != (0.0, 0.0, 0.0)
    assert any(step.gait == "run" or step.speed_mps >= 2.6 for step in scenarios["runner"].actors[0].script)
    assert len(scenarios["two_depths"].actors) >= 2 and len(scenarios["crossing"].actors) >= 2


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_every_scenario_starts_with_its_subject_in_frame_and_no_contact(name):
    with Simulator(load_scenario(name)) as sim:
        sim.step(Setpoint.hold_at(sim.rig_state()), 0.1)
        frame = sim.render()
        primary = sim.scenario.actors[0].track_id
        assert (frame.segmentation == primary).sum() > 30, "the first actor should be on screen at t = 0"
        assert sim.collisions == 0
        assert all(o.distance_m(sim.rig_state().position_m) > 1.0 for o in sim.obstacles())


def _probe_distance(client: int, body: int, point) -> float:
    """PyBullet's own distance from a point (a tiny probe sphere) to a body."""
    probe_shape = p.createCollisionShape(p.GEOM_SPHERE, radius=1e-3, physicsClientId=client)
    probe = p.createMultiBody(0.0, probe_shape, -1, list(point), physicsClientId=client)
    try:
        points = p.getClosestPoints(probe, body, 100.0, physicsClientId=client)
        return min(c[8] for c in points) + 1e-3 if points else math.inf
    finally:
        p.removeBody(probe, physicsClientId=client)


@pytest.mark.parametrize("name", ["occlusion_trees", "two_depths"])
def test_obstacles_given_to_the_mpc_are_exactly_the_simulated_geometry(name):
    with Simulator(load_scenario(name), render=False) as sim:
        obstacles = sim.obstacles()
        assert len(obstacles) == len(sim.world.bodies)
        rng = np.random.default_rng(0)
        for obstacle, body in zip(obstacles, sim.world.bodies, strict=True):
            for _ in range(4):
                point = obstacle.center_m + rng.uniform(-4.0, 4.0, 3) + [0.0, 0.0, 3.0]
                truth = _probe_distance(sim.client, body, point)
                if truth > 0.02:  # outside: the primitive's distance is PyBullet's distance
                    assert obstacle.distance_m(point) == pytest.approx(truth, abs=0.05), obstacle.name
        near = sim.obstacles(near_m=10.0)
        assert 0 < len(near) < len(obstacles)


def test_background_distance_is_the_distance_to_the_backdrop_along_the_camera_heading():
    with Simulator(load_scenario("single_walker"), render=False) as sim:
        for yaw in (0.0, 0.7, 2.0, -2.5):
            sp = dataclasses.replace(Setpoint.hold_at(sim.rig_state()), yaw_rad=yaw, pitch_rad=0.0, hold=False)
            for _ in range(30):
                sim.step(sp, 0.1)
            pos = sim.rig_state().position_m
            heading = np.array([math.cos(yaw), math.sin(yaw), 0.0])
            near, far = pos + 0.5 * heading, pos + 500.0 * heading  # start outside the drone's own body
            hits = [h for h in p.rayTestBatch([near.tolist()], [far.tolist()], physicsClientId=sim.client)
                    if h[0] in sim.world.bodies[-4:]]
            assert hits, "a horizontal ray must end on the backdrop"
            assert sim.background_distance_m == pytest.approx(0.5 + 499.5 * hits[0][2], abs=0.05)


def test_reset_replays_the_same_run_exactly():
    with Simulator(load_scenario("wind"), seed=11, render=False) as sim:
        def run():
            sim.reset()
            sp = dataclasses.replace(Setpoint.hold_at(sim.rig_state()), position_m=[0.0, -3.0, 3.0], hold=False)
            out = []
            for _ in range(25):
                sim.step(sp, 0.1)
                out.append(np.concatenate([sim.rig_state().position_m, sim.subjects(2, 0.1)[0].positions_m[0]]))
            return np.array(out)

        np.testing.assert_array_equal(run(), run())


@pytest.mark.parametrize("mutation, message", [
    ({"actors": [{"name": "a", "track_id": 1, "script": [{"to": [1, 1], "pause_s": 2}]}]}, "exactly one"),
    ({"actors": [{"name": "a", "track_id": 1}, {"name": "b", "track_id": 1}]}, "unique"),
    ({"obstacles": [{"kind": "tree", "position_m": [1, 1]}]}, "radius_m and height_m"),
    ({"colour": "blue"}, "colour"),
    ({"default_shot": {"framing": "huge"}}, "framing"),
    ({"actors": []}, "actors"),
])
def test_invalid_scenarios_fail_with_the_field_named(tmp_path, mutation, message):
    import yaml

    document = {"name": "bad", "actors": [{"name": "a", "track_id": 1}], **mutation}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(ScenarioError, match=message):
        load_scenario(path)


def test_unknown_scenario_lists_the_known_ones():
    with pytest.raises(FileNotFoundError, match="single_walker"):
        load_scenario("no_such_world")


def test_simulator_accepts_a_scenario_name_and_rejects_bad_image_sizes():
    with Simulator("single_walker", render=False) as sim:
        assert isinstance(sim.scenario, Scenario) and sim.scenario.name == "single_walker"
    with pytest.raises(ValueError, match="image_size"):
        Simulator("single_walker", image_size=(0, 240))


def test_a_start_pose_outside_the_airspace_is_refused():
    scenario = load_scenario("single_walker").model_copy(update={"start": load_scenario("single_walker").start
                                                                 .model_copy(update={"position_m": (0.0, 0.0, 0.5)})})
    with pytest.raises(ValueError, match="outside the airspace"):
        Simulator(scenario, render=False)
