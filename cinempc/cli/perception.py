"""``cinempc perception dataset|train|export``: make the person detector the project ships.

    cinempc perception dataset --out runs/perception/dataset
    cinempc perception train --data runs/perception/dataset --install
    cinempc perception export --weights cinempc/perception/weights/cinempc_person_yolo11n.pt
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``perception`` sub-command and its actions."""
    parser = subparsers.add_parser(
        "perception", help="person detector: render a dataset, train, export ONNX",
        description="Render a labelled dataset from random simulator scenes, train a YOLO detector from its YAML "
        "definition (no downloaded weights), export it to ONNX. Numbers come from config/perception.yaml.",
    )
    parser.add_argument("--config", default="perception.yaml", help="perception parameter file")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    dataset = actions.add_parser("dataset", help="render the labelled train + held-out val splits")
    dataset.add_argument("--out", default="runs/perception/dataset", help="output folder")
    dataset.add_argument("--train-images", type=int, help="override dataset.train_images")
    dataset.add_argument("--val-images", type=int, help="override dataset.val_images")
    dataset.add_argument("--camera", default="sim_super35", help="camera profile (sensor + zoom range)")
    dataset.set_defaults(func=run_dataset)

    train = actions.add_parser("train", help="train from the model YAML on a rendered dataset")
    train.add_argument("--data", default="runs/perception/dataset", help="dataset folder (with data.yaml)")
    train.add_argument("--out", default="runs/perception", help="ultralytics run folder")
    train.add_argument("--epochs", type=int, help="override training.epochs")
    train.add_argument("--time-h", type=float, help="stop after this many hours (ultralytics 'time')")
    train.add_argument("--fraction", type=float, default=1.0, help="use this fraction of the training images")
    train.add_argument("--init-weights", help="continue from these weights of an earlier stage (same model YAML)")
    train.add_argument("--install", action="store_true",
                       help="copy best.pt + ONNX + provenance.json into cinempc/perception/weights/")
    train.add_argument("--name", default="cinempc_person_yolo11n", help="file stem of the installed weights")
    train.set_defaults(func=run_train)

    loop = actions.add_parser("closed-loop", help="fly scenarios with ground truth and with perception, compare")
    loop.add_argument("scenarios", nargs="*", default=["single_walker"], help="scenario names or files")
    loop.add_argument("--backend", choices=["ultralytics", "onnx"], help="detector backend (default: config)")
    loop.add_argument("--duration-s", type=float, help="shorter runs than the shots' own durations")
    loop.add_argument("--seeds", type=int, nargs="+", default=[0],
                      help="simulator seeds (sensor noise, the operator's taps); several: one row per seed "
                           "('crossing@1') -- a single run of a scenario that hinges on a few boxes proves little")
    loop.add_argument("--json", action="store_true")
    loop.set_defaults(func=run_closed_loop)

    install = actions.add_parser("install", help="install a finished training run if it beats the shipped weights")
    install.add_argument("--run", required=True, help="the run folder (runs/perception/train_continued)")
    install.add_argument("--name", default="cinempc_person_yolo11n", help="file stem of the installed weights")
    install.add_argument("--force", action="store_true", help="install even if held-out mAP50 is not better")
    install.set_defaults(func=run_install)

    export = actions.add_parser("export", help="export .pt weights to ONNX (static 320 px input)")
    export.add_argument("--weights", required=True)
    export.add_argument("--out", help="ONNX path (default: next to the weights)")
    export.set_defaults(func=run_export)


def run_dataset(args: argparse.Namespace) -> int:
    from cinempc.config import load_camera_profile
    from cinempc.perception.params import load_perception_params
    from cinempc_sim.perception_dataset import build_dataset

    params = load_perception_params(args.config)
    summary = build_dataset(args.out, params.dataset, load_camera_profile(args.camera), args.train_images,
                            args.val_images, progress=True)
    print(json.dumps({"root": str(summary.root), "counts": summary.counts, "boxes": summary.boxes,
                      "sha256": summary.sha256}, indent=2))
    return 0


def run_train(args: argparse.Namespace) -> int:
    from cinempc.perception.params import load_perception_params
    from cinempc.perception.training import train_detector

    params = load_perception_params(args.config)
    data = Path(args.data)
    data_yaml = data / "data.yaml" if data.is_dir() else data
    if not data_yaml.is_file():
        raise FileNotFoundError(f"{data_yaml} not found: run `cinempc perception dataset` first")
    manifest_path = data_yaml.parent / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    training = params.training
    previous = None
    if args.init_weights:
        init = Path(args.init_weights)
        if not init.is_file():
            raise FileNotFoundError(f"--init-weights {init} not found")
        record = init.parent / "provenance.json"
        previous = json.loads(record.read_text()) if record.is_file() else {"weights": str(init)}
        # keep a copy: --install overwrites the shipped weights this stage starts from
        staged = Path(args.out) / "init_weights.pt"
        staged.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(init, staged)
        args.init_weights = str(staged)
    result = train_detector(data_yaml, args.out, training, args.epochs, params.image_size_px, args.fraction,
                            time_h=args.time_h, init_weights=args.init_weights,
                            name="train_continued" if args.init_weights else "train")
    print(json.dumps(result, indent=2))
    # everything `perception install` needs later: a run can be installed after it has been evaluated
    record = {"command": ["cinempc", *sys.argv[1:]], "result": result, "training": training.model_dump(mode="json"),
              "dataset_manifest": manifest, "previous_stage": previous}
    Path(result["save_dir"], "cinempc_train.json").write_text(json.dumps(record, indent=2) + "\n")
    if not args.install:
        return 0
    return _install_if_better(record, params, args.name, force=False)


def _install(record: dict, params, name: str) -> None:
    """Copy a run's weights + ONNX export + provenance into the shipped ``weights/`` folder."""
    from cinempc.perception.params import TrainingParams
    from cinempc.perception.training import WEIGHTS_DIR, export_onnx, write_provenance

    WEIGHTS_DIR.mkdir(parents=True, exist_ok=True)
    pt = WEIGHTS_DIR / f"{name}.pt"
    shutil.copyfile(record["result"]["weights"], pt)
    onnx = export_onnx(pt, params.image_size_px, WEIGHTS_DIR / f"{name}.onnx")
    provenance = write_provenance(
        WEIGHTS_DIR / "provenance.json", command=record["command"], training=record["result"],
        params=TrainingParams(**record["training"]), dataset_manifest=record["dataset_manifest"],
        files={"torch": pt, "onnx": onnx}, previous_stage=record["previous_stage"],
    )
    print(f"installed {pt}, {onnx}, {provenance}")


def run_install(args: argparse.Namespace) -> int:
    """Install a finished run -- only if it beats the shipped weights on the same held-out split.

    Compared on mAP50 of the held-out split (the run's final validation against the
    shipped provenance's ``evaluation.map50``, falling back to its training metrics);
    a different held-out split (another val hash) makes the numbers incomparable and
    is refused unless ``--force``.
    """
    from cinempc.perception.params import load_perception_params

    params = load_perception_params(args.config)
    path = Path(args.run) / "cinempc_train.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: not a run of `cinempc perception train`")
    return _install_if_better(json.loads(path.read_text()), params, args.name, args.force)


def _install_if_better(record: dict, params, name: str, force: bool) -> int:
    from cinempc.perception.training import WEIGHTS_DIR

    new_map50 = float(record["result"]["metrics"].get("metrics/mAP50(B)", float("nan")))
    shipped_path = WEIGHTS_DIR / "provenance.json"
    shipped = json.loads(shipped_path.read_text()) if shipped_path.is_file() else {}
    old_map50 = float(shipped.get("evaluation", {}).get("map50",
                      shipped.get("training_metrics_val", {}).get("metrics/mAP50(B)", float("-inf"))))
    print(f"held-out mAP50: run {new_map50:.4f}, shipped {old_map50:.4f}")
    new_val = (record["dataset_manifest"].get("split_sha256") or {}).get("val")
    old_val = (shipped.get("dataset", {}).get("split_sha256") or {}).get("val")
    if not force and new_val and old_val and new_val != old_val:
        print(f"not installed: held-out split differs (val sha256 {new_val[:12]} vs shipped {old_val[:12]})")
        return 1
    if not force and not new_map50 > old_map50:
        print("not installed: the run does not beat the shipped weights")
        return 1
    _install(record, params, name)
    return 0


def run_export(args: argparse.Namespace) -> int:
    from cinempc.perception.params import load_perception_params
    from cinempc.perception.training import export_onnx

    params = load_perception_params(args.config)
    out = export_onnx(args.weights, params.image_size_px, args.out)
    print(out)
    return 0


def run_closed_loop(args: argparse.Namespace) -> int:
    """The acceptance check of the perception issue: yolo vs ground truth on composition and focus."""
    from cinempc_sim.closed_loop import run_scenario
    from cinempc_sim.perception_data import run_scenario_with_perception

    keys = ("composition_error_rms", "in_focus_fraction")
    seeds = list(dict.fromkeys(args.seeds))
    rows = {}
    for scenario in args.scenarios:
        for seed in seeds:
            truth = run_scenario(scenario, duration_s=args.duration_s, video=False, render_rate_hz=0, seed=seed)
            perceived, wrapper = run_scenario_with_perception(scenario, backend=args.backend or "ultralytics",
                                                              duration_s=args.duration_s, seed=seed)
            row = {f"{k}_groundtruth": truth.metrics.get(k) for k in keys}
            row.update({f"{k}_perception": perceived.metrics.get(k) for k in keys})
            row["composition_error_rms_delta"] = row["composition_error_rms_perception"] - \
                row["composition_error_rms_groundtruth"]
            row["in_focus_fraction_delta"] = row["in_focus_fraction_perception"] - \
                row["in_focus_fraction_groundtruth"]
            row["pass"] = row["composition_error_rms_delta"] <= 0.02 and row["in_focus_fraction_delta"] >= -0.05
            row["lost_events"] = len(wrapper.lost_events)
            label = scenario if len(seeds) == 1 else f"{scenario}@{seed}"
            rows[label] = row
            if not args.json:
                print(f"{label}: " + ", ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}"
                                               for k, v in row.items()), flush=True)
    if args.json:
        print(json.dumps(rows, indent=2))
    elif len(rows) > 1:
        print(f"passed {sum(r['pass'] for r in rows.values())} of {len(rows)} runs")
    return 0
