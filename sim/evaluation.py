"""``cinempc eval``: every scenario of a suite x every controller, graded by the same examiner.

Writes into the output folder::

    <scenario>/<controller>/{metrics.json, trajectory.csv, plots.png, run.json[, camera.mp4]}
    results.csv     one row per (scenario, controller) with every metric
    results.md      the same as a Markdown table, plus the per-scenario winner on the headline metrics
    results.png     bar chart: composition error, in-focus fraction, visibility per scenario and controller

Each scenario flies its own default shot (``default_shot`` in the scenario file) for its
own duration unless a duration is forced.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from cinempc_sim.baselines import CONTROLLERS
from cinempc_sim.metrics import METRIC_KEYS

HEADLINE = ("composition_error_rms", "in_focus_fraction", "visible_fraction", "collisions")


def suite_files(suite: str | Path) -> list[Path]:
    """The scenario files of a suite folder (or a single file), sorted by name."""
    path = Path(suite)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(f"scenario suite {suite} is neither a folder nor a file")
    files = sorted(path.glob("*.yaml")) + sorted(path.glob("*.yml"))
    if not files:
        raise FileNotFoundError(f"no scenario files (*.yaml) in {suite}")
    return files


def evaluate_suite(
    suite: str | Path,
    out_dir: str | Path,
    controllers: Sequence[str] = CONTROLLERS,
    *,
    duration_s: float | None = None,
    seed: int = 0,
    video: bool = False,
    render_rate_hz: float | None = 0.0,
    progress: Callable[[str, float], None] | None = None,
) -> list[dict[str, Any]]:
    """Run the matrix, write the tables and the chart; returns one record per run.

    Metrics never depend on frames, so by default nothing is rendered (``render_rate_hz=0``);
    ``video=True`` renders at the configured rate and writes each run's camera.mp4.
    """
    from cinempc_sim.closed_loop import run_scenario
    from cinempc_sim.scenario import load_scenario

    for name in controllers:
        if name not in CONTROLLERS:
            raise ValueError(f"unknown controller {name!r}; choose from {', '.join(CONTROLLERS)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    records: list[dict[str, Any]] = []
    files = suite_files(suite)
    total = len(files) * len(controllers)
    for i, path in enumerate(files):
        scenario = load_scenario(path)
        for j, controller in enumerate(controllers):
            label = f"{scenario.name} / {controller}"
            done = i * len(controllers) + j

            def report(fraction: float, label=label, done=done) -> None:
                if progress is not None:
                    progress(label, (done + fraction) / total)

            result = run_scenario(
                scenario, None, controller, duration_s, seed=seed, out_dir=out / scenario.name / controller,
                video=video, render_rate_hz=None if video else render_rate_hz, progress=report,
            )
            records.append({"scenario": scenario.name, "controller": controller, "shot": result.shot.name,
                            "metrics": result.metrics})
    write_tables(records, out)
    write_bar_chart(records, out / "results.png")
    return records


def _cell(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return "inf" if math.isinf(value) else f"{value:.3g}"
    return str(value)


def write_tables(records: Sequence[dict[str, Any]], out_dir: str | Path) -> tuple[Path, Path]:
    """results.csv and results.md."""
    out = Path(out_dir)
    csv_path, md_path = out / "results.csv", out / "results.md"
    with csv_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["scenario", "controller", "shot", *METRIC_KEYS])
        for r in records:
            writer.writerow([r["scenario"], r["controller"], r["shot"], *(r["metrics"][k] for k in METRIC_KEYS)])
    lines = ["# Closed-loop evaluation", "",
             "Ground-truth shot-quality metrics per scenario (default shot) and controller. "
             "composition_error_rms is in image widths (lower is better); in_focus_fraction and visible_fraction "
             "are fractions of the shot after the acquisition transient (higher is better).", "",
             "| scenario | controller | shot | " + " | ".join(METRIC_KEYS) + " |",
             "|---|---|---|" + "---|" * len(METRIC_KEYS)]
    for r in records:
        lines.append(f"| {r['scenario']} | {r['controller']} | {r['shot']} | "
                     + " | ".join(_cell(r["metrics"][k]) for k in METRIC_KEYS) + " |")
    lines += ["", "## Does CineMPC beat both baselines?", "",
              "| scenario | composition (strictly lower) | in focus (higher or equal) |", "|---|---|---|"]
    by_scenario: dict[str, dict[str, dict]] = {}
    for r in records:
        by_scenario.setdefault(r["scenario"], {})[r["controller"]] = r["metrics"]
    for scenario, runs in by_scenario.items():
        if "cinempc" not in runs or len(runs) < 2:
            continue
        mine = runs["cinempc"]
        others = [m for name, m in runs.items() if name != "cinempc"]
        comp = all(mine["composition_error_rms"] < m["composition_error_rms"] for m in others)
        focus = all(mine["in_focus_fraction"] >= m["in_focus_fraction"] for m in others)
        lines.append(f"| {scenario} | {'yes' if comp else 'no'} | {'yes' if focus else 'no'} |")
    md_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return csv_path, md_path


def write_bar_chart(records: Sequence[dict[str, Any]], path: str | Path) -> Path:
    """Grouped bars per scenario: composition error, in-focus fraction and visible fraction per controller."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    scenarios = list(dict.fromkeys(r["scenario"] for r in records))
    controllers = list(dict.fromkeys(r["controller"] for r in records))
    table = {(r["scenario"], r["controller"]): r["metrics"] for r in records}
    panels = (("composition_error_rms", "composition error RMS (image widths, lower is better)"),
              ("in_focus_fraction", "in-focus fraction (higher is better)"),
              ("visible_fraction", "visible fraction (higher is better)"))
    fig, axes = plt.subplots(len(panels), 1, figsize=(max(8, 1.3 * len(scenarios) + 3), 10), constrained_layout=True)
    x = np.arange(len(scenarios))
    width = 0.8 / max(1, len(controllers))
    for ax, (key, title) in zip(axes, panels, strict=True):
        for k, controller in enumerate(controllers):
            values = [table.get((s, controller), {}).get(key) for s in scenarios]
            values = [np.nan if v is None else v for v in values]
            ax.bar(x + (k - (len(controllers) - 1) / 2) * width, values, width, label=controller)
        ax.set_title(title, fontsize=10)
        ax.set_xticks(x, scenarios, rotation=20, ha="right", fontsize=8)
        if key == "composition_error_rms":
            ax.axhline(0.05, color="grey", ls="--", lw=0.8)
        else:
            ax.set_ylim(0, 1.05)
        if key == "in_focus_fraction":
            ax.axhline(0.9, color="grey", ls="--", lw=0.8)
    axes[0].legend(fontsize=8)
    path = Path(path)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
