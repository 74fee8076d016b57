"""The package installs with pip and, by its files, as an ament_python ROS 2 package."""

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_package_xml_is_format3_ament_python_with_real_dependencies():
    root = ET.parse(ROOT / "package.xml").getroot()
    assert root.tag == "package" and root.get("format") == "3"
    assert root.findtext("name") == "cinempc"
    assert root.find("export/build_type").text == "ament_python"
    depends = {e.text for e in root if e.tag.endswith("depend")}
    for needed in ("rclpy", "std_msgs", "geometry_msgs", "sensor_msgs", "nav_msgs", "visualization_msgs",
                   "diagnostic_msgs", "std_srvs", "python3-pytest"):
        assert needed in depends
    assert any(e.tag == "test_depend" for e in root)


def test_setup_cfg_puts_executables_where_ros2_run_looks():
    text = (ROOT / "setup.cfg").read_text()
    assert "script_dir=$base/lib/cinempc" in text
    assert "install_scripts=$base/lib/cinempc" in text
    assert (ROOT / "resource" / "cinempc").is_file()


@pytest.mark.slow
def test_wheel_carries_ament_files_and_both_packages(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(tmp_path),
         str(ROOT)],
        check=True, capture_output=True, cwd=tmp_path,
    )
    wheel = next(tmp_path.glob("cinempc-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    data = [n for n in names if ".data/data/" in n]
    assert any(n.endswith("share/ament_index/resource_index/packages/cinempc") for n in data)
    assert any(n.endswith("share/cinempc/package.xml") for n in data)
    for config in (ROOT / "config").glob("*.yaml"):
        assert any(n.endswith(f"share/cinempc/config/{config.name}") for n in data), config.name
    for launch in (ROOT / "launch").glob("*.launch.py"):
        assert any(n.endswith(f"share/cinempc/launch/{launch.name}") for n in data), launch.name
    assert "cinempc/optics.py" in names and "cinempc_sim/__init__.py" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "cinempc = cinempc.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cinempc", *args], capture_output=True, text=True, timeout=60)


def test_optics_cli_reproduces_published_table():
    result = run_cli("optics", "--focal-length-mm", "50", "--f-number", "2.8", "--focus-distance-m", "5",
                     "--coc-mm", "0.03", "--subject-distance-m", "9", "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert round(out["near_m"], 2) == 4.29 and round(out["far_m"], 2) == 6.00
    assert round(out["hyperfocal_m"], 1) == 29.8
    assert out["dof_m"] == pytest.approx(out["far_m"] - out["near_m"])
    assert out["hfov_deg"] == pytest.approx(39.6, abs=0.1)
    assert out["blur_px"] > 1.6  # 9 m is beyond the far limit: blurrier than the CoC (1.6 px)


def test_optics_cli_infinity_is_null_and_camera_profile_sets_coc():
    result = run_cli("optics", "--focal-length-mm", "24", "--f-number", "11", "--focus-distance-m", "3",
                     "--camera", "one_inch_zoom", "--json")
    out = json.loads(result.stdout)
    assert result.returncode == 0
    assert out["coc_mm"] == 0.011
    result = run_cli("optics", "--focal-length-mm", "24", "--f-number", "11", "--focus-distance-m", "3", "--json")
    out = json.loads(result.stdout)
    assert out["far_m"] is None and out["dof_m"] is None
    text = run_cli("optics", "--focal-length-mm", "24", "--f-number", "11", "--focus-distance-m", "3").stdout
    assert "infinity" in text


@pytest.mark.parametrize("args", [
    ("--focal-length-mm", "50", "--f-number", "0", "--focus-distance-m", "5"),
    ("--focal-length-mm", "50", "--f-number", "2.8", "--focus-distance-m", "0.01"),
    ("--focal-length-mm", "50", "--f-number", "2.8", "--focus-distance-m", "5", "--camera", "nope"),
])
def test_optics_cli_rejects_bad_input_with_exit_2(args):
    result = run_cli("optics", *args)
    assert result.returncode == 2
    assert "error" in result.stderr and "Traceback" not in result.stderr


def test_shot_cli_list_and_validate(tmp_path):
    listing = run_cli("shot", "list")
    assert listing.returncode == 0 and "orbit_cw" in listing.stdout
    bad = tmp_path / "bad.json"
    bad.write_text('{"framing": "mid shot"}')
    result = run_cli("shot", "validate", str(bad))
    assert result.returncode == 2 and "framing" in result.stderr and "medium_close_up" in result.stderr
    good = tmp_path / "good.json"
    good.write_text('{"framing": "close_up", "movement": {"type": "orbit", "direction": "clockwise"}}')
    assert run_cli("shot", "validate", str(good)).returncode == 0
