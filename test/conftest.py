"""Shared fixtures: an isolated ROS domain per test session, the repository root."""

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The checkout, for tests that read config/ or docs/."""
    return ROOT


@pytest.fixture(scope="session")
def ros_domain_env() -> dict[str, str]:
    """Environment for ROS processes on a private DDS domain, so parallel runs never cross-talk: drawn from the
    pid, and passed over while another participant on this machine holds it (a run beside this one)."""
    from cinempc_sim.fault_bench import free_ros_domain

    env = dict(os.environ)
    env["ROS_DOMAIN_ID"] = str(free_ros_domain(1, 100, os.getpid()))
    env.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
    env["ROS_LOCALHOST_ONLY"] = "0"
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    return env
