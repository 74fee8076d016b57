"""``cinempc scenes``: procedurally generated scenario files (``cinempc_sim.scene_generator``)."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``scenes`` sub-command and its actions."""
    parser = subparsers.add_parser("scenes", help="generate random, valid scenario files from a seed")
    actions = parser.add_subparsers(dest="scenes_action", metavar="ACTION", required=True)
    generate = actions.add_parser(
        "generate", help="write COUNT generated scenarios to a folder",
        description="Scene i is drawn from seed SEED+i alone and written to OUT/<prefix>_<SEED+i>.yaml (prefix "
        "and every range: config/scene_generator.yaml). With --shot the scenes fit that shot: its subjects exist, "
        "a rack focus gets two actors at different depths, and it is each scene's default_shot.",
    )
    generate.add_argument("--seed", type=int, default=0, help="seed of the first scene (default 0)")
    generate.add_argument("--count", type=int, default=1, help="how many scenes (default 1)")
    generate.add_argument("--out", required=True, help="output folder (created if missing)")
    generate.add_argument("--shot", help="preset name or ShotSpec JSON/YAML file the scenes must fit")
    generate.add_argument("--duration-s", type=float, help="scene length in seconds (default: drawn per scene)")
    generate.set_defaults(func=run_generate)


def run_generate(args: argparse.Namespace) -> int:
    """Generate, write one YAML file per scene, print where they are."""
    from cinempc.shot import load_shot
    from cinempc_sim.scene_generator import generate_scene, write_scenario

    if args.count < 1:
        raise ValueError(f"--count must be at least 1, got {args.count}")
    if args.seed < 0:
        raise ValueError(f"--seed must be >= 0, got {args.seed}")
    shot = load_shot(args.shot) if args.shot else None
    out = Path(args.out)
    paths = []
    for scene_seed in range(args.seed, args.seed + args.count):
        scenario = generate_scene(scene_seed, shot, args.duration_s)
        paths.append(write_scenario(scenario, out / f"{scenario.name}.yaml"))
    names = paths[0].name if len(paths) == 1 else f"{paths[0].name} .. {paths[-1].name}"
    print(f"wrote {len(paths)} scene(s) to {out}/: {names}")
    print(f"fly them: cinempc eval --suite {out} --out runs/<name>")
    return 0
