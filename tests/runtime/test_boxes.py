"""Box geometry: hand-computed IoUs, greedy NMS (class-aware), conversions, clipping."""

from __future__ import annotations

import numpy as np
import pytest

from edgeimg.runtime.tasks.detect.boxes import (
    area,
    clip,
    cxcywh_to_xyxy,
    iou_matrix,
    nms,
    xywh_to_xyxy,
    xyxy_to_cxcywh,
    xyxy_to_xywh,
)

# (box a, box b, IoU worked out by hand)
IOU_CASES = [
    ([0, 0, 10, 10], [0, 0, 10, 10], 1.0),  # identical
    ([0, 0, 10, 10], [5, 0, 15, 10], 50 / 150),  # half overlap: 50 / (100 + 100 - 50)
    ([0, 0, 10, 10], [5, 5, 15, 15], 25 / 175),  # corner overlap: 25 / (100 + 100 - 25)
    ([0, 0, 10, 10], [2, 2, 8, 8], 36 / 100),  # b inside a
    ([0, 0, 10, 10], [10, 0, 20, 10], 0.0),  # touching edges
    ([0, 0, 10, 10], [20, 20, 30, 30], 0.0),  # disjoint
    ([0, 0, 4, 2], [1, -1, 3, 5], 4 / 16),  # cross: inter 2x2, union 8 + 12 - 4
    ([0, 0, 0, 0], [0, 0, 0, 0], 0.0),  # empty boxes: no union
]


@pytest.mark.parametrize(("a", "b", "expected"), IOU_CASES)
def test_iou_of_hand_made_pairs(a, b, expected):
    assert iou_matrix(np.array([a]), np.array([b]))[0, 0] == pytest.approx(expected, abs=1e-6)
    assert iou_matrix(np.array([b]), np.array([a]))[0, 0] == pytest.approx(expected, abs=1e-6)


def test_iou_matrix_is_pairwise_n_by_m():
    a = np.array([case[0] for case in IOU_CASES], np.float32)
    b = np.array([case[1] for case in IOU_CASES], np.float32)
    matrix = iou_matrix(a, b[:3])
    assert matrix.shape == (len(a), 3)
    assert matrix.dtype == np.float32
    for i in range(len(a)):
        for j in range(3):
            assert matrix[i, j] == pytest.approx(iou_matrix(a[i : i + 1], b[j : j + 1])[0, 0])


@pytest.mark.parametrize(("n", "m"), [(0, 3), (3, 0), (0, 0)])
def test_iou_matrix_of_empty_input_is_empty(n, m):
    out = iou_matrix(np.zeros((n, 4)), np.ones((m, 4)))
    assert out.shape == (n, m)


def test_iou_matrix_refuses_wrong_shape():
    with pytest.raises(ValueError, match=r"expected shape \(N, 4\), got \(2, 3\)"):
        iou_matrix(np.zeros((2, 3)), np.zeros((1, 4)))


def test_nms_keeps_the_best_of_overlapping_boxes_in_score_order():
    boxes = np.array(
        [
            [0, 0, 10, 10],  # 0: best of cluster A
            [1, 0, 11, 10],  # 1: IoU 90/110 = 0.82 with 0 -> dropped
            [50, 50, 60, 60],  # 2: alone
            [5, 0, 15, 10],  # 3: IoU 1/3 with 0 -> kept at threshold 0.5
        ],
        np.float32,
    )
    scores = np.array([0.9, 0.8, 0.95, 0.7])
    assert nms(boxes, scores, 0.5).tolist() == [2, 0, 3]
    assert nms(boxes, scores, 0.3).tolist() == [2, 0]  # 1/3 > 0.3: now 3 goes too
    assert nms(boxes, scores, 1.0).tolist() == [2, 0, 1, 3]  # nothing exceeds IoU 1


def test_nms_is_class_aware_when_given_class_ids():
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [1, 1, 10, 10]], np.float32)
    scores = np.array([0.9, 0.8, 0.7])
    assert nms(boxes, scores, 0.5).tolist() == [0]
    assert nms(boxes, scores, 0.5, class_id=np.array([0, 1, 1])).tolist() == [0, 1]
    assert nms(boxes, scores, 0.5, class_id=np.array([0, 1, 2])).tolist() == [0, 1, 2]


def test_nms_of_nothing_is_nothing():
    kept = nms(np.zeros((0, 4)), np.zeros(0), 0.5)
    assert kept.shape == (0,) and kept.dtype == np.int64


def test_nms_refuses_mismatched_lengths():
    with pytest.raises(ValueError, match="expected 2 values, got 3"):
        nms(np.zeros((2, 4)), np.zeros(3), 0.5)


def test_conversions_round_trip_and_match_hand_values():
    xyxy = np.array([[10, 20, 40, 80], [0, 0, 1, 1]], np.float32)
    assert xyxy_to_xywh(xyxy).tolist() == [[10, 20, 30, 60], [0, 0, 1, 1]]
    assert xyxy_to_cxcywh(xyxy).tolist() == [[25, 50, 30, 60], [0.5, 0.5, 1, 1]]
    np.testing.assert_array_equal(xywh_to_xyxy(xyxy_to_xywh(xyxy)), xyxy)
    np.testing.assert_array_equal(cxcywh_to_xyxy(xyxy_to_cxcywh(xyxy)), xyxy)
    assert xyxy.tolist() == [[10, 20, 40, 80], [0, 0, 1, 1]]  # input untouched


def test_clip_keeps_boxes_inside_the_image_and_area_ignores_inverted_boxes():
    boxes = np.array([[-5, -5, 20, 30], [90, 40, 120, 70]], np.float32)
    assert clip(boxes, (50, 100)).tolist() == [[0, 0, 20, 30], [90, 40, 100, 50]]
    assert area(np.array([[0, 0, 2, 3], [5, 5, 4, 4]])).tolist() == [6, 0]


def test_nms_stops_once_max_output_boxes_are_kept():
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60], [80, 0, 90, 10]])
    scores = np.array([0.9, 0.8, 0.7, 0.6])
    assert nms(boxes, scores, 0.5, max_output=2).tolist() == [0, 2]
    assert nms(boxes, scores, 0.5, max_output=10).tolist() == [0, 2, 3]


def test_nms_matches_its_definition_also_when_boxes_span_several_blocks(monkeypatch):
    import edgeimg.runtime.tasks.detect.boxes as boxes_module

    rng = np.random.default_rng(5)
    corners = rng.uniform(0, 100, (60, 2))
    boxes = np.concatenate([corners, corners + rng.uniform(10, 30, (60, 2))], axis=1)
    scores = rng.uniform(0, 1, 60)
    classes = rng.integers(0, 3, 60)
    whole = nms(boxes, scores, 0.4, class_id=classes)
    pairwise = iou_matrix(boxes, boxes)
    reference: list[int] = []  # the definition, one box at a time
    for i in np.argsort(-scores):
        if all(classes[k] != classes[i] or pairwise[i, k] <= 0.4 for k in reference):
            reference.append(int(i))
    assert whole.tolist() == reference
    monkeypatch.setattr(boxes_module, "NMS_BLOCK", 7)
    assert nms(boxes, scores, 0.4, class_id=classes).tolist() == whole.tolist()
    assert 3 < len(whole) < 60  # the case really suppresses some boxes and keeps others
