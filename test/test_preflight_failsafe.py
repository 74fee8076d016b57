"""Preflight's failsafe check and the simulated autopilot's Return, over real signed MAVLink 2 on loopback UDP.

The check reads the autopilot's failsafe parameters (PARAM_REQUEST_READ / PARAM_VALUE) -- link loss, offboard
loss, RC loss, battery, where a Return goes and how high -- and judges them by config/preflight.yaml: an action
that returns or lands passes, hold warns, a disabled failsafe fails naming the parameter, its value and what to
set.  The simulated PX4 and ArduPilot answer from their own parameter tables, so changing ``autopilot.params`` is
what a PARAM_SET from a ground station does: each wrong parameter is set on a vehicle otherwise set as expected,
and its own line must appear.  Then the simulated autopilots' Return climbs to the return altitude (PX4
``RTL_RETURN_ALT`` m, ArduPilot ``RTL_ALT`` cm, capped by the ceiling) before flying to the uploaded rally point.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import yaml

from cinempc.config import load_parameters
from cinempc.mavlink.bridge import mav
from cinempc.mavlink.mission import RallyItem, RallyTransfer
from cinempc.mavlink.params import decode_param_value, encode_param_value
from cinempc.mavlink.signing import write_signing_key
from cinempc.preflight import (
    Check,
    FailsafeRules,
    Grade,
    PreflightBridge,
    PreflightSettings,
    check_failsafe,
    connect,
    judge_action,
    judge_options,
    judge_return_altitude,
    run_preflight,
)
from cinempc.site import Site, load_site
from cinempc_sim.autopilot import SimAutopilot
from cinempc_sim.simulator import Simulator

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "site_field.yaml"
RULES = PreflightSettings.load().failsafe


@pytest.fixture(scope="module")
def key(tmp_path_factory) -> tuple[Path, bytes]:
    path = tmp_path_factory.mktemp("keys") / "field.key"
    return path, write_signing_key(path)


@pytest.fixture(scope="module")
def settings() -> PreflightSettings:
    # the shipped timings (5 s per reply, the stream timed over 1 s): 2 s / 0.5 s were bars on a loaded machine
    # (a late reply from this process's autopilot threads, or a stall of its stream thread, failed preflight)
    return PreflightSettings.load()


def site_for(folder: Path, autopilot: SimAutopilot, key_path: Path, rally: bool = True) -> Site:
    """The shipped example site pointed at ``autopilot``, signed with ``key_path``; ``rally``: keep its rally point."""
    document = yaml.safe_load(EXAMPLE.read_text())
    document["mavlink"].update(url=autopilot.url, signing_key=str(key_path))
    if not rally:
        del document["failsafe"]["rally"]
    path = folder / f"field_{autopilot.flavour.value}{'' if rally else '_no_rally'}.yaml"
    path.write_text(yaml.safe_dump(document))
    return load_site(path)


@contextmanager
def field(folder: Path, flavour: str, key: tuple[Path, bytes]) -> Iterator[tuple[SimAutopilot, Site]]:
    with Simulator("single_walker", render=False) as sim, SimAutopilot(sim, flavour, signing_key=key[1]) as ap:
        yield ap, site_for(folder, ap, key[0])


@contextmanager
def linked(site: Site, settings: PreflightSettings) -> Iterator[PreflightBridge]:
    bridge, link = connect(site, settings)
    assert bridge is not None and link.passed, link.reason
    try:
        yield bridge
    finally:
        bridge.close()


@contextmanager
def changed(autopilot: SimAutopilot, **values: float) -> Iterator[None]:
    """Parameters set on the autopilot (as PARAM_SET does), put back afterwards."""
    saved = {name: autopilot.params[name] for name in values}
    autopilot.params.update(values)
    try:
        yield
    finally:
        autopilot.params.update(saved)


@pytest.fixture(scope="module")
def px4(tmp_path_factory, key):
    with field(tmp_path_factory.mktemp("px4"), "px4", key) as pair:
        yield pair


@pytest.fixture(scope="module")
def ardupilot(tmp_path_factory, key):
    with field(tmp_path_factory.mktemp("ardupilot"), "ardupilot", key) as pair:
        yield pair


# ------------------------------------------------------------------------------------- the rules, on their own


def test_the_rules_come_from_config_and_refuse_a_fix_that_does_not_pass():
    assert [a.param for a in RULES["px4"].actions] == ["NAV_DLL_ACT", "COM_OBL_RC_ACT", "NAV_RCL_ACT",
                                                       "COM_LOW_BAT_ACT"]
    assert [a.param for a in RULES["ardupilot"].actions] == ["FS_GCS_ENABLE", "FS_THR_ENABLE", "BATT_FS_LOW_ACT",
                                                             "BATT_FS_CRT_ACT"]
    px4_return = {has: [(r.param, sorted(r.passes), r.fix) for r in rules]
                  for has, rules in RULES["px4"].destinations.items()}
    assert px4_return == {True: [("RTL_TYPE", [1], 1)], False: [("RTL_TYPE", [0, 1, 3], 0)]}
    ardupilot_return = {has: [(r.param, sorted(r.passes), r.fix) for r in rules]
                        for has, rules in RULES["ardupilot"].destinations.items()}
    assert ardupilot_return == {True: [("RALLY_INCL_HOME", [0], 0)], False: [("RALLY_INCL_HOME", [0, 1], 1)]}
    document = load_parameters("preflight.yaml")["failsafe"]["px4"]
    document["actions"]["NAV_DLL_ACT"] = {**document["actions"]["NAV_DLL_ACT"], "fix": 1}  # hold only warns
    with pytest.raises(ValueError, match="NAV_DLL_ACT: fix must be one of passes"):
        FailsafeRules.from_config(document)
    document = load_parameters("preflight.yaml")["failsafe"]["px4"]
    document["destination"]["RTL_TYPE"]["with_rally"]["fix"] = 0  # the nearer of home and rally only warns
    with pytest.raises(ValueError, match="RTL_TYPE: fix must be one of passes"):
        FailsafeRules.from_config(document)


def test_a_silent_parameter_fails_the_action_and_warns_for_the_rest():
    action = RULES["px4"].actions[0]
    assert [(f.grade, f.text) for f in judge_action(action, lambda name: None)] == [
        (Grade.FAIL, "the autopilot did not answer NAV_DLL_ACT: what it does (telemetry link lost) is unknown")]
    half = {"NAV_DLL_ACT": 3.0}.get  # the action answered, its timeout not (older firmware)
    assert [f.grade for f in judge_action(action, half)] == [Grade.PASS, Grade.WARN]
    site = load_site(EXAMPLE)
    assert judge_return_altitude(RULES["px4"], {"RTL_RETURN_ALT": 0.0}.get, site).grade is Grade.PASS
    low = judge_return_altitude(RULES["ardupilot"], {"RTL_ALT": 100.0}.get, site)  # centimetres
    assert low.grade is Grade.WARN and "a return flies at 1 m, under the site's floor 1.5 m" in low.text
    assert judge_options(RULES["px4"], lambda name: None) == []  # PX4: no options bitmask to judge
    rc_loss = next(a for a in RULES["ardupilot"].actions if a.param == "FS_THR_ENABLE")
    older = {"FS_THR_ENABLE": 1.0}.get  # Copter before RC_FS_TIMEOUT: the action read, no timeout to judge
    assert [(f.grade, f.text) for f in judge_action(rc_loss, older)] == [
        (Grade.PASS, "RC link lost: FS_THR_ENABLE = 1 (RTL)"),
        (Grade.WARN, "RC_FS_TIMEOUT not reported: when FS_THR_ENABLE acts is unknown")]
    battery = next(a for a in RULES["px4"].actions if a.param == "COM_LOW_BAT_ACT")
    assert [(f.grade, f.text) for f in judge_action(battery, {"COM_LOW_BAT_ACT": 2.0}.get)] == [
        (Grade.PASS, "battery critical: COM_LOW_BAT_ACT = 2 (land)")]  # no timeout parameter: nothing else read


# ------------------------------------------------------------------------------ PX4 over MAVLink, parameter reads


@pytest.mark.parametrize("kind, value", [(mav.MAV_PARAM_TYPE_INT32, 2), (mav.MAV_PARAM_TYPE_INT32, -1),
                                         (mav.MAV_PARAM_TYPE_INT16, -300), (mav.MAV_PARAM_TYPE_UINT8, 200),
                                         (mav.MAV_PARAM_TYPE_REAL32, 0.25)])
def test_param_values_round_trip_bytewise_and_c_cast(kind, value):
    sent = encode_param_value(value, kind, bytewise=True)
    assert decode_param_value(sent, kind, bytewise=True) == pytest.approx(value)
    assert encode_param_value(value, kind, bytewise=False) == decode_param_value(value, kind, bytewise=False) == value
    if kind == mav.MAV_PARAM_TYPE_INT32 and value == 2:
        assert 0.0 < sent < 1e-40  # what a plain float read would take for 0: "disabled"


def test_px4_integers_arrive_bytewise_and_ardupilot_integers_cast(px4, ardupilot, settings):
    """The simulated PX4 packs NAV_DLL_ACT into PARAM_VALUE's float bytewise (as PX4 does); preflight decodes it."""
    for (autopilot, site), name, wire in ((px4, "NAV_DLL_ACT", lambda v: 0.0 < v < 1e-40),
                                          (ardupilot, "FS_GCS_ENABLE", lambda v: v == 5.0)):
        with linked(site, settings) as bridge:
            value = bridge.read_parameter(name, settings.timeout_s)
            raw = bridge.message("PARAM_VALUE")
        assert value == autopilot.params[name] and raw.param_id == name, (value, raw)
        assert wire(raw.param_value), raw


def test_px4_return_passes_hold_warns_and_every_value_is_read_over_the_link(px4, settings):
    autopilot, site = px4
    with linked(site, settings) as bridge:
        with changed(autopilot, COM_OBL_RC_ACT=3.0):
            good = check_failsafe(bridge, site, settings)
        default = check_failsafe(bridge, site, settings)  # the simulated PX4's default: COM_OBL_RC_ACT 5 (hold)
    assert good.passed and not good.warning, good.reason
    assert good.reason == ("telemetry link lost > 10 s (COM_DL_LOSS_T): NAV_DLL_ACT = 2 (return); offboard setpoints "
                           "lost > 0.25 s (COM_OF_LOSS_T): COM_OBL_RC_ACT = 3 (return); RC link lost > 0.5 s "
                           "(COM_RC_LOSS_T): NAV_RCL_ACT = 2 (return); battery critical: COM_LOW_BAT_ACT = 3 (return, "
                           "land at the emergency level); return destination: RTL_TYPE = 1 (a rally point or mission "
                           "landing, else home); a return flies at 15 m above home (RTL_RETURN_ALT = 15)")
    assert default.passed and default.warning and default.label == "WARN", default.reason
    assert default.reason.startswith("warning: offboard setpoints lost > 0.25 s (COM_OF_LOSS_T): COM_OBL_RC_ACT = 5 "
                                     "(hold), which neither returns nor lands (set COM_OBL_RC_ACT to 3 (return) "
                                     "for that)"), default.reason


def test_px4_disabled_data_link_failsafe_fails_with_what_to_set(px4, settings):
    autopilot, site = px4
    with linked(site, settings) as bridge:
        with changed(autopilot, NAV_DLL_ACT=0.0, COM_OBL_RC_ACT=3.0):
            disabled = check_failsafe(bridge, site, settings)
        with changed(autopilot, COM_OBL_RC_ACT=6.0, COM_DL_LOSS_T=0.0):
            terminate = check_failsafe(bridge, site, settings)
        with changed(autopilot, COM_OBL_RC_ACT=3.0, COM_DL_LOSS_T=30.0, RTL_RETURN_ALT=60.0):
            late_and_high = check_failsafe(bridge, site, settings)
    assert not disabled.passed
    assert disabled.reason == "telemetry link lost: NAV_DLL_ACT = 0 (disabled), unsafe: set NAV_DLL_ACT to 2 (return)"
    assert not terminate.passed and terminate.label == "FAIL"
    assert "offboard setpoints lost: COM_OBL_RC_ACT = 6 (terminate), unsafe: set COM_OBL_RC_ACT to 3 (return)" in \
        terminate.reason, terminate.reason
    assert "COM_DL_LOSS_T = 0: NAV_DLL_ACT never acts; set COM_DL_LOSS_T to at most 10 s" in terminate.reason
    assert late_and_high.passed and late_and_high.warning, late_and_high.reason
    assert "COM_DL_LOSS_T = 30 s: NAV_DLL_ACT waits longer than 10 s" in late_and_high.reason
    assert "RTL_RETURN_ALT = 60: a return climbs to 60 m, above the site's ceiling 30 m" in late_and_high.reason


def test_the_failsafe_check_is_in_the_report_and_a_disabled_one_fails_preflight(px4, settings):
    autopilot, site = px4
    with changed(autopilot, NAV_DLL_ACT=0.0):
        report = run_preflight(site, settings, detector=False)
    result = report.result(Check.FAILSAFE)
    assert not report.passed and not result.passed, report.text()
    assert "FAIL  autopilot's failsafes: telemetry link lost: NAV_DLL_ACT = 0 (disabled)" in report.text()
    assert report.as_dict()["checks"][[c for c in Check].index(Check.FAILSAFE)]["check"] == "failsafe"


# ------------------------------------------------------------------------- ArduPilot over MAVLink, parameter reads


def test_ardupilot_gcs_failsafe_land_passes_disabled_fails_options_warn(ardupilot, settings):
    autopilot, site = ardupilot
    with linked(site, settings) as bridge:
        good = check_failsafe(bridge, site, settings)  # the simulated ArduPilot's default: FS_GCS_ENABLE 5 (land)
        with changed(autopilot, FS_GCS_ENABLE=0.0):
            disabled = check_failsafe(bridge, site, settings)
        with changed(autopilot, FS_OPTIONS=16.0, RTL_ALT=6000.0):
            warned = check_failsafe(bridge, site, settings)
    assert good.passed and not good.warning, good.reason
    assert good.reason == ("telemetry link lost > 5 s (FS_GCS_TIMEOUT): FS_GCS_ENABLE = 5 (land); RC link lost > 1 s "
                           "(RC_FS_TIMEOUT): FS_THR_ENABLE = 1 (RTL); battery low: BATT_FS_LOW_ACT = 2 (RTL); battery "
                           "critical: BATT_FS_CRT_ACT = 1 (land); return destination: RALLY_INCL_HOME = 0 (the nearest "
                           "rally point, home only without one); a return flies at 15 m above home (RTL_ALT = 1500); "
                           "FS_OPTIONS = 0")
    assert not disabled.passed
    assert disabled.reason == "telemetry link lost: FS_GCS_ENABLE = 0 (disabled), unsafe: set FS_GCS_ENABLE to 1 (RTL)"
    assert warned.passed and warned.warning, warned.reason
    assert "FS_OPTIONS = 16 sets 16: the GCS failsafe does not fire in pilot-controlled modes such as LOITER" in \
        warned.reason
    assert "RTL_ALT = 6000: a return climbs to 60 m, above the site's ceiling 30 m" in warned.reason


# ------------------------------------------- each wrong parameter on an otherwise good vehicle: its own line alone

RC_WARN = "which neither returns nor lands"
TO_RALLY = "so a Return may go home instead of to the site's rally point"
# (parameters set, the site has a rally point, the check's label, the one line that is not fine)
PX4_ROWS = [
    ({"NAV_RCL_ACT": 1.0}, True, "WARN", f"RC link lost > 0.5 s (COM_RC_LOSS_T): NAV_RCL_ACT = 1 (hold), {RC_WARN} "
     "(set NAV_RCL_ACT to 2 (return) for that)"),
    ({"NAV_RCL_ACT": 0.0}, True, "FAIL", "RC link lost: NAV_RCL_ACT = 0 (disabled), unsafe: set NAV_RCL_ACT to 2 "
     "(return)"),
    ({"NAV_RCL_ACT": 6.0}, True, "FAIL", "RC link lost: NAV_RCL_ACT = 6 (disarm), unsafe: set NAV_RCL_ACT to 2 "
     "(return)"),
    ({"COM_RC_LOSS_T": 0.0}, True, "FAIL", "COM_RC_LOSS_T = 0: NAV_RCL_ACT never acts; set COM_RC_LOSS_T to at most "
     "5 s"),
    ({"COM_RC_LOSS_T": 20.0}, True, "WARN", "COM_RC_LOSS_T = 20 s: NAV_RCL_ACT waits longer than 5 s"),
    ({"COM_LOW_BAT_ACT": 0.0}, True, "FAIL", "battery critical: COM_LOW_BAT_ACT = 0 (warning only), unsafe: set "
     "COM_LOW_BAT_ACT to 3 (return, land at the emergency level)"),
    ({"RTL_TYPE": 0.0}, True, "WARN", f"return destination: RTL_TYPE = 0 (nearest of home and the rally points), "
     f"{TO_RALLY} (set RTL_TYPE to 1 (a rally point or mission landing, else home) for that)"),
    ({"RTL_TYPE": 2.0}, True, "WARN", f"return destination: RTL_TYPE = 2 (mission landing along the mission, rally "
     f"points ignored), {TO_RALLY} (set RTL_TYPE to 1 (a rally point or mission landing, else home) for that)"),
    ({"RTL_TYPE": 7.0}, True, "FAIL", "return destination: RTL_TYPE = 7 (unknown value), unsafe: set RTL_TYPE to 1 "
     "(a rally point or mission landing, else home)"),
    ({"RTL_TYPE": 0.0}, False, "PASS", None),  # no rally point: home is where a Return should go
    ({"RTL_TYPE": 2.0}, False, "WARN", "return destination: RTL_TYPE = 2 (mission landing along the mission, rally "
     "points ignored), so a Return follows whatever mission is left on the autopilot (set RTL_TYPE to 0 (nearest "
     "of home and the rally points) for that)"),
]
ARDUPILOT_ROWS = [
    ({"FS_THR_ENABLE": 0.0}, True, "FAIL", "RC link lost: FS_THR_ENABLE = 0 (disabled), unsafe: set FS_THR_ENABLE "
     "to 1 (RTL)"),
    ({"FS_THR_ENABLE": 2.0}, True, "WARN", f"RC link lost > 1 s (RC_FS_TIMEOUT): FS_THR_ENABLE = 2 (continue "
     f"mission (removed)), {RC_WARN} (set FS_THR_ENABLE to 1 (RTL) for that)"),
    ({"RC_FS_TIMEOUT": 0.0}, True, "FAIL", "RC_FS_TIMEOUT = 0: FS_THR_ENABLE never acts; set RC_FS_TIMEOUT to at "
     "most 5 s"),
    ({"RC_FS_TIMEOUT": 8.0}, True, "WARN", "RC_FS_TIMEOUT = 8 s: FS_THR_ENABLE waits longer than 5 s"),
    ({"BATT_FS_LOW_ACT": 0.0}, True, "WARN", "battery low: BATT_FS_LOW_ACT = 0 (none), which only warns: the "
     "critical level's BATT_FS_CRT_ACT is the last chance (set BATT_FS_LOW_ACT to 2 (RTL) for that)"),
    ({"BATT_FS_LOW_ACT": 5.0}, True, "FAIL", "battery low: BATT_FS_LOW_ACT = 5 (terminate), unsafe: set "
     "BATT_FS_LOW_ACT to 2 (RTL)"),
    ({"BATT_FS_CRT_ACT": 0.0}, True, "FAIL", "battery critical: BATT_FS_CRT_ACT = 0 (none), unsafe: set "
     "BATT_FS_CRT_ACT to 1 (land)"),
    ({"RALLY_INCL_HOME": 1.0}, True, "WARN", f"return destination: RALLY_INCL_HOME = 1 (the nearest of home and the "
     f"rally points), {TO_RALLY} (set RALLY_INCL_HOME to 0 (the nearest rally point, home only without one) for "
     "that)"),
    ({"RALLY_INCL_HOME": 1.0}, False, "PASS", None),  # no rally point: RTL goes home either way
]


def only_line(result) -> str | None:
    """The one line of a check result that is not fine (None when it passed clean)."""
    if result.label == "PASS":
        return None
    if result.label == "WARN":
        return result.reason.removeprefix("warning: ").split("; fine: ")[0]
    return result.reason


@pytest.mark.parametrize("flavour, base, rows", [("px4", {"COM_OBL_RC_ACT": 3.0}, PX4_ROWS),
                                                 ("ardupilot", {}, ARDUPILOT_ROWS)])
def test_each_wrong_failsafe_parameter_gives_its_own_line(flavour, base, rows, tmp_path, key, settings):
    """A vehicle set as expected passes clean; each wrong parameter alone gives exactly its own WARN or FAIL."""
    with field(tmp_path, flavour, key) as (autopilot, site):
        no_rally = site_for(tmp_path, autopilot, key[0], rally=False)
        wrong = []
        with linked(site, settings) as bridge, changed(autopilot, **base):
            for with_rally in (True, False):
                clean = check_failsafe(bridge, site if with_rally else no_rally, settings)
                if clean.label != "PASS":
                    wrong.append(f"set as expected ({'with' if with_rally else 'without'} rally): {clean.line()}")
            for values, with_rally, label, line in rows:
                with changed(autopilot, **values):
                    result = check_failsafe(bridge, site if with_rally else no_rally, settings)
                if (result.label, only_line(result)) != (label, line):
                    wrong.append(f"{values} ({'with' if with_rally else 'without'} rally): expected {label} {line!r}, "
                                 f"got {result.label} {only_line(result)!r}")
    assert not wrong, "\n".join(wrong)


# ------------------------------------- the simulated Return climbs to the return altitude, then to its rally point


def rally_near(home, east_m: float, north_m: float, above_home_m: float) -> RallyItem:
    """A rally point ``east_m``, ``north_m`` from HOME_POSITION, ``above_home_m`` up."""
    lat0, lon0 = home.latitude * 1e-7, home.longitude * 1e-7
    return RallyItem(lat0 + math.degrees(north_m / 6_378_137.0),
                     lon0 + math.degrees(east_m / (6_378_137.0 * math.cos(math.radians(lat0)))), above_home_m)


def fly_return(autopilot: SimAutopilot, target: np.ndarray, timeout_s: float) -> np.ndarray:
    """The rig's positions, sampled while it returns, until it is within 0.3 m of ``target`` (or time is up)."""
    track = [autopilot.sim.rig_state().position_m.copy()]
    deadline = time.monotonic() + timeout_s
    while np.linalg.norm(track[-1] - target) >= 0.3 and time.monotonic() < deadline:
        time.sleep(0.02)
        track.append(autopilot.sim.rig_state().position_m.copy())
    return np.array(track)


def assert_climbed_first(track: np.ndarray, transit_m: float) -> None:
    """Up to ``transit_m`` before any horizontal flight, never above it, and across at it."""
    start = track[0]
    across = np.linalg.norm(track[:, :2] - start[:2], axis=1)
    assert transit_m - 0.3 < track[:, 2].max() < transit_m + 0.3, track[:, 2].max()
    moved = across > 0.5
    assert moved.any(), "never left its start"
    assert track[moved.argmax(), 2] > transit_m - 0.5, (track[moved.argmax()], transit_m)  # climbed, then crossed


def test_px4_offboard_loss_with_return_climbs_to_rtl_return_alt_then_flies_to_the_rally_point(tmp_path, key, settings):
    """COM_OBL_RC_ACT 3: the setpoints stop; the autopilot climbs to RTL_RETURN_ALT, crosses, and hovers at the
    rally point; a Return with its own vertical fence (GF_MAX_VER_DIST) under RTL_RETURN_ALT climbs only to it."""
    with field(tmp_path, "px4", key) as (autopilot, site):
        autopilot.params.update(COM_OBL_RC_ACT=3.0, RTL_RETURN_ALT=5.0)
        with linked(site, settings) as bridge:
            home = bridge.request_message(mav.MAVLINK_MSG_ID_HOME_POSITION, 1, "HOME_POSITION", 5.0)
            start = autopilot.sim.rig_state().position_m.copy()
            east, north, above_home = 6.0, -4.0, float(start[2]) + 1.0
            RallyTransfer(bridge).upload([rally_near(home, east, north, above_home)])
            deadline = time.monotonic() + 10.0  # a live link and a position before handing over
            while not (bridge.link_ok and bridge.rig_state() is not None) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert bridge.operator_arm(True).accepted
            assert bridge.operator_start_offboard().accepted and autopilot.mode == "offboard"
        # the bridge is gone: its setpoints stop, as when the companion computer crashes
        target = np.array([start[0] + east, start[1] + north, above_home])
        assert wait_until(lambda: autopilot.mode == "rtl", 5.0), autopilot.mode_log[-1]
        change = autopilot.mode_log[-1]
        assert "offboard setpoints lost" in change.reason and "to the nearest rally point" in change.reason
        assert "across at 5.0 m above home, climbing first" in change.reason, change.reason
        track = fly_return(autopilot, target, 25.0)
        assert np.linalg.norm(track[-1] - target) < 0.3, track[-1]
        assert_climbed_first(track, 5.0)
        time.sleep(1.0)
        assert np.linalg.norm(autopilot.sim.rig_state().position_m - target) < 0.3  # hovers there
        assert autopilot.mode == "rtl" and autopilot.armed
        autopilot.params.update(GF_MAX_VER_DIST=4.0, RTL_RETURN_ALT=15.0)  # hovering at 3 m
        with linked(site, settings) as bridge:
            assert bridge.operator_set_mode("hold").accepted and bridge.operator_set_mode("rtl").accepted
        assert "across at 4.0 m above home, climbing first" in autopilot.mode_log[-1].reason, autopilot.mode_log[-1]


def test_ardupilot_rtl_climbs_to_rtl_alt_centimetres_capped_by_fence_and_airspace(tmp_path, key, settings):
    """RTL_ALT 400 cm: a commanded RTL from 2 m up climbs to 4 m, crosses, descends to the rally point; with
    FENCE_ALT_MAX or the airspace ceiling under RTL_ALT it climbs only to the lower of them."""
    with field(tmp_path, "ardupilot", key) as (autopilot, site):
        autopilot.params.update(RTL_ALT=400.0)
        with linked(site, settings) as bridge:
            home = bridge.request_message(mav.MAVLINK_MSG_ID_HOME_POSITION, 1, "HOME_POSITION", 5.0)
            start = autopilot.sim.rig_state().position_m.copy()
            east, north, above_home = -5.0, 3.0, float(start[2]) + 1.5
            RallyTransfer(bridge).upload([rally_near(home, east, north, above_home)])
            assert bridge.operator_arm(True).accepted
            assert bridge.operator_set_mode("rtl").accepted and autopilot.mode == "rtl"
            assert "across at 4.0 m above home, climbing first" in autopilot.mode_log[-1].reason, \
                autopilot.mode_log[-1]
            target = np.array([start[0] + east, start[1] + north, above_home])
            track = fly_return(autopilot, target, 25.0)
            assert np.linalg.norm(track[-1] - target) < 0.3, track[-1]
            assert_climbed_first(track, 4.0)
            autopilot.params.update(RTL_ALT=1500.0, FENCE_ALT_MAX=5.0)  # hovering at 3.5 m
            assert bridge.operator_set_mode("hold").accepted and bridge.operator_set_mode("rtl").accepted
            assert "across at 5.0 m above home, climbing first" in autopilot.mode_log[-1].reason, \
                autopilot.mode_log[-1]
            autopilot.airspace = autopilot.airspace.model_copy(update={"altitude_ceiling_m": 4.5})
            assert bridge.operator_set_mode("hold").accepted and bridge.operator_set_mode("rtl").accepted
            assert "across at 4.5 m above home, climbing first" in autopilot.mode_log[-1].reason, \
                autopilot.mode_log[-1]


def wait_until(condition, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False
