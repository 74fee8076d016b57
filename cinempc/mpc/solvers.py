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
        self.lbg, self.ubg = ocp.constraint_bounds()
        solver = params.solver
        fatrop_common = {"print_level": 0, "max_iter": solver.max_iterations_fast, "tol": solver.tolerance}
        self._cold_options = fatrop_common
        self._warm_options = {
            **fatrop_common, "mu_init": solver.fatrop_mu_init_warm, "bound_push": solver.fatrop_mu_init_warm,
            "tol": solver.tolerance_warm, "constr_viol_tol": solver.constraint_tolerance_warm,
            "compl_inf_tol": solver.complementarity_tolerance_warm,
        }
        self.evaluations = Evaluations.of(ocp)
        # Which Hessian first: exact for warm solves, Gauss-Newton for cold ones; a failed first attempt is tried
        # again with the other one (each has its own compiled library).  Why both, measured (docs/mpc.md):
        # * Gauss-Newton (2 J^T J of the cost's squares, positive semi-definite) is robust far from the optimum:
        #   cold starts 11-27 iterations instead of 13-240.  The exact Hessian of the optics is indefinite, and
        #   in a rack focus whose background blur cannot be reached warm exact solves wandered for 70-300.
        # * Near the optimum Gauss-Newton converges only linearly where residuals stay large, so its 2-iteration
        #   warm solves are less accurate: the ROS graph's 20 s shot (states through DDS) scored composition
        #   0.038-0.052 against 0.025-0.033 with exact warm solves; and an infeasible close-up (subject out of
        #   focus over the whole horizon) failed after 172 Gauss-Newton iterations, 73 exact.
        # So a warm exact attempt is capped at `warm_first_attempt_max_iterations`, then Gauss-Newton finishes.
        self.hessians = {"cold": solver.hessian_cold, "warm": solver.hessian_warm}
        self._solvers: dict[tuple[str, bool], _BufferedCall] = {}
        two = solver.hessian_cold != solver.hessian_warm
        for hessian in dict.fromkeys((solver.hessian_warm, solver.hessian_cold)):
            capped = two and hessian == solver.hessian_warm
            key, cold, warm = self._instances(hessian, solver.compile_flags,
                                              solver.warm_first_attempt_max_iterations if capped else None)
            self._solvers[(hessian, False)], self._solvers[(hessian, True)] = cold, warm
            if hessian == solver.hessian_warm:
                self.key = key
        self._other = {"exact": "gauss_newton", "gauss_newton": "exact"} if two else {}

    def _instances(self, hessian: str, compile_flags: list[str],
                   warm_max_iterations: int | None = None) -> tuple[str, _BufferedCall, _BufferedCall]:
        """(structure key, cold, warm) solver instances on the library compiled for ``hessian``."""
        nlp, equality, structure = self.ocp.stacked_nlp()
        functions = self.ocp.derivative_functions(hessian) + Evaluations.functions(self.ocp)
        key = self.ocp.structure_hash(functions)
        # lam_p (the sensitivity to the ~4400 parameters) is never used: not computing it saves ~0.5 ms a solve
        options = {**structure, "equality": equality, "print_time": False, "error_on_fail": False,
                   "calc_lam_p": False}
        source: str | dict = nlp
        try:
            library, build_s = compiled_library(key, lambda path: self._write_source(functions, path), compile_flags)
            self.build_s += build_s
            source = str(library)
            self.compiled = True
            self.evaluations = Evaluations.compiled(self.ocp, source)
        except RuntimeError as exc:  # no compiler: slower, still correct (CasADi's own exact Hessian)
            log.warning("fast MPC path runs uncompiled: %s", exc)
            self.compiled = False
        cold = _BufferedCall(self._load(source, options, self._cold_options), self.lbg, self.ubg)
        warm_options = dict(self._warm_options)
        if warm_max_iterations is not None:
            warm_options["max_iter"] = warm_max_iterations
        warm = _BufferedCall(self._load(source, options, warm_options), self.lbg, self.ubg)
        return key, cold, warm

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
        """Solve from the guess with the first Hessian for a ``warm`` or cold start; a failed attempt is tried
        once more with the other Hessian (see ``__init__``).  Time and iterations count both attempts."""
        start = time.perf_counter()
        x0, p = self.ocp.pack(X0, U0), P.reshape(-1, order="F")
        hessian = self.hessians["warm" if warm else "cold"]
        w, stats = self._solvers[(hessian, warm)](x0, lbx, ubx, p)
        iterations = int(stats.get("iter_count", -1))
        message = str(stats.get("return_status", ""))
        if not stats.get("success", False) and hessian in self._other:
            other = self._other[hessian]
            w, stats = self._solvers[(other, warm)](x0, lbx, ubx, p)
            iterations += int(stats.get("iter_count", -1))
            message = f"{hessian} Hessian stopped ({message}), {other}: {stats.get('return_status', '')}"
        solve_ms = (time.perf_counter() - start) * 1e3
        X, U = self.ocp.unpack(w)
        return SolveOutput(X=X, U=U, success=bool(stats.get("success", False)), iterations=iterations,
                           solve_ms=solve_ms, message=message)


class _BoundArrays:
    """A CasADi Function whose every input and output is bound, once, to a NumPy array (its buffer API).

    Why: converting NumPy arrays to DMs and back on every call cost ~1.5 ms of a ~10 ms
    solve (the ~7000 numbers of an ``nlpsol`` call) and ~0.1 ms of a small function's
    ~5 us.  The arrays live as long as this object, so the pointers the buffer holds
    stay valid.
    """

    def __init__(self, function: ca.Function):
        self.function = function
        self._buffer, self._evaluate = function.buffer()
        self.inputs = [np.zeros(function.nnz_in(i)) for i in range(function.n_in())]
        self.outputs = [np.zeros(function.nnz_out(i)) for i in range(function.n_out())]
        for i, array in enumerate(self.inputs):
            self._buffer.set_arg(i, memoryview(array))
        for i, array in enumerate(self.outputs):
            self._buffer.set_res(i, memoryview(array))


class _BufferedCall(_BoundArrays):
    """One ``nlpsol`` instance on bound arrays (measured A/B on the benchmark's recorded problems:
    identical solutions, 1.5 ms a solve less than through DMs)."""

    def __init__(self, solver: ca.Function, lbg: np.ndarray, ubg: np.ndarray):
        super().__init__(solver)
        self._in = dict(zip(solver.name_in(), self.inputs, strict=True))
        self._out = dict(zip(solver.name_out(), self.outputs, strict=True))
        self._in["lbg"][:], self._in["ubg"][:] = lbg, ubg

    def __call__(self, x0: np.ndarray, lbx, ubx, p: np.ndarray) -> tuple[np.ndarray, dict]:
        """Solve from ``x0``; returns the primal solution (a copy) and the solver's statistics."""
        self._in["x0"][:], self._in["lbx"][:], self._in["ubx"][:], self._in["p"][:] = x0, lbx, ubx, p
        self._evaluate()
        return self._out["x"].copy(), self._buffer.stats()


@dataclass(frozen=True)
class Evaluations:
    """The numeric evaluations the controller makes around a solve: stage cost, path constraints, cost terms
    and image points over the horizon.

    Why: in CasADi's virtual machine, called with NumPy arrays converted to DMs, they
    took ~4 ms of every control step (warm-start tail 0.8 ms, cost breakdown and plan
    1.2 ms each...) beside a ~6 ms solve.  The fast path compiles them into its
    library and calls them through the buffer API (:class:`_ArrayCall`).
    """

    stage_cost: object  # (x, u, p) -> cost
    path: object  # (x, p) -> h
    terms_horizon: object  # (X^T, U^T, P) -> terms x (N+1)
    image_horizon: object  # (X^T, P) -> 5 x (N+1)

    @staticmethod
    def functions(ocp: CineOCP) -> list[ca.Function]:
        return [ocp.f_cost, ocp.f_path, ocp.f_terms_horizon, ocp.f_image_horizon]

    @classmethod
    def of(cls, ocp: CineOCP) -> Evaluations:
        """The OCP's own (virtual-machine) functions: always available."""
        return cls(*cls.functions(ocp))

    @classmethod
    def compiled(cls, ocp: CineOCP, library: str) -> Evaluations:
        """The same functions from a compiled library, called on NumPy arrays."""
        return cls(*[_ArrayCall(ca.external(f.name(), library)) for f in cls.functions(ocp)])


class _ArrayCall(_BoundArrays):
    """A CasADi Function with dense inputs and outputs called on NumPy arrays in its inputs' order.

    Returns the first output as a NumPy array of the function's shape (a scalar as a
    float), ~5 us a call instead of ~100 us through DMs.
    """

    def __init__(self, function: ca.Function):
        super().__init__(function)
        self._shape = function.size_out(0)

    def __call__(self, *args) -> np.ndarray | float:
        for array, value in zip(self.inputs, args, strict=True):
            array[:] = np.ravel(value, order="F")
        self._evaluate()
        out = self.outputs[0]
        if out.size == 1:
            return float(out[0])
        return out.reshape(self._shape, order="F").copy()


class ReferenceSolver:
    """The same OCP in ``Opti`` + IPOPT, cold-started, uncompiled."""

    name = "reference"

    def __init__(self, ocp: CineOCP, params: MPCParams):
        self.ocp = ocp
        self.build_s = 0.0
        self.evaluations = Evaluations.of(ocp)
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
            opti.subject_to(X[:, k + 1] == ocp.f_dynamics(X[:, k], U[:, k], P[:, k]))
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
