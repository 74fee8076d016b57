"""One safety core for every loop: what setpoint may fly, given everything that can go wrong.

The MPC node, the simulator's closed loop, the simulator node and the MAVLink bridge all ask
:class:`SafetyCore` the same question each control tick -- here is the time, the measured rig,
when the subjects were last heard of, whether a shot is active, the director's HOLD/ABORT, the
link's health and the controller's latest answer: what do I fly? -- and get one
:class:`Decision`: a setpoint, a typed :class:`Status`, the :class:`Cause` of a hold and a reason.

Rules (docs/safety.md):

* any hold (director HOLD or ABORT, link lost, no shot, subjects lost, stale rig state, stale or
  missing plan, the controller's own hold, a controller exception, a non-finite value anywhere) is
  latched where it began: the first hold setpoint of an episode is kept until the episode ends, so
  the rig never drifts along with the estimate;
* a controller that holds by itself (``setpoint.hold``) chooses where: its first hold setpoint is
  the latch (that is how a hold streamed by an upstream node is flown downstream unchanged);
* a failed or late solve flies the controller's shifted previous plan -- unless a hold is latched:
  that plan was made before the hold, so the hold stays until a fresh solve;
* a stale or non-finite rig state is never an anchor: the hold is at the last fresh state, and with
  none ever there is no setpoint at all (:attr:`Status.NO_STATE`);
* one age rule for the rig state, the subjects and the plan (:func:`measured_time`, :func:`fresh`): an
  input's age runs from the earlier of when it arrived and when it says it was measured (its stamp), so
  one delivered late is as old as its stamp says; one whose time lies ahead of ``now`` (the clock stepped
  back since it arrived) is not fresh;
* a plan received from another node must carry a stamp that can be trusted (:func:`stamp_fault`): one that
  is not a positive number, or lies ahead of its arrival by more than ``plan_stamp_skew_s`` (the two nodes'
  clocks disagree), is a stale plan -- never a fresh one;
* a hold never brakes below the altitude floor (:func:`hold_above_floor`): one latched while the rig
  descends is raised so the vehicle's sink past it while braking ends on the floor at the lowest;
* one geofence behaviour, :func:`fence`: only the offending axes change -- on each the setpoint
  stops where the rig is (clamped into the box) and any velocity/acceleration feed-forward pointing
  further out is removed; the axes inside keep their motion;
* with a rally point (``SafetyLimits.rally``, from the site file) a hold cinempc started by itself -- one
  of :data:`RALLY_CAUSES`: its own chain failed (link, perception, controller, plan), the position still
  trusted -- that lasts ``rally.after_s`` escalates: the rig flies from the latch to the rally point
  (:class:`cinempc.geofence.RallyPath`) and holds there (:attr:`Cause.RALLY`).  The rally is left only by the
  operator's HOLD or ABORT or a position that cannot be trusted (:data:`RALLY_STOPS`): the rig then holds where
  it is, and RESUME hands it back to the controller.  Director HOLD/ABORT, no shot and an untrusted
  position never escalate; without a rally point nothing escalates.

Pure Python (numpy only): no ROS, no simulator, no solver.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

import numpy as np

from cinempc.config import Airspace, load_parameters
from cinempc.geofence import RallyPath, RallyPoint
from cinempc.plan import Plan
from cinempc.state import RigState, Setpoint


class Status(StrEnum):
    """Every status a setpoint can carry: the controller's own, or the safety core's."""

    OPTIMAL = "optimal"  # the MPC solved within its limits
    RELAXED = "relaxed"  # solved, something (framing, depth of field, slack) was relaxed
    TRACKING = "tracking"  # a baseline controller flying its own plan
    FALLBACK_SHIFTED = "fallback_shifted"  # failed or late solve: the previous plan, shifted
    FALLBACK_HOLD = "fallback_hold"  # failed or late solve with no plan left: hold
    NO_SUBJECT = "no_subject"  # no framed subject visible: hold
    CONTROLLER_ERROR = "controller_error"  # the controller raised: hold
    HOLD = "hold"  # the safety core holds (see Cause)
    NO_STATE = "no_state"  # no fresh rig state: hold at the last fresh one, or nothing without one

    @classmethod
    def parse(cls, value: Any) -> Status:
        """A Status from a controller's status (enum or string); unknown strings are an error."""
        if isinstance(value, Status):
            return value
        try:
            return cls(str(value))
        except ValueError:
            raise ValueError(f"unknown status {value!r}; one of {[s.value for s in cls]}") from None


FLYING_STATUSES = frozenset({Status.OPTIMAL, Status.RELAXED, Status.TRACKING, Status.FALLBACK_SHIFTED})
HOLD_STATUSES = frozenset(set(Status) - FLYING_STATUSES)
FAILED_SOLVE_STATUSES = frozenset({Status.FALLBACK_SHIFTED, Status.FALLBACK_HOLD, Status.CONTROLLER_ERROR})


class Cause(StrEnum):
    """Why the rig holds (checked in this order; the first that applies is reported)."""

    STALE_STATE = "stale rig state"
    STATE_JUMP = "rig state jumped"
    ABORT = "director ABORT"
    DIRECTOR_HOLD = "director HOLD"
    LINK_LOST = "link lost"
    NO_SHOT = "no shot"
    SUBJECTS_LOST = "subjects lost"
    CONTROLLER_ERROR = "controller error"
    STALE_PLAN = "no fresh plan"
    CONTROLLER_HOLD = "controller hold"
    NON_FINITE = "non-finite setpoint"
    RALLY = "rally point"  # an escalated hold: flying to, or holding at, the site's rally point


# holds that escalate to the rally point when they last: cinempc's own chain failed, the position is trusted
# (a controller's own hold escalates only when it is a failed solve: see SafetyCore._escalates)
RALLY_CAUSES = frozenset({Cause.LINK_LOST, Cause.SUBJECTS_LOST, Cause.CONTROLLER_ERROR, Cause.STALE_PLAN,
                          Cause.NON_FINITE})
# what ends a rally flight where the rig is: the operator's HOLD/ABORT, a position that cannot be trusted
RALLY_STOPS = frozenset({Cause.DIRECTOR_HOLD, Cause.ABORT, Cause.STALE_STATE, Cause.STATE_JUMP})


@dataclass(frozen=True)
class SafetyLimits:
    """How old each input may be before it is not trusted (seconds), and how far the rig state may jump.

    A rig state further than ``max_state_jump_m`` from where the previous one was heading (its
    position plus velocity times the time between them) is an estimator or GPS jump: hold where
    the last consistent state was, until the states agree with each other for ``state_jump_settle_s``.
    States further apart in time than ``state_timeout_s`` are not compared: after a forward gap (the
    gap already held as a stale state) the next state is a fresh start; a state more than
    ``state_timeout_s`` *older* than the previous one (the clock stepped back) cannot be checked
    against it, so it is not trusted either, until the states agree for ``state_jump_settle_s``.
    ``rally``: where a lasting hold of :data:`RALLY_CAUSES` flies (None: every hold stays where it began).
    ``hold_brake_s``: a hold latched while the rig descends is at least descent speed x this above the floor
    (:func:`hold_above_floor`), so the vehicle's braking sink ends above it.
    ``plan_stamp_skew_s``: how far a received plan's stamp may lie ahead of its arrival (the clocks of the node
    that planned and the node that flies it disagree by that much) before the plan is not trusted (0: not at all).
    """

    state_timeout_s: float
    subject_timeout_s: float
    plan_timeout_s: float
    max_state_jump_m: float = math.inf  # inf: jumps are not checked
    state_jump_settle_s: float = 1.0
    rally: RallyPoint | None = None
    hold_brake_s: float = 0.0
    plan_stamp_skew_s: float = 0.0

    def __post_init__(self) -> None:
        for name in ("state_timeout_s", "subject_timeout_s", "plan_timeout_s", "state_jump_settle_s"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
        for name in ("hold_brake_s", "plan_stamp_skew_s"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a number of seconds >= 0, got {value!r}")
        jump = self.max_state_jump_m
        if not (isinstance(jump, int | float) and not math.isnan(jump) and jump > 0):
            raise ValueError(f"max_state_jump_m must be a positive distance (inf: unchecked), got {jump!r}")
        if self.rally is not None and not isinstance(self.rally, RallyPoint):
            raise TypeError(f"rally must be a RallyPoint or None, got {type(self.rally).__name__}")

    @classmethod
    def from_parameters(cls, node: dict[str, Any]) -> SafetyLimits:
        """The limits from a node's ``node`` parameters (``config/nodes.yaml``).

        The rally point comes as ``rally_enu_m`` ([east, north, up] metres; absent or empty: none) with
        ``rally_after_s``, ``rally_speed_mps``, ``rally_vertical_speed_mps`` and ``rally_accel_mps2``
        (``cinempc up drone --site`` gives them to the MPC node: :func:`cinempc.site.site_node_parameters`).
        """
        rally = None
        position = node.get("rally_enu_m")
        if position is not None and len(position) > 0:
            try:
                rally = RallyPoint(tuple(float(v) for v in position), float(node["rally_after_s"]),  # type: ignore[arg-type]
                                   float(node["rally_speed_mps"]), float(node["rally_vertical_speed_mps"]),
                                   float(node["rally_accel_mps2"]))
            except KeyError as exc:
                raise ValueError(f"node.rally_enu_m is set but node.{exc.args[0]} is missing") from None
        return cls(float(node["state_timeout_s"]), float(node["subject_timeout_s"]), float(node["max_plan_age_s"]),
                   float(node.get("max_state_jump_m", math.inf)), float(node.get("state_jump_settle_s", 1.0)), rally,
                   float(node.get("hold_brake_s", 0.0)), float(node.get("max_plan_stamp_skew_s", 0.0)))

    @classmethod
    def from_config(cls, node: str = "mpc_node") -> SafetyLimits:
        """The limits of ``config/nodes.yaml`` (the MPC node's: the one place these numbers live)."""
        return cls.from_parameters(load_parameters("nodes.yaml", f"/**/{node}")["node"])


@dataclass(frozen=True)
class SafetyInputs:
    """Everything one decision depends on; ``None`` for a check means this loop does not watch it."""

    now_s: float
    state: RigState | None = None
    state_time_s: float = -math.inf  # when ``state`` arrived (the loop's clock)
    # when ``state`` says it was measured (its header stamp, in the loop's clock); None: the loop measured it itself
    state_stamp_s: float | None = None
    subjects_time_s: float | None = None  # when subjects were last heard of; -inf: never; None: not watched
    subjects_stamp_s: float | None = None  # their header stamp (the loop's clock); None: unstamped
    shot_active: bool = True
    director_hold: bool = False
    abort: bool = False
    link_ok: bool = True
    result: Any = None  # the controller's answer: ``setpoint``, ``status``, optional ``plan`` (a Plan), ``message``
    result_time_s: float = -math.inf  # when ``result`` was computed (received)
    # its header stamp when received from another node (converted to the loop's clock: sim time under /clock);
    # None: the loop computed it itself (unstamped)
    result_stamp_s: float | None = None
    error: str | None = None  # what the controller raised, when it raised instead of returning


@dataclass(frozen=True)
class Decision:
    """What to fly now, and why."""

    setpoint: Setpoint | None
    status: Status
    reason: str = ""
    cause: Cause | None = None
    fenced: bool = False

    @property
    def holding(self) -> bool:
        return self.cause is not None


def fence(setpoint: Setpoint, airspace: Airspace, position_m: Any = None) -> tuple[Setpoint, bool]:
    """The setpoint inside the geofence and altitude band; True when it had to change.

    The one geofence rule: on each axis the request leaves the box, the setpoint stops where the rig
    is on that axis (``position_m``, itself clamped into the box; the request clamped when the rig's
    position is unknown) and any velocity or acceleration feed-forward pointing outward is removed.
    The axes inside keep their motion: zeroing every axis would ask the autopilot for a hard stop that
    eats the thrust it needs to hold altitude, and a far-off request (garbage) never becomes a flight
    to the far boundary.
    """
    if airspace.contains(setpoint.position_m):
        return setpoint, False
    request = np.asarray(setpoint.position_m, dtype=float)
    clamped = np.asarray(airspace.clamp(request), dtype=float)
    here = clamped
    if position_m is not None and np.all(np.isfinite(np.asarray(position_m, dtype=float))):
        here = np.asarray(airspace.clamp(np.asarray(position_m, dtype=float)), dtype=float)
    position = request.copy()
    velocity = setpoint.velocity_mps.copy()
    acceleration = setpoint.acceleration_mps2.copy()
    for axis in range(3):
        if clamped[axis] > request[axis]:  # below the lower bound: nothing may point further down
            position[axis] = here[axis]
            velocity[axis] = max(velocity[axis], 0.0)
            acceleration[axis] = max(acceleration[axis], 0.0)
        elif clamped[axis] < request[axis]:
            position[axis] = here[axis]
            velocity[axis] = min(velocity[axis], 0.0)
            acceleration[axis] = min(acceleration[axis], 0.0)
    return replace(setpoint, position_m=position, velocity_mps=velocity, acceleration_mps2=acceleration), True


def hold_above_floor(hold: Setpoint, state: RigState | None, airspace: Airspace, brake_s: float) -> Setpoint:
    """A hold latched while descending is at least the planning floor + descent speed x ``brake_s`` high.

    A rig descending at ``v`` when a hold is latched sinks past where it was while it brakes (0.16 s x ``v``
    for the simulated vehicle); a hold target raised above it makes the vehicle brake harder, so a hold
    latched close above the floor is raised to ``floor + tracking margin + v * brake_s`` (only its height
    moves).  A hold already that high, or a rig not descending, is unchanged.  It cannot stop a rig already
    inside its braking distance of the floor.
    """
    if state is None or brake_s <= 0:
        return hold
    descent_mps = max(-float(state.velocity_mps[2]), 0.0)
    if descent_mps <= 0.0:
        return hold
    (_, _, floor_m), (_, _, ceiling_m) = airspace.planning_bounds_m()
    lowest_m = min(floor_m + descent_mps * brake_s, ceiling_m)
    if not math.isfinite(lowest_m) or float(hold.position_m[2]) >= lowest_m:
        return hold
    position = np.array(hold.position_m, dtype=float)
    position[2] = lowest_m
    return replace(hold, position_m=position)


def sample_plan(plan: Plan | None, age_s: float, fallback: Setpoint) -> Setpoint:
    """The setpoint ``age_s`` after the plan was computed: ``plan.sample`` one step ahead of now.

    Like ``MPCResult.setpoint`` (the plan's step 1), the setpoint leads the present by one plan
    step; between solves it slides along the plan instead of standing still.  Without a plan of
    two or more stages, or at age 0, the solve's own setpoint ``fallback`` is returned.  A
    non-finite value raises ``ValueError`` (Setpoint checks).
    """
    if not isinstance(plan, Plan) or plan.horizon_steps < 1 or age_s <= 0:
        return fallback
    return plan.sample(plan.t_s[1] + age_s, hold=fallback.hold)


def _number(value: Any) -> float:
    """A time as a float; anything that is not a number is NaN (so every age check fails safe)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def measured_time(arrival_s: Any, stamp_s: Any = None) -> float:
    """When an input was measured, as far as the loop can tell: the earlier of its arrival and its stamp.

    The rule of docs/safety.md, for the rig state, the subjects and the plan alike: an input is as old as
    the earlier of the two says -- one delivered late is aged by its stamp, and a stamp ahead of the
    arrival (a source whose clock runs ahead) does not make it younger than its arrival.  Without a stamp
    (None) the arrival is the time; anything that is not a number is NaN, so the age check fails safe.
    """
    arrival = _number(arrival_s)
    if stamp_s is None:
        return arrival
    stamp = _number(stamp_s)
    if math.isnan(arrival) or math.isnan(stamp):
        return math.nan
    return min(arrival, stamp)


def fresh(age_s: float, timeout_s: float) -> bool:
    """An input ``age_s`` old may be trusted: at most ``timeout_s`` old and not in the future (clock stepped back)."""
    return 0.0 <= age_s <= timeout_s


def age_words(what: str, age_s: float, by_stamp: bool) -> str:
    """Why an input is not fresh, in words: never heard of, in the future, old by its stamp, or just old."""
    if not math.isfinite(age_s):
        return f"no {what}"
    if age_s < 0.0:
        return f"{what} {-age_s:.2f} s in the future (the clock stepped back)"
    if by_stamp:
        return f"{what} {age_s:.2f} s old by its stamp"
    return f"{what} {age_s:.2f} s old"


def stamp_fault(what: str, arrival_s: Any, stamp_s: Any, skew_s: float) -> str | None:
    """Why a received input's stamp cannot be trusted, in words; None when it can (or there is none).

    A stamp that is not a finite number, or is 0 or less (never set), is invalid; one ahead of the input's
    arrival by more than ``skew_s`` comes from a clock that disagrees with the loop's (clock skew).  Either way
    the input's age is unknown, so it is not fresh.
    """
    if stamp_s is None:
        return None
    stamp, arrival = _number(stamp_s), _number(arrival_s)
    if not math.isfinite(stamp):
        return f"{what} stamp invalid ({stamp_s!r})"
    if stamp <= 0.0:
        return f"{what} not stamped (stamp {stamp:g} s)"
    if math.isfinite(arrival) and stamp - arrival > skew_s:
        return f"{what} stamped {stamp - arrival:.2f} s ahead of its arrival: clock skew beyond {skew_s:.2f} s"
    return None


def _by_stamp(arrival_s: Any, stamp_s: Any) -> bool:
    """True when the stamp, not the arrival, set an input's time."""
    return stamp_s is not None and _number(stamp_s) < _number(arrival_s)


def state_time(inputs: SafetyInputs) -> float:
    """When the rig state was measured: :func:`measured_time` of its arrival and stamp."""
    return measured_time(inputs.state_time_s, inputs.state_stamp_s)


def subjects_time(inputs: SafetyInputs) -> float:
    """When the subjects were last measured: :func:`measured_time` of their arrival and stamp."""
    return measured_time(inputs.subjects_time_s, inputs.subjects_stamp_s)


def plan_time(inputs: SafetyInputs) -> float:
    """When the plan was computed: :func:`measured_time` of its arrival and stamp."""
    return measured_time(inputs.result_time_s, inputs.result_stamp_s)


def _finite_state(state: RigState | None) -> bool:
    if state is None:
        return False
    try:
        values = np.concatenate([np.ravel(state.position_m), np.ravel(state.velocity_mps),
                                 np.ravel(state.acceleration_mps2),
                                 [state.yaw_rad, state.pitch_rad, state.focal_length_mm, state.focus_distance_m,
                                  state.f_number]]).astype(float)
    except (TypeError, ValueError):
        return False
    return bool(np.all(np.isfinite(values))) and state.focal_length_mm > 0 and state.focus_distance_m > 0 \
        and state.f_number > 0


@dataclass(frozen=True)
class SetpointResult:
    """A bare setpoint as a controller answer (what a downstream node receives from the MPC node)."""

    setpoint: Setpoint
    status: Status = Status.TRACKING
    message: str = ""
    plan: Plan | None = None

    @classmethod
    def of(cls, setpoint: Setpoint, message: str = "") -> SetpointResult:
        """A received setpoint; a hold setpoint says so in its status."""
        return cls(setpoint, Status.HOLD if setpoint.hold else Status.TRACKING, message)


class SafetyCore:
    """The one hold latch, staleness checks, non-finite guard and geofence of every loop."""

    def __init__(self, airspace: Airspace, limits: SafetyLimits) -> None:
        if not isinstance(airspace, Airspace):
            raise TypeError(f"airspace must be an Airspace, got {type(airspace).__name__}")
        if not isinstance(limits, SafetyLimits):
            raise TypeError(f"limits must be SafetyLimits, got {type(limits).__name__}")
        self.airspace = airspace
        self.limits = limits
        self._latch: Setpoint | None = None
        self._anchor: RigState | None = None  # the last fresh, finite rig state
        self._received: tuple[RigState, float] | None = None  # the last finite state and its time (jump check)
        self._jumped_s: float | None = None  # when the rig state last jumped
        self._failing_since_s: float | None = None  # when the current run of escalating holds began
        self._rally: tuple[RallyPath, float, Setpoint, str] | None = None  # path, start time, template, why
        self.last: Decision | None = None

    def reconfigure(self, airspace: Airspace | None = None, limits: SafetyLimits | None = None) -> None:
        """New fence or limits from now on (the hold latch, if any, is fenced again at the next step)."""
        if airspace is not None:
            if not isinstance(airspace, Airspace):
                raise TypeError(f"airspace must be an Airspace, got {type(airspace).__name__}")
            self.airspace = airspace
        if limits is not None:
            if not isinstance(limits, SafetyLimits):
                raise TypeError(f"limits must be SafetyLimits, got {type(limits).__name__}")
            self.limits = limits

    def reset(self) -> None:
        """Forget the latch and the anchor (a new session: cleanup/configure)."""
        self._latch, self._anchor, self.last = None, None, None
        self._received = self._jumped_s = None
        self._failing_since_s = self._rally = None

    @property
    def latched(self) -> Setpoint | None:
        """The hold setpoint of the current hold episode, if holding."""
        return self._latch

    # ------------------------------------------------------------------ the decision
    def step(self, inputs: SafetyInputs) -> Decision:
        """The setpoint to fly now (never raises on bad inputs: they become a hold)."""
        decision = self._decide(inputs)
        if self.limits.rally is not None:
            decision = self._escalate(inputs, decision)
        if decision.setpoint is not None:
            here = self._anchor.position_m if self._anchor is not None else None
            setpoint, fenced = fence(decision.setpoint, self.airspace, here)
            decision = replace(decision, setpoint=setpoint, fenced=fenced)
        self.last = decision
        return decision

    def blocking(self, inputs: SafetyInputs) -> Cause | None:
        """The hold no new plan could lift (stale state, HOLD/ABORT, link, no shot, subjects lost), if any.

        A loop that plans (the MPC node) skips its solve while this is not None.
        """
        found = self._input_hold(inputs)
        if found is None and self._rally is not None:
            return Cause.RALLY
        return found[0] if found is not None else None

    @property
    def rallying(self) -> bool:
        """True while flying to, or holding at, the rally point."""
        return self._rally is not None

    # ------------------------------------------------------------------ the rally point
    @staticmethod
    def _escalates(decision: Decision) -> bool:
        """A hold of cinempc's own failing chain (the controller's own hold only when it is a failed solve)."""
        if decision.cause in RALLY_CAUSES:
            return True
        return decision.cause is Cause.CONTROLLER_HOLD and decision.status in FAILED_SOLVE_STATUSES

    def _escalate(self, i: SafetyInputs, decision: Decision) -> Decision:
        """The rally rule (module docstring): start, continue or stop the flight to the rally point."""
        now = _number(i.now_s)
        if self._rally is not None:
            if decision.cause in RALLY_STOPS or not math.isfinite(now):
                self._rally = self._failing_since_s = None  # stopped where it is: the latch is the last rally point
                return decision
            return self._rally_decision(now)
        if not self._escalates(decision) or not math.isfinite(now):
            self._failing_since_s = None
            return decision
        if self._failing_since_s is None:
            self._failing_since_s = now
        rally = self.limits.rally
        if now - self._failing_since_s < rally.after_s or self._latch is None:
            return decision
        start = np.asarray(self.airspace.clamp(self._latch.position_m), dtype=float)
        why = f"{decision.reason} for {now - self._failing_since_s:.0f} s" if decision.reason else \
            f"held {now - self._failing_since_s:.0f} s"
        self._rally = (rally.path_from(start), now, self._latch, why)
        return self._rally_decision(now)

    def _rally_decision(self, now: float) -> Decision:
        """The rally setpoint now (camera and lens as latched); the latch follows it, so HOLD stops it there."""
        path, began_s, template, why = self._rally
        position, velocity, acceleration, arrived = path.sample(now - began_s)
        setpoint = replace(template, position_m=position, velocity_mps=velocity, acceleration_mps2=acceleration,
                           yaw_rate_rad_s=0.0, hold=arrived)
        self._latch = replace(setpoint, velocity_mps=np.zeros(3), acceleration_mps2=np.zeros(3), hold=True)
        where = "holding at the rally point" if arrived else "flying to the rally point"
        return Decision(setpoint, Status.HOLD, f"{where} ({why}); HOLD stops it, RESUME then flies the shot"[:200],
                        Cause.RALLY)

    def _input_hold(self, i: SafetyInputs) -> tuple[Cause, str, Status] | None:
        """The first hold the inputs (not the controller's answer) call for; records a fresh state as the anchor."""
        now = _number(i.now_s)
        measured = state_time(i)
        state_age = now - measured
        # fresh: measured no longer than state_timeout_s ago -- and not in the future (a clock stepped back
        # since it arrived: its true age is unknown, so it is not fresh)
        if _finite_state(i.state) and fresh(state_age, self.limits.state_timeout_s):
            jump = self._jump(i.state, measured)
            if jump is not None:
                return Cause.STATE_JUMP, jump, Status.NO_STATE
            self._anchor = i.state
        else:
            return Cause.STALE_STATE, self._stale_reason(i, state_age), Status.NO_STATE
        if i.abort:
            return Cause.ABORT, "director ABORT", Status.HOLD
        if i.director_hold:
            return Cause.DIRECTOR_HOLD, "director HOLD", Status.HOLD
        if not i.link_ok:
            return Cause.LINK_LOST, "link lost", Status.HOLD
        if not i.shot_active:
            return Cause.NO_SHOT, "no shot", Status.HOLD
        if i.subjects_time_s is not None:
            heard = subjects_time(i)
            if not math.isfinite(heard):
                return Cause.SUBJECTS_LOST, "no subjects yet", Status.HOLD
            if not fresh(now - heard, self.limits.subject_timeout_s):
                words = age_words("perception", now - heard, _by_stamp(i.subjects_time_s, i.subjects_stamp_s))
                return Cause.SUBJECTS_LOST, f"subjects lost ({words})", Status.HOLD
        return None

    def _stale_reason(self, i: SafetyInputs, state_age: float) -> str:
        """Why the rig state is not fresh, in words for the log and the director."""
        if i.state is None and self._anchor is None:
            return "no rig state yet"
        if i.state is not None and not _finite_state(i.state):
            return "rig state not finite"
        if math.isfinite(state_age) and state_age >= 0.0 and not _by_stamp(i.state_time_s, i.state_stamp_s):
            return f"no rig state for {state_age:.2f} s"
        return age_words("rig state", state_age, True)

    def _jump(self, state: RigState, time_s: float) -> str | None:
        """Why a finite, fresh state is not trusted: it jumped, or the states have not settled since.

        Two states are compared only when they are at most ``state_timeout_s`` apart, either way: after a
        forward gap the state is a fresh start (the gap held as stale); a state that much *older* than the
        previous one means the clock stepped back, and a state that cannot be checked is not trusted --
        it is held like a jump until the states agree for ``state_jump_settle_s``.
        """
        previous, self._received = self._received, (state, time_s)
        if previous is None or not math.isfinite(self.limits.max_state_jump_m):
            return None
        before, before_s = previous
        elapsed_s = time_s - before_s
        if elapsed_s > self.limits.state_timeout_s:  # after a gap (stale or NaN state): a fresh start
            return None
        if elapsed_s < -self.limits.state_timeout_s:  # the clock stepped back: nothing to compare with
            self._jumped_s = time_s
            return f"rig state time stepped back {-elapsed_s:.2f} s"
        heading_to = before.position_m + before.velocity_mps * elapsed_s  # an older state: where it came from
        off_m = float(np.linalg.norm(state.position_m - heading_to))
        if off_m > self.limits.max_state_jump_m:
            self._jumped_s = time_s
            return f"rig state jumped {off_m:.1f} m"
        if self._jumped_s is not None and time_s - self._jumped_s < self.limits.state_jump_settle_s:
            return "rig state settling after a jump"
        self._jumped_s = None
        return None

    def _decide(self, i: SafetyInputs) -> Decision:
        found = self._input_hold(i)
        if found is not None:
            return self._hold(*found)
        if i.error is not None:
            return self._hold(Cause.CONTROLLER_ERROR, f"controller error: {i.error}"[:200], Status.CONTROLLER_ERROR)
        result = i.result
        plan_age = _number(i.now_s) - plan_time(i)
        if result is None:
            return self._hold(Cause.STALE_PLAN, "no plan yet")
        untrusted = stamp_fault("plan", i.result_time_s, i.result_stamp_s, self.limits.plan_stamp_skew_s)
        if untrusted is not None:
            return self._hold(Cause.STALE_PLAN, f"no fresh plan ({untrusted})")
        if not fresh(plan_age, self.limits.plan_timeout_s):
            words = age_words("plan", plan_age, _by_stamp(i.result_time_s, i.result_stamp_s))
            return self._hold(Cause.STALE_PLAN, f"no fresh plan ({words})")
        try:
            status = Status.parse(getattr(result, "status", Status.TRACKING))
        except ValueError as exc:
            return self._hold(Cause.CONTROLLER_ERROR, str(exc)[:200], Status.CONTROLLER_ERROR)
        message = str(getattr(result, "message", "") or "")
        try:
            setpoint = result.setpoint
            if not isinstance(setpoint, Setpoint):
                raise TypeError(f"controller returned {type(setpoint).__name__}, not a Setpoint")
            if setpoint.hold or status in HOLD_STATUSES:
                own = setpoint if setpoint.hold else Setpoint.hold_at(self._anchor)
                reason = f"controller {status}: {message}" if message else f"controller {status}"
                return self._hold(Cause.CONTROLLER_HOLD, reason[:200], status, own=own)
            if status is Status.FALLBACK_SHIFTED and self._latch is not None:  # planned before the hold began
                return self._hold(Cause.STALE_PLAN, f"shifted plan predates the hold: {message}"[:200], status)
            setpoint = sample_plan(getattr(result, "plan", None), plan_age, setpoint)
        except (TypeError, ValueError, KeyError, IndexError, AttributeError) as exc:
            return self._hold(Cause.NON_FINITE, f"unusable setpoint: {exc}"[:200])
        self._latch = None
        return Decision(setpoint, status, message)

    def _hold(self, cause: Cause, reason: str, status: Status = Status.HOLD, own: Setpoint | None = None) -> Decision:
        """Hold at the episode's latch; a new episode latches ``own`` or the last fresh state, above the floor."""
        if self._latch is None:
            if own is not None:
                self._latch = replace(own, hold=True)
            elif self._anchor is not None:
                self._latch = Setpoint.hold_at(self._anchor)
            if self._latch is not None:
                self._latch = hold_above_floor(self._latch, self._anchor, self.airspace, self.limits.hold_brake_s)
        return Decision(self._latch, status, reason, cause)
