"""``ros2 launch cinempc drone.launch.py [namespace:=NS] [record:=DIR] [site:=FIELD.yaml]``: the companion computer.

``site:=FIELD.yaml`` overlays the site file exactly as ``cinempc up drone --site FIELD.yaml`` does (the same
``cinempc.cli.up.site_overrides``): the fence anchored at the autopilot's home read over the link, the camera
profile, the MAVLink URL and key, the detector and the rally point, each node getting the values of the
config files it reads.

Camera topics (``camera/image_raw``, ``camera/camera_info``) come from the camera's own driver;
this starts perception + MPC + director + MAVLink bridge, the graph ``cinempc.graph.GRAPHS["drone"]``
that ``cinempc up drone`` starts too.  Needs ``cinempc_interfaces`` (``colcon build`` builds it from
``interfaces/``), ``vision_msgs`` and ``tf2_msgs`` from the ROS install; the bridge publishes TF
``map -> odom -> base_link -> gimbal -> camera_optical`` from the autopilot's telemetry.
"""

from cinempc.nodes.launch_support import generate_graph_launch_description


def generate_launch_description():
    return generate_graph_launch_description("drone")
