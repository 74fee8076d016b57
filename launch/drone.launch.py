"""``ros2 launch cinempc drone.launch.py [namespace:=NS] [record:=DIR]``: the companion computer.

Camera topics (``camera/image_raw``, ``camera/camera_info``) come from the camera's own driver;
this starts perception + MPC + director + MAVLink bridge, the graph ``cinempc.graph.GRAPHS["drone"]``
that ``cinempc up drone`` starts too.  Needs ``cinempc_interfaces`` (``colcon build`` builds it from
``interfaces/``), ``vision_msgs`` and ``tf2_msgs`` from the ROS install; the bridge publishes TF
``map -> odom -> base_link -> gimbal -> camera_optical`` from the autopilot's telemetry.
"""

from cinempc.nodes.launch_support import generate_graph_launch_description


def generate_launch_description():
    return generate_graph_launch_description("drone")
