"""load_model: contract from metadata (or a file), exact decoding end to end, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from edgeimg.runtime.backends.choose import int8_sibling
from edgeimg.runtime.contract import ContractError, ModelContract
from edgeimg.runtime.decoder import DecoderError
from edgeimg.runtime.errors import EdgeimgError
from edgeimg.runtime.model import load_model
from edgeimg.runtime.tasks.detect.detections import Detections

# Same model, same frame: onnxruntime and cv2.dnn sum float32 products in different orders, so
# outputs differ by ~1e-7; after decoding, boxes agree within BOX_ATOL px, scores within SCORE_ATOL.
BOX_ATOL = 0.01
SCORE_ATOL = 1e-5

ASSET = Path(__file__).resolve().parents[2] / "runtime" / "assets" / "person_detector.onnx"


def assert_same_detections(a: Detections, b: Detections) -> None:
    assert len(a) == len(b)
    np.testing.assert_allclose(a.xyxy, b.xyxy, atol=BOX_ATOL, rtol=0)
    np.testing.assert_allclose(a.confidence, b.confidence, atol=SCORE_ATOL, rtol=0)
    assert a.class_id.tolist() == b.class_id.tolist()


def test_the_contract_comes_from_the_model_metadata(detector_path, detector_contract):
    model = load_model(detector_path)
    assert model.contract == ModelContract.from_dict(detector_contract)
    assert "onnxruntime" in repr(model)


def test_a_hand_made_heatmap_decodes_to_the_exact_box_in_the_source_frame(make_constant_detector):
    heatmap = np.zeros((1, 16, 24, 2), np.float32)
    boxes = np.zeros((1, 16, 24, 4), np.float32)
    heatmap[0, 5, 10, 1] = 0.75  # class "bag", cell centre (42, 22) in input pixels
    boxes[0, 5, 10] = (2, 1, 2, 1)  # input box (34, 18, 50, 26)
    model = load_model(make_constant_detector(heatmap, boxes))
    frame = np.zeros((128, 384, 3), np.uint8)  # letterboxed into 64x96: scale 1/4, 16 px bars
    detections = model.predict(frame)
    np.testing.assert_allclose(detections.xyxy, [[136, 8, 200, 40]])
    assert detections.class_id.tolist() == [1]
    assert detections.confidence.tolist() == [0.75]
    assert detections.tracker_id is None


def test_stage_by_stage_calls_give_what_predict_gives(detector_path, street_frame):
    model = load_model(detector_path)
    before = street_frame.copy()
    feeds, transform = model.preprocess(street_frame)
    assert {name: t.shape for name, t in feeds.items()} == {"image": (1, 64, 96, 3)}
    outputs = model.infer(feeds)
    assert set(outputs) == {"heatmap", "boxes"}
    staged = model.decode(outputs, transform)
    assert_same_detections(staged, model.predict(street_frame))
    np.testing.assert_array_equal(street_frame, before)
    assert len(staged) > 0


def test_onnxruntime_and_opencv_find_the_same_detections(detector_path, street_frame):
    by_ort = load_model(detector_path, backend="onnxruntime").predict(street_frame)
    by_cv = load_model(detector_path, backend="opencv").predict(street_frame)
    assert len(by_ort) > 5
    assert_same_detections(by_ort, by_cv)


def test_decoder_params_can_be_overridden_at_load(detector_path, street_frame):
    everything = load_model(detector_path).predict(street_frame)
    strict = load_model(detector_path, decoder_params={"score_threshold": 0.5})
    assert strict.contract.decoder_params["score_threshold"] == 0.5
    kept = strict.predict(street_frame)
    assert len(kept) == int((everything.confidence > 0.5).sum())


def test_a_model_without_metadata_is_refused_with_the_keys_and_how_to_supply_them(make_detector):
    path = make_detector("bare.onnx", contract=None)
    with pytest.raises(ContractError) as error:
        load_model(path)
    message = str(error.value)
    assert "no edgeimg metadata (missing key: task)" in message
    assert "--contract FILE" in message and "\n" not in message


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_a_contract_file_describes_a_model_without_metadata(
    make_detector, detector_contract, tmp_path, street_frame, suffix
):
    path = make_detector("bare.onnx", contract=None)
    sidecar = tmp_path / f"contract{suffix}"
    dump = json.dumps if suffix == ".json" else yaml.safe_dump
    sidecar.write_text(dump(detector_contract))
    model = load_model(path, contract=sidecar)
    described = load_model(make_detector("full.onnx")).predict(street_frame)
    assert_same_detections(model.predict(street_frame), described)


def test_partial_metadata_names_the_missing_keys(make_detector, detector_contract):
    partial = {k: v for k, v in detector_contract.items() if k != "class_names"}
    onnx = pytest.importorskip("onnx")
    path = make_detector("partial.onnx", contract=None)
    model = onnx.load(str(path))
    onnx.helper.set_model_props(model, {f"edgeimg.{k}": json.dumps(v) for k, v in partial.items()})
    onnx.save(model, str(path))
    with pytest.raises(
        ContractError, match="class_names: task detect expects at least one, got none"
    ):
        load_model(path)


def test_outputs_are_read_by_name_whatever_their_order_in_the_file(make_detector, street_frame):
    onnx = pytest.importorskip("onnx")
    path = make_detector("reversed.onnx")
    expected = load_model(path).predict(street_frame)
    model = onnx.load(str(path))
    heatmap, boxes = list(model.graph.output)
    del model.graph.output[:]
    model.graph.output.extend([boxes, heatmap])
    onnx.save(model, str(path))
    reversed_model = load_model(path)
    assert [spec.name for spec in reversed_model.backend.outputs] == ["boxes", "heatmap"]
    assert_same_detections(reversed_model.predict(street_frame), expected)


def test_heatmap_channels_must_match_the_class_names(make_detector):
    path = make_detector("three.onnx", heatmap_channels=3)
    with pytest.raises(
        DecoderError, match=r"heatmap expected 2 channels \(2 classes in class_names"
    ):
        load_model(path)


def test_outputs_must_carry_the_names_the_contract_lists(make_detector):
    path = make_detector("renamed.onnx", output_names=("hm", "reg"))
    with pytest.raises(
        DecoderError, match=r"expected heatmap, boxes \(contract output_names\), got hm, reg"
    ):
        load_model(path)


def test_the_contract_input_must_match_the_model_input(make_detector, detector_contract):
    contract = ModelContract.from_dict({**detector_contract, "input_size": [32, 32]})
    with pytest.raises(
        ContractError,
        match=r"expects \(1, 32, 32, 3\) float32, the model declares image \(1, 64, 96, 3\) float32",
    ):
        load_model(make_detector(), contract=contract)


def test_task_and_decoder_must_agree(detector_contract):
    with pytest.raises(
        ContractError, match="task classify expects one of softmax, got 'centernet'"
    ):
        ModelContract.from_dict({**detector_contract, "task": "classify"})


def test_an_unknown_task_names_the_registered_ones(detector_contract):
    with pytest.raises(ContractError, match=r"task: expected one of classify, detect.*got 'depth'"):
        ModelContract.from_dict({**detector_contract, "task": "depth"})


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("input_size", ["x", 2], r"contract input_size: expected \[height, width\] as integers"),
        ("input_size", [0, 2], r"contract input_size: expected \[height, width\] > 0"),
        ("class_names", "person", "contract class_names: expected a list of class names"),
        ("mean", [0, "a", 0], "contract mean: expected a list of numbers"),
        ("pad_value", 1.5, "contract pad_value: expected an integer, got 1.5"),
        ("decoder_params", [1], "contract decoder_params: expected a mapping"),
        ("task_params", {"tracker": {"track_thresh": "hi"}}, "track_thresh: expected float"),
        ("task_params", {"trackr": {}}, "unknown keys trackr; valid: tracker"),
        ("layout", "HWC", "contract layout: expected one of NHWC, NCHW, got 'HWC'"),
    ],
)
def test_a_wrong_type_in_the_contract_is_a_one_line_error_naming_the_key(
    detector_contract, key, value, message
):
    with pytest.raises(ContractError, match=message) as caught:
        ModelContract.from_dict({**detector_contract, key: value}, "model m.onnx")
    assert "\n" not in str(caught.value) and str(caught.value).startswith("model m.onnx: ")


def test_a_corrupt_model_is_one_line_error(tmp_path):
    path = tmp_path / "broken.onnx"
    path.write_bytes(b"\x08\x07garbage")
    with pytest.raises(EdgeimgError, match="cannot load"):
        load_model(path)


@pytest.mark.parametrize("backend", ["onnxruntime", "opencv"])
def test_a_classifier_returns_its_top_k_classes(classifier_path, backend):
    model = load_model(classifier_path, backend=backend)
    image = np.zeros((56, 56, 3), np.uint8)
    image[10:40, 20:30] = 255
    scores = model.predict(image)
    assert isinstance(scores, model.task.result_type) and model.task.name == "classify"
    ids, probs = scores.class_id, scores.score
    assert ids.shape == (2,) and probs.shape == (2,)  # top_k 2 from the contract
    assert probs[0] >= probs[1] and 0 < probs.sum() <= 1 + 1e-6
    reference = load_model(classifier_path).predict(image)
    assert ids.tolist() == reference.class_id.tolist()
    np.testing.assert_allclose(probs, reference.score, atol=1e-5)


@pytest.mark.skipif(
    not ASSET.is_file(), reason="runtime/assets/person_detector.onnx not shipped yet"
)
def test_the_bundled_person_detector_finds_the_people_on_a_held_out_frame(pets_dir):
    import cv2

    from edgeimg.runtime.tasks.detect.boxes import iou_matrix, xywh_to_xyxy

    frame_number = 700  # 1-based, in the held-out part (601-795) of PETS09-S2L1: 8 people
    capture = cv2.VideoCapture(str(pets_dir / "vtest.avi"))
    capture.set(cv2.CAP_PROP_POS_FRAMES, frame_number - 1)
    ok, frame = capture.read()
    capture.release()
    assert ok
    gt = np.loadtxt(pets_dir / "gt" / "gt.txt", delimiter=",")
    people = xywh_to_xyxy(gt[(gt[:, 0] == frame_number) & (gt[:, 6] == 1)][:, 2:6])
    by_ort = load_model(ASSET).predict(frame)
    by_cv = load_model(ASSET, backend="opencv").predict(frame)
    confident = by_ort[by_ort.confidence >= 0.3]
    found = (iou_matrix(people, confident.xyxy) >= 0.5).any(axis=1)
    assert found.mean() >= 0.6, f"found {found.sum()} of {len(people)} people"
    assert_same_detections(confident, by_cv[by_cv.confidence >= 0.3])

    # its INT8 file ships beside it, quantized from this very file with its accuracy measured
    # (so `--backend auto` may pick it), and finds the same people
    int8 = int8_sibling(ASSET)
    assert int8 == ASSET.with_name("person_detector.int8.onnx")
    quantized = load_model(int8).predict(frame)
    confident8 = quantized[quantized.confidence >= 0.3]
    found8 = (iou_matrix(people, confident8.xyxy) >= 0.5).any(axis=1)
    assert found8.sum() >= found.sum() - 1, f"INT8 found {found8.sum()}, FP32 {found.sum()}"
