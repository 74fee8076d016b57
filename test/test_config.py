"""Loading ``config/``: the one source of truth for every number must stay true inside one process."""

from __future__ import annotations

from cinempc.config import load_parameters, load_yaml


def test_overriding_a_loaded_value_leaves_what_the_next_caller_reads_unchanged():
    """A test (or node) that loosens one limit for itself must not loosen it for everyone after it."""
    first = load_parameters("mavlink.yaml")
    shipped = first["sim_autopilot"]["offboard_loss_timeout_s"]
    first["sim_autopilot"]["offboard_loss_timeout_s"] = shipped + 10.0
    assert load_parameters("mavlink.yaml")["sim_autopilot"]["offboard_loss_timeout_s"] == shipped

    document = load_yaml("mavlink.yaml")
    document.clear()
    assert load_yaml("mavlink.yaml")
