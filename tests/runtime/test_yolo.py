"""Ultralytics YOLO ONNX files run as they are: layouts, metadata, `info`, `--classes`, errors.

The models are real ONNX graphs built here with the ``onnx`` package, with the output layout,
output name and ``metadata_props`` that Ultralytics' exporter writes (``engine/exporter.py``:
every value ``str()`` of a Python value) and that the ``ultralytics/yolov5`` repository's
``export.py`` writes (``stride`` and ``names`` only). Their raw output is fixed, so the decoded
boxes are known exactly, except the class scores, which are multiplied by the maximum of the
input's channel 0 after preprocessing: 1.0 for a pure red frame fed as RGB scaled 1/255, but
114/255 if the frame were fed BGR (channel 0 would be blue, only the grey padding lights it)
and 255 if it were not scaled. So a right score also proves the colour order and the scale.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeimg.cli.main import main
from edgeimg.runtime.contract import ContractError
from edgeimg.runtime.decoder import DecoderError
from edgeimg.runtime.errors import EdgeimgError
from edgeimg.runtime.model import load_model
from edgeimg.runtime.tasks.detect import ByteTrackConfig, ByteTracker, ClassFilter, Detections
from edgeimg.runtime.tasks.detect.classes import parse_classes
from edgeimg.runtime.tasks.detect.ultralytics import parse_names
from edgeimg.runtime.tasks.detect.yolo import YoloConfig, decode_yolov8

NAMES = {0: "person", 1: "bicycle", 2: "car"}
SOURCE_HW = (120, 160)  # a red frame; letterboxed into 64 x 64: scale 0.4, 8 px grey above/below
INPUT = 64

# (cx, cy, w, h) in model-input pixels, class scores, and where the box lands in the source
# (x1, y1, x2, y2) through the letterbox: x_src = x_in / 0.4, y_src = (y_in - 8) / 0.4.
ANCHORS = [
    ((32, 32, 20, 16), (0.9, 0.1, 0.0)),  # person
    ((33, 32, 20, 16), (0.8, 0.0, 0.0)),  # person again, IoU 0.9 with the first: suppressed
    ((33, 32, 20, 16), (0.0, 0.0, 0.7)),  # car at the same place: kept (class-aware NMS)
    ((10, 20, 8, 8), (0.0, 0.5, 0.0)),  # bicycle
    ((50, 50, 10, 10), (0.05, 0.05, 0.05)),  # below the threshold (0.1)
    ((32, 3, 10, 4), (0.6, 0.0, 0.0)),  # inside the grey padding: not in the frame
    ((0, 0, 0, 0), (0.0, 0.0, 0.0)),
    ((0, 0, 0, 0), (0.0, 0.0, 0.0)),
]
EXPECTED = [  # (class id, score, source box), best first
    (0, 0.9, (55.0, 40.0, 105.0, 80.0)),
    (2, 0.7, (57.5, 40.0, 107.5, 80.0)),
    (1, 0.5, (15.0, 20.0, 35.0, 40.0)),
]


def ultralytics_metadata(**changes: object) -> dict[str, str]:
    """metadata_props as Ultralytics 8.3 writes them for a detect model (values are str())."""
    values: dict[str, object] = {
        "description": "Ultralytics YOLOv8n model trained on coco.yaml",
        "author": "Ultralytics",
        "date": "2025-01-01T00:00:00+00:00",
        "version": "8.3.40",
        "license": "AGPL-3.0 License (https://ultralytics.com/license)",
        "docs": "https://docs.ultralytics.com",
        "stride": 32,
        "task": "detect",
        "head": "Detect",
        "batch": 1,
        "imgsz": [INPUT, INPUT],
        "names": NAMES,
        "args": {"batch": 1, "half": False, "dynamic": False, "simplify": True, "opset": None},
        "channels": 3,
        "end2end": False,
    }
    values.update(changes)
    return {key: str(value) for key, value in values.items()}


YOLOV5_METADATA = {"stride": "32", "names": str(NAMES)}


def yolo_onnx(
    path: Path,
    boxes: np.ndarray,
    scores: np.ndarray,
    metadata: Mapping[str, str],
    output_name: str = "output0",
) -> Path:
    """A (1, 3, 64, 64) float32 'images' input -> one output ``boxes + gate * scores``, where
    gate = max over the input's channel 0 (1x1 conv, ReduceMax). boxes and scores have the
    output's shape; scores is zero where the output holds coordinates or class ids."""
    onnx = pytest.importorskip("onnx")
    helper, tp, numpy_helper = onnx.helper, onnx.TensorProto, onnx.numpy_helper
    init = {
        "pick_r": np.array([1.0, 0.0, 0.0], np.float32).reshape(1, 3, 1, 1),
        "shape3": np.array([1, 1, 1], np.int64),
        "base": boxes.astype(np.float32),
        "scores": scores.astype(np.float32),
    }
    nodes = [
        helper.make_node("Conv", ["images", "pick_r"], ["red"], kernel_shape=[1, 1]),
        helper.make_node("ReduceMax", ["red"], ["peak"], keepdims=1),
        helper.make_node("Reshape", ["peak", "shape3"], ["gate"]),
        helper.make_node("Mul", ["gate", "scores"], ["gated"]),
        helper.make_node("Add", ["base", "gated"], [output_name]),
    ]
    graph = helper.make_graph(
        nodes,
        "yolo",
        [helper.make_tensor_value_info("images", tp.FLOAT, [1, 3, INPUT, INPUT])],
        [helper.make_tensor_value_info(output_name, tp.FLOAT, list(boxes.shape))],
        [numpy_helper.from_array(v, k) for k, v in init.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(path))
    return path


def yolov8_file(path: Path, metadata: Mapping[str, str] | None = None) -> Path:
    """(1, 4 + nc, N): rows cx, cy, w, h, then one row per class."""
    raw = np.zeros((1, 4 + len(NAMES), len(ANCHORS)), np.float32)
    for i, (box, cls) in enumerate(ANCHORS):
        raw[0, :4, i], raw[0, 4:, i] = box, cls
    scores = np.zeros_like(raw)
    scores[:, 4:], raw[:, 4:] = raw[:, 4:], 0
    return yolo_onnx(path, raw, scores, metadata or ultralytics_metadata())


def yolov5_file(path: Path) -> Path:
    """(1, N, 5 + nc): cx, cy, w, h, objectness, class probabilities. Objectness 1.0 except one
    anchor with objectness 0.5 x probability 0.9 = 0.45."""
    raw = np.zeros((1, len(ANCHORS), 5 + len(NAMES)), np.float32)
    scores = np.zeros_like(raw)
    for i, (box, cls) in enumerate(ANCHORS):
        raw[0, i, :4] = box
        scores[0, i, 4] = 1.0 if any(cls) else 0.0
        scores[0, i, 5:] = cls
    scores[0, 3, 4], scores[0, 3, 6] = 0.5, 0.9  # bicycle: 0.5 * 0.9
    return yolo_onnx(path, raw, scores, YOLOV5_METADATA)


def nms_file(path: Path, metadata: Mapping[str, str] | None = None, rows: int = 10) -> Path:
    """(1, max_det, 6): x1, y1, x2, y2, score, class; zero rows after the detections."""
    raw = np.zeros((1, rows, 6), np.float32)
    scores = np.zeros_like(raw)
    dets = [((22, 24, 42, 40), 0.9, 0), ((23, 24, 43, 40), 0.7, 2), ((6, 16, 14, 24), 0.5, 1)]
    for i, (xyxy, score, cls) in enumerate(dets):
        raw[0, i, :4], raw[0, i, 5], scores[0, i, 4] = xyxy, cls, score
    args = {"batch": 1, "half": False, "dynamic": False, "nms": True}
    return yolo_onnx(path, raw, scores, metadata or ultralytics_metadata(args=args))


def red_frame() -> np.ndarray:
    frame = np.zeros((*SOURCE_HW, 3), np.uint8)
    frame[:, :, 2] = 255  # BGR red
    return frame


def assert_expected(detections: Detections, expected=EXPECTED) -> None:
    got = [
        (int(c), round(float(s), 4), tuple(round(float(v), 3) for v in box))
        for c, s, box in zip(
            detections.class_id, detections.confidence, detections.xyxy, strict=True
        )
    ]
    assert got == [(c, s, tuple(box)) for c, s, box in expected]


LAYOUTS = {
    "yolov8": (yolov8_file, EXPECTED),
    "yolov5": (yolov5_file, [EXPECTED[0], EXPECTED[1], (1, 0.45, EXPECTED[2][2])]),
    "yolo_nms": (nms_file, EXPECTED),
}


# --- decoding through the letterbox, on both backends -------------------------------------


@pytest.mark.parametrize("backend", ["onnxruntime", "opencv"])
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_each_layout_decodes_to_known_boxes_in_source_pixels(tmp_path, layout, backend):
    make, expected = LAYOUTS[layout]
    model = load_model(make(tmp_path / f"{layout}.onnx"), backend=backend)
    assert model.contract.decoder == layout
    assert_expected(model.predict(red_frame()), expected)


def test_the_contract_comes_from_the_ultralytics_metadata(tmp_path):
    contract = load_model(yolov8_file(tmp_path / "y.onnx")).contract
    assert contract.task == "detect"
    assert contract.class_names == ("person", "bicycle", "car")
    assert contract.input_size == (INPUT, INPUT)
    assert (contract.layout.value, contract.color_order.value) == ("NCHW", "RGB")
    assert (contract.mean, contract.std) == ((0.0,) * 3, (255.0,) * 3)
    assert (contract.resize.value, contract.pad_value) == ("letterbox", 114)
    assert contract.output_names == ("output0",)
    assert contract.task_params["tracker"]["class_aware"] is True


def test_decoder_params_override_the_recognised_ones(tmp_path):
    path = yolov8_file(tmp_path / "y.onnx")
    model = load_model(path, decoder_params={"score_threshold": 0.6})
    assert_expected(model.predict(red_frame()), EXPECTED[:2])
    model = load_model(path, decoder_params={"max_detections": 1})
    assert_expected(model.predict(red_frame()), EXPECTED[:1])


def test_a_one_class_yolov5_file_is_not_taken_for_an_nms_export(tmp_path):
    onnx_path = tmp_path / "one.onnx"
    raw = np.zeros((1, 4, 6), np.float32)  # 5 + 1 class = 6 columns, like (1, N, 6)
    raw[0, 0, :4] = (32, 32, 20, 16)
    scores = np.zeros_like(raw)
    scores[0, 0, 4:] = (1.0, 0.9)
    yolo_onnx(onnx_path, raw, scores, {"stride": "32", "names": "{0: 'person'}"})
    model = load_model(onnx_path)
    assert model.contract.decoder == "yolov5"
    assert_expected(model.predict(red_frame()), [EXPECTED[0]])


def test_an_end_to_end_model_uses_the_nms_layout(tmp_path):
    path = nms_file(tmp_path / "e2e.onnx", ultralytics_metadata(end2end=True, head="v10Detect"))
    assert load_model(path).contract.decoder == "yolo_nms"


def test_decode_yolov8_matches_ultralytics_candidate_rule():
    """Candidates need their best class score strictly above the threshold; one label each."""
    pred = np.zeros((4 + 2, 3), np.float32)
    pred[:4] = np.array([[10, 10, 4, 4], [30, 30, 4, 4], [50, 50, 4, 4]], np.float32).T
    pred[4:] = np.array([[0.25, 0.2], [0.3, 0.6], [0.0, 0.26]], np.float32).T
    xyxy, scores, classes = decode_yolov8(pred, YoloConfig(score_threshold=0.25))
    assert classes.tolist() == [1, 1]
    assert scores.tolist() == pytest.approx([0.6, 0.26])
    assert xyxy.tolist() == [[28, 28, 32, 32], [48, 48, 52, 52]]


# --- metadata --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("{0: 'person', 1: 'bicycle'}", ("person", "bicycle")),
        ("{1: 'b', 0: 'a'}", ("a", "b")),
        ("['a', 'b']", ("a", "b")),
    ],
)
def test_parse_names(text, names):
    assert parse_names(text) == names


@pytest.mark.parametrize("text", ["{0: 'a', 2: 'c'}", "__import__('os')", "{}", "person"])
def test_parse_names_refuses_what_is_not_a_class_table(text):
    with pytest.raises(ContractError, match="names"):
        parse_names(text)


def test_info_shows_what_was_recognised(tmp_path, capsys):
    path = yolov8_file(tmp_path / "yolov8n.onnx")
    assert main(["info", str(path), "--no-probe"]) == 0
    out = capsys.readouterr().out
    contract_line = next(line for line in out.splitlines() if line.startswith("contract"))
    assert "built from its metadata: Ultralytics 8.3.40 YOLOv8n" in contract_line
    assert "3 classes (person, bicycle, car)" in contract_line
    assert "output0 (1, 7, 8) -> decoder yolov8" in contract_line
    assert "['person', 'bicycle', 'car']" in out and "NCHW" in out


# --- files that cannot run -------------------------------------------------------------------


def test_an_unknown_layout_is_a_one_line_error_with_the_shapes_and_contract_hint(tmp_path):
    raw = np.zeros((1, 9, 10), np.float32)  # neither (1, 7, N), (1, N, 8) nor (1, N, 6)
    path = yolo_onnx(tmp_path / "odd.onnx", raw, np.zeros_like(raw), ultralytics_metadata())
    with pytest.raises(ContractError) as caught:
        load_model(path)
    message = str(caught.value)
    assert "\n" not in message
    assert "found output0 (1, 9, 10) float32" in message
    assert "(1, 7, N) for YOLOv8/11" in message and "--contract FILE" in message


def test_the_cli_reports_an_unknown_layout_in_one_line_and_writes_nothing(tmp_path, capsys):
    raw = np.zeros((1, 9, 10), np.float32)
    path = yolo_onnx(tmp_path / "odd.onnx", raw, np.zeros_like(raw), ultralytics_metadata())
    out = tmp_path / "out.jsonl"
    code = main(["track", "--model", str(path), "--frames", "1", "--jsonl", str(out)])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "(1, 9, 10)" in err[0] and "--contract" in err[0]
    assert not out.exists()


def test_another_ultralytics_task_is_refused_by_name(tmp_path):
    path = yolov8_file(tmp_path / "seg.onnx", ultralytics_metadata(task="segment"))
    with pytest.raises(ContractError, match="an Ultralytics segment model"):
        load_model(path)


def test_a_file_without_any_known_metadata_names_its_outputs(tmp_path):
    raw = np.zeros((1, 7, 8), np.float32)
    path = yolo_onnx(tmp_path / "bare.onnx", raw, np.zeros_like(raw), {})
    with pytest.raises(ContractError, match=r"outputs: output0 \(1, 7, 8\) float32.*--contract"):
        load_model(path)


def test_a_contract_that_names_the_wrong_class_count_is_refused(tmp_path):
    path = yolov8_file(tmp_path / "y.onnx", ultralytics_metadata(names={0: "a", 1: "b"}))
    with pytest.raises(EdgeimgError):  # 2 classes would be (1, 6, N) or (1, N, 7)
        load_model(path)
    config = {"task": "detect", "class_names": ["a", "b"], "input_size": [64, 64],
              "layout": "NCHW", "std": [255, 255, 255], "decoder": "yolov8"}  # fmt: skip
    contract_file = tmp_path / "c.json"
    contract_file.write_text(json.dumps(config))
    with pytest.raises(DecoderError, match=r"expected an output of shape \(1, 6, N\)"):
        load_model(path, contract=contract_file)


# --- --classes and per-class tracking --------------------------------------------------------


def test_parse_classes_by_name_or_id():
    names = ("person", "bicycle", "car")
    assert parse_classes("person,car", names) == (0, 2)
    assert parse_classes(" Car , 1 ", names) == (1, 2)
    with pytest.raises(EdgeimgError, match=r"no class 'bus'; valid .*0 person, 1 bicycle, 2 car"):
        parse_classes("person,bus", names)
    with pytest.raises(EdgeimgError, match="no class '3'"):
        parse_classes("3", names)


def test_class_filter_keeps_the_chosen_classes_and_leaves_its_input_alone():
    dets = Detections(np.zeros((3, 4)), np.array([0.9, 0.8, 0.7]), np.array([0, 1, 2]))
    kept = ClassFilter([2, 0]).update(dets, 0.0)
    assert kept.class_id.tolist() == [0, 2] and len(dets) == 3


def write_frames(folder: Path, count: int) -> Path:
    folder.mkdir()
    for i in range(count):
        cv2.imwrite(str(folder / f"{i:03d}.png"), red_frame())
    return folder


def test_predict_with_classes_keeps_only_those(tmp_path, capsys):
    path = yolov8_file(tmp_path / "y.onnx")
    frames = write_frames(tmp_path / "frames", 2)
    out = tmp_path / "cars.jsonl"
    assert main(["predict", str(path), str(frames), "--classes", "car", "-o", str(out)]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 2
    assert [[d["class"] for d in r["detections"]] for r in records] == [["car"], ["car"]]
    assert records[0]["detections"][0]["box"] == [57.5, 40.0, 107.5, 80.0]


def test_track_with_classes_tracks_each_class_with_its_own_ids(tmp_path, capsys):
    path = yolov8_file(tmp_path / "y.onnx")
    frames = write_frames(tmp_path / "frames", 3)
    out = tmp_path / "t.jsonl"
    args = ["track", "--model", str(path), "--source", str(frames), "--jsonl", str(out)]
    assert main([*args, "--classes", "person,2"]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    last = {d["class"]: d["track_id"] for d in records[-1]["detections"]}
    # person and car overlap (IoU 0.9) yet keep separate tracks; the bicycle is filtered out
    assert set(last) == {"person", "car"} and len(set(last.values())) == 2
    assert all(r["detections"] for r in records)


def test_an_unknown_class_is_a_one_line_error_and_nothing_is_written(tmp_path, capsys):
    path = yolov8_file(tmp_path / "y.onnx")
    out = tmp_path / "t.jsonl"
    code = main(["track", "--model", str(path), "--jsonl", str(out), "--classes", "bus"])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no class 'bus'" in err[0] and "0 person" in err[0]
    assert not out.exists()


def test_a_class_aware_tracker_never_gives_a_track_to_another_class():
    box = np.array([[10, 10, 50, 90]], np.float32)
    person = Detections(box, [0.9], [0])
    car = Detections(box, [0.9], [2])
    tracker = ByteTracker(ByteTrackConfig(class_aware=True))
    first = tracker.update(person, 0.0).tracker_id
    tracker.update(car, 1 / 30)  # a car where the person was: a new track, not the person's
    tracker.update(car, 2 / 30)
    again = tracker.update(Detections.concatenate([person, car]), 3 / 30)
    assert again.tracker_id[0] == first[0]
    assert again.tracker_id[1] not in (-1, first[0])
