"""Decision-variable layout and the discrete-time model of drone, gimbal and lens.

One stage of the optimal control problem has a state ``x`` and a control ``u``:

* drone: position, velocity, acceleration (ENU) driven by jerk -- a triple
  integrator whose samples are exactly what a PX4/ArduPilot offboard
  position+velocity+acceleration setpoint executes;
* camera pointing: yaw (heading of the optical axis) and gimbal pitch driven by
  their rates;
* lens: focal length (in ``FOCAL_SCALE_MM`` units so it is O(1)), focus
  distance (m) and iris in stops (``f_number = 2 ** (stops / 2)``), driven by
  the zoom, focus and iris motor speeds -- all rate limits are then linear bounds;
* ``slack``: the safety slack, a *state* so that the constraints of stage k can
  use it at every stage including the last one (where there is no control);
* ``heading_rate``: the rate the camera heading actually turns at.  It follows the
  commanded ``yaw_rate`` with the heading's time constant (a parameter: the
  autopilot's yaw-rate response for a camera without a pan axis, 0 for a gimbal's
  pan, where it is the commanded rate and the model is a plain integrator).

Scaling matters for IPOPT and fatrop alike: every variable is O(1..100).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import casadi as ca
import numpy as np

FOCAL_SCALE_MM = 100.0  # focal-length state = focal_length_mm / FOCAL_SCALE_MM
# safety slack = SLACK_SCALE * slack state.  Why scaled: its exact L1 weight (1e3) would otherwise be the
# gradient of a variable resting on its bound 0, while an interior-point method starts every bound
# multiplier near 1 -- a 1e3 dual infeasibility that cost a blocked iteration in every warm solve.
# In these units the gradient is O(1); the problem and its optimum are unchanged.
SLACK_SCALE = 1.0e-3

STATE_NAMES: tuple[str, ...] = (
    "px", "py", "pz", "vx", "vy", "vz", "ax", "ay", "az", "yaw", "pitch", "focal", "focus", "stops", "slack",
    "heading_rate",
)
CONTROL_NAMES: tuple[str, ...] = (
    "jx", "jy", "jz", "yaw_rate", "pitch_rate", "zoom_rate", "focus_rate", "iris_rate", "slack_next",
)
NX = len(STATE_NAMES)
NU = len(CONTROL_NAMES)
IX = {name: i for i, name in enumerate(STATE_NAMES)}
IU = {name: i for i, name in enumerate(CONTROL_NAMES)}
POS = slice(0, 3)
VEL = slice(3, 6)
ACC = slice(6, 9)


def f_number_from_stops(stops):
    """Aperture from stops: N = sqrt(2) ** stops (works on floats and CasADi symbols)."""
    return 2.0 ** (stops / 2.0)


def stops_from_f_number(f_number: float) -> float:
    """Inverse of :func:`f_number_from_stops`."""
    return 2.0 * math.log2(f_number)


def heading_lag_terms(dt_s: float, heading_time_constant_s: float) -> tuple[float, float]:
    """``(decay, lag_s)`` of a heading rate that follows its command with a first-order lag over ``dt_s``.

    Held command ``r`` from rate ``w``: ``w' = r + (w - r) decay``, ``yaw' = yaw + r dt + (w - r) lag_s``
    (exact); a time constant of 0 gives ``(0, 0)``, the plain integrator.
    """
    if heading_time_constant_s <= 0.0:
        return 0.0, 0.0
    decay = math.exp(-dt_s / heading_time_constant_s)
    return decay, heading_time_constant_s * (1.0 - decay)


def _step(x, u, dt_s: float, heading_decay, heading_lag_s) -> tuple:
    """The blocks of the next state (position, velocity, acceleration, yaw, pitch to iris, slack, heading rate)."""
    p, v, a, j = x[0:3], x[3:6], x[6:9], u[0:3]
    rate_cmd, rate = u[3:4], x[15:16]
    return (
        p + dt_s * v + dt_s**2 / 2.0 * a + dt_s**3 / 6.0 * j,
        v + dt_s * a + dt_s**2 / 2.0 * j,
        a + dt_s * j,
        x[9:10] + dt_s * rate_cmd + (rate - rate_cmd) * heading_lag_s,
        x[10:14] + dt_s * u[4:8],
        u[8:9],
        rate_cmd + (rate - rate_cmd) * heading_decay,
    )


def dynamics(x, u, dt_s: float, heading_decay=0.0, heading_lag_s=0.0):
    """Next state after holding ``u`` for ``dt_s`` (exact for the triple integrator and the heading lag).

    Why jerk as the input: the acceleration then is a continuous state, which is
    what the attitude loop of a multirotor can actually follow (a step in
    acceleration is a step in tilt).  ``heading_decay`` and ``heading_lag_s`` come from
    :func:`heading_lag_terms` (numbers or CasADi parameters).
    """
    return ca.vertcat(*_step(x, u, dt_s, heading_decay, heading_lag_s))


def dynamics_numpy(x: np.ndarray, u: np.ndarray, dt_s: float, heading_time_constant_s: float = 0.0) -> np.ndarray:
    """:func:`dynamics` in plain NumPy (warm-start tails, setpoints, tests): ~100x faster than a CasADi call."""
    decay, lag_s = heading_lag_terms(dt_s, heading_time_constant_s)
    return np.concatenate(_step(np.asarray(x, dtype=float), np.asarray(u, dtype=float), dt_s, decay, lag_s))


@dataclass(frozen=True)
class ParamLayout:
    """Named slices of the per-stage parameter vector ``P_k``.

    Everything that differs between shots, subjects, scenes, cameras and
    vehicles is a parameter, so ONE compiled solver serves every shot.
    """

    max_subjects: int
    max_obstacles: int

    def fields(self) -> list[tuple[str, int]]:
        fields = [
            # camera constants (a profile change needs no recompile)
            ("sensor_width_m", 1), ("image_width_px", 1), ("image_height_px", 1), ("coc_m", 1),
            # composition: the framed group's feet point and standing height, image targets and weights
            ("group_feet_m", 3),
            ("target_u", 1), ("target_head_v", 1), ("target_feet_v", 1), ("w_composition", 3),
            # viewpoint: anchor (eye line) to camera direction, distance and weights
            ("view_anchor_m", 3), ("view_dir", 3), ("view_distance_m", 1), ("w_view", 2),
            # movement: position / velocity references and weights
            ("pos_ref_m", 3), ("w_pos", 1), ("vel_ref_mps", 3), ("w_vel", 1),
            # focus & depth of field
            ("w_focus_follow", 1), ("w_dof", 1), ("background_distance_m", 1), ("w_background_blur", 1),
            ("w_background_sharp", 1), ("background_blur_px", 1), ("depth_margin", 1), ("blur_log_knee", 1),
            ("min_depth_m", 1),
            ("w_in_front", 1), ("w_in_frame", 1), ("frame_margin", 1), ("head_softness_px", 1),
            # lens
            ("focal_hold", 1), ("w_focal_hold", 1), ("stops_nominal", 1), ("w_iris", 1),
            # smoothness weights and normalising limits
            ("w_acc", 1), ("w_jerk", 1), ("w_rates", 5), ("inv_limits", 7), ("w_slack", 2),
            # airspace and vehicle limits (hard constraints)
            ("fence_lo_m", 3), ("fence_hi_m", 3), ("max_speed_sq", 1), ("max_accel_sq", 1),
            ("min_subject_distance_m", 1), ("stage_weight", 1),
            # the camera heading's response to the commanded rate (model.heading_lag_terms)
            ("heading_decay", 1), ("heading_lag_s", 1),
            # subject slots: body point, focus blend weight, must-be-sharp weight, stand-off active flag,
            # feet point, standing height, composition weight (framed subjects share 1, others 0) and the
            # half-width in_frame keeps inside the side margins (body plus position uncertainty)
            ("subj_body_m", 3 * self.max_subjects), ("subj_focus_alpha", self.max_subjects),
            ("subj_feet_m", 3 * self.max_subjects), ("subj_height_m", self.max_subjects),
            ("subj_framed", self.max_subjects), ("subj_half_width_m", self.max_subjects),
            ("subj_sharp", self.max_subjects), ("subj_active", self.max_subjects),
            # eye point: where focus and depth of field are judged (a focus puller's rule, and the examiner's)
            ("subj_eye_m", 3 * self.max_subjects),
            # obstacle slots: centre, semi-axes, xy and z exponents, active flag (spheres and cylinders), or a
            # half-space per stage (boxes): plane flag, unit normal n and offset b of n . p >= b
            ("obs_center_m", 3 * self.max_obstacles), ("obs_axes_m", 3 * self.max_obstacles),
            ("obs_p_xy", self.max_obstacles), ("obs_p_z", self.max_obstacles), ("obs_active", self.max_obstacles),
            ("obs_plane", self.max_obstacles), ("obs_normal", 3 * self.max_obstacles),
            ("obs_offset_m", self.max_obstacles),
        ]
        return fields

    @cached_property
    def slices(self) -> dict[str, slice]:
        out, start = {}, 0
        for name, size in self.fields():
            out[name] = slice(start, start + size)
            start += size
        return out

    @cached_property
    def size(self) -> int:
        return sum(size for _, size in self.fields())

    def split(self, p) -> dict:
        """Named views of a symbolic or numeric parameter vector."""
        return {name: p[sl] for name, sl in self.slices.items()}

    def zeros(self) -> np.ndarray:
        return np.zeros(self.size)

    def set(self, vector: np.ndarray, name: str, value) -> None:
        """Write a named field of a numeric stage-parameter vector (NumPy checks the size)."""
        vector[self.slices[name]] = value
