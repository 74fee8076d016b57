"""Build a ``launch`` description from ``cinempc.graph`` -- what ``launch/*.launch.py`` return.

Kept next to the nodes (``launch``/``launch_ros`` are ROS imports) and out of the launch files
themselves, so both launch files are one line and provably the same graph as ``cinempc up``
(``test/test_ros_graph.py`` runs this with stand-ins for ``launch``/``launch_ros``, which this
machine cannot install).

Launch arguments: ``namespace:=NS`` (a rig under ``/NS``), ``record:=DIR`` (``ros2 bag record``
to MCAP), ``ground_truth_subjects:=true`` (sim only: the MPC takes the simulator's truth).
"""

from __future__ import annotations

from cinempc.graph import PACKAGE, Topics, graph, node_parameters, normalise_namespace, recorder_command


def node_actions(graph_name: str, namespace: str = "", ground_truth_subjects: bool = False) -> list[dict]:
    """Keyword arguments of one ``launch_ros`` ``Node``/``LifecycleNode`` per graph node (plus ``lifecycle``)."""
    from cinempc.config import resolve_config_path

    graph_ = graph(graph_name)
    actions = []
    for spec in graph_.nodes:
        remappings = dict(spec.remappings)
        if ground_truth_subjects and spec.name == "mpc_node":
            remappings[Topics.SUBJECTS] = f"{Topics.GROUND_TRUTH}/subjects"
        actions.append({
            "lifecycle": spec.lifecycle,
            "package": PACKAGE,
            "executable": spec.executable,
            "name": spec.name,
            "namespace": normalise_namespace(namespace),
            "parameters": [*(str(resolve_config_path(f)) for f in spec.parameter_files), node_parameters(spec, graph_)],
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
        actions = []
        for kwargs_ in node_actions(graph_name, namespace, truth):
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
        OpaqueFunction(function=setup),
    ])
