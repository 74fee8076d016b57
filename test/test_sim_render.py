"""The camera: zoom changes the image as the thin-lens model says, defocus follows the blur circle."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from cinempc import optics
from cinempc.state import Setpoint
from cinempc_sim.camera import apply_depth_of_field
from cinempc_sim.scenario import Scenario
from cinempc_sim.simulator import Simulator

SUBJECT_DISTANCE_M = 8.0
EYE_HEIGHT_M = 1.6  # the airspace floor is 1.5 m


def _scenario() -> Scenario:
    """One person standing 8 m in front of the camera, a textured backdrop 40 m out, nothing else."""
    return Scenario(
        name="render_test",
        start={"position_m": [-SUBJECT_DISTANCE_M, 0.0, EYE_HEIGHT_M], "yaw_deg": 0.0, "pitch_deg": 0.0,
               "focal_length_mm": 35.0, "focus_distance_m": SUBJECT_DISTANCE_M, "f_number": 2.8},
        actors=[{"name": "model", "track_id": 5, "height_m": 1.8, "start_m": [0.0, 0.0], "start_heading_deg": 180,
                 "script": [{"pause_s": 100}]}],
        background_distance_m=40.0,
    )


@pytest.fixture(scope="module")
def sim():
    simulator = Simulator(_scenario())
    yield simulator
    simulator.close()


def _set_lens(sim: Simulator, focal_length_mm: float, focus_distance_m: float, f_number: float):
    """Drive the lens motors to a setting (through the real actuators) and render."""
    sim.reset()
    sp = dataclasses.replace(Setpoint.hold_at(sim.rig_state()), focal_length_mm=focal_length_mm,
                             focus_distance_m=focus_distance_m, f_number=f_number, hold=False)
    for _ in range(60):
        sim.step(sp, 0.1)
        state = sim.rig_state()
        if (state.focal_length_mm, state.focus_distance_m, state.f_number) == pytest.approx(
                (focal_length_mm, focus_distance_m, f_number)):
            break
    return sim.render()


def _rows_of(frame, track_id: int) -> np.ndarray:
    return np.nonzero((frame.segmentation == track_id).any(axis=1))[0]


def test_subject_pixel_height_is_proportional_to_focal_length(sim):
    heights = {}
    for focal in (20.0, 30.0, 40.0):  # the whole figure stays in frame up to 40 mm at 8 m
        rows = _rows_of(_set_lens(sim, focal, SUBJECT_DISTANCE_M, 4.0), 5)
        assert rows.min() > 0 and rows.max() < 239
        heights[focal] = rows.max() - rows.min() + 1
    assert heights[30.0] / heights[20.0] == pytest.approx(1.5, rel=0.06)
    assert heights[40.0] / heights[20.0] == pytest.approx(2.0, rel=0.06)
    # and the absolute size matches the pinhole model the MPC plans with
    expected = optics.subject_height_px(1.8, SUBJECT_DISTANCE_M, 40e-3, sim.render_profile.sensor_width_m,
                                        sim.render_profile.image_width_px)
    assert heights[40.0] == pytest.approx(expected, rel=0.06)


def test_depth_buffer_and_segmentation_are_ground_truth(sim):
    frame = _set_lens(sim, 35.0, SUBJECT_DISTANCE_M, 4.0)
    mask = frame.segmentation == 5
    assert mask.sum() > 100 and set(np.unique(frame.segmentation)) == {-1, 5}
    # the figure's front surface is a little nearer than its centre line
    assert np.median(frame.depth_m[mask]) == pytest.approx(SUBJECT_DISTANCE_M, abs=0.25)
    h, w = mask.shape
    assert frame.depth_m[0, w // 2] == pytest.approx(sim.params["renderer"]["far_clip_m"])  # sky
    assert frame.depth_m[h // 2 - 2, 3] == pytest.approx(40.0 + SUBJECT_DISTANCE_M, rel=0.05)  # backdrop wall
    assert frame.rgb.shape == (240, 320, 3) and frame.rgb.dtype == np.uint8


def _sharpness(frame, mask: np.ndarray) -> float:
    """Laplacian energy over the subject's bounding box (its outline included): falls as it defocuses."""
    import cv2

    gray = cv2.cvtColor(frame.rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    lap = cv2.Laplacian(gray, cv2.CV_32F)
    rows, cols = np.nonzero(mask)
    box = lap[max(rows.min() - 5, 0):rows.max() + 6, max(cols.min() - 5, 0):cols.max() + 6]
    return float(np.mean(box**2))


def test_subject_on_the_focus_plane_is_sharp(sim):
    sharp = _set_lens(sim, 85.0, SUBJECT_DISTANCE_M, 2.0)
    mask = sharp.segmentation == 5
    assert np.percentile(sharp.blur_px[mask], 95) < 1.0
    pinhole = sim.render(depth_of_field=False)
    diff = np.abs(sharp.rgb.astype(int) - pinhole.rgb.astype(int))[mask]
    assert diff.mean() < 2.0  # the DoF pass leaves an in-focus subject as the pinhole drew it


def test_blur_grows_away_from_the_focus_plane(sim):
    """Focused nearer and nearer in front of the subject, its blur circle and its softness both grow."""
    blur, sharpness = [], []
    mask = None
    for focus in (SUBJECT_DISTANCE_M, 6.0, 4.0, 2.5):
        frame = _set_lens(sim, 85.0, focus, 2.0)
        mask = frame.segmentation == 5 if mask is None else mask
        blur.append(float(np.median(frame.blur_px[mask])))
        sharpness.append(_sharpness(frame, mask))
        expected = optics.blur_circle_px(85e-3, 2.0, focus, SUBJECT_DISTANCE_M, sim.render_profile.pixel_pitch_m)
        assert blur[-1] == pytest.approx(min(expected, sim.camera.max_blur_px), rel=0.1, abs=0.2)
    assert blur == sorted(blur) and blur[-1] > 5.0
    assert all(a > b for a, b in zip(sharpness, sharpness[1:], strict=False)), sharpness
    assert sharpness[-1] < 0.3 * sharpness[0]


def test_background_is_soft_with_shallow_focus_and_sharp_when_stopped_down(sim):
    shallow = _set_lens(sim, 85.0, SUBJECT_DISTANCE_M, 2.0)
    deep = _set_lens(sim, 85.0, SUBJECT_DISTANCE_M, 22.0)
    background = shallow.segmentation < 0
    assert np.median(shallow.blur_px[background]) > 4 * np.median(deep.blur_px[background])


def test_layered_blur_spreads_an_edge_over_the_requested_diameter():
    image = np.zeros((61, 121, 3), np.uint8)
    image[:, 60:] = 255
    widths = []
    for diameter in (3.5, 6.0, 10.0, 16.0, 24.0):
        out = apply_depth_of_field(image, np.full(image.shape[:2], diameter, np.float32),
                                   [0.0, 1.0, 2.0, 3.5, 6.0, 10.0, 16.0, 24.0])
        row = out[30, :, 0].astype(float)
        width = np.count_nonzero((row > 0.02 * 255) & (row < 0.98 * 255))  # the edge's ramp
        assert abs(width - diameter) <= 0.2 * diameter + 2.0, (diameter, width)
        widths.append(width)
    assert widths == sorted(widths)


def test_render_disabled_simulator_says_so():
    with Simulator(_scenario(), render=False) as sim:
        with pytest.raises(RuntimeError, match="render=False"):
            sim.render()


def test_render_async_draws_the_same_frame_in_a_helper_process():
    """The helper process rebuilds the world from the scenario: same pixels, depth and mask as render()."""
    from cinempc_sim.scenario import load_scenario

    with Simulator(load_scenario("crossing")) as sim:
        hold = Setpoint.hold_at(sim.rig_state())
        for _ in range(12):
            sim.step(hold, 0.1)
        pending = sim.render_async()
        here = sim.render()
        there = pending.result(timeout=120)
        np.testing.assert_array_equal(there.rgb, here.rgb)
        np.testing.assert_array_equal(there.segmentation, here.segmentation)
        np.testing.assert_array_equal(there.depth_m, here.depth_m)
        assert there.time_s == here.time_s and there.focal_length_mm == here.focal_length_mm
        sim.step(hold, 0.5)  # actors moved on: the helper follows the time it is given
        later = sim.render_async().result(timeout=60)
        assert not np.array_equal(later.segmentation, here.segmentation)
        helper = sim._render_pool.process
    assert helper.poll() is not None  # close() stopped the helper
