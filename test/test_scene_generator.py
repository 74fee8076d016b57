"""The procedural scene generator: deterministic by seed, inside its ranges, fitted to a shot, and its CLI."""

from __future__ import annotations

import math
import random
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from cinempc.angles import wrap_angle
from cinempc.cli import main
from cinempc.config import camera_profiles, config_dir, load_parameters, load_vehicle_config
from cinempc.shot import ShotSpec, preset
from cinempc_sim.scenario import Scenario, load_scenario
from cinempc_sim.scene_generator import (
    Footprint,
    actor_path,
    footprint,
    generate_scene,
    generate_scenes,
    path_segments,
    point_segment_distance_m,
    scene_violations,
    write_scenario,
)

ROOT = Path(__file__).resolve().parents[1]
SEEDS = 200
HAND_WRITTEN_NAMES = {"alice", "bob", "carol", "dave", "erin"}


@pytest.fixture(scope="module")
def scenes() -> list[Scenario]:
    """Scene seeds 0..199 without a shot."""
    return generate_scenes(0, SEEDS)


@pytest.fixture(scope="module")
def rack_scenes() -> list[Scenario]:
    """Scene seeds 0..49 fitted to the rack_focus preset."""
    return generate_scenes(0, 50, preset("rack_focus"))


def _primary(scenario: Scenario):
    return next(a for a in scenario.actors if a.track_id == 1)


def _start_xy(scenario: Scenario) -> tuple[float, float]:
    return scenario.start.position_m[0], scenario.start.position_m[1]


def _segments(scenario: Scenario):
    return [s for actor in scenario.actors for s in path_segments(actor_path(actor))]


def _legs(actor) -> list[tuple[tuple[float, float], tuple[float, float], float]]:
    points = actor_path(actor)
    speeds = [s.speed_mps for s in actor.script if s.to is not None]
    return [(points[i], points[i + 1], speeds[i]) for i in range(len(points) - 1)]


# ------------------------------------------------------------------ determinism and API


def test_same_seed_gives_identical_yaml_and_different_seeds_differ(tmp_path):
    a = write_scenario(generate_scene(42), tmp_path / "a.yaml").read_text()
    b = write_scenario(generate_scene(42), tmp_path / "b.yaml").read_text()
    c = write_scenario(generate_scene(43), tmp_path / "c.yaml").read_text()
    assert a == b
    assert a != c
    assert generate_scene(42, preset("rack_focus")) == generate_scene(42, preset("rack_focus"))


def test_batch_scene_i_is_scene_seed_plus_i():
    batch = generate_scenes(1000, 3)
    assert [s.name for s in batch] == ["gen_1000", "gen_1001", "gen_1002"]
    assert batch == [generate_scene(1000 + i) for i in range(3)]
    assert generate_scenes(5, 0) == []


def test_global_random_state_is_neither_used_nor_changed():
    random.seed(1)
    np.random.seed(1)
    before = (random.getstate(), np.random.get_state()[1].copy())
    first = generate_scene(7)
    assert random.getstate() == before[0] and np.array_equal(np.random.get_state()[1], before[1])
    random.seed(99)
    np.random.seed(99)
    assert generate_scene(7) == first


def test_bad_arguments_raise():
    with pytest.raises(ValueError):
        generate_scene(-1)
    with pytest.raises(ValueError):
        generate_scene(0, duration_s=0.0)
    with pytest.raises(ValueError, match="actor"):
        generate_scene(0, ShotSpec(subjects=["the runner"]))
    with pytest.raises(ValueError, match="track ids"):
        generate_scene(0, ShotSpec(subjects=["#0"]))
    with pytest.raises(ValueError, match="at most"):
        generate_scene(0, ShotSpec(subjects=["#13"]))


def test_written_file_loads_back_equal(tmp_path):
    for seed in (0, 1, 2):
        scenario = generate_scene(seed, preset("two_shot_deep"))
        assert load_scenario(write_scenario(scenario, tmp_path / f"{scenario.name}.yaml")) == scenario


def test_config_file_is_a_ros_parameter_file_found_in_the_config_dir():
    assert (config_dir() / "scene_generator.yaml").is_file()
    params = load_parameters("scene_generator.yaml")["scene_generator"]
    assert params["area"]["geofence_margin_m"] >= 15.0
    assert params["actors"]["max_speed_mps"] <= 5.0


# ------------------------------------------------------------------ geometry used by the rules


def test_footprint_distances_match_brute_force():
    rng = np.random.default_rng(0)
    for _ in range(300):
        centre = tuple(rng.uniform(-5, 5, 2))
        shape = (Footprint(centre, half_extents_m=tuple(rng.uniform(0.1, 3, 2))) if rng.random() < 0.5
                 else Footprint(centre, radius_m=float(rng.uniform(0.1, 3))))
        a, b = tuple(rng.uniform(-8, 8, 2)), tuple(rng.uniform(-8, 8, 2))
        samples = [(a[0] + s * (b[0] - a[0]), a[1] + s * (b[1] - a[1])) for s in np.linspace(0, 1, 4001)]
        brute = min(shape.distance_to_point_m(q) for q in samples)
        step = math.dist(a, b) / 4000
        exact = shape.distance_to_segment_m((a, b))
        assert exact <= brute + 1e-9 and exact >= brute - step
    assert point_segment_distance_m((0.0, 1.0), ((-1.0, 0.0), (1.0, 0.0))) == pytest.approx(1.0)


# ------------------------------------------------------------------ ranges over 200 seeds


def test_every_scene_keeps_the_rules(scenes):
    for scenario in scenes:
        assert scene_violations(scenario) == [], scenario.name
        Scenario(**scenario.model_dump())  # validates as a fresh model too


def test_cast_counts_names_and_looks(scenes):
    assert Counter(len(s.actors) for s in scenes).keys() == {1, 2, 3, 4}
    for scenario in scenes:
        assert [a.track_id for a in scenario.actors] == list(range(1, len(scenario.actors) + 1))
        for actor in scenario.actors:
            assert re.fullmatch(r"actor\d+", actor.name) and actor.name not in HAND_WRITTEN_NAMES
            assert 1.5 <= actor.height_m <= 1.95
            assert 0.5 < actor.build < 1.6
        assert scenario.default_shot == "follow_medium"
        assert 15.0 <= scenario.duration_s <= 30.0
    shirts = {a.shirt_rgb for s in scenes for a in s.actors}
    assert len(shirts) > 100


def test_motion_mix_speeds_and_script_features(scenes):
    kinds = Counter()
    features = Counter()
    for scenario in scenes:
        for actor in scenario.actors:
            legs = _legs(actor)
            speeds = [speed for *_, speed in legs]
            assert all(0.0 < v <= 5.0 for v in speeds)
            kinds["still" if not legs else "run" if min(speeds) >= 2.6 else "walk" if max(speeds) <= 2.0 else "?"] += 1
            features["pause"] += sum(s.pause_s is not None for s in actor.script)
            features["turn"] += sum(s.turn_to_deg is not None for s in actor.script)
            for (a, b, _), (_, c, _) in zip(legs, legs[1:], strict=False):
                cosine = ((b[0] - a[0]) * (c[0] - b[0]) + (b[1] - a[1]) * (c[1] - b[1])) / (
                    math.dist(a, b) * math.dist(b, c))
                features["turn_back" if cosine < -0.95 else "corner" if cosine < 0.9 else "straight"] += 1
            covered_s = sum(math.dist(a, b) / v for a, b, v in legs) + sum(s.pause_s or 0.0 for s in actor.script)
            assert covered_s >= scenario.duration_s - 1e-6, (scenario.name, actor.name)
    assert kinds["?"] == 0
    total = sum(kinds.values())
    assert 0.05 < kinds["still"] / total < 0.3 and kinds["walk"] / total > 0.5 and 0.1 < kinds["run"] / total < 0.35
    assert features["pause"] > 50 and features["turn"] > 20 and features["turn_back"] > 20 and features["corner"] > 100
    walk = [v for s in scenes for a in s.actors for *_, v in _legs(a) if v < 2.6]
    run = [v for s in scenes for a in s.actors for *_, v in _legs(a) if v >= 2.6]
    assert 0.9 <= min(walk) and max(walk) <= 2.0 and 2.7 <= min(run) and max(run) <= 5.0


def test_drone_start_pose_and_lens(scenes):
    airspace = load_vehicle_config().airspace
    profiles = camera_profiles()
    assert Counter(s.camera_profile for s in scenes).keys() == set(profiles)
    offsets = []
    for scenario in scenes:
        x, y, z = scenario.start.position_m
        subject = _primary(scenario).start_m
        assert 4.0 - 1e-6 <= math.dist((x, y), subject) <= 25.0 + 1e-6
        assert 1.5 <= z <= 12.0 and airspace.altitude_floor_m <= z <= airspace.altitude_ceiling_m
        bearing = math.degrees(math.atan2(subject[1] - y, subject[0] - x))
        offset = math.degrees(wrap_angle(math.radians(scenario.start.yaw_deg - bearing)))
        assert abs(offset) <= 60.01
        offsets.append(offset)
        assert -30.0 <= scenario.start.pitch_deg <= 5.0
        camera = profiles[scenario.camera_profile]
        assert camera.focal_length_mm.min <= scenario.start.focal_length_mm <= camera.focal_length_mm.max
        assert camera.focus_distance_m.min <= scenario.start.focus_distance_m <= camera.focus_distance_m.max
        assert camera.f_number.min <= scenario.start.f_number <= camera.f_number.max
    assert min(offsets) < -45 and max(offsets) > 45


def test_headings_are_wrapped_by_the_one_angle_wrap(scenes):
    """Start yaw and actor headings lie in one turn, wrapped by cinempc.angles, not by a private formula.

    The start yaw is the bearing to the subject plus an offset of up to 60 degrees, so without the wrap a
    subject behind-left of the drone gives a yaw beyond 180 (seen in these 200 seeds).
    """
    yaws = [s.start.yaw_deg for s in scenes]
    headings = [a.start_heading_deg for s in scenes for a in s.actors]
    assert all(-180.0 <= y <= 180.0 for y in yaws + headings)  # 180.0 only where rounding reaches it
    assert min(yaws) < -120 and max(yaws) > 120  # the draws do come near the seam
    source = (ROOT / "sim" / "scene_generator.py").read_text()
    assert not re.search(r"%\s*360|%\s*\(2(\.0)?\s*\*\s*(math|np)\.pi\)", source)
    assert "wrap_angle(" in source


def test_everything_inside_the_geofence_with_a_15_m_margin(scenes):
    airspace = load_vehicle_config().airspace
    lo = [v + 15.0 for v in airspace.geofence_min_m]
    hi = [v - 15.0 for v in airspace.geofence_max_m]

    def inside(x: float, y: float) -> bool:
        return lo[0] <= x <= hi[0] and lo[1] <= y <= hi[1]

    for scenario in scenes:
        assert inside(*_start_xy(scenario))
        assert all(inside(*q) for actor in scenario.actors for q in actor_path(actor))
        for spec in list(scenario.obstacles) + list(scenario.props):
            bounds = footprint(spec).bounds
            assert inside(*bounds.min_m) and inside(*bounds.max_m), (scenario.name, spec)


def test_solids_keep_clear_of_paths_and_the_start(scenes):
    between = 0
    for scenario in scenes:
        segments, start = _segments(scenario), _start_xy(scenario)
        sight = (start, tuple(_primary(scenario).start_m))
        for spec in list(scenario.obstacles) + list(scenario.props):
            shape = footprint(spec)
            assert min(shape.distance_to_segment_m(s) for s in segments) >= 1.0, (scenario.name, spec)
            assert shape.distance_to_point_m(start) >= 3.0, (scenario.name, spec)
        between += any(footprint(o).distance_to_segment_m(sight) == 0.0 for o in scenario.obstacles)
    assert 0.05 * SEEDS < between < 0.5 * SEEDS


def test_obstacles_props_backdrop_and_wind(scenes):
    kinds = Counter()
    buildings = 0
    for scenario in scenes:
        kinds.update(o.kind for o in scenario.obstacles)
        for block in (o for o in scenario.obstacles if o.name == "building"):
            buildings += 1
            assert all(10.0 <= v <= 20.0 for v in block.size_m[:2]) and 8.0 <= block.size_m[2] <= 15.0
        start = _start_xy(scenario)
        depths = [math.dist(start, p.position_m) for p in scenario.props]
        assert len(depths) >= 3 and all(5.0 <= d <= 60.0 for d in depths)
        assert max(depths) - min(depths) >= 15.0, scenario.name
        cx, cy = scenario.background_center_m
        reach = scenario.background_distance_m
        points = [q for actor in scenario.actors for q in actor_path(actor)] + [start]
        for spec in list(scenario.obstacles) + list(scenario.props):
            bounds = footprint(spec).bounds
            points += [bounds.min_m, bounds.max_m]
        assert all(abs(x - cx) + 15.0 <= reach and abs(y - cy) + 15.0 <= reach for x, y in points)
        assert math.hypot(*scenario.wind.mean_mps) <= 6.0 and 0.0 <= scenario.wind.gust_std_mps <= 1.5
    assert {"tree", "pillar", "wall", "box"} <= kinds.keys()
    assert 0.1 * SEEDS < buildings < 0.45 * SEEDS
    winds = [math.hypot(*s.wind.mean_mps) for s in scenes]
    assert min(winds) < 1.0 and max(winds) > 5.0


# ------------------------------------------------------------------ fitted to a shot


def test_rack_focus_gets_two_standing_actors_apart_in_depth(rack_scenes):
    shot = preset("rack_focus")
    for scenario in rack_scenes:
        assert scene_violations(scenario, shot) == []
        assert len(scenario.actors) >= 2
        assert scenario.default_shot == "rack_focus" and scenario.shot() == shot
        start = _start_xy(scenario)
        near, far = (actor_path(a) for a in scenario.actors[:2])
        assert len(set(near)) == 1 and len(set(far)) == 1  # both stand for the whole scene
        view = np.subtract(near[0], start) / math.dist(near[0], start)
        depths = [float(np.dot(np.subtract(p[0], start), view)) for p in (near, far)]
        assert abs(depths[0] - depths[1]) >= 3.0 and min(depths) >= 3.0


def test_named_and_numbered_references_resolve():
    shot = ShotSpec(subjects=["runner", "#3"], focus={"target": "#3", "rack_to": "hero"}, duration_s=40.0)
    for seed in range(10):
        scenario = generate_scene(seed, shot)
        assert scene_violations(scenario, shot) == []
        names = [a.name for a in scenario.actors]
        assert {"runner", "hero"} <= set(names) and len(names) >= 3 and len(set(names)) == len(names)
        assert scenario.shot() == shot and isinstance(scenario.default_shot, dict)
        assert scenario.duration_s >= 40.0
        subject = next(a for a in scenario.actors if a.name == "runner")
        assert 4.0 - 1e-6 <= math.dist(_start_xy(scenario), subject.start_m) <= 25.0 + 1e-6


def test_duration_argument_and_shot_duration_floor():
    assert generate_scene(3, duration_s=12.5).duration_s == 12.5
    assert generate_scene(3, ShotSpec(duration_s=33.0), duration_s=4.0).duration_s == 33.0
    timed = preset("dolly_zoom_out")
    scenario = generate_scene(3, timed)
    assert scenario.default_shot == "dolly_zoom_out" and scenario.duration_s >= max(15.0, timed.duration_s or 0.0)


# ------------------------------------------------------------------ CLI and simulator


def test_cli_writes_count_files_that_load_back_equal(tmp_path, capsys):
    out = tmp_path / "scenes"
    assert main(["scenes", "generate", "--seed", "1000", "--count", "3", "--out", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    files = sorted(out.glob("*.yaml"))
    assert [f.name for f in files] == ["gen_1000.yaml", "gen_1001.yaml", "gen_1002.yaml"]
    for i, path in enumerate(files):
        assert load_scenario(path) == generate_scene(1000 + i)


def test_cli_fits_the_shot_and_duration(tmp_path):
    out = tmp_path / "rack"
    assert main(["scenes", "generate", "--seed", "5", "--count", "2", "--out", str(out), "--shot", "rack_focus",
                 "--duration-s", "11"]) == 0
    for i, path in enumerate(sorted(out.glob("*.yaml"))):
        scenario = load_scenario(path)
        assert scenario == generate_scene(5 + i, preset("rack_focus"), 11.0)
        assert scenario.default_shot == "rack_focus" and scenario.duration_s == 11.0
    assert main(["scenes", "generate", "--count", "0", "--out", str(out)]) == 2
    assert main(["scenes", "generate", "--shot", "no_such_preset", "--out", str(out)]) == 2


def test_a_generated_scene_loads_in_the_simulator():
    from cinempc_sim.simulator import Simulator

    scenario = generate_scene(3)
    with Simulator(scenario, render=False) as sim:
        sim.reset()
        names = [o.name for o in sim.obstacles()]
        assert names.count("backdrop") == 4
        assert sim.collisions == 0
