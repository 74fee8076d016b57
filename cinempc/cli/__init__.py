"""The ``cinempc`` command line: one sub-command per module in this package.

Each sub-command module exposes ``register(subparsers)`` and sets ``func`` on
its parser; heavy imports happen inside ``func`` so ``cinempc --help`` and the
light commands (optics, shot) start instantly.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys


def command_modules() -> list[str]:
    """Every sub-command module in this package (a new file is a new command)."""
    return sorted(info.name for info in pkgutil.iter_modules(__path__) if not info.name.startswith("_"))


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (also used by the docs and tests)."""
    from cinempc import __version__

    parser = argparse.ArgumentParser(
        prog="cinempc", description="Autonomous drone cinematography: MPC over drone pose and lens."
    )
    parser.add_argument("--version", action="version", version=f"cinempc {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in command_modules():
        importlib.import_module(f"cinempc.cli.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``cinempc`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except (KeyError, ValueError, FileNotFoundError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"cinempc {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
