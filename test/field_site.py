"""A field to fly the first-flight commands against: a signed simulated PX4 with the vehicle on the ground, the
example site file pointing at it, and the site's rally point uploaded to it (``cinempc mavlink rally``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from cinempc.config import load_vehicle_config
from cinempc.mavlink.signing import write_signing_key
from cinempc.preflight import upload_rally
from cinempc.site import load_site
from cinempc_sim.autopilot import SimAutopilot
from cinempc_sim.scenario import load_scenario
from cinempc_sim.simulator import Simulator

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "site_field.yaml"


@contextmanager
def field_site(folder: Path) -> Iterator[tuple[Path, SimAutopilot]]:
    """(site file, autopilot): the example site with the PX4's URL and a fresh signing key, in ``folder``."""
    key = write_signing_key(folder / "field.key")
    scenario = load_scenario("single_walker")
    x, y, _ = scenario.start.position_m
    scenario = scenario.model_copy(update={"start": scenario.start.model_copy(update={"position_m": (x, y, 0.15)})})
    vehicle = load_vehicle_config()
    vehicle = vehicle.model_copy(update={"airspace": vehicle.airspace.model_copy(update={"altitude_floor_m": 0.0})})
    with Simulator(scenario, render=False, vehicle=vehicle) as sim, SimAutopilot(sim, "px4", signing_key=key) as px4:
        document = yaml.safe_load(EXAMPLE.read_text())
        document["mavlink"].update(url=px4.url, signing_key=str(folder / "field.key"))
        path = folder / "field.yaml"
        path.write_text(yaml.safe_dump(document))
        uploaded = upload_rally(load_site(path))  # as docs/first_flight.md does before preflight
        assert uploaded.passed, uploaded.reason
        yield path, px4
