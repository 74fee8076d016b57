"""Build a ``launch`` description from ``cinempc.graph`` -- what ``launch/*.launch.py`` return.

Kept next to the nodes (``launch``/``launch_ros`` are ROS imports) and out of the launch files
themselves, so both launch files are one line and provably the same graph as ``cinempc up``
(``test/test_ros_graph.py`` runs this with stand-ins for ``launch``/``launch_ros``, which this
machine cannot install).

Launch arguments: ``namespace:=NS`` (a rig under ``/NS``), ``record:=DIR`` (``ros2 bag record``
to MCAP), ``ground_truth_subjects:=true`` (sim only: the MPC takes the simulator's truth),
``site:=FIELD.yaml`` (drone only: the site file overlays config/ exactly as ``cinempc up drone --site``
does -- the same :func:`cinempc.cli.up.site_overrides`, anchored at the autopilot's home read over the
link, handed to each node as the same node-specific parameter file, after the config files).
"""

from __future__ import annotations

from pathlib import Path

from cinempc.graph import PACKAGE, Topics, graph, node_parameters, normalise_namespace, recorder_command


def node_actions(graph_name: str, namespace: str = "", ground_truth_subjects: bool = False,
                 site: str | Path | None = None) -> list[dict]:
    """Keyword arguments of one ``launch_ros`` ``Node``/``LifecycleNode`` per graph node (plus ``lifecycle``).

    ``site``: a site file; each node then also gets the site's values as ``cinempc up drone --site`` gives them
    (one implementation: :func:`cinempc.cli.up.site_overrides` and :func:`cinempc.cli.up.write_override_file`).
    """
    from cinempc.cli.up import site_overrides, write_override_file
    from cinempc.config import resolve_config_path

    graph_ = graph(graph_name)
    overlay = site_overrides(Path(site).expanduser(), graph_, {}) if site else {}
    actions = []
    for spec in graph_.nodes:
        site_files = [str(write_override_file(spec.name, overlay[spec.name]))] if spec.name in overlay else []
        remappings = dict(spec.remappings)
        if ground_truth_subjects and spec.name == "mpc_node":
            remappings[Topics.SUBJECTS] = f"{Topics.GROUND_TRUTH}/subjects"
        actions.append({
            "lifecycle": spec.lifecycle,
            "package": PACKAGE,
            "executable": spec.executable,
            "name": spec.name,
            "namespace": normalise_namespace(namespace),
            "parameters": [*(str(resolve_config_path(f)) for f in spec.parameter_files), node_parameters(spec, graph_),
                           *site_files],
            "remappings": list(remappings.items()),
            "output": "screen",
            "emulate_tty": True,
        })
    return actions


def generate_graph_launch_description(graph_name: str):
    """The ``LaunchDescription`` for a graph of ``cinempc.graph.GRAPHS``."""
    from launch.actions import DeclareLaunchArgument, ExecuteProcess, OpaqueFunction
    from launch.substitutions import LaunchConfiguration
    from launch_ros.actions import LifecycleNode, Node

    from launch import LaunchDescription

    def setup(context, *args, **kwargs):
        namespace = LaunchConfiguration("namespace").perform(context)
        record = LaunchConfiguration("record").perform(context)
        truth = LaunchConfiguration("ground_truth_subjects").perform(context).lower() in ("1", "true", "yes")
        site = LaunchConfiguration("site").perform(context).strip()
        actions = []
        for kwargs_ in node_actions(graph_name, namespace, truth, site or None):
            lifecycle = kwargs_.pop("lifecycle")
            actions.append(LifecycleNode(**kwargs_) if lifecycle else Node(**kwargs_))
        if record:
            actions.append(ExecuteProcess(cmd=recorder_command(graph(graph_name), record, namespace), output="screen"))
        return actions

    return LaunchDescription([
        DeclareLaunchArgument("namespace", default_value="", description="put the rig under /NAMESPACE"),
        DeclareLaunchArgument("record", default_value="", description="record an MCAP rosbag2 into this directory"),
        DeclareLaunchArgument("ground_truth_subjects", default_value="false",
                              description="sim only: the MPC takes the simulator's true subjects"),
        DeclareLaunchArgument("site", default_value="",
                              description="drone only: a site file (FIELD.yaml) overlaying config/ as "
                              "`cinempc up drone --site` does"),
        OpaqueFunction(function=setup),
    ])
