"""``ros2 launch cinempc sim.launch.py [namespace:=NS] [record:=DIR]``: simulator + perception + MPC + director.

The graph (nodes, executables, parameter files, remappings) is ``cinempc.graph.GRAPHS["sim"]``,
the same one ``cinempc up sim`` starts.  Every topic is typed (``cinempc_interfaces``, built by
``colcon build`` beside this package; ``vision_msgs``; TF on ``tf``/``tf_static`` relative to the
namespace): see docs/ros.md.
"""

from cinempc.nodes.launch_support import generate_graph_launch_description


def generate_launch_description():
    return generate_graph_launch_description("sim")
