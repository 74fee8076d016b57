"""What every cinempc node shares: parameters as nested dicts, QoS profiles, guarded callbacks, main().

Why a base: the nodes are thin adapters, so the repeated parts (turning ``--params-file``
values into the cores' pydantic models, dropping malformed messages with a log line instead
of dying, clean shutdown on Ctrl-C/SIGTERM, lifecycle autostart) live here once.
"""

from __future__ import annotations

import faulthandler
import functools
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

import rclpy
from rcl_interfaces.msg import SetParametersResult
from rclpy.clock import Clock, ClockType
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor, SingleThreadedExecutor
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.node import Node
from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
    qos_profile_sensor_data,
)

from cinempc.config import unflatten_parameters

# Latched topics (shot, hold, obstacles): a node that starts late still gets the last value.
LATCHED_QOS = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST, durability=DurabilityPolicy.TRANSIENT_LOCAL,
                         reliability=ReliabilityPolicy.RELIABLE)
# Camera images: best effort, newest only (REP-2003 sensor data).
SENSOR_QOS = qos_profile_sensor_data
# State, setpoints, subjects: reliable, a short queue (stale control data is worse than none).
CONTROL_QOS = QoSProfile(depth=5, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE)


def nested_parameters(node: Node, prefix: str | None = None) -> dict[str, Any]:
    """The node's parameters as the nested dict the YAML file had (optionally one section of it)."""
    flat = {name: parameter.value for name, parameter in node._parameters.items()}  # noqa: SLF001 -- no public bulk getter
    nested = unflatten_parameters(flat)
    if prefix is None:
        return nested
    if prefix not in nested or not isinstance(nested[prefix], dict):
        raise ValueError(f"node {node.get_name()}: no '{prefix}' parameters (is its parameter file passed?)")
    return nested[prefix]


def section(flat_updates: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """``base`` (nested) with dotted ``flat_updates`` applied -- to validate a parameter change before it lands."""
    import copy

    merged = copy.deepcopy(base)
    for name, value in flat_updates.items():
        node = merged
        *parents, leaf = name.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return merged


class DropCounter:
    """Counts and logs (throttled) messages dropped as malformed -- the 'log and drop' policy."""

    def __init__(self, node: Node) -> None:
        self._node = node
        self.counts: dict[str, int] = {}
        self._last_log_s: dict[str, float] = {}

    def drop(self, topic: str, reason: str) -> None:
        self.counts[topic] = self.counts.get(topic, 0) + 1
        now = time.monotonic()
        if now - self._last_log_s.get(topic, -1e9) >= 1.0:  # at most one line per topic per second
            self._last_log_s[topic] = now
            self._node.get_logger().warning(
                f"dropped malformed message on {topic} ({self.counts[topic]} so far): {reason}"
            )

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def guarded(topic: str) -> Callable:
    """Decorate a subscription callback: a ValueError (malformed message) is logged and the message dropped.

    Any other exception is a bug: it is logged with its traceback and also dropped, so one bad
    message can never take the node (and the drone's control loop) down.
    """

    def decorate(callback: Callable) -> Callable:
        @functools.wraps(callback)
        def wrapper(self, msg) -> None:
            try:
                callback(self, msg)
            except ValueError as exc:
                self.drops.drop(topic, str(exc))
            except Exception as exc:  # noqa: BLE001 -- see docstring
                self.get_logger().error(f"callback on {topic} failed: {exc!r}")
                self.drops.drop(topic, repr(exc))

        return wrapper

    return decorate


class CineLifecycleNode(LifecycleNode):
    """A lifecycle node that (by default) configures and activates itself.

    ``autostart`` (``nodes.yaml``) mirrors the Nav2 lifecycle manager's option: on a
    companion computer a supervisor may instead drive ``configure``/``activate`` via the
    standard ``lifecycle_msgs`` services.
    """

    # parameters a running node applies itself (see ``runtime_parameter``); any other change is refused
    RUNTIME_SECTIONS: tuple[str, ...] = ()
    # parameters that are never a node's configuration (ROS's own)
    ALWAYS_SETTABLE = ("use_sim_time", "start_type_description_service")

    def __init__(self, name: str, **kwargs: Any) -> None:
        super().__init__(name, automatically_declare_parameters_from_overrides=True,
                         allow_undeclared_parameters=False, **kwargs)
        self.drops = DropCounter(self)
        self._configured = False
        self._retry_timer = None
        self._before_configure: set | None = None
        if not self.has_parameter("autostart"):
            self.declare_parameter("autostart", True)
        self.add_on_set_parameters_callback(self._refuse_unapplied_parameters)

    # ----------------------------------------------------------------- parameters
    def _refuse_unapplied_parameters(self, parameters) -> SetParametersResult:
        """A change this node would not apply while configured is refused with the reason, never ignored."""
        if self._before_configure is None:  # unconfigured: configure reads every parameter
            return SetParametersResult(successful=True)
        ignored = [p.name for p in parameters if p.name not in self.ALWAYS_SETTABLE
                   and p.name.split(".")[0] not in self.RUNTIME_SECTIONS and not self.runtime_parameter(p.name)]
        if ignored:
            return SetParametersResult(successful=False, reason=(
                f"{ignored} cannot change while {self.get_name()} is configured: deactivate, clean up, set it and "
                "configure again"))
        return SetParametersResult(successful=True)

    def runtime_parameter(self, name: str) -> bool:
        """Whether this node applies a change of ``name`` while configured (override per node)."""
        return False

    # ----------------------------------------------------------------- lifecycle
    def _entities(self) -> set:
        return {*self.subscriptions, *self.publishers, *self.services, *self.timers, *self.clients}

    def begin_configure(self) -> None:
        """Call first in ``on_configure``: what is created from here on, cleanup destroys."""
        self._before_configure = self._entities()

    def release_configured(self) -> None:
        """Destroy every subscription, publisher, service, client and timer created since ``begin_configure``."""
        if self._before_configure is None:
            return
        for entity in self._entities() - self._before_configure:
            if entity in set(self.timers):
                self.destroy_timer(entity)
            elif entity in set(self.subscriptions):
                self.destroy_subscription(entity)
            elif entity in set(self.publishers):
                self.destroy_lifecycle_publisher(entity)  # also plain publishers: it tolerates unmanaged ones
            elif entity in set(self.services):
                self.destroy_service(entity)
            else:
                self.destroy_client(entity)
        self._before_configure = None
        self._configured = False

    def forget_configuration(self) -> None:
        """Drop what ``on_configure`` built besides ROS entities (override per node)."""

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Undo ``on_configure``: no subscription, timer or publisher survives into the next configure."""
        self.forget_configuration()
        self.release_configured()
        return TransitionCallbackReturn.SUCCESS

    def autostart(self) -> None:
        """Configure and activate; a failed step is retried every ``autostart_retry_s`` (0: never).

        Why retry: on a companion computer the autopilot, the camera or a copied weights file may
        appear after the node started; the node keeps its place in the graph and comes up then.
        """
        if not self.get_parameter("autostart").value:
            return
        if not self._bring_up():
            retry_s = float(self.get_parameter("autostart_retry_s").value) if self.has_parameter(
                "autostart_retry_s") else 0.0
            if retry_s > 0:
                self._retry_timer = self.create_timer(retry_s, self._retry_bring_up,
                                                      clock=Clock(clock_type=ClockType.STEADY_TIME))

    def _bring_up(self) -> bool:
        if not self._configured:
            if self.trigger_configure() != TransitionCallbackReturn.SUCCESS:
                self.get_logger().error("configure failed; staying unconfigured (see the error above)")
                return False
            self._configured = True
        if self.trigger_activate() != TransitionCallbackReturn.SUCCESS:
            self.get_logger().error("activate failed; staying inactive (see the error above)")
            return False
        return True

    def _retry_bring_up(self) -> None:
        if self._bring_up():
            self.destroy_timer(self._retry_timer)
            self.get_logger().info("up after a retry")

    def node_params(self) -> dict[str, Any]:
        """This node's own settings: the ``node`` section of ``config/nodes.yaml``."""
        return nested_parameters(self, "node")

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        """From any state: stop what activate and configure started, as deactivate + cleanup would."""
        self.forget_configuration()
        self.release_configured()
        return TransitionCallbackReturn.SUCCESS


# A node still alive this long after Ctrl-C/SIGTERM writes every thread's stack to its log, so a
# shutdown that hangs (the supervisor then escalates to SIGTERM/SIGKILL) says where it hung.
SHUTDOWN_STACK_REPORT_S = 5.0


def run(node_factory: Callable[[], Node], args: list[str] | None = None, threads: int = 1) -> int:
    """Init rclpy, build the node, spin until Ctrl-C/SIGTERM, shut down cleanly; the process exit code.

    ``kill -USR1 <pid>`` writes every thread's Python stack to the node's log at any time
    (``faulthandler``): the tool for a node that looks stuck on a companion computer.
    """
    if hasattr(signal, "SIGUSR1"):
        faulthandler.register(signal.SIGUSR1, all_threads=True)
    rclpy.init(args=args if args is not None else sys.argv)
    node = None
    try:
        node = node_factory()
        if isinstance(node, CineLifecycleNode):
            node.autostart()
        executor = MultiThreadedExecutor(num_threads=threads) if threads > 1 else SingleThreadedExecutor()
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception:
        if rclpy.ok():  # a real error; otherwise SIGTERM shut the context down under a spinning executor
            raise
    finally:
        # cancelled only by the process ending: covers the interpreter's join of executor threads too
        faulthandler.dump_traceback_later(SHUTDOWN_STACK_REPORT_S)
        if node is not None:
            close = getattr(node, "close", None)
            if close is not None:
                try:
                    close()
                except Exception as exc:  # noqa: BLE001 -- shutting down anyway
                    print(f"{node.get_name()}: error while closing: {exc!r}", file=sys.stderr)
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    return 0
