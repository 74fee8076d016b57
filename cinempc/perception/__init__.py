"""Subject perception: detect people, track them, estimate where they stand, predict where they go.

Layers, each a small module with one job::

    detector.py    image -> Detections          (UltralyticsDetector | OnnxDetector, one interface)
    tracking.py    Detections -> tracked boxes   (ultralytics' ByteTrack / BoT-SORT, not our own tracker)
    estimation.py  box + current intrinsics + pose + gimbal (+ depth) -> feet point in the world
    kalman.py      feet points over time -> constant-velocity Kalman state + horizon prediction
    naming.py      "jogger" = #3, kept across re-identification
    pipeline.py    frame + intrinsics + pose -> list[cinempc.state.SubjectTrack] for the MPC

Importing this package is cheap; ultralytics, torch and onnxruntime load only
when a detector is built.  :func:`ensure_offline` runs before any ultralytics
import so it never reaches for the network (fonts, AMP check weights, hub).
"""

from __future__ import annotations

import os
from pathlib import Path

from cinempc.perception.params import PerceptionParams, load_perception_params

__all__ = ["PACKAGE_DIR", "PerceptionParams", "ensure_offline", "load_perception_params", "resolve_weights"]

PACKAGE_DIR = Path(__file__).resolve().parent


def ensure_offline() -> None:
    """Make ultralytics offline and project-local before it is imported.

    Why: the companion computer (and CI) has no internet; ultralytics otherwise
    tries to download fonts, AMP-check weights or pip-install missing extras, and
    writes its settings into the user's home.  Existing values win, so an
    operator can still point ``YOLO_CONFIG_DIR`` elsewhere.
    """
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_AUTOINSTALL", "False")
    os.environ.setdefault("YOLO_VERBOSE", "False")
    if "YOLO_CONFIG_DIR" not in os.environ:
        root = PACKAGE_DIR.parent.parent
        base = root if (root / "setup.py").is_file() else Path.home()
        target = base / ".cache" / "ultralytics"
        target.mkdir(parents=True, exist_ok=True)
        os.environ["YOLO_CONFIG_DIR"] = str(target)


def resolve_weights(path: str | os.PathLike[str]) -> Path:
    """A weights path as given if it exists, else relative to this package (the shipped ``weights/``)."""
    candidate = Path(path).expanduser()
    if candidate.is_file():
        return candidate
    shipped = PACKAGE_DIR / candidate
    if shipped.is_file():
        return shipped
    raise FileNotFoundError(f"detector weights {path!s} not found (also looked for {shipped})")
