"""The follow viewpoint swings round a subject at a bounded speed instead of leaping."""

import math

import pytest

from cinempc.mpc.references import approach_angle


def test_approach_angle_takes_the_short_way_round_and_never_overshoots():
    assert approach_angle(0.0, 1.0, 0.25) == pytest.approx(0.25)
    assert approach_angle(0.0, 1.0, 5.0) == pytest.approx(1.0)
    # from +170 deg to -170 deg is 20 deg counter-clockwise, not 340 deg clockwise
    step = approach_angle(math.radians(170), math.radians(-170), math.radians(5))
    assert math.degrees(step) == pytest.approx(175.0)


def test_follow_reference_bearing_moves_at_the_configured_speed(mpc_reference_builder):
    builder, memory = mpc_reference_builder
    distance_m = 6.0
    rate = builder.advance_view_bearing(memory, desired_rad=math.pi, shot_time_s=0.0, distance_m=distance_m)
    start = memory.view_bearing_rad
    assert start == pytest.approx(memory.bearing_rad)  # starts where the drone is
    builder.advance_view_bearing(memory, desired_rad=math.pi, shot_time_s=1.0, distance_m=distance_m)
    assert abs(math.remainder(memory.view_bearing_rad - start, math.tau)) == pytest.approx(rate * 1.0)
    assert rate == pytest.approx(builder.params.targets.view_turn_speed_mps / distance_m)
    for second in range(2, 40):
        builder.advance_view_bearing(memory, desired_rad=math.pi, shot_time_s=float(second), distance_m=distance_m)
    assert math.remainder(memory.view_bearing_rad - math.pi, math.tau) == pytest.approx(0.0, abs=1e-9)


@pytest.fixture
def mpc_reference_builder():
    import numpy as np

    from cinempc.config import load_camera_profile, load_vehicle_config
    from cinempc.mpc.params import load_mpc_params
    from cinempc.mpc.references import ReferenceBuilder, ShotMemory
    from cinempc.shot import vocabulary

    params = load_mpc_params()
    builder = ReferenceBuilder(
        layout=None, horizon_steps=params.horizon.horizon_steps, dt_s=params.horizon.dt_s,
        camera=load_camera_profile("sim_super35"), vehicle=load_vehicle_config(), params=params, vocab=vocabulary(),
        lens_mode="full",
    )
    memory = ShotMemory(time_s=0.0, position_m=np.zeros(3), yaw_rad=0.0, focal_state=0.5, anchor_m=np.zeros(3),
                        distance_m=6.0, bearing_rad=0.0, elevation_rad=0.0)
    return builder, memory


def test_a_walker_who_stops_keeps_the_heading_of_the_walk_not_of_the_lagging_velocity(mpc_reference_builder):
    """A perceived velocity turns while it shrinks at a stop (stop_and_go: (0.5, -0.2), then (0.1, 0.2) m/s)."""
    import numpy as np

    from cinempc.state import SubjectTrack

    builder, memory = mpc_reference_builder

    def seen(t, vx, vy):
        track = SubjectTrack(1, np.zeros((3, 3)), np.tile([vx, vy, 0.0], (3, 1)))
        builder.remember_heading(track, memory, t)
        return math.degrees(builder.heading(track, 0, memory))

    for k in range(30):  # 3 s walking along +x
        seen(0.1 * k, 1.4, 0.0)
    for k, (vx, vy) in enumerate([(1.2, -0.1), (0.5, -0.2), (0.3, -0.15), (0.1, 0.2), (0.05, 0.15), (0.0, 0.0)]):
        heading = seen(3.0 + 0.1 * k, vx, vy)
    assert heading == pytest.approx(0.0, abs=5.0)
    for k in range(20):  # standing still: the heading stays
        assert seen(3.6 + 0.1 * k, 0.0, 0.0) == pytest.approx(heading)
    for k in range(20):  # then jogs off along +y: the heading follows within a second
        heading = seen(5.6 + 0.1 * k, 0.0, 3.0)
    assert heading == pytest.approx(90.0, abs=2.0)
    # ahead on the horizon the predicted velocity's own direction is used (a turn known in advance)
    turning = SubjectTrack(1, np.zeros((3, 3)), np.array([[0.0, 3.0, 0.0], [3.0, 0.0, 0.0], [3.0, 0.0, 0.0]]))
    assert math.degrees(builder.heading(turning, 1, memory)) == pytest.approx(0.0)
