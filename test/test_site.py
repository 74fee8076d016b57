"""Site files and the polygon geofence: validation with clear errors, GPS -> local ENU, the MPC's inscribed box."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from cinempc.cli import main
from cinempc.geofence import PolygonFence, points_in_polygon
from cinempc.site import Home, load_site, resolve_site

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "site_field.yaml"


def write(tmp_path: Path, document: dict) -> Path:
    path = tmp_path / "field.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def example() -> dict:
    return yaml.safe_load(EXAMPLE.read_text())


def test_box_of_a_rectangle_is_the_rectangle():
    fence = PolygonFence(((0, 0), (100, 0), (100, 50), (0, 50)), 2.0, 30.0)
    box = fence.inscribed_box()
    assert box.min_m == pytest.approx((0, 0)) and box.max_m == pytest.approx((100, 50))


def test_box_of_an_l_shape_takes_the_larger_arm():
    fence = PolygonFence(((0, 0), (100, 0), (100, 20), (20, 20), (20, 80), (0, 80)), 2.0, 30.0)
    box = fence.inscribed_box()
    assert box.area_m2 == pytest.approx(2000.0, rel=0.02)  # the 100 x 20 arm beats the 20 x 80 one
    assert not fence.contains((50, 50))  # the notch is outside


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.lists(st.floats(0.0, 2 * math.pi), min_size=3, max_size=8, unique=True),
       st.floats(20.0, 150.0), st.floats(0.3, 1.0))
def test_box_is_inside_any_convex_polygon(angles, radius, squash):
    angles = sorted(angles)
    vertices = tuple((radius * math.cos(a), squash * radius * math.sin(a)) for a in angles)
    try:
        fence = PolygonFence(vertices, 1.0, 10.0)
    except ValueError:
        return  # degenerate (nearly collinear) draws are refused, as a site file would be
    try:
        box = fence.inscribed_box(resolution_m=radius / 40)
    except ValueError as exc:  # a sliver no grid cell fits in: refused, never a box outside
        assert "too narrow" in str(exc)
        return
    corners = box.corners()
    samples = np.array([corners[i] + t * (corners[(i + 1) % 4] - corners[i]) for i in range(4)
                        for t in np.linspace(0, 1, 25)])
    assert points_in_polygon(samples, fence.vertices).all()
    assert box.area_m2 > 0


def test_self_crossing_polygon_is_refused():
    with pytest.raises(ValueError, match="edges 1 and 3 cross"):
        PolygonFence(((0, 0), (10, 10), (10, 0), (0, 12)), 1.0, 10.0)


def test_gps_polygon_becomes_local_metres(tmp_path):
    site = load_site(EXAMPLE)
    home = Home(47.397742, 8.545594, 488.0, local_enu_m=(3.0, -2.0, 0.5))
    resolved = resolve_site(site, home)
    south_west = resolved.fence.vertices[0]
    # 47.397292 is 0.00045 deg = 50.0 m south; 8.544931 is 0.000663 deg = 50.0 m west at 47.4 deg (+ home's offset)
    assert south_west == pytest.approx((-50.05 + 3.0, -50.03 - 2.0), abs=0.05)
    assert resolved.fence.altitude_floor_m == pytest.approx(1.5 + 0.5)
    assert resolved.vehicle.airspace.geofence_min_m == pytest.approx(resolved.box.min_m)
    assert resolved.vehicle.airspace.altitude_ceiling_m == pytest.approx(30.5)
    assert resolved.vehicle.camera_profile == "sim_super35"
    assert all(resolved.fence.contains(c) for c in resolved.box.corners())


def test_site_overlays_mavlink_and_perception(tmp_path):
    document = example()
    document["perception"] = {"weights": "/fields/meadow.pt", "class_filter": [0, 2], "frame_rate_hz": 5.0}
    document["failsafe"] = {"hold_mode": "brake"}
    site = load_site(write(tmp_path, document))
    params = site.mavlink_params()
    assert params["connection"]["url"] == "udpout:127.0.0.1:14580"
    assert params["signing"]["key_file"].endswith(".config/cinempc/mavlink.key")
    assert params["px4"]["hold_mode"] == params["ardupilot"]["hold_mode"] == "brake"
    perception = site.perception_params()
    assert perception.weights == "/fields/meadow.pt" and perception.class_filter == [0, 2]
    assert perception.frame_rate_hz == 5.0 and perception.nms_iou > 0  # the rest stays config/'s


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d["geofence"].update(polygon=[[47.39, 8.54], [47.40, 8.54]]), "geofence.polygon: List should have at "
     "least 3 items"),
    (lambda d: d["geofence"]["polygon"].__setitem__(1, [47.39, 8.55, 3]), "geofence.polygon.1: a vertex is [lat, "
     "lon] in degrees"),
    (lambda d: d["geofence"]["polygon"].__setitem__(1, [97.0, 8.55]), "geofence.polygon.1.lat_deg: Input should be "
     "less than or equal to 90"),
    (lambda d: d["geofence"].update(altitude_floor_m=40.0), "altitude_ceiling_m (30.0) must exceed altitude_floor_m"),
    (lambda d: d.update(camera_profile="gopro"), "camera_profile: unknown camera profile 'gopro'; known:"),
    (lambda d: d["mavlink"].update(url="udp:1.2.3.4"), "mavlink.url:"),
    (lambda d: d.update(wind_limit=12), "wind_limit: Extra inputs are not permitted"),
    (lambda d: d["geofence"].update(polygon=[[47.397, 8.545], [47.398, 8.546], [47.398, 8.545], [47.397, 8.546]]),
     "geofence: geofence polygon edges"),
])
def test_bad_site_files_name_the_field(tmp_path, change, message):
    document = example()
    change(document)
    with pytest.raises(ValueError) as error:
        load_site(write(tmp_path, document))
    assert message in str(error.value) and str(tmp_path / "field.yaml") in str(error.value)


def test_site_check_prints_resolved_values_and_draws_the_fence(tmp_path, capsys):
    from cinempc.mavlink.signing import write_signing_key

    key = write_signing_key(tmp_path / "keys" / "field.key") and tmp_path / "keys" / "field.key"
    document = example()
    document["mavlink"]["signing_key"] = str(key)
    path = write(tmp_path, document)
    assert main(["site", "check", str(path)]) == 0
    out = capsys.readouterr().out
    printed = yaml.safe_load(out.split("wrote ")[0])
    assert printed["geofence"]["altitude_band_m"] == [1.5, 30.0]
    assert printed["geofence"]["mpc_box_area_fraction"] > 0.6
    assert printed["anchored_at"] == "the site's home"
    png = tmp_path / "field.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out.rstrip().endswith("OK")
    document["mavlink"]["signing_key"] = str(tmp_path / "nowhere.key")
    document["home"]["lat_deg"] = 47.399  # 140 m north: outside the polygon
    assert main(["site", "check", str(write(tmp_path, document))]) == 1
    out = capsys.readouterr().out
    assert "PROBLEM: home (47.399000, 8.545594) is outside the geofence polygon" in out
    assert "nowhere.key does not exist" in out


def test_the_safety_cores_box_rule_keeps_every_setpoint_inside_the_polygon():
    """Why the safety core needs no polygon rule of its own: its one geofence rule (cinempc.safety.fence) clamps
    into the site's box, and the box lies inside the polygon -- 500 random requests from random rig positions
    (inside and outside the field) all come out inside the polygon and the altitude band."""
    from cinempc.safety import fence
    from cinempc.state import Setpoint

    resolved = resolve_site(load_site(EXAMPLE), Home(47.397742, 8.545594, 488.0))
    rng = np.random.default_rng(3)
    for _ in range(500):
        request = rng.uniform([-200, -200, -20], [200, 200, 80])
        rig = rng.uniform([-120, -120, -5], [120, 120, 50])
        setpoint = Setpoint(position_m=request, velocity_mps=rng.normal(size=3), acceleration_mps2=np.zeros(3),
                            yaw_rad=0.0, yaw_rate_rad_s=0.0, pitch_rad=0.0, focal_length_mm=35.0,
                            focus_distance_m=5.0, f_number=4.0)
        flown, _ = fence(setpoint, resolved.vehicle.airspace, rig)
        assert resolved.fence.contains(flown.position_m), (request, rig, flown.position_m)


def test_the_fence_is_drawn_without_matplotlib(tmp_path, monkeypatch):
    """A flight-only install has no matplotlib (it is in the [sim] extra): the plot is drawn with OpenCV."""
    import sys

    import cv2

    from cinempc.site import plot_site

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    resolved = resolve_site(load_site(EXAMPLE), Home(47.397742, 8.545594, 488.0))
    image = cv2.imread(str(plot_site(resolved, tmp_path / "fence.png")))
    assert image is not None and image.shape == (700, 700, 3)
    green = (image[:, :, 1] > 140) & (image[:, :, 0] < 80) & (image[:, :, 2] < 80)
    assert green.sum() > 500  # the polygon's outline
