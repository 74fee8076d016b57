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
from cinempc.mpc.costs import TERM_NAMES, Squares, image_points, stage_terms
from cinempc.mpc.model import FOCAL_SCALE_MM, IU, IX, NU, NX, ParamLayout, dynamics, stops_from_f_number

STRUCTURE_VERSION = "cinempc-ocp-3"  # bump when the formulation changes in a way the symbolic hash cannot see


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
        squares = Squares()
        terms = stage_terms(x, u, named, squares)
        term_vector = ca.vertcat(*[terms[name] for name in TERM_NAMES])
        h, self.constraint_names = path_constraints(x, named)
        self.nh = h.shape[0]
        self.f_dynamics = ca.Function(
            "dynamics", [x, u, p], [dynamics(x, u, self.dt_s, named["heading_decay"], named["heading_lag_s"])],
            ["x", "u", "p"], ["x_next"], {"is_diff_in": [True, True, False]},
        )
        self.f_terms = ca.Function("stage_terms", [x, u, p], [term_vector], ["x", "u", "p"], ["terms"])
        # parameters are never differentiated: without this the MX Hessian would carry
        # Jacobians w.r.t. all n_p parameters and the generated code would be 10x larger
        self.f_cost = ca.Function(
            "stage_cost", [x, u, p], [named["stage_weight"] * ca.sum1(term_vector)], ["x", "u", "p"], ["l"],
            {"is_diff_in": [True, True, False]},
        )
        # the stage cost's squared residuals (stage weight included): cost = |r|^2 + linear slack penalty
        residuals = ca.sqrt(named["stage_weight"]) * squares.vector()
        self.f_residuals = ca.Function(
            "stage_residuals", [x, u, p], [residuals], ["x", "u", "p"], ["r"], {"is_diff_in": [True, True, False]}
        )
        self.f_path = ca.Function("path", [x, p], [h], ["x", "p"], ["h"], {"is_diff_in": [True, False]})
        self.f_image = ca.Function("image_points", [x, p], [image_points(x, named)], ["x", "p"], ["uv"])
        # whole-horizon evaluations for reports (one call instead of N+1 from Python)
        self.f_terms_horizon = self.f_terms.map(self.N + 1)
        self.f_image_horizon = self.f_image.map(self.N + 1)

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
            g.append(X[k + 1] - self.f_dynamics(X[k], U[k], P[:, k]))
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

    def derivative_functions(self, hessian: str = "gauss_newton") -> list[ca.Function]:
        """The NLP and its derivatives, assembled stage by stage from SX stage derivatives.

        Why by hand: CasADi's automatic Hessian of an MX graph calling SX stage
        functions goes forward-over-reverse in bundles of directions (~10x the
        work of the stage Hessian).  The stage-wise problem has a block-diagonal
        Hessian and a block-bidiagonal constraint Jacobian, so exact SX
        derivatives of ONE stage, evaluated N times, give the same numbers far
        cheaper -- and small C code.  Names and signatures are the ones
        ``nlpsol`` looks up when it loads an NLP from a shared library.

        ``hessian="gauss_newton"`` (``solver.hessian_cold``/``hessian_warm`` in config) takes the
        objective's curvature as ``2 J_r^T J_r`` of its squared residuals (see
        :class:`cinempc.mpc.costs.Squares`) and the constraints' exactly; ``"exact"``
        differentiates the whole Lagrangian twice.
        """
        if hessian not in ("gauss_newton", "exact"):
            raise ValueError(f"hessian must be 'gauss_newton' or 'exact', got {hessian!r}")
        N, nh = self.N, self.nh
        x, u, p = ca.SX.sym("x", NX), ca.SX.sym("u", NU), ca.SX.sym("p", self.np)
        sigma, lam_dyn, lam_h = ca.SX.sym("sigma"), ca.SX.sym("lam_dyn", NX), ca.SX.sym("lam_h", nh)
        z = ca.vertcat(x, u)
        cost, h, next_x = self.f_cost(x, u, p), self.f_path(x, p), self.f_dynamics(x, u, p)
        lagrangian = sigma * cost + ca.dot(lam_h, h) - ca.dot(lam_dyn, next_x)
        # the cost and the constraints in separate functions: a call evaluates all of a function's outputs, and
        # the cost (projections, optics) is the expensive part -- the constraint values and Jacobian fatrop asks
        # for in every iteration need none of it
        stage_cost = ca.Function("cinempc_stage_cost", [x, u, p], [cost])
        stage_constr = ca.Function("cinempc_stage_constr", [x, u, p], [h, next_x])
        stage_cost_grad = ca.Function("cinempc_stage_cost_grad", [x, u, p], [ca.gradient(cost, z)])
        stage_constr_jac = ca.Function("cinempc_stage_constr_jac", [x, u, p], [ca.jacobian(h, z),
                                                                               ca.jacobian(next_x, z)])
        residuals = self.f_residuals(x, u, p)
        hess, grad = self._lagrangian_hessian(lagrangian, sigma, ca.dot(lam_h, h), residuals, z, hessian)
        stage_hess = ca.Function("cinempc_stage_hess", [x, u, p, sigma, lam_dyn, lam_h], [grad, hess])
        cost_n = self.f_cost(x, ca.DM.zeros(NU), p)
        lagrangian_n = sigma * cost_n + ca.dot(lam_h, h)
        term_cost = ca.Function("cinempc_term_cost", [x, p], [cost_n])
        term_constr = ca.Function("cinempc_term_constr", [x, p], [h])
        term_cost_grad = ca.Function("cinempc_term_cost_grad", [x, p], [ca.gradient(cost_n, x)])
        term_constr_jac = ca.Function("cinempc_term_constr_jac", [x, p], [ca.jacobian(h, x)])
        residuals_n = self.f_residuals(x, ca.DM.zeros(NU), p)
        hess_n, grad_n = self._lagrangian_hessian(lagrangian_n, sigma, ca.dot(lam_h, h), residuals_n, x, hessian)
        term_hess = ca.Function("cinempc_term_hess", [x, p, sigma, lam_h], [grad_n, hess_n])

        nz = NX + NU
        W = ca.MX.sym("x", nz * N + NX)
        Pv = ca.MX.sym("p", self.np * (N + 1))
        lam_f = ca.MX.sym("lam_f")
        lam_g = ca.MX.sym("lam_g", (NX + nh) * N + nh)
        P = ca.reshape(Pv, self.np, N + 1)
        xs = [W[k * nz:k * nz + NX] for k in range(N + 1)]
        us = [W[k * nz + NX:(k + 1) * nz] for k in range(N)]
        ng_stage = NX + nh
        lam_d = [lam_g[k * ng_stage:k * ng_stage + NX] for k in range(N)]
        lam_p = [lam_g[k * ng_stage + NX:(k + 1) * ng_stage] for k in range(N)] + [lam_g[N * ng_stage:]]

        f_total, g_parts, grad_parts, grad_l_parts, jac_rows, hess_blocks = 0, [], [], [], [], []
        widths = [nz] * N + [NX]
        eye = ca.MX(ca.DM.eye(NX))
        for k in range(N + 1):
            if k < N:
                c_k, gc_k = stage_cost(xs[k], us[k], P[:, k]), stage_cost_grad(xs[k], us[k], P[:, k])
                h_k, nx_k = stage_constr(xs[k], us[k], P[:, k])
                jh_k, jf_k = stage_constr_jac(xs[k], us[k], P[:, k])
                gl_k, hl_k = stage_hess(xs[k], us[k], P[:, k], lam_f, lam_d[k], lam_p[k])
                g_parts += [xs[k + 1] - nx_k, h_k]
                row = [ca.MX(ng_stage, w) for w in widths]
                row[k] = ca.vertcat(-jf_k, jh_k)
                nxt = eye if k + 1 == N else ca.horzcat(eye, ca.MX(NX, NU))
                row[k + 1] = ca.vertcat(nxt, ca.MX(nh, widths[k + 1]))
            else:
                c_k, gc_k = term_cost(xs[k], P[:, k]), term_cost_grad(xs[k], P[:, k])
                h_k, jh_k = term_constr(xs[k], P[:, k]), term_constr_jac(xs[k], P[:, k])
                gl_k, hl_k = term_hess(xs[k], P[:, k], lam_f, lam_p[k])
                g_parts.append(h_k)
                row = [ca.MX(nh, w) for w in widths]
                row[k] = jh_k
            if k > 0:  # x_k appears with +I in the previous stage's dynamics
                gl_k = gl_k + ca.vertcat(lam_d[k - 1], ca.MX(widths[k] - NX, 1))
            f_total += c_k
            grad_parts.append(gc_k)
            grad_l_parts.append(gl_k)
            jac_rows.append(row)
            hess_blocks.append(hl_k)
        g = ca.vertcat(*g_parts)
        grad_f = ca.vertcat(*grad_parts)
        grad_l = ca.vertcat(*grad_l_parts)
        jac_g = ca.blockcat(jac_rows)
        hess_l = ca.diagcat(*hess_blocks)
        xp, xpl = ["x", "p"], ["x", "p", "lam_f", "lam_g"]
        return [
            ca.Function("nlp", [W, Pv], [f_total, g], xp, ["f", "g"]),
            ca.Function("nlp_f", [W, Pv], [f_total], xp, ["f"]),
            ca.Function("nlp_g", [W, Pv], [g], xp, ["g"]),
            ca.Function("nlp_grad_f", [W, Pv], [grad_f], xp, ["grad_f_x"]),
            ca.Function("nlp_jac_g", [W, Pv], [g, jac_g], xp, ["g", "jac_g_x"]),
            ca.Function("nlp_grad", [W, Pv, lam_f, lam_g], [f_total, g, grad_l, ca.DM.zeros(self.np * (N + 1))],
                        xpl, ["f", "g", "grad_gamma_x", "grad_gamma_p"]),
            ca.Function("nlp_hess_l", [W, Pv, lam_f, lam_g], [grad_l, hess_l], xpl,
                        ["grad_gamma_x", "hess_gamma_x_x"]),
        ]

    @staticmethod
    def _lagrangian_hessian(lagrangian, sigma, constraint_part, residuals, z, hessian: str):
        """(Hessian, gradient) of a stage Lagrangian in ``z``: exact, or Gauss-Newton on the objective.

        Gauss-Newton relies on the contract of :class:`cinempc.mpc.costs.Squares`: the
        objective is ``|residuals|^2`` plus a linear slack penalty.  The dynamics are
        linear, so the path constraints (``constraint_part``) carry the rest of the
        curvature, kept exact.
        """
        grad = ca.gradient(lagrangian, z)
        if hessian == "exact":
            return ca.hessian(lagrangian, z)[0], grad
        jacobian = ca.jacobian(residuals, z)
        curvature = 2.0 * sigma * ca.mtimes(jacobian.T, jacobian) + ca.hessian(constraint_part, z)[0]
        return curvature, grad

    def structure_hash(self, functions: list[ca.Function]) -> str:
        """Hash of the problem's structure: the serialised expression graphs + CasADi version."""
        digest = hashlib.sha256()
        digest.update(STRUCTURE_VERSION.encode())
        digest.update(ca.__version__.encode())
        for function in functions:
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
        """Stage-wise decision vector from (N+1, NX) states and (N, NU) controls (one copy, no Python loop)."""
        return np.concatenate([np.hstack([X[:self.N], U]).ravel(), X[self.N]])

    def unpack(self, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Inverse of :meth:`pack`."""
        w = np.asarray(w, dtype=float).reshape(-1)
        stages = w[:self.N * (NX + NU)].reshape(self.N, NX + NU)
        return np.vstack([stages[:, :NX], w[self.N * (NX + NU):]]), stages[:, NX:].copy()

    def cost_breakdown(self, X: np.ndarray, U: np.ndarray, P: np.ndarray, terms_horizon=None) -> dict[str, float]:
        """Each named term summed over the horizon (stage weights applied).

        ``terms_horizon``: an evaluation of :attr:`f_terms_horizon` (a compiled one), else that.
        """
        U_all = np.vstack([U, np.zeros((1, NU))])
        evaluate = self.f_terms_horizon if terms_horizon is None else terms_horizon
        terms = np.asarray(evaluate(X.T, U_all.T, P))  # (terms, N+1)
        weights = P[self.layout.slices["stage_weight"], :].reshape(-1)
        total = terms @ weights
        return {name: float(value) for name, value in zip(TERM_NAMES, total, strict=True)}


def yaw_rate_limit(camera: CameraProfile, vehicle: VehicleConfig) -> float:
    """Camera heading rate: the gimbal's yaw axis where the profile has one, else the drone's."""
    if camera.gimbal_yaw:
        return max(vehicle.gimbal.max_yaw_rate_rad_s, vehicle.vehicle.max_yaw_rate_rad_s)
    return vehicle.vehicle.max_yaw_rate_rad_s


def heading_time_constant_s(camera: CameraProfile, vehicle: VehicleConfig) -> float:
    """How the camera heading lags its commanded rate: the autopilot's yaw response without a pan axis, else 0."""
    return 0.0 if camera.gimbal_yaw else vehicle.vehicle.heading_time_constant_s
