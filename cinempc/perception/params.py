"""Typed view of ``config/perception.yaml`` (the one source of perception numbers)."""

from __future__ import annotations

import os
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from cinempc.config import load_parameters


class DatasetParams(BaseModel):
    """How ``cinempc perception dataset`` renders labelled scenes."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    version: int = 3
    train_images: int = Field(1400, ge=1)
    val_images: int = Field(300, ge=1)
    train_seed: int = 1
    val_seed: int = 1000003
    image_size: tuple[int, int] = (320, 240)
    min_box_pixels: int = Field(30, ge=1)
    max_actors: int = Field(4, ge=0)
    subject_distance_m: tuple[float, float] = (3.0, 30.0)
    camera_height_m: tuple[float, float] = (1.5, 15.0)
    # the framed person's height as a fraction of the image height; a share of the views frames them small
    # (far people: 18-25 px walkers at 18 mm were missed by a detector that had seen none below 36 px)
    subject_fraction: tuple[float, float] = (0.15, 0.9)
    small_subject_share: float = Field(0.0, ge=0.0, le=1.0)
    small_subject_fraction: tuple[float, float] = (0.06, 0.15)


class TrainingParams(BaseModel):
    """How ``cinempc perception train`` trains the detector from its YAML definition."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    model: str = "yolo11n.yaml"
    epochs: int = Field(30, ge=1)
    batch: int = Field(8, ge=1)
    seed: int = 0
    torch_threads: int = Field(2, ge=1)
    workers: int = Field(0, ge=0)
    patience: int = Field(100, ge=1)
    warmup_epochs: float = Field(0.5, ge=0.0)
    close_mosaic: int = Field(1, ge=0)
    validate_every_epoch: bool = False


class PerceptionParams(BaseModel):
    """Detector, tracker, estimator and filter settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    backend: Literal["auto", "ultralytics", "onnx"] = "auto"
    weights: str = "weights/cinempc_person_yolo11n.pt"
    onnx_weights: str = "weights/cinempc_person_yolo11n.onnx"
    image_size_px: int = Field(320, ge=32)
    class_filter: list[int] = Field(default_factory=lambda: [0])
    confidence_min: float = Field(0.25, gt=0.0, lt=1.0)
    nms_iou: float = Field(0.7, gt=0.0, le=1.0)
    max_detections: int = Field(50, ge=1)
    zoom_out_scale: float = Field(1.0, gt=0.1, le=1.0)
    zoom_out_min_box_fraction: float = Field(0.45, gt=0.0)
    zoom_in_scale: float = Field(1.0, ge=1.0, le=4.0)  # 1.0: no zoomed-in passes
    zoom_in_max_box_px: float = Field(40.0, gt=0.0)
    zoom_in_max_windows: int = Field(2, ge=0)
    torch_threads: int = Field(2, ge=1)
    onnx_threads: int = Field(2, ge=1)
    tracker: Literal["bytetrack", "botsort"] = "bytetrack"
    frame_rate_hz: float = Field(10.0, gt=0.0)
    tracker_overrides: dict[str, Any] = Field(default_factory=dict)
    lost_timeout_s: float = Field(2.0, gt=0.0)
    visible_coast_s: float = Field(1.0, ge=0.0)
    # after lost_timeout_s a reported subject is searched for this long (framed at its prediction) before it is lost
    search_timeout_s: float = Field(0.0, ge=0.0)
    duplicate_box_overlap: float = Field(0.7, gt=0.0, le=1.0)
    duplicate_radius_m: float = Field(0.45, ge=0.0)
    unreported_min_confidence: float = Field(0.25, ge=0.0, le=1.0)
    rebind_gate_chi2: float = Field(9.21, gt=0.0)
    max_subject_speed_mps: float = Field(9.0, gt=0.0)
    max_subject_accel_mps2: float = Field(6.0, gt=0.0)
    reidentify_radius_m: float = Field(1.0, ge=0.0)
    point_out_sigma_m: float = Field(1.0, gt=0.0)
    point_out_speed_sigma_mps: float = Field(1.5, ge=0.0)
    point_out_timeout_s: float = Field(10.0, gt=0.0)
    appearance_veto_distance: float = Field(1.0, gt=0.0, le=1.0)
    appearance_min_views: int = Field(3, ge=1)
    appearance_rate: float = Field(0.2, gt=0.0, le=1.0)
    pair_box_inside: float = Field(0.9, gt=0.0, le=1.0)
    pair_box_min_height: float = Field(0.85, gt=0.0, le=1.0)
    pair_box_max_width: float = Field(0.0, ge=0.0, le=1.0)  # 0: no pair-box rules
    ground_height_m: float = 0.0
    subject_height_prior_m: float = Field(1.75, gt=0.2, lt=5.0)
    subject_height_sigma_m: float = Field(0.12, gt=0.0)
    # flat (speed_mps, fraction) pairs: a ROS 2 parameter file has no nested arrays (rcl refuses to parse them)
    head_top_fraction_by_speed: list[float] = Field(default_factory=lambda: [0.0, 1.0], min_length=2)
    plausible_height_m: tuple[float, float] = (1.45, 2.1)
    partial_height_tolerance_m: float = Field(0.15, gt=0.0)
    partial_box_variance_factor: float = Field(16.0, ge=1.0)
    max_person_box_aspect: float = Field(0.8, gt=0.0)
    feet_cut_bottom_tolerance: float = Field(0.25, ge=0.0)
    pixel_sigma_px: float = Field(1.5, gt=0.0)
    pitch_sigma_rad: float = Field(0.0035, ge=0.0)
    depth_sigma_fraction: float = Field(0.03, gt=0.0)
    body_radius_m: float = Field(0.18, ge=0.0)
    max_range_m: float = Field(80.0, gt=0.0)
    border_margin_px: float = Field(2.0, ge=0.0)
    side_cut_column_clearance: float = Field(0.25, ge=0.0)
    side_occluder_strip_px: int = Field(3, ge=1)
    side_occluder_margin_m: float = Field(0.5, gt=0.0)
    accel_sigma_mps2: float = Field(2.0, gt=0.0)
    vertical_accel_sigma_mps2: float = Field(0.3, gt=0.0)
    initial_speed_sigma_mps: float = Field(3.0, gt=0.0)
    gate_chi2: float = Field(16.27, gt=0.0)
    max_consecutive_outliers: int = Field(3, ge=1)
    maneuver_accel_sigma_mps2: float = Field(0.0, ge=0.0)
    dataset: DatasetParams = Field(default_factory=DatasetParams)
    training: TrainingParams = Field(default_factory=TrainingParams)

    @field_validator("head_top_fraction_by_speed")
    @classmethod
    def _pairs(cls, value: list[float]) -> list[float]:
        if len(value) % 2:
            raise ValueError("head_top_fraction_by_speed holds (speed_mps, fraction) pairs: an even count of numbers")
        return value

    def head_top_fraction(self, speed_mps: float = 0.0) -> float:
        """Top of the head / standing height for a person moving at ``speed_mps`` (table, interpolated)."""
        table = np.array(self.head_top_fraction_by_speed, dtype=float).reshape(-1, 2)
        table = table[np.argsort(table[:, 0])]
        return float(np.interp(max(float(speed_mps), 0.0), table[:, 0], table[:, 1]))

    def with_(self, **changes: Any) -> PerceptionParams:
        """A validated copy with some fields changed."""
        return PerceptionParams.model_validate({**self.model_dump(), **changes})


def load_perception_params(name: str | os.PathLike[str] = "perception.yaml", node: str = "/**") -> PerceptionParams:
    """The ``perception`` section of a ROS 2 parameter file, validated."""
    params = load_parameters(name, node)
    if "perception" not in params:
        raise ValueError(f"{name}: no 'perception' section under ros__parameters")
    return PerceptionParams.model_validate(params["perception"])
