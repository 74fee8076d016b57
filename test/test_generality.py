"""Rules that make a shot work in scenes nobody tuned on: box obstacles as half-spaces, groups larger than the
OCP's subject slots, sides of a subject never seen moving, groups that fit their frame."""

from __future__ import annotations

import math

import numpy as np
import pytest
from mpc_helpers import track

from cinempc.config import load_vehicle_config
from cinempc.moves import move_table
from cinempc.mpc import CineMPC, load_mpc_params
from cinempc.mpc.references import assign_roles, bounding_members
from cinempc.shot import ShotSpec, preset, vocabulary
from cinempc.state import Obstacle, RigState


@pytest.mark.parametrize("point, normal, surface", [
    ([5.0, 0.0, 1.0], [1.0, 0.0, 0.0], [2.0, 0.0, 1.0]),  # facing the +x face
    ([5.0, 5.0, 1.0], [0.6, 0.8, 0.0], [2.0, 1.0, 1.0]),  # beside the vertical edge: the edge, diagonally
    ([0.0, 0.0, 5.0], [0.0, 0.0, 1.0], [0.0, 0.0, 3.0]),  # above the roof
    ([1.5, 0.2, 1.0], [1.0, 0.0, 0.0], [2.0, 0.2, 1.0]),  # inside: out through the nearest face
])
def test_a_box_separating_plane_touches_it_nearest_the_point(point, normal, surface):
    box = Obstacle("box", center_m=[0.0, 0.0, 1.5], half_extents_m=[2.0, 1.0, 1.5])
    n, q = box.separating_plane(point)
    assert np.allclose(n, normal) and np.allclose(q, surface)
    corners = np.array([[x, y, z] for x in (-2, 2) for y in (-1, 1) for z in (0, 3)], dtype=float)
    assert np.all(corners @ n <= n @ q + 1e-9)  # the whole box on the far side


def test_round_obstacles_give_planes_through_their_nearest_point():
    ball = Obstacle("sphere", center_m=[0, 0, 2], radius_m=1.0)
    n, q = ball.separating_plane([3, 0, 2])
    assert np.allclose(n, [1, 0, 0]) and np.allclose(q, [1, 0, 2])
    column = Obstacle("cylinder", center_m=[0, 0, 0], radius_m=0.5, height_m=4.0)
    n, q = column.separating_plane([0, 2, 1])
    assert np.allclose(n, [0, 1, 0]) and np.allclose(q, [0, 0.5, 1])


@pytest.fixture(scope="module")
def mpc():
    vehicle = load_vehicle_config()
    return CineMPC(vehicle.camera(), vehicle, params=load_mpc_params().with_updates(solver={"deadline_ms": 1e9}))


def test_a_truck_past_a_building_keeps_its_clearance_and_solves_warm_in_few_iterations(mpc):
    """A building-sized box beside the path: the plan keeps the clearance, and warm solves stay short."""
    vehicle = load_vehicle_config()
    clearance = vehicle.airspace.obstacle_clearance_m + vehicle.vehicle.radius_m
    building = Obstacle("box", center_m=[2.0, 9.0, 6.0], half_extents_m=[6.0, 5.5, 6.0], name="building")
    subject = track(1, [0, -2, 0])
    mpc.reset()
    state = RigState(position_m=[-7.0, 1.5, 2.0], yaw_rad=-0.9, focal_length_mm=35)
    shot = preset("truck_right_full")
    iterations = []
    for step in range(60):
        result = mpc.solve(state, shot, [subject], [building], step * mpc.dt_s)
        assert result.status in ("optimal", "relaxed"), result.message
        for position in result.plan["position_m"][1:]:
            assert building.distance_m(position) >= clearance - 0.05
        iterations.append(result.iterations)
        state = result.planned_state(1)
    assert np.percentile(iterations[5:], 95) <= 30, iterations


def _group(positions):
    return [track(i + 1, p) for i, p in enumerate(positions)]


def test_a_group_larger_than_the_slots_is_held_by_its_bounding_members():
    # seen from the south: #1 middle and farther back, #2 far left, #3 far right, #4 middle and a little nearer
    group = _group([[0, 12, 0], [-3, 10, 0], [3, 10, 0], [0.5, 9, 0]])
    above = np.array([0.0, 0.0, 4.0])  # looking down: the far middle head is the highest in the picture
    assert {s.track_id for s in bounding_members(group, above, 3)} == {1, 2, 3}
    below = np.array([0.0, 0.0, 1.0])  # looking up: the nearer one's head is
    assert {s.track_id for s in bounding_members(group, below, 3)} == {2, 3, 4}
    camera = np.array([0.0, 0.0, 2.0])
    roles = assign_roles(ShotSpec(framing="wide"), group, camera, max_slots=3)
    assert {s.track_id for s in roles.slots} >= {1, 2, 3}  # the primary always keeps its slot
    assert sum(roles.represents.values()) == 4  # every framed subject counts in the composition


def test_a_side_is_not_asked_of_a_subject_never_seen_moving(mpc):
    """Facing is unknown until the subject moves: the camera frames it from where it is, then swings round."""
    mpc.reset()
    shot = ShotSpec(framing="medium", side="front", movement={"type": "follow"})
    still = track(1, [0, 0, 0])
    state = RigState(position_m=[-6.0, -0.5, 1.7], yaw_rad=0.05, focal_length_mm=40)
    result = None
    for step in range(40):
        result = mpc.solve(state, shot, [still], [], step * mpc.dt_s)
        state = result.planned_state(1)
    # never swung round to some assumed "front": still on the west side where it started
    assert state.position_m[0] < -3.0, state.position_m
    assert result.phase is not None and result.phase.name != "ACQUIRE"
    for step in range(40, 120):
        walking = track(1, [0, 0, 0], (1.0, 0.0, 0.0), time_s=(step - 40) * mpc.dt_s)
        result = mpc.solve(state, shot, [walking], [], step * mpc.dt_s)
        state = result.planned_state(1)
    assert state.position_m[0] > walking.positions_m[0][0] + 2.0, state.position_m  # in front of the walker now


def test_a_generated_group_fits_its_frame():
    """Every member within the frame's reach of the primary, never on top of another."""
    from cinempc_sim.scene_generator import generate_scene

    shot = preset("two_shot_deep")
    groups = 0
    for seed in range(3000, 3010):
        starts = [a.start_m for a in generate_scene(seed, shot, 15.0).actors]
        if len(starts) < 2:
            continue
        groups += 1
        assert max(math.dist(starts[0], b) for b in starts) <= 2.5 + 1e-6, seed
        assert min(math.dist(a, b) for i, a in enumerate(starts) for b in starts[i + 1:]) >= 0.8 - 0.05, seed
    assert groups >= 3


def test_a_medium_of_everyone_is_a_shot_of_one_person():
    from cinempc_sim.scene_generator import generate_scene

    shot = ShotSpec(framing="medium", movement={"type": "follow"})
    assert all(len(generate_scene(seed, shot, 10.0).actors) == 1 for seed in range(3000, 3005))
    assert vocabulary().framing_height_fraction["medium"] > 1.0
    assert move_table()["follow"].acquires_side


def test_a_wall_the_plan_flies_towards_gets_a_slot_before_obstacles_merely_near_the_drone(mpc):
    """Slots go to what the drone *and its plan* pass nearest: a wall 4 m ahead on the planned path beats six
    posts 2-3 m to the side of where the drone is now."""
    layout = mpc.ocp.layout
    posts = [Obstacle("cylinder", center_m=[-1.0 - 0.2 * i, 2.0 + 0.2 * i, 0], radius_m=0.2, height_m=3.0)
             for i in range(layout.max_obstacles)]
    wall = Obstacle("box", center_m=[6.0, 0.0, 2.0], half_extents_m=[0.2, 5.0, 2.0], name="wall")
    state = RigState(position_m=[0.0, 0.0, 2.0])
    path = np.array([[0.4 * k, 0.0, 2.0] for k in range(mpc.ocp.N + 1)])  # flying east, at the wall by k = 14
    P = np.zeros((mpc.ocp.np, mpc.ocp.N + 1))
    mpc.references.place_obstacles(P, state, [*posts, wall], path)
    planes = P[layout.slices["obs_plane"], 0]
    assert planes.sum() == 1.0  # the wall is in a slot, as a half-space
    slot = int(np.argmax(planes))
    normal = P[layout.slices["obs_normal"], 0][3 * slot:3 * slot + 3]
    assert np.allclose(normal, [-1.0, 0.0, 0.0])  # its west face, towards the drone


def test_after_the_rig_was_held_elsewhere_the_next_solve_starts_from_where_it_is(mpc):
    """A stored plan that has the rig somewhere else (a hold, a gust, a fallback) is no warm start: the solve
    after a 1 s hold is started from where the rig is (24 iterations here; warm-started from the stale plan, 38;
    a controller reset, 16)."""
    shot = preset("follow_medium")
    mpc.reset()
    state = RigState(position_m=[-6.0, 0.0, 1.8], yaw_rad=0.0, focal_length_mm=40)
    for step in range(30):
        result = mpc.solve(state, shot, [track(1, [0, 0, 0], (1.2, 0, 0), time_s=step * mpc.dt_s)], [],
                           step * mpc.dt_s)
        state = result.planned_state(1)
    held = state.with_(velocity_mps=np.zeros(3), acceleration_mps2=np.zeros(3))  # stopped 1 s, the walker walked on
    after_hold = mpc.solve(held, shot, [track(1, [0, 0, 0], (1.2, 0, 0), time_s=4.0)], [], 4.0)
    assert after_hold.status in ("optimal", "relaxed")
    assert after_hold.iterations <= 30, after_hold.iterations


@pytest.mark.parametrize("obstacle, points, distances", [
    (Obstacle("box", center_m=[1, 2, 3], half_extents_m=[1, 2, 1.5]),
     [[1, 2, 20], [4, 7, 3], [1.5, 2, 3]], [15.5, math.hypot(2, 3), -0.5]),
    (Obstacle("cylinder", center_m=[0, 0, 0], radius_m=0.5, height_m=4.0),
     [[3, 0, 2], [0, 0, 7], [3.5, 0, 8], [0.1, 0, 3.9]], [2.5, 3.0, 5.0, -0.4]),
    (Obstacle("sphere", center_m=[1, 1, 1], radius_m=2.0), [[1, 1, 5], [1, 1, 1]], [2.0, -2.0]),
])
def test_distances_of_many_points_at_once(obstacle, points, distances):
    """The vectorised distance (obstacle slots along a whole plan) gives each point's own distance."""
    assert np.allclose(obstacle.distances_m(np.array(points, dtype=float)), distances)
    assert all(math.isclose(obstacle.distance_m(p), d, abs_tol=1e-12) for p, d in zip(points, distances, strict=True))
