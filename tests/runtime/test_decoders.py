"""Decoders on hand-made output arrays: exact boxes, peaks, NMS, limits, shape checks."""

from __future__ import annotations

import numpy as np
import pytest

from edgeimg.runtime.contract import ContractError, ModelContract
from edgeimg.runtime.decoder import DecoderError
from edgeimg.runtime.preprocess import Transform, letterbox
from edgeimg.runtime.tasks import create_decoder
from edgeimg.runtime.tasks.classify.softmax import SoftmaxDecoder
from edgeimg.runtime.tasks.detect.centernet import (
    CenterNetConfig,
    CenterNetDecoder,
    decode_centernet,
    find_peaks,
)


def detector_contract(**overrides) -> ModelContract:
    values = {
        "task": "detect",
        "class_names": ["person", "bag"],
        "input_size": (32, 48),
        "decoder": "centernet",
    }
    values.update(overrides)
    return ModelContract(**values)


def grid(h: int = 8, w: int = 12, c: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Empty (1, h, w, c) heatmap and (1, h, w, 4) ltrb (the outputs for a 32x48 input)."""
    return np.zeros((1, h, w, c), np.float32), np.zeros((1, h, w, 4), np.float32)


def test_a_peak_becomes_a_box_around_its_cell_centre():
    heatmap, ltrb = grid()
    heatmap[0, 2, 5, 1] = 0.9  # class 1 at cell (y=2, x=5): centre (22, 10) in input pixels
    ltrb[0, 2, 5] = (1.0, 2.0, 3.0, 0.5)  # in strides of 4 px
    decoder = create_decoder(detector_contract())
    detections = decoder([heatmap, ltrb], Transform.identity((32, 48)))
    np.testing.assert_allclose(detections.xyxy, [[22 - 4, 10 - 8, 22 + 12, 10 + 2]])
    assert detections.confidence.tolist() == [pytest.approx(0.9)]
    assert detections.class_id.tolist() == [1]


def test_boxes_are_mapped_back_through_the_letterbox_and_clipped():
    _, transform = letterbox(np.zeros((64, 192, 3), np.uint8), (32, 48))  # scale 0.25, pad y 8
    heatmap, ltrb = grid()
    heatmap[0, 3, 2, 0] = 0.8  # centre (10, 14)
    ltrb[0, 3, 2] = (1, 1, 1, 1)  # input box (6, 10, 14, 18)
    heatmap[0, 5, 11, 0] = 0.7  # centre (46, 22): the box reaches into the bottom padding
    ltrb[0, 5, 11] = (1, 1, 1, 1)  # input (42, 18, 50, 26) -> clipped to the frame
    heatmap[0, 0, 6, 0] = 0.6  # centre (26, 2): the box lies entirely in the top padding
    ltrb[0, 0, 6] = (0.25, 0.25, 0.25, 0.25)  # input (25, 1, 27, 3): nothing left in the frame
    detections = create_decoder(detector_contract())([heatmap, ltrb], transform)
    np.testing.assert_allclose(detections.xyxy, [[24, 8, 56, 40], [168, 40, 192, 64]])
    assert detections.confidence.tolist() == pytest.approx([0.8, 0.7])


def test_only_local_maxima_above_the_threshold_are_peaks():
    heatmap = np.zeros((6, 6, 1), np.float32)
    heatmap[1, 1, 0], heatmap[1, 2, 0] = 0.9, 0.5  # 0.5 is next to a higher cell: not a peak
    heatmap[4, 4, 0] = 0.3
    heatmap[4, 1, 0] = 0.05  # below threshold
    ys, xs, _, _ = find_peaks(heatmap, threshold=0.1, kernel=3)
    assert sorted(zip(ys.tolist(), xs.tolist(), strict=True)) == [(1, 1), (4, 4)]
    ys, _, _, _ = find_peaks(heatmap, threshold=0.1, kernel=1)  # no peak test: every cell
    assert len(ys) == 3


def test_a_score_that_is_not_a_finite_number_is_no_detection():
    """A broken model's inf/nan heatmap cells are dropped (found by the property tests: two inf
    peaks came out as detections with no order between them)."""
    heatmap = np.zeros((6, 6, 1), np.float32)
    heatmap[1, 1, 0], heatmap[4, 4, 0], heatmap[1, 4, 0] = np.inf, np.nan, 0.5
    ys, xs, _, scores = find_peaks(heatmap, threshold=0.1, kernel=3)
    assert list(zip(ys.tolist(), xs.tolist(), strict=True)) == [(1, 4)] and scores.tolist() == [0.5]
    from edgeimg.runtime.tasks.detect.yolo import YoloConfig, decode_yolov8

    pred = np.zeros((4 + 1, 3), np.float32)  # YOLOv8: (4 + nc, N), boxes cx, cy, w, h
    pred[:4] = [[10, 20, 30], [10, 20, 30], [4, 4, 4], [4, 4, 4]]
    pred[4] = [np.inf, 0.9, np.nan]
    _, scores, _ = decode_yolov8(pred, YoloConfig(score_threshold=0.25))
    assert scores.tolist() == [pytest.approx(0.9)]


def test_peaks_are_found_in_every_channel_of_a_heatmap_with_many_classes():
    heatmap = np.zeros((5, 6, 600), np.float32)  # more channels than one cv2.dilate call takes (64)
    heatmap[2, 3, 7], heatmap[2, 3, 550], heatmap[2, 4, 550] = 0.5, 0.8, 0.6
    ys, xs, cs, scores = find_peaks(heatmap, threshold=0.1, kernel=3)
    assert sorted(zip(ys.tolist(), xs.tolist(), cs.tolist(), strict=True)) == [
        (2, 3, 7),
        (2, 3, 550),
    ]
    assert sorted(scores.tolist()) == [0.5, pytest.approx(0.8)]


def test_peaks_of_different_classes_at_one_cell_are_both_kept():
    heatmap, ltrb = grid()
    heatmap[0, 4, 4] = (0.6, 0.5)
    ltrb[0, 4, 4] = (2, 2, 2, 2)
    detections = create_decoder(detector_contract())([heatmap, ltrb], Transform.identity((32, 48)))
    assert detections.class_id.tolist() == [0, 1]


def test_nms_removes_a_duplicate_of_the_same_class_and_zero_disables_it():
    heatmap, ltrb = grid()
    heatmap[0, 2, 2, 0], heatmap[0, 2, 4, 0] = 0.9, 0.8  # two peaks 8 px apart
    ltrb[0, 2, 2] = (3, 3, 3, 3)  # 24 px boxes: IoU (16*24)/(2*576-384) = 0.5
    ltrb[0, 2, 4] = (3, 3, 3, 3)
    identity = Transform.identity((32, 48))
    strict = create_decoder(detector_contract(decoder_params={"nms_iou": 0.4}))
    assert len(strict([heatmap, ltrb], identity)) == 1
    loose = create_decoder(detector_contract(decoder_params={"nms_iou": 0.6}))
    assert len(loose([heatmap, ltrb], identity)) == 2
    off = create_decoder(detector_contract(decoder_params={"nms_iou": 0}))
    assert len(off([heatmap, ltrb], identity)) == 2


def test_max_detections_keeps_the_best_scores_in_order():
    heatmap = np.zeros((8, 12, 1), np.float32)
    heatmap[::2, ::2, 0] = np.arange(24, dtype=np.float32).reshape(4, 6) / 30 + 0.2
    config = CenterNetConfig(max_detections=5, nms_iou=0)
    _, scores, _ = decode_centernet(heatmap, np.ones((8, 12, 4), np.float32), config)
    np.testing.assert_allclose(scores, (np.arange(23, 18, -1) / 30 + 0.2).astype(np.float32))


def test_nchw_outputs_decode_like_nhwc():
    heatmap, ltrb = grid()
    heatmap[0, 2, 5, 1] = 0.9
    ltrb[0, 2, 5] = (1, 2, 3, 0.5)
    identity = Transform.identity((32, 48))
    nhwc = create_decoder(detector_contract())([heatmap, ltrb], identity)
    decoder = create_decoder(detector_contract(decoder_params={"output_layout": "NCHW"}))
    nchw = decoder([heatmap.transpose(0, 3, 1, 2), ltrb.transpose(0, 3, 1, 2)], identity)
    np.testing.assert_array_equal(nchw.xyxy, nhwc.xyxy)
    assert nchw.class_id.tolist() == nhwc.class_id.tolist()


def test_an_empty_heatmap_gives_empty_detections():
    heatmap, ltrb = grid()
    detections = create_decoder(detector_contract())([heatmap, ltrb], Transform.identity((32, 48)))
    assert len(detections) == 0 and detections.xyxy.shape == (0, 4)


@pytest.mark.parametrize(
    ("shapes", "message"),
    [
        ([(1, 8, 12, 3), (1, 8, 12, 4)], r"heatmap expected 2 channels \(2 classes"),
        ([(1, 8, 12, 2), (1, 8, 12, 2)], "boxes expected 4 channels"),
        ([(1, 8, 12, 2)], r"expected 2 outputs \(heatmap, boxes\), got 1"),
        ([(1, 8, 12), (1, 8, 12, 4)], r"heatmap expected rank 4, got shape \(1, 8, 12\)"),
        ([(1, 8, 12, 2), (1, 4, 6, 4)], "the same grid"),
        (
            [(1, 16, 24, 2), (1, 16, 24, 4)],
            r"grid height expected 8 \(input height 32 / stride 4\)",
        ),
    ],
)
def test_outputs_that_do_not_fit_the_decoder_are_refused(shapes, message):
    decoder = create_decoder(detector_contract())
    with pytest.raises(DecoderError, match=message):
        decoder.check_output_shapes(shapes)


def test_dynamic_dimensions_pass_the_shape_check():
    create_decoder(detector_contract()).check_output_shapes(
        [(None, None, None, 2), (None, 8, 12, 4)]
    )


def test_unknown_decoder_names_the_valid_ones():
    with pytest.raises(
        ContractError,
        match=r"task detect expects one of centernet, yolov8, yolov5, yolo_nms, got 'yolo'",
    ):
        detector_contract(decoder="yolo")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"score_treshold": 0.2}, r"decoder centernet: unknown keys score_treshold; valid: stride"),
        ({"stride": 0}, "stride expected an integer >= 1, got 0"),
        ({"peak_kernel": 2}, "peak_kernel expected odd"),
        ({"nms_iou": 1.5}, r"nms_iou expected in \[0, 1\]"),
        ({"output_layout": "HWC"}, "bad decoder_params"),
    ],
)
def test_bad_decoder_params_are_refused_when_the_contract_is_read(params, message):
    with pytest.raises(ContractError, match=message):
        detector_contract(decoder_params=params)


def test_softmax_returns_the_top_k_classes_most_probable_first():
    contract = ModelContract(
        task="classify",
        class_names=["a", "b", "c", "d"],
        input_size=(8, 8),
        decoder="softmax",
        decoder_params={"top_k": 3},
    )
    decoder = create_decoder(contract)
    assert isinstance(decoder, SoftmaxDecoder) and not isinstance(decoder, CenterNetDecoder)
    scores = decoder([np.array([[0.1, 0.5, 0.15, 0.25]], np.float32)], None)
    assert scores.class_id.tolist() == [1, 3, 2]
    np.testing.assert_allclose(scores.score, [0.5, 0.25, 0.15])
    assert scores.top(contract.class_names)[0] == {"class_id": 1, "class": "b", "score": 0.5}
    with pytest.raises(DecoderError, match=r"probs expected 4 classes \(class_names\), got shape"):
        decoder.check_output_shapes([(1, 10)])
