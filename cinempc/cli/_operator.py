"""``cinempc mavlink arm|takeoff|offboard|hold|land --site FIELD.yaml``: the operator's commands, no ROS needed.

Registered by :mod:`cinempc.cli.mavlink`; the rules are :mod:`cinempc.operator`'s.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = {
    "arm": "preflight, then arm the motors (explicit: --confirm or type ARM)",
    "takeoff": "preflight (armed on the ground), then take off to --altitude and report the hover",
    "offboard": "preflight (flying), then hand over to OFFBOARD/GUIDED holding position for --hold-s, then HOLD",
    "hold": "stop the offboard stream and hold position (never refused)",
    "land": "land where the vehicle is and wait for the disarm (never refused)",
}


def add_actions(actions: argparse._SubParsersAction) -> None:
    """Add the operator actions to ``cinempc mavlink``."""
    for name, text in HELP.items():
        parser = actions.add_parser(name, help=text, description=text + " (docs/first_flight.md)")
        parser.add_argument("--site", type=Path, required=True, help="the site file (FIELD.yaml)")
        if name == "arm":
            parser.add_argument("--confirm", action="store_true", help="arm without the typed confirmation")
        if name == "takeoff":
            parser.add_argument("--altitude", type=float, required=True, help="metres above home")
        if name == "offboard":
            parser.add_argument("--hold-s", type=float, default=5.0, help="how long to hold in OFFBOARD")
            parser.add_argument("--via-ros", action="store_true",
                                help="while `cinempc up drone` flies: preflight, then ask the bridge node to start "
                                "OFFBOARD with the MPC's stream (instead of this command's own hold stream)")
            parser.add_argument("--namespace", default="", help="the graph's --namespace (with --via-ros)")
        parser.set_defaults(func=run, operator_action=name)


def run(args: argparse.Namespace) -> int:
    from cinempc.operator import Action, operate
    from cinempc.site import load_site

    site = load_site(args.site)
    confirm = bool(getattr(args, "confirm", False))
    if args.operator_action == "arm" and not confirm:
        if sys.stdin.isatty():
            confirm = input(f"arm the motors of the vehicle at {site.name!r}? type ARM: ").strip() == "ARM"
        if not confirm:
            print("cinempc mavlink arm: not armed (arming needs --confirm or ARM typed at the prompt)",
                  file=sys.stderr)
            return 1

    def show(result) -> None:
        print(f"{'PASS' if result.passed else 'FAIL'}  {result.check.value}: {result.reason}", flush=True)

    handover = None
    if getattr(args, "via_ros", False):
        from cinempc.nodes.operator_client import call_operator_service

        def handover(bridge) -> tuple[bool, str]:  # the node streams the MPC; this link only checked
            return call_operator_service("offboard", args.namespace)

    outcome = operate(site, Action(args.operator_action), confirm=confirm, altitude_m=getattr(args, "altitude", None),
                      hold_s=getattr(args, "hold_s", 5.0), on_result=show, handover=handover)
    print(outcome.message, file=sys.stdout if outcome.done else sys.stderr)
    return 0 if outcome.done else 1
