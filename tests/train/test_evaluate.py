"""COCO AP through pycocotools on hand-made cases, and classification metrics."""

from __future__ import annotations

import numpy as np
import pytest

from edgeimg.runtime.tasks.detect.detections import Detections
from edgeimg.train.tasks.classify.evaluate import accuracy, confusion_matrix, format_confusion
from edgeimg.train.tasks.detect.evaluate import detection_ap

TRUTH = np.array([[10, 10, 50, 90], [100, 20, 140, 100]], np.float32)


def dets(xyxy, scores, classes=None) -> Detections:
    classes = np.zeros(len(scores), np.int32) if classes is None else classes
    return Detections(np.array(xyxy, np.float32).reshape(-1, 4), scores, classes)


def test_perfect_detections_score_one() -> None:
    result = detection_ap([dets(TRUTH, [0.9, 0.8])], [(TRUTH, np.zeros(2))])
    assert result.ap50 == pytest.approx(1.0) and result.ap == pytest.approx(1.0)
    assert (result.images, result.ground_truth, result.detections) == (1, 2, 2)


def test_half_the_objects_found_gives_half_the_ap() -> None:
    result = detection_ap([dets(TRUTH[:1], [0.9])], [(TRUTH, np.zeros(2))])
    assert result.ap50 == pytest.approx(0.5, abs=0.01)


def test_loose_boxes_count_at_iou_05_but_not_at_075() -> None:
    loose = TRUTH.copy()
    loose[:, 2] += 16  # width 40 -> 56: IoU 40/56 = 0.71
    result = detection_ap([dets(loose, [0.9, 0.8])], [(TRUTH, np.zeros(2))])
    assert result.ap50 == pytest.approx(1.0)
    assert result.ap75 == pytest.approx(0.0)


def test_a_confident_false_positive_ranks_first_and_costs_precision() -> None:
    boxes = np.vstack([[300, 300, 340, 380], TRUTH])
    result = detection_ap([dets(boxes, [0.99, 0.9, 0.8])], [(TRUTH, np.zeros(2))])
    assert 0.5 < result.ap50 < 0.8


def test_wrong_class_is_no_match() -> None:
    result = detection_ap(
        [dets(TRUTH, [0.9, 0.8], np.array([1, 1], np.int32))], [(TRUTH, np.zeros(2))], 2
    )
    assert result.ap50 == 0.0


def test_no_detections_scores_zero() -> None:
    result = detection_ap([Detections.empty()], [(TRUTH, np.zeros(2))])
    assert result.ap50 == 0.0 and result.detections == 0


def test_confusion_matrix_rows_are_true_classes() -> None:
    matrix = confusion_matrix(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 2]), 3)
    assert matrix.tolist() == [[1, 1, 0], [0, 1, 0], [0, 0, 1]]
    assert accuracy(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 2])) == 0.75
    table = format_confusion(matrix, ("a", "b", "c"))
    assert table.splitlines()[1].endswith("0.500")  # recall of class a
