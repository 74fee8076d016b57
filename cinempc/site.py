"""The site file: one YAML outside the repository that overlays config/ for one flying field.

Rules:

* the geofence is a GPS polygon (lat/lon degrees, in order around the field) plus an altitude floor and
  ceiling in metres above home; it becomes local ENU metres only once home is known
  (:meth:`Site.resolve`), with pymap3d's geodetic -> ENU about home, shifted by home's own local position
  (PX4's local origin is the EKF origin, not always home);
* the MPC's box fence is the largest axis-aligned box inside that polygon (:mod:`cinempc.geofence`); the
  polygon itself stays available to the safety checks (:attr:`ResolvedSite.fence`);
* everything else the site names (camera profile, MAVLink URL and signing key file, detector weights and
  class filter, hold mode) replaces the config value; anything it leaves out keeps config/'s value;
* the rally point (``failsafe.rally``: lat/lon, altitude above home, ``after_s``, ``speed_mps``) is resolved
  like the fence and must lie inside the MPC's box and the altitude band, so the flight to it
  (:class:`cinempc.geofence.RallyPath`) never leaves the fence; the MPC node's safety core flies it when a
  hold cinempc started by itself lasts ``after_s``, and the bridge node's when the MPC node's setpoints stop
  that long (:mod:`cinempc.safety`, docs/first_flight.md);
* every field is validated when the file is read, and an error names the file and the field.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from cinempc.config import (
    Airspace,
    CameraProfile,
    VehicleConfig,
    camera_profiles,
    load_camera_profile,
    load_parameters,
    load_vehicle_config,
)
from cinempc.geofence import Box, PolygonFence, RallyPoint

# The nodes whose safety cores take the rally point from their own ``node`` parameters
# (cinempc.safety.SafetyLimits.from_parameters): the MPC node, whose rally flight the bridge node streams, and the
# bridge node, whose own core flies it when the MPC node's setpoints stop (the MPC node died or hangs).
RALLY_NODES = ("mpc_node", "mavlink_bridge_node")


class LatLon(BaseModel):
    """A WGS-84 point; written in the file as ``[lat, lon]`` or ``{lat_deg: .., lon_deg: ..}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    lat_deg: float = Field(ge=-90.0, le=90.0)
    lon_deg: float = Field(ge=-180.0, le=180.0)

    @model_validator(mode="before")
    @classmethod
    def _from_pair(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            if len(value) != 2:
                raise ValueError(f"a vertex is [lat, lon] in degrees, got {list(value)!r}")
            return {"lat_deg": value[0], "lon_deg": value[1]}
        return value


class SiteGeofence(BaseModel):
    """The field's fence: a GPS polygon and an altitude band above home."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    polygon: list[LatLon] = Field(min_length=3)
    altitude_floor_m: float = Field(ge=0.0, description="metres above home; the vehicle never goes lower in flight")
    altitude_ceiling_m: float = Field(gt=0.0, le=120.0, description="metres above home (<= 120 m, the usual legal "
                                      "limit)")
    box_resolution_m: float = Field(0.5, gt=0.0, le=10.0, description="grid cell of the MPC box search")

    @model_validator(mode="after")
    def _band(self) -> SiteGeofence:
        if self.altitude_ceiling_m <= self.altitude_floor_m:
            raise ValueError(f"altitude_ceiling_m ({self.altitude_ceiling_m}) must exceed altitude_floor_m "
                             f"({self.altitude_floor_m})")
        return self


class SiteHome(BaseModel):
    """Where the site expects the take-off point; preflight checks the autopilot's home against it."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    lat_deg: float = Field(ge=-90.0, le=90.0)
    lon_deg: float = Field(ge=-180.0, le=180.0)
    alt_m: float = Field(description="metres above mean sea level")
    tolerance_m: float = Field(10.0, gt=0.0, description="largest horizontal distance to the autopilot's home")


class SiteMavlink(BaseModel):
    """How to reach the autopilot."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    url: str | None = None
    signing_key: Path | None = None
    require_signing: bool = True

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None:
            from cinempc.mavlink.connection import parse_url

            parse_url(value)
        return value


class SitePerception(BaseModel):
    """Detector settings for this field (weights trained for its people and light)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    backend: Literal["ultralytics", "onnx"] | None = None
    weights: str | None = None
    onnx_weights: str | None = None
    class_filter: list[int] | None = Field(None, min_length=1)
    frame_rate_hz: float | None = Field(None, gt=0.0, le=60.0, description="perception rate this field's computer "
                                        "sustains; preflight times the detector against it")
    test_frame: Path | None = Field(None, description="a photo taken on the field with a person in it: preflight "
                                    "runs the detector on it")


class SiteRally(BaseModel):
    """Where cinempc flies when a hold it started by itself lasts (docs/first_flight.md, "Rally point")."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    position: LatLon = Field(description="[lat, lon] in degrees: inside the geofence's MPC box")
    altitude_m: float = Field(gt=0.0, le=120.0, description="metres above home, inside the altitude band; "
                              "the transit is flown at it, so pick one clear of trees and masts")
    after_s: float = Field(gt=0.0, le=600.0, description="how long a hold cinempc started by itself (perception, "
                           "controller or plan failed) lasts before the flight to the rally point begins")
    speed_mps: float = Field(gt=0.0, le=15.0, description="peak horizontal speed of that flight (vertical: at most "
                             "config/vehicle.yaml max_vertical_speed_mps)")


class SiteFailsafe(BaseModel):
    """What the vehicle does when cinempc holds (director HOLD, link loss, lost subject)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    hold_mode: Literal["hold", "brake", "position"] | None = None
    rally: SiteRally | None = None


class Site(BaseModel):
    """Everything a site file may say (see docs/first_flight.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1)
    geofence: SiteGeofence
    home: SiteHome | None = None
    camera_profile: str | None = None
    mavlink: SiteMavlink = SiteMavlink()
    perception: SitePerception = SitePerception()
    failsafe: SiteFailsafe = SiteFailsafe()

    @field_validator("camera_profile")
    @classmethod
    def _camera(cls, value: str | None) -> str | None:
        if value is not None and value not in camera_profiles():
            raise ValueError(f"unknown camera profile {value!r}; known: {', '.join(sorted(camera_profiles()))}")
        return value

    def camera(self, vehicle: VehicleConfig | None = None) -> CameraProfile:
        """The site's camera profile, else config/vehicle.yaml's."""
        vehicle = vehicle or load_vehicle_config()
        return load_camera_profile(self.camera_profile or vehicle.camera_profile)

    def mavlink_params(self, base: dict[str, Any] | None = None) -> dict[str, Any]:
        """config/mavlink.yaml with the site's URL, signing key file and hold mode."""
        params = base if base is not None else load_parameters("mavlink.yaml")
        if self.mavlink.url is not None:
            params["connection"]["url"] = self.mavlink.url
        if self.mavlink.signing_key is not None:
            params["signing"]["key_file"] = str(self.mavlink.signing_key.expanduser())
        if self.failsafe.hold_mode is not None:
            for stack in ("px4", "ardupilot"):
                params[stack]["hold_mode"] = self.failsafe.hold_mode
        return params

    def perception_params(self):  # -> PerceptionParams (import kept lazy: perception pulls in OpenCV)
        """config/perception.yaml with the site's backend, weights and class filter."""
        from cinempc.perception.params import load_perception_params

        base = load_perception_params()
        changes = {k: v for k, v in self.perception.model_dump(exclude={"test_frame"}).items() if v is not None}
        return base.with_(**changes) if changes else base


@dataclass(frozen=True)
class Home:
    """The autopilot's home: WGS-84 position and where it lies in the local ENU frame."""

    lat_deg: float
    lon_deg: float
    alt_m: float  # above mean sea level
    local_enu_m: tuple[float, float, float] = (0.0, 0.0, 0.0)

    @classmethod
    def from_home_position(cls, msg: Any) -> Home:
        """From a MAVLink HOME_POSITION (degE7, mm, local NED)."""
        from cinempc.mavlink.frames import ned_to_enu

        local = ned_to_enu([msg.x, msg.y, msg.z])
        return cls(msg.latitude * 1e-7, msg.longitude * 1e-7, msg.altitude * 1e-3,
                   (float(local[0]), float(local[1]), float(local[2])))

    @classmethod
    def from_site(cls, home: SiteHome) -> Home:
        return cls(home.lat_deg, home.lon_deg, home.alt_m)


def geodetic_to_local(points: list[LatLon], home: Home) -> np.ndarray:
    """(east, north) metres in the local frame of WGS-84 points at home's altitude."""
    import pymap3d

    lat = np.array([p.lat_deg for p in points])
    lon = np.array([p.lon_deg for p in points])
    east, north, _ = pymap3d.geodetic2enu(lat, lon, np.full_like(lat, home.alt_m), home.lat_deg, home.lon_deg,
                                          home.alt_m)
    return np.column_stack([east, north]) + np.asarray(home.local_enu_m[:2])


def horizontal_distance_m(a: Home, b: Home | SiteHome) -> float:
    """Ground distance between two homes (ENU about ``a``)."""
    import pymap3d

    east, north, _ = pymap3d.geodetic2enu(b.lat_deg, b.lon_deg, a.alt_m, a.lat_deg, a.lon_deg, a.alt_m)
    return float(np.hypot(east, north))


@dataclass(frozen=True)
class ResolvedSite:
    """A site anchored at a home: the local fence, the MPC's box and the overlaid configs."""

    site: Site
    home: Home
    fence: PolygonFence  # local ENU metres, altitude band in the local frame
    box: Box  # the MPC's box: the largest axis-aligned box inside ``fence``
    vehicle: VehicleConfig
    camera: CameraProfile
    rally: RallyPoint | None = None  # local ENU, inside ``box`` and the band; None: holds stay where they began

    def summary(self) -> dict[str, Any]:
        """The resolved values, as ``site check`` prints them."""
        def rounded(values) -> list[float]:
            return [round(float(v), 2) for v in values]

        poly_area = abs(self.fence.signed_area_m2)
        return {
            "site": self.site.name,
            "home": {"lat_deg": self.home.lat_deg, "lon_deg": self.home.lon_deg, "alt_m": round(self.home.alt_m, 2),
                     "local_enu_m": rounded(self.home.local_enu_m)},
            "geofence": {
                "polygon_enu_m": [rounded(v) for v in self.fence.vertices_m],
                "polygon_area_m2": round(poly_area, 1),
                "farthest_vertex_from_home_m": round(self.fence.max_distance_m(self.home.local_enu_m[:2]), 1),
                "altitude_band_m": rounded((self.fence.altitude_floor_m, self.fence.altitude_ceiling_m)),
                "mpc_box_min_m": rounded(self.box.min_m), "mpc_box_max_m": rounded(self.box.max_m),
                "mpc_box_area_fraction": round(self.box.area_m2 / poly_area, 3),
            },
            "camera_profile": self.camera.name,
            "mavlink": {"url": self.site.mavlink_params()["connection"]["url"],
                        "signing_key": str(self.site.mavlink.signing_key) if self.site.mavlink.signing_key else None,
                        "require_signing": self.site.mavlink.require_signing},
            "perception": {k: v for k, v in self.site.perception_params().model_dump().items()
                           if k in ("backend", "weights", "onnx_weights", "class_filter", "frame_rate_hz")},
            "hold_mode": self.site.failsafe.hold_mode or "config default (px4: hold, ardupilot: brake)",
            "rally": self._rally_summary(),
        }

    def _rally_summary(self) -> dict[str, Any] | str:
        if self.rally is None:
            return "none: every hold stays where it began until the operator acts"
        site_rally = self.site.failsafe.rally
        home_xy = np.asarray(self.home.local_enu_m[:2])
        return {"lat_deg": site_rally.position.lat_deg, "lon_deg": site_rally.position.lon_deg,
                "altitude_above_home_m": site_rally.altitude_m,
                "local_enu_m": [round(float(v), 2) for v in self.rally.position_m],
                "from_home_m": round(float(np.linalg.norm(np.asarray(self.rally.position_m[:2]) - home_xy)), 1),
                "after_s": self.rally.after_s, "speed_mps": self.rally.speed_mps,
                "vertical_speed_mps": self.rally.vertical_speed_mps,
                "behaviour": f"a hold cinempc starts by itself (perception, controller or plan failed) that lasts "
                             f"{self.rally.after_s:g} s flies here (up/down to the rally altitude, then straight "
                             "across) and holds; director HOLD/ABORT always hold where they are; MAVLink link "
                             "loss: the autopilot's failsafe (upload this point as its rally point: cinempc "
                             "mavlink rally --site; preflight checks it)"}


def site_parameters(resolved: ResolvedSite) -> dict[str, dict[str, Any]]:
    """The site's values as ROS parameters (dotted names) per config file they replace a value of.

    ``cinempc up drone --site`` gives each node those of the files it reads, so the MPC flies the site's box,
    the bridge gates with it and talks to the site's autopilot, and perception loads the site's weights.
    """
    airspace = resolved.vehicle.airspace
    vehicle = {"airspace.geofence_min_m": [float(v) for v in airspace.geofence_min_m],
               "airspace.geofence_max_m": [float(v) for v in airspace.geofence_max_m],
               "airspace.altitude_floor_m": float(airspace.altitude_floor_m),
               "airspace.altitude_ceiling_m": float(airspace.altitude_ceiling_m),
               "camera_profile": resolved.camera.name}
    site = resolved.site
    mavlink: dict[str, Any] = {}
    if site.mavlink.url is not None:
        mavlink["connection.url"] = site.mavlink.url
    if site.mavlink.signing_key is not None:
        mavlink["signing.key_file"] = str(site.mavlink.signing_key.expanduser())
    if site.failsafe.hold_mode is not None:
        mavlink["px4.hold_mode"] = mavlink["ardupilot.hold_mode"] = site.failsafe.hold_mode
    perception = {f"perception.{k}": v for k, v in site.perception.model_dump(exclude={"test_frame"}).items()
                  if v is not None}
    if "perception.frame_rate_hz" in perception:
        perception["perception.frame_rate_hz"] = float(perception["perception.frame_rate_hz"])
    return {"vehicle.yaml": vehicle, "mavlink.yaml": mavlink, "perception.yaml": perception}


def site_node_parameters(resolved: ResolvedSite) -> dict[str, dict[str, Any]]:
    """The site's values that are nodes' own ``node`` parameters: the rally point, for each of :data:`RALLY_NODES`.

    Read back by :meth:`cinempc.safety.SafetyLimits.from_parameters`; empty without a rally point.
    """
    rally = resolved.rally
    if rally is None:
        return {}
    values = {"node.rally_enu_m": [float(v) for v in rally.position_m], "node.rally_after_s": float(rally.after_s),
              "node.rally_speed_mps": float(rally.speed_mps),
              "node.rally_vertical_speed_mps": float(rally.vertical_speed_mps),
              "node.rally_accel_mps2": float(rally.accel_mps2)}
    return {node: dict(values) for node in RALLY_NODES}


def resolve_rally(site: Site, home: Home, fence: PolygonFence, box: Box, vehicle: VehicleConfig) -> RallyPoint | None:
    """The site's rally point in the local frame, checked: inside the MPC box (hence the polygon) and the band.

    Why the box and not just the polygon: the flight to it is straight, from wherever the MPC flew (inside
    the box), and a straight line between two points of a box stays in the box -- not so in a concave polygon.
    """
    rally = site.failsafe.rally
    if rally is None:
        return None
    east, north = (float(v) for v in geodetic_to_local([rally.position], home)[0])
    up = home.local_enu_m[2] + rally.altitude_m
    where = f"failsafe.rally.position ({rally.position.lat_deg:.6f}, {rally.position.lon_deg:.6f})"
    band = (site.geofence.altitude_floor_m, site.geofence.altitude_ceiling_m)
    if not band[0] <= rally.altitude_m <= band[1]:
        raise ValueError(f"failsafe.rally.altitude_m {rally.altitude_m:g} m is outside the geofence's altitude band "
                         f"{band[0]:g}-{band[1]:g} m above home")
    if not fence.contains((east, north)):
        raise ValueError(f"{where} is outside the geofence polygon ({east:.1f}, {north:.1f} m from the local origin)")
    (x0, y0), (x1, y1) = box.min_m, box.max_m
    if not (x0 <= east <= x1 and y0 <= north <= y1):
        raise ValueError(f"{where} is inside the polygon but outside the MPC box (east {x0:.1f}..{x1:.1f} m, north "
                         f"{y0:.1f}..{y1:.1f} m; it is at {east:.1f}, {north:.1f}): the flight to it is a straight "
                         "line inside that box -- move the point into it (`cinempc site check` draws the box)")
    limits = vehicle.vehicle
    if rally.speed_mps > limits.max_speed_mps:
        raise ValueError(f"failsafe.rally.speed_mps {rally.speed_mps:g} exceeds the vehicle's max_speed_mps "
                         f"{limits.max_speed_mps:g} (config/vehicle.yaml)")
    return RallyPoint((east, north, up), rally.after_s, rally.speed_mps,
                      min(rally.speed_mps, limits.max_vertical_speed_mps), limits.max_accel_mps2)


def resolve_site(site: Site, home: Home, vehicle: VehicleConfig | None = None) -> ResolvedSite:
    """Anchor a site at home: polygon -> local ENU, altitude band -> local z, the MPC box, the overlaid vehicle."""
    vehicle = vehicle or load_vehicle_config()
    vertices = geodetic_to_local(site.geofence.polygon, home)
    z0 = home.local_enu_m[2]
    try:
        fence = PolygonFence(tuple((float(x), float(y)) for x, y in vertices),
                             z0 + site.geofence.altitude_floor_m, z0 + site.geofence.altitude_ceiling_m)
        box = fence.inscribed_box(site.geofence.box_resolution_m)
    except ValueError as exc:
        raise ValueError(f"geofence: {exc}") from None
    airspace = Airspace(**{**vehicle.airspace.model_dump(), "geofence_min_m": box.min_m, "geofence_max_m": box.max_m,
                           "altitude_floor_m": fence.altitude_floor_m,
                           "altitude_ceiling_m": fence.altitude_ceiling_m})
    camera = site.camera(vehicle)
    resolved_vehicle = vehicle.model_copy(update={"airspace": airspace, "camera_profile": camera.name})
    rally = resolve_rally(site, home, fence, box, resolved_vehicle)
    return ResolvedSite(site, home, fence, box, resolved_vehicle, camera, rally)


def _format_error(path: os.PathLike[str] | str, error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "(top level)"
        message = item["msg"].removeprefix("Value error, ")
        lines.append(f"{where}: {message}")
    return f"site file {path}: " + "; ".join(lines)


def load_site(path: str | os.PathLike[str]) -> Site:
    """Read and validate a site file; every error names the file and the field."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise FileNotFoundError(f"site file {file} does not exist")
    try:
        document = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ValueError(f"site file {file}: not valid YAML: {exc}") from None
    if not isinstance(document, dict):
        raise ValueError(f"site file {file}: expected a mapping of settings (name, geofence, ...), got "
                         f"{type(document).__name__}")
    try:
        site = Site.model_validate(document)
    except ValidationError as exc:
        raise ValueError(_format_error(file, exc)) from None
    # a polygon that crosses itself or is degenerate is a site-file error too, whatever the anchor
    anchor = Home.from_site(site.home) if site.home else provisional_home(site)
    try:
        resolve_site(site, anchor)
    except ValueError as exc:
        raise ValueError(f"site file {file}: {exc}") from None
    return site


def provisional_home(site: Site) -> Home:
    """The polygon's vertex mean at 0 m AMSL: an anchor for ``site check`` before the autopilot's home is known."""
    lat = float(np.mean([p.lat_deg for p in site.geofence.polygon]))
    lon = float(np.mean([p.lon_deg for p in site.geofence.polygon]))
    return Home(lat, lon, 0.0)


def plot_site(resolved: ResolvedSite, out: str | os.PathLike[str],
              autopilot_fence_radius_m: float | None = None) -> Path:
    """Draw the polygon, the MPC box and home (local ENU metres) to a PNG (matplotlib; OpenCV on a flight-only
    install, where matplotlib -- in the [sim] extra -- is absent)."""
    try:
        import matplotlib
    except ImportError:
        return _plot_site_opencv(resolved, out, autopilot_fence_radius_m)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 7), dpi=100)
    v = resolved.fence.vertices
    closed = np.vstack([v, v[:1]])
    ax.fill(closed[:, 0], closed[:, 1], color="tab:green", alpha=0.15)
    ax.plot(closed[:, 0], closed[:, 1], color="tab:green", lw=2, label="site geofence polygon")
    box = np.vstack([resolved.box.corners(), resolved.box.corners()[:1]])
    ax.plot(box[:, 0], box[:, 1], color="tab:blue", lw=2, ls="--", label="MPC box (largest inside)")
    hx, hy = resolved.home.local_enu_m[:2]
    ax.plot([hx], [hy], marker="H", color="black", ms=10, ls="", label="home")
    if resolved.rally is not None:
        rx, ry, _ = resolved.rally.position_m
        height = resolved.site.failsafe.rally.altitude_m
        ax.plot([rx], [ry], marker="*", color="tab:orange", ms=14, ls="",
                label=f"rally point ({height:g} m, after {resolved.rally.after_s:g} s)")
    if autopilot_fence_radius_m:
        circle = plt.Circle((hx, hy), autopilot_fence_radius_m, fill=False, color="tab:red", lw=1.5)
        ax.add_patch(circle)
        ax.plot([], [], color="tab:red", label=f"autopilot fence {autopilot_fence_radius_m:.0f} m")
    ax.set_aspect("equal")
    ax.set_xlabel("east (m)")
    ax.set_ylabel("north (m)")
    fence = resolved.fence
    ax.set_title(f"{resolved.site.name}: altitude {fence.altitude_floor_m:.1f}-{fence.altitude_ceiling_m:.1f} m")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    out_path = Path(out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_path)
    plt.close(fig)
    return out_path


def _plot_site_opencv(resolved: ResolvedSite, out: str | os.PathLike[str],
                      autopilot_fence_radius_m: float | None = None, size_px: int = 700) -> Path:
    """The same drawing with OpenCV (base install): north up, 10 % margin, a 10 m grid."""
    import cv2

    v = resolved.fence.vertices
    home = np.asarray(resolved.home.local_enu_m[:2], dtype=float)
    points = np.vstack([v, resolved.box.corners(), home[None, :]])
    if resolved.rally is not None:
        points = np.vstack([points, np.asarray(resolved.rally.position_m[:2])[None, :]])
    if autopilot_fence_radius_m:
        points = np.vstack([points, home + autopilot_fence_radius_m, home - autopilot_fence_radius_m])
    lo, hi = points.min(axis=0), points.max(axis=0)
    scale = 0.8 * size_px / max(float(np.max(hi - lo)), 1.0)
    centre = (lo + hi) / 2.0

    def px(p: np.ndarray) -> np.ndarray:
        return np.column_stack([size_px / 2 + (p[:, 0] - centre[0]) * scale,
                                size_px / 2 - (p[:, 1] - centre[1]) * scale]).round().astype(np.int32)

    image = np.full((size_px, size_px, 3), 255, dtype=np.uint8)
    for east in np.arange(np.floor(lo[0] / 10) * 10, hi[0] + 10, 10):
        x = int(px(np.array([[east, 0.0]]))[0, 0])
        cv2.line(image, (x, 0), (x, size_px), (235, 235, 235), 1)
    for north in np.arange(np.floor(lo[1] / 10) * 10, hi[1] + 10, 10):
        y = int(px(np.array([[0.0, north]]))[0, 1])
        cv2.line(image, (0, y), (size_px, y), (235, 235, 235), 1)
    cv2.polylines(image, [px(v)], True, (44, 160, 44), 2)  # BGR
    cv2.polylines(image, [px(resolved.box.corners())], True, (180, 119, 31), 2)
    h = px(home[None, :])[0]
    cv2.drawMarker(image, (int(h[0]), int(h[1])), (0, 0, 0), cv2.MARKER_DIAMOND, 14, 2)
    if autopilot_fence_radius_m:
        cv2.circle(image, (int(h[0]), int(h[1])), int(round(autopilot_fence_radius_m * scale)), (40, 39, 214), 1)
    if resolved.rally is not None:
        r = px(np.asarray(resolved.rally.position_m[:2])[None, :])[0]
        cv2.drawMarker(image, (int(r[0]), int(r[1])), (14, 127, 255), cv2.MARKER_STAR, 16, 2)
    fence = resolved.fence
    cv2.putText(image, f"{resolved.site.name[:50]}: altitude {fence.altitude_floor_m:.1f}-"
                f"{fence.altitude_ceiling_m:.1f} m", (10, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1)
    cv2.putText(image, "green: site polygon  blue: MPC box  diamond: home  star: rally  grid: 10 m, north up",
                (10, size_px - 12),
                cv2.FONT_HERSHEY_SIMPLEX, 0.45, (60, 60, 60), 1)
    out_path = Path(out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out_path), image):
        raise ValueError(f"could not write {out_path}")
    return out_path
