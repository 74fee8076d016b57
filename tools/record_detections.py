"""Record the shipped ONNX detector's boxes on a rendered shot into test/data/recorded_detections.npz.

Three people walk past a fixed camera, two crossing each other and one passing behind a box, rendered by
the simulator's camera (cinempc_sim) and detected by the flight detector (ONNX Runtime, config/perception.yaml).
The file feeds test/test_tracker_choice.py: both ByteTracks on the same real detector output (jitter, misses,
low scores).  Usage: python tools/record_detections.py [OUT]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from cinempc.config import load_camera_profile
from cinempc.perception import load_perception_params
from cinempc.perception.detector import build_detector
from cinempc_sim.perception_data import scripted_sequence
from cinempc_sim.scenario import ActorSpec, ScriptStep

OUT = Path(__file__).resolve().parents[1] / "test" / "data" / "recorded_detections.npz"


def main(out: Path = OUT) -> None:
    camera = load_camera_profile("sim_super35")
    params = load_perception_params()
    detector = build_detector(params, "onnx")
    people = [
        ActorSpec(name="left", track_id=1, start_m=(12, -5), script=[ScriptStep(to=(12, 5), speed_mps=1.4)]),
        ActorSpec(name="right", track_id=2, start_m=(14, 5), shirt_rgb=(0.2, 0.5, 0.8),
                  script=[ScriptStep(to=(14, -5), speed_mps=1.6)]),
        ActorSpec(name="behind", track_id=3, start_m=(20, -4), shirt_rgb=(0.3, 0.7, 0.3),
                  script=[ScriptStep(to=(20, 4), speed_mps=1.2)]),
    ]
    frames = []
    for t, view in scripted_sequence(camera, people, (0.0, 0.0, 2.5), duration_s=7.0, focal_length_mm=24.0,
                                     boxes=[((18, 0, 1.0), (0.3, 1.0, 1.0))], look_at_m=(15.0, 0.0, 0.9)):
        found = detector.detect(view.rgb)
        frames.append((t, found.xyxy, found.conf, found.cls))
        print(f"t={t:.1f} s: {len(found)} boxes ({len(view.boxes_xyxy)} people visible)")
    counts = np.array([len(f[1]) for f in frames])
    np.savez_compressed(out, time_s=np.array([f[0] for f in frames]), counts=counts,
                        xyxy=np.concatenate([f[1] for f in frames]), conf=np.concatenate([f[2] for f in frames]),
                        cls=np.concatenate([f[3] for f in frames]), image_size=np.array(found.image_size))
    print(f"wrote {out}: {len(frames)} frames, {counts.sum()} boxes")


if __name__ == "__main__":
    main(*(Path(a) for a in sys.argv[1:]))
