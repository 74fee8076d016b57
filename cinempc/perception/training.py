"""``cinempc perception train`` / ``export``: a YOLO detector from its YAML definition, trained on our renders.

No weights can be downloaded, so the network starts from random initialisation
(``yolo11n.yaml``) and learns "person" from :mod:`cinempc_sim.perception_dataset`.
Reproducibility: fixed seed, ``deterministic=True``, single-process data
loading, and a ``provenance.json`` next to the weights recording the command,
seed, training settings, dataset hash and the held-out metrics.

CPU etiquette: torch threads are capped (``training.torch_threads``) because
the machine is shared; ultralytics' plots (which fetch a font) and AMP checks
(which fetch weights) are off, and :func:`~cinempc.perception.ensure_offline`
keeps it from the network altogether.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

from cinempc.perception import PACKAGE_DIR, ensure_offline
from cinempc.perception.params import TrainingParams

__all__ = ["export_onnx", "train_detector", "write_provenance"]

WEIGHTS_DIR = PACKAGE_DIR / "weights"
DEFAULT_NAME = "cinempc_person_yolo11n"


def _limit_threads(threads: int) -> None:
    import torch

    os.environ["OMP_NUM_THREADS"] = str(threads)
    torch.set_num_threads(threads)
    try:
        import cv2

        cv2.setNumThreads(1)
    except ImportError:  # pragma: no cover -- opencv is pinned
        pass


def train_detector(data_yaml: str | Path, out_dir: str | Path, params: TrainingParams | None = None,
                   epochs: int | None = None, image_size_px: int = 320, fraction: float = 1.0,
                   name: str = "train", time_h: float | None = None,
                   init_weights: str | Path | None = None) -> dict:
    """Train from the YAML definition; returns ``{"weights": best.pt, "metrics": {...}, "seconds": ...}``.

    ``init_weights``: continue from an earlier run of ours (same architecture) instead of random
    initialisation -- the way to split a long CPU training into bounded stages.
    """
    ensure_offline()
    params = params or TrainingParams()
    _limit_threads(params.torch_threads)
    from ultralytics import YOLO

    out_dir = Path(out_dir).resolve()
    model = YOLO(params.model, task="detect")
    started = time.perf_counter()
    model.train(
        data=str(Path(data_yaml).resolve()), epochs=int(epochs or params.epochs), imgsz=image_size_px,
        batch=params.batch, workers=params.workers, seed=params.seed, deterministic=True, device="cpu",
        pretrained=str(Path(init_weights).resolve()) if init_weights else False,
        amp=False, plots=False, project=str(out_dir), name=name, exist_ok=True,
        patience=params.patience, fraction=fraction, verbose=False, cache=False,
        # our renders are people upright on the ground; flips up-down make no sense, colour shifts do
        # few epochs on a shared CPU: short warm-up, validate only at the end (val=False still validates the
        # final epoch), small batches for more optimiser steps per image seen
        warmup_epochs=params.warmup_epochs, val=params.validate_every_epoch,
        flipud=0.0, fliplr=0.5, hsv_h=0.02, hsv_s=0.5, hsv_v=0.4, mosaic=1.0, close_mosaic=params.close_mosaic,
        scale=0.5, translate=0.1, degrees=0.0, **({"time": float(time_h)} if time_h else {}),
    )
    seconds = time.perf_counter() - started
    save_dir = Path(model.trainer.save_dir)
    best = save_dir / "weights" / "best.pt"
    if not best.is_file():
        best = save_dir / "weights" / "last.pt"
    metrics = {k: float(v) for k, v in (model.trainer.metrics or {}).items()}
    return {"weights": str(best), "metrics": metrics, "seconds": seconds, "save_dir": str(save_dir),
            "init_weights": str(init_weights) if init_weights else None}


def export_onnx(weights: str | Path, image_size_px: int = 320, out_path: str | Path | None = None) -> Path:
    """ONNX export (opset 17, static 320x320, no NMS inside: :class:`OnnxDetector` does NMS with OpenCV)."""
    ensure_offline()
    from ultralytics import YOLO

    model = YOLO(str(weights), task="detect")
    exported = Path(model.export(format="onnx", imgsz=image_size_px, opset=17, simplify=False, dynamic=False,
                                 nms=False, half=False, device="cpu", verbose=False))
    if out_path is not None:
        out_path = Path(out_path)
        out_path.parent.mkdir(parents=True, exist_ok=True)
        if exported.resolve() != out_path.resolve():
            shutil.move(str(exported), out_path)
        exported = out_path
    return exported


def write_provenance(path: str | Path, *, command: list[str], training: dict, params: TrainingParams,
                     dataset_manifest: dict, evaluation: dict | None = None,
                     files: dict[str, Path] | None = None, previous_stage: dict | None = None) -> Path:
    """The provenance record shipped next to the weights (``previous_stage``: the record of the run continued)."""
    import hashlib

    import torch
    import ultralytics

    record = {
        "command": " ".join(command),
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "model_definition": params.model,
        "training": {**params.model_dump(mode="json"), "seconds": round(training.get("seconds", 0.0), 1)},
        "training_metrics_val": training.get("metrics", {}),
        "dataset": {k: dataset_manifest.get(k) for k in ("dataset_version", "sha256", "split_sha256", "counts",
                                                          "boxes", "seeds", "camera_profile")},
        "evaluation": evaluation or {},
        "environment": {"python": sys.version.split()[0], "torch": torch.__version__,
                        "ultralytics": ultralytics.__version__, "platform": platform.platform(),
                        "device": "cpu"},
        "previous_stage": previous_stage,
        "files": {name: {"path": Path(f).name, "sha256": hashlib.sha256(Path(f).read_bytes()).hexdigest(),
                         "bytes": Path(f).stat().st_size} for name, f in (files or {}).items()},
    }
    path = Path(path)
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path
