"""The optimal control problem, assembled stage by stage.

``CineOCP`` owns the symbolic pieces both solver paths share -- the dynamics,
the stage cost and the path constraints as CasADi Functions -- and the numeric
bounds.  The fast path stacks them into one NLP with the stage-wise ordering
fatrop needs (``x0, u0, x1, u1, ..., xN``; per stage: dynamics then path
constraints); the reference path writes the same functions into ``Opti``.
Hence both solve the very same problem.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import casadi as ca
import numpy as np

from cinempc.config import CameraProfile, VehicleConfig
from cinempc.mpc.constraints import path_constraints
from cinempc.mpc.costs import TERM_NAMES, image_points, stage_terms
from cinempc.mpc.model import FOCAL_SCALE_MM, IU, IX, NU, NX, ParamLayout, dynamics, stops_from_f_number

STRUCTURE_VERSION = "cinempc-ocp-1"  # bump when the formulation changes in a way the symbolic hash cannot see


@dataclass(frozen=True)
class Bounds:
    """Per-stage variable bounds (the hard box limits)."""

    lbx: np.ndarray  # (NX,)
    ubx: np.ndarray
    lbu: np.ndarray  # (NU,)
    ubu: np.ndarray


class CineOCP:
    """Symbolic stage functions + bounds for horizon ``N`` at step ``dt_s``."""

    def __init__(self, horizon_steps: int, dt_s: float, max_subjects: int, max_obstacles: int):
        self.N = int(horizon_steps)
        self.dt_s = float(dt_s)
        self.layout = ParamLayout(max_subjects=max_subjects, max_obstacles=max_obstacles)
        self.np = self.layout.size
        x = ca.SX.sym("x", NX)
        u = ca.SX.sym("u", NU)
        p = ca.SX.sym("p", self.np)
        named = self.layout.split(p)
        terms = stage_terms(x, u, named)
        term_vector = ca.vertcat(*[terms[name] for name in TERM_NAMES])
        h, self.constraint_names = path_constraints(x, named)
        self.nh = h.shape[0]
        self.f_dynamics = ca.Function("dynamics", [x, u], [dynamics(x, u, self.dt_s)], ["x", "u"], ["x_next"])
        self.f_terms = ca.Function("stage_terms", [x, u, p], [term_vector], ["x", "u", "p"], ["terms"])
        # parameters are never differentiated: without this the MX Hessian would carry
        # Jacobians w.r.t. all n_p parameters and the generated code would be 10x larger
        self.f_cost = ca.Function(
            "stage_cost", [x, u, p], [named["stage_weight"] * ca.sum1(term_vector)], ["x", "u", "p"], ["l"],
            {"is_diff_in": [True, True, False]},
        )
        self.f_path = ca.Function("path", [x, p], [h], ["x", "p"], ["h"], {"is_diff_in": [True, False]})
        self.f_image = ca.Function("image_points", [x, p], [image_points(x, named)], ["x", "p"], ["uv"])

    # ------------------------------------------------------------------ bounds

    @staticmethod
    def bounds(camera: CameraProfile, vehicle: VehicleConfig) -> Bounds:
        """Box limits from the camera profile and the vehicle config (all hard)."""
        v, g = vehicle.vehicle, vehicle.gimbal
        inf = math.inf
        lbx = np.full(NX, -inf)
        ubx = np.full(NX, inf)
        horizontal = v.max_speed_mps
        lbx[IX["vx"]:IX["vy"] + 1], ubx[IX["vx"]:IX["vy"] + 1] = -horizontal, horizontal
        lbx[IX["vz"]], ubx[IX["vz"]] = -v.max_vertical_speed_mps, v.max_vertical_speed_mps
        lbx[IX["ax"]:IX["az"] + 1], ubx[IX["ax"]:IX["az"] + 1] = -v.max_accel_mps2, v.max_accel_mps2
        lbx[IX["pitch"]], ubx[IX["pitch"]] = g.pitch_min_rad, g.pitch_max_rad
        lbx[IX["focal"]] = camera.focal_length_mm.min / FOCAL_SCALE_MM
        ubx[IX["focal"]] = camera.focal_length_mm.max / FOCAL_SCALE_MM
        lbx[IX["focus"]], ubx[IX["focus"]] = camera.focus_distance_m.min, camera.focus_distance_m.max
        lbx[IX["stops"]] = stops_from_f_number(camera.f_number.min)
        ubx[IX["stops"]] = stops_from_f_number(camera.f_number.max)
        lbx[IX["slack"]] = 0.0
        lbu = np.full(NU, -inf)
        ubu = np.full(NU, inf)
        jerk_axis = v.max_jerk_mps3 / math.sqrt(3.0)  # per-axis box inside the jerk-norm ball
        lbu[IU["jx"]:IU["jz"] + 1], ubu[IU["jx"]:IU["jz"] + 1] = -jerk_axis, jerk_axis
        yaw_rate = yaw_rate_limit(camera, vehicle)
        lbu[IU["yaw_rate"]], ubu[IU["yaw_rate"]] = -yaw_rate, yaw_rate
        lbu[IU["pitch_rate"]], ubu[IU["pitch_rate"]] = -g.max_pitch_rate_rad_s, g.max_pitch_rate_rad_s
        zoom = camera.zoom_speed_mm_per_s / FOCAL_SCALE_MM
        lbu[IU["zoom_rate"]], ubu[IU["zoom_rate"]] = -zoom, zoom
        lbu[IU["focus_rate"]], ubu[IU["focus_rate"]] = -camera.focus_speed_m_per_s, camera.focus_speed_m_per_s
        iris = camera.iris_speed_stops_per_s
        lbu[IU["iris_rate"]], ubu[IU["iris_rate"]] = -iris, iris
        lbu[IU["slack_next"]] = 0.0
        return Bounds(lbx=lbx, ubx=ubx, lbu=lbu, ubu=ubu)

    # -------------------------------------------------------------- fast NLP

    def stacked_nlp(self) -> tuple[dict, list[bool], dict]:
        """The whole NLP in fatrop's stage-wise order; returns (nlp, equality flags, structure options).

        Built from MX calls of the (SX) stage functions rather than one expanded
        SX graph: the generated C then holds each stage function and its
        derivatives once, called N times -- a few hundred kB that gcc builds in
        seconds, instead of megabytes that take minutes.
        """
        N = self.N
        X = [ca.MX.sym(f"x{k}", NX) for k in range(N + 1)]
        U = [ca.MX.sym(f"u{k}", NU) for k in range(N)]
        P = ca.MX.sym("P", self.np, N + 1)
        w, g, equality = [], [], []
        objective = 0
        for k in range(N):
            w += [X[k], U[k]]
            g.append(X[k + 1] - self.f_dynamics(X[k], U[k]))
            g.append(self.f_path(X[k], P[:, k]))
            equality += [True] * NX + [False] * self.nh
            objective += self.f_cost(X[k], U[k], P[:, k])
        w.append(X[N])
        g.append(self.f_path(X[N], P[:, N]))
        equality += [False] * self.nh
        objective += self.f_cost(X[N], ca.DM.zeros(NU), P[:, N])
        nlp = {"x": ca.vertcat(*w), "p": ca.vec(P), "f": objective, "g": ca.vertcat(*g)}
        structure = {
            "structure_detection": "manual",
            "N": N,
            "nx": [NX] * (N + 1),
            "nu": [NU] * N + [0],
            "ng": [self.nh] * (N + 1),
        }
        return nlp, equality, structure

    def structure_hash(self, nlp: dict) -> str:
        """Hash of the problem's structure: the serialised expression graph + CasADi version."""
        function = ca.Function("nlp_hash", [nlp["x"], nlp["p"]], [nlp["f"], nlp["g"]])
        digest = hashlib.sha256()
        digest.update(STRUCTURE_VERSION.encode())
        digest.update(ca.__version__.encode())
        digest.update(function.serialize().encode())
        return digest.hexdigest()[:20]

    def constraint_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """lbg/ubg of the stacked NLP: dynamics = 0, path constraints >= 0."""
        per_stage_lb = np.concatenate([np.zeros(NX), np.zeros(self.nh)])
        per_stage_ub = np.concatenate([np.zeros(NX), np.full(self.nh, math.inf)])
        lbg = np.concatenate([np.tile(per_stage_lb, self.N), np.zeros(self.nh)])
        ubg = np.concatenate([np.tile(per_stage_ub, self.N), np.full(self.nh, math.inf)])
        return lbg, ubg

    def variable_bounds(self, bounds: Bounds, x0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """lbx/ubx of the stacked NLP with the initial state fixed (its slack left free)."""
        lb0, ub0 = x0.copy(), x0.copy()
        lb0[IX["slack"]], ub0[IX["slack"]] = 0.0, math.inf
        lb = [lb0, bounds.lbu] + [np.concatenate([bounds.lbx, bounds.lbu])] * (self.N - 1) + [bounds.lbx]
        ub = [ub0, bounds.ubu] + [np.concatenate([bounds.ubx, bounds.ubu])] * (self.N - 1) + [bounds.ubx]
        return np.concatenate(lb), np.concatenate(ub)

    # -------------------------------------------------------------- helpers

    def pack(self, X: np.ndarray, U: np.ndarray) -> np.ndarray:
        """Stage-wise decision vector from (N+1, NX) states and (N, NU) controls."""
        parts = []
        for k in range(self.N):
            parts += [X[k], U[k]]
        parts.append(X[self.N])
        return np.concatenate(parts)

    def unpack(self, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Inverse of :meth:`pack`."""
        w = np.asarray(w, dtype=float).reshape(-1)
        stride = NX + NU
        X = np.empty((self.N + 1, NX))
        U = np.empty((self.N, NU))
        for k in range(self.N):
            X[k] = w[k * stride:k * stride + NX]
            U[k] = w[k * stride + NX:(k + 1) * stride]
        X[self.N] = w[self.N * stride:]
        return X, U

    def cost_breakdown(self, X: np.ndarray, U: np.ndarray, P: np.ndarray) -> dict[str, float]:
        """Each named term summed over the horizon (stage weights applied)."""
        total = np.zeros(len(TERM_NAMES))
        layout = self.layout.slices
        for k in range(self.N + 1):
            u = U[k] if k < self.N else np.zeros(NU)
            weight = float(P[layout["stage_weight"], k][0])
            total += weight * np.asarray(self.f_terms(X[k], u, P[:, k])).reshape(-1)
        return {name: float(value) for name, value in zip(TERM_NAMES, total, strict=True)}


def yaw_rate_limit(camera: CameraProfile, vehicle: VehicleConfig) -> float:
    """Camera heading rate: the gimbal's yaw axis where the profile has one, else the drone's."""
    if camera.gimbal_yaw:
        return max(vehicle.gimbal.max_yaw_rate_rad_s, vehicle.vehicle.max_yaw_rate_rad_s)
    return vehicle.vehicle.max_yaw_rate_rad_s
