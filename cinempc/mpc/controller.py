"""``CineMPC``: the receding-horizon controller of drone pose, gimbal and lens.

One call of :meth:`CineMPC.solve` validates the inputs, turns the shot into
stage parameters, solves the OCP (fast or reference back-end), checks what had
to be relaxed, and returns the first setpoint with the whole plan.  Any failure
-- solver error, late solve, no subject -- ends in a documented safe setpoint
(shifted previous plan, else hold) and a status saying so; it never raises for
a solver problem and never commands a wild move.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

import numpy as np

from cinempc import optics
from cinempc.angles import wrap_angle
from cinempc.config import CameraProfile, VehicleConfig
from cinempc.mpc.fallback import (
    StoredPlan,
    hold_setpoint,
    setpoint_from_plan,
    shifted_plan,
    shifted_setpoint,
)
from cinempc.mpc.model import (
    FOCAL_SCALE_MM,
    IU,
    IX,
    NU,
    NX,
    SLACK_SCALE,
    dynamics_numpy,
    f_number_from_stops,
    stops_from_f_number,
)
from cinempc.mpc.ocp import CineOCP, heading_time_constant_s
from cinempc.mpc.params import MPCParams, load_mpc_params
from cinempc.mpc.references import ReferenceBuilder, ShotMemory, ShotPhase, assign_roles
from cinempc.mpc.solvers import FastSolver, ReferenceSolver, SolveOutput
from cinempc.plan import Plan
from cinempc.safety import Status
from cinempc.shot import ShotSpec, vocabulary
from cinempc.state import Obstacle, RigState, Setpoint, SubjectTrack, require_finite

STATUSES = (Status.OPTIMAL, Status.RELAXED, Status.FALLBACK_SHIFTED, Status.FALLBACK_HOLD, Status.NO_SUBJECT)
# solver settings the back-end bakes into its loaded instances (a change reloads them from the compiled library)
_BACKEND_SOLVER_FIELDS = ("max_iterations_fast", "max_iterations_reference", "tolerance", "tolerance_warm",
                          "constraint_tolerance_warm", "complementarity_tolerance_warm", "hessian_cold",
                          "hessian_warm", "warm_first_attempt_max_iterations", "fatrop_mu_init_warm")


@dataclass
class MPCResult:
    """Outcome of one MPC step: what to command, the plan behind it and how it was obtained."""

    status: Status
    setpoint: Setpoint
    plan: Plan | None = None  # the horizon behind the setpoint (a hold plan when holding)
    solve_ms: float = 0.0
    iterations: int = 0
    cost_breakdown: dict[str, float] = field(default_factory=dict)
    relaxations: list[str] = field(default_factory=list)
    message: str = ""
    phase: ShotPhase | None = None  # acquire -> move -> hold (None when no shot is being flown)

    def __post_init__(self) -> None:
        self.status = Status.parse(self.status)

    def planned_state(self, step: int = 1) -> RigState:
        """The rig as the plan has it ``step`` steps ahead: perfect tracking, for benchmarks and tests.

        Not the setpoint: the setpoint's drone part is the middle of the first interval
        (see :func:`cinempc.mpc.fallback.setpoint_from_plan`).
        """
        if self.plan is None:
            raise ValueError("this result carries no plan")
        return self.plan.state_at(step)


@lru_cache(maxsize=8)
def _shared_ocp(horizon_steps: int, dt_s: float, max_subjects: int, max_obstacles: int) -> CineOCP:
    return CineOCP(horizon_steps, dt_s, max_subjects, max_obstacles)


def _fixed_mid(low: float, high: float) -> float:
    """Middle of a lens range on a log scale (the middle of the zoom ring / of the stops)."""
    return math.sqrt(low * high)


class CineMPC:
    """Nonlinear MPC over drone position, camera yaw/pitch, focal length, focus distance and f-number."""

    def __init__(
        self, camera: CameraProfile, vehicle: VehicleConfig, params: MPCParams | None = None,
        solver: Literal["fast", "reference"] = "fast",
        lens_mode: Literal["full", "fixed_lens_autofocus"] = "full",
    ):
        if solver not in ("fast", "reference"):
            raise ValueError(f"solver must be 'fast' or 'reference', got {solver!r}")
        if lens_mode not in ("full", "fixed_lens_autofocus"):
            raise ValueError(f"lens_mode must be 'full' or 'fixed_lens_autofocus', got {lens_mode!r}")
        self.camera = camera
        self.vehicle = vehicle
        self.params = params or load_mpc_params()
        self.solver_name = solver
        self.lens_mode = lens_mode
        h, s = self.params.horizon, self.params.structure
        self.ocp = _shared_ocp(h.horizon_steps, h.dt_s, s.max_subjects, s.max_obstacles)
        self.fixed_focal_mm = _fixed_mid(camera.focal_length_mm.min, camera.focal_length_mm.max)
        self.fixed_f_number = _fixed_mid(camera.f_number.min, camera.f_number.max)
        self.backend = FastSolver(self.ocp, self.params) if solver == "fast" else ReferenceSolver(self.ocp, self.params)
        self._apply_limits()
        self._plan: StoredPlan | None = None
        self._memory: ShotMemory | None = None
        self._shot_key: str | None = None

    @property
    def horizon_steps(self) -> int:
        return self.ocp.N

    @property
    def dt_s(self) -> float:
        return self.ocp.dt_s

    @property
    def heading_tau_s(self) -> float:
        """Time constant of the camera heading's response to the commanded rate (0: it turns as commanded)."""
        return heading_time_constant_s(self.camera, self.vehicle)

    @property
    def build_s(self) -> float:
        """Seconds spent compiling the solver in this process (0 when loaded from the disk cache)."""
        return self.backend.build_s

    def _apply_limits(self) -> None:
        """Bounds and stage references from ``self.vehicle`` and ``self.params`` (no solver is built)."""
        self.bounds = CineOCP.bounds(self.camera, self.vehicle)
        if self.lens_mode == "fixed_lens_autofocus":
            for bound in (self.bounds.lbx, self.bounds.ubx):
                bound[IX["focal"]] = self.fixed_focal_mm / FOCAL_SCALE_MM
                bound[IX["stops"]] = stops_from_f_number(self.fixed_f_number)
        if isinstance(self.backend, ReferenceSolver):
            self.backend.set_bounds(self.bounds.lbx, self.bounds.ubx, self.bounds.lbu, self.bounds.ubu)
        self.references = ReferenceBuilder(
            self.ocp.layout, self.ocp.N, self.ocp.dt_s, self.camera, self.vehicle, self.params, vocabulary(),
            self.lens_mode,
        )

    def set_params(self, params: MPCParams | None = None, vehicle: VehicleConfig | None = None) -> None:
        """New weights, targets, solver settings or vehicle limits from the next solve, keeping the warm start.

        Nothing is compiled: weights, targets and limits are numbers the solver takes at every solve;
        changed iteration/tolerance settings reload the solver from its compiled library.  What changes
        the problem's structure (horizon steps or dt, subject/obstacle slots, compile flags, the camera)
        is refused with a ``ValueError`` and changes nothing.
        """
        new_params = self.params if params is None else params
        new_vehicle = self.vehicle if vehicle is None else vehicle
        if not isinstance(new_params, MPCParams):
            raise TypeError(f"params must be MPCParams, got {type(new_params).__name__}")
        if not isinstance(new_vehicle, VehicleConfig):
            raise TypeError(f"vehicle must be a VehicleConfig, got {type(new_vehicle).__name__}")
        old = self.params
        structural = [name for name, changed in (
            ("horizon.horizon_steps", new_params.horizon.horizon_steps != old.horizon.horizon_steps),
            ("horizon.dt_s", new_params.horizon.dt_s != old.horizon.dt_s),
            ("structure", new_params.structure != old.structure),
            ("solver.compile_flags", new_params.solver.compile_flags != old.solver.compile_flags),
            ("camera_profile", new_vehicle.camera_profile != self.vehicle.camera_profile),
        ) if changed]
        if structural:
            raise ValueError(f"{structural} change the problem's structure: build a new CineMPC to apply them")
        reload = any(getattr(new_params.solver, f) != getattr(old.solver, f) for f in _BACKEND_SOLVER_FIELDS)
        backend = self.backend
        if reload:  # from the compiled library on disk: no code generation, no compiler
            backend = FastSolver(self.ocp, new_params) if self.solver_name == "fast" else ReferenceSolver(
                self.ocp, new_params)
        self.params, self.vehicle, self.backend = new_params, new_vehicle, backend
        self._apply_limits()

    def reset(self) -> None:
        """A new shot: forget the warm start and where the previous move started."""
        self._plan = None
        self._memory = None
        self._shot_key = None

    # ------------------------------------------------------------------ solve

    def solve(
        self, state: RigState, shot: ShotSpec, subjects: list[SubjectTrack], obstacles: list[Obstacle],
        shot_time_s: float, background_distance_m: float | None = None,
    ) -> MPCResult:
        """One MPC step; see the module docstring for what can come back."""
        self._validate(state, shot, subjects, obstacles, shot_time_s, background_distance_m)
        shot_key = shot.model_dump_json()
        if shot_key != self._shot_key:  # a different shot without reset(): start its move afresh
            self._memory = None
            self._shot_key = shot_key
        roles = assign_roles(shot, subjects, state.position_m, self.ocp.layout.max_subjects)
        if not roles.framed:
            return MPCResult(
                status=Status.NO_SUBJECT, setpoint=hold_setpoint(state),
                plan=Plan.hold(state, self.ocp.N, self.dt_s, shot_time_s),
                message=f"no visible subject matches {shot.subjects}; holding",
            )
        if self._memory is None:
            self._memory = self.references.start_memory(state, roles, shot_time_s)
        relaxations: list[str] = []
        phase = self.references.update_phase(state, shot, roles, self._memory, shot_time_s, relaxations,
                                              background_distance_m)
        P = self.references.build(
            state, shot, roles, shot_time_s, background_distance_m, self._memory, relaxations, obstacles
        )
        x0 = self._initial_state(state, shot_time_s)
        X_guess, U_guess, P, warm = self._initial_guess(x0, shot_time_s, P, state, obstacles)
        output = self._run_backend(X_guess, U_guess, x0, P, warm)
        late = output.solve_ms > self.params.solver.deadline_ms
        usable = output.success and np.all(np.isfinite(output.X)) and np.all(np.isfinite(output.U))
        if not usable or late:
            reason = "late" if usable else "failed"
            previous = shifted_setpoint(self._plan, shot_time_s, not self.camera.gimbal_yaw, self.heading_tau_s)
            previous_plan = shifted_plan(self._plan, shot_time_s) if previous is not None else None
            if usable:  # a late solution is still the best warm start for the next step
                self._plan = StoredPlan(output.X, output.U, shot_time_s, self.dt_s,
                                        self._plan_of(output.X, output.U, P, shot_time_s),
                                        sum(self._costs(output.X, output.U, P).values()))
            elif previous is None:
                self._plan = None
            message = f"solve {reason} ({output.message}, {output.solve_ms:.1f} ms)"
            if previous is not None:
                return MPCResult(Status.FALLBACK_SHIFTED, previous, previous_plan, output.solve_ms,
                                 output.iterations, {}, relaxations, message + "; flying the shifted previous plan",
                                 phase)
            stay = Plan.hold(state, self.ocp.N, self.dt_s, shot_time_s)
            return MPCResult(Status.FALLBACK_HOLD, hold_setpoint(state), stay, output.solve_ms, output.iterations, {},
                             relaxations, message + "; no previous plan, holding", phase)
        plan = self._plan_of(output.X, output.U, P, shot_time_s)
        costs = self._costs(output.X, output.U, P)
        self._plan = StoredPlan(output.X, output.U, shot_time_s, self.dt_s, plan, sum(costs.values()))
        relaxations += self._report_relaxations(output.X, P, roles, shot, plan)
        return MPCResult(
            status=Status.RELAXED if relaxations else Status.OPTIMAL,
            setpoint=setpoint_from_plan(output.X, output.U, 1, self.dt_s, not self.camera.gimbal_yaw,
                                        self.heading_tau_s),
            plan=plan,
            solve_ms=output.solve_ms,
            iterations=output.iterations,
            cost_breakdown=costs,
            relaxations=relaxations,
            message=output.message,
            phase=phase,
        )

    # -------------------------------------------------------------- internals

    def _validate(self, state, shot, subjects, obstacles, shot_time_s, background_distance_m) -> None:
        if not isinstance(state, RigState):
            raise TypeError(f"state must be a RigState, got {type(state).__name__}")
        if not isinstance(shot, ShotSpec):
            raise TypeError(f"shot must be a ShotSpec, got {type(shot).__name__}")
        # the dataclasses check at construction, but their arrays are mutable: check again here
        for name in ("position_m", "velocity_mps", "acceleration_mps2", "yaw_rad", "pitch_rad", "focal_length_mm",
                     "focus_distance_m", "f_number"):
            require_finite(f"state.{name}", getattr(state, name))
        if state.focal_length_mm <= 0 or state.focus_distance_m <= 0 or state.f_number <= 0:
            raise ValueError("state lens settings (focal_length_mm, focus_distance_m, f_number) must be positive")
        for subject in subjects:
            if not isinstance(subject, SubjectTrack):
                raise TypeError(f"subjects must be SubjectTrack, got {type(subject).__name__}")
            require_finite(f"subject #{subject.track_id}.positions_m", subject.positions_m)
            require_finite(f"subject #{subject.track_id}.velocities_mps", subject.velocities_mps)
            require_finite(f"subject #{subject.track_id}.height_m", subject.height_m)
        for obstacle in obstacles:
            require_finite(f"obstacle {obstacle.name or obstacle.kind}.center_m", obstacle.center_m)
            require_finite(f"obstacle {obstacle.name or obstacle.kind}.radius_m", obstacle.radius_m)
            require_finite(f"obstacle {obstacle.name or obstacle.kind}.height_m", obstacle.height_m)
            if obstacle.half_extents_m is not None:
                require_finite(f"obstacle {obstacle.name or obstacle.kind}.half_extents_m", obstacle.half_extents_m)
        require_finite("shot_time_s", shot_time_s)
        if background_distance_m is not None:
            require_finite("background_distance_m", background_distance_m)
            if background_distance_m <= 0:
                raise ValueError(f"background_distance_m must be positive, got {background_distance_m}")

    def _initial_state(self, state: RigState, shot_time_s: float) -> np.ndarray:
        """The measured state in OCP coordinates, clamped into the hard box/norm limits.

        Why clamp: a measured speed a hair above the limit (estimator noise, a
        gust) would make the hard limits infeasible at the first step.
        """
        b = self.bounds
        x0 = np.zeros(NX)
        x0[IX["px"]:IX["pz"] + 1] = state.position_m
        velocity = state.velocity_mps.copy()
        acceleration = state.acceleration_mps2.copy()
        since = self._plan.steps_since(shot_time_s) if self._plan is not None else None
        if since is not None and since <= 2:  # a fresh plan (not after a HOLD)
            # The model's acceleration is what the autopilot is *commanded* to fly (thrust direction),
            # continued from the plan; the measured one is the net acceleration, wind drag included,
            # which the autopilot's own loops reject.  Planning from the measured one in a 4 m/s
            # crosswind read the drag as "not braking yet" every step: the drone drifted 27 m
            # downwind (composition 0.22; 0.01 from the plan).  Position and velocity stay measured:
            # they close the loop.
            acceleration = self._plan.X[since, IX["ax"]:IX["az"] + 1].copy()
            # likewise the heading's rate: the airframe turns at the rate the plan predicted (no rate is measured)
            x0[IX["heading_rate"]] = self._plan.X[since, IX["heading_rate"]]
        x0[IX["vx"]:IX["vz"] + 1] = velocity
        x0[IX["ax"]:IX["az"] + 1] = acceleration
        self._clamp_motion(x0)
        yaw = state.yaw_rad
        if self._plan is not None:  # unwrap next to the plan so the heading never spins 2 pi
            predicted = self._plan.X[min(1, len(self._plan.X) - 1), IX["yaw"]]
            yaw = wrap_angle(yaw, near_rad=float(predicted))
        x0[IX["yaw"]] = yaw
        x0[IX["pitch"]] = state.pitch_rad
        x0[IX["focal"]] = state.focal_length_mm / FOCAL_SCALE_MM
        x0[IX["focus"]] = state.focus_distance_m
        x0[IX["stops"]] = stops_from_f_number(state.f_number)
        if self.lens_mode == "fixed_lens_autofocus":
            x0[IX["focal"]] = self.fixed_focal_mm / FOCAL_SCALE_MM
            x0[IX["stops"]] = stops_from_f_number(self.fixed_f_number)
        keep = [i for i in range(NX) if i != IX["slack"]]
        x0[keep] = np.clip(x0[keep], b.lbx[keep], b.ubx[keep])
        x0[IX["slack"]] = 0.0
        return x0

    def _clamp_motion(self, x: np.ndarray) -> None:
        """Scale horizontal speed and acceleration into their norm limits (in place; hard constraints)."""
        v = self.vehicle.vehicle
        for block, limit in ((slice(IX["vx"], IX["vy"] + 1), v.max_speed_mps),
                             (slice(IX["ax"], IX["az"] + 1), v.max_accel_mps2)):
            norm = float(np.linalg.norm(x[block]))
            if norm > limit:
                x[block] *= limit / norm

    def _initial_guess(self, x0: np.ndarray, shot_time_s: float, P: np.ndarray, state: RigState,
                       obstacles: list[Obstacle]) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
        """The start of the solve: a guess with its obstacle slots placed and its safety slack seeded, and
        ``warm`` when that is the shifted previous plan.

        The shifted previous plan (when the rig is where it planned to be) is taken while its objective --
        but the slack's penalty: its extended tail may graze an obstacle -- is within
        ``solver.shifted_guess_cost_ratio`` of the previous optimum's.  Otherwise the cheapest by the whole
        objective of it, the measured state flown on with no inputs and -- when moving -- a stop at the
        acceleration limit.  Why: a plan made for a subject that then stopped or turned flew through where
        the subject now stands; from that guess the solver took 300 iterations and failed, from the stop 31.
        """
        solver = self.params.solver

        def scored(X: np.ndarray, U: np.ndarray, warm: bool) -> tuple[dict[str, float], np.ndarray, np.ndarray,
                                                                      np.ndarray, bool]:
            P_guess = P.copy()
            self.references.place_obstacles(P_guess, state, obstacles, X[:, IX["px"]:IX["pz"] + 1])
            self._seed_slack(X, U, P_guess)  # a violation is priced by the slack's exact penalty
            return self._costs(X, U, P_guess), X, U, P_guess, warm

        candidates = []
        shifted = self._shifted_guess(x0, shot_time_s, P)
        if shifted is not None:
            candidates.append(scored(*shifted, True))
            costs = candidates[0][0]
            if sum(costs.values()) - costs["slack"] <= solver.shifted_guess_cost_ratio * self._plan.objective:
                return candidates[0][1:]
        candidates.append(scored(*self._coast_guess(x0), False))
        if float(np.linalg.norm(x0[IX["vx"]:IX["vz"] + 1])) > solver.brake_guess_min_speed_mps:
            candidates.append(scored(*self._brake_guess(x0), False))
        return min(candidates, key=lambda candidate: sum(candidate[0].values()))[1:]

    def _costs(self, X: np.ndarray, U: np.ndarray, P: np.ndarray) -> dict[str, float]:
        """Each cost term of the objective at a plan (stage weights applied), on the compiled evaluation."""
        return self.ocp.cost_breakdown(X, U, P, self.backend.evaluations.terms_horizon)

    def _shifted_guess(self, x0: np.ndarray, shot_time_s: float,
                       P: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """The previous plan shifted to now, its tail extended; None without one or when the rig is elsewhere."""
        N = self.ocp.N
        if self._plan is None or self.solver_name != "fast":
            return None
        shift = self._plan.steps_since(shot_time_s)
        if shift >= N or not self._plan_is_here(x0, shift):
            return None
        X = np.array([self._plan.X[min(k + shift, N)] for k in range(N + 1)])
        U = np.array([self._plan.U[min(k + shift, N - 1)] for k in range(N)])
        self._extend_tail(X, U, N - shift, P)
        X[0] = x0
        X[:, IX["yaw"]] += x0[IX["yaw"]] - self._plan.X[min(shift, N), IX["yaw"]]
        return X, U

    def _coast_guess(self, x0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The measured state flown on with no inputs (zero jerk, camera and lens still), within the limits.

        Why not the position held with zero velocity: that guess breaks the dynamics wherever the drone is
        moving -- a cold start at 6 m/s (a new shot mid-flight) took 44-60 iterations, this one 11-31.
        """
        return self._rollout(x0, lambda x: np.zeros(NU))

    def _brake_guess(self, x0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The drone brought to a stop (acceleration towards -velocity / brake time, within the acceleration
        and jerk limits), camera and lens still."""
        v = self.vehicle.vehicle
        time_s = self.params.solver.brake_guess_time_s

        def brake(x: np.ndarray) -> np.ndarray:
            wanted = -x[IX["vx"]:IX["vz"] + 1] / time_s
            norm = float(np.linalg.norm(wanted))
            if norm > v.max_accel_mps2:
                wanted *= v.max_accel_mps2 / norm
            u = np.zeros(NU)
            u[IU["jx"]:IU["jz"] + 1] = np.clip((wanted - x[IX["ax"]:IX["az"] + 1]) / self.dt_s,
                                               -v.max_jerk_mps3, v.max_jerk_mps3)
            return u

        return self._rollout(x0, brake)

    def _rollout(self, x0: np.ndarray, inputs) -> tuple[np.ndarray, np.ndarray]:
        """The model flown from ``x0`` with ``inputs(x)`` at every stage, kept inside the limits."""
        N = self.ocp.N
        X = np.tile(x0, (N + 1, 1))
        U = np.zeros((N, NU))
        for k in range(N):
            U[k] = np.clip(inputs(X[k]), self.bounds.lbu, self.bounds.ubu)
            X[k + 1] = np.clip(dynamics_numpy(X[k], U[k], self.dt_s, self.heading_tau_s),
                               self.bounds.lbx, self.bounds.ubx)
            self._clamp_motion(X[k + 1])
        return X, U

    def _plan_is_here(self, x0: np.ndarray, shift: int) -> bool:
        """True if the stored plan, ``shift`` steps on, has the rig where it is: only then is it a warm start."""
        planned = self._plan.X[min(shift, self.ocp.N)]
        solver = self.params.solver
        position_error = float(np.linalg.norm(planned[IX["px"]:IX["pz"] + 1] - x0[IX["px"]:IX["pz"] + 1]))
        velocity_error = float(np.linalg.norm(planned[IX["vx"]:IX["vz"] + 1] - x0[IX["vx"]:IX["vz"] + 1]))
        return (position_error <= solver.warm_start_max_position_error_m
                and velocity_error <= solver.warm_start_max_velocity_error_mps)

    def _extend_tail(self, X: np.ndarray, U: np.ndarray, start: int, P: np.ndarray) -> None:
        """Fill the stages past the old horizon (``start``..N) of a shifted warm start, in place.

        Two candidate tails, the cheaper (by the stage costs of those stages) wins:
        *continue* the last move (zoom, focus pull, pan; zero jerk) or *settle*
        (camera and lens rates zero).  Why both: a frozen focus at the tail left a
        walking subject outside a few-centimetre depth of field (1e3 x the optimal
        stage cost, ~5 extra iterations every solve), while continuing a rack focus
        pulled the focus 1 m past its target (stage cost 948 against 9): that warm
        start took the solver 300 iterations instead of 4.
        """
        N = self.ocp.N
        continued = U[N - 1].copy()
        continued[IU["jx"]:IU["jz"] + 1] = 0.0
        settled = continued.copy()
        settled[IU["yaw_rate"]:IU["iris_rate"] + 1] = 0.0
        best: tuple[float, np.ndarray, np.ndarray] | None = None
        for tail in (continued, settled):
            Xc, Uc = X.copy(), U.copy()
            for k in range(start, N):
                Uc[k] = tail
                Xc[k + 1] = np.clip(dynamics_numpy(Xc[k], tail, self.dt_s, self.heading_tau_s),
                                    self.bounds.lbx, self.bounds.ubx)
                self._clamp_motion(Xc[k + 1])
            cost = sum(float(self.backend.evaluations.stage_cost(Xc[k], Uc[k] if k < N else np.zeros(NU), P[:, k]))
                       for k in range(start, N + 1))
            if best is None or cost < best[0]:
                best = (cost, Xc, Uc)
        X[:], U[:] = best[1], best[2]

    def _seed_slack(self, X: np.ndarray, U: np.ndarray, P: np.ndarray) -> None:
        """Start the safety slack where the guess needs it, stage by stage (in place).

        Why: a rig that starts outside a hard constraint -- blown 0.5 m past the
        geofence, a subject stepping inside the stand-off -- needs a slack of
        ``violation / SLACK_SCALE`` (500 units for 0.5 m) from the first stage on.
        Started at 0, fatrop had to take that as one huge step, the line search
        cut it to nothing and the solve failed after 24 iterations (the rig then
        held position outside the fence).  Seeded with the violation, the start is
        feasible for the slack and the plan flies back in.  The same holds at later
        stages: a shifted plan made for a walking subject that then stopped passes
        through where it stands.
        """
        for k in range(X.shape[0]):
            x = X[k].copy()
            x[IX["slack"]] = 0.0
            violation = -float(np.min(np.asarray(self.backend.evaluations.path(x, P[:, k]))))
            if violation > 0.0:
                X[k, IX["slack"]] = max(X[k, IX["slack"]], 1.5 * violation / SLACK_SCALE)
        U[:, IU["slack_next"]] = X[1:, IX["slack"]]

    def _run_backend(self, X_guess, U_guess, x0, P, warm: bool) -> SolveOutput:
        try:
            if isinstance(self.backend, FastSolver):
                lbx, ubx = self.ocp.variable_bounds(self.bounds, x0)
                return self.backend.solve(X_guess, U_guess, lbx, ubx, P, warm)
            return self.backend.solve(X_guess, U_guess, P, x0)
        except RuntimeError as exc:  # a CasADi evaluation error is a failed solve, not a crash
            N = self.ocp.N
            return SolveOutput(np.full((N + 1, NX), np.nan), np.full((N, NU), np.nan), False, 0, 0.0, str(exc))

    def _plan_of(self, X: np.ndarray, U: np.ndarray, P: np.ndarray, shot_time_s: float) -> Plan:
        """The solution as a typed plan, with the predicted image series as diagnostics."""
        uv = np.asarray(self.backend.evaluations.image_horizon(X.T, P)).T
        return Plan(
            t_s=shot_time_s + self.dt_s * np.arange(self.ocp.N + 1),
            position_m=X[:, IX["px"]:IX["pz"] + 1], velocity_mps=X[:, IX["vx"]:IX["vz"] + 1],
            acceleration_mps2=X[:, IX["ax"]:IX["az"] + 1], yaw_rad=X[:, IX["yaw"]], pitch_rad=X[:, IX["pitch"]],
            focal_length_mm=X[:, IX["focal"]] * FOCAL_SCALE_MM, focus_distance_m=X[:, IX["focus"]],
            f_number=f_number_from_stops(X[:, IX["stops"]]), jerk_mps3=U[:, IU["jx"]:IU["jz"] + 1],
            yaw_rate_rad_s=U[:, IU["yaw_rate"]], slack=X[:, IX["slack"]] * SLACK_SCALE,
            diagnostics={
                "group_feet_uv_px": uv[:, 0:2], "group_head_uv_px": uv[:, 2:4], "group_size_px": uv[:, 4],
                "group_feet_m": P[self.ocp.layout.slices["group_feet_m"], :].T.copy(),
            },
        )

    def _report_relaxations(self, X: np.ndarray, P: np.ndarray, roles, shot: ShotSpec,
                            plan: Plan) -> list[str]:
        """What the plan could not honour: safety slack, depth of field, framing, background blur."""
        out: list[str] = []
        s = self.params.solver
        layout = self.ocp.layout.slices
        tol = s.relaxation_tolerance
        if float(np.max(X[1:, IX["slack"]])) * SLACK_SCALE > tol:
            violated: dict[str, float] = {}
            for k in range(1, self.ocp.N + 1):
                x = X[k].copy()
                x[IX["slack"]] = 0.0
                h = np.asarray(self.backend.evaluations.path(x, P[:, k])).reshape(-1)
                for name, value in zip(self.ocp.constraint_names, h, strict=True):
                    if value < -tol:
                        violated[name] = max(violated.get(name, 0.0), -float(value))
            detail = ", ".join(f"{name} (by {v:.3f})" for name, v in sorted(violated.items())) or "constraints"
            out.append(f"safety: hard constraints infeasible, softened: {detail}")
        coc = self.camera.coc_m
        sharp_idx = np.asarray(P[layout["subj_sharp"], :])
        eyes = np.asarray(P[layout["subj_eye_m"], :])
        blurred = set()
        for k in range(2 * self.ocp.N // 3, self.ocp.N + 1):  # after the lens motors had time to get there
            pos, yaw, pitch = X[k, 0:3], X[k, IX["yaw"]], X[k, IX["pitch"]]
            f_m = X[k, IX["focal"]] * FOCAL_SCALE_MM * 1e-3
            n = f_number_from_stops(X[k, IX["stops"]])
            s_m = X[k, IX["focus"]]
            for i, slot in enumerate(roles.slots):
                if sharp_idx[i, k] <= 0:
                    continue
                depth = optics.camera_frame_point(eyes[3 * i:3 * i + 3, k], pos, yaw, pitch)[2]
                if depth > f_m and optics.blur_circle_m(f_m, n, s_m, depth) > 1.02 * coc:
                    blurred.add(slot.name or slot.ref)
        if blurred:
            out.append(f"depth_of_field: {', '.join(sorted(blurred))} cannot all be kept inside the depth of field")
        N = self.ocp.N
        height_px = self.camera.image_height_px
        head_target = P[layout["target_head_v"], N][0] * height_px
        feet_target = P[layout["target_feet_v"], N][0] * height_px
        planned_px = plan.diagnostics["group_size_px"][N]  # the plan's size
        size_error = abs(planned_px - (feet_target - head_target)) / height_px
        if size_error > s.composition_report_threshold:
            out.append(
                f"framing: {shot.framing} not reachable within the limits; subject height off by "
                f"{size_error:.2f} image heights at the end of the horizon"
            )
        if P[layout["w_background_blur"], N][0] > 0:
            f_m = X[N, IX["focal"]] * FOCAL_SCALE_MM * 1e-3
            blur_px = optics.blur_circle_px(
                f_m, f_number_from_stops(X[N, IX["stops"]]), X[N, IX["focus"]],
                P[layout["background_distance_m"], N][0], self.camera.pixel_pitch_m,
            )
            wanted = self.params.targets.background_blur_px
            if blur_px < 0.9 * wanted:
                out.append(
                    f"depth_of_field: background blur {blur_px:.1f} px below the {wanted:g} px of a shallow shot"
                )
        return out
