"""The cores in cinempc/ never import the simulator package; only the command line starts it."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "cinempc"
# The command line is where a simulated run is started; the simulator's own ROS node wraps the simulator.
ALLOWED = ("cli/", "nodes/sim_node.py")


def _simulator_imports(path: Path) -> list[int]:
    """Line numbers of ``import cinempc_sim...`` / ``from cinempc_sim... import`` anywhere in a file."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else \
            [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
        if any(name == "cinempc_sim" or name.startswith("cinempc_sim.") for name in names):
            lines.append(node.lineno)
    return lines


def test_no_core_module_imports_the_simulator():
    offenders = {str(p.relative_to(ROOT)): lines for p in sorted(ROOT.rglob("*.py"))
                 if not str(p.relative_to(ROOT)).startswith(ALLOWED) and (lines := _simulator_imports(p))}
    assert offenders == {}


def test_the_import_check_finds_a_function_local_import(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from cinempc_sim.scenario import load_scenario\n    import cinempc_sim\n")
    assert _simulator_imports(module) == [2, 3]
