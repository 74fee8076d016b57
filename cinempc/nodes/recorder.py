"""``bag_recorder``: a rosbag2 (MCAP) recorder for ``cinempc up --record DIR``, built on ``rosbags``.

``ros2 bag`` is not installable here (no rosbag2_py wheel), so this node subscribes to the
graph's topics with ``raw=True`` and writes the CDR bytes as they came off the wire into an
MCAP rosbag2 (metadata version 9) with every topic's schema: the Jazzy type store's definitions,
plus this install's own interface packages (``cinempc_interfaces``, ``vision_msgs``) read from
their installed ``.msg`` files, so the bag decodes with its field names in any MCAP reader
(``mcap-ros2-support``, Foxglove, ``ros2 bag``).  Timestamps are receive times, as
``ros2 bag record`` writes them.  On a real ROS install the launch files use ``ros2 bag record``
itself (``cinempc.graph.recorder_command``).

The bag is finalised (``metadata.yaml`` written) on Ctrl-C/SIGTERM; a SIGKILL leaves an MCAP
file that Foxglove still reads but without ``metadata.yaml``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from pathlib import Path

from rclpy.node import Node
from rclpy.utilities import remove_ros_args

from cinempc.graph import TOPIC_TYPES, Topics
from cinempc.nodes.base import CONTROL_QOS, LATCHED_QOS, SENSOR_QOS, run

LATCHED_TOPICS = {Topics.SHOT, Topics.HOLD, Topics.SUBJECT_NAMES, Topics.SUBJECT_PINS, Topics.OBSTACLES,
                  Topics.DEFAULT_SHOT, Topics.TF_STATIC}
SENSOR_TOPICS = {Topics.IMAGE, Topics.DEPTH}


def message_class(type_name: str):
    """``sensor_msgs/msg/Image`` -> the rclpy message class."""
    package, _, name = type_name.split("/")
    return getattr(importlib.import_module(f"{package}.msg"), name)


def message_directory(package: str) -> Path:
    """``share/PACKAGE/msg`` of an installed interface package: ROS prefixes first, then this venv's."""
    prefixes = [p for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p] + [sys.prefix]
    for prefix in prefixes:
        candidate = Path(prefix) / "share" / package / "msg"
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"no message definitions of {package} under {prefixes} (run `make install`)")


def typestore_for(type_names: list[str]):
    """The Jazzy type store plus the installed definitions of any package it lacks (all its messages)."""
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    typestore = get_typestore(Stores.ROS2_JAZZY)
    missing = sorted({name.split("/")[0] for name in type_names if name not in typestore.fielddefs})
    for package in missing:
        definitions: dict = {}
        for path in sorted(message_directory(package).glob("*.msg")):
            definitions.update(get_types_from_msg(path.read_text(encoding="utf-8"), f"{package}/msg/{path.stem}"))
        typestore.register(definitions)
    return typestore


class BagRecorder(Node):
    """Subscribes raw to each topic and appends the bytes to an MCAP rosbag2."""

    def __init__(self, output_dir: Path, topics: list[str]) -> None:
        super().__init__("bag_recorder")
        from rosbags.rosbag2 import StoragePlugin, Writer

        unknown = [t for t in topics if t not in TOPIC_TYPES]
        if unknown:
            raise ValueError(f"no known message type for topics {unknown}; known: {sorted(TOPIC_TYPES)}")
        self.typestore = typestore_for([TOPIC_TYPES[t] for t in topics])
        self.writer = Writer(output_dir, version=9, storage_plugin=StoragePlugin.MCAP)
        self.writer.open()
        self.counts: dict[str, int] = {}
        for topic in topics:
            type_name = TOPIC_TYPES[topic]
            qos = LATCHED_QOS if topic in LATCHED_TOPICS else SENSOR_QOS if topic in SENSOR_TOPICS else CONTROL_QOS
            resolved = self.resolve_topic_name(topic)
            connection = self.writer.add_connection(resolved, type_name, typestore=self.typestore)
            self.counts[resolved] = 0
            self.create_subscription(message_class(type_name), topic, self._writer_for(connection, resolved), qos,
                                     raw=True)
        self.get_logger().info(f"recording {len(topics)} topics to {output_dir} (MCAP)")

    def _writer_for(self, connection, topic: str):
        def write(data: bytes) -> None:
            self.writer.write(connection, time.time_ns(), data)
            self.counts[topic] += 1
            if self.counts[topic] == 1:  # the operator sees each stream reach the bag (and a latched one arrive)
                self.get_logger().info(f"first message on {topic}")

        return write

    def close(self) -> None:
        self.writer.close()
        self.get_logger().info(f"bag closed: {sum(self.counts.values())} messages")


def main(args: list[str] | None = None) -> int:
    argv = list(args if args is not None else sys.argv)
    parser = argparse.ArgumentParser(prog="bag_recorder", description=__doc__.splitlines()[0])
    parser.add_argument("--output", required=True, type=Path, help="bag directory to create (must not exist)")
    parser.add_argument("--topics", nargs="+", required=True, help="graph topic names (relative to the namespace)")
    options = parser.parse_args(remove_ros_args(argv)[1:])
    if options.output.exists():
        parser.error(f"{options.output} exists: rosbag2 writes a new directory")
    return run(lambda: BagRecorder(options.output, options.topics), argv)


if __name__ == "__main__":
    raise SystemExit(main())
