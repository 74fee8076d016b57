"""Loading of the YAML files in ``config/`` -- the single source of every number.

Nodes, CLI and tests all come through here, so a limit changed in
``config/vehicle.yaml`` changes it everywhere.  Parameter files use the ROS 2
``ros__parameters`` form so ``ros2 launch`` can pass them to nodes unchanged;
:func:`load_parameters` unwraps that form for plain-Python users.
"""

from __future__ import annotations

import copy
import os
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

CONFIG_ENV = "CINEMPC_CONFIG_DIR"


def config_dir() -> Path:
    """Where the config files live.

    Order: ``$CINEMPC_CONFIG_DIR``; the source checkout (editable installs and
    tests); the ament share directory of an installed ROS 2 package; the
    ``share/cinempc/config`` that ``pip install`` puts under ``sys.prefix``.
    """
    candidates: list[Path] = []
    if os.environ.get(CONFIG_ENV):
        candidates.append(Path(os.environ[CONFIG_ENV]))
    candidates.append(Path(__file__).resolve().parent.parent / "config")
    try:  # a colcon-built workspace
        from ament_index_python.packages import get_package_share_directory

        candidates.append(Path(get_package_share_directory("cinempc")) / "config")
    except Exception:  # noqa: BLE001 -- ament index missing or package not registered
        pass
    candidates.append(Path(sys.prefix) / "share" / "cinempc" / "config")
    for candidate in candidates:
        if (candidate / "cameras.yaml").is_file():
            return candidate
    raise FileNotFoundError(
        "cinempc config directory not found; looked in: " + ", ".join(str(c) for c in candidates)
        + f". Set {CONFIG_ENV} to the folder holding cameras.yaml."
    )


def resolve_config_path(name: str | os.PathLike[str]) -> Path:
    """A path as given if it exists, else the file of that name in :func:`config_dir`."""
    path = Path(name)
    if path.is_file():
        return path
    candidate = config_dir() / path.name
    if not candidate.suffix:
        candidate = candidate.with_suffix(".yaml")
    if not candidate.is_file():
        raise FileNotFoundError(f"config file {name!s} not found (looked for {candidate})")
    return candidate


@lru_cache(maxsize=64)
def _load_yaml_cached(path: str, mtime_ns: int) -> Any:
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def load_yaml(name: str | os.PathLike[str]) -> Any:
    """Parse a config YAML file (cached until the file changes).

    Each caller gets its own copy: a test or a node that overrides one value must not change
    what every later caller in the process reads.
    """
    path = resolve_config_path(name)
    return copy.deepcopy(_load_yaml_cached(str(path), path.stat().st_mtime_ns))


def load_parameters(name: str | os.PathLike[str], node: str = "/**") -> dict[str, Any]:
    """The ``ros__parameters`` dictionary of ``node`` in a ROS 2 parameter file.

    Wildcard sections (``/**``) apply to every node and are merged first, then the
    node's own section, as ``rclpy`` does.
    """
    document = load_yaml(name) or {}
    merged: dict[str, Any] = {}
    for key in ("/**", node, node.lstrip("/")):
        section = document.get(key)
        if isinstance(section, dict) and isinstance(section.get("ros__parameters"), dict):
            _deep_merge(merged, section["ros__parameters"])
    if not merged and not any(isinstance(v, dict) and "ros__parameters" in v for v in document.values()):
        raise ValueError(f"{name}: not a ROS 2 parameter file (no ros__parameters section)")
    return merged


def _deep_merge(into: dict[str, Any], update: dict[str, Any]) -> None:
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _deep_merge(into[key], value)
        else:
            into[key] = value


def flatten_parameters(params: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested parameters as the dotted names ROS 2 gives them (``vehicle.max_speed_mps``)."""
    flat: dict[str, Any] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten_parameters(value, name + "."))
        else:
            flat[name] = value
    return flat


def unflatten_parameters(flat: dict[str, Any]) -> dict[str, Any]:
    """Inverse of :func:`flatten_parameters` (what a node does with its declared parameters)."""
    nested: dict[str, Any] = {}
    for name, value in flat.items():
        node = nested
        *parents, leaf = name.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return nested


# ------------------------------------------------------------------ camera profiles


class Range(BaseModel):
    """A closed interval of a lens setting."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    min: float = Field(gt=0)
    max: float = Field(gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.max < self.min:
            raise ValueError(f"range max ({self.max}) is below min ({self.min})")
        return self

    def clamp(self, value: float) -> float:
        """``value`` limited to the range."""
        return min(max(value, self.min), self.max)


class CameraProfile(BaseModel):
    """A camera body + lens: sensor geometry, lens ranges and lens-motor speeds."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    description: str = ""
    sensor_width_mm: float = Field(gt=0)
    sensor_height_mm: float = Field(gt=0)
    image_width_px: int = Field(gt=0)
    image_height_px: int = Field(gt=0)
    focal_length_mm: Range
    f_number: Range
    focus_distance_m: Range
    coc_mm: float = Field(gt=0)
    zoom_speed_mm_per_s: float = Field(gt=0)
    focus_speed_m_per_s: float = Field(gt=0)
    iris_speed_stops_per_s: float = Field(gt=0)
    gimbal_yaw: bool = True

    @property
    def sensor_width_m(self) -> float:
        return self.sensor_width_mm * 1e-3

    @property
    def sensor_height_m(self) -> float:
        return self.sensor_height_mm * 1e-3

    @property
    def coc_m(self) -> float:
        return self.coc_mm * 1e-3

    @property
    def pixel_pitch_m(self) -> float:
        """Sensor width over image width: turns sensor blur into pixels."""
        return self.sensor_width_m / self.image_width_px

    def focal_px(self, focal_length_mm: float) -> float:
        """Focal length in pixels at this profile's image width."""
        return focal_length_mm * self.image_width_px / self.sensor_width_mm

    def with_resolution(self, image_width_px: int, image_height_px: int) -> CameraProfile:
        """The same optics rendered at another image size (sensor crop kept to the aspect)."""
        height_mm = self.sensor_width_mm * image_height_px / image_width_px
        return self.model_copy(
            update={"image_width_px": image_width_px, "image_height_px": image_height_px, "sensor_height_mm": height_mm}
        )


def camera_profiles() -> dict[str, CameraProfile]:
    """All profiles in ``config/cameras.yaml`` by name."""
    document = load_yaml("cameras.yaml")
    return {name: CameraProfile(name=name, **spec) for name, spec in document["profiles"].items()}


def load_camera_profile(name: str) -> CameraProfile:
    """One camera profile; an unknown name lists the known ones."""
    profiles = camera_profiles()
    if name not in profiles:
        raise KeyError(f"unknown camera profile {name!r}; known: {', '.join(sorted(profiles))}")
    return profiles[name]


# ---------------------------------------------------------------- vehicle limits


class VehicleLimits(BaseModel):
    """Drone translational and yaw limits (hard constraints)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    max_speed_mps: float = Field(gt=0)
    max_vertical_speed_mps: float = Field(gt=0)
    max_accel_mps2: float = Field(gt=0)
    max_jerk_mps3: float = Field(gt=0)
    max_yaw_rate_rad_s: float = Field(gt=0)
    radius_m: float = Field(ge=0)
    heading_time_constant_s: float = Field(ge=0)  # the autopilot's yaw-rate response (first-order lag)


class GimbalLimits(BaseModel):
    """Gimbal angle and rate limits (hard constraints)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    pitch_min_rad: float
    pitch_max_rad: float
    max_pitch_rate_rad_s: float = Field(gt=0)
    max_yaw_rate_rad_s: float = Field(gt=0)


class Airspace(BaseModel):
    """Geofence box, altitude band and stand-off distances (hard constraints)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    geofence_min_m: tuple[float, float]
    geofence_max_m: tuple[float, float]
    altitude_floor_m: float
    altitude_ceiling_m: float
    min_subject_distance_m: float = Field(ge=0)
    obstacle_clearance_m: float = Field(ge=0)
    tracking_margin_m: float = Field(default=0.0, ge=0)

    @model_validator(mode="after")
    def _consistent(self) -> Airspace:
        if any(hi <= lo for lo, hi in zip(self.geofence_min_m, self.geofence_max_m, strict=True)):
            raise ValueError("geofence_max_m must exceed geofence_min_m on both axes")
        if self.altitude_ceiling_m <= self.altitude_floor_m:
            raise ValueError("altitude_ceiling_m must exceed altitude_floor_m")
        spans = (*(hi - lo for lo, hi in zip(self.geofence_min_m, self.geofence_max_m, strict=True)),
                 self.altitude_ceiling_m - self.altitude_floor_m)
        if 2.0 * self.tracking_margin_m >= min(spans):
            raise ValueError(f"tracking_margin_m {self.tracking_margin_m} m leaves no room inside a geofence "
                             f"{min(spans):g} m across")
        return self

    def planning_bounds_m(self) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
        """(lower, upper) ENU corners of the box plans keep to: the airspace inset by ``tracking_margin_m``.

        A plan riding the fence itself takes the rig out by its tracking error; inside the margin it stays in.
        """
        m = self.tracking_margin_m
        return ((self.geofence_min_m[0] + m, self.geofence_min_m[1] + m, self.altitude_floor_m + m),
                (self.geofence_max_m[0] - m, self.geofence_max_m[1] - m, self.altitude_ceiling_m - m))

    def contains(self, position_m: tuple[float, float, float] | list[float]) -> bool:
        """True if an ENU position is inside the geofence box and altitude band."""
        x, y, z = (float(v) for v in position_m)
        return (
            self.geofence_min_m[0] <= x <= self.geofence_max_m[0]
            and self.geofence_min_m[1] <= y <= self.geofence_max_m[1]
            and self.altitude_floor_m <= z <= self.altitude_ceiling_m
        )

    def clamp(self, position_m: tuple[float, float, float] | list[float]) -> tuple[float, float, float]:
        """The nearest position inside the geofence box and altitude band."""
        x, y, z = (float(v) for v in position_m)
        return (
            min(max(x, self.geofence_min_m[0]), self.geofence_max_m[0]),
            min(max(y, self.geofence_min_m[1]), self.geofence_max_m[1]),
            min(max(z, self.altitude_floor_m), self.altitude_ceiling_m),
        )


class VehicleConfig(BaseModel):
    """Everything in ``config/vehicle.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    vehicle: VehicleLimits
    gimbal: GimbalLimits
    airspace: Airspace
    camera_profile: str

    def camera(self) -> CameraProfile:
        """The camera profile this vehicle flies."""
        return load_camera_profile(self.camera_profile)


def load_vehicle_config(name: str | os.PathLike[str] = "vehicle.yaml", node: str = "/**") -> VehicleConfig:
    """Vehicle, gimbal and airspace limits from a ROS 2 parameter file."""
    return VehicleConfig(**load_parameters(name, node))
