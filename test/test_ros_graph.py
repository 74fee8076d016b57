"""One graph, three readers: launch/*.launch.py, ``cinempc up`` and setup.py agree on nodes, files and remappings.

``launch``/``launch_ros`` cannot be installed here, so this test injects stand-ins that record
what the launch files construct (only here, only in sys.modules) and compares it with the
command lines ``cinempc up`` runs.  The parameter files are then handed to the real rcl
parser, exactly as ``--params-file`` does at node start-up.
"""

from __future__ import annotations

import ast
import importlib
import runpy
import sys
import types
from pathlib import Path

import pytest

from cinempc.cli.up import commands, parse_overrides, recorder_argv
from cinempc.graph import GRAPHS, TOPIC_TYPES, graph, normalise_namespace, resolve_topic

ROOT = Path(__file__).resolve().parent.parent


class _Recorded:
    def __init__(self, kind: str, *args, **kwargs) -> None:
        self.kind, self.args, self.kwargs = kind, args, kwargs


class _LaunchConfiguration:
    def __init__(self, name: str) -> None:
        self.name = name

    def perform(self, context) -> str:
        return context[self.name]


@pytest.fixture
def stub_launch(monkeypatch):
    """Minimal ``launch`` / ``launch_ros`` stand-ins that record their constructor arguments."""
    def factory(kind):
        return lambda *args, **kwargs: _Recorded(kind, *args, **kwargs)

    launch = types.ModuleType("launch")
    launch.LaunchDescription = lambda entities: _Recorded("LaunchDescription", entities)
    actions = types.ModuleType("launch.actions")
    for kind in ("DeclareLaunchArgument", "ExecuteProcess", "OpaqueFunction"):
        setattr(actions, kind, factory(kind))
    substitutions = types.ModuleType("launch.substitutions")
    substitutions.LaunchConfiguration = _LaunchConfiguration
    launch_ros = types.ModuleType("launch_ros")
    ros_actions = types.ModuleType("launch_ros.actions")
    ros_actions.Node = factory("Node")
    ros_actions.LifecycleNode = factory("LifecycleNode")
    for name, module in {"launch": launch, "launch.actions": actions, "launch.substitutions": substitutions,
                         "launch_ros": launch_ros, "launch_ros.actions": ros_actions}.items():
        monkeypatch.setitem(sys.modules, name, module)
    importlib.invalidate_caches()


def _launch(graph_name: str, context: dict[str, str]) -> tuple[list[_Recorded], list[_Recorded]]:
    module = runpy.run_path(str(ROOT / "launch" / f"{graph_name}.launch.py"))
    description = module["generate_launch_description"]()
    assert description.kind == "LaunchDescription"
    entities = description.args[0]
    declared = [e for e in entities if e.kind == "DeclareLaunchArgument"]
    defaults = {e.args[0]: e.kwargs["default_value"] for e in declared}
    (opaque,) = [e for e in entities if e.kind == "OpaqueFunction"]
    actions = opaque.kwargs["function"]({**defaults, **context})
    nodes = [a for a in actions if a.kind in ("Node", "LifecycleNode")]
    return nodes, [a for a in actions if a.kind == "ExecuteProcess"]


def _ros_args(argv: list[str]) -> dict:
    """Parse the ``--ros-args`` of a ``cinempc up`` command line."""
    args = argv[argv.index("--ros-args") + 1:]
    parsed: dict = {"params_files": [], "remaps": {}, "params": {}, "node": None, "ns": ""}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        if flag == "--params-file":
            parsed["params_files"].append(value)
        elif flag == "-p":
            name, _, raw = value.partition(":=")
            parsed["params"][name] = raw
        elif flag == "-r":
            source, _, target = value.partition(":=")
            if source == "__node":
                parsed["node"] = target
            elif source == "__ns":
                parsed["ns"] = target
            else:
                assert source not in parsed["remaps"], f"two remappings of {source}: ROS would ignore the second"
                parsed["remaps"][source] = target
    return parsed


def _yaml_text(value) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


@pytest.mark.parametrize("graph_name", sorted(GRAPHS))
@pytest.mark.parametrize("namespace", ["", "drone2"])
def test_launch_files_and_cinempc_up_start_the_same_graph(stub_launch, graph_name, namespace):
    nodes, recorders = _launch(graph_name, {"namespace": namespace, "record": "/tmp/bag"})
    planned = dict(commands(graph_name, namespace))
    assert [n.kwargs["name"] for n in nodes] == list(planned) == [s.name for s in graph(graph_name).nodes]
    for node in nodes:
        spec = next(s for s in graph(graph_name).nodes if s.name == node.kwargs["name"])
        argv = planned[spec.name]
        up = _ros_args(argv)
        assert argv[1:3] == ["-m", spec.module]
        assert node.kwargs["executable"] == spec.executable and node.kwargs["package"] == "cinempc"
        assert (node.kind == "LifecycleNode") == spec.lifecycle
        assert up["node"] == node.kwargs["name"]
        assert up["ns"] == node.kwargs["namespace"] == normalise_namespace(namespace)
        *files, overrides = node.kwargs["parameters"]
        assert files == up["params_files"], "same parameter files in the same order"
        assert [Path(f).name for f in files] == list(spec.parameter_files)
        assert {k: _yaml_text(v) for k, v in overrides.items()} == up["params"]
        assert dict(node.kwargs["remappings"]) == up["remaps"]
    (recorder,) = recorders
    assert recorder.kwargs["cmd"][:5] == ["ros2", "bag", "record", "-s", "mcap"]
    recorded = recorder.kwargs["cmd"][7:]
    ours = recorder_argv(graph_name, Path("/tmp/bag"), namespace)
    ours_topics = ours[ours.index("--topics") + 1: ours.index("--ros-args")]
    assert recorded == [resolve_topic(t, namespace) for t in ours_topics]


def test_ground_truth_subjects_option_replaces_the_mpc_remapping_in_both(stub_launch):
    nodes, _ = _launch("sim", {"ground_truth_subjects": "true"})
    (mpc,) = [n for n in nodes if n.kwargs["name"] == "mpc_node"]
    up = _ros_args(dict(commands("sim", ground_truth_subjects=True))["mpc_node"])
    assert dict(mpc.kwargs["remappings"]) == up["remaps"] == {"subjects": "sim/ground_truth/subjects"}
    with pytest.raises(ValueError, match="sim graph"):
        commands("drone", ground_truth_subjects=True)


def test_every_executable_is_a_console_script_of_setup_py():
    tree = ast.parse((ROOT / "setup.py").read_text())
    scripts = next(
        ast.literal_eval(node.value)["console_scripts"] for node in ast.walk(tree)
        if isinstance(node, ast.keyword) and node.arg == "entry_points"
    )
    entry_points = dict(line.replace(" ", "").split("=") for line in scripts)
    for graph_ in GRAPHS.values():
        for spec in graph_.nodes:
            assert entry_points.get(spec.executable) == f"{spec.module}:main"
            assert callable(importlib.import_module(spec.module).main)
    assert entry_points["bag_recorder"] == "cinempc.nodes.recorder:main"


def test_recorded_topics_have_types_and_namespaces_are_checked():
    for graph_ in GRAPHS.values():
        assert set(graph_.recorded_topics) <= set(TOPIC_TYPES)
    assert normalise_namespace("/a/b/") == "/a/b"
    assert resolve_topic("rig/odometry", "d1") == "/d1/rig/odometry"
    assert resolve_topic("/diagnostics", "d1") == "/diagnostics"
    with pytest.raises(ValueError, match="invalid namespace"):
        normalise_namespace("2drone")
    with pytest.raises(ValueError, match="NODE:NAME=VALUE"):
        parse_overrides(["mpc_node=3"], ["mpc_node"])
    with pytest.raises(ValueError, match="no node"):
        parse_overrides(["nobody:x=1"], ["mpc_node"])


@pytest.mark.ros
@pytest.mark.parametrize("graph_name", sorted(GRAPHS))
def test_parameter_files_parse_in_rcl_as_each_node_gets_them(graph_name):
    """The exact ``--ros-args`` of every node through the real rcl parser; the node sees its sections."""
    import rclpy
    from rclpy.node import Node

    for name, argv in commands(graph_name, "ns1"):
        context = rclpy.Context()
        rclpy.init(args=["cinempc", *argv[argv.index("--ros-args"):]], context=context)
        try:
            node = Node("placeholder", context=context, automatically_declare_parameters_from_overrides=True)
            assert node.get_name() == name and node.get_namespace() == "/ns1"
            assert node.has_parameter("autostart")
            names = set(node._parameters)  # noqa: SLF001
            assert any(n.startswith("node.") for n in names) or name == "mavlink_bridge_node", name
            spec = next(s for s in graph(graph_name).nodes if s.name == name)
            if "vehicle.yaml" in spec.parameter_files:
                assert node.get_parameter("airspace.altitude_ceiling_m").value > 0
            node.destroy_node()
        finally:
            rclpy.shutdown(context=context)


@pytest.mark.ros
def test_a_cinempc_up_override_beats_the_node_specific_config_entry():
    """rcl prefers ``/**/node`` file entries over ``-p``: ``--param`` must therefore arrive as a node-specific file."""
    import rclpy
    from rclpy.node import Node

    argv = dict(commands("sim", overrides={"director_node": {"node.serve_web": "false", "node.tick_rate_hz": "4"}}))[
        "director_node"]
    context = rclpy.Context()
    rclpy.init(args=["cinempc", *argv[argv.index("--ros-args"):]], context=context)
    try:
        node = Node("placeholder", context=context, automatically_declare_parameters_from_overrides=True)
        assert node.get_parameter("node.serve_web").value is False
        assert node.get_parameter("node.tick_rate_hz").value == 4
        assert node.get_parameter("node.live_frame_rate_hz").value == 5.0  # the rest of the file still applies
        node.destroy_node()
    finally:
        rclpy.shutdown(context=context)
