"""``cinempc shot``: list presets, validate shot files, export the JSON Schema."""

from __future__ import annotations

import argparse
import json
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``shot`` sub-command and its actions."""
    parser = subparsers.add_parser("shot", help="shot presets, validation and schema")
    actions = parser.add_subparsers(dest="shot_action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="list the named presets of config/shots.yaml")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=run_list)
    validate = actions.add_parser("validate", help="validate a ShotSpec JSON/YAML file")
    validate.add_argument("file")
    validate.set_defaults(func=run_validate)
    schema = actions.add_parser("schema", help="write the ShotSpec JSON Schema")
    schema.add_argument("--out", default="docs/shot_spec.schema.json")
    schema.set_defaults(func=run_schema)


def run_list(args: argparse.Namespace) -> int:
    """Print the presets, one line each (or all of them as JSON)."""
    from cinempc.shot import presets

    shots = presets()
    if args.json:
        print(json.dumps({name: shot.model_dump(mode="json") for name, shot in shots.items()}, indent=2))
        return 0
    for name, shot in shots.items():
        move = shot.movement.type + (f" {shot.movement.direction}" if shot.movement.direction else "")
        print(f"{name:24s} {shot.framing:17s} {shot.angle:9s} {shot.side:11s} {move:28s} "
              f"dof={shot.focus.depth_of_field}")
    return 0


def run_validate(args: argparse.Namespace) -> int:
    """Validate a shot file; exit 2 with the field and allowed values on error."""
    from cinempc.shot import ShotSpecError, load_shot

    try:
        shot = load_shot(args.file)
    except ShotSpecError as exc:
        print(f"invalid shot: {exc}", file=sys.stderr)
        return 2
    print(f"valid: {shot.model_dump_json(exclude_none=True)}")
    return 0


def run_schema(args: argparse.Namespace) -> int:
    """Export the JSON Schema."""
    from cinempc.shot import export_schema

    print(f"wrote {export_schema(args.out)}")
    return 0
