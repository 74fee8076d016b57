"""``cinempc bench shots``: config hash, pass bar, outputs, and the same numbers from every executor."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from types import SimpleNamespace

import pytest

from cinempc.cli import main as cli_main
from cinempc.config import CONFIG_ENV, config_dir
from cinempc.shot import ShotSpec
from cinempc_sim import shot_bench
from cinempc_sim.shot_bench import (
    WALL_CLOCK_KEYS,
    Cell,
    ConfigMismatchError,
    Criterion,
    LocalExecutor,
    PassBar,
    config_hash,
    is_shallow,
    run_cell,
)

SUMMARY_KEYS = {"cells", "presets", "pass_rate", "pass_rate_by_controller", "solve_ms_p95_worst", "solve_failures",
                "collisions", "scenes_seed", "scenes", "config_hash", "wall_time_s", "comparisons"}
GOOD = {"composition_error_rms": 0.02, "size_error_mean": 0.05, "in_focus_fraction": 0.93, "visible_fraction": 1.0,
        "collisions": 0}


# ------------------------------------------------------------------------------------ config hash


def test_the_config_hash_changes_when_any_config_file_changes(tmp_path, monkeypatch):
    copy = tmp_path / "config"
    shutil.copytree(config_dir(), copy)
    original = config_hash()
    monkeypatch.setenv(CONFIG_ENV, str(copy))
    assert config_dir() == copy
    assert config_hash() == original  # same names, same contents
    with (copy / "vehicle.yaml").open("a", encoding="utf-8") as handle:
        handle.write("# one more comment\n")
    edited = config_hash()
    assert edited != original
    (copy / "extra.yaml").write_text("{}\n", encoding="utf-8")
    assert config_hash() not in (original, edited)


def test_a_worker_refuses_a_cell_planned_with_other_config(tmp_path, monkeypatch):
    cell = Cell("follow_medium", 1000, "follow", 3.0, config_hash())
    copy = tmp_path / "config"
    shutil.copytree(config_dir(), copy)
    with (copy / "shot_bench.yaml").open("a", encoding="utf-8") as handle:
        handle.write("# the cluster node's config drifted\n")
    monkeypatch.setenv(CONFIG_ENV, str(copy))
    with pytest.raises(ConfigMismatchError, match="config hash mismatch"):
        run_cell(cell)


# --------------------------------------------------------------------------------------- pass bar


def test_the_pass_bar_is_read_from_config():
    assert PassBar.from_config() == PassBar(
        composition_error_rms_max=0.05, size_error_mean_max=0.15, in_focus_fraction_min=0.9,
        in_focus_fraction_min_shallow=0.95, visible_fraction_min=0.9, collisions_max=0,
    )


@pytest.mark.parametrize(("change", "shallow", "failed"), [
    ({}, False, ()),
    ({}, True, (Criterion.FOCUS,)),  # 0.93 in focus: enough for a normal shot, not for a shallow one
    ({"in_focus_fraction": 0.95}, True, ()),
    ({"composition_error_rms": 0.051}, False, (Criterion.COMPOSITION,)),
    ({"size_error_mean": 0.2, "visible_fraction": 0.89}, False, (Criterion.SIZE, Criterion.VISIBILITY)),
    ({"collisions": 1}, False, (Criterion.COLLISIONS,)),
    ({"in_focus_fraction": 0.89}, False, (Criterion.FOCUS,)),
    ({"composition_error_rms": None, "visible_fraction": float("nan")}, False,
     (Criterion.COMPOSITION, Criterion.VISIBILITY)),  # a missing number never passes
])
def test_the_pass_bar_on_hand_made_metrics(change, shallow, failed):
    assert PassBar().failed({**GOOD, **change}, shallow) == failed


def test_shallow_focus_is_the_shots_depth_of_field():
    assert is_shallow(ShotSpec(focus={"depth_of_field": "shallow"}))
    assert not is_shallow(ShotSpec(focus={"depth_of_field": "deep"}))
    assert not is_shallow(ShotSpec())


def test_bench_all_args_without_the_shots_options_mean_the_defaults(monkeypatch, capsys):
    seen = {}

    def fake_run_bench(*args, **kwargs):
        seen.update(args=args, **kwargs)
        return {"fake": True}

    monkeypatch.setattr(shot_bench, "run_bench", fake_run_bench)
    monkeypatch.setattr(shot_bench, "format_text", lambda summary: "summary")
    assert shot_bench.run(SimpleNamespace(target="all", json=True)) == {"fake": True}
    assert seen["args"] == (None, None, None, None)  # every preset and controller, config's scenes and seed
    assert seen["duration_s"] is None and seen["out_dir"] == shot_bench.DEFAULT_OUT
    assert isinstance(seen["executor"], LocalExecutor)
    assert capsys.readouterr().err.strip() == "summary"  # --json keeps stdout for the JSON


def test_unknown_presets_and_controllers_are_usage_errors(tmp_path, capsys):
    assert cli_main(["bench", "shots", "--presets", "no_such_shot", "--out", str(tmp_path)]) == 2
    assert "unknown shot preset" in capsys.readouterr().err
    assert cli_main(["bench", "shots", "--presets", "follow_medium", "--controllers", "autopilot",
                     "--out", str(tmp_path)]) == 2
    assert "unknown controller" in capsys.readouterr().err


# ------------------------------------------------------------------------------ end to end, executors


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """One preset, one scene, follow and cinempc, 3 s, in-process: the CLI's outputs and printed lines."""
    out = tmp_path_factory.mktemp("bench_shots")
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = cli_main(["bench", "shots", "--json", "--presets", "follow_medium", "--scenes", "1", "--seed", "1000",
                         "--controllers", "follow,cinempc", "--duration", "3", "--jobs", "1", "--out", str(out)])
    assert code == 0, stderr.getvalue()
    return SimpleNamespace(out=out, printed=json.loads(stdout.getvalue()), stderr=stderr.getvalue(),
                           summary=json.loads((out / "summary.json").read_text(encoding="utf-8")))


def _cells(summary) -> list[Cell]:
    return [Cell(c["preset"], c["scene_seed"], c["controller"], c["duration_s"], summary["config_hash"])
            for c in summary["cells"]]


def _flight(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if k not in WALL_CLOCK_KEYS}


def test_a_tiny_run_writes_every_output(tiny_run):
    summary = tiny_run.summary
    assert SUMMARY_KEYS <= set(summary)
    assert tiny_run.printed == summary  # --json prints what summary.json holds
    assert [(c["preset"], c["scene_seed"], c["controller"]) for c in summary["cells"]] == [
        ("follow_medium", 1000, "follow"), ("follow_medium", 1000, "cinempc")]
    assert all(c["error"] is None for c in summary["cells"]), [c["error"] for c in summary["cells"]]
    assert summary["scenes"] == 1 and summary["scenes_seed"] == 1000 and summary["config_hash"] == config_hash()
    assert set(summary["presets"]["follow_medium"]) == {"follow", "cinempc"}
    assert set(summary["comparisons"]["follow_medium"]) == {"lower_than_both_baselines",
                                                           "not_worse_than_extrinsics_only"}
    assert summary["pass_rate"] == float(summary["cells"][1]["passed"])
    rows = (tiny_run.out / "cells.csv").read_text(encoding="utf-8").splitlines()
    assert len(rows) == 3 and rows[0].startswith("preset,scene_seed,controller,duration_s,composition_error_rms")
    assert (tiny_run.out / "cells.md").read_text(encoding="utf-8").startswith("# Shot x scene benchmark")
    assert (tiny_run.out / "heatmap.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "[1/2] follow_medium seed 1000 follow" in tiny_run.stderr  # progress per finished cell
    assert "cinempc pass rate" in tiny_run.stderr  # the printed summary (stderr under --json)


def test_two_worker_processes_give_the_in_process_numbers(tiny_run):
    results = list(LocalExecutor(2).map(run_cell, _cells(tiny_run.summary)))
    assert [r.cell for r in results] == _cells(tiny_run.summary)  # cell order, whatever finished first
    for result, reference in zip(results, tiny_run.summary["cells"], strict=True):
        assert _flight(result.as_dict()["metrics"]) == _flight(reference["metrics"])
        assert result.as_dict()["failed"] == reference["failed"]


def test_ray_gives_the_in_process_numbers(tiny_run, monkeypatch):
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'cinempc[sweep]')")
    from cinempc_sim.shot_bench import RayExecutor

    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        results = list(RayExecutor(None).map(run_cell, _cells(tiny_run.summary)))
    finally:
        ray.shutdown()
    for result, reference in zip(results, tiny_run.summary["cells"], strict=True):
        assert _flight(result.as_dict()["metrics"]) == _flight(reference["metrics"])
        assert result.as_dict()["failed"] == reference["failed"]
