"""Issue 30's newcomer frictions, through the real ``cinempc`` command line.

A parse answer is a shot file (one shot; several name ``.shots[N]``; its unknown-subject warning kept), ``cinempc
sim`` refuses a subject the scene has no actor for, ``cinempc optics`` checks the
lens against the camera profile and speaks the units it was given, ``--list-cameras``,
``--no-video`` does not claim a video, and the docs count the scenarios there are.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from cinempc.cli import main as cli_main
from cinempc.config import camera_profiles

REPO = Path(__file__).resolve().parents[1]


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of one ``cinempc`` call in this process."""
    code = cli_main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def parse_to_file(capsys, tmp_path: Path, text: str, name: str) -> Path:
    """What `cinempc parse TEXT --json > NAME` writes."""
    code, out, _ = run_cli(capsys, "parse", text, "--json")
    assert code == 0, out
    path = tmp_path / name
    path.write_text(out, encoding="utf-8")
    return path


def test_shot_validate_takes_a_parse_answer_with_one_shot(capsys, tmp_path):
    answer = parse_to_file(capsys, tmp_path, "wide shot of everyone from behind, documentary vibe", "one.json")
    assert json.loads(answer.read_text())["ignored"] == ["documentary", "vibe"]  # the answer as parse prints it
    code, out, err = run_cli(capsys, "shot", "validate", str(answer))
    assert code == 0, err
    assert '"framing":"wide"' in out and '"side":"back"' in out


def test_several_shots_or_no_shot_are_refused_naming_what_to_take(capsys, tmp_path):
    several = parse_to_file(capsys, tmp_path, "wide shot, then orbit clockwise", "two.json")
    code, _, err = run_cli(capsys, "shot", "validate", str(several))
    assert code == 2 and "2 shots" in err and ".shots[0]" in err and ".shots[1]" in err
    assert "Extra inputs" not in err
    hold = parse_to_file(capsys, tmp_path, "hold", "hold.json")
    code, _, err = run_cli(capsys, "shot", "validate", str(hold))
    assert code == 2 and "control command" in err
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"shots": [{"framing": "gigantic"}]}))
    code, _, err = run_cli(capsys, "shot", "validate", str(bad))
    assert code == 2 and ".shots[0].framing" in err and "allowed:" in err
    # a plain ShotSpec file and a preset still work; a ShotSpec with stray keys still names them
    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps({"framing": "close_up"}))
    assert run_cli(capsys, "shot", "validate", str(plain))[0] == 0
    assert run_cli(capsys, "shot", "validate", "orbit_cw")[0] == 0
    stray = tmp_path / "stray.json"
    stray.write_text(json.dumps({"shots": [], "framing": "wide"}))
    code, _, err = run_cli(capsys, "shot", "validate", str(stray))
    assert code == 2 and "shots" in err


def test_sim_flies_a_parse_answer_and_no_video_claims_no_video(capsys, tmp_path):
    answer = parse_to_file(capsys, tmp_path, "wide shot of everyone from behind", "shot.json")
    out = tmp_path / "run"
    out.mkdir()
    stale = out / "camera.mp4"  # a video from an earlier run in the same folder is not this run's
    stale.write_bytes(b"old")
    os.utime(stale, (0, 0))
    code, printed, err = run_cli(capsys, "sim", "--scenario", "single_walker", "--shot", str(answer),
                                 "--controller", "follow", "--duration", "0.5", "--no-video", "--headless",
                                 "--out", str(out))
    assert code == 0, err
    wrote = [line for line in printed.splitlines() if line.startswith("wrote ")]
    assert len(wrote) == 1 and "camera.mp4" not in wrote[0] and "metrics.json" in wrote[0], printed
    flown = json.loads((out / "run.json").read_text())["shot"]
    assert flown["framing"] == "wide" and flown["side"] == "back"
    several = parse_to_file(capsys, tmp_path, "wide shot, then orbit clockwise", "two.json")
    code, _, err = run_cli(capsys, "sim", "--scenario", "single_walker", "--shot", str(several), "--out",
                           str(tmp_path / "never"))
    assert code == 2 and ".shots[1]" in err and not (tmp_path / "never").exists()


def test_sim_refuses_a_subject_the_scene_has_no_actor_for(capsys, tmp_path):
    """parse only warns (a track may still be named so); an offline sim run cannot name one, so it refuses,
    naming the unknown subject and the scene's actors; with --director it warns."""
    from cinempc.cli.sim import check_shot_subjects, unknown_actors_message
    from cinempc.shot import ShotSpec
    from cinempc_sim.scenario import load_scenario

    answer = parse_to_file(capsys, tmp_path, "follow the zebra", "zebra.json")
    assert json.loads(answer.read_text())["unknown_subjects"] == ["zebra"]
    code, _, err = run_cli(capsys, "shot", "validate", str(answer))
    assert code == 0, err  # with the warning in it, still a shot file
    code, _, err = run_cli(capsys, "sim", "--scenario", "single_walker", "--shot", str(answer), "--headless",
                           "--out", str(tmp_path / "never"))
    scenario = load_scenario("single_walker")
    actor = scenario.actors[0]
    assert code == 2 and "shot subject 'zebra' is not an actor of scenario 'single_walker'" in err, err
    assert f"whose actors are '{actor.name}' (#{actor.track_id})" in err, err
    assert not (tmp_path / "never").exists()
    # an actor's name, its '#track id' and 'all' are known; the focus and rack targets are checked too
    assert unknown_actors_message(ShotSpec(subjects=[actor.name], focus={"target": "all"}), scenario) is None
    assert unknown_actors_message(ShotSpec(subjects=[f"#{actor.track_id}"]), scenario) is None
    racked = ShotSpec(subjects=[actor.name], focus={"rack_to": "nobody_here"})
    assert "shot subject 'nobody_here' is not an actor" in unknown_actors_message(racked, scenario)
    two = unknown_actors_message(ShotSpec(subjects=["zebra", f"#{actor.track_id + 1}"]), scenario)
    assert f"shot subjects 'zebra', '#{actor.track_id + 1}' are not actors" in two
    check_shot_subjects(racked, "single_walker", director=True)  # live: a track may still be named so
    assert "warning: shot subject 'nobody_here' is not an actor" in capsys.readouterr().err


def test_optics_refuses_an_f_number_outside_the_lens(capsys):
    profile = camera_profiles()["super35_cine_zoom"]
    below = profile.f_number.min / 2
    code, _, err = run_cli(capsys, "optics", "--camera", profile.name, "--focal-length-mm", "50",
                           "--f-number", f"{below:g}", "--focus-distance-m", "5")
    assert code == 2
    assert f"f/{below:g}" in err and f"f/{profile.f_number.min:g} to f/{profile.f_number.max:g}" in err
    code, _, err = run_cli(capsys, "optics", "--camera", profile.name, "--focal-length-mm",
                           f"{profile.focal_length_mm.max * 2:g}", "--f-number", "4", "--focus-distance-m", "5")
    assert code == 2 and f"{profile.focal_length_mm.max:g} mm" in err
    inside = run_cli(capsys, "optics", "--camera", profile.name, "--focal-length-mm", "50", "--f-number",
                     f"{profile.f_number.min:g}", "--focus-distance-m", "5", "--json")
    assert inside[0] == 0 and json.loads(inside[1])["near_m"] < 5
    # without a camera there is no lens to check against
    assert run_cli(capsys, "optics", "--focal-length-mm", "50", "--f-number", "0.95", "--focus-distance-m", "5")[0] == 0


def test_optics_reports_bad_lens_values_in_the_units_typed(capsys):
    code, _, err = run_cli(capsys, "optics", "--focal-length-mm", "-5", "--f-number", "2.8", "--focus-distance-m", "5")
    assert code == 2 and "--focal-length-mm" in err and "-5" in err and "millimetres" in err
    assert "focal_length_m" not in err and "0.005" not in err
    code, _, err = run_cli(capsys, "optics", "--focal-length-mm", "50", "--f-number", "nan", "--focus-distance-m", "5")
    assert code == 2 and "--f-number" in err
    code, _, err = run_cli(capsys, "optics", "--f-number", "2.8")
    assert code == 2 and "--focal-length-mm" in err and "--focus-distance-m" in err and "--list-cameras" in err


def test_optics_lists_the_camera_profiles(capsys):
    profiles = camera_profiles()
    code, out, _ = run_cli(capsys, "optics", "--list-cameras")
    assert code == 0 and len(out.splitlines()) == len(profiles)
    for profile in profiles.values():
        line = next(line for line in out.splitlines() if line.split()[0] == profile.name)
        assert f"f/{profile.f_number.min:g}-f/{profile.f_number.max:g}" in line
        assert f"{profile.focal_length_mm.min:g}-{profile.focal_length_mm.max:g} mm" in line
    code, out, _ = run_cli(capsys, "optics", "--list-cameras", "--json")
    listed = {c["name"]: c for c in json.loads(out)}
    assert set(listed) == set(profiles)
    assert listed["super35_cine_zoom"]["f_number"] == [profiles["super35_cine_zoom"].f_number.min,
                                                       profiles["super35_cine_zoom"].f_number.max]


@pytest.mark.parametrize("doc", ["README.md", "docs/hardware.md"])
def test_docs_count_the_scenarios_there_are(doc):
    count = len(list((REPO / "sim" / "scenarios").glob("*.yaml")))
    claims = [int(n) for n in re.findall(r"\ball (\d+) scenarios\b", (REPO / doc).read_text(encoding="utf-8"))]
    assert claims, f"{doc} no longer says how many scenarios there are"
    assert set(claims) == {count}, f"{doc} says {claims} scenarios; sim/scenarios/ has {count}"
