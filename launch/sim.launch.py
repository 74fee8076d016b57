"""``ros2 launch cinempc sim.launch.py [namespace:=NS] [record:=DIR]``: simulator + perception + MPC + director.

The graph (nodes, executables, parameter files, remappings) is ``cinempc.graph.GRAPHS["sim"]``,
the same one ``cinempc up sim`` starts.
"""

from cinempc.nodes.launch_support import generate_graph_launch_description


def generate_launch_description():
    return generate_graph_launch_description("sim")
