"""MPC weights and solver settings from ``config/mpc.yaml``.

Typed and validated once at start-up so a typo in a weight name fails loudly
instead of silently leaving a term unweighted.
"""

from __future__ import annotations

import os
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from cinempc.config import load_parameters


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HorizonParams(_Frozen):
    horizon_steps: int = Field(ge=2, le=200)
    dt_s: float = Field(gt=0, le=1.0)
    terminal_weight: float = Field(ge=0)


class StructureParams(_Frozen):
    max_subjects: int = Field(ge=1, le=16)
    max_obstacles: int = Field(ge=0, le=64)


class Weights(_Frozen):
    """Cost weights; every term is dimensionless (see config/mpc.yaml)."""

    composition_u: float = Field(ge=0)
    composition_head_v: float = Field(ge=0)
    composition_feet_v: float = Field(ge=0)
    in_front: float = Field(ge=0)
    in_frame: float = Field(ge=0)
    view_direction: float = Field(ge=0)
    view_distance: float = Field(ge=0)
    position_reference: float = Field(ge=0)
    velocity_reference: float = Field(ge=0)
    focus_follow: float = Field(ge=0)
    depth_of_field: float = Field(ge=0)
    background_blur: float = Field(ge=0)
    background_sharp: float = Field(ge=0)
    lens_hold: float = Field(ge=0)
    iris_nominal: float = Field(ge=0)
    acceleration: float = Field(ge=0)
    jerk: float = Field(ge=0)
    yaw_rate: float = Field(ge=0)
    pitch_rate: float = Field(ge=0)
    zoom_rate: float = Field(ge=0)
    focus_rate: float = Field(ge=0)
    iris_rate: float = Field(ge=0)
    slack_l1: float = Field(ge=0)
    slack_l2: float = Field(ge=0)


class Targets(_Frozen):
    eye_height_fraction: float = Field(gt=0, le=1)
    body_height_fraction: float = Field(gt=0, le=1)
    min_depth_m: float = Field(gt=0)
    frame_margin: float = Field(ge=0, lt=0.5)
    head_softness_fraction: float = Field(gt=0)
    framed_half_width_m: float = Field(ge=0)
    frame_margin_sigmas: float = Field(ge=0)
    frame_margin_sigma_max_m: float = Field(ge=0)
    depth_margin: float = Field(gt=0, le=1)
    blur_log_knee: float = Field(gt=0)
    background_blur_px: float = Field(gt=0)
    default_background_distance_m: float = Field(gt=0)
    shallow_blur_headroom: float = Field(ge=0)
    shallow_max_distance_factor: float = Field(ge=1)
    group_depth_size_ratio: float = Field(gt=1)
    iris_nominal_f_number: float = Field(gt=0)
    rack_start_s: float = Field(ge=0)
    rack_duration_s: float = Field(gt=0)
    still_speed_mps: float = Field(ge=0)
    heading_smoothing_s: float = Field(gt=0)
    view_turn_speed_mps: float = Field(gt=0)
    acquire_speed_mps: float = Field(gt=0)
    acquire_approach_time_s: float = Field(gt=0)


class SolverParams(_Frozen):
    deadline_ms: float = Field(gt=0)
    max_iterations_fast: int = Field(ge=1)
    warm_start_max_position_error_m: float = Field(gt=0)
    warm_start_max_velocity_error_mps: float = Field(gt=0)
    max_iterations_reference: int = Field(ge=1)
    tolerance: float = Field(gt=0)
    tolerance_warm: float = Field(gt=0)
    constraint_tolerance_warm: float = Field(gt=0)
    complementarity_tolerance_warm: float = Field(gt=0)
    compile_flags: list[str]
    hessian_cold: Literal["gauss_newton", "exact"] = "gauss_newton"
    hessian_warm: Literal["gauss_newton", "exact"] = "exact"
    warm_first_attempt_max_iterations: int = Field(default=20, ge=1)
    brake_guess_time_s: float = Field(gt=0)
    brake_guess_min_speed_mps: float = Field(ge=0)
    shifted_guess_cost_ratio: float = Field(ge=1)
    fatrop_mu_init_warm: float = Field(gt=0)
    relaxation_tolerance: float = Field(gt=0)
    composition_report_threshold: float = Field(gt=0)


class MPCParams(_Frozen):
    """Everything in ``config/mpc.yaml``."""

    horizon: HorizonParams
    structure: StructureParams
    weights: Weights
    targets: Targets
    solver: SolverParams

    def with_updates(self, **sections: dict) -> MPCParams:
        """A copy with some fields of some sections changed, e.g. ``solver={"deadline_ms": 1e9}``."""
        data = self.model_dump()
        for section, changes in sections.items():
            data[section].update(changes)
        return MPCParams(**data)


def load_mpc_params(name: str | os.PathLike[str] = "mpc.yaml", node: str = "/**") -> MPCParams:
    """The MPC parameters from a ROS 2 parameter file (default ``config/mpc.yaml``)."""
    return MPCParams(**load_parameters(name, node))
