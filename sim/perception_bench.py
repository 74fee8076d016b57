"""``cinempc bench perception [--json]``: detector accuracy, tracking quality, 3D error and latency.

* ``map50`` / ``map50_95`` -- ultralytics validation of the shipped weights on the
  held-out split (seeds and scenes never seen in training; rendered on the fly
  if ``runs/perception/dataset`` is missing).
* ``map50_eval_worlds`` / ``map50_95_eval_worlds`` -- the same on views of the
  evaluation scenarios' own worlds rendered by the simulator's camera (16 per
  scenario; never trained on): the domain gap the closed loop feels.
* ``id_switches`` / ``mota`` -- CLEAR-MOT over scripted sequences (a walker
  behind a wall for a second, two people crossing, a runner far away on a long
  lens), full pipeline with the real detector; ground truth boxes from the
  segmentation mask, IoU >= 0.5 matching (Hungarian).
* ``position_error_m_p50`` / ``p95`` -- feet-point error of visible subjects up
  to 20 m, with the simulator's depth image as the closed loop has it; the
  ``*_no_depth`` variants use the box, the lens and the pose only.
* ``latency_ms_torch_320`` / ``latency_ms_onnx_320`` -- median detector time per
  320x240 frame on this machine's CPU with the configured thread counts.

Also runnable as ``python -m cinempc_sim.perception_bench [--json]``.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

from cinempc.config import load_camera_profile
from cinempc.perception import ensure_offline, resolve_weights
from cinempc.perception.detector import iou_matrix
from cinempc.perception.params import PerceptionParams, load_perception_params

__all__ = ["run", "clear_mot", "iou_matrix"]

MAX_RANGE_FOR_ERROR_M = 20.0
EVAL_WORLDS_SEED = 7
EVAL_WORLDS_VIEWS_PER_SCENARIO = 16


def clear_mot(frames: list[tuple[dict[int, np.ndarray], dict[int, np.ndarray]]], iou_min: float = 0.5) -> dict:
    """CLEAR-MOT counts over frames of ``(truth {actor: box}, hypotheses {track_id: box})``.

    Returns ground-truth count, misses, false positives, ID switches, MOTA and the
    per-frame matches ``[{actor: track_id}]`` (for the position error).
    """
    gt_total = misses = false_pos = switches = 0
    last_match: dict[int, int] = {}
    matches_per_frame = []
    for truth, hyp in frames:
        t_ids, h_ids = list(truth), list(hyp)
        matches: dict[int, int] = {}
        if t_ids and h_ids:
            iou = iou_matrix(np.array([truth[i] for i in t_ids]), np.array([hyp[j] for j in h_ids]))
            rows, cols = linear_sum_assignment(-iou)
            for r, c in zip(rows, cols, strict=True):
                if iou[r, c] >= iou_min:
                    matches[t_ids[r]] = h_ids[c]
        gt_total += len(t_ids)
        misses += len(t_ids) - len(matches)
        false_pos += len(h_ids) - len(matches)
        for actor, track in matches.items():
            if actor in last_match and last_match[actor] != track:
                switches += 1
            last_match[actor] = track
        matches_per_frame.append(matches)
    mota = 1.0 - (misses + false_pos + switches) / gt_total if gt_total else float("nan")
    return {"gt": gt_total, "misses": misses, "false_positives": false_pos, "id_switches": switches,
            "mota": mota, "matches": matches_per_frame}


def _sequences():
    """The scripted shots: (name, actors, camera position, look-at, focal mm, occluder boxes, duration)."""
    from cinempc_sim.scenario import ActorSpec, ScriptStep

    return [
        ("walker_behind_wall",
         [ActorSpec(name="walker", track_id=1, start_m=(10, -5), start_heading_deg=90,
                    script=[ScriptStep(to=(10, 5), speed_mps=1.4)])],
         (0.0, 0.0, 3.0), (10.0, 0.0, 0.9), 30.0, [((7.0, 0.0, 1.15), (0.2, 0.7, 1.15))], 7.0),
        ("two_crossing",
         [ActorSpec(name="red", track_id=1, start_m=(15, -6), start_heading_deg=90,
                    script=[ScriptStep(to=(15, 6), speed_mps=1.6)]),
          ActorSpec(name="blue", track_id=2, start_m=(18, 6), start_heading_deg=-90, shirt_rgb=(0.2, 0.3, 0.8),
                    script=[ScriptStep(to=(18, -6), speed_mps=1.3)])],
         (0.0, 0.0, 6.0), (16.0, 0.0, 0.9), 28.0, [], 8.0),
        ("far_runner_long_lens",
         [ActorSpec(name="runner", track_id=1, start_m=(19, -4), start_heading_deg=90, shirt_rgb=(0.9, 0.8, 0.1),
                    script=[ScriptStep(to=(19, 4), speed_mps=3.5)])],
         (0.0, 0.0, 8.0), (19.0, 0.0, 0.9), 70.0, [], 2.4),
    ]


def _track_sequences(params: PerceptionParams, detector) -> dict:
    from cinempc.perception.pipeline import PerceptionPipeline
    from cinempc.state import RigState
    from cinempc_sim.perception_data import scripted_sequence

    camera = load_camera_profile("sim_super35")
    all_frames = []
    errors = {"depth": [], "no_depth": []}
    for _name, actors, position, look_at, focal, boxes, duration in _sequences():
        rel = np.subtract(look_at, position)
        rig = RigState(position_m=position, yaw_rad=math.atan2(rel[1], rel[0]),
                       pitch_rad=math.atan2(rel[2], math.hypot(rel[0], rel[1])), focal_length_mm=focal)
        pipelines = {use: PerceptionPipeline(camera, params, detector) for use in ("depth", "no_depth")}
        for t, view in scripted_sequence(camera, actors, position, duration_s=duration, rate_hz=params.frame_rate_hz,
                                         boxes=boxes, focal_length_mm=focal, look_at_m=look_at):
            truth = dict(zip(view.actor_ids, view.boxes_xyxy, strict=True))
            subjects = {}
            for use, pipeline in pipelines.items():
                found = pipeline.process(view.rgb, rig, t, focal_length_mm=focal,
                                         depth_m=view.depth_m if use == "depth" else None)
                subjects[use] = {s.track_id: s for s in found if s.visible}
            hyp = dict(pipelines["depth"].last_subject_boxes)
            all_frames.append((truth, hyp))
            for use in errors:
                hyp_use = dict(pipelines[use].last_subject_boxes)
                matches = clear_mot([(truth, hyp_use)])["matches"][0]
                for actor, track_id in matches.items():
                    feet = view.feet_m[actor]
                    if track_id in subjects[use] and np.linalg.norm(feet[:2] - position[:2]) <= MAX_RANGE_FOR_ERROR_M:
                        errors[use].append(float(np.linalg.norm(subjects[use][track_id].positions_m[0, :2]
                                                                - feet[:2])))
    mot = clear_mot(all_frames)
    return {"mot": mot, "errors": {k: np.asarray(v) for k, v in errors.items()}}


def _heldout_dataset(params: PerceptionParams, tmp: Path, val_images: int) -> Path:
    """``runs/perception/dataset`` if it is the configured dataset version, else the held-out split rendered now.

    A dataset folder of another version (another generator or labelling rule) would
    score the weights on images the current generator no longer makes.
    """
    from cinempc_sim.perception_dataset import build_dataset

    dataset = Path("runs/perception/dataset/data.yaml")
    manifest = dataset.parent / "manifest.json"
    if dataset.is_file() and manifest.is_file():
        record = json.loads(manifest.read_text())
        if (record.get("dataset_version") == params.dataset.version
                and record.get("seeds", {}).get("val") == params.dataset.val_seed
                and record.get("counts", {}).get("val") == val_images):
            return dataset
    return build_dataset(tmp / "heldout", params.dataset, train_images=1, val_images=val_images).data_yaml


def _validate(params: PerceptionParams, data_yaml: Path, tmp: Path) -> tuple[float, float]:
    from ultralytics import YOLO

    model = YOLO(str(resolve_weights(params.weights)), task="detect")
    metrics = model.val(data=str(data_yaml), split="val", imgsz=params.image_size_px, batch=16, device="cpu",
                        plots=False, verbose=False, workers=0, conf=0.001, iou=0.7,
                        project=str(tmp / "val"), name="bench", exist_ok=True)
    return float(metrics.box.map50), float(metrics.box.map)


def _map(params: PerceptionParams, val_images: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        dataset = _heldout_dataset(params, Path(tmp), val_images)
        map50, map50_95 = _validate(params, dataset, Path(tmp))
        manifest = json.loads((dataset.parent / "manifest.json").read_text())
        return {"map50": map50, "map50_95": map50_95, "heldout_images": manifest["counts"]["val"],
                "heldout_dataset_version": manifest["dataset_version"],
                "heldout_sha256": manifest["split_sha256"]["val"]}


def _map_eval_worlds(params: PerceptionParams, views_per_scenario: int) -> dict:
    """mAP on the evaluation scenarios' own worlds, rendered by the simulator's camera (never trained on).

    The held-out split measures generalisation to new random scenes; this measures
    the gap to the worlds the closed loop flies in (their ground, backdrop, props and
    renderer) -- the gap that decides ``--perception yolo`` against ground truth.
    """
    import cv2

    from cinempc_sim.perception_data import scenario_views
    from cinempc_sim.perception_dataset import yolo_lines
    from cinempc_sim.scenario import scenario_paths

    rng = np.random.default_rng(EVAL_WORLDS_SEED)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "eval_worlds"
        (root / "images" / "val").mkdir(parents=True)
        (root / "labels" / "val").mkdir(parents=True)
        n = boxes_total = 0
        for path in scenario_paths():
            for rgb, boxes in scenario_views(path, views_per_scenario, rng, image_size=params.dataset.image_size):
                cv2.imwrite(str(root / "images" / "val" / f"{n:06d}.png"), rgb[..., ::-1])
                text = "\n".join(yolo_lines(boxes, rgb.shape[1], rgb.shape[0]))
                (root / "labels" / "val" / f"{n:06d}.txt").write_text(text + ("\n" if text else ""))
                n += 1
                boxes_total += len(boxes)
        data_yaml = root / "data.yaml"
        data_yaml.write_text(f"path: {root}\ntrain: images/val\nval: images/val\nnames:\n  0: person\n")
        map50, map50_95 = _validate(params, data_yaml, Path(tmp))
    return {"map50_eval_worlds": map50, "map50_95_eval_worlds": map50_95, "eval_worlds_images": n,
            "eval_worlds_boxes": boxes_total}


def _latency_ms(detector, frames: list[np.ndarray], repeats: int = 3) -> float:
    for frame in frames[:3]:
        detector.detect(frame)  # warm-up: first calls allocate
    times = []
    for _ in range(repeats):
        for frame in frames:
            start = time.perf_counter()
            detector.detect(frame)
            times.append((time.perf_counter() - start) * 1e3)
    return float(np.median(times))


def run(args: argparse.Namespace | None = None) -> dict:
    """All perception numbers as a flat dict (the keys of issue #5)."""
    ensure_offline()
    from cinempc.perception.detector import OnnxDetector, UltralyticsDetector
    from cinempc_sim.perception_data import SceneRenderer

    quick = bool(getattr(args, "quick", False))
    params = load_perception_params(getattr(args, "config", None) or "perception.yaml")
    torch_detector = UltralyticsDetector(params.weights, params.image_size_px, params.confidence_min,
                                         params.nms_iou, params.class_filter, params.max_detections,
                                         params.torch_threads)
    onnx_detector = OnnxDetector(params.onnx_weights, params.image_size_px, params.confidence_min, params.nms_iou,
                                 params.class_filter, params.max_detections, params.onnx_threads)
    result: dict = {}
    result.update(_map(params, 60 if quick else params.dataset.val_images))
    result.update(_map_eval_worlds(params, 3 if quick else EVAL_WORLDS_VIEWS_PER_SCENARIO))
    tracking = _track_sequences(params, torch_detector)
    mot = tracking["mot"]
    errors = tracking["errors"]
    result.update({
        "id_switches": int(mot["id_switches"]), "mota": float(mot["mota"]),
        "misses": int(mot["misses"]), "false_positives": int(mot["false_positives"]), "gt_boxes": int(mot["gt"]),
    })
    for use, suffix in (("depth", ""), ("no_depth", "_no_depth")):
        e = errors[use]
        result[f"position_error_m_p50{suffix}"] = float(np.percentile(e, 50)) if e.size else float("nan")
        result[f"position_error_m_p95{suffix}"] = float(np.percentile(e, 95)) if e.size else float("nan")
    rng = np.random.default_rng(params.dataset.val_seed + 1)
    camera = load_camera_profile("sim_super35")
    frames = []
    with SceneRenderer(camera, params.dataset.image_size) as renderer:
        for i in range(6 if quick else 20):
            if i % 4 == 0:
                renderer.new_scene(rng)
            frames.append(renderer.random_view(rng).rgb)
    result["latency_ms_torch_320"] = _latency_ms(torch_detector, frames, 1 if quick else 3)
    result["latency_ms_onnx_320"] = _latency_ms(onnx_detector, frames, 1 if quick else 3)
    result["goals_met"] = {
        "map50>=0.95": result["map50"] >= 0.95,
        "position_error_m_p95<=0.5": result["position_error_m_p95"] <= 0.5,
        "latency_ms_onnx_320<=25": result["latency_ms_onnx_320"] <= 25.0,
    }
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cinempc bench perception", description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--quick", action="store_true", help="fewer held-out images and latency repeats")
    parser.add_argument("--config", default="perception.yaml")
    parser.add_argument("--record", action="store_true",
                        help="also write the numbers into the shipped weights' provenance.json (evaluation)")
    args = parser.parse_args(argv)
    result = run(args)
    if args.record:
        from cinempc.perception.training import WEIGHTS_DIR

        path = WEIGHTS_DIR / "provenance.json"
        record = json.loads(path.read_text())
        record["evaluation"] = {**result, "command": "python -m cinempc_sim.perception_bench --record"
                                + (" --quick" if args.quick else "")}
        path.write_text(json.dumps(record, indent=2, default=str) + "\n")
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:32s} {value:.4g}" if isinstance(value, float) else f"{key:32s} {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
