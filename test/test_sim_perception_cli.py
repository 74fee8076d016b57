"""`cinempc sim --perception yolo`: the controller sees subjects through the shipped detector."""

import json

from cinempc.cli import main


def test_sim_with_yolo_perception_writes_ground_truth_graded_evidence(tmp_path, capsys):
    out = tmp_path / "yolo"
    assert main(["sim", "--scenario", "runner", "--perception", "yolo", "--duration", "2", "--out", str(out),
                 "--headless"]) == 0
    run = json.loads((out / "run.json").read_text())
    assert run["perception"] == "yolo" and run["perception_frames"] > 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0.0 <= metrics["in_focus_fraction"] <= 1.0 and metrics["collisions"] >= 0
    assert "cinempc+yolo" in capsys.readouterr().out


def test_yolo_perception_refuses_options_it_cannot_honour(tmp_path, capsys):
    assert main(["sim", "--scenario", "runner", "--perception", "yolo", "--shot", "orbit_cw", "--out",
                 str(tmp_path)]) == 2
    assert "default shot" in capsys.readouterr().err


def test_closed_loop_check_reports_one_row_per_seed(capsys):
    assert main(["perception", "closed-loop", "crossing", "--seeds", "0", "1", "--duration-s", "1", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert sorted(rows) == ["crossing@0", "crossing@1"]
    for row in rows.values():
        assert row["pass"] == (row["composition_error_rms_delta"] <= 0.02 and row["in_focus_fraction_delta"] >= -0.05)
    # the seed reaches the run: another seed is other sensor noise and other operator taps
    perceived = [row["composition_error_rms_perception"] for row in rows.values()]
    assert perceived[0] != perceived[1]
