"""setup.py's base install is the flight stack, the extras the rest; every name has its one pin in requirements.txt."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GROUND_ONLY = {"pybullet", "gymnasium", "matplotlib", "imageio", "imageio-ffmpeg", "ultralytics", "torch", "ray"}


def _setup_lists() -> tuple[list[str], dict[str, list[str]]]:
    """FLIGHT and EXTRAS as written in setup.py (read, not run: running it would call setup())."""
    tree = ast.parse((ROOT / "setup.py").read_text())
    values = {node.targets[0].id: ast.literal_eval(node.value) for node in tree.body
              if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
              and node.targets[0].id in ("FLIGHT", "EXTRAS")}
    return values["FLIGHT"], values["EXTRAS"]


def _names(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines()
            if line.strip() and not line.startswith(("#", "-"))]


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==")
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    return pins


def test_the_base_install_is_the_flight_stack_and_the_extras_the_ground():
    flight, extras = _setup_lists()
    assert not GROUND_ONLY & set(flight)
    assert {"onnxruntime", "casadi", "pymavlink", "fastapi", "supervision"} <= set(flight)
    assert {"sim", "train", "ray", "test"} <= set(extras)
    assert GROUND_ONLY <= {name for names in extras.values() for name in names}


def test_every_name_has_a_pin_and_the_drone_requirements_are_the_base_install():
    flight, extras = _setup_lists()
    pins = _pins()
    drone = _names(ROOT / "requirements" / "drone.txt") + _names(ROOT / "requirements" / "drone-nodeps.txt")
    for name in flight + [n for names in extras.values() for n in names] + drone:
        assert re.sub(r"[-_.]+", "-", name).lower() in pins, f"{name} has no pin in requirements.txt"
    assert set(flight) <= set(drone)
    assert not GROUND_ONLY & set(drone)
