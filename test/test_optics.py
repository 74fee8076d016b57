"""Thin-lens model against published depth-of-field tables and its own invariants."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cinempc import optics
from cinempc.config import camera_profiles, load_camera_profile

MM = 1e-3


@pytest.mark.parametrize(
    # Published DoF tables (DOFMaster online calculator, c = 0.03 mm, 35 mm format),
    # rounded as they print them: near/far to 0.01 m, hyperfocal to 0.1 m.
    "focal_mm, n, s, near, far, hyper",
    [
        (50, 2.8, 5.0, 4.29, 6.00, 29.8),
        (50, 8.0, 5.0, 3.39, 9.53, 10.5),
        (35, 5.6, 3.0, 2.13, 5.06, 7.33),
        (85, 1.4, 2.0, 1.98, 2.02, 172.1),
        (24, 11.0, 3.0, 1.11, math.inf, 1.77),
    ],
)
def test_matches_published_tables(focal_mm, n, s, near, far, hyper):
    dof = optics.depth_of_field(focal_mm * MM, n, s, 0.03 * MM)
    assert dof.hyperfocal_m == pytest.approx(hyper, rel=0.01)
    assert dof.near_m == pytest.approx(near, abs=0.015)
    if math.isinf(far):
        assert math.isinf(dof.far_m)
    else:
        assert dof.far_m == pytest.approx(far, abs=0.02)


lens = st.tuples(
    st.floats(8, 300),  # focal length mm
    st.floats(1.2, 22),  # f-number
    st.floats(1.0, 200),  # focus distance m
    st.floats(0.005, 0.035),  # coc mm
)


@given(lens)
@settings(max_examples=300)
def test_near_below_focus_below_far(setting):
    f_mm, n, s, c_mm = setting
    dof = optics.depth_of_field(f_mm * MM, n, s, c_mm * MM)
    assert dof.near_m < s < dof.far_m or (dof.near_m < s and math.isinf(dof.far_m))


@given(lens, st.floats(1.05, 3.0))
@settings(max_examples=200)
def test_dof_grows_with_f_number_and_shrinks_with_focal_length(setting, factor):
    f_mm, n, s, c_mm = setting
    base = optics.depth_of_field(f_mm * MM, n, s, c_mm * MM)
    stopped_down = optics.depth_of_field(f_mm * MM, n * factor, s, c_mm * MM)
    assert stopped_down.near_m <= base.near_m + 1e-9
    assert stopped_down.far_m >= base.far_m - 1e-9
    if s > f_mm * factor * MM * 1.01:
        longer = optics.depth_of_field(f_mm * factor * MM, n, s, c_mm * MM)
        assert longer.near_m >= base.near_m - 1e-9
        assert longer.far_m <= base.far_m + 1e-9


@given(lens, st.floats(0.5, 500))
@settings(max_examples=300)
def test_blur_circle_equals_coc_exactly_at_the_limits(setting, d):
    """Inside [near, far] iff blur <= c: the MPC's smooth test matches the table's limits."""
    f_mm, n, s, c_mm = setting
    if d <= f_mm * MM * 2:
        return
    dof = optics.depth_of_field(f_mm * MM, n, s, c_mm * MM)
    blur = optics.blur_circle_m(f_mm * MM, n, s, d)
    margin = 1e-6 * max(1.0, d)
    if dof.near_m + margin < d < dof.far_m - margin:
        assert blur <= c_mm * MM * (1 + 1e-6)
    elif d < dof.near_m - margin or d > dof.far_m + margin:
        assert blur >= c_mm * MM * (1 - 1e-6)
    assert optics.blur_circle_m(f_mm * MM, n, s, s) == 0.0


def test_blur_in_pixels_and_limits_agree():
    f, n, s, c = 50 * MM, 2.8, 5.0, 0.03 * MM
    dof = optics.depth_of_field(f, n, s, c)
    assert optics.blur_circle_m(f, n, s, dof.near_m) == pytest.approx(c, rel=1e-9)
    assert optics.blur_circle_m(f, n, s, dof.far_m) == pytest.approx(c, rel=1e-9)
    # 36 mm over 1920 px: 18.75 um pixels, so the CoC is 1.6 px.
    assert optics.blur_circle_px(f, n, s, dof.far_m, 36 * MM / 1920) == pytest.approx(1.6, rel=1e-6)


def test_field_of_view_known_values():
    assert math.degrees(optics.field_of_view_rad(50 * MM, 36 * MM)) == pytest.approx(39.6, abs=0.1)
    assert math.degrees(optics.field_of_view_rad(24 * MM, 36 * MM)) == pytest.approx(73.7, abs=0.1)
    f = optics.focal_length_for_fov_m(math.radians(60), 24.89 * MM)
    assert math.degrees(optics.field_of_view_rad(f, 24.89 * MM)) == pytest.approx(60.0)


def test_subject_height_proportional_to_focal_length():
    h1 = optics.subject_height_px(1.8, 10.0, 25 * MM, 24.89 * MM, 1920)
    h2 = optics.subject_height_px(1.8, 10.0, 50 * MM, 24.89 * MM, 1920)
    assert h2 == pytest.approx(2 * h1)
    assert h1 == pytest.approx(25 / 24.89 * 1920 * 0.18)


def test_projection_of_known_points():
    # Camera at origin, looking east, level: a point 10 m ahead and 1 m to the left is left of centre.
    u, v, depth = optics.project((10.0, 1.0, 0.0), (0, 0, 0), 0.0, 0.0, 1000.0, 640, 480)
    assert depth == pytest.approx(10.0)
    assert u == pytest.approx(320 - 100)
    assert v == pytest.approx(240)
    # Looking north and pitched 30 deg down: a point on the optical axis lands at the centre.
    yaw, pitch = math.pi / 2, -math.radians(30)
    axis_point = (0.0, 10 * math.cos(pitch), 10 * math.sin(pitch))
    u, v, depth = optics.project(axis_point, (0, 0, 0), yaw, pitch, 800.0, 320, 240)
    assert (u, v, depth) == pytest.approx((160, 120, 10))
    # Something higher up than the axis appears higher in the image (smaller v).
    u2, v2, _ = optics.project((0.0, axis_point[1], axis_point[2] + 1), (0, 0, 0), yaw, pitch, 800.0, 320, 240)
    assert v2 < v


@given(
    st.floats(0, 320), st.floats(0, 240), st.floats(0.5, 200),
    st.floats(-math.pi, math.pi), st.floats(-1.5, 0.5),
    st.tuples(st.floats(-50, 50), st.floats(-50, 50), st.floats(0, 40)),
    st.floats(100, 3000),
)
@settings(max_examples=300)
def test_projection_inverts_back_projection(u, v, depth, yaw, pitch, position, focal_px):
    point = optics.back_project(u, v, depth, position, yaw, pitch, focal_px, 320, 240)
    u2, v2, depth2 = optics.project(point, position, yaw, pitch, focal_px, 320, 240)
    assert (u2, v2, depth2) == pytest.approx((u, v, depth), rel=1e-6, abs=1e-6)


def test_camera_axes_are_right_handed_orthonormal():
    for yaw in np.linspace(-3, 3, 7):
        for pitch in np.linspace(-1.5, 0.5, 5):
            right, down, forward = (np.array(a, dtype=float) for a in optics.camera_axes(yaw, pitch))
            basis = np.stack([right, down, forward])
            assert basis @ basis.T == pytest.approx(np.eye(3), abs=1e-12)
            assert np.cross(right, down) == pytest.approx(forward, abs=1e-12)


def test_same_formulas_run_on_casadi_symbols():
    import casadi as ca

    f, n, s, d = ca.SX.sym("f"), ca.SX.sym("n"), ca.SX.sym("s"), ca.SX.sym("d")
    blur = ca.Function("blur", [f, n, s, d], [optics.blur_circle_m(f, n, s, d)])
    assert float(blur(0.05, 2.8, 5.0, 9.0)) == pytest.approx(optics.blur_circle_m(0.05, 2.8, 5.0, 9.0))
    yaw, pitch = ca.SX.sym("yaw"), ca.SX.sym("pitch")
    u, v, z = optics.project((10.0, 2.0, 1.0), (0, 0, 0), yaw, pitch, 500.0, 320, 240)
    proj = ca.Function("proj", [yaw, pitch], [u, v, z])
    expected = optics.project((10.0, 2.0, 1.0), (0, 0, 0), 0.1, -0.2, 500.0, 320, 240)
    assert [float(x) for x in proj(0.1, -0.2)] == pytest.approx(list(expected))
    fov = optics.field_of_view_rad(f, 0.036)
    assert float(ca.Function("fov", [f], [fov])(0.05)) == pytest.approx(optics.field_of_view_rad(0.05, 0.036))


@pytest.mark.parametrize("bad", [dict(f=0.0), dict(n=-1.0), dict(s=0.01), dict(c=math.nan), dict(s=math.inf)])
def test_invalid_lens_settings_are_rejected(bad):
    args = dict(f=0.05, n=2.8, s=5.0, c=3e-5) | bad
    with pytest.raises(ValueError):
        optics.depth_of_field(args["f"], args["n"], args["s"], args["c"])


def test_camera_profiles_load_and_are_sane():
    profiles = camera_profiles()
    assert {"super35_cine_zoom", "one_inch_zoom", "gimbal_zoom_small"} <= set(profiles)
    for profile in profiles.values():
        assert profile.focal_length_mm.min < profile.focal_length_mm.max
        assert profile.focus_distance_m.min * 1e3 > profile.focal_length_mm.max / 10
    one_inch = load_camera_profile("one_inch_zoom")
    assert one_inch.focal_length_mm.max / one_inch.focal_length_mm.min == pytest.approx(200 / 24, rel=0.01)
    with pytest.raises(KeyError, match="known"):
        load_camera_profile("nope")
