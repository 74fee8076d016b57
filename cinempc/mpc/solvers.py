"""Solver back-ends for the one OCP: a fast structure-exploiting path and a reference path.

* :class:`FastSolver` -- fatrop (a Riccati-based interior-point method for
  stage-wise problems) through ``nlpsol`` with the NLP, its gradient, Jacobian and
  exact Hessian compiled to C once and cached on disk (:mod:`cinempc.mpc.cache`),
  warm-started from the shifted previous solution.  If no compiler is available
  it falls back to CasADi's (slower) virtual machine, never to no solver.
* :class:`ReferenceSolver` -- the same stage functions written into ``Opti``
  with IPOPT and a cold start, the way a user first writes it.  It exists to
  check the fast path reaches the same optimum and to measure the speed-up.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass

import casadi as ca
import numpy as np

from cinempc.mpc.cache import compiled_library
from cinempc.mpc.model import IX, NU, NX
from cinempc.mpc.ocp import CineOCP
from cinempc.mpc.params import MPCParams

log = logging.getLogger(__name__)


@dataclass
class SolveOutput:
    """What a back-end returns: the stage-wise primal solution and how the solve went."""

    X: np.ndarray  # (N+1, NX)
    U: np.ndarray  # (N, NU)
    success: bool
    iterations: int
    solve_ms: float
    message: str


class FastSolver:
    """fatrop on compiled, disk-cached code."""

    name = "fast"

    def __init__(self, ocp: CineOCP, params: MPCParams):
        self.ocp = ocp
        self.build_s = 0.0
        nlp, equality, structure = ocp.stacked_nlp()
        functions = ocp.derivative_functions()
        self.key = ocp.structure_hash(functions)
        self.lbg, self.ubg = ocp.constraint_bounds()
        fatrop_common = {
            "print_level": 0,
            "max_iter": params.solver.max_iterations_fast,
            "tol": params.solver.tolerance,
        }
        # lam_p (the sensitivity to the ~4400 parameters) is never used: not computing it saves ~0.5 ms a solve
        options = {**structure, "equality": equality, "print_time": False, "error_on_fail": False,
                   "calc_lam_p": False}
        source: str | dict = nlp
        try:
            library, self.build_s = compiled_library(
                self.key, lambda path: self._write_source(functions, path), params.solver.compile_flags
            )
            source = str(library)
            self.compiled = True
        except RuntimeError as exc:  # no compiler: slower, still correct
            log.warning("fast MPC path runs uncompiled: %s", exc)
            self.compiled = False
        self.cold = _BufferedCall(self._load(source, options, {**fatrop_common}), self.lbg, self.ubg)
        warm = params.solver.fatrop_mu_init_warm
        warm_options = {**fatrop_common, "mu_init": warm, "bound_push": warm, "tol": params.solver.tolerance_warm}
        self.warm = _BufferedCall(self._load(source, options, warm_options), self.lbg, self.ubg)

    @staticmethod
    def _write_source(functions: list[ca.Function], path) -> None:
        generator = ca.CodeGenerator(path.name, {"with_header": False})
        for function in functions:
            generator.add(function)
        # CasADi wants a bare C identifier as the file name: write in the target folder
        cwd = os.getcwd()
        try:
            os.chdir(path.parent)
            generator.generate()
        finally:
            os.chdir(cwd)

    @staticmethod
    def _load(source, options: dict, fatrop_options: dict) -> ca.Function:
        """A solver instance of this controller's own (~20 ms from the cached library).

        Never shared between controllers: fatrop keeps state inside a solver instance
        from one call to the next, so a solver shared by two controllers (or two runs)
        made each one's results depend on what the other had solved before -- measured
        as a closed-loop composition error of 0.04 alone and 0.13 after another run.
        """
        return ca.nlpsol("cinempc_fast", "fatrop", source, {**options, "fatrop": fatrop_options})

    def solve(self, X0: np.ndarray, U0: np.ndarray, lbx, ubx, P: np.ndarray, warm: bool) -> SolveOutput:
        call = self.warm if warm else self.cold
        start = time.perf_counter()
        w, stats = call(self.ocp.pack(X0, U0), lbx, ubx, P.reshape(-1, order="F"))
        solve_ms = (time.perf_counter() - start) * 1e3
        X, U = self.ocp.unpack(w)
        return SolveOutput(
            X=X, U=U, success=bool(stats.get("success", False)), iterations=int(stats.get("iter_count", -1)),
            solve_ms=solve_ms, message=str(stats.get("return_status", "")),
        )


class _BufferedCall:
    """One ``nlpsol`` instance called through CasADi's buffer API: NumPy arrays in and out, no DM.

    Why: building DMs from the ~7000 numbers of a call (parameters, bounds, start)
    and reading the result back cost ~1.5 ms of a ~10 ms solve, measured A/B on the
    benchmark's recorded problems with identical solutions.  The arrays live as
    long as this object, so the pointers the buffer holds stay valid.
    """

    def __init__(self, solver: ca.Function, lbg: np.ndarray, ubg: np.ndarray):
        self.solver = solver
        self._buffer, self._evaluate = solver.buffer()
        self._in = {name: np.zeros(solver.nnz_in(i)) for i, name in enumerate(solver.name_in())}
        self._out = {name: np.zeros(solver.nnz_out(i)) for i, name in enumerate(solver.name_out())}
        for i, name in enumerate(solver.name_in()):
            self._buffer.set_arg(i, memoryview(self._in[name]))
        for i, name in enumerate(solver.name_out()):
            self._buffer.set_res(i, memoryview(self._out[name]))
        self._in["lbg"][:], self._in["ubg"][:] = lbg, ubg

    def __call__(self, x0: np.ndarray, lbx, ubx, p: np.ndarray) -> tuple[np.ndarray, dict]:
        """Solve from ``x0``; returns the primal solution (a copy) and the solver's statistics."""
        self._in["x0"][:], self._in["lbx"][:], self._in["ubx"][:], self._in["p"][:] = x0, lbx, ubx, p
        self._evaluate()
        return self._out["x"].copy(), self._buffer.stats()


class ReferenceSolver:
    """The same OCP in ``Opti`` + IPOPT, cold-started, uncompiled."""

    name = "reference"

    def __init__(self, ocp: CineOCP, params: MPCParams):
        self.ocp = ocp
        self.build_s = 0.0
        N = ocp.N
        opti = ca.Opti()
        X = opti.variable(NX, N + 1)
        U = opti.variable(NU, N)
        P = opti.parameter(ocp.np, N + 1)
        x_init = opti.parameter(NX)
        lbx, ubx = opti.parameter(NX), opti.parameter(NX)
        lbu, ubu = opti.parameter(NU), opti.parameter(NU)
        free = [i for i in range(NX) if i != IX["slack"]]
        opti.subject_to(X[free, 0] == x_init[free])
        opti.subject_to(X[IX["slack"], 0] >= 0)
        objective = 0
        for k in range(N):
            opti.subject_to(X[:, k + 1] == ocp.f_dynamics(X[:, k], U[:, k]))
            opti.subject_to(ocp.f_path(X[:, k], P[:, k]) >= 0)
            opti.subject_to(opti.bounded(lbu, U[:, k], ubu))
            objective += ocp.f_cost(X[:, k], U[:, k], P[:, k])
            if k > 0:
                opti.subject_to(opti.bounded(lbx, X[:, k], ubx))
        opti.subject_to(ocp.f_path(X[:, N], P[:, N]) >= 0)
        opti.subject_to(opti.bounded(lbx, X[:, N], ubx))
        objective += ocp.f_cost(X[:, N], ca.DM.zeros(NU), P[:, N])
        opti.minimize(objective)
        opti.solver(
            "ipopt",
            {"print_time": False, "error_on_fail": False},
            {
                "print_level": 0, "sb": "yes", "max_iter": params.solver.max_iterations_reference,
                "tol": params.solver.tolerance,
            },
        )
        self.opti, self.X, self.U, self.P = opti, X, U, P
        self.x_init, self.lbx, self.ubx, self.lbu, self.ubu = x_init, lbx, ubx, lbu, ubu

    def set_bounds(self, lbx: np.ndarray, ubx: np.ndarray, lbu: np.ndarray, ubu: np.ndarray) -> None:
        # Opti.bounded cannot take infinities through parameters: use large finite numbers
        big = 1e9
        self.opti.set_value(self.lbx, np.clip(lbx, -big, big))
        self.opti.set_value(self.ubx, np.clip(ubx, -big, big))
        self.opti.set_value(self.lbu, np.clip(lbu, -big, big))
        self.opti.set_value(self.ubu, np.clip(ubu, -big, big))

    def solve(self, X0: np.ndarray, U0: np.ndarray, P: np.ndarray, x_init: np.ndarray) -> SolveOutput:
        opti = self.opti
        opti.set_value(self.P, P)
        opti.set_value(self.x_init, x_init)
        opti.set_initial(self.X, X0.T)
        opti.set_initial(self.U, U0.T)
        start = time.perf_counter()
        solution = opti.solve_limited()
        solve_ms = (time.perf_counter() - start) * 1e3
        stats = opti.stats()
        X = np.asarray(solution.value(self.X)).reshape(NX, -1).T
        U = np.asarray(solution.value(self.U)).reshape(NU, -1).T
        return SolveOutput(
            X=X, U=U, success=bool(stats.get("success", False)), iterations=int(stats.get("iter_count", -1)),
            solve_ms=solve_ms, message=str(stats.get("return_status", "")),
        )
