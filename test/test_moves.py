"""Acquire -> move -> hold: extents per movement, the relaxations, and the move-aware examiner on hand-built flights."""

import math

import numpy as np
import pytest
from scipy.optimize import brentq

from cinempc.config import load_camera_profile, load_vehicle_config
from cinempc.moves import Lens, MoveLimits, MoveStart, move_table, plan_move
from cinempc.shot import MOVEMENT_TYPES, ShotSpec, preset, vocabulary
from cinempc.state import RigState
from cinempc_sim.metrics import MetricParams, MoveExaminer, RunRecord, TrueSubject, grade_step, summarise

CAMERA = load_camera_profile("sim_super35")
VEHICLE = load_vehicle_config()
VOCAB = vocabulary()
LIMITS = MoveLimits.of(CAMERA, VEHICLE.airspace)
HEIGHT_M = 1.75
EYE = MetricParams().eye_height_fraction


def start(distance_m=8.0, elevation_deg=0.0, height_m=3.0, focal_mm=40.0) -> MoveStart:
    return MoveStart(distance_m, math.radians(elevation_deg), height_m, focal_mm)


def test_every_movement_type_has_semantics_with_a_lens_rule():
    table = move_table()
    assert set(table.movements) == set(MOVEMENT_TYPES)
    assert table["dolly_in"].lens is Lens.HOLD and table["truck_left"].lens is Lens.FREE
    assert table["dolly_zoom_out"].lens is Lens.DOLLY_ZOOM


def test_a_dolly_in_grows_the_subject_by_its_ratio_then_holds():
    plan = plan_move(preset("dolly_in_mcu"), VOCAB, start(distance_m=6.0), LIMITS)
    ratio = move_table()["dolly_in"].size_ratio
    assert plan.size_scale(0.0) == pytest.approx(1.0)
    assert plan.size_scale(1.0) == pytest.approx(ratio)
    assert plan.duration_s == pytest.approx((6.0 - 6.0 / ratio) / VOCAB.speed_mps["slow"])
    assert plan.progress(plan.duration_s + 5.0) == 1.0  # it ends: the end frame is held
    assert plan.focal_length_mm(0.5) == 40.0  # a dolly is a fixed lens
    assert not plan.relaxations


def test_a_dolly_in_that_would_cross_the_stand_off_is_relaxed_and_says_so():
    plan = plan_move(preset("dolly_in_mcu"), VOCAB, start(distance_m=3.0), LIMITS)
    assert plan.end_distance_m == pytest.approx(LIMITS.min_distance_m)
    assert plan.relaxations and "minimum subject distance" in plan.relaxations[0]


def test_a_truck_ends_after_its_shift_and_keeps_the_size_with_the_zoom():
    plan = plan_move(preset("truck_right_full"), VOCAB, start(), LIMITS)
    assert plan.shift_m == pytest.approx(move_table()["truck_right"].shift_m)
    assert plan.duration_s == pytest.approx(plan.shift_m / VOCAB.speed_mps["slow"])
    assert plan.size_scale(1.0) == 1.0 and plan.focal_length_mm(0.5) is None


def test_a_pedestal_and_a_dolly_zoom_are_relaxed_by_the_altitude_band_and_the_lens_range():
    high = plan_move(preset("pedestal_up_medium"), VOCAB, start(height_m=VEHICLE.airspace.altitude_ceiling_m - 1.0),
                     LIMITS)
    assert high.shift_m < move_table()["pedestal_up"].shift_m and "altitude band" in high.relaxations[0]
    zoomed = plan_move(preset("dolly_zoom_out"), VOCAB, start(focal_mm=180.0), LIMITS)
    assert zoomed.focal_length_mm(1.0) == pytest.approx(CAMERA.focal_length_mm.max)
    assert "lens range" in zoomed.relaxations[0]


def test_an_orbit_sweeps_its_angle_clockwise_as_negative():
    plan = plan_move(preset("orbit_cw"), VOCAB, start(distance_m=9.0), LIMITS)
    sweep = math.radians(move_table()["orbit"].bearing_sweep_deg)
    assert plan.bearing_sweep_rad == pytest.approx(-sweep)
    assert plan.duration_s == pytest.approx(9.0 * sweep / VOCAB.speed_mps["slow"])


def test_a_shot_sets_its_own_extent_in_the_unit_of_its_movement():
    """An orbit's sweep and a crane's change in degrees, a truck's or pedestal's shift in metres; the rest refuse."""
    def shot(name: str, extent: float) -> ShotSpec:
        base = preset(name)
        return base.model_copy(update={"movement": base.movement.model_copy(update={"extent": extent})})

    quarter = plan_move(shot("orbit_cw", 90.0), VOCAB, start(distance_m=9.0), LIMITS)
    assert quarter.bearing_sweep_rad == pytest.approx(-math.pi / 2)
    assert quarter.duration_s == pytest.approx(9.0 * math.pi / 2 / VOCAB.speed_mps["slow"])
    assert plan_move(shot("truck_right_full", 10.0), VOCAB, start(), LIMITS).shift_m == pytest.approx(10.0)
    lowered = plan_move(ShotSpec(movement={"type": "crane_down", "extent": 15.0}), VOCAB, start(elevation_deg=30.0),
                        LIMITS)
    assert lowered.elevation_change_rad == pytest.approx(math.radians(-15.0))  # the crane's sign is kept
    with pytest.raises(ValueError, match="only meaningful for"):
        ShotSpec(movement={"type": "dolly_in", "extent": 2.0})
    with pytest.raises(ValueError, match="at most 90"):
        ShotSpec(movement={"type": "crane_up", "extent": 120.0})


# ----------------------------------------------------------------- the examiner on hand-built flights


def framed_state(shot: ShotSpec, distance_m: float, focal_mm: float, elevation_deg: float) -> RigState:
    """The camera at a distance and elevation from a subject at the origin, aimed so the framing's headroom holds."""
    eye = np.array([0.0, 0.0, EYE * HEIGHT_M])
    e = math.radians(elevation_deg)
    position = eye + distance_m * np.array([-math.cos(e), 0.0, math.sin(e)])
    head_v = VOCAB.framing_head_v_fraction[shot.framing] * CAMERA.image_height_px
    focal_px = CAMERA.focal_px(focal_mm)
    from cinempc import optics

    def head_row(pitch):
        return optics.project(np.array([0.0, 0.0, HEIGHT_M]), position, 0.0, pitch, focal_px, CAMERA.image_width_px,
                              CAMERA.image_height_px)[1] - head_v

    pitch = brentq(head_row, -1.5, 0.5)
    return RigState(position_m=position, yaw_rad=0.0, pitch_rad=pitch, focal_length_mm=focal_mm,
                    focus_distance_m=distance_m, f_number=8.0)


def framing_focal_mm(shot: ShotSpec, distance_m: float, size_scale: float = 1.0) -> float:
    """The focal length that shows the subject at the framing's size times ``size_scale`` from this distance."""
    elevation = VOCAB.angle_elevation_deg[shot.angle]
    wanted = VOCAB.framing_height_fraction[shot.framing] * size_scale
    return brentq(lambda f: _size_fraction(shot, distance_m, f, elevation) - wanted,
                  CAMERA.focal_length_mm.min, CAMERA.focal_length_mm.max)


def _size_fraction(shot: ShotSpec, distance_m: float, focal_mm: float, elevation_deg: float) -> float:
    subject = TrueSubject(track_id=1, feet_m=(0.0, 0.0, 0.0), height_m=HEIGHT_M)
    grade = grade_step(framed_state(shot, distance_m, focal_mm, elevation_deg), [subject], shot, CAMERA, VOCAB)
    return VOCAB.framing_height_fraction[shot.framing] * (1.0 + grade.size_error)


def fly(shot: ShotSpec, distance_of_t, focal_of_t, duration_s=12.0, dt_s=0.1, elevation_of_t=None):
    """Grade a hand-built flight with the move-aware examiner; returns the run's metrics."""
    examiner = MoveExaminer(shot, CAMERA, VOCAB, VEHICLE.airspace, MetricParams())
    elevation = VOCAB.angle_elevation_deg[shot.angle]
    subject = TrueSubject(track_id=1, feet_m=(0.0, 0.0, 0.0), height_m=HEIGHT_M)
    record = RunRecord()
    for i in range(int(duration_s / dt_s)):
        t = i * dt_s
        here = elevation if elevation_of_t is None else elevation_of_t(t)
        state = framed_state(shot, distance_of_t(t), focal_of_t(t), here)
        expected = examiner.observe(state, [subject], t)
        record.times_s.append(t)
        record.grades.append(expected.graded(grade_step(state, [subject], shot, CAMERA, VOCAB, None,
                                                        MetricParams(), t, expected.size_scale,
                                                        expected.rack_time_s)))
        record.accelerations_mps2.append(np.zeros(3))
    record.acquired_s, record.acquire_timed_out = examiner.acquired_s, examiner.timed_out
    return summarise(record, MetricParams()), examiner


def test_a_dronie_that_shrinks_as_specified_passes_and_one_that_stays_put_fails():
    shot = preset("dronie")
    d0 = 6.0
    f0 = framing_focal_mm(shot, d0)  # framed from the first instant, then a fixed lens
    speed = VOCAB.speed_mps[shot.movement.speed]
    d_end = d0 / move_table()["dronie"].size_ratio
    good, examiner = fly(shot, lambda t: min(d0 + speed * t, d_end), lambda t: f0)
    assert examiner.acquired_s == pytest.approx(0.0)
    assert good["time_to_acquire_s"] == pytest.approx(0.0)
    assert good["size_error_mean"] < 0.15, good  # the cell bar (perspective makes 1/distance approximate)
    lazy, _ = fly(shot, lambda t: d0, lambda t: f0)  # never leaves: the subject stays three times too big
    assert lazy["size_error_mean"] > 0.5, lazy


def test_an_orbit_at_half_size_fails_and_one_at_full_size_passes():
    shot = preset("orbit_cw")
    d0 = 9.0
    f0 = framing_focal_mm(shot, d0)
    full, _ = fly(shot, lambda t: d0, lambda t: f0)
    assert full["size_error_mean"] < 0.1, full
    f_half = framing_focal_mm(shot, d0, 0.5)
    half, examiner = fly(shot, lambda t: d0, lambda t: f_half)
    assert half["time_to_acquire_s"] is None and examiner.timed_out  # never acquired its framing
    assert half["size_error_mean"] > 0.4, half


def test_the_angle_error_is_the_elevation_off_the_shots_angle_and_a_crane_adds_its_change():
    orbit = preset("orbit_cw")  # high: 30 deg above the eye line, kept by an orbit
    d0 = 9.0
    f0 = framing_focal_mm(orbit, d0)
    on_angle, _ = fly(orbit, lambda t: d0, lambda t: f0)
    assert on_angle["angle_error_deg_mean"] == pytest.approx(0.0, abs=0.5), on_angle
    low, _ = fly(orbit, lambda t: d0, lambda t: f0, elevation_of_t=lambda t: 10.0)
    assert low["angle_error_deg_mean"] == pytest.approx(20.0, abs=0.5), low
    assert low["side_error_deg_mean"] is None  # an orbit sweeps the bearing: no side to keep
    crane = ShotSpec(framing="full", movement={"type": "crane_up", "speed": "slow"})
    change = move_table()["crane_up"].elevation_change_deg
    stuck, examiner = fly(crane, lambda t: d0, lambda t: framing_focal_mm(crane, d0))
    assert examiner.acquired_s == pytest.approx(0.0)
    assert stuck["angle_error_deg_mean"] > 0.5 * change  # a crane that never rises misses its elevation change


def test_a_static_shot_grades_no_angle_and_no_side():
    static = ShotSpec(framing="medium_wide", movement={"type": "static"})
    metrics, _ = fly(static, lambda t: 7.0, lambda t: framing_focal_mm(static, 7.0))
    assert metrics["angle_error_deg_mean"] is None and metrics["side_error_deg_mean"] is None


def test_a_fixed_lens_move_starts_from_the_focal_length_that_frames_exactly():
    """Acquired 15 % too big (inside the tolerance): the held lens is the one that frames it exactly from there."""
    from cinempc.moves import framing_focal_mm

    assert framing_focal_mm(46.0, 0.15, LIMITS) == pytest.approx(40.0)
    assert framing_focal_mm(36.0, -0.10, LIMITS) == pytest.approx(40.0)
    # never outside the lens; an unknown error (subject not in view at a timeout) keeps the measured focal
    assert framing_focal_mm(CAMERA.focal_length_mm.max, -0.5, LIMITS) == CAMERA.focal_length_mm.max
    assert framing_focal_mm(40.0, math.inf, LIMITS) == 40.0
    # the plan then asks the framing's size from the start, not the acquired error
    corrected = start(focal_mm=framing_focal_mm(46.0, 0.15, LIMITS))
    plan = plan_move(preset("dolly_in_mcu"), VOCAB, corrected, LIMITS)
    assert plan.focal_length_mm(0.5) == pytest.approx(40.0)


def test_a_dolly_zoom_lens_follows_the_distance_the_camera_actually_has():
    plan = plan_move(preset("dolly_zoom_out"), VOCAB, start(distance_m=6.0, focal_mm=30.0), LIMITS)
    assert plan.focal_length_mm(0.5) == pytest.approx(30.0 * plan.distance_m(0.5) / 6.0)
    # 1.5 m behind its line (the subjects walked away faster than it flew): the size still holds
    assert plan.focal_length_mm(0.5, plan.distance_m(0.5) + 1.5) == pytest.approx(
        30.0 * (plan.distance_m(0.5) + 1.5) / 6.0)


def test_a_fixed_lens_holds_its_focal_length_and_takes_up_only_the_distance_the_camera_lost():
    """An orbit or a dolly whose camera falls behind (a subject turning back towards it, stopping) keeps the
    size the move calls for with the zoom; on its line the lens is held."""
    plan = plan_move(preset("dolly_in_mcu"), VOCAB, start(distance_m=6.0), LIMITS)
    planned = plan.distance_m(0.5)
    assert plan.focal_length_mm(0.5) == 40.0
    assert plan.focal_length_mm(0.5, planned) == pytest.approx(40.0)
    assert plan.focal_length_mm(0.5, planned + 1.5) == pytest.approx(40.0 * (planned + 1.5) / planned)
    assert plan.focal_length_mm(0.5, planned / 2.0) == pytest.approx(20.0)


def test_a_move_starts_only_where_its_whole_extent_fits_the_lens_and_the_minimum_distance():
    from cinempc.moves import extent_fits, start_distance_range_m

    table = move_table()
    out, into, dolly = table["dolly_zoom_out"], table["dolly_zoom_in"], table["dolly_in"]
    f_max, f_min = CAMERA.focal_length_mm.max, CAMERA.focal_length_mm.min
    tolerance = table.acquire.extent_tolerance
    # a dolly zoom out doubles the focal length: not from the long end of the zoom, but from half way
    assert not extent_fits(out, start(distance_m=8.0, focal_mm=0.8 * f_max), LIMITS, tolerance)
    assert extent_fits(out, start(distance_m=8.0, focal_mm=0.45 * f_max), LIMITS, tolerance)
    # a dolly zoom in halves the distance: not from inside twice the minimum, nor from the short end
    assert not extent_fits(into, start(distance_m=1.5 * LIMITS.min_distance_m, focal_mm=80.0), LIMITS, tolerance)
    assert not extent_fits(into, start(distance_m=8.0, focal_mm=1.2 * f_min), LIMITS, tolerance)
    assert extent_fits(into, start(distance_m=8.0, focal_mm=80.0), LIMITS, tolerance)
    # a dolly in ends 1 / size_ratio nearer
    assert not extent_fits(dolly, start(distance_m=1.2 * LIMITS.min_distance_m), LIMITS, tolerance)
    assert extent_fits(dolly, start(distance_m=2.0 * LIMITS.min_distance_m), LIMITS, tolerance)
    assert extent_fits(table["truck_right"], start(distance_m=0.1, focal_mm=f_max), LIMITS, tolerance)
    # a fixed lens starts with zoom to spare at both ends, so it can take up the distance the camera loses
    headroom = table.acquire.lens_headroom
    assert headroom > 0.0
    assert not extent_fits(table["orbit"], start(focal_mm=0.95 * f_max), LIMITS, tolerance, headroom)
    assert not extent_fits(table["orbit"], start(focal_mm=1.05 * f_min), LIMITS, tolerance, headroom)
    assert extent_fits(table["orbit"], start(focal_mm=f_max / (1.0 + headroom)), LIMITS, tolerance, headroom)
    assert extent_fits(table["orbit"], start(focal_mm=0.95 * f_max), LIMITS, tolerance)  # no headroom asked
    # the start distances the stand-off is kept in: the framing's focal length grows as k * d
    k = 10.0  # mm per metre
    lo, hi = start_distance_range_m(out, k, LIMITS)
    assert hi == pytest.approx(f_max / (k * out.focal_ratio)) and lo >= f_min / k
    for d in (lo, hi):  # both ends fit
        assert extent_fits(out, start(distance_m=d, focal_mm=k * d), LIMITS, 0.0)
    lo, hi = start_distance_range_m(into, k, LIMITS)
    assert lo == pytest.approx(max(LIMITS.min_distance_m / into.focal_ratio, f_min / (k * into.focal_ratio)))
    assert hi == pytest.approx(f_max / k)
    assert start_distance_range_m(dolly, k, LIMITS)[0] == pytest.approx(LIMITS.min_distance_m * dolly.size_ratio)
    for free_or_fixed in ("orbit", "follow"):  # the stand-off leaves the zoom room either way
        lo, hi = start_distance_range_m(table[free_or_fixed], k, LIMITS, headroom)
        assert (lo, hi) == (pytest.approx(f_min * (1.0 + headroom) / k),
                            pytest.approx(f_max / ((1.0 + headroom) * k)))
    assert extent_fits(table["follow"], start(focal_mm=f_max), LIMITS, tolerance, headroom)  # never waits
