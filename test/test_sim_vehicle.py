"""The quadrotor, gimbal and lens in PyBullet: hover, step response, feed-forward, wind, rate limits, collisions."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from cinempc.state import Setpoint
from cinempc_sim.scenario import Scenario
from cinempc_sim.simulator import Simulator

DT_S = 0.1


def _scenario(**overrides) -> Scenario:
    doc = {
        "name": "vehicle_test",
        "start": {"position_m": [0.0, 0.0, 3.0], "yaw_deg": 0.0, "pitch_deg": 0.0,
                  "focal_length_mm": 35.0, "focus_distance_m": 5.0, "f_number": 4.0},
        "actors": [{"name": "stand_in", "track_id": 1, "start_m": [20.0, 0.0], "script": [{"pause_s": 100}]}],
        "obstacles": [{"kind": "pillar", "position_m": [0.0, 6.0], "radius_m": 0.5, "height_m": 8.0}],
        "background_distance_m": 50.0,
    }
    doc.update(overrides)
    return Scenario(**doc)


@pytest.fixture(scope="module")
def sim():
    simulator = Simulator(_scenario(), render=False)
    yield simulator
    simulator.close()


def _fly(sim: Simulator, setpoint: Setpoint, seconds: float) -> np.ndarray:
    """Step ``seconds`` and return the trajectory of positions (one row per step)."""
    rows = []
    for _ in range(int(round(seconds / DT_S))):
        sim.step(setpoint, DT_S)
        rows.append(sim.rig_state().position_m)
    return np.array(rows)


def test_hover_holds_position_level_and_still(sim):
    sim.reset()
    hold = Setpoint.hold_at(sim.rig_state())
    path = _fly(sim, hold, 5.0)
    assert np.max(np.linalg.norm(path - [0.0, 0.0, 3.0], axis=1)) < 0.02
    state = sim.rig_state()
    assert np.linalg.norm(state.velocity_mps) < 0.01
    assert abs(sim.vehicle.yaw_rad()) < 0.01
    assert sim.collisions == 0
    assert sim.time_s == pytest.approx(5.0)


@pytest.mark.parametrize("axis, step_m", [(0, 2.0), (1, -2.0), (2, 1.0)])
def test_position_step_response_settles_with_small_overshoot(sim, axis, step_m):
    sim.reset()
    start = sim.rig_state()
    target = start.position_m.copy()
    target[axis] += step_m
    setpoint = dataclasses.replace(Setpoint.hold_at(start), position_m=target, hold=False)
    path = _fly(sim, setpoint, 6.0)
    progress = (path[:, axis] - start.position_m[axis]) / step_m
    t_90 = (np.argmax(progress >= 0.9) + 1) * DT_S
    assert progress.max() > 0.9 and t_90 < 2.5, f"rise too slow: 90% at {t_90} s"
    assert progress.max() < 1.15, f"overshoot {100 * (progress.max() - 1):.1f}%"
    assert abs(progress[-1] - 1.0) < 0.02
    others = [i for i in range(3) if i != axis]
    assert np.max(np.abs(path[:, others] - start.position_m[others])) < 0.15  # axes stay decoupled


def test_velocity_and_acceleration_feedforward_track_a_moving_setpoint(sim):
    """A PX4-style setpoint stream (pos + vel + acc) for a 3 m/s pass is tracked to decimetres."""
    sim.reset()
    start = sim.rig_state().position_m.copy()
    errors = []
    t = 0.0
    for _ in range(80):
        # smooth start: v = 3 (1 - exp(-t)), a = 3 exp(-t)
        t_next = t + DT_S
        x = 3.0 * (t_next - (1.0 - math.exp(-t_next)))
        v = 3.0 * (1.0 - math.exp(-t_next))
        a = 3.0 * math.exp(-t_next)
        sp = Setpoint(position_m=start + [x, 0, 0], velocity_mps=[v, 0, 0], acceleration_mps2=[a, 0, 0],
                      yaw_rad=0.0, yaw_rate_rad_s=0.0, pitch_rad=0.0, focal_length_mm=35, focus_distance_m=5,
                      f_number=4)
        sim.step(sp, DT_S)
        t = t_next
        errors.append(np.linalg.norm(sim.rig_state().position_m - sp.position_m))
    assert max(errors[30:]) < 0.2  # rotor drag is not fed forward (as on PX4): the integrator absorbs it
    assert sim.rig_state().velocity_mps[0] == pytest.approx(3.0, abs=0.1)


def test_yaw_setpoint_turns_airframe_and_camera_within_rate_limits(sim):
    sim.reset()
    hold = Setpoint.hold_at(sim.rig_state())
    turn = dataclasses.replace(hold, yaw_rad=math.pi / 2, pitch_rad=-0.5, hold=False)
    limits = sim.vehicle_config.gimbal
    sim.step(turn, DT_S)
    state = sim.rig_state()
    assert 0 < state.yaw_rad <= limits.max_yaw_rate_rad_s * DT_S + 1e-9
    assert -limits.max_pitch_rate_rad_s * DT_S - 1e-9 <= state.pitch_rad < 0
    _fly(sim, turn, 3.0)
    state = sim.rig_state()
    assert state.yaw_rad == pytest.approx(math.pi / 2, abs=1e-3)
    assert state.pitch_rad == pytest.approx(-0.5, abs=1e-3)
    assert sim.vehicle.yaw_rad() == pytest.approx(math.pi / 2, abs=0.02)


def test_gimbal_pitch_stops_at_its_end_stop(sim):
    sim.reset()
    up = dataclasses.replace(Setpoint.hold_at(sim.rig_state()), pitch_rad=1.5, hold=False)
    _fly(sim, up, 2.0)
    assert sim.rig_state().pitch_rad == pytest.approx(sim.vehicle_config.gimbal.pitch_max_rad)


def test_lens_motors_move_at_rated_speed_and_stop_at_the_lens_limits(sim):
    sim.reset()
    profile = sim.camera_profile
    hold = Setpoint.hold_at(sim.rig_state())
    zoom = dataclasses.replace(hold, focal_length_mm=500.0, focus_distance_m=9.0, f_number=11.0, hold=False)
    sim.step(zoom, 0.5)
    state = sim.rig_state()
    assert state.focal_length_mm == pytest.approx(35.0 + 0.5 * profile.zoom_speed_mm_per_s)
    assert state.focus_distance_m == pytest.approx(min(9.0, 5.0 + 0.5 * profile.focus_speed_m_per_s))
    stops_moved = 2 * math.log2(state.f_number) - 2 * math.log2(4.0)
    assert stops_moved == pytest.approx(0.5 * profile.iris_speed_stops_per_s)
    _fly(sim, zoom, 5.0)
    state = sim.rig_state()
    assert state.focal_length_mm == profile.focal_length_mm.max  # clamped at the long end, not 500
    assert state.focus_distance_m == pytest.approx(9.0) and state.f_number == pytest.approx(11.0)


def test_steady_wind_pushes_the_drone_and_the_integrator_pulls_it_back():
    with Simulator(_scenario(wind={"mean_mps": [0.0, 5.0, 0.0], "gust_std_mps": 0.0}), render=False) as sim:
        hold = Setpoint.hold_at(sim.rig_state())
        path = _fly(sim, hold, 12.0)
        assert path[:20, 1].max() > 0.05  # blown downwind first
        assert abs(path[-1, 1]) < 0.1  # and back on station
    with Simulator(_scenario(wind={"mean_mps": [0.0, 0.0, 0.0], "gust_std_mps": 2.0}), seed=3, render=False) as a, \
            Simulator(_scenario(wind={"mean_mps": [0.0, 0.0, 0.0], "gust_std_mps": 2.0}), seed=3,
                      render=False) as b:
        pa = _fly(a, Setpoint.hold_at(a.rig_state()), 3.0)
        pb = _fly(b, Setpoint.hold_at(b.rig_state()), 3.0)
        np.testing.assert_allclose(pa, pb)  # gusts are seeded: runs are reproducible
        assert np.max(np.linalg.norm(pa - pa[0], axis=1)) > 0.01


def test_flying_into_a_pillar_counts_a_collision_and_the_simulator_keeps_running(sim):
    sim.reset()
    into = dataclasses.replace(Setpoint.hold_at(sim.rig_state()), position_m=[0.0, 6.0, 3.0], hold=False)
    _fly(sim, into, 5.0)
    assert sim.collisions >= 1
    assert np.all(np.isfinite(sim.rig_state().position_m))
    sim.reset()
    assert sim.collisions == 0


def test_bad_step_arguments_are_rejected_without_changing_state(sim):
    sim.reset()
    hold = Setpoint.hold_at(sim.rig_state())
    for bad in (float("nan"), 0.0, -0.1, float("inf")):
        with pytest.raises(ValueError, match="dt_s"):
            sim.step(hold, bad)
    with pytest.raises(TypeError, match="Setpoint"):
        sim.step({"position_m": [0, 0, 3]}, DT_S)
    assert sim.time_s == 0.0


def test_simulators_are_independent_clients():
    with Simulator(_scenario(), render=False) as a, Simulator(_scenario(), render=False) as b:
        assert a.client != b.client
        up = dataclasses.replace(Setpoint.hold_at(a.rig_state()), position_m=[0.0, 0.0, 5.0], hold=False)
        _fly(a, up, 3.0)
        _fly(b, Setpoint.hold_at(b.rig_state()), 3.0)
        assert a.rig_state().position_m[2] > 4.8
        assert b.rig_state().position_m[2] == pytest.approx(3.0, abs=0.02)


def test_without_a_pan_axis_the_camera_heading_is_the_airframe_heading():
    from cinempc.config import load_camera_profile

    profile = load_camera_profile("gimbal_zoom_small")
    assert not profile.gimbal_yaw
    with Simulator(_scenario(), camera=profile, render=False) as sim:
        turn = dataclasses.replace(Setpoint.hold_at(sim.rig_state()), yaw_rad=1.0, hold=False)
        headings = []
        for _ in range(20):
            sim.step(turn, DT_S)
            headings.append((sim.rig_state().yaw_rad, sim.vehicle.yaw_rad()))
        camera, body = np.array(headings).T
        np.testing.assert_allclose(camera, body, atol=1e-9)
        assert camera[-1] == pytest.approx(1.0, abs=0.02)
        assert sim.rig_state().focal_length_mm == pytest.approx(profile.focal_length_mm.clamp(35.0))


def test_a_tilted_airframe_keeps_the_heading_it_is_asked_for():
    """Accelerating hard at 45 deg off the nose (20+ deg of tilt), the airframe still points where the yaw setpoint
    says, as PX4's attitude from thrust and yaw does (projecting the heading onto the tilted plane turned it by
    sin^2(tilt) / 2 -- 3 deg here)."""
    start_doc = {"position_m": [0.0, 0.0, 3.0], "yaw_deg": -40.0, "pitch_deg": 0.0, "focal_length_mm": 35.0,
                 "focus_distance_m": 5.0, "f_number": 4.0}
    with Simulator(_scenario(start=start_doc), render=False) as sim:
        start = sim.rig_state().position_m.copy()
        heading = math.radians(-40.0)
        across = np.array([math.cos(heading - math.pi / 4), math.sin(heading - math.pi / 4), 0.0])  # off the nose
        worst_deg, tilt_deg = 0.0, 0.0
        for step in range(20):
            sp = Setpoint(position_m=start + across * 0.5 * 4.0 * (step * DT_S) ** 2, velocity_mps=across * 4.0 * step
                          * DT_S, acceleration_mps2=across * 4.0, yaw_rad=heading, yaw_rate_rad_s=0.0, pitch_rad=0.0,
                          focal_length_mm=35, focus_distance_m=5, f_number=4)
            sim.step(sp, DT_S)
            if step >= 10:
                worst_deg = max(worst_deg, abs(math.degrees(math.remainder(sim.vehicle.yaw_rad() - heading, math.tau))))
                _, rotation = sim.vehicle.pose()
                tilt_deg = max(tilt_deg, math.degrees(math.acos(min(rotation[8], 1.0))))  # body z against world z
        assert sim.collisions == 0
        assert tilt_deg > 15.0  # the test does tilt it
        assert worst_deg < 0.5


def _heading_error_deg(time_constant_s: float) -> float:
    """Worst gap between the simulated airframe's heading and the MPC model's, flying the model's setpoints.

    The plan: commanded rate 0 -> 0.8 rad/s -> 0 (a pan starting and stopping); each 0.1 s step sends the
    setpoint the MPC would (:func:`setpoint_from_plan` for a camera without a pan axis).
    """
    from cinempc.config import load_camera_profile
    from cinempc.mpc.fallback import setpoint_from_plan
    from cinempc.mpc.model import IU, IX, NU, NX, dynamics_numpy

    profile = load_camera_profile("gimbal_zoom_small")
    with Simulator(_scenario(), camera=profile, render=False) as sim:
        rig = sim.rig_state()
        x = np.zeros(NX)
        x[IX["px"]:IX["pz"] + 1], x[IX["yaw"]] = rig.position_m, rig.yaw_rad
        x[IX["focal"]], x[IX["focus"]], x[IX["stops"]] = 0.35, 5.0, 2.0
        worst = 0.0
        for step in range(16):
            u = np.zeros(NU)
            u[IU["yaw_rate"]] = 0.8 if 2 <= step < 10 else 0.0
            X = np.stack([x, dynamics_numpy(x, u, DT_S, time_constant_s)])
            sp = setpoint_from_plan(X, u[None, :], 1, DT_S, True, time_constant_s)
            sim.step(dataclasses.replace(sp, position_m=rig.position_m, velocity_mps=np.zeros(3),
                                         acceleration_mps2=np.zeros(3)), DT_S)
            x = X[1]
            worst = max(worst, abs(math.degrees(sim.vehicle.yaw_rad() - x[IX["yaw"]])))
        return worst


def test_the_mpc_heading_model_predicts_the_airframe_it_flies():
    """Without a pan axis the MPC models the heading as lagging the commanded rate by
    ``vehicle.heading_time_constant_s``: flying its own setpoints, the simulated airframe stays closer to that
    model than to a heading that turns as commanded (a whole-degree gap is a third of a long lens's width)."""
    from cinempc.config import load_vehicle_config

    time_constant_s = load_vehicle_config().vehicle.heading_time_constant_s
    assert time_constant_s > 0
    lagged, instant = _heading_error_deg(time_constant_s), _heading_error_deg(0.0)
    assert lagged < 0.5 * instant, (lagged, instant)
