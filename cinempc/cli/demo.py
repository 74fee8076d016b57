"""``cinempc demo`` (``make demo``): the product in one command.

Flies the default scenario's default shot headless with CineMPC, then with both baselines,
and writes runs/demo/{camera.mp4, metrics.json, plots.png, trajectory.csv, report.html}
(baselines under runs/demo/baselines/<name>/), showing a progress bar and printing where
everything is.  Scenario, duration and folder come from ``config/closed_loop.yaml`` ``demo``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``demo`` sub-command."""
    parser = subparsers.add_parser(
        "demo", help="fly the default scenario and shot with CineMPC and both baselines; write runs/demo/",
        description="The README's main command. Writes camera.mp4, metrics.json, plots.png and report.html "
        "(video, plots and metrics beside the two baselines).",
    )
    parser.add_argument("--scenario", help="scenario file or name (default: config/closed_loop.yaml demo.scenario)")
    parser.add_argument("--duration", type=float, help="seconds (default: config/closed_loop.yaml demo.duration_s)")
    parser.add_argument("--out", help="output folder (default: runs/demo)")
    parser.add_argument("--no-baselines", action="store_true", help="CineMPC only (faster)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cinempc.cli.sim import fly_and_report
    from cinempc.config import load_parameters

    settings = load_parameters("closed_loop.yaml")["demo"]
    scenario = args.scenario or settings["scenario"]
    duration = float(args.duration or settings["duration_s"])
    out = Path(args.out or settings["out_dir"])
    start = time.monotonic()
    print(f"cinempc demo: scenario {scenario}, {duration:g} s, CineMPC" + ("" if args.no_baselines else
          " + baselines extrinsics_only and follow"), flush=True)
    metrics = fly_and_report(scenario, None, "cinempc", duration, out, compare=not args.no_baselines)
    print()
    print(f"{'metric':<26}" + "".join(f"{name:>18}" for name in metrics))
    for key in ("composition_error_rms", "size_error_mean", "in_focus_fraction", "visible_fraction",
                "background_blur_px_mean", "collisions", "min_obstacle_distance_m", "solve_ms_p95",
                "real_time_factor"):
        cells = []
        for values in metrics.values():
            value = values[key]
            cells.append(f"{'n/a' if value is None else format(value, '.3g'):>18}")
        print(f"{key:<26}" + "".join(cells))
    print()
    for name in ("camera.mp4", "metrics.json", "plots.png", "trajectory.csv", "report.html"):
        print(f"  {out / name}")
    print(f"done in {time.monotonic() - start:.0f} s -- open {out / 'report.html'} in a browser")
    return 0
