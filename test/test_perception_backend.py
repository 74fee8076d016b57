"""The detector backend `auto`: ultralytics where it is installed, ONNX Runtime on a flight-only install."""

import importlib.util

import pytest

from cinempc.perception.detector import resolve_backend
from cinempc.perception.params import PerceptionParams, load_perception_params


def test_auto_is_ultralytics_where_installed_and_onnx_where_not(monkeypatch):
    installed = importlib.util.find_spec("ultralytics") is not None
    assert resolve_backend("auto") == ("ultralytics" if installed else "onnx")
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ultralytics" else real(name, *a))
    assert resolve_backend("auto") == "onnx"
    assert resolve_backend("ultralytics") == "ultralytics"  # an explicit choice is never changed


def test_the_shipped_config_asks_for_auto_and_a_typo_is_refused():
    assert load_perception_params().backend == "auto"
    with pytest.raises(ValueError):
        PerceptionParams(backend="yolo")
