"""``cinempc shot``: list presets, validate shot files, export the JSON Schema."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

# what `cinempc parse --json` prints for shots ("unknown_subjects" and "warning" when a subject is unknown)
PARSE_ANSWER_KEYS = {"shots", "ignored", "unknown_subjects", "warning"}


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``shot`` sub-command and its actions."""
    parser = subparsers.add_parser("shot", help="shot presets, validation and schema")
    actions = parser.add_subparsers(dest="shot_action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="list the named presets of config/shots.yaml")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=run_list)
    validate = actions.add_parser("validate", help="validate a ShotSpec JSON/YAML file (or a one-shot "
                                  "`cinempc parse --json` answer)")
    validate.add_argument("file")
    validate.set_defaults(func=run_validate)
    schema = actions.add_parser("schema", help="write the ShotSpec JSON Schema")
    schema.add_argument("--out", default="docs/shot_spec.schema.json")
    schema.set_defaults(func=run_schema)


def _read_document(path: Path) -> Any:
    """A shot file's JSON (or YAML) document; None when it is neither (the shot loader then says why)."""
    import yaml

    text = path.read_text(encoding="utf-8")
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError:
            return None


def shot_from_parse_answer(document: dict, source: str):
    """The one shot of a ``cinempc parse --json`` answer; ShotSpecError naming ``.shots[N]`` otherwise."""
    from pydantic import ValidationError

    from cinempc.shot import ShotSpec, ShotSpecError, describe_validation_error

    shots = document["shots"]
    if not isinstance(shots, list) or not shots:
        raise ShotSpecError(f"{source}: a parse answer's 'shots' must be a non-empty list")
    if len(shots) > 1:
        picks = ", ".join(f".shots[{i}]" for i in range(len(shots)))
        raise ShotSpecError(f"{source}: a parse answer with {len(shots)} shots ({picks}); a shot file holds one: "
                            f"take one, e.g. `jq '.shots[0]' {source} > shot.json`")
    if not isinstance(shots[0], dict):
        raise ShotSpecError(f"{source}: .shots[0] must be a mapping of fields, got {type(shots[0]).__name__}")
    try:
        return ShotSpec(**shots[0])
    except ValidationError as exc:
        raise ShotSpecError(f"{source}: .shots[0]." + describe_validation_error(exc)) from exc


def load_shot_ref(ref: str):
    """A preset name, a ShotSpec file, or a file holding a parse answer with exactly one shot."""
    from cinempc.shot import ShotSpecError, load_shot

    path = Path(ref)
    if path.is_file():
        document = _read_document(path)
        if isinstance(document, dict) and "shots" in document and set(document) <= PARSE_ANSWER_KEYS:
            return shot_from_parse_answer(document, str(path))
        if isinstance(document, dict) and set(document) & {"command", "error"} and len(document) == 1:
            kind = next(iter(document))
            what = {"command": "a control command", "error": "an error (nothing to fly)"}[kind]
            raise ShotSpecError(f"{path}: a parse answer with {what} ({kind!r}), not a shot")
    return load_shot(ref)


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
    from cinempc.shot import ShotSpecError

    try:
        shot = load_shot_ref(args.file)
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
