"""The training pipeline end to end on a tiny dataset: render -> train 1 epoch from YAML -> export ONNX -> detect.

Proves in CI that `cinempc perception dataset/train/export` work offline; the
shipped weights' quality is the benchmark's business, not this test's.
"""

import json
import os

import numpy as np
import pytest

from cinempc.perception.detector import Detections, OnnxDetector, UltralyticsDetector
from cinempc.perception.params import DatasetParams, TrainingParams
from cinempc.perception.training import export_onnx, train_detector, write_provenance
from cinempc_sim.perception_dataset import build_dataset

pytestmark = pytest.mark.slow


def test_tiny_training_run_exports_and_both_backends_load(tmp_path, monkeypatch):
    monkeypatch.setenv("YOLO_OFFLINE", "1")
    dataset = build_dataset(tmp_path / "ds", DatasetParams(train_images=8, val_images=4, max_actors=2))
    params = TrainingParams(epochs=1, batch=4, torch_threads=1)
    result = train_detector(dataset.data_yaml, tmp_path / "runs", params, image_size_px=160)
    weights = result["weights"]
    assert os.path.isfile(weights)
    assert set(result["metrics"]) >= {"metrics/mAP50(B)", "metrics/mAP50-95(B)"}
    onnx = export_onnx(weights, 160, tmp_path / "tiny.onnx")
    assert onnx.is_file() and onnx.stat().st_size > 100_000
    manifest = json.loads((dataset.root / "manifest.json").read_text())
    provenance = write_provenance(tmp_path / "provenance.json", command=["pytest"], training=result, params=params,
                                  dataset_manifest=manifest, files={"torch": weights, "onnx": onnx})
    record = json.loads(provenance.read_text())
    assert record["dataset"]["sha256"] == dataset.sha256 and record["training"]["seed"] == 0
    assert record["files"]["onnx"]["sha256"]
    image = np.random.default_rng(0).integers(0, 255, (240, 320, 3), dtype=np.uint8)
    for detector in (UltralyticsDetector(weights, 160, torch_threads=1), OnnxDetector(onnx, 160, threads=1)):
        detections = detector.detect(image)  # an untrained net finds whatever it finds; the types must hold
        assert isinstance(detections, Detections)
        assert detections.xyxy.shape[1] == 4 and np.all(np.isfinite(detections.xyxy))
