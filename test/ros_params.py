"""Parameters for a node built inside a test process: the shipped config files, not started on its own."""

from __future__ import annotations

from cinempc.config import flatten_parameters, load_parameters


def node_overrides(node: str, files: tuple[str, ...], **extra):
    """``nodes.yaml`` and ``files`` for ``node`` as rclpy parameter overrides, ``autostart`` off, ``extra`` on top."""
    from rclpy.parameter import Parameter

    values: dict = {}
    for name in ("nodes.yaml",) + files:
        values.update(flatten_parameters(load_parameters(name, f"/**/{node}")))
    values.update({"autostart": False, **extra})
    return [Parameter(k, value=v) for k, v in values.items()]
