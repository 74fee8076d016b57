"""``cinempc eval``: every scenario with its default shot x every controller -> table + bar chart."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``eval`` sub-command."""
    parser = subparsers.add_parser(
        "eval", help="run a scenario suite with every controller; write a comparison table and a bar chart",
        description="Writes OUT/results.csv, OUT/results.md, OUT/results.png and one run folder per scenario and "
        "controller. Metrics come from ground truth and never need frames, so nothing is rendered unless --video.",
    )
    parser.add_argument("--suite", default="sim/scenarios", help="folder of scenario YAML files (or one file)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--controllers", default="cinempc,extrinsics_only,follow",
                        help="comma-separated subset of cinempc,extrinsics_only,follow")
    parser.add_argument("--duration", type=float, help="force every run to this many seconds")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--video", action="store_true", help="also render and write each run's camera.mp4")
    parser.add_argument("--headless", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cinempc.cli.sim import ProgressBar
    from cinempc_sim.evaluation import evaluate_suite

    controllers = [c.strip() for c in args.controllers.split(",") if c.strip()]
    bar = ProgressBar("eval", enabled=not args.headless)
    records = evaluate_suite(args.suite, args.out, controllers, duration_s=args.duration, seed=args.seed,
                             video=args.video, progress=lambda label, f: bar(f, label))
    bar(1.0, "eval")
    out = Path(args.out)
    print((out / "results.md").read_text(encoding="utf-8"))
    print(f"wrote {out}/results.md, results.csv, results.png ({len(records)} runs)")
    return 0
