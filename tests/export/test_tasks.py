"""The export task registry: each task's output check, parity agreement, float nodes and
evaluator, and generic code that asks the registry instead of branching on the task."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import onnx
import pytest

from edgeimg.export.calibration import prepare_batch
from edgeimg.export.evaluation import HeldOut
from edgeimg.export.onnx_export import ExportOptions, export_keras
from edgeimg.export.quantize import QUANTIZATION_KEY, QuantizeOptions, quantize_int8
from edgeimg.export.tasks import (
    Agreement,
    export_task_names,
    get_export_task,
    register_export_task,
)
from edgeimg.export.tasks.detect import match_detections
from edgeimg.runtime.contract import ModelContract
from edgeimg.runtime.errors import EdgeimgError
from edgeimg.runtime.tasks.detect.detections import Detections

DETECT = ModelContract(
    task="detect",
    class_names=("person", "car"),
    input_size=(32, 32),
    decoder="centernet",
    decoder_params={"stride": 4},
    output_names=("heatmap", "boxes"),
)
CLASSIFY = ModelContract(
    task="classify", class_names=("a", "b", "c"), input_size=(8, 8), output_names=("probs",)
)


@pytest.fixture(scope="module")
def classifier_onnx(person_classifier, tmp_path_factory):
    path = tmp_path_factory.mktemp("tasks_cls") / "person.onnx"
    return export_keras(person_classifier.keras_path, path, ExportOptions())


def test_built_in_tasks_are_registered_by_name():
    assert {"detect", "classify"} <= set(export_task_names())
    assert get_export_task("detect").name == "detect"
    assert get_export_task("classify").name == "classify"


def test_unknown_task_lists_the_exportable_ones():
    with pytest.raises(
        EdgeimgError,
        match=r"export: task: expected one of classify, detect(, \w+)*, got 'depth' "
        r"\(a task without export support\)",
    ):
        get_export_task("depth")


@pytest.mark.parametrize(
    ("contract", "shapes", "message"),
    [
        (DETECT, {"heatmap": (8, 8, 2), "boxes": (8, 8, 4)}, None),
        (
            DETECT,
            {"heatmap": (8, 8, 1), "boxes": (8, 8, 4)},
            "'heatmap' has 1 channels, expected 2",
        ),
        (DETECT, {"heatmap": (8, 8, 2), "boxes": (8, 8, 5)}, "'boxes' has 5 channels, expected 4"),
        (DETECT, {"heatmap": (None, None, 2), "boxes": (None, None, None)}, None),
        (CLASSIFY, {"probs": (3,)}, None),
        (CLASSIFY, {"probs": (4,)}, "'probs' has 4 channels, expected 3 .3 classes"),
    ],
)
def test_output_check_per_task(contract, shapes, message):
    check = get_export_task(contract.task).check_outputs
    if message is None:
        check(shapes, contract, "m.keras")
    else:
        with pytest.raises(EdgeimgError, match=f"m.keras: output {message}"):
            check(shapes, contract, "m.keras")


def heatmap_with_peaks(peaks: list[tuple[int, int, int, float]]) -> dict[str, np.ndarray]:
    """Outputs of one 32x32 image (stride 4): peaks (y, x, class, score), boxes 1 stride wide."""
    heatmap = np.zeros((1, 8, 8, 2), np.float32)
    for y, x, c, score in peaks:
        heatmap[0, y, x, c] = score
    return {"heatmap": heatmap, "boxes": np.ones((1, 8, 8, 4), np.float32)}


def stack(*outputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([o[k] for o in outputs]) for k in outputs[0]}


def test_detect_agreement_matches_decoded_boxes_per_image():
    agreement = get_export_task("detect").agreement
    ref = stack(heatmap_with_peaks([(2, 2, 0, 0.9), (6, 6, 1, 0.8)]), heatmap_with_peaks([]))
    same = agreement(ref, ref, DETECT)
    assert same == Agreement("boxes matched", 1.0, 2, 0.0)
    # ONNX: the first box's score moved by 0.01, the second box has the other class
    got = stack(heatmap_with_peaks([(2, 2, 0, 0.89), (6, 6, 0, 0.8)]), heatmap_with_peaks([]))
    moved = agreement(got, ref, DETECT)
    assert moved.fraction == 0.5 and moved.items == 2
    assert moved.score_diff == pytest.approx(0.01, abs=1e-6)


def test_detect_agreement_counts_boxes_found_by_one_model_only():
    got = Detections(
        xyxy=np.array([[0, 0, 10, 10], [50, 50, 60, 60]], np.float32),
        confidence=np.array([0.9, 0.5], np.float32),
        class_id=np.array([0, 0]),
    )
    ref = Detections(
        xyxy=np.array([[1, 1, 10, 10]], np.float32),
        confidence=np.array([0.8], np.float32),
        class_id=np.array([0]),
    )
    matched, total, worst = match_detections(got, ref)
    assert (matched, total) == (1, 2)
    assert worst == pytest.approx(0.1)


def test_classify_agreement_is_top1_over_images_without_a_score_gate():
    agreement = get_export_task("classify").agreement
    ref = {"probs": np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.2, 0.3, 0.5]], np.float32)}
    got = {"probs": np.array([[0.6, 0.3, 0.1], [0.5, 0.4, 0.1], [0.2, 0.3, 0.5]], np.float32)}
    assert agreement(got, ref, CLASSIFY) == Agreement("top-1 agreement", 2 / 3, 3, None)


def test_only_the_detector_keeps_float_nodes(classifier_onnx):
    proto = onnx.load(str(classifier_onnx.path))
    assert get_export_task("classify").float_nodes(proto) == []


@pytest.mark.parametrize(
    ("task", "held_out", "message"),
    [
        ("classify", HeldOut([np.zeros((8, 8, 3), np.uint8)], [(np.zeros((0, 4)), np.zeros(0))],
                             "boxes", score=lambda p, t, c: 0.0),
         "classify evaluation data: expected a class label per image .* got boxes targets"),
        ("detect", HeldOut([np.zeros((8, 8, 3), np.uint8)], [1], "labels"),
         "detect evaluation data: expected boxes per image .* got labels targets"),
        ("detect", HeldOut([np.zeros((8, 8, 3), np.uint8)], [(np.zeros((0, 4)), np.zeros(0))],
                           "boxes"),
         "expected a score function"),
    ],
)  # fmt: skip
def test_evaluators_refuse_data_of_another_kind(task, held_out, message):
    contract = DETECT if task == "detect" else CLASSIFY
    with pytest.raises(EdgeimgError, match=message):
        get_export_task(task).evaluator(held_out, contract, False)


def test_held_out_data_is_checked():
    with pytest.raises(
        EdgeimgError, match="evaluation data kind: expected one of labels, boxes, masks"
    ):
        HeldOut([np.zeros((8, 8, 3), np.uint8)], [0], "depth")
    with pytest.raises(EdgeimgError, match=r"expected one target per image .* got 1 for 2 images"):
        HeldOut([np.zeros((8, 8, 3), np.uint8)] * 2, [0], "labels")


def test_quantization_keeps_the_nodes_the_registered_task_names(
    classifier_onnx, person_classifier, tmp_path, request
):
    """Generic quantization asks the registry: a classify task that keeps its last node in
    float gets exactly that, with no change to the quantizer."""
    proto = onnx.load(str(classifier_onnx.path))
    last = proto.graph.node[-1].name
    original = get_export_task("classify")
    task = replace(original, float_nodes=lambda p: [p.graph.node[-1].name])
    assert register_export_task(task) is task
    request.addfinalizer(lambda: register_export_task(original))
    batch = prepare_batch(person_classifier.calibration.images[:8], classifier_onnx.contract)
    out = tmp_path / "int8.onnx"
    quantize_int8(classifier_onnx.path, out, batch, QuantizeOptions(debug_images=0))
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert json.loads(meta[QUANTIZATION_KEY])["float_nodes"] == [last]
    quantize_int8(
        classifier_onnx.path,
        tmp_path / "whole.onnx",
        batch,
        QuantizeOptions(debug_images=0, keep_head_float=False),
    )
    meta = {p.key: p.value for p in onnx.load(str(tmp_path / "whole.onnx")).metadata_props}
    assert json.loads(meta[QUANTIZATION_KEY])["float_nodes"] == []
