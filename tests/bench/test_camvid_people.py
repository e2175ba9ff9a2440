"""CamVid's Pedestrian regions become person boxes that `train detect` reads back."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from edgeimg.bench.camvid_people import main, person_boxes
from edgeimg.train.tasks.detect.data import load_detection


def label_map() -> np.ndarray:
    labels = np.full((60, 80), 3, np.uint8)  # road
    labels[10:40, 5:15] = 9  # a pedestrian, 30 rows x 10 columns
    labels[20:50, 50:58] = 9  # another
    labels[20:50, 58:60] = 10  # a bicyclist beside it: not a pedestrian
    labels[2:6, 70:74] = 9  # 16 pixels: too small to be a box
    return labels


def test_each_pedestrian_region_is_one_box_grown_by_the_dilation() -> None:
    boxes = person_boxes(label_map())
    np.testing.assert_array_equal(boxes, [[4, 9, 16, 41], [49, 19, 59, 51]])


def test_the_yolo_folders_read_back_as_the_same_boxes(tmp_path: Path) -> None:
    camvid = tmp_path / "CamVid"
    for split in ("train", "val"):
        (camvid / split).mkdir(parents=True)
        (camvid / f"{split}annot").mkdir()
        cv2.imwrite(str(camvid / split / "a.png"), np.zeros((60, 80, 3), np.uint8))
        cv2.imwrite(str(camvid / f"{split}annot" / "a.png"), label_map())
    assert main([str(camvid), str(tmp_path / "out")]) == 0
    data = load_detection(tmp_path / "out" / "val")
    assert data.class_names == ("person",)
    np.testing.assert_allclose(data.samples[0].xyxy, person_boxes(label_map()), atol=1e-3)
    assert main([str(tmp_path / "missing"), str(tmp_path / "out2")]) == 2
