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


def test_a_perceiving_controller_lends_the_loop_its_frame_instead_of_a_second_render():
    """The live run with perception drew each frame twice (tablet + detector); now once, the detector's."""
    from cinempc.perception.pipeline import PerceptionPipeline
    from cinempc_sim.closed_loop import ClosedLoop, prepare_run
    from cinempc_sim.perception_data import PerceivingController

    setup = prepare_run("single_walker", None, 0.6, render=True)
    sim = setup.sim
    renders = []
    render, render_async = sim.render, sim.render_async
    sim.render = lambda *a, **k: renders.append("sync") or render(*a, **k)
    sim.render_async = lambda *a, **k: renders.append("async") or render_async(*a, **k)
    perceiver = PerceivingController(setup.make_controller("cinempc"), sim,
                                     PerceptionPipeline.from_config(setup.camera))
    shown = []
    loop = ClosedLoop(sim, perceiver, setup.shot, setup.camera, setup.vehicle, settings=setup.settings,
                      render=True, on_step=[lambda event: shown.append((event.frame, perceiver.last_frame))])
    try:
        loop.run(0.6)
    finally:
        sim.close()
    framed = [(frame, seen) for frame, seen in shown if frame is not None]
    assert framed and all(frame is seen for frame, seen in framed)  # the tablet shows what the detector saw
    assert renders.count("sync") == len(shown) and "async" not in renders
