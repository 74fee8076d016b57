"""``cinempc bench``: the benchmarks of every subsystem, one registry.

``cinempc bench mpc [--json]`` times the MPC; ``cinempc bench shots`` flies every shot
preset in generated scenes with every controller (``cinempc_sim.shot_bench``; its options,
but for ``--duration`` which ``bench sim`` shares, mean nothing to the other benchmarks);
``cinempc bench faults [--json]`` flies the fault-injection matrix (``--quick``: its CI subset);
``cinempc bench language [--json]`` is the parser's corpus accuracy and time per command
(``python -m cinempc.language.bench``);
``cinempc bench all`` runs every registered benchmark whose module exists (a subsystem not
built yet is skipped, not an error).  Benchmarks print numbers; they never assert timings.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys

# name -> "module:function"; the function takes the parsed args and returns a dict of numbers
REGISTRY: dict[str, str] = {
    "mpc": "cinempc.mpc.bench:run",
    "sim": "cinempc_sim.bench:run",
    "perception": "cinempc_sim.perception_bench:run",
    "shots": "cinempc_sim.shot_bench:run",
    "faults": "cinempc_sim.fault_bench:run",
    "language": "cinempc.language.bench:run",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``bench`` sub-command."""
    parser = subparsers.add_parser(
        "bench", help="run benchmarks (mpc, sim, perception, shots, faults, language or all)",
        description="Benchmarks print numbers (solve times, rates); run on an idle machine for meaningful timings.",
    )
    parser.add_argument("target", choices=[*REGISTRY, "all"], help="which benchmark")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--steps", type=int, help="mpc: closed-loop steps per shot (default 60)")
    parser.add_argument("--quick", action="store_true", help="a short run (smoke test of the benchmark itself)")
    parser.add_argument("--no-reference", action="store_true", help="mpc: skip the Opti+IPOPT reference path")
    shots = parser.add_argument_group("shots (every preset x generated scenes x controller)")
    shots.add_argument("--scenes", type=int, metavar="K", help="shots: generated scenes per preset (default 10)")
    shots.add_argument("--seed", type=int, metavar="S", help="shots: first scene seed; scene i uses S+i (default 1000)")
    shots.add_argument("--jobs", type=int, metavar="J", help="shots: local worker processes (default: every CPU)")
    shots.add_argument("--out", metavar="DIR", help="shots: output folder (default runs/bench_shots)")
    shots.add_argument("--presets", metavar="A,B", help="shots: comma-separated presets (default: all of shots.yaml)")
    shots.add_argument("--controllers", metavar="A,B",
                       help="shots: comma-separated controllers (default cinempc,extrinsics_only,follow)")
    shots.add_argument("--duration", type=float, metavar="D",
                       help="shots, sim: simulated seconds per run (shots default: the preset's, else 15)")
    shots.add_argument("--ray", metavar="auto|ADDRESS", help="shots: run the cells on a Ray cluster instead")
    parser.set_defaults(func=run)


def load(entry: str):
    """The benchmark function of a registry entry; ModuleNotFoundError when its module does not exist."""
    module_name, function = entry.split(":")
    return getattr(importlib.import_module(module_name), function)


def run(args: argparse.Namespace) -> int:
    """Run one benchmark or all of them and print the numbers."""
    names = list(REGISTRY) if args.target == "all" else [args.target]
    results: dict[str, dict] = {}
    for name in names:
        try:
            function = load(REGISTRY[name])
        except ModuleNotFoundError as exc:
            if args.target != "all":
                raise ValueError(f"benchmark {name!r} is not available: {exc}") from exc
            print(f"bench {name}: skipped ({exc})", file=sys.stderr)
            continue
        results[name] = function(args)
        if not args.json and name == "mpc":
            from cinempc.mpc.bench import format_text

            print(format_text(results[name]))
        elif not args.json and name in ("shots", "faults"):
            pass  # printed its own table
        elif not args.json:
            print(f"{name}: {json.dumps(results[name], default=str)}")
    if args.json:
        print(json.dumps(results[names[0]] if args.target != "all" else results, indent=2, default=str))
    return 0
