"""The ROS 2 node graph of cinempc -- the single source of truth for launch files and ``cinempc up``.

Pure Python, no ROS import: ``launch/sim.launch.py``, ``launch/drone.launch.py`` and
``cinempc up`` all read :data:`GRAPHS`, so the node list, the executables, the parameter
files, the remappings and the namespaces cannot drift apart (``test/test_ros_graph.py``
proves the launch files and ``cinempc up`` produce the same nodes).

Topic names here are *relative*, so ``--namespace drone1`` puts a whole rig under
``/drone1/...`` and two drones can share one DDS domain.  The only absolute topics are the
ROS conventions every tool expects at the root: ``/diagnostics`` (with the namespace in
``hardware_id``) and ``/clock`` in simulation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

PACKAGE = "cinempc"


class Topics:
    """Every topic and service name the nodes use (relative: a namespace prefixes them)."""

    IMAGE = "camera/image_raw"  # sensor_msgs/Image rgb8, sensor-data QoS
    DEPTH = "camera/depth/image_raw"  # sensor_msgs/Image 32FC1 metres (simulator only)
    CAMERA_INFO = "camera/camera_info"  # sensor_msgs/CameraInfo, changes with zoom
    CAMERA_POSE = "camera/pose"  # geometry_msgs/PoseStamped of camera_optical in map (TF has it too)
    ODOMETRY = "rig/odometry"  # nav_msgs/Odometry odom -> base_link
    ACCEL = "rig/accel"  # geometry_msgs/AccelStamped, map (ENU) frame
    CAMERA_STATE = "rig/camera_state"  # sensor_msgs/JointState: camera yaw, gimbal pitch, lens (SI units)
    SETPOINT = "rig/setpoint"  # trajectory_msgs/JointTrajectory, one point: pose + gimbal + lens + hold
    SUBJECTS = "subjects"  # cinempc_interfaces/SubjectTrackArray (the MPC's input; remapped)
    PERCEPTION_SUBJECTS = "perception/subjects"
    DETECTIONS = "perception/detections"  # vision_msgs/Detection2DArray, one per processed frame
    # cinempc_interfaces/DirectorEvent: perception's search for subjects (searching / found / lost) for the director
    PERCEPTION_EVENTS = "perception/events"
    GROUND_TRUTH = "sim/ground_truth"  # cinempc_interfaces/GroundTruth: true subjects, measured rig, collisions
    GROUND_TRUTH_SUBJECTS = "sim/ground_truth/subjects"  # cinempc_interfaces/SubjectTrackArray, the truth
    DEFAULT_SHOT = "sim/default_shot"  # cinempc_interfaces/ShotSpec, latched: the scenario's shot
    OBSTACLES = "world/obstacles"  # cinempc_interfaces/ObstacleArray, latched
    SHOT = "director/shot"  # cinempc_interfaces/ShotSpec, latched
    HOLD = "director/hold"  # std_msgs/Bool, latched: the director's HOLD
    SUBJECT_NAMES = "director/subject_names"  # cinempc_interfaces/SubjectNames, latched
    # cinempc_interfaces/SubjectPins, latched: people the director pointed out on the map (ENU map frame,
    # metres; stamped on the graph's clock), not found by perception yet
    SUBJECT_PINS = "director/subject_pins"
    HOLD_SERVICE = "director/hold_shot"  # std_srvs/Trigger
    RESUME_SERVICE = "director/resume_shot"  # std_srvs/Trigger
    SET_SHOT_SERVICE = "director/set_shot"  # cinempc_interfaces/SetShot
    NAME_SUBJECT_SERVICE = "director/name_subject"  # cinempc_interfaces/NameSubject
    PLAN_PATH = "mpc/plan"  # nav_msgs/Path (RViz / Foxglove)
    PLAN_TRAJECTORY = "mpc/trajectory"  # trajectory_msgs/MultiDOFJointTrajectory (full plan)
    MPC_STATUS = "mpc/status"  # cinempc_interfaces/PlanStatus: status, solve time, cost breakdown
    LINK_EVENTS = "mavlink/events"  # cinempc_interfaces/DirectorEvent: link / safety events for the director
    TF = "tf"  # tf2_msgs/TFMessage: odom -> base_link -> gimbal (relative: NS/tf under a namespace)
    TF_STATIC = "tf_static"  # tf2_msgs/TFMessage, latched: map -> odom, gimbal -> camera_optical
    OPERATOR_COMMAND = "mavlink/operator_command"  # std_srvs: arm/offboard/land/hold only on explicit request
    DIAGNOSTICS = "/diagnostics"  # diagnostic_msgs/DiagnosticArray (ROS convention: root)
    CLOCK = "/clock"  # rosgraph_msgs/Clock from the simulator


# The ROS type of every topic (what a recorder or a bridge must subscribe with).
TOPIC_TYPES: dict[str, str] = {
    Topics.IMAGE: "sensor_msgs/msg/Image",
    Topics.DEPTH: "sensor_msgs/msg/Image",
    Topics.CAMERA_INFO: "sensor_msgs/msg/CameraInfo",
    Topics.CAMERA_POSE: "geometry_msgs/msg/PoseStamped",
    Topics.ODOMETRY: "nav_msgs/msg/Odometry",
    Topics.ACCEL: "geometry_msgs/msg/AccelStamped",
    Topics.CAMERA_STATE: "sensor_msgs/msg/JointState",
    Topics.SETPOINT: "trajectory_msgs/msg/JointTrajectory",
    Topics.SUBJECTS: "cinempc_interfaces/msg/SubjectTrackArray",
    Topics.PERCEPTION_SUBJECTS: "cinempc_interfaces/msg/SubjectTrackArray",
    Topics.DETECTIONS: "vision_msgs/msg/Detection2DArray",
    Topics.PERCEPTION_EVENTS: "cinempc_interfaces/msg/DirectorEvent",
    Topics.GROUND_TRUTH: "cinempc_interfaces/msg/GroundTruth",
    Topics.GROUND_TRUTH_SUBJECTS: "cinempc_interfaces/msg/SubjectTrackArray",
    Topics.DEFAULT_SHOT: "cinempc_interfaces/msg/ShotSpec",
    Topics.OBSTACLES: "cinempc_interfaces/msg/ObstacleArray",
    Topics.SHOT: "cinempc_interfaces/msg/ShotSpec",
    Topics.HOLD: "std_msgs/msg/Bool",
    Topics.SUBJECT_NAMES: "cinempc_interfaces/msg/SubjectNames",
    Topics.SUBJECT_PINS: "cinempc_interfaces/msg/SubjectPins",
    Topics.PLAN_PATH: "nav_msgs/msg/Path",
    Topics.PLAN_TRAJECTORY: "trajectory_msgs/msg/MultiDOFJointTrajectory",
    Topics.MPC_STATUS: "cinempc_interfaces/msg/PlanStatus",
    Topics.LINK_EVENTS: "cinempc_interfaces/msg/DirectorEvent",
    Topics.TF: "tf2_msgs/msg/TFMessage",
    Topics.TF_STATIC: "tf2_msgs/msg/TFMessage",
    Topics.DIAGNOSTICS: "diagnostic_msgs/msg/DiagnosticArray",
    Topics.CLOCK: "rosgraph_msgs/msg/Clock",
}


@dataclass(frozen=True)
class NodeSpec:
    """One node of a graph: what to run, with which parameter files and remappings."""

    name: str  # ROS node name
    executable: str  # console script in setup.py (``ros2 run cinempc <executable>``)
    module: str  # the Python module whose ``main()`` that script calls
    parameter_files: tuple[str, ...]  # file names in config/, applied in this order
    remappings: tuple[tuple[str, str], ...] = ()
    parameters: tuple[tuple[str, object], ...] = ()  # per-graph overrides on top of the files
    lifecycle: bool = True  # a lifecycle node (configure/activate); autostart parameter drives it

    @property
    def remapping_dict(self) -> dict[str, str]:
        return dict(self.remappings)

    @property
    def parameter_dict(self) -> dict[str, object]:
        return dict(self.parameters)


@dataclass(frozen=True)
class Graph:
    """A named set of nodes: what ``cinempc up NAME`` / ``ros2 launch cinempc NAME.launch.py`` start."""

    name: str
    description: str
    nodes: tuple[NodeSpec, ...]
    use_sim_time: bool = False
    recorded_topics: tuple[str, ...] = field(default=())


def _node(name: str, files: tuple[str, ...], remappings=(), parameters=(), lifecycle: bool = True) -> NodeSpec:
    return NodeSpec(
        name=name, executable=name, module=f"cinempc.nodes.{name}", parameter_files=("nodes.yaml",) + files,
        remappings=tuple(remappings), parameters=tuple(parameters), lifecycle=lifecycle,
    )


_MPC_REMAP = ((Topics.SUBJECTS, Topics.PERCEPTION_SUBJECTS),)

_COMMON_RECORDED = (
    Topics.CAMERA_INFO, Topics.CAMERA_POSE, Topics.ODOMETRY, Topics.ACCEL, Topics.CAMERA_STATE, Topics.SETPOINT,
    Topics.PERCEPTION_SUBJECTS, Topics.DETECTIONS, Topics.PERCEPTION_EVENTS, Topics.SHOT, Topics.HOLD,
    Topics.SUBJECT_NAMES, Topics.SUBJECT_PINS,
    Topics.PLAN_PATH,
    Topics.PLAN_TRAJECTORY,
    Topics.MPC_STATUS, Topics.DIAGNOSTICS, Topics.TF, Topics.TF_STATIC,
)

GRAPHS: dict[str, Graph] = {
    "sim": Graph(
        name="sim",
        description="PyBullet simulator + perception + MPC + director (the whole product, simulated)",
        nodes=(
            # the simulator's clock drives the graph, so it alone runs on wall time
            _node("sim_node", ("sim.yaml",), parameters=(("use_sim_time", False),)),
            _node("perception_node", ("vehicle.yaml", "perception.yaml")),
            _node("mpc_node", ("vehicle.yaml", "mpc.yaml"), remappings=_MPC_REMAP),
            _node("director_node", ("vehicle.yaml", "director.yaml"), lifecycle=False),
        ),
        use_sim_time=True,
        recorded_topics=_COMMON_RECORDED + (Topics.GROUND_TRUTH, Topics.OBSTACLES, Topics.CLOCK),
    ),
    "drone": Graph(
        name="drone",
        description="Companion computer: camera driver topics in, perception + MPC + director + MAVLink bridge",
        nodes=(
            _node("perception_node", ("vehicle.yaml", "perception.yaml")),
            _node("mpc_node", ("vehicle.yaml", "mpc.yaml"), remappings=_MPC_REMAP),
            _node("director_node", ("vehicle.yaml", "director.yaml"), lifecycle=False),
            _node("mavlink_bridge_node", ("vehicle.yaml", "mavlink.yaml")),
        ),
        use_sim_time=False,
        recorded_topics=_COMMON_RECORDED + (Topics.LINK_EVENTS,),
    ),
}


def graph(name: str) -> Graph:
    """A graph by name; an unknown name lists the known ones."""
    if name not in GRAPHS:
        raise KeyError(f"unknown graph {name!r}; known: {', '.join(sorted(GRAPHS))}")
    return GRAPHS[name]


def node_parameters(spec: NodeSpec, graph_: Graph) -> dict[str, object]:
    """Parameters given on top of the files: ``use_sim_time`` of the graph, then the node's overrides."""
    return {"use_sim_time": graph_.use_sim_time, **spec.parameter_dict}


def normalise_namespace(namespace: str | None) -> str:
    """``drone1`` / ``/drone1/`` -> ``/drone1``; empty -> ``""`` (the root). Rejects names ROS refuses."""
    namespace = (namespace or "").strip().strip("/")
    if not namespace:
        return ""
    for part in namespace.split("/"):
        if not part or not (part[0].isalpha() or part[0] == "_") or not all(c.isalnum() or c == "_" for c in part):
            raise ValueError(
                f"invalid namespace {namespace!r}: use letters, digits and underscores, not starting with a digit"
            )
    return "/" + namespace


def ros_arguments(
    spec: NodeSpec, graph_: Graph, parameter_paths: list[str], namespace: str = "", extra: dict | None = None,
) -> list[str]:
    """The ``--ros-args`` a process needs to become this node -- what ``launch_ros`` generates.

    ``parameter_paths`` are the resolved paths of ``spec.parameter_files`` (same order).
    """
    args = ["--ros-args", "-r", f"__node:={spec.name}"]
    namespace = normalise_namespace(namespace)
    if namespace:
        args += ["-r", f"__ns:={namespace}"]
    for path in parameter_paths:
        args += ["--params-file", str(path)]
    for key, value in {**node_parameters(spec, graph_), **(extra or {})}.items():
        args += ["-p", f"{key}:={_yaml_scalar(value)}"]
    for source, target in spec.remappings:
        args += ["-r", f"{source}:={target}"]
    return args


def resolve_topic(topic: str, namespace: str = "") -> str:
    """The absolute name of a graph topic under a namespace (absolute topics stay where they are)."""
    if topic.startswith("/"):
        return topic
    namespace = normalise_namespace(namespace)
    return f"{namespace}/{topic}"


def recorder_command(graph_: Graph, output_dir: str, namespace: str = "") -> list[str]:
    """``ros2 bag record`` for a real ROS install (the launch files' ``record:=DIR``): MCAP, the graph's topics."""
    return ["ros2", "bag", "record", "-s", "mcap", "-o", output_dir,
            *[resolve_topic(t, namespace) for t in graph_.recorded_topics]]


def _yaml_scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
