"""`cinempc perception install`: a training run replaces the shipped weights only if it is better.

A long CPU run can end worse than what ships (a bad stage, a diverging
schedule); installing it blindly would silently degrade the detector.
"""

import hashlib
import json

import pytest

from cinempc.cli import main
from cinempc.perception.training import WEIGHTS_DIR


def _shipped_hashes() -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(WEIGHTS_DIR.iterdir()) if p.is_file()}


def _run_record(tmp_path, map50: float, val_sha: str | None = None):
    run = tmp_path / "run"
    run.mkdir()
    manifest = {"dataset_version": 2, "sha256": "x", "split_sha256": {"val": val_sha} if val_sha else {}}
    record = {"command": ["cinempc", "perception", "train"], "training": {},
              "result": {"weights": str(run / "best.pt"), "metrics": {"metrics/mAP50(B)": map50}, "seconds": 1.0},
              "dataset_manifest": manifest, "previous_stage": None}
    (run / "cinempc_train.json").write_text(json.dumps(record))
    return run


def test_a_run_that_does_not_beat_the_shipped_weights_is_not_installed(tmp_path, capsys):
    before = _shipped_hashes()
    assert main(["perception", "install", "--run", str(_run_record(tmp_path, 0.1))]) == 1
    assert "does not beat" in capsys.readouterr().out
    assert _shipped_hashes() == before


def test_a_run_scored_on_another_held_out_split_is_not_installed(tmp_path, capsys):
    shipped = json.loads((WEIGHTS_DIR / "provenance.json").read_text())
    if not (shipped["dataset"].get("split_sha256") or {}).get("val"):
        pytest.skip("the shipped provenance predates per-split hashes")
    before = _shipped_hashes()
    assert main(["perception", "install", "--run", str(_run_record(tmp_path, 1.0, "0" * 64))]) == 1
    assert "held-out split differs" in capsys.readouterr().out
    assert _shipped_hashes() == before


def test_install_of_a_folder_that_is_not_a_run_is_a_clear_error(tmp_path, capsys):
    assert main(["perception", "install", "--run", str(tmp_path)]) == 2
    assert "cinempc_train.json" in capsys.readouterr().err
