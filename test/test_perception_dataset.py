"""Rendered dataset: labels are the masks' boxes, the held-out split is other scenes, YOLO files round-trip."""

import json

import numpy as np
import pytest

from cinempc.config import load_camera_profile
from cinempc.perception.params import DatasetParams
from cinempc_sim.perception_data import SceneRenderer, mask_box
from cinempc_sim.perception_dataset import build_dataset, read_labels

CAMERA = load_camera_profile("sim_super35")


def test_labels_are_the_tight_boxes_of_the_segmentation_masks():
    rng = np.random.default_rng(3)
    labelled = 0
    with SceneRenderer(CAMERA, (320, 240), min_box_pixels=30) as renderer:
        for _scene in range(3):
            renderer.new_scene(rng)
            for _ in range(3):
                view = renderer.random_view(rng)
                assert view.rgb.shape == (240, 320, 3) and view.rgb.dtype == np.uint8
                for actor, box in zip(view.actor_ids, view.boxes_xyxy, strict=True):
                    mask = view.segmentation == actor
                    assert mask.sum() >= 30
                    np.testing.assert_array_equal(box, mask_box(mask))
                    # every mask pixel lies inside its box, and the box touches the mask on all four sides
                    ys, xs = np.nonzero(mask)
                    assert xs.min() == box[0] and xs.max() + 1 == box[2]
                    assert ys.min() == box[1] and ys.max() + 1 == box[3]
                    labelled += 1
                unlabelled = set(np.unique(view.segmentation)) - {-1} - set(view.actor_ids)
                for actor in unlabelled:  # only specks too small to label are left out
                    assert (view.segmentation == actor).sum() < 30
    assert labelled >= 5


def test_dataset_files_round_trip_and_splits_differ(tmp_path):
    params = DatasetParams(train_images=6, val_images=4, max_actors=3)
    summary = build_dataset(tmp_path / "ds", params, CAMERA)
    manifest = json.loads((summary.root / "manifest.json").read_text())
    assert manifest["counts"] == {"train": 6, "val": 4}
    assert manifest["seeds"]["train"] != manifest["seeds"]["val"]
    assert manifest["split_sha256"]["train"] != manifest["split_sha256"]["val"]
    assert "names:\n  0: person" in summary.data_yaml.read_text()
    # the same seed renders the same labels (reproducible dataset version) ...
    again = build_dataset(tmp_path / "again", params, CAMERA)
    assert again.sha256 == summary.sha256
    # ... and the labels written are the mask boxes of a re-render
    rng = np.random.default_rng(params.train_seed)
    with SceneRenderer(CAMERA, params.image_size, tmp_path / "tex", max_actors=params.max_actors,
                       subject_distance_m=params.subject_distance_m, camera_height_m=params.camera_height_m,
                       min_box_pixels=params.min_box_pixels) as renderer:
        for i in range(4):
            if i % 4 == 0:
                renderer.new_scene(rng)
            view = renderer.random_view(rng)
            boxes = read_labels(summary.root / "labels" / "train" / f"{i:06d}.txt", 320, 240)
            assert boxes.shape == view.boxes_xyxy.shape
            np.testing.assert_allclose(boxes, view.boxes_xyxy, atol=1e-3)


@pytest.mark.parametrize("text, expected", [("", 0), ("0 0.5 0.5 0.1 0.2\n", 1)])
def test_read_labels(tmp_path, text, expected):
    path = tmp_path / "l.txt"
    path.write_text(text)
    boxes = read_labels(path, 320, 240)
    assert len(boxes) == expected
    if expected:
        np.testing.assert_allclose(boxes[0], [144, 96, 176, 144])


def test_a_share_of_small_views_frames_far_people_small():
    """Far, small people are in the training data (crossing's 18-25 px walkers went undetected without them)."""

    def smallest_boxes_px(share: float) -> list[float]:
        rng = np.random.default_rng(4)
        heights = []
        with SceneRenderer(CAMERA, (320, 240), min_box_pixels=20, small_subject_share=share) as renderer:
            for _scene in range(3):
                renderer.new_scene(rng)
                for _ in range(4):
                    boxes = renderer.random_view(rng).boxes_xyxy
                    if len(boxes):
                        heights.append(float(np.min(boxes[:, 3] - boxes[:, 1])))
        return heights

    small = smallest_boxes_px(1.0)
    assert len(small) >= 8 and np.median(small) <= 0.15 * 240  # the framed person at 6-15 % of the height
    assert np.median(smallest_boxes_px(0.0)) > np.median(small)
