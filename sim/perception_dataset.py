"""``cinempc perception dataset``: a labelled YOLO dataset rendered from random simulator scenes.

Layout (what ultralytics expects)::

    <out>/images/{train,val}/000000.png   <out>/labels/{train,val}/000000.txt   <out>/data.yaml
    <out>/manifest.json   (version, seeds, counts, per-split hashes: the dataset version recorded in provenance)

The held-out ``val`` split comes from a different seed, hence different scenes,
actors, clothes, props and camera placements -- never other views of a training
scene.  Labels are the tight boxes of the segmentation mask (class 0, person).
Rendering is :mod:`cinempc_sim.perception_data`'s; this module lives in ``sim/`` because
the cores in ``cinempc/`` never import the simulator (test_perception_imports).
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from cinempc.config import CameraProfile, load_camera_profile
from cinempc.perception.params import DatasetParams

__all__ = ["DatasetSummary", "build_dataset", "read_labels", "yolo_lines"]

VIEWS_PER_SCENE = 4
CLASS_NAMES = {0: "person"}


@dataclass(frozen=True)
class DatasetSummary:
    root: Path
    data_yaml: Path
    counts: dict[str, int]
    boxes: dict[str, int]
    sha256: str


def yolo_lines(boxes_xyxy: np.ndarray, width: int, height: int) -> list[str]:
    """Pixel boxes -> YOLO label lines ``class cx cy w h`` normalised to the image."""
    lines = []
    for x1, y1, x2, y2 in np.asarray(boxes_xyxy, dtype=float).reshape(-1, 4):
        cx, cy = (x1 + x2) / 2 / width, (y1 + y2) / 2 / height
        w, h = (x2 - x1) / width, (y2 - y1) / height
        lines.append(f"0 {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}")
    return lines


def read_labels(path: Path, width: int, height: int) -> np.ndarray:
    """YOLO label file -> pixel boxes (N, 4) ``x1 y1 x2 y2``."""
    text = Path(path).read_text().strip() if Path(path).is_file() else ""
    rows = [list(map(float, line.split()[1:5])) for line in text.splitlines() if line.strip()]
    if not rows:
        return np.zeros((0, 4))
    a = np.array(rows)
    return np.column_stack([(a[:, 0] - a[:, 2] / 2) * width, (a[:, 1] - a[:, 3] / 2) * height,
                            (a[:, 0] + a[:, 2] / 2) * width, (a[:, 1] + a[:, 3] / 2) * height])


def _render_split(root: Path, split: str, count: int, seed: int, params: DatasetParams, camera: CameraProfile,
                  digest: hashlib._Hash, progress: bool) -> tuple[int, int]:
    from cinempc_sim.perception_data import SceneRenderer

    images = root / "images" / split
    labels = root / "labels" / split
    images.mkdir(parents=True, exist_ok=True)
    labels.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    n_boxes = 0
    with tempfile.TemporaryDirectory() as tex, SceneRenderer(
        camera, params.image_size, Path(tex), params.max_actors, params.subject_distance_m,
        params.camera_height_m, params.min_box_pixels, params.subject_fraction, params.small_subject_share,
        params.small_subject_fraction,
    ) as renderer:
        for i in range(count):
            if i % VIEWS_PER_SCENE == 0:
                renderer.new_scene(rng)
            view = renderer.random_view(rng)
            name = f"{i:06d}"
            ok, png = cv2.imencode(".png", view.rgb[..., ::-1])
            if not ok:
                raise RuntimeError(f"could not encode image {name}")
            (images / f"{name}.png").write_bytes(png.tobytes())
            text = "\n".join(yolo_lines(view.boxes_xyxy, params.image_size[0], params.image_size[1]))
            (labels / f"{name}.txt").write_text(text + ("\n" if text else ""))
            digest.update(png.tobytes())
            digest.update(text.encode())
            n_boxes += len(view.boxes_xyxy)
            if progress and (i + 1) % 100 == 0:
                print(f"  {split}: {i + 1}/{count} images, {n_boxes} boxes", flush=True)
    return count, n_boxes


def build_dataset(out_dir: str | Path, params: DatasetParams | None = None, camera: CameraProfile | None = None,
                  train_images: int | None = None, val_images: int | None = None,
                  progress: bool = False) -> DatasetSummary:
    """Render the train and held-out val splits and write ``data.yaml`` + ``manifest.json``."""
    params = params or DatasetParams()
    camera = camera or load_camera_profile("sim_super35")
    root = Path(out_dir).resolve()
    root.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    boxes: dict[str, int] = {}
    hashes: dict[str, str] = {}
    plan = {"train": (train_images or params.train_images, params.train_seed),
            "val": (val_images or params.val_images, params.val_seed)}
    for split, (count, seed) in plan.items():
        digest = hashlib.sha256()
        counts[split], boxes[split] = _render_split(root, split, int(count), int(seed), params, camera, digest,
                                                    progress)
        hashes[split] = digest.hexdigest()
    total = hashlib.sha256((hashes["train"] + hashes["val"]).encode()).hexdigest()
    data_yaml = root / "data.yaml"
    data_yaml.write_text(
        f"path: {root}\ntrain: images/train\nval: images/val\nnames:\n  0: person\n"
    )
    manifest = {
        "dataset_version": params.version, "sha256": total, "split_sha256": hashes, "counts": counts,
        "boxes": boxes, "seeds": {s: plan[s][1] for s in plan}, "camera_profile": camera.name,
        "params": params.model_dump(mode="json"),
    }
    (root / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return DatasetSummary(root, data_yaml, counts, boxes, total)
