"""``cinempc parse`` as a director's tool would call it: a real process, JSON on stdout, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cinempc.cli import main
from cinempc.shot import ShotSpec

ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args: str, stdin: bytes | None = None) -> tuple[int, dict]:
    process = subprocess.run([sys.executable, "-m", "cinempc", "parse", *args], input=stdin, capture_output=True,
                             cwd=ROOT, timeout=60)
    return process.returncode, json.loads(process.stdout)


def test_shots_json_and_exit_0_from_a_real_process():
    code, document = run_cli("wide shot of the bride, slow orbit clockwise, then push in", "--json")
    assert code == 0 and list(document) == ["shots"]
    shots = [ShotSpec(**s) for s in document["shots"]]
    assert [s.movement.type for s in shots] == ["orbit", "dolly_in"]
    assert shots[0].framing == "wide" and shots[0].subjects == ["bride"]


def test_error_json_exit_2_and_binary_stdin_refused():
    code, document = run_cli("-", "--json", stdin=b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    assert code == 2 and document["error"]["reason"] == "refused"


def test_current_shot_file_and_subjects(tmp_path, capsys):
    current = tmp_path / "shot.json"
    current.write_text(ShotSpec(subjects=["bride", "groom"], framing="medium").to_json())
    assert main(["parse", "tighter and switch focus to the groom", "--current", str(current), "--json"]) == 0
    shot = json.loads(capsys.readouterr().out)["shots"][0]
    assert shot["framing"] == "medium_close_up" and shot["focus"]["rack_to"] == "groom"
    assert shot["subjects"] == ["bride", "groom"]
    assert main(["parse", "orbit sam", "--subjects", "Sam, Kim", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["shots"][0]["subjects"] == ["sam"]


@pytest.mark.parametrize("argv, key", [
    (["parse", "hold", "--json"], "command"),
    (["parse", "glorp", "--json"], "error"),
    (["parse", "tighter", "--current", "no_such_shot.json", "--json"], "error"),
    (["parse", "tighter", "--current", "no_such_preset", "--json"], "error"),
])
def test_every_answer_is_one_of_three_shapes(argv, key, capsys):
    code = main(argv)
    document = json.loads(capsys.readouterr().out)
    assert list(document) == [key]
    assert code == (2 if key == "error" else 0)


def test_human_output_names_corrections_and_suggestions(capsys):
    assert main(["parse", "tigher"]) == 0
    assert "read 'tigher' as 'tighter'" in capsys.readouterr().out
    assert main(["parse", "orbit left"]) == 2
    assert "did you mean" in capsys.readouterr().err


def test_json_answer_carries_the_unknown_subject_warning(capsys):
    """A subject nothing known carries is flown as typed, and the JSON a script saves says so, not only stderr."""
    assert main(["parse", "follow the zebra", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["shots"][0]["subjects"] == ["zebra"]
    assert document["unknown_subjects"] == ["zebra"]
    assert document["warning"].startswith("warning: subject 'zebra' is unknown: neither a subject word")
    assert main(["parse", "follow the zebra", "--subjects", "zebra", "--json"]) == 0  # a track named so
    assert list(json.loads(capsys.readouterr().out)) == ["shots"]
