"""docs/first_flight.md Part A, end to end: its console commands, in its order, against the simulated autopilot.

The commands are read from the document itself (every ``$ cinempc ...`` line of Part A), so the document and
this test cannot drift apart.  The only changes: ``~/fields`` is a temporary folder, the port is a free one, the
sim-autopilot line runs in the background (the document's second terminal), and the site file is edited as
the document says (the key path; the detector rate this loaded CI machine sustains).
"""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "first_flight.md"
EXPECTED = {  # what each step must print (the document's "What each step shows")
    "mavlink keygen": "wrote a new MAVLink signing key",
    "site check": "OK",
    "mavlink rally": "rally point uploaded and read back: the autopilot's rally point is the site's",
    "preflight": "preflight PASSED",
    "mavlink arm": "arm -> ACCEPTED; ARMED",
    "mavlink takeoff": "in hover at",
    "mavlink offboard": "held 5 s in OFFBOARD",
    "parse": "",
    "sim": "wrote ",
    "mavlink hold": "hold -> ACCEPTED",
    "mavlink land": "landed and disarmed",
}


def part_a_commands() -> list[str]:
    text = DOC.read_text()
    part = text.split("## Part A")[1].split("## Part B")[0]
    return [line[2:].strip() for line in part.splitlines() if line.startswith("$ cinempc ")]


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_document_names_the_whole_sequence():
    steps = [" ".join(c.split()[1:3]) for c in part_a_commands()]
    assert steps == ["mavlink keygen", "mavlink sim-autopilot", "site check", "mavlink rally", "preflight --site",
                     "mavlink arm",
                     "mavlink takeoff", "mavlink offboard", "parse \"medium", "sim --scenario", "mavlink hold",
                     "mavlink land"], steps


@pytest.mark.slow
def test_first_flight_sequence(tmp_path):
    fields = tmp_path / "fields"
    fields.mkdir()
    port = free_udp_port()
    cli = [sys.executable, "-m", "cinempc"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    autopilot = None
    log: list[str] = []
    try:
        for command in part_a_commands():
            command = command.replace("~/fields", str(fields)).replace("14580", str(port))
            if command.startswith("cinempc mavlink sim-autopilot"):
                autopilot = subprocess.Popen([*cli, *shlex.split(command)[1:]], cwd=ROOT, env=env,
                                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                line = ""
                deadline = time.monotonic() + 120
                while "simulated px4 autopilot on udp" not in line and time.monotonic() < deadline:
                    line = autopilot.stdout.readline()
                    assert line or autopilot.poll() is None, "sim-autopilot exited"
                # the document's edit of the copied site file
                site_file = fields / "practice.yaml"
                site = yaml.safe_load(site_file.read_text())
                site["mavlink"]["signing_key"] = str(fields / "practice.key")
                site["mavlink"]["url"] = site["mavlink"]["url"].replace("14580", str(port))
                site["perception"]["frame_rate_hz"] = 1.0
                site_file.write_text(yaml.safe_dump(site))
                continue
            args = shlex.split(command.split(" > ")[0])
            started = time.monotonic()
            result = subprocess.run([*cli, *args[1:]], cwd=ROOT, env=env, capture_output=True, text=True,
                                    timeout=600)
            step = next(k for k in EXPECTED if " ".join(args[1:]).startswith(k))
            log.append(f"{step}: {time.monotonic() - started:.1f} s")
            assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
            assert EXPECTED[step] in result.stdout, f"{command}\n{result.stdout}\n{result.stderr}"
            if " > " in command:
                Path(command.split(" > ")[1].strip()).write_text(result.stdout)
            if command.startswith("cinempc mavlink keygen"):
                # the document copies the example site next to the key
                (fields / "practice.yaml").write_text((ROOT / "examples" / "site_field.yaml").read_text())
        metrics = yaml.safe_load((fields / "first_shot_run" / "metrics.json").read_text())
        cinempc = metrics.get("cinempc", metrics)
        assert cinempc["collisions"] == 0
        assert cinempc["visible_fraction"] >= 0.9 and cinempc["in_focus_fraction"] >= 0.9
        assert cinempc["composition_error_rms"] <= 0.05
        print("\n".join(log))
    finally:
        if autopilot is not None:
            autopilot.terminate()
            try:
                autopilot.wait(timeout=10)
            except subprocess.TimeoutExpired:
                autopilot.kill()
