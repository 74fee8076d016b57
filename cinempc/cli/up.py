"""``cinempc up {sim,drone}``: start a node graph as separate processes over DDS (``ros2 launch`` without launch).

The node list, executables, parameter files and remappings come from ``cinempc.graph``,
exactly what ``launch/*.launch.py`` read, so ``cinempc up sim`` and
``ros2 launch cinempc sim.launch.py`` start the same graph.  Ctrl-C or SIGTERM stops every
node with SIGINT (their clean shutdown: lifecycle, bag finalised), then SIGTERM/SIGKILL
whatever is still alive after ``--grace-s``.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path


@dataclass
class Process:
    """One started node."""

    name: str
    argv: list[str]
    popen: subprocess.Popen

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``up`` sub-command."""
    from cinempc.graph import GRAPHS

    parser = subparsers.add_parser(
        "up", help="start the ROS 2 node graph (sim or drone) as separate processes",
        description="Start the same nodes with the same parameter files as the launch files, each in its own "
        "process over DDS; Ctrl-C stops them cleanly.",
    )
    parser.add_argument("graph", choices=sorted(GRAPHS), help="which graph (cinempc/graph.py)")
    parser.add_argument("--namespace", default="", help="put the whole rig under /NS (several drones, one domain)")
    parser.add_argument("--record", type=Path, metavar="DIR", help="record a rosbag2 (MCAP) of the run into DIR")
    parser.add_argument("--param", action="append", default=[], metavar="NODE:NAME=VALUE",
                        help="override a parameter of one node, e.g. sim_node:node.scenario=runner (repeatable)")
    parser.add_argument("--site", type=Path, metavar="FIELD.yaml",
                        help="drone only: overlay a site file (fence anchored at the autopilot's home, camera, "
                        "MAVLink URL/key, detector); --param still wins")
    parser.add_argument("--ground-truth-subjects", action="store_true",
                        help="sim only: feed the MPC the simulator's true subjects instead of perception's")
    parser.add_argument("--duration-s", type=float, help="stop after this many seconds (default: until Ctrl-C)")
    parser.add_argument("--grace-s", type=float, default=10.0, help="how long nodes get to exit after SIGINT")
    parser.add_argument("--dry-run", action="store_true", help="print the commands, start nothing")
    parser.set_defaults(func=run)


def parse_overrides(items: list[str], node_names: list[str]) -> dict[str, dict[str, str]]:
    """``NODE:NAME=VALUE`` strings -> ``{node: {name: value}}`` (ValueError names the bad one)."""
    overrides: dict[str, dict[str, str]] = {}
    for item in items:
        node, sep, assignment = item.partition(":")
        name, eq, value = assignment.partition("=")
        if not sep or not eq or not name:
            raise ValueError(f"--param {item!r}: expected NODE:NAME=VALUE")
        if node not in node_names:
            raise ValueError(f"--param {item!r}: no node {node!r} in this graph ({', '.join(node_names)})")
        overrides.setdefault(node, {})[name] = value
    return overrides


def commands(graph_name: str, namespace: str = "", overrides: dict[str, dict[str, str]] | None = None,
             ground_truth_subjects: bool = False, python: str = sys.executable) -> list[tuple[str, list[str]]]:
    """``(node name, argv)`` for every node of a graph -- the one place ``cinempc up`` builds command lines."""
    from cinempc.config import resolve_config_path
    from cinempc.graph import Topics, graph, ros_arguments

    graph_ = graph(graph_name)
    overrides = overrides or {}
    result = []
    if ground_truth_subjects and graph_name != "sim":
        raise ValueError("--ground-truth-subjects needs the sim graph")
    for spec in graph_.nodes:
        if ground_truth_subjects and spec.name == "mpc_node":  # ROS applies the first matching rule: replace it
            remaps = {**spec.remapping_dict, Topics.SUBJECTS: f"{Topics.GROUND_TRUTH}/subjects"}
            spec = replace(spec, remappings=tuple(remaps.items()))
        paths = [str(resolve_config_path(name)) for name in spec.parameter_files]
        if overrides.get(spec.name):
            paths.append(str(write_override_file(spec.name, overrides[spec.name])))
        argv = [python, "-m", spec.module, *ros_arguments(spec, graph_, paths, namespace)]
        result.append((spec.name, argv))
    return result


def site_overrides(site_file: Path, graph_, overrides: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """``--site``: each node gets the site's values for the config files it reads (cinempc.site.site_parameters)
    and its own (cinempc.site.site_node_parameters: the rally point), anchored at the autopilot's home; an explicit
    ``--param`` keeps precedence.

    The one overlay of a site file onto the graph: ``cinempc up drone --site`` and the launch files'
    ``site:=FIELD.yaml`` (:func:`cinempc.nodes.launch_support.node_actions`) both call it.
    """
    import json

    from cinempc.preflight import anchor_site
    from cinempc.site import load_site, site_node_parameters, site_parameters

    if graph_.name != "drone":
        raise ValueError(f"a site file ({site_file}) needs the drone graph, not {graph_.name!r} (the simulator has "
                         "no GPS home)")
    resolved = anchor_site(load_site(site_file))
    per_file, per_node = site_parameters(resolved), site_node_parameters(resolved)
    merged = {node: dict(values) for node, values in overrides.items()}
    for spec in graph_.nodes:
        for file_name in spec.parameter_files:
            for name, value in per_file.get(file_name, {}).items():
                merged.setdefault(spec.name, {}).setdefault(name, json.dumps(value))
        for name, value in per_node.get(spec.name, {}).items():  # the rally point, for the MPC and bridge nodes
            merged.setdefault(spec.name, {}).setdefault(name, json.dumps(value))
        if "director.yaml" in spec.parameter_files:  # the director page gets the operator panel for this site
            merged.setdefault(spec.name, {}).setdefault("server.operator_site", json.dumps(str(site_file.resolve())))
            merged[spec.name].setdefault("server.operator_offboard_via_ros", "true")
    return merged


def write_override_file(node_name: str, values: dict[str, str]) -> Path:
    """``--param`` values as a parameter file for one node, passed after the config files.

    Why a file and not ``-p``: rcl lets a node-specific entry of a parameter file (``/**/mpc_node``)
    win over a ``-p`` value, whatever the order, so an override must be just as specific.
    Values are YAML scalars (``false``, ``0.5``, ``runner``).
    """
    import tempfile

    import yaml

    from cinempc.config import unflatten_parameters

    nested = unflatten_parameters({name: yaml.safe_load(value) for name, value in values.items()})
    handle = tempfile.NamedTemporaryFile("w", prefix=f"cinempc-{node_name}-", suffix=".yaml", delete=False)
    with handle:
        yaml.safe_dump({f"/**/{node_name}": {"ros__parameters": nested}}, handle)
    return Path(handle.name)


def _remove_override_files(argvs: list[list[str]]) -> None:
    import tempfile

    temp = Path(tempfile.gettempdir())
    for argv in argvs:
        for flag, value in zip(argv, argv[1:], strict=False):
            path = Path(value)
            if flag == "--params-file" and path.parent == temp and path.name.startswith("cinempc-"):
                path.unlink(missing_ok=True)


def recorder_argv(graph_name: str, output: Path, namespace: str = "", python: str = sys.executable) -> list[str]:
    from cinempc.graph import graph, normalise_namespace

    argv = [python, "-m", "cinempc.nodes.recorder", "--output", str(output), "--topics",
            *graph(graph_name).recorded_topics, "--ros-args", "-r", "__node:=bag_recorder"]
    namespace = normalise_namespace(namespace)
    if namespace:
        argv += ["-r", f"__ns:={namespace}"]
    return argv


def stop_all(processes: list[Process], grace_s: float) -> None:
    """SIGINT every node (clean shutdown), then SIGTERM, then SIGKILL the stragglers."""
    for sig, wait_s in ((signal.SIGINT, grace_s), (signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0)):
        alive = [p for p in processes if p.alive]
        if not alive:
            return
        for process in alive:
            try:
                process.popen.send_signal(sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline and any(p.alive for p in alive):
            time.sleep(0.05)
        if sig != signal.SIGINT and any(p.alive for p in alive):
            print(f"cinempc up: {[p.name for p in alive if p.alive]} ignored {sig.name}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    """Start the graph, wait for Ctrl-C/SIGTERM/--duration-s or a node's death, stop everything."""
    from cinempc.graph import graph, normalise_namespace

    graph_ = graph(args.graph)
    namespace = normalise_namespace(args.namespace)
    overrides = parse_overrides(args.param, [spec.name for spec in graph_.nodes])
    if args.site is not None:
        overrides = site_overrides(args.site, graph_, overrides)
    planned = commands(args.graph, namespace, overrides, args.ground_truth_subjects)
    if args.record is not None:
        if args.record.exists():
            raise ValueError(f"--record {args.record}: already exists (a rosbag2 is written into a new directory)")
        args.record.parent.mkdir(parents=True, exist_ok=True)
        planned.append(("bag_recorder", recorder_argv(args.graph, args.record, namespace)))
    if args.dry_run:
        for name, argv in planned:
            print(f"{name}: {' '.join(argv)}")
        _remove_override_files([argv for _, argv in planned])
        return 0

    stop = {"requested": False}

    def request_stop(signum, frame) -> None:  # noqa: ARG001 -- signal handler signature
        stop["requested"] = True

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    processes: list[Process] = []
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    failed: list[str] = []
    try:
        # recorder first so it sees the latched topics and the first messages
        for name, argv in sorted(planned, key=lambda item: item[0] != "bag_recorder"):
            # own process group: the terminal's Ctrl-C reaches us, and we stop the nodes in order
            popen = subprocess.Popen(argv, env=env, start_new_session=True)
            processes.append(Process(name, argv, popen))
            print(f"cinempc up: started {name} (pid {popen.pid})", flush=True)
        started = time.monotonic()
        while not stop["requested"]:
            for process in processes:
                if not process.alive and process.name not in failed:
                    failed.append(process.name)
                    print(f"cinempc up: {process.name} exited with {process.popen.returncode}", file=sys.stderr,
                          flush=True)
            if args.duration_s is not None and time.monotonic() - started >= args.duration_s:
                break
            if processes and all(not p.alive for p in processes):
                break
            time.sleep(0.1)
    finally:
        print("cinempc up: stopping", flush=True)
        stop_all(processes, args.grace_s)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _remove_override_files([argv for _, argv in planned])
    if args.record is not None:
        print(f"cinempc up: bag in {args.record}")
    return 1 if failed else 0
