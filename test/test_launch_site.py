"""``ros2 launch cinempc drone.launch.py site:=FIELD.yaml`` overlays the site as ``cinempc up drone --site`` does.

The launch file runs with the stand-in ``launch``/``launch_ros`` modules of test_ros_graph (the project's way of
testing launch files: neither can be installed here), against a signed simulated PX4 whose home anchors the
site's fence; each node's site parameter file must carry the same values ``cinempc up drone --site`` writes.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from field_site import EXAMPLE, field_site
from test_ros_graph import _launch, stub_launch  # noqa: F401 -- stub_launch is a fixture used by name

from cinempc.cli.up import _remove_override_files, commands, site_overrides
from cinempc.graph import graph


@pytest.fixture(scope="module")
def field(tmp_path_factory):
    """A signed simulated PX4 on the ground and a site file pointing at it."""
    with field_site(tmp_path_factory.mktemp("launch_field")) as (path, px4):
        yield path, px4


def _site_file_values(node) -> dict:
    """The site overlay a launch node got: its last parameter file, a node-specific section."""
    *_, last = node.kwargs["parameters"]
    document = yaml.safe_load(Path(last).read_text())
    ((name, body),) = document.items()
    assert name == f"/**/{node.kwargs['name']}"
    return body["ros__parameters"]


def test_drone_launch_with_site_gives_each_node_what_cinempc_up_gives(stub_launch, field):  # noqa: F811
    site_file, px4 = field
    nodes, _ = _launch("drone", {"site": str(site_file)})
    plain, _ = _launch("drone", {})
    planned = dict(commands("drone", overrides=site_overrides(site_file, graph("drone"), {})))
    launched_files = [n.kwargs["parameters"][-1] for n in nodes]
    try:
        by_name = {n.kwargs["name"]: n for n in nodes}
        assert set(by_name) == {s.name for s in graph("drone").nodes}
        for spec in graph("drone").nodes:
            node = by_name[spec.name]
            base = next(p for p in plain if p.kwargs["name"] == spec.name).kwargs["parameters"]
            assert node.kwargs["parameters"][:-1] == base, "config files and graph overrides unchanged, site last"
            argv = planned[spec.name]
            up_file = argv[[i for i, a in enumerate(argv) if a == "--params-file"][-1] + 1]
            assert Path(up_file).name.startswith(f"cinempc-{spec.name}-")
            assert _site_file_values(node) == yaml.safe_load(Path(up_file).read_text())[f"/**/{spec.name}"][
                "ros__parameters"], spec.name
        mpc = _site_file_values(by_name["mpc_node"])
        bridge = _site_file_values(by_name["mavlink_bridge_node"])
        # the site's values, resolved: the box anchored at the autopilot's home, the band, the link, the detector
        home_x, home_y, _ = px4.sim.rig_state().position_m
        (x0, y0), (x1, y1) = mpc["airspace"]["geofence_min_m"], mpc["airspace"]["geofence_max_m"]
        assert x0 < home_x < x1 and y0 < home_y < y1
        assert mpc["airspace"]["altitude_ceiling_m"] == pytest.approx(30.0, abs=0.5)
        assert len(mpc["node"]["rally_enu_m"]) == 3 and mpc["node"]["rally_after_s"] == 30.0  # the site's rally
        assert bridge["node"] == mpc["node"]  # ... and the bridge node's, for when the MPC node's setpoints stop
        assert bridge["connection"]["url"] == px4.url
        assert bridge["signing"]["key_file"] == str(site_file.parent / "field.key")
        assert _site_file_values(by_name["perception_node"])["perception"]["class_filter"] == [0]
        director = _site_file_values(by_name["director_node"])
        assert director["server"]["operator_site"] == str(site_file.resolve())
    finally:
        for path in launched_files:
            Path(path).unlink(missing_ok=True)
        _remove_override_files(list(planned.values()))


def test_site_launch_argument_errors_name_the_problem(stub_launch, tmp_path):  # noqa: F811
    with pytest.raises(FileNotFoundError, match="missing.yaml does not exist"):
        _launch("drone", {"site": str(tmp_path / "missing.yaml")})
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ngeofence: {polygon: [[0, 0], [0, 1]], altitude_floor_m: 1, altitude_ceiling_m: 5}\n")
    with pytest.raises(ValueError, match=r"bad.yaml: geofence.polygon"):
        _launch("drone", {"site": str(bad)})
    with pytest.raises(ValueError, match="needs the drone graph"):
        _launch("sim", {"site": str(EXAMPLE)})
    nodes, _ = _launch("drone", {"site": "  "})  # an empty argument is no site: config files + graph overrides only
    assert all(isinstance(n.kwargs["parameters"][-1], dict) for n in nodes)


@pytest.mark.ros
@pytest.mark.parametrize("node_name", ["mpc_node", "mavlink_bridge_node"])
def test_the_mpc_and_bridge_nodes_read_the_sites_rally_point_through_rcl(field, node_name):
    """The override file ``cinempc up drone --site`` (and the launch file) gives the MPC node and the bridge node,
    parsed by rcl as the node starts: their safety limits (as each node builds them) carry the site's rally point,
    anchored at the autopilot's home."""
    import rclpy
    from rclpy.node import Node

    from cinempc.nodes.base import nested_parameters
    from cinempc.nodes.mavlink_bridge_node import bridge_limits
    from cinempc.preflight import anchor_site
    from cinempc.safety import SafetyLimits
    from cinempc.site import load_site

    site_file, _ = field
    argv = dict(commands("drone", overrides=site_overrides(site_file, graph("drone"), {})))[node_name]
    build = bridge_limits if node_name == "mavlink_bridge_node" else SafetyLimits.from_parameters
    context = rclpy.Context()
    try:
        rclpy.init(args=["cinempc", *argv[argv.index("--ros-args"):]], context=context)
        node = Node(node_name, context=context, automatically_declare_parameters_from_overrides=True)
        try:
            limits = build(nested_parameters(node, "node"))
        finally:
            node.destroy_node()
    finally:
        if context.ok():
            rclpy.shutdown(context=context)
        _remove_override_files([argv])
    expected = anchor_site(load_site(site_file)).rally
    assert limits.rally is not None
    assert limits.rally.position_m == pytest.approx(expected.position_m, abs=1e-6)
    assert (limits.rally.after_s, limits.rally.speed_mps) == (expected.after_s, expected.speed_mps)
