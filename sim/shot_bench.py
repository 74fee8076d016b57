"""``cinempc bench shots``: every shot preset x generated scenes x controller, graded against one pass bar.

A **cell** is one flight: a preset of ``config/shots.yaml`` flown in the scene
``generate_scene(scene_seed, shot, duration)`` by one controller, in lock-step and without
rendering (metrics come from ground truth).  It is a pure function of (preset, scene seed,
controller, duration, config hash), so cells run anywhere -- in this process, in a process pool,
or on a Ray cluster -- and give the same numbers; a worker whose ``config/`` differs from the
parent's refuses the cell (:class:`ConfigMismatchError`) instead of grading another problem.

Writes into the output folder::

    cells.csv      one row per cell: preset, scene seed, controller, every metric, pass, failed criteria
    cells.md       the same as a Markdown table, plus per-preset pass rates and comparisons
    summary.json   what :func:`run` returns (also ``--json`` on stdout)
    heatmap.png    one panel per controller: presets x scene seeds, colour = composition error, x = failed

The pass bar lives in ``config/shot_bench.yaml`` (``pass_bar``).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Protocol, TypeVar

from cinempc.config import config_dir, load_parameters

T = TypeVar("T")
R = TypeVar("R")

CONFIG_FILE = "shot_bench.yaml"
DEFAULT_OUT = "runs/bench_shots"
# metrics that measure the machine, not the flight: they differ between identical runs
WALL_CLOCK_KEYS: tuple[str, ...] = ("solve_ms_p50", "solve_ms_p95", "solve_ms_max", "real_time_factor")
MPC_CONTROLLERS: tuple[str, ...] = ("cinempc", "extrinsics_only")
BASELINES: tuple[str, ...] = ("extrinsics_only", "follow")


class ConfigMismatchError(ValueError):
    """A worker's ``config/`` differs from the one the cell was planned with."""


class Criterion(str, Enum):
    """One line of the pass bar (``failed`` lists the ones a cell missed)."""

    COMPOSITION = "composition"  # composition_error_rms <= composition_error_rms_max
    SIZE = "size"  # size_error_mean <= size_error_mean_max
    FOCUS = "focus"  # in_focus_fraction >= in_focus_fraction_min (the shallow minimum for shallow shots)
    VISIBILITY = "visibility"  # visible_fraction >= visible_fraction_min
    COLLISIONS = "collisions"  # collisions <= collisions_max
    ERROR = "error"  # the cell raised: no metrics at all


# ------------------------------------------------------------------------------ config and pass bar


def config_hash(directory: str | os.PathLike[str] | None = None) -> str:
    """sha256 over the name and contents of every file in ``config/``, sorted by name."""
    root = Path(directory) if directory is not None else config_dir()
    digest = hashlib.sha256()
    for path in sorted((p for p in root.iterdir() if p.is_file()), key=lambda p: p.name):
        digest.update(path.name.encode("utf-8") + b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def bench_parameters() -> dict[str, Any]:
    """``config/shot_bench.yaml``."""
    return load_parameters(CONFIG_FILE)


@dataclass(frozen=True)
class PassBar:
    """What a cell must reach to pass (``config/shot_bench.yaml`` ``pass_bar``)."""

    composition_error_rms_max: float = 0.05
    size_error_mean_max: float = 0.15
    in_focus_fraction_min: float = 0.9
    in_focus_fraction_min_shallow: float = 0.95
    visible_fraction_min: float = 0.9
    collisions_max: int = 0

    @classmethod
    def from_config(cls) -> PassBar:
        """The bar of ``config/shot_bench.yaml``."""
        params = dict(bench_parameters()["pass_bar"])
        return cls(**{k: (int(v) if k == "collisions_max" else float(v)) for k, v in params.items()})

    def focus_min(self, shallow: bool) -> float:
        """The in-focus minimum: stricter when the shot asks for a shallow depth of field."""
        return self.in_focus_fraction_min_shallow if shallow else self.in_focus_fraction_min

    def failed(self, metrics: Mapping[str, Any], shallow: bool) -> tuple[Criterion, ...]:
        """The criteria ``metrics`` miss (a missing or non-finite number misses its criterion)."""

        def at_most(key: str, limit: float) -> bool:
            value = metrics.get(key)
            return value is not None and math.isfinite(value) and value <= limit

        def at_least(key: str, limit: float) -> bool:
            value = metrics.get(key)
            return value is not None and math.isfinite(value) and value >= limit

        checks = (
            (Criterion.COMPOSITION, at_most("composition_error_rms", self.composition_error_rms_max)),
            (Criterion.SIZE, at_most("size_error_mean", self.size_error_mean_max)),
            (Criterion.FOCUS, at_least("in_focus_fraction", self.focus_min(shallow))),
            (Criterion.VISIBILITY, at_least("visible_fraction", self.visible_fraction_min)),
            (Criterion.COLLISIONS, at_most("collisions", self.collisions_max)),
        )
        return tuple(criterion for criterion, ok in checks if not ok)


def is_shallow(shot) -> bool:
    """True when the shot asks for a shallow depth of field (the stricter focus bar applies)."""
    return shot.focus.depth_of_field == "shallow"


# --------------------------------------------------------------------------------------- cells


@dataclass(frozen=True)
class Cell:
    """One flight of the matrix; everything its result depends on."""

    preset: str
    scene_seed: int
    controller: str
    duration_s: float
    config_hash: str


@dataclass(frozen=True)
class CellResult:
    """A flown cell: its metrics (read-only by convention), the criteria it missed and its wall time."""

    cell: Cell
    metrics: dict[str, Any]
    failed: tuple[Criterion, ...]
    wall_time_s: float
    scene: str = ""
    error: str | None = None
    statuses: dict[str, int] = field(default_factory=dict)  # control steps per loop status (ok, controller_error...)

    @property
    def passed(self) -> bool:
        """A cell passes when it missed no criterion."""
        return not self.failed

    def flight_metrics(self) -> dict[str, Any]:
        """The metrics without the wall-clock ones: identical wherever and however often the cell runs."""
        return {k: v for k, v in self.metrics.items() if k not in WALL_CLOCK_KEYS}

    def as_dict(self) -> dict[str, Any]:
        """The JSON form (one entry of ``cells``)."""
        return {
            "preset": self.cell.preset, "scene_seed": self.cell.scene_seed, "controller": self.cell.controller,
            "duration_s": self.cell.duration_s, "scene": self.scene, "passed": self.passed,
            "failed": [c.value for c in self.failed], "error": self.error, "wall_time_s": self.wall_time_s,
            "statuses": dict(self.statuses), "metrics": {k: _json_number(v) for k, v in self.metrics.items()},
        }


def cell_duration_s(shot, override_s: float | None, default_s: float) -> float:
    """``--duration`` if given, else the preset's ``duration_s``, else the benchmark's default."""
    if override_s is not None:
        return float(override_s)
    return float(shot.duration_s) if shot.duration_s is not None else float(default_s)


def make_cells(
    presets: Sequence[str], scenes: int, seed: int, controllers: Sequence[str], *,
    duration_s: float | None = None, config: str | None = None,
) -> list[Cell]:
    """The matrix in preset, scene, controller order; scene ``i`` uses seed ``seed + i``."""
    from cinempc.shot import presets as all_presets
    from cinempc_sim.baselines import CONTROLLERS

    known = all_presets()
    unknown = [p for p in presets if p not in known]
    if unknown:
        raise ValueError(f"unknown shot preset(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    bad = [c for c in controllers if c not in CONTROLLERS]
    if bad:
        raise ValueError(f"unknown controller(s) {', '.join(bad)}; choose from {', '.join(CONTROLLERS)}")
    if scenes < 1:
        raise ValueError(f"--scenes must be at least 1, got {scenes}")
    if duration_s is not None and not (math.isfinite(duration_s) and duration_s > 0):
        raise ValueError(f"--duration must be a positive number of seconds, got {duration_s}")
    default_s = float(bench_parameters()["duration_s"])
    config = config or config_hash()
    return [
        Cell(preset=name, scene_seed=seed + i, controller=controller,
             duration_s=cell_duration_s(known[name], duration_s, default_s), config_hash=config)
        for name in presets for i in range(scenes) for controller in controllers
    ]


def run_cell(cell: Cell) -> CellResult:
    """Fly one cell (no rendering, lock-step) and grade it; refuses a cell planned with another config."""
    mine = config_hash()
    if mine != cell.config_hash:
        raise ConfigMismatchError(
            f"config hash mismatch: the cell was planned with config {cell.config_hash[:12]} but this worker "
            f"({os.uname().nodename}, pid {os.getpid()}) has {mine[:12]} in {config_dir()}; a worker with other "
            "config files would grade another problem -- give every worker the same config/"
        )
    from cinempc.shot import preset

    shot = preset(cell.preset)
    start = time.perf_counter()
    try:
        from cinempc_sim.closed_loop import run_scenario
        from cinempc_sim.scene_generator import generate_scene

        scenario = generate_scene(cell.scene_seed, shot, cell.duration_s)
        result = run_scenario(scenario, shot, cell.controller, cell.duration_s, render_rate_hz=0, video=False,
                              lockstep=True, seed=cell.scene_seed)
    except Exception as exc:  # noqa: BLE001 -- one broken cell is a failed cell, not a lost 40-minute run
        return CellResult(cell=cell, metrics={}, failed=(Criterion.ERROR,), wall_time_s=time.perf_counter() - start,
                          error=f"{type(exc).__name__}: {exc} | {_where(exc)}")
    metrics = dict(result.metrics)
    return CellResult(cell=cell, metrics=metrics, failed=PassBar.from_config().failed(metrics, is_shallow(shot)),
                      wall_time_s=time.perf_counter() - start, scene=str(getattr(scenario, "name", "")),
                      statuses=dict(result.statuses))


def _where(exc: BaseException) -> str:
    """The innermost frame of a traceback, for a one-line error."""
    frames = traceback.extract_tb(exc.__traceback__)
    return f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "?"


# ------------------------------------------------------------------------------------ executors


class Executor(Protocol):
    """Runs a function over items; results come back in item order, ``on_result`` hears each as it finishes."""

    def map(self, function: Callable[[T], R], items: Sequence[T],
            on_result: Callable[[R], None] | None = None) -> Iterator[R]: ...


def _in_order(results: dict[int, Any], next_index: int) -> tuple[list[Any], int]:
    """The finished results that continue the in-order prefix from ``next_index``."""
    ready = []
    while next_index in results:
        ready.append(results.pop(next_index))
        next_index += 1
    return ready, next_index


@dataclass(frozen=True)
class LocalExecutor:
    """``jobs`` = 1: in this process; more: a process pool (``spawn`` by default: no forked PyBullet/CasADi state)."""

    jobs: int = 1
    context: str = "spawn"

    def __post_init__(self) -> None:
        if self.jobs < 1:
            raise ValueError(f"--jobs must be at least 1, got {self.jobs}")

    @property
    def describe(self) -> str:
        """Where the cells run, for the first progress line."""
        return "in-process" if self.jobs == 1 else f"{self.jobs} processes ({self.context})"

    def map(self, function: Callable[[T], R], items: Sequence[T],
            on_result: Callable[[R], None] | None = None) -> Iterator[R]:
        """Results in item order; with a pool, ``on_result`` is called in completion order."""
        items = list(items)
        if self.jobs == 1 or len(items) <= 1:
            for item in items:
                result = function(item)
                if on_result is not None:
                    on_result(result)
                yield result
            return
        import multiprocessing

        workers = min(self.jobs, len(items))
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(self.context)) as pool:
            futures: dict[Future, int] = {pool.submit(function, item): i for i, item in enumerate(items)}
            pending = set(futures)
            finished: dict[int, Any] = {}
            next_index = 0
            try:
                while pending:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in sorted(done, key=futures.__getitem__):
                        result = future.result()
                        if on_result is not None:
                            on_result(result)
                        finished[futures[future]] = result
                    ready, next_index = _in_order(finished, next_index)
                    yield from ready
            finally:
                for future in pending:
                    future.cancel()


@dataclass(frozen=True)
class RayExecutor:
    """Cells as Ray tasks (one CPU each) on the cluster at ``address`` (``auto``: the running one).

    When Ray is already initialised in this process (a test's local instance), that instance is used.
    Every node needs this package and the same ``config/`` (cells check the config hash).
    """

    address: str | None = "auto"

    @property
    def describe(self) -> str:
        """Where the cells run, for the first progress line."""
        return f"ray ({self.address or 'the initialised instance'})"

    @staticmethod
    def _ray():
        try:
            import ray
        except ImportError as exc:
            raise RuntimeError(
                "--ray needs the 'ray' package, which is not installed: pip install 'cinempc[sweep]' "
                "(or the ray pin of requirements.txt)"
            ) from exc
        return ray

    def map(self, function: Callable[[T], R], items: Sequence[T],
            on_result: Callable[[R], None] | None = None) -> Iterator[R]:
        """Results in item order; ``on_result`` is called in completion order."""
        ray = self._ray()
        if not ray.is_initialized():
            ray.init(address=self.address)
        remote = ray.remote(num_cpus=1)(function)
        refs = [remote.remote(item) for item in items]
        index = {ref: i for i, ref in enumerate(refs)}
        pending = list(refs)
        finished: dict[int, Any] = {}
        next_index = 0
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                for ref in done:
                    result = ray.get(ref)
                    if on_result is not None:
                        on_result(result)
                    finished[index[ref]] = result
                ready, next_index = _in_order(finished, next_index)
                yield from ready
        finally:
            for ref in pending:
                ray.cancel(ref)


def make_executor(jobs: int | None = None, ray_address: str | None = None) -> Executor:
    """``--ray ADDRESS`` wins; else ``jobs`` local processes (default: every CPU)."""
    if ray_address:
        return RayExecutor(ray_address)
    return LocalExecutor(jobs or os.cpu_count() or 1)


# ------------------------------------------------------------------------------------- summary


def _json_number(value: Any) -> Any:
    """JSON has no inf/nan: those become None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _mean(values: Sequence[float | None]) -> float | None:
    finite = [float(v) for v in values if v is not None and math.isfinite(v)]
    return sum(finite) / len(finite) if finite else None


def _rate(results: Sequence[CellResult]) -> float | None:
    return sum(r.passed for r in results) / len(results) if results else None


def summarise(results: Sequence[CellResult], *, scenes: int, seed: int, config: str,
              wall_time_s: float) -> dict[str, Any]:
    """The summary.json dictionary (its keys are listed in docs/closed_loop.md, "Shot x scene benchmark")."""
    presets = list(dict.fromkeys(r.cell.preset for r in results))
    controllers = list(dict.fromkeys(r.cell.controller for r in results))
    per_preset: dict[str, dict[str, dict[str, Any]]] = {}
    for name in presets:
        per_preset[name] = {}
        for controller in controllers:
            group = [r for r in results if r.cell.preset == name and r.cell.controller == controller]
            per_preset[name][controller] = {
                "cells": len(group), "passed": sum(r.passed for r in group), "pass_rate": _rate(group),
                **{key: _mean([r.metrics.get(key) for r in group])
                   for key in ("composition_error_rms", "size_error_mean", "in_focus_fraction")},
            }
    comparisons: dict[str, dict[str, bool | None]] = {}
    for name, runs in per_preset.items():
        mine = runs.get("cinempc", {}).get("composition_error_rms")
        others = {b: runs.get(b, {}).get("composition_error_rms") for b in BASELINES}
        known = mine is not None and all(v is not None for v in others.values())
        ext = others["extrinsics_only"]
        comparisons[name] = {
            "lower_than_both_baselines": all(mine < v for v in others.values()) if known else None,
            "not_worse_than_extrinsics_only": mine <= ext if mine is not None and ext is not None else None,
        }
    p95 = [r.metrics.get("solve_ms_p95") for r in results if r.cell.controller in MPC_CONTROLLERS]
    p95 = [float(v) for v in p95 if v is not None and math.isfinite(v)]
    failures = [r.metrics["solve_failures"] for r in results if r.metrics.get("solve_failures") is not None]
    return {
        "cells": [r.as_dict() for r in results],
        "presets": per_preset,
        "pass_rate": _rate([r for r in results if r.cell.controller == "cinempc"]),
        "pass_rate_by_controller": {c: _rate([r for r in results if r.cell.controller == c]) for c in controllers},
        "solve_ms_p95_worst": max(p95) if p95 else None,
        "solve_failures": int(sum(failures)) if failures else None,
        "collisions": int(sum(int(r.metrics.get("collisions") or 0) for r in results)),
        "errors": sum(r.error is not None for r in results),
        "comparisons": comparisons,
        "scenes_seed": seed,
        "scenes": scenes,
        "controllers": controllers,
        "config_hash": config,
        "wall_time_s": wall_time_s,
        "cell_wall_time_s": {c: _mean([r.wall_time_s for r in results if r.cell.controller == c])
                             for c in controllers},
    }


def metric_columns(results: Sequence[CellResult]) -> list[str]:
    """METRIC_KEYS first, then any further keys the metrics carry, in the order first seen."""
    from cinempc_sim.metrics import METRIC_KEYS

    columns = list(METRIC_KEYS)
    for r in results:
        columns += [k for k in r.metrics if k not in columns]
    return columns


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return "inf" if math.isinf(value) else f"{value:.3g}"
    return str(value)


def _pct(rate: float | None) -> str:
    return "n/a" if rate is None else f"{100 * rate:.0f} %"


def write_tables(results: Sequence[CellResult], summary: Mapping[str, Any], out_dir: Path) -> tuple[Path, Path]:
    """cells.csv and cells.md."""
    columns = metric_columns(results)
    csv_path, md_path = out_dir / "cells.csv", out_dir / "cells.md"
    head = ["preset", "scene_seed", "controller", "duration_s", *columns, "passed", "failed", "error", "wall_time_s"]
    with csv_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(head)
        for r in results:
            writer.writerow([r.cell.preset, r.cell.scene_seed, r.cell.controller, r.cell.duration_s,
                             *("" if r.metrics.get(k) is None else r.metrics[k] for k in columns),
                             r.passed, ";".join(c.value for c in r.failed), r.error or "", f"{r.wall_time_s:.2f}"])
    controllers = list(summary["pass_rate_by_controller"])
    lines = ["# Shot x scene benchmark", "",
             f"{len(summary['presets'])} presets x {summary['scenes']} generated scenes (seeds "
             f"{summary['scenes_seed']}..{summary['scenes_seed'] + summary['scenes'] - 1}) x "
             f"{len(controllers)} controllers; config {summary['config_hash'][:12]}.", "",
             "## Pass rates", "", "| preset | " + " | ".join(controllers) + " |", "|---|" + "---|" * len(controllers)]
    for name, runs in summary["presets"].items():
        lines.append(f"| {name} | " + " | ".join(
            f"{runs[c]['passed']}/{runs[c]['cells']}" for c in controllers) + " |")
    lines.append("| **all** | " + " | ".join(_pct(summary["pass_rate_by_controller"][c]) for c in controllers) + " |")
    lines += ["", "## Does CineMPC frame better? (mean composition error per preset)", "",
              "| preset | lower than both baselines | not worse than extrinsics_only |", "|---|---|---|"]
    for name, verdict in summary["comparisons"].items():
        lines.append(f"| {name} | {_fmt(verdict['lower_than_both_baselines'])} | "
                     f"{_fmt(verdict['not_worse_than_extrinsics_only'])} |")
    lines += ["", "## Cells", "",
              "| preset | scene seed | controller | " + " | ".join(columns) + " | pass | failed |",
              "|---|---|---|" + "---|" * (len(columns) + 2)]
    for r in results:
        lines.append(f"| {r.cell.preset} | {r.cell.scene_seed} | {r.cell.controller} | "
                     + " | ".join(_fmt(r.metrics.get(k)) for k in columns)
                     + f" | {'yes' if r.passed else 'no'} | {', '.join(c.value for c in r.failed)} |")
    md_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return csv_path, md_path


def write_heatmap(results: Sequence[CellResult], path: Path, composition_max: float = 0.2) -> Path:
    """One panel per controller: rows presets, columns scene seeds, colour composition error, x on failures."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    presets = list(dict.fromkeys(r.cell.preset for r in results))
    seeds = sorted({r.cell.scene_seed for r in results})
    controllers = list(dict.fromkeys(r.cell.controller for r in results))
    fig, axes = plt.subplots(1, len(controllers), squeeze=False, constrained_layout=True,
                             figsize=(len(controllers) * (1.6 + 0.42 * len(seeds)) + 3.5, 2.2 + 0.34 * len(presets)))
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="0.75")
    image = None
    for ax, controller in zip(axes[0], controllers, strict=True):
        grid = np.full((len(presets), len(seeds)), np.nan)
        failed = []
        mine = [r for r in results if r.cell.controller == controller]
        for r in mine:
            row, col = presets.index(r.cell.preset), seeds.index(r.cell.scene_seed)
            value = r.metrics.get("composition_error_rms")
            grid[row, col] = np.nan if value is None else float(value)
            if not r.passed:
                failed.append((col, row))
        image = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=0.0, vmax=composition_max, aspect="auto",
                          interpolation="nearest")
        if failed:
            xs, ys = zip(*failed, strict=True)
            ax.scatter(xs, ys, marker="x", s=40, c="red", linewidths=1.5)
        passed = sum(r.passed for r in mine)
        ax.set_title(f"{controller}: pass {passed}/{len(mine)} ({_pct(passed / len(mine) if mine else None)})",
                     fontsize=10)
        ax.set_xticks(range(len(seeds)), [str(s) for s in seeds], rotation=90, fontsize=7)
        ax.set_yticks(range(len(presets)), presets if ax is axes[0][0] else [""] * len(presets), fontsize=8)
        ax.set_xlabel("scene seed", fontsize=8)
    if image is not None:
        fig.colorbar(image, ax=axes[0].tolist(), label="composition error RMS", extend="max", shrink=0.9)
    fig.suptitle(f"Shot x scene benchmark: composition error (image widths, 0..{composition_max:g}); "
                 "x = failed cell", fontsize=10)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def format_text(summary: Mapping[str, Any]) -> str:
    """The printed summary: per-preset pass rates per controller, cinempc's overall rate, worst solve p95."""
    controllers = list(summary["pass_rate_by_controller"])
    width = max([len("preset"), *(len(p) for p in summary["presets"])])
    cols = [max(len(c), 7) for c in controllers]
    seeds = f"{summary['scenes_seed']}..{summary['scenes_seed'] + summary['scenes'] - 1}"
    lines = [f"shot x scene benchmark: {len(summary['presets'])} presets x {summary['scenes']} scenes (seeds "
             f"{seeds}) x {len(controllers)} controllers = {len(summary['cells'])} cells in "
             f"{summary['wall_time_s']:.0f} s",
             "  ".join([f"{'preset':<{width}}", *(f"{c:>{w}}" for c, w in zip(controllers, cols, strict=True))])]
    for name, runs in summary["presets"].items():
        lines.append("  ".join([f"{name:<{width}}", *(
            f"{runs[c]['passed']}/{runs[c]['cells']}".rjust(w) for c, w in zip(controllers, cols, strict=True))]))
    lines.append("  ".join([f"{'all':<{width}}", *(
        _pct(summary["pass_rate_by_controller"][c]).rjust(w) for c, w in zip(controllers, cols, strict=True))]))
    p95 = summary["solve_ms_p95_worst"]
    lines.append(f"cinempc pass rate {_pct(summary['pass_rate'])}; worst solve p95 "
                 f"{'n/a' if p95 is None else f'{p95:.1f} ms'}; solve failures {_fmt(summary['solve_failures'])}; "
                 f"collisions {summary['collisions']}; errors {summary['errors']}")
    if summary.get("out_dir"):
        lines.append(f"wrote {summary['out_dir']}/{{cells.csv,cells.md,summary.json,heatmap.png}}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------ run


def progress_line(result: CellResult, done: int, total: int) -> str:
    """One stderr line per finished cell."""
    comp = result.metrics.get("composition_error_rms")
    verdict = "pass" if result.passed else "FAIL " + ",".join(c.value for c in result.failed)
    faults = sum(n for status, n in result.statuses.items() if "error" in status)
    tail = f" ({result.error})" if result.error else (f" ({faults} controller-error steps)" if faults else "")
    return (f"[{done}/{total}] {result.cell.preset} seed {result.cell.scene_seed} {result.cell.controller}: "
            f"{verdict}, composition {_fmt(comp)}, {result.wall_time_s:.1f} s{tail}")


def run_bench(
    presets: Sequence[str] | None = None,
    controllers: Sequence[str] | None = None,
    scenes: int | None = None,
    seed: int | None = None,
    *,
    duration_s: float | None = None,
    executor: Executor | None = None,
    out_dir: str | os.PathLike[str] = DEFAULT_OUT,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Plan the matrix, fly it with ``executor``, write the four outputs; returns the summary."""
    from cinempc.shot import presets as all_presets
    from cinempc_sim.baselines import CONTROLLERS

    params = bench_parameters()
    presets = list(presets or all_presets())
    controllers = list(controllers or CONTROLLERS)
    scenes = int(scenes if scenes is not None else params.get("scenes", 10))
    seed = int(seed if seed is not None else params.get("seed", 1000))
    executor = executor or LocalExecutor(os.cpu_count() or 1)
    config = config_hash()
    cells = make_cells(presets, scenes, seed, controllers, duration_s=duration_s, config=config)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    done = 0

    def report(result: CellResult) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(progress_line(result, done, len(cells)))

    if progress is not None:
        progress(f"bench shots: {len(cells)} cells ({len(presets)} presets x {scenes} scenes x "
                 f"{len(controllers)} controllers) on {getattr(executor, 'describe', type(executor).__name__)}")
    start = time.perf_counter()
    results = list(executor.map(run_cell, cells, on_result=report))
    summary = summarise(results, scenes=scenes, seed=seed, config=config, wall_time_s=time.perf_counter() - start)
    summary["out_dir"] = str(out)
    write_tables(results, summary, out)
    write_heatmap(results, out / "heatmap.png", float(params.get("heatmap", {}).get("composition_max", 0.2)))
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n", encoding="utf-8")
    return summary


def _names(value: str | Sequence[str] | None) -> list[str] | None:
    """A comma-separated option as a list (None when not given)."""
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else list(value)
    return [item.strip() for item in items if item.strip()] or None


def run(args: argparse.Namespace | None = None) -> dict[str, Any]:
    """Entry point of the benchmark registry (``cinempc bench shots``); copes with args lacking its options."""
    quick = bool(getattr(args, "quick", False))
    as_json = bool(getattr(args, "json", False))
    scenes = getattr(args, "scenes", None)
    duration = getattr(args, "duration", None)
    if quick:  # a smoke test of the benchmark itself
        scenes = 1 if scenes is None else scenes
        duration = 5.0 if duration is None else duration
    executor = make_executor(getattr(args, "jobs", None), getattr(args, "ray", None))
    summary = run_bench(
        _names(getattr(args, "presets", None)), _names(getattr(args, "controllers", None)), scenes,
        getattr(args, "seed", None), duration_s=duration, executor=executor,
        out_dir=getattr(args, "out", None) or DEFAULT_OUT,
        progress=lambda line: print(line, file=sys.stderr, flush=True),
    )
    print(format_text(summary), file=sys.stderr if as_json else sys.stdout, flush=True)
    return summary
