"""The director's shot queue, pairing token, limits and live hub, without a server."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from cinempc.director.live import CommandRejected, GroundSubject, LiveHub, SubjectBox, normalise_parse_result
from cinempc.director.queue import ShotQueue, describe_shot
from cinempc.director.security import (
    CommandRateLimiter,
    DirectorConfigError,
    DirectorSettings,
    PairingToken,
    load_director_settings,
    pairing_url,
)
from cinempc.shot import ShotSpec, preset
from cinempc.state import RigState


def shot(**fields) -> ShotSpec:
    return ShotSpec(**fields)


# ------------------------------------------------------------------------------------ queue


def test_queue_runs_a_sequence_on_the_loop_clock():
    queue = ShotQueue(default_shot_duration_s=8.0)
    queue.replace([shot(framing="close_up", duration_s=3.0), shot(framing="wide"), shot(framing="medium")], "seq")
    current, changed = queue.advance(10.0)
    assert changed and current.shot.framing == "close_up"
    assert queue.advance(12.9)[0].shot.framing == "close_up"
    current, changed = queue.advance(13.05)
    assert changed and current.shot.framing == "wide"
    # the second shot has no duration but another waits behind it: the default applies,
    # counted from where the first really ended (13.0), not from the late step
    assert current.elapsed_s(13.05) == pytest.approx(0.05)
    assert queue.advance(20.9)[0].shot.framing == "wide"
    current, _ = queue.advance(21.1)
    assert current.shot.framing == "medium"
    # the last shot is open ended
    assert queue.advance(500.0)[0].shot.framing == "medium"
    snap = queue.snapshot(500.0)
    assert snap["current"]["duration_s"] is None and snap["current"]["progress"] is None
    assert [d["shot"]["framing"] for d in snap["done"]] == ["close_up", "wide"]


def test_queue_hold_freezes_progress_and_resume_continues():
    queue = ShotQueue()
    queue.replace([shot(duration_s=10.0), shot(framing="wide")], "x")
    queue.advance(0.0)
    queue.advance(4.0)
    queue.pause(4.0)
    current, changed = queue.advance(30.0)  # held for 26 s: still the first shot, clock frozen
    assert not changed and current.elapsed_s(30.0) == pytest.approx(4.0)
    assert queue.snapshot(30.0)["current"]["progress"] == pytest.approx(0.4)
    queue.resume(30.0)
    assert queue.advance(35.0)[0].elapsed_s(35.0) == pytest.approx(9.0)
    assert queue.advance(36.5)[0].shot.framing == "wide"


def test_last_timed_shot_keeps_flying_in_overtime():
    queue = ShotQueue()
    queue.replace([shot(duration_s=2.0)], "x")
    queue.advance(0.0)
    current, changed = queue.advance(5.0)
    assert current is not None and not changed
    snap = queue.snapshot(5.0)["current"]
    assert snap["overtime"] is True and snap["progress"] == 1.0


def test_append_skip_and_clear():
    queue = ShotQueue()
    queue.replace([shot(framing="medium")], "a")
    queue.advance(0.0)
    queue.append([shot(framing="wide"), shot(framing="close_up")], "b")
    assert [e["shot"]["framing"] for e in queue.snapshot(1.0)["upcoming"]] == ["wide", "close_up"]
    # the open-ended current shot gets the default length now that shots wait behind it
    assert queue.snapshot(1.0)["current"]["duration_s"] == queue.default_shot_duration_s
    assert queue.skip().shot.framing == "medium"
    assert queue.advance(1.0)[0].shot.framing == "wide"
    assert queue.clear_upcoming() == 1
    assert queue.skip() is None  # the last shot is never skipped into nothing
    queue.clear()
    assert queue.advance(2.0) == (None, False)


def test_queue_refuses_empty_and_non_shots():
    queue = ShotQueue()
    with pytest.raises(ValueError):
        queue.replace([], "x")
    with pytest.raises(TypeError):
        queue.append([{"framing": "wide"}], "x")


def test_describe_shot_uses_set_shorthand():
    label = describe_shot(preset("mcu_left_third_shallow"))
    assert label.startswith("mcu_left_third_shallow: MCU")
    assert "left third" in label and "shallow DoF" in label and "from front right" in label
    assert "orbit cw slow" in describe_shot(preset("orbit_cw"))


# --------------------------------------------------------------------------------- security


def test_generated_tokens_are_long_and_distinct():
    tokens = {PairingToken().value for _ in range(20)}
    assert len(tokens) == 20 and all(len(t) >= 32 for t in tokens)


def test_token_check_and_headers():
    token = PairingToken("a-configured_token-1234")
    assert not token.generated
    assert token.check("a-configured_token-1234")
    assert not token.check("a-configured_token-1235")
    assert not token.check("")
    assert not token.check(None)
    assert token.from_headers({"X-Director-Token": "a-configured_token-1234"})
    assert token.from_headers({"Authorization": "Bearer a-configured_token-1234"})
    assert not token.from_headers({"Authorization": "Basic a-configured_token-1234"})
    assert not token.from_headers({"Cookie": "token=a-configured_token-1234"})


@pytest.mark.parametrize("bad", ["short", "has space in it 12345", "ünïcode-token-123456", "x" * 300])
def test_weak_or_odd_configured_tokens_are_refused(bad):
    with pytest.raises(DirectorConfigError):
        PairingToken(bad)


def test_settings_from_config_and_overrides():
    settings = load_director_settings()
    assert settings.host == "127.0.0.1"  # loopback unless told otherwise
    assert settings.loopback_only and settings.token == ""
    changed = load_director_settings(host="0.0.0.0", port=0, token="abcdefghijklmnopqrstuvwxyz")
    assert not changed.loopback_only and changed.port == 0
    with pytest.raises(DirectorConfigError, match="port"):
        DirectorSettings(port=70000)
    with pytest.raises(DirectorConfigError, match="max_message_bytes"):
        DirectorSettings(max_command_chars=5000, max_message_bytes=4096)
    with pytest.raises(DirectorConfigError, match="unknown director settings"):
        load_director_settings(colour="red")
    with pytest.raises(DirectorConfigError, match="positive"):
        DirectorSettings(command_rate_per_s=0)


def test_pairing_url_keeps_the_token_in_the_fragment():
    url = pairing_url("0.0.0.0", 8765, "tok")
    assert url == "http://127.0.0.1:8765/#token=tok" and "?" not in url


def test_rate_limiter_refills_with_time():
    now = [0.0]
    limiter = CommandRateLimiter(rate_per_s=2.0, burst=3, clock=lambda: now[0])
    assert [limiter.allow("tablet") for _ in range(4)] == [True, True, True, False]
    assert limiter.allow("other tablet")  # buckets are per client
    assert limiter.retry_after_s("tablet") == pytest.approx(0.5)
    now[0] = 0.5
    assert limiter.allow("tablet") and not limiter.allow("tablet")


# -------------------------------------------------------------------------------------- hub


def fake_parser_never_called(*args):  # noqa: D103 -- the hub must not parse HOLD or presets
    raise AssertionError("parser called")


def test_hold_is_latched_pauses_the_queue_and_reaches_listeners():
    hub = LiveHub(parser=fake_parser_never_called)
    heard = []
    hub.add_hold_listener(heard.append)
    hub.add_hold_listener(lambda holding: 1 / 0)  # a broken listener must not stop the others
    hub.start_shot(preset("follow_medium"))
    assert hub.tick(0.0).shot_changed
    hub.hold("test")
    direction = hub.tick(0.1)
    assert direction.hold and not direction.shot_changed and heard == [True]
    assert hub.snapshot()["queue"]["paused"]
    hub.hold("again")  # logged once, but listeners hear every press (re-sent to the autopilot)
    assert [h["kind"] for h in hub.snapshot()["history"]] == ["hold"] and heard == [True, True]
    hub.resume("test")
    assert not hub.tick(0.2).hold and heard == [True, True, False]


def test_abort_clears_the_queue_and_holds():
    hub = LiveHub(parser=fake_parser_never_called)
    hub.start_shot(preset("follow_medium"))
    hub.submit_preset("orbit_cw", mode="append")
    hub.tick(0.0)
    hub.abort("test")
    direction = hub.tick(0.1)
    assert direction.abort and direction.hold and direction.shot is None
    assert hub.snapshot()["queue"]["current"] is None


def test_presets_about_a_selected_subject_and_bad_input():
    hub = LiveHub(parser=fake_parser_never_called)
    answer = hub.submit_preset("orbit_ccw", subjects=["#2"])
    assert answer["shots"][0]["subjects"] == ["#2"]
    direction = hub.tick(1.0)
    assert direction.shot.movement.direction == "counterclockwise" and direction.shot.subjects == ["#2"]
    with pytest.raises(CommandRejected, match="unknown preset"):
        hub.submit_preset("no_such_shot")
    with pytest.raises(CommandRejected, match="bad subject"):
        hub.submit_preset("orbit_cw", subjects=["#x y!"])


def test_typed_commands_are_checked_before_parsing():
    calls = []
    hub = LiveHub(settings=DirectorSettings(max_command_chars=40), parser=lambda *a: calls.append(a) or {
        "command": "hold"})
    with pytest.raises(CommandRejected) as too_long:
        hub.submit_text("x" * 41)
    assert too_long.value.status == 413
    for bad in ("", "   ", "bin\x00ary", 42):
        with pytest.raises(CommandRejected):
            hub.submit_text(bad)
    assert calls == []
    assert hub.submit_text("  stop   right there ")["command"] == "hold"
    assert calls[0][0] == "stop right there" and hub.holding_requested


def test_relative_edits_get_the_shot_on_air():
    seen = []

    def parser(text, current, known):
        seen.append((current, known))
        return {"shots": [current.model_copy(update={"framing": "close_up"}).model_dump(mode="json")]}

    hub = LiveHub(parser=parser)
    hub.start_shot(preset("follow_medium"))
    hub.tick(0.0)
    hub.publish_subjects([SubjectBox(track_id=1, box_px=(1, 2, 3, 4), name="alice")])
    hub.name_subject(2, "Bride")
    hub.submit_text("tighter")
    assert seen[0][0].name == "follow_medium" and seen[0][1] == ["alice", "bride"]
    assert hub.tick(0.1).shot.framing == "close_up"


def test_parser_answers_are_validated():
    assert normalise_parse_result({"command": "resume"}) == {"command": "resume"}
    assert normalise_parse_result('{"error": {"message": "?"}}') == {"error": {"message": "?"}}
    for bad in ({"command": "selfdestruct"}, {"shots": []}, {"nothing": 1}, [1, 2]):
        with pytest.raises(TypeError):
            normalise_parse_result(bad)
    hub = LiveHub(parser=lambda *a: {"shots": [{"framing": "gigantic"}]})
    with pytest.raises(CommandRejected, match="framing") as invalid:
        hub.submit_text("make it gigantic")
    assert invalid.value.status == 500
    assert hub.tick(0.0).shot is None  # nothing half-queued


def test_subject_names_are_validated_and_unique():
    hub = LiveHub(parser=fake_parser_never_called)
    assert hub.name_subject(3, "  The-Bride ")["name"] == "the-bride"
    hub.name_subject(4, "the-bride")  # a name means one subject: it moves to #4
    assert hub.tick(0.0).subject_names == {4: "the-bride"}
    for track_id, name in ((1, ""), (1, "all"), (1, "#2"), (1, "x" * 41), (-1, "bob"), ("1", "bob"), (1, "b@d")):
        with pytest.raises(CommandRejected):
            hub.name_subject(track_id, name)


def test_frames_and_state_publishing():
    hub = LiveHub()
    rgb = np.zeros((24, 32, 3), np.uint8)
    rgb[:, 16:] = 255
    seq = hub.publish_frame(rgb, time_s=1.5)
    seq2, jpeg = hub.latest_frame()
    assert seq == seq2 == 1 and jpeg[:2] == b"\xff\xd8"
    assert hub.snapshot()["frame"]["size_px"] == [32, 24]
    hub.publish_frame(jpeg)  # JPEG bytes pass through (size read from the header)
    assert hub.snapshot()["frame"]["size_px"] == [32, 24]
    for bad in (np.zeros((24, 32), np.uint8), np.zeros((24, 32, 3), np.float32), b"not a jpeg"):
        with pytest.raises(ValueError):
            hub.publish_frame(bad)
    with pytest.raises(ValueError):
        hub.publish_subjects([SubjectBox(track_id=1, box_px=(0, 0, float("nan"), 1))])
    hub.publish_rig(RigState(position_m=[1, 2, 3], velocity_mps=[3, 4, 0], focal_length_mm=50, focus_distance_m=5,
                             f_number=4))
    snap = hub.snapshot()
    assert snap["rig"]["speed_mps"] == pytest.approx(5.0)
    assert snap["lens"]["near_m"] < 5.0 < snap["lens"]["far_m"]


def test_wait_for_change_wakes_on_publish():
    hub = LiveHub()
    seen = hub.state_seq
    threading.Timer(0.05, lambda: hub.event("link", "mavlink up")).start()
    state_seq, _ = hub.wait_for_change(seen, 0, timeout_s=5.0)
    assert state_seq != seen
    assert hub.snapshot()["events"][-1]["message"] == "mavlink up"


def test_director_names_reach_the_loop_as_track_refs():
    hub = LiveHub(parser=fake_parser_never_called)
    hub.name_subject(2, "bride")
    hub.submit_preset("rack_focus", subjects=["bride", "alice"])
    shot = hub.tick(0.0).shot
    assert shot.subjects == ["#2", "alice"]  # a name the director did not give passes unchanged
    assert hub.snapshot()["queue"]["current"]["shot"]["subjects"] == ["bride", "alice"]  # the tablet shows words


def test_pointing_someone_out_on_the_map():
    hub = LiveHub(parser=fake_parser_never_called)
    hub.tick(12.5)  # the loop's clock stamps the pin
    hub.name_subject(3, "bob")
    seq = hub.state_seq
    assert hub.point_out(" Carol ", 8.0, -3) == {"name": "carol", "position_m": [8.0, -3.0], "stamp_s": 12.5,
                                                  "pin": True}
    assert hub.state_seq > seq
    direction = hub.tick(13.0)
    assert {name: (p.x_m, p.y_m, p.stamp_s) for name, p in direction.subject_pins.items()} == {
        "carol": (8.0, -3.0, 12.5)}
    assert direction.subject_names == {3: "bob"}
    assert hub.snapshot()["map"]["pins"] == [{"name": "carol", "position_m": [8.0, -3.0], "stamp_s": 12.5}]
    assert hub.snapshot()["history"][-1]["kind"] == "pin"
    # pointed out again: the pin moves (one pin per name)
    hub.point_out("carol", 9.5, -2.0)
    assert [(p["name"], p["position_m"]) for p in hub.snapshot()["map"]["pins"]] == [("carol", [9.5, -2.0])]
    # a pin with the name of a named track: the name now means the pin
    hub.point_out("bob", 1.0, 2.0)
    direction = hub.tick(14.0)
    assert direction.subject_names == {} and set(direction.subject_pins) == {"carol", "bob"}
    # naming a track with a pin's name: the track is that person, the pin is gone
    hub.name_subject(5, "bob")
    direction = hub.tick(14.5)
    assert direction.subject_names == {5: "bob"} and set(direction.subject_pins) == {"carol"}


def test_point_out_refuses_bad_input_and_keeps_the_state():
    hub = LiveHub(parser=fake_parser_never_called)
    hub.point_out("carol", 8.0, -3.0)
    before = hub.snapshot()["map"]
    bad = [("", 1, 1), ("all", 1, 1), ("#2", 1, 1), ("x" * 41, 1, 1), ("b@d", 1, 1), (None, 1, 1), (7, 1, 1),
           ("dave", float("nan"), 1), ("dave", 1, float("inf")), ("dave", "1", 1), ("dave", True, 1),
           ("dave", None, 1), ("dave", 1e9, 1), ("dave", 10**400, 1), ("dave", [1], 1)]
    for name, x, y in bad:
        with pytest.raises(CommandRejected) as refused:
            hub.point_out(name, x, y)
        assert refused.value.status == 400 and len(str(refused.value)) < 200
    assert hub.snapshot()["map"] == before and set(hub.tick(0.0).subject_pins) == {"carol"}


def test_map_shows_every_subject_and_a_found_pin_leaves():
    hub = LiveHub(parser=fake_parser_never_called)
    hub.name_subject(2, "bride")
    hub.point_out("carol", 8.0, -3.0)
    hub.publish_subjects([SubjectBox(track_id=2, box_px=(1, 2, 3, 4))],
                         [GroundSubject(2, (4.0, 1.0)), GroundSubject(4, (-6.0, 2.5), visible=False)])
    subjects = hub.snapshot()["map"]["subjects"]
    assert [(s["track_id"], s["name"], s["position_m"], s["visible"]) for s in subjects] == [
        (2, "bride", [4.0, 1.0], True), (4, None, [-6.0, 2.5], False)]
    assert hub.snapshot()["map"]["pins"]  # nobody carries the pin's name yet
    # perception found her: a track now carries the name, so the pin is done
    hub.publish_subjects([], [GroundSubject(7, (8.3, -2.6), name="carol")])
    snap = hub.snapshot()
    assert snap["map"]["pins"] == [] and hub.tick(1.0).subject_pins == {}
    assert "carol (pointed out on the map) found as #7" in snap["events"][-1]["message"]
    with pytest.raises(ValueError):
        hub.publish_subjects([], [GroundSubject(1, (float("nan"), 0.0))])


def test_each_subject_carries_its_track_state_and_an_unknown_state_is_refused():
    hub = LiveHub(parser=fake_parser_never_called)
    hub.publish_subjects([SubjectBox(track_id=2, box_px=(1, 2, 3, 4), track_state="tracked")],
                         [GroundSubject(2, (4.0, 1.0), track_state="tracked"),
                          GroundSubject(5, (9.0, 1.0), track_state="searching"), GroundSubject(6, (0.0, 0.0))])
    snap = hub.snapshot()
    assert [s["track_state"] for s in snap["subjects"]] == ["tracked"]
    assert [(s["track_id"], s["track_state"]) for s in snap["map"]["subjects"]] == [
        (2, "tracked"), (5, "searching"), (6, "")]  # empty: no tracker (ground truth)
    with pytest.raises(ValueError, match="subject #5: unknown track state 'hunting'"):
        hub.publish_subjects([], [GroundSubject(5, (9.0, 1.0), track_state="hunting")])
    with pytest.raises(ValueError, match="subject #2: unknown track state"):
        hub.publish_subjects([SubjectBox(track_id=2, box_px=(1, 2, 3, 4), track_state="Tracked")])
    assert hub.snapshot()["map"]["subjects"] == snap["map"]["subjects"]  # refused: nothing changed


def test_a_pin_tapped_before_the_loop_clock_is_known_is_stamped_at_the_first_tick():
    """The director node's first tick comes a moment after its web app is up: a pin tapped in between
    carried 0.0, and perception would have searched for the person since the clock's epoch."""
    hub = LiveHub(parser=fake_parser_never_called)
    assert hub.point_out("carol", 8.0, -3.0)["stamp_s"] == 0.0  # no loop clock yet
    pins = hub.tick(1_795_000_000.5).subject_pins
    assert pins["carol"].stamp_s == 1_795_000_000.5
    hub.point_out("dave", 1.0, 2.0)
    assert hub.tick(1_795_000_001.0).subject_pins["dave"].stamp_s == 1_795_000_000.5  # the clock when tapped
    assert hub.tick(1_795_000_002.0).subject_pins["carol"].stamp_s == 1_795_000_000.5  # stamped once


def test_a_pin_can_be_taken_back_and_one_nobody_is_found_at_leaves_with_perceptions_timeout():
    from cinempc.perception.params import load_perception_params

    hub = LiveHub(parser=fake_parser_never_called)
    hub.tick(100.0)
    hub.point_out("carol", 8.0, -3.0)
    hub.point_out("dave", 1.0, 2.0)
    assert hub.remove_pin(" Dave ", source="ws test") == {"name": "dave", "removed": True}
    assert set(hub.tick(100.5).subject_pins) == {"carol"}
    assert hub.snapshot()["history"][-1]["text"] == "remove pin dave"
    # a name no pin carries is refused with the pins there are, and changes nothing
    with pytest.raises(CommandRejected) as refused:
        hub.remove_pin("dave")
    assert refused.value.status == 404 and "carol" in str(refused.value)
    with pytest.raises(CommandRejected):
        hub.remove_pin("all")
    assert set(hub.tick(101.0).subject_pins) == {"carol"}
    # perception gives up on a pin after point_out_timeout_s: the tablet stops showing it then too
    timeout_s = load_perception_params().point_out_timeout_s
    assert set(hub.tick(100.0 + timeout_s).subject_pins) == {"carol"}
    assert hub.tick(100.0 + timeout_s + 0.1).subject_pins == {}
    snap = hub.snapshot()
    assert snap["map"]["pins"] == [] and "carol (pointed out on the map) not found" in snap["events"][-1]["message"]


# ------------------------------------------------------------- issue 27: ignored words, point out first


def _hub_on_air() -> LiveHub:
    """A hub with the real parser, a preset on air and one tracked subject named alice by its source."""
    hub = LiveHub()
    hub.start_shot(preset("follow_medium"))
    hub.tick(0.0)
    hub.publish_subjects([SubjectBox(track_id=1, box_px=(1, 2, 3, 4), name="alice")])
    return hub


def test_words_that_set_nothing_reach_the_tablet():
    hub = _hub_on_air()
    answer = hub.submit_text("wide on alice, documentary vibe")
    assert answer["ignored"] == ["documentary", "vibe"] and answer["queued"]
    assert hub.tick(0.1).shot.framing == "wide"
    assert "ignored" not in hub.submit_text("orbit alice")  # only when some word was ignored
    assert normalise_parse_result({"shots": [{}], "ignored": ["vibe"]}) == {"shots": [{}], "ignored": ["vibe"]}
    for bad in ("vibe", [1], {"vibe": 1}):
        with pytest.raises(TypeError, match="ignored"):
            normalise_parse_result({"shots": [{}], "ignored": bad})


def test_a_subject_nobody_carries_waits_until_it_is_pointed_out_on_the_map():
    hub = _hub_on_air()
    answer = hub.submit_text("follow the bass player, documentary vibe")
    assert answer["point_out"] == ["bass player"] and answer["queued"] == []
    assert answer["ignored"] == ["documentary", "vibe"] and "'bass player'" in answer["message"]
    direction = hub.tick(0.1)
    assert direction.shot.name == "follow_medium" and not direction.shot_changed  # nothing flies yet
    snap = hub.snapshot()
    assert snap["awaiting"] == {"text": "follow the bass player, documentary vibe", "mode": "now",
                                "names": ["bass player"], "point_out": ["bass player"]}
    assert snap["history"][-1]["kind"] == "point_out"
    released = hub.point_out("Bass Player", 4.0, -2.0)
    assert released["flying"]["text"] == "follow the bass player, documentary vibe"
    direction = hub.tick(0.2)
    assert direction.shot_changed and direction.shot.subjects == ["bass player"]
    assert direction.shot.movement.type == "follow" and set(direction.subject_pins) == {"bass player"}
    assert hub.snapshot()["awaiting"] is None
    # an edit that names nobody new flies at once, even after the pin is taken back
    hub.remove_pin("bass player")
    assert "point_out" not in hub.submit_text("slower")
    assert hub.tick(0.3).shot.movement.speed == "slow"


def test_naming_a_track_releases_a_waiting_shot_and_only_names_are_checked():
    hub = _hub_on_air()
    answer = hub.submit_text("rack focus from alice to the drummer")  # a focus target is a subject too
    assert answer["point_out"] == ["drummer"]
    assert "flying" not in hub.name_subject(5, "guitarist")  # a name the shot does not need
    assert hub.snapshot()["awaiting"]["point_out"] == ["drummer"]
    assert hub.name_subject(7, "drummer")["flying"]["queued"]
    assert hub.tick(0.1).shot.focus.rack_to == "#7"
    for text in ("wide shot of everyone", "close up of #3", "orbit alice"):
        assert "point_out" not in hub.submit_text(text), text


def test_a_tracked_name_published_by_the_loop_releases_a_waiting_shot():
    hub = _hub_on_air()
    assert hub.submit_text("orbit bob")["point_out"] == ["bob"]
    hub.publish_subjects([SubjectBox(track_id=1, box_px=(1, 2, 3, 4), name="alice")],
                         ground=[GroundSubject(track_id=2, position_m=(3.0, 4.0), name="Bob")])
    assert hub.tick(0.1).shot.subjects == ["bob"] and hub.snapshot()["awaiting"] is None


def test_another_shot_or_abort_drops_a_waiting_shot():
    hub = _hub_on_air()
    hub.submit_text("follow the bass player")
    hub.submit_preset("orbit_cw")
    assert hub.snapshot()["awaiting"] is None
    hub.point_out("bass player", 1.0, 1.0)
    assert hub.tick(0.1).shot.name == "orbit_cw"  # pointing out later flies nothing
    hub.submit_text("follow the drummer")
    hub.submit_text("hold")  # HOLD keeps it waiting
    assert hub.snapshot()["awaiting"]["point_out"] == ["drummer"]
    hub.abort()
    assert hub.snapshot()["awaiting"] is None


def test_the_director_cancels_a_waiting_shot_and_the_shot_on_air_flies_on():
    hub = _hub_on_air()
    with pytest.raises(CommandRejected, match="no shot is waiting") as nothing:
        hub.cancel_awaiting()
    assert nothing.value.status == 409
    hub.submit_text("follow the bass player, documentary vibe")
    before = hub.snapshot()["queue"]
    assert hub.cancel_awaiting("tablet 1") == {"cancelled": {"text": "follow the bass player, documentary vibe",
                                                             "names": ["bass player"]}}
    snap = hub.snapshot()
    assert snap["awaiting"] is None and snap["queue"] == before  # the shot on air and the queue are untouched
    assert snap["history"][-1]["kind"] == "cancel" and "bass player" in snap["history"][-1]["result"]
    assert "cancelled by tablet 1" in snap["events"][-1]["message"]
    hub.point_out("bass player", 1.0, 1.0)  # pointing out later flies nothing
    direction = hub.tick(0.1)
    assert direction.shot.name == "follow_medium" and not direction.shot_changed
    with pytest.raises(CommandRejected, match="no shot is waiting"):  # a second tablet's cancel: told, not an error
        hub.cancel_awaiting("tablet 2")


# ------------------------------------------------------------------------ replay protection


def test_replay_guard_takes_each_counter_of_a_session_once_in_any_order_within_its_window():
    from cinempc.director.security import ReplayGuard, ReplayRefused

    guard = ReplayGuard(window=8, max_sessions=2)
    session = guard.open()
    for counter in (1, 2, 5, 3, 4):  # overtaking each other on parallel connections: each once
        guard.take(session, counter)
    for counter, reason in ((3, "counter_used"), (5, "counter_used"), (1, "counter_used")):
        with pytest.raises(ReplayRefused) as refused:
            guard.take(session, counter)
        assert refused.value.reason == reason and refused.value.status == 409 and f"counter {counter}" in str(
            refused.value)
    guard.take(session, 20)  # a jump forward: counters 13 .. 19 are still inside the window, once each
    guard.take(session, 13)
    for counter in (12, 6, 13):
        with pytest.raises(ReplayRefused, match="replay"):
            guard.take(session, counter)
    with pytest.raises(ReplayRefused) as refused:
        guard.take("never-issued", 1)
    assert refused.value.reason == "unknown_session"
    # beyond max_sessions the least recently used is forgotten: its requests are refused, never taken again
    guard.open()
    guard.take(session, 21)
    guard.open()
    assert len(guard) == 2
    guard.take(session, 22)
    with pytest.raises(ValueError, match="window"):
        ReplayGuard(window=0, max_sessions=1)


def test_a_refused_counter_changes_nothing():
    from cinempc.director.security import ReplayGuard, ReplayRefused

    guard = ReplayGuard(window=4, max_sessions=4)
    session = guard.open()
    guard.take(session, 10)
    for counter in (10, 6, 2):
        with pytest.raises(ReplayRefused):
            guard.take(session, counter)
    guard.take(session, 9)  # still free after the refusals
    guard.take(session, 7)


def test_signatures_bind_the_token_method_target_session_counter_and_body():
    from cinempc.director.security import (
        COUNTER_HEADER,
        SIGNATURE_HEADER,
        RequestSigner,
        SignedProof,
        canonical_request,
        parse_counter,
        sign_request,
    )

    token = PairingToken("a-configured_token-1234")
    signer = RequestSigner(token.value, session="s1")
    headers = signer.headers("POST", "/api/resume", b"{}")
    assert headers[COUNTER_HEADER] == "1" and signer.headers("GET", "/api/state")[COUNTER_HEADER] == "2"
    proof = SignedProof.from_headers(headers)
    assert proof.valid(token, "POST", "/api/resume", b"{}")
    assert not proof.valid(token, "POST", "/api/resume", b'{"x": 1}')  # another body
    assert not proof.valid(token, "POST", "/api/abort", b"{}")  # another route
    assert not proof.valid(PairingToken("another-token-0123456789"), "POST", "/api/resume", b"{}")
    raised = SignedProof(proof.session, "2", proof.signature)  # the counter raised, the signature kept
    assert not raised.valid(token, "POST", "/api/resume", b"{}")
    assert SignedProof.from_headers({}) is None
    with pytest.raises(ValueError, match="incomplete signature"):
        SignedProof.from_headers({SIGNATURE_HEADER: headers[SIGNATURE_HEADER]})
    assert canonical_request("post", "/a?b=1", "s", "3", b"").split(b"\n")[:5] == [
        b"cinempc-director-v1", b"POST", b"/a?b=1", b"s", b"3"]
    # a fixed vector (the tablet page's JavaScript, static/index.html, gives the same: checked with node)
    assert sign_request("k" * 20, "GET", "/ws", "", "1") == \
        "eea8bd19c4584008ff9f2da22ba2b8e187c249c7e42a8a518770a19effac088e"
    assert parse_counter("1") == 1 and parse_counter(str(2**53 - 1)) == 2**53 - 1
    for bad in ("0", "01", "-1", "1.0", "abc", str(2**53), ""):
        with pytest.raises(ValueError, match="X-Director-Counter"):
            parse_counter(bad)


def test_replay_settings_are_validated():
    assert DirectorSettings().replay_window == load_director_settings().replay_window == 64
    for bad in ({"replay_window": 0}, {"max_sessions": -1}, {"replay_window": 1.5}, {"max_sessions": True}):
        with pytest.raises(DirectorConfigError):
            DirectorSettings(**bad)
