"""Person detectors: ultralytics (PyTorch) and ONNX Runtime behind one interface and one result type.

Why two backends: the ground station or a desktop sim runs the ultralytics
model directly; a lean companion computer runs the ONNX export with only
``onnxruntime`` + OpenCV.  Both take an RGB ``HxWx3 uint8`` image and return
:class:`Detections` in that image's pixels, so the tracker and the estimator
never know which one ran.

A corrupted image (wrong shape, dtype, non-finite values, empty) is not an
error of the flight: it yields empty detections and a log line, and the
tracker simply coasts.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import cv2
import numpy as np

from cinempc.perception import ensure_offline, resolve_weights
from cinempc.perception.params import PerceptionParams

__all__ = [
    "Detections", "Detector", "OnnxDetector", "UltralyticsDetector", "build_detector", "inside_matrix", "iou_matrix",
    "validate_image",
]

log = logging.getLogger(__name__)

MIN_IMAGE_SIDE_PX = 16


def _box_areas(boxes: np.ndarray) -> np.ndarray:
    return np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)


def _intersections(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairwise intersection areas of boxes ``xyxy`` (N, 4) x (M, 4), and each side's areas."""
    a = np.asarray(a, float).reshape(-1, 4)
    b = np.asarray(b, float).reshape(-1, 4)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    return inter, _box_areas(a), _box_areas(b)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of boxes ``xyxy`` (N, 4) x (M, 4)."""
    inter, area_a, area_b = _intersections(a, b)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def inside_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise fraction of each box of ``a`` lying inside each box of ``b`` (N, M): intersection / area of a."""
    inter, area_a, _ = _intersections(a, b)
    return inter / np.maximum(area_a[:, None], 1e-9)


@dataclass(frozen=True)
class Detections:
    """Boxes found in one image: ``xyxy`` pixels (N, 4), confidence (N,), class id (N,).

    It also quacks like ultralytics' ``Boxes`` (``xywh``, ``conf``, ``cls``,
    boolean indexing), so it goes straight into ByteTrack / BoT-SORT.
    """

    xyxy: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    conf: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    cls: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    image_size: tuple[int, int] = (0, 0)  # (width, height) of the image the boxes live in

    def __post_init__(self) -> None:
        xyxy = np.asarray(self.xyxy, dtype=np.float32).reshape(-1, 4)
        conf = np.asarray(self.conf, dtype=np.float32).reshape(-1)
        cls = np.asarray(self.cls, dtype=np.float32).reshape(-1)
        if not len(xyxy) == len(conf) == len(cls):
            raise ValueError(f"detections: {len(xyxy)} boxes, {len(conf)} scores, {len(cls)} classes")
        object.__setattr__(self, "xyxy", xyxy)
        object.__setattr__(self, "conf", conf)
        object.__setattr__(self, "cls", cls)

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index) -> Detections:
        return Detections(self.xyxy[index], self.conf[index], self.cls[index], self.image_size)

    @property
    def xywh(self) -> np.ndarray:
        """Centre x, centre y, width, height (what the ultralytics trackers read)."""
        out = np.empty_like(self.xyxy)
        out[:, 0] = (self.xyxy[:, 0] + self.xyxy[:, 2]) / 2
        out[:, 1] = (self.xyxy[:, 1] + self.xyxy[:, 3]) / 2
        out[:, 2] = self.xyxy[:, 2] - self.xyxy[:, 0]
        out[:, 3] = self.xyxy[:, 3] - self.xyxy[:, 1]
        return out

    @classmethod
    def empty(cls, image_size: tuple[int, int] = (0, 0)) -> Detections:
        return cls(image_size=image_size)

    def sorted_by_confidence(self) -> Detections:
        return self[np.argsort(-self.conf, kind="stable")]


@runtime_checkable
class Detector(Protocol):
    """What the pipeline needs from a detector."""

    backend: str

    def detect(self, rgb: np.ndarray) -> Detections:
        """Boxes of subjects in an RGB ``HxWx3 uint8`` image; empty (never raising) for a corrupted one."""
        ...


def validate_image(rgb: object) -> np.ndarray | None:
    """The image as a contiguous ``HxWx3 uint8`` array, or None (with the reason logged) when unusable.

    Accepts float images in [0, 1] or [0, 255] (some renderers give those);
    rejects anything non-finite, the wrong shape or too small.
    """
    try:
        image = np.asarray(rgb)
    except Exception as exc:  # noqa: BLE001 -- anything that is not array-like is a corrupted frame
        log.warning("perception: frame is not an image (%s)", exc)
        return None
    if image.ndim == 3 and image.shape[2] == 4:
        image = image[..., :3]
    if image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) < MIN_IMAGE_SIDE_PX:
        log.warning("perception: frame has shape %s, expected HxWx3 with sides >= %d", image.shape, MIN_IMAGE_SIDE_PX)
        return None
    if image.dtype != np.uint8:
        if not np.issubdtype(image.dtype, np.number):
            log.warning("perception: frame dtype %s is not numeric", image.dtype)
            return None
        image = image.astype(np.float64)
        if not np.all(np.isfinite(image)):
            log.warning("perception: frame contains non-finite pixels")
            return None
        scale = 255.0 if image.max(initial=0.0) <= 1.0 else 1.0
        image = np.clip(image * scale, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(image)


def _keep_classes(detections: Detections, class_filter: list[int]) -> Detections:
    if not class_filter or not len(detections):
        return detections
    return detections[np.isin(detections.cls.astype(int), class_filter)]


class UltralyticsDetector:
    """Any ultralytics detection model (our shipped one, or an operator's COCO ``.pt``)."""

    backend = "ultralytics"

    def __init__(
        self,
        weights: str | os.PathLike[str],
        image_size_px: int = 320,
        confidence_min: float = 0.25,
        nms_iou: float = 0.7,
        class_filter: list[int] | None = None,
        max_detections: int = 50,
        torch_threads: int | None = 2,
    ) -> None:
        ensure_offline()
        import torch
        from ultralytics import YOLO

        if torch_threads:
            torch.set_num_threads(int(torch_threads))
        self.weights = resolve_weights(weights)
        self.model = YOLO(str(self.weights), task="detect")
        self.image_size_px = int(image_size_px)
        self.confidence_min = float(confidence_min)
        self.nms_iou = float(nms_iou)
        self.class_filter = list(class_filter or [])
        self.max_detections = int(max_detections)
        self.names: dict[int, str] = dict(self.model.names)

    def detect(self, rgb: np.ndarray) -> Detections:
        image = validate_image(rgb)
        if image is None:
            return Detections.empty()
        size = (image.shape[1], image.shape[0])
        try:
            result = self.model.predict(
                image[..., ::-1],  # ultralytics takes OpenCV's BGR order for numpy input
                imgsz=self.image_size_px, conf=self.confidence_min, iou=self.nms_iou,
                classes=self.class_filter or None, max_det=self.max_detections, device="cpu", verbose=False,
            )[0]
        except Exception:  # noqa: BLE001 -- a detector fault must not take the flight down; the tracker coasts
            log.exception("perception: ultralytics detector failed on a %sx%s frame", *size)
            return Detections.empty(size)
        boxes = result.boxes.cpu().numpy()
        return _keep_classes(Detections(boxes.xyxy, boxes.conf, boxes.cls, size), self.class_filter)


def letterbox(image: np.ndarray, size_px: int) -> tuple[np.ndarray, float, tuple[float, float]]:
    """Resize keeping the aspect and pad to a square with grey 114, centred -- exactly as ultralytics does.

    Returns the padded image, the scale and the (left, top) padding so boxes can be mapped back.
    """
    height, width = image.shape[:2]
    gain = min(size_px / height, size_px / width)
    new_w, new_h = round(width * gain), round(height * gain)
    if (new_w, new_h) != (width, height):
        image = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    pad_w, pad_h = (size_px - new_w) / 2, (size_px - new_h) / 2
    top, bottom = round(pad_h - 0.1), round(pad_h + 0.1)
    left, right = round(pad_w - 0.1), round(pad_w + 0.1)
    padded = cv2.copyMakeBorder(image, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(114, 114, 114))
    return padded, gain, (left, top)


class OnnxDetector:
    """The ONNX export of a YOLO detector run with ONNX Runtime (no torch, no ultralytics)."""

    backend = "onnx"

    def __init__(
        self,
        onnx_path: str | os.PathLike[str],
        image_size_px: int | None = None,
        confidence_min: float = 0.25,
        nms_iou: float = 0.7,
        class_filter: list[int] | None = None,
        max_detections: int = 50,
        threads: int = 2,
    ) -> None:
        import onnxruntime as ort

        self.weights = resolve_weights(onnx_path)
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(self.weights), options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        shape = self.session.get_inputs()[0].shape
        fixed = shape[-1] if isinstance(shape[-1], int) else None
        if image_size_px is not None and fixed is not None and fixed != image_size_px:
            log.warning("perception: %s is exported for %d px, not %d; using %d", self.weights, fixed,
                        image_size_px, fixed)
        self.image_size_px = int(fixed or image_size_px or 320)
        self.confidence_min = float(confidence_min)
        self.nms_iou = float(nms_iou)
        self.class_filter = list(class_filter or [])
        self.max_detections = int(max_detections)
        self.names = _onnx_names(self.session)

    def detect(self, rgb: np.ndarray) -> Detections:
        image = validate_image(rgb)
        if image is None:
            return Detections.empty()
        size = (image.shape[1], image.shape[0])
        padded, gain, (left, top) = letterbox(image, self.image_size_px)
        blob = np.ascontiguousarray(padded.transpose(2, 0, 1)[None], dtype=np.float32) / 255.0
        try:
            output = self.session.run(None, {self.input_name: blob})[0]
        except Exception:  # noqa: BLE001 -- same contract as the torch backend: coast, don't crash
            log.exception("perception: onnx detector failed on a %sx%s frame", *size)
            return Detections.empty(size)
        return self._decode(output[0], gain, left, top, size)

    def _decode(self, output: np.ndarray, gain: float, left: float, top: float, size: tuple[int, int]) -> Detections:
        """(4 + classes, anchors) raw head output -> class-aware NMS -> boxes in the original image."""
        predictions = output.T  # anchors x (cx, cy, w, h, class scores...)
        scores_all = predictions[:, 4:]
        cls = scores_all.argmax(axis=1)
        conf = scores_all[np.arange(len(cls)), cls]
        keep = conf > self.confidence_min
        if self.class_filter:
            keep &= np.isin(cls, self.class_filter)
        if not np.any(keep):
            return Detections.empty(size)
        boxes, conf, cls = predictions[keep, :4], conf[keep], cls[keep]
        top_left = np.column_stack([boxes[:, 0] - boxes[:, 2] / 2, boxes[:, 1] - boxes[:, 3] / 2, boxes[:, 2:4]])
        chosen = cv2.dnn.NMSBoxesBatched(
            top_left.tolist(), conf.tolist(), cls.tolist(), self.confidence_min, self.nms_iou
        )
        chosen = np.asarray(chosen, dtype=int).reshape(-1)
        chosen = chosen[np.argsort(-conf[chosen], kind="stable")][: self.max_detections]
        xyxy = np.column_stack([top_left[chosen, :2], top_left[chosen, :2] + top_left[chosen, 2:4]])
        xyxy = (xyxy - np.array([left, top, left, top], dtype=np.float32)) / gain
        xyxy[:, [0, 2]] = xyxy[:, [0, 2]].clip(0, size[0])
        xyxy[:, [1, 3]] = xyxy[:, [1, 3]].clip(0, size[1])
        return Detections(xyxy, conf[chosen], cls[chosen], size)


def _onnx_names(session) -> dict[int, str]:
    """Class names ultralytics stores in the ONNX metadata (``{0: 'person'}``)."""
    import ast

    raw = session.get_modelmeta().custom_metadata_map.get("names")
    try:
        return {int(k): str(v) for k, v in ast.literal_eval(raw).items()} if raw else {}
    except (ValueError, SyntaxError):
        return {}


def resolve_backend(backend: str) -> str:
    """``auto`` is ultralytics where it is installed (the full install), else ONNX Runtime (the flight-only one)."""
    if backend != "auto":
        return backend
    return "ultralytics" if importlib.util.find_spec("ultralytics") is not None else "onnx"


def build_detector(params: PerceptionParams, backend: str | None = None) -> Detector:
    """The detector the config asks for (``backend`` overrides ``params.backend``)."""
    backend = resolve_backend(backend or params.backend)
    if backend == "ultralytics":
        return UltralyticsDetector(
            params.weights, params.image_size_px, params.confidence_min, params.nms_iou, params.class_filter,
            params.max_detections, params.torch_threads,
        )
    if backend == "onnx":
        return OnnxDetector(
            params.onnx_weights, params.image_size_px, params.confidence_min, params.nms_iou, params.class_filter,
            params.max_detections, params.onnx_threads,
        )
    raise ValueError(f"unknown detector backend {backend!r}: auto, ultralytics or onnx")


def weights_path_exists(path: str | os.PathLike[str]) -> bool:
    """True if :func:`resolve_weights` would find the file (for skipping when weights are not shipped yet)."""
    try:
        return Path(resolve_weights(path)).is_file()
    except FileNotFoundError:
        return False
