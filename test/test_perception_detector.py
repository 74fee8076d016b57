"""The shipped detector on rendered frames: both backends agree, it finds people, bad images are harmless,
and the full pipeline keeps a walker's ID through a one-second occlusion behind a wall."""

import math

import numpy as np
import pytest

from cinempc.config import load_camera_profile
from cinempc.perception import load_perception_params
from cinempc.perception.detector import OnnxDetector, UltralyticsDetector, build_detector, iou_matrix
from cinempc.perception.estimation import CameraView
from cinempc.perception.pipeline import PerceptionPipeline
from cinempc.state import RigState
from cinempc_sim.perception_data import SceneRenderer, scenario_views, scripted_sequence
from cinempc_sim.scenario import ActorSpec, ScriptStep

CAMERA = load_camera_profile("sim_super35")
PARAMS = load_perception_params()
# measured with the stage-4 weights (dataset v3) on seeds 11-13: recall 0.94-0.95, 0.1-0.5 false boxes a frame;
# the stage-3 weights (dataset v2) scored 0.25-0.39 and 3.1-3.6
RECALL_MIN_EVAL_WORLDS = 0.8
FALSE_BOXES_PER_FRAME_MAX_EVAL_WORLDS = 1.0


@pytest.fixture(scope="module")
def detectors():
    return build_detector(PARAMS, "ultralytics"), build_detector(PARAMS, "onnx")


@pytest.fixture(scope="module")
def heldout_views():
    """Views of scenes from a seed the training never used."""
    rng = np.random.default_rng(PARAMS.dataset.val_seed + 77)
    views = []
    with SceneRenderer(CAMERA, (320, 240)) as renderer:
        for i in range(32):
            if i % 4 == 0:
                renderer.new_scene(rng)
            views.append(renderer.random_view(rng))
    return views


def test_backends_share_the_interface(detectors):
    torch_det, onnx_det = detectors
    assert isinstance(torch_det, UltralyticsDetector) and isinstance(onnx_det, OnnxDetector)
    assert torch_det.names == onnx_det.names == {0: "person"}


def test_both_backends_agree_within_tolerance(detectors, heldout_views, monkeypatch):
    torch_det, onnx_det = detectors
    for detector in detectors:  # compare raw outputs: a box just above one threshold may sit just below it in the other
        monkeypatch.setattr(detector, "confidence_min", 0.05)
    compared = 0
    for view in heldout_views:
        a, b = torch_det.detect(view.rgb), onnx_det.detect(view.rgb)
        confident_a, confident_b = a[a.conf > 0.3], b[b.conf > 0.3]
        for dets, other in ((confident_a, b), (confident_b, a)):
            for box, conf in zip(dets.xyxy, dets.conf, strict=True):
                assert len(other), "a confident box of one backend has no counterpart in the other"
                iou = iou_matrix(box[None], other.xyxy)[0]
                j = int(iou.argmax())
                assert iou[j] > 0.85
                assert abs(other.conf[j] - conf) < 0.15  # torch letterboxes 320x256, the ONNX graph 320x320
                compared += 1
    assert compared >= 8


def test_finds_the_people_in_held_out_scenes(detectors, heldout_views):
    torch_det, _ = detectors
    found = total = 0
    for view in heldout_views:
        detections = torch_det.detect(view.rgb)
        for box in view.boxes_xyxy:
            if box[3] - box[1] < 20:  # specks are the benchmark's business
                continue
            total += 1
            found += bool(len(detections)) and iou_matrix(box[None], detections.xyxy).max() >= 0.5
    assert total >= 10
    # held-out mAP50 of the shipped model: 0.954 (provenance.json `evaluation`).  Measured recall here: 35/35
    # (1.0) on these views, 0.84 and 0.92 on the next two held-out seeds; the bar is the eval worlds' (0.8),
    # not the 0.5 it had been loosened to (0.85 -> 0.6 -> 0.5 with the stage-3 weights)
    assert found / total >= RECALL_MIN_EVAL_WORLDS, (found, total)


def test_finds_the_people_in_the_evaluation_worlds_without_phantoms(detectors):
    """The closed loop flies in the scenarios' own worlds, never trained on: their ground, props and renderer.

    Dataset v2 drew its ground as one smeared box; its detector read these worlds' crisp
    checker squares as people (eval-world mAP50 0.11, ~2.5 false boxes a frame).
    """
    torch_det, _ = detectors
    rng = np.random.default_rng(11)
    found = total = false_boxes = frames = 0
    for scenario in ("single_walker", "crossing", "occlusion_trees"):
        for rgb, boxes in scenario_views(scenario, 6, rng):
            detections = torch_det.detect(rgb)
            frames += 1
            iou = iou_matrix(boxes, detections.xyxy) if len(boxes) and len(detections) else np.zeros((len(boxes),
                                                                                                       len(detections)))
            false_boxes += int((iou.max(axis=0, initial=0.0) < 0.5).sum()) if len(detections) else 0
            for k, box in enumerate(boxes):
                if box[3] - box[1] < 20:  # specks are the benchmark's business
                    continue
                total += 1
                found += bool(iou.shape[1]) and iou[k].max() >= 0.5
    assert total >= 12
    assert found / total >= RECALL_MIN_EVAL_WORLDS
    assert false_boxes / frames <= FALSE_BOXES_PER_FRAME_MAX_EVAL_WORLDS


@pytest.mark.parametrize("bad", [np.zeros((0, 0, 3), np.uint8), np.full((240, 320, 3), np.inf),
                                 np.zeros((240, 320), np.uint8), np.zeros((4, 4, 3), np.uint8), "garbage", None])
def test_corrupted_images_give_empty_detections(detectors, bad):
    for detector in detectors:
        assert len(detector.detect(bad)) == 0


def test_blank_frame_has_no_subjects(detectors):
    pipeline = PerceptionPipeline(CAMERA, PARAMS, detectors[0])
    sky = np.full((240, 320, 3), (170, 200, 235), np.uint8)
    rig = RigState(position_m=[0, 0, 5])
    assert pipeline.process(sky, rig, 0.0) == []


def test_real_detector_keeps_the_id_through_a_one_second_occlusion(detectors):
    walker = ActorSpec(name="walker", track_id=1, start_m=(10, -5), start_heading_deg=90,
                       script=[ScriptStep(to=(10, 5), speed_mps=1.4)])
    position, look_at = (0.0, 0.0, 3.0), (10.0, 0.0, 0.9)
    rel = np.subtract(look_at, position)
    rig = RigState(position_m=position, yaw_rad=math.atan2(rel[1], rel[0]),
                   pitch_rad=math.atan2(rel[2], math.hypot(rel[0], rel[1])), focal_length_mm=30.0)
    pipeline = PerceptionPipeline(CAMERA, PARAMS, detectors[0])
    ids, hidden_frames, errors = set(), 0, []
    for t, view in scripted_sequence(CAMERA, [walker], position, duration_s=6.5, boxes=[((7, 0, 1.15),
                                     (0.2, 0.7, 1.15))], focal_length_mm=30.0, look_at_m=look_at):
        subjects = pipeline.process(view.rgb, rig, t, focal_length_mm=30.0, depth_m=view.depth_m)
        hidden_frames += len(view.boxes_xyxy) == 0 and t > 2.0
        for s in subjects:
            ids.add(s.track_id)
            if s.visible:
                errors.append(np.linalg.norm(s.positions_m[0, :2] - view.feet_m[0][:2]))
    assert hidden_frames >= 10  # the wall really hides the walker for a second or more
    assert len(ids) == 1
    assert np.median(errors) < 0.3  # a few frames at the wall's edge are off by ~1 m (half-hidden boxes)


def test_real_detector_keeps_a_walker_far_away_at_the_widest_lens(detectors):
    """At 18 mm a walker 20-40 m away is 11-20 px tall.  Measured on the frames where they are 11-15 px:
    the detector alone found them in 38 % (none under 12 px), with the enlarged window around the
    subject's prediction (``zoom_in_scale``) in all."""
    walker = ActorSpec(name="walker", track_id=1, start_m=(20, 1), start_heading_deg=0,
                       script=[ScriptStep(to=(40, 3), speed_mps=3.0)])
    position, look_at, focal_mm = (0.0, 0.0, 2.0), (30.0, 2.0, 0.9), 18.0
    rel = np.subtract(look_at, position)
    rig = RigState(position_m=position, yaw_rad=math.atan2(rel[1], rel[0]),
                   pitch_rad=math.atan2(rel[2], math.hypot(rel[0], rel[1])), focal_length_mm=focal_mm)
    camera = CameraView(np.array(position), rig.yaw_rad, rig.pitch_rad, focal_mm, CAMERA.sensor_width_mm, 320, 240)
    frames = list(scripted_sequence(CAMERA, [walker], position, duration_s=7.0, focal_length_mm=focal_mm,
                                    look_at_m=look_at))
    found = {}
    for scale in (1.0, PARAMS.zoom_in_scale):
        pipeline = PerceptionPipeline(CAMERA, PARAMS.with_(zoom_in_scale=scale), detectors[0])
        seen, errors = [], []
        for t, view in frames:
            subjects = pipeline.process(view.rgb, rig, t, focal_length_mm=focal_mm, depth_m=view.depth_m)
            feet = view.feet_m[0]
            height_px = camera.project(feet)[1] - camera.project(np.add(feet, [0, 0, walker.height_m]))[1]
            if 11 <= height_px < 16:  # (under 10 px the enlarged window finds half of them)
                seen.append(bool(pipeline.seen_ids))
            errors += [np.linalg.norm(s.positions_m[0, :2] - feet[:2]) for s in subjects if s.visible]
        assert len(seen) >= 20 and not pipeline.lost
        found[scale] = float(np.mean(seen))
        assert np.median(errors) < 0.3
    assert PARAMS.zoom_in_scale > 1.0  # (the shipped config looks again)
    assert found[PARAMS.zoom_in_scale] >= 0.9 and found[PARAMS.zoom_in_scale] > found[1.0], found
