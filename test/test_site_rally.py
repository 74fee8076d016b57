"""The site file's rally point: validated, resolved like the fence, shown by ``site check``, flown by the safety core.

The behaviour (docs/first_flight.md, "Rally point"): a hold cinempc started by itself -- its own chain failed
(perception silent, controller raising, no fresh plan, a failed solve held) with the position still trusted --
that lasts ``after_s`` flies to the rally point (vertical to its altitude, then straight across inside the MPC
box) and holds there until the operator; director HOLD/ABORT, no shot and an untrusted position never escalate;
HOLD during the flight stops it where it is; RESUME after that hands the rig back to the controller.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from cinempc.config import load_vehicle_config
from cinempc.geofence import RallyPoint
from cinempc.safety import Cause, SafetyCore, SafetyInputs, SafetyLimits, SetpointResult, Status
from cinempc.site import Home, load_site, resolve_site, site_node_parameters
from cinempc.state import RigState, Setpoint

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "site_field.yaml"
HOME = Home(47.397742, 8.545594, 488.0)
VEHICLE = load_vehicle_config()
DT = 0.05


def _site_file(tmp_path: Path, **rally) -> Path:
    document = yaml.safe_load(EXAMPLE.read_text())
    if rally.pop("drop", False):
        document["failsafe"].pop("rally")
    else:
        document["failsafe"]["rally"].update(rally)
    path = tmp_path / "field.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


# ------------------------------------------------------------------------------------------ the site file


def test_the_example_rally_point_resolves_inside_the_box_and_band():
    import pymap3d

    resolved = resolve_site(load_site(EXAMPLE), HOME)
    rally = resolved.rally
    site_rally = resolved.site.failsafe.rally
    east, north, _ = pymap3d.geodetic2enu(site_rally.position.lat_deg, site_rally.position.lon_deg, HOME.alt_m,
                                          HOME.lat_deg, HOME.lon_deg, HOME.alt_m)
    assert rally.position_m == pytest.approx((east, north, site_rally.altitude_m), abs=0.01)
    (x0, y0), (x1, y1) = resolved.box.min_m, resolved.box.max_m
    assert x0 <= rally.position_m[0] <= x1 and y0 <= rally.position_m[1] <= y1
    assert resolved.fence.contains(rally.position_m)
    assert rally.after_s == site_rally.after_s and rally.speed_mps == site_rally.speed_mps
    assert rally.vertical_speed_mps == min(site_rally.speed_mps, VEHICLE.vehicle.max_vertical_speed_mps)
    assert rally.accel_mps2 == VEHICLE.vehicle.max_accel_mps2


def test_the_rally_point_moves_with_homes_local_position():
    """Like the fence: relative to home's own place in the autopilot's local frame (PX4's EKF origin)."""
    site = load_site(EXAMPLE)
    here = resolve_site(site, HOME).rally.position_m
    shifted = resolve_site(site, Home(HOME.lat_deg, HOME.lon_deg, HOME.alt_m, (3.0, -2.0, 0.5))).rally.position_m
    assert np.subtract(shifted, here) == pytest.approx((3.0, -2.0, 0.5), abs=1e-6)


@pytest.mark.parametrize(("change", "message"), [
    ({"position": [47.3990, 8.5456]}, r"failsafe.rally.position \(47.399000, 8.545600\) is outside the geofence "
                                      "polygon"),
    ({"position": [47.39800, 8.54560]}, "inside the polygon but outside the MPC box"),  # north of the box
    ({"altitude_m": 45.0}, r"failsafe.rally.altitude_m 45 m is outside the geofence's altitude band 1.5-30 m"),
    ({"altitude_m": 1.0}, "outside the geofence's altitude band"),
    ({"speed_mps": 12.0}, "failsafe.rally.speed_mps 12 exceeds the vehicle's max_speed_mps"),
    ({"speed_mps": 0.0}, "failsafe.rally.speed_mps: Input should be greater than 0"),
    ({"after_s": -3.0}, "failsafe.rally.after_s: Input should be greater than 0"),
    ({"position": [47.3975]}, r"failsafe.rally.position: a vertex is \[lat, lon\]"),
    ({"position": [95.0, 8.5]}, "failsafe.rally.position.lat_deg"),
    ({"return_home": True}, "failsafe.rally.return_home: Extra inputs are not permitted"),
])
def test_a_bad_rally_point_names_the_file_and_the_field(tmp_path, change, message):
    path = _site_file(tmp_path, **change)
    with pytest.raises(ValueError, match=message) as error:
        load_site(path)
    assert str(path) in str(error.value)


def test_a_rally_point_needs_every_field(tmp_path):
    document = yaml.safe_load(EXAMPLE.read_text())
    del document["failsafe"]["rally"]["after_s"]
    path = tmp_path / "field.yaml"
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(ValueError, match="failsafe.rally.after_s: Field required"):
        load_site(path)


def test_site_check_prints_and_draws_the_rally_point(tmp_path, capsys):
    from cinempc.cli import main

    path = _site_file(tmp_path)
    main(["site", "check", str(path), "--plot", str(tmp_path / "fence.png")])
    printed = yaml.safe_load(capsys.readouterr().out.split("wrote ")[0])
    rally = printed["rally"]
    assert rally["lat_deg"] == 47.397517 and rally["altitude_above_home_m"] == 10.0 and rally["after_s"] == 30.0
    assert rally["local_enu_m"] == pytest.approx([-29.97, -25.02, 10.0], abs=0.05)
    assert "holds" in rally["behaviour"] and "director HOLD/ABORT always hold" in rally["behaviour"]
    assert (tmp_path / "fence.png").stat().st_size > 10_000
    main(["site", "check", str(_site_file(tmp_path, drop=True)), "--plot", str(tmp_path / "none.png")])
    assert yaml.safe_load(capsys.readouterr().out.split("wrote ")[0])["rally"].startswith("none: every hold stays")


def test_the_site_gives_the_mpc_and_bridge_nodes_their_rally_point_as_cinempc_up_writes_it():
    """site_node_parameters -> JSON (cinempc up's --param form) -> YAML -> SafetyLimits.from_parameters: the same,
    for the MPC node and for the bridge node (its limits as the node builds them: bridge_limits)."""
    from cinempc.nodes.mavlink_bridge_node import bridge_limits

    resolved = resolve_site(load_site(EXAMPLE), HOME)
    per_node = site_node_parameters(resolved)
    assert set(per_node) == {"mpc_node", "mavlink_bridge_node"}
    values = per_node["mpc_node"]
    assert per_node["mavlink_bridge_node"] == values
    node_section = {name.removeprefix("node."): yaml.safe_load(json.dumps(value)) for name, value in values.items()}
    base = {"state_timeout_s": 0.5, "subject_timeout_s": 1.0, "max_plan_age_s": 0.5}
    limits = SafetyLimits.from_parameters({**base, **node_section})
    assert limits.rally == resolved.rally
    bridge = bridge_limits({"setpoint_timeout_s": 0.7, **node_section})
    assert bridge.rally == resolved.rally and bridge.plan_timeout_s == 0.7
    assert bridge.state_timeout_s == SafetyLimits.from_config().state_timeout_s  # the MPC node's, one place
    assert bridge_limits({"setpoint_timeout_s": 0.5}).rally is None  # no site rally point: the bridge only holds
    assert SafetyLimits.from_parameters({**base, "rally_enu_m": []}).rally is None
    assert SafetyLimits.from_parameters(base).rally is None
    with pytest.raises(ValueError, match="node.rally_after_s is missing"):
        SafetyLimits.from_parameters({**base, "rally_enu_m": [1.0, 2.0, 3.0]})
    without = resolve_site(load_site(EXAMPLE), HOME)
    assert site_node_parameters(type(without)(**{**without.__dict__, "rally": None})) == {}


# ------------------------------------------------------------------------------------------ the path


RALLY = RallyPoint((20.0, -15.0, 10.0), after_s=3.0, speed_mps=2.0, vertical_speed_mps=1.5, accel_mps2=2.0)


def test_the_path_is_vertical_then_straight_and_within_its_speeds():
    path = RALLY.path_from((0.0, 0.0, 4.0))
    times = np.arange(0.0, path.duration_s + 1.0, 0.01)
    samples = [path.sample(t) for t in times]
    positions = np.array([p for p, *_ in samples])
    speeds = np.array([np.linalg.norm(v) for _, v, *_ in samples])
    accels = np.array([np.linalg.norm(a) for _, _, a, _ in samples])
    (_, _, up_s), _ = path.legs
    vertical = times < up_s
    assert np.allclose(positions[vertical][:, :2], 0.0)  # straight up first
    assert np.allclose(positions[~vertical][:, 2], 10.0)  # then across at the rally altitude
    assert speeds[vertical].max() <= 1.5 + 1e-9 and speeds.max() <= 2.0 + 1e-9
    assert accels.max() <= 2.0 + 1e-9
    assert np.max(np.linalg.norm(np.diff(positions, axis=0), axis=1)) < 0.03  # continuous
    assert samples[-1][3] and positions[-1] == pytest.approx(RALLY.position_m)
    assert path.sample(-1.0)[0] == pytest.approx((0.0, 0.0, 4.0))
    assert RALLY.path_from(RALLY.position_m).duration_s == 0.0


@pytest.fixture(scope="module")
def example():
    return resolve_site(load_site(EXAMPLE), HOME)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.floats(-50, 49), st.floats(-50, 19), st.floats(1.5, 30), st.floats(-50, 49), st.floats(-50, 19),
       st.floats(1.5, 30))
def test_the_flight_from_anywhere_in_the_box_stays_in_the_box(example, x, y, z, rx, ry, rz):
    resolved = example
    rally = RallyPoint((rx, ry, rz), 1.0, 3.0, 2.0, 3.0)
    path = rally.path_from((x, y, z))
    airspace = resolved.vehicle.airspace
    for t in np.linspace(0.0, path.duration_s, 50):
        position = path.sample(t)[0]
        assert airspace.contains(position)
        assert resolved.fence.contains(position)


@pytest.mark.parametrize(("field", "value"), [("after_s", 0.0), ("speed_mps", -1.0), ("accel_mps2", math.nan)])
def test_a_rally_point_refuses_bad_numbers(field, value):
    numbers = {"after_s": 1.0, "speed_mps": 1.0, "vertical_speed_mps": 1.0, "accel_mps2": 1.0, field: value}
    with pytest.raises(ValueError, match=f"rally {field} must be a positive number"):
        RallyPoint((0.0, 0.0, 5.0), **numbers)
    with pytest.raises(ValueError, match="three finite ENU metres"):
        RallyPoint((0.0, math.inf, 5.0), 1.0, 1.0, 1.0, 1.0)


# ------------------------------------------------------------------------------------------ the safety core


def rig(position) -> RigState:
    return RigState(position_m=position, yaw_rad=0.4, pitch_rad=-0.2, focal_length_mm=40.0, focus_distance_m=7.0,
                    f_number=4.0)


def good(state: RigState) -> SetpointResult:
    return SetpointResult(Setpoint(position_m=state.position_m, velocity_mps=np.zeros(3),
                                   acceleration_mps2=np.zeros(3), yaw_rad=0.5, yaw_rate_rad_s=0.0, pitch_rad=-0.3,
                                   focal_length_mm=50.0, focus_distance_m=8.0, f_number=2.8), Status.OPTIMAL)


class Flight:
    """A rig that goes exactly where each setpoint says (perfect tracking), stepped through one safety core."""

    def __init__(self, rally: RallyPoint | None = RALLY, start=(0.0, 0.0, 4.0)) -> None:
        limits = SafetyLimits(state_timeout_s=0.5, subject_timeout_s=1.0, plan_timeout_s=0.5, rally=rally)
        self.core = SafetyCore(VEHICLE.airspace, limits)
        self.state = rig(start)
        self.t = 0.0
        self.log: list = []

    def step(self, controller: str = "good", **kwargs) -> object:
        """One tick: the controller is "good", "raises", "no_subject" or "fallback_hold"."""
        result, error = None, None
        if controller == "good":
            result = good(self.state)
        elif controller == "raises":
            error = "RuntimeError('solver crashed')"
        else:
            hold = Setpoint.hold_at(self.state)
            result = SetpointResult(hold, Status(controller))
        fields = dict(now_s=self.t, state=self.state, state_time_s=self.t, subjects_time_s=self.t, result=result,
                      result_time_s=self.t, error=error)
        fields.update(kwargs)
        decision = self.core.step(SafetyInputs(**fields))
        self.log.append((self.t, decision))
        if decision.setpoint is not None:
            self.state = rig(decision.setpoint.position_m)
        self.t = round(self.t + DT, 6)
        return decision

    def run(self, seconds: float, controller: str = "good", **kwargs) -> list:
        return [self.step(controller, **kwargs) for _ in range(int(round(seconds / DT)))]


def test_a_failing_controller_holds_then_flies_to_the_rally_point_and_holds_there():
    flight = Flight()
    flight.run(1.0)
    before = flight.run(RALLY.after_s, "raises")
    assert all(d.cause is Cause.CONTROLLER_ERROR and d.setpoint.hold for d in before)
    latch = before[0].setpoint.position_m
    assert all(np.allclose(d.setpoint.position_m, latch) for d in before)  # held where it began for after_s
    flying = flight.run(40.0, "raises")
    assert flying[0].cause is Cause.RALLY and not flying[0].setpoint.hold
    assert "flying to the rally point (controller error" in flying[0].reason
    positions = np.array([d.setpoint.position_m for d in flying])
    assert np.max(np.linalg.norm(np.diff(positions, axis=0), axis=1)) <= RALLY.speed_mps * DT + 1e-9
    assert all(VEHICLE.airspace.contains(p) for p in positions)
    last = flying[-1]
    assert last.cause is Cause.RALLY and last.setpoint.hold and last.status is Status.HOLD
    assert last.setpoint.position_m == pytest.approx(RALLY.position_m)
    assert last.setpoint.pitch_rad == -0.2 and last.setpoint.focal_length_mm == 40.0  # camera and lens as latched
    assert "holding at the rally point" in last.reason


@pytest.mark.parametrize("why", ["director_hold", "abort", "no_shot", "stale_state"])
def test_the_operators_hold_no_shot_and_an_untrusted_position_never_escalate(why):
    flight = Flight()
    flight.run(1.0)
    kwargs = {"director_hold": {"director_hold": True}, "abort": {"abort": True},
              "no_shot": {"shot_active": False}, "stale_state": {}}[why]
    if why == "stale_state":
        flight.step()
        decisions = [flight.step(state_time_s=0.0) for _ in range(int(10 * RALLY.after_s / DT))]
    else:
        decisions = flight.run(10 * RALLY.after_s, **kwargs)
    assert all(d.cause is not Cause.RALLY for d in decisions)
    assert np.allclose([d.setpoint.position_m for d in decisions], decisions[0].setpoint.position_m)


def test_lost_subjects_and_held_failed_solves_escalate_a_controllers_wait_does_not():
    for controller, kwargs, escalates in (("good", {"subjects_time_s": -math.inf}, True),
                                          ("fallback_hold", {}, True), ("no_subject", {}, False)):
        flight = Flight()
        flight.run(1.0)
        decisions = flight.run(RALLY.after_s + 1.0, controller, **kwargs)
        assert (decisions[-1].cause is Cause.RALLY) is escalates, controller


def test_the_bridge_node_flies_to_the_rally_point_when_the_mpc_setpoints_stop_not_while_the_mpc_holds():
    """The bridge node's core as the node builds it (bridge_limits from the site's node.rally_*) with the node's
    inputs (the MPC's setpoints as received, no subjects watched): the MPC node's own hold setpoints never
    escalate there -- the MPC node's core decides those; setpoints that stop (the MPC node died) are its own
    chain failing, and escalate after after_s by the same rule; HOLD stops it, RESUME hands back to the MPC."""
    from cinempc.nodes.mavlink_bridge_node import bridge_limits

    node = {"setpoint_timeout_s": 0.5, "rally_enu_m": list(RALLY.position_m), "rally_after_s": RALLY.after_s,
            "rally_speed_mps": RALLY.speed_mps, "rally_vertical_speed_mps": RALLY.vertical_speed_mps,
            "rally_accel_mps2": RALLY.accel_mps2}
    core = SafetyCore(VEHICLE.airspace, bridge_limits(node))
    rig_now, clock = [rig((0.0, 0.0, 4.0))], [0.0]
    received: list = [None, -math.inf]  # the last setpoint from the MPC node, when it arrived

    def tick(mpc: str | None, **kwargs) -> object:
        """One bridge tick; ``mpc``: what the MPC node sends ("flying", "holding") or None (nothing: it died)."""
        now = clock[0]
        if mpc is not None:
            sent = good(rig_now[0]).setpoint if mpc == "flying" else Setpoint.hold_at(rig_now[0])
            received[:] = [sent, now]
        decision = core.step(SafetyInputs(
            now_s=now, state=rig_now[0], state_time_s=now,
            result=SetpointResult.of(received[0]) if received[0] is not None else None,
            result_time_s=received[1], **kwargs))
        rig_now[0] = rig(decision.setpoint.position_m)
        clock[0] = round(now + DT, 6)
        return decision

    def run(seconds: float, mpc: str | None, **kwargs) -> list:
        return [tick(mpc, **kwargs) for _ in range(int(round(seconds / DT)))]

    assert all(not d.holding for d in run(1.0, "flying"))
    held = run(10 * RALLY.after_s, "holding")  # the MPC node holds (and would rally) by itself: followed as sent
    assert all(d.cause is Cause.CONTROLLER_HOLD for d in held)
    died = run(0.5 + RALLY.after_s + 0.2, None)
    assert died[12].cause is Cause.STALE_PLAN and died[12].setpoint.hold
    assert died[-1].cause is Cause.RALLY and not died[-1].setpoint.hold
    assert "flying to the rally point (no fresh plan" in died[-1].reason
    # a restarted MPC node does not take over by itself: the rally goes on until the operator's HOLD
    assert all(d.cause is Cause.RALLY for d in run(1.0, "flying"))
    arrived = run(40.0, None)[-1]
    assert arrived.cause is Cause.RALLY and arrived.setpoint.hold
    assert arrived.setpoint.position_m == pytest.approx(RALLY.position_m)
    stopped = run(1.0, None, director_hold=True)
    assert all(d.cause is Cause.DIRECTOR_HOLD for d in stopped) and not core.rallying
    resumed = run(1.0, "flying")
    assert resumed[-1].cause is None and resumed[-1].status is Status.TRACKING


def test_hold_during_the_flight_stops_it_where_it_is_and_resume_hands_back():
    flight = Flight()
    flight.run(1.0)
    flight.run(RALLY.after_s + 4.0, "raises")
    assert flight.core.rallying
    moving = flight.log[-1][1].setpoint.position_m
    held = flight.run(5.0, "raises", director_hold=True)
    assert all(d.cause is Cause.DIRECTOR_HOLD and d.setpoint.hold for d in held)
    assert np.allclose([d.setpoint.position_m for d in held], held[0].setpoint.position_m)
    assert np.linalg.norm(held[0].setpoint.position_m - moving) <= RALLY.speed_mps * DT + 1e-9  # where it was
    assert not flight.core.rallying
    # RESUME with the controller still failing: a new hold there, and after after_s the flight again
    again = flight.run(RALLY.after_s + 0.5, "raises")
    assert again[0].cause is Cause.CONTROLLER_ERROR and again[-1].cause is Cause.RALLY
    # HOLD, then RESUME with the controller good again: the controller flies
    flight.run(1.0, "raises", director_hold=True)
    back = flight.run(1.0)
    assert back[0].cause is None and back[0].status is Status.OPTIMAL


def test_the_rally_is_not_left_by_itself_when_the_chain_recovers():
    flight = Flight()
    flight.run(1.0)
    flight.run(RALLY.after_s + 1.0, "raises")
    recovered = flight.run(40.0)  # the controller answers again: the rally goes on, and holds there
    assert all(d.cause is Cause.RALLY for d in recovered)
    assert recovered[-1].setpoint.hold and recovered[-1].setpoint.position_m == pytest.approx(RALLY.position_m)
    assert flight.core.blocking(SafetyInputs(now_s=flight.t, state=flight.state, state_time_s=flight.t)) is Cause.RALLY
    flight.run(0.5, director_hold=True)  # the operator: HOLD, then RESUME
    assert flight.run(0.5)[-1].status is Status.OPTIMAL


def test_a_recovery_restarts_the_count_and_without_a_rally_point_a_hold_stays():
    flight = Flight()
    flight.run(1.0)
    for _ in range(3):  # fails for most of after_s, recovers for one tick: never escalates
        flight.run(RALLY.after_s - 0.5, "raises")
        flight.run(DT)
    assert all(d.cause is not Cause.RALLY for _, d in flight.log)
    plain = Flight(rally=None)
    plain.run(1.0)
    decisions = plain.run(10 * RALLY.after_s, "raises")
    assert all(d.cause is Cause.CONTROLLER_ERROR for d in decisions)
    assert np.allclose([d.setpoint.position_m for d in decisions], decisions[0].setpoint.position_m)


def test_a_rally_started_outside_the_box_starts_from_the_box():
    """A rig blown out of the box: the flight starts from the nearest point of the box, as the fence holds it."""
    x_max = VEHICLE.airspace.geofence_max_m[0]
    flight = Flight(start=(x_max + 3.0, 0.0, 4.0))
    flight.run(RALLY.after_s + 0.5, "raises")
    decisions = flight.run(1.0, "raises")
    assert all(d.cause is Cause.RALLY for d in decisions)
    assert all(VEHICLE.airspace.contains(d.setpoint.position_m) for d in decisions)


# ------------------------------------------------------------------------------------------ in the simulator


class _BrokenController:
    """A controller whose every solve raises (a crashed solver): the rig holds, then the rally escalates."""

    horizon_steps = 30
    dt_s = 0.1

    def reset(self) -> None:
        pass

    def solve(self, *args, **kwargs):
        raise RuntimeError("solver crashed")


def test_the_simulated_vehicle_flies_to_the_rally_point_and_holds_there():
    """The real closed loop (PyBullet vehicle dynamics): hold, fly there inside the fence, hold at the point."""
    from dataclasses import replace

    from cinempc_sim.closed_loop import ClosedLoop, LoopSettings, prepare_run

    setup = prepare_run("single_walker", None, None, render=False, render_rate_hz=0.0)
    try:
        start = setup.sim.rig_state().position_m
        rally = RallyPoint((float(start[0]) + 8.0, float(start[1]) - 6.0, float(start[2]) + 2.0), after_s=1.5,
                           speed_mps=2.0, vertical_speed_mps=1.5, accel_mps2=VEHICLE.vehicle.max_accel_mps2)
        loop = ClosedLoop(setup.sim, _BrokenController(), setup.shot, setup.camera, setup.vehicle, render=False,
                          settings=LoopSettings(control_rate_hz=setup.settings.control_rate_hz, render_rate_hz=0.0))
        loop.safety = SafetyCore(setup.vehicle.airspace, replace(SafetyLimits.from_config(), rally=rally))
        events = loop.run(16.0).events
    finally:
        setup.sim.close()
    began = next(e for e in events if "rally point" in e.hold_reason)
    assert 1.4 <= began.time_s - events[0].time_s <= 1.7  # after_s of holding first
    held = [e for e in events if e.time_s < began.time_s]
    assert max(np.linalg.norm(e.state.position_m - held[0].setpoint.position_m) for e in held) < 0.5
    assert all(setup.vehicle.airspace.contains(e.state.position_m) for e in events)
    assert max(np.linalg.norm(e.state.velocity_mps[:2]) for e in events) < rally.speed_mps + 0.5
    end = [e for e in events if e.time_s >= events[-1].time_s - 2.0]
    assert all("holding at the rally point" in e.hold_reason and e.setpoint.hold for e in end)
    assert max(np.linalg.norm(e.state.position_m - np.asarray(rally.position_m)) for e in end) < 0.3
