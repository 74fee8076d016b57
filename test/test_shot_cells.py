"""The shot x scene benchmark's bar in CI: every preset flown by CineMPC on one generated scene.

One scene (seed ``SCENE_SEED``, a tuning seed: the report seeds 1000-1009 are kept for
``cinempc bench shots``) and a short flight per preset, graded by the move-aware examiner
against the cell bar of ``config/shot_bench.yaml``.  Marked ``shot_cell`` so the summary
shows the slice on its own.  Every preset meets the bar on this scene since the fourth session (it was
an expected failure before): a preset that stops meeting it fails CI.
"""

import pytest

from cinempc.shot import presets
from cinempc_sim.shot_bench import Cell, config_hash, run_cell

SCENE_SEED = 7
DURATION_S = 12.0


@pytest.mark.shot_cell
@pytest.mark.parametrize("preset_name", sorted(presets()))
def test_every_preset_meets_the_cell_bar_on_a_generated_scene(preset_name):
    shot = presets()[preset_name]
    duration = shot.duration_s or DURATION_S
    result = run_cell(Cell(preset_name, SCENE_SEED, "cinempc", duration, config_hash()))
    assert result.error is None, result.error
    assert result.passed, ([c.value for c in result.failed], result.flight_metrics())
    assert result.metrics["collisions"] == 0
