"""The segment task in the runtime: the argmax decoder through the letterbox (exact, on
hand-made logits models), the task's params, record, overlay and the ``.masks`` sink, and
``edgeimg predict`` on real CamVid frames."""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeimg.cli.main import main
from edgeimg.runtime.contract import ContractError, ModelContract
from edgeimg.runtime.decoder import DecoderError
from edgeimg.runtime.model import load_model
from edgeimg.runtime.preprocess import Transform, letterbox
from edgeimg.runtime.tasks import get_task
from edgeimg.runtime.tasks.segment import MaskAnnotator, mask_record
from edgeimg.runtime.tasks.segment.argmax import ArgmaxDecoder
from edgeimg.runtime.tasks.segment.mask import SegmentMask
from edgeimg.runtime.tasks.segment.metrics import (
    confusion_matrix,
    iou_per_class,
    mean_iou,
    pixel_accuracy,
)

DATA = Path(
    os.environ.get("EDGEIMG_DATA", Path(__file__).resolve().parents[2].parent / "shared" / "data")
)
NAMES = ["red", "green", "blue"]
CONTRACT = {
    "task": "segment",
    "class_names": NAMES,
    "input_size": [64, 96],
    "resize": "letterbox",
    "decoder": "argmax",
    "output_names": ["logits"],
    "task_params": {"palette": [[255, 0, 0], [0, 255, 0], [0, 0, 255]], "alpha": 0.5},
}


def logits_model(path: Path, channels_first: bool = False) -> Path:
    """logits = the RGB input itself: the class of a pixel is its strongest colour channel."""
    onnx = pytest.importorskip("onnx")
    helper, tp = onnx.helper, onnx.TensorProto
    x = helper.make_tensor_value_info("image", tp.FLOAT, [1, 64, 96, 3])
    if channels_first:
        out = helper.make_tensor_value_info("logits", tp.FLOAT, [1, 3, 64, 96])
        node = helper.make_node("Transpose", ["image"], ["logits"], perm=[0, 3, 1, 2])
    else:
        out = helper.make_tensor_value_info("logits", tp.FLOAT, [1, 64, 96, 3])
        node = helper.make_node("Identity", ["image"], ["logits"])
    model = helper.make_model(
        helper.make_graph([node], "seg", [x], [out]),
        opset_imports=[helper.make_opsetid("", 13)],
    )
    model.ir_version = 8
    helper.set_model_props(model, ModelContract.from_dict(CONTRACT).to_metadata())
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(path))
    return path


def colour_frame(height: int, width: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A BGR frame of pure red, green or blue pixels, and its class per pixel (0 R, 1 G, 2 B)."""
    ids = np.random.default_rng(seed).integers(0, 3, (height, width))
    rgb = np.zeros((height, width, 3), np.uint8)
    rgb[np.arange(height)[:, None], np.arange(width)[None, :], ids] = 200
    return rgb[:, :, ::-1].copy(), ids.astype(np.uint8)


@pytest.mark.parametrize("channels_first", [False, True])
def test_the_mask_is_exact_through_the_letterbox_padding(tmp_path, channels_first):
    model = load_model(logits_model(tmp_path / "seg.onnx", channels_first), backend="onnxruntime")
    frame, ids = colour_frame(56, 96)  # letterboxed to 64x96: 4 rows of padding on each side
    result = model.predict(frame)
    assert isinstance(result, SegmentMask)
    assert result.mask.shape == (56, 96) and result.mask.dtype == np.uint8
    np.testing.assert_array_equal(result.mask, ids)


def test_the_mask_is_scaled_back_to_a_larger_source_with_nearest_classes():
    decoder = ArgmaxDecoder(3, (64, 96))
    decoder.check_output_shapes([(1, 16, 24, 3)])  # a stride-4 head of a 64x96 input
    grid = np.random.default_rng(1).integers(0, 3, (16, 24))
    logits = np.eye(3, dtype=np.float32)[grid][None]
    # a 112x192 source letterboxed into 64x96: scale 0.5, 4 rows of padding top and bottom
    mask = decoder([logits], Transform(0.5, 0.5, 0.0, 4.0, (112, 192))).mask
    # padding (one head row each side) cut off, every head cell covers 8x8 source pixels
    expected = np.repeat(np.repeat(grid[1:15], 8, axis=0), 8, axis=1)
    np.testing.assert_array_equal(mask, expected)


def test_outputs_without_a_class_axis_are_refused():
    with pytest.raises(
        DecoderError, match=r"expected \(1, H, W, 3\) or \(1, 3, H, W\).*got \(1, 64, 96, 5\)"
    ):
        ArgmaxDecoder(3).check_output_shapes([(1, 64, 96, 5)])
    with pytest.raises(DecoderError, match="expected rank 4"):
        ArgmaxDecoder(3).check_output_shapes([(1, 3)])


def test_a_bad_palette_in_the_contract_is_a_one_line_error():
    bad = {**CONTRACT, "task_params": {"palette": [[255, 0], [0, 255, 0], [0, 0, 255]]}}
    with pytest.raises(ContractError, match=r"palette\[0\]: expected \[r, g, b\]"):
        ModelContract.from_dict(bad)
    params = get_task("segment").params(ModelContract.from_dict(CONTRACT))
    assert params.palette[2] == (0, 0, 255) and params.alpha == 0.5


def test_record_and_overlay():
    mask = np.zeros((100, 200), np.uint8)
    mask[:, 150:] = 2
    result = SegmentMask(mask, 3)
    assert mask_record(result, tuple(NAMES)) == {"areas": {"red": 0.75, "blue": 0.25}}
    annotator = MaskAnnotator(tuple(NAMES), ((255, 0, 0), (0, 255, 0), (0, 0, 255)), 0.5)
    image = annotator.update(np.zeros((100, 200, 3), np.uint8), result)
    # BGR: the blue class on the right quarter at half strength, the red class elsewhere
    assert tuple(image[90, 190]) == (128, 0, 0) and tuple(image[90, 100]) == (0, 0, 128)
    legend = image[8:40, 8:23]  # a swatch per class present: red, then blue
    assert tuple(legend[7, 7]) == (0, 0, 255) and tuple(legend[25, 7]) == (255, 0, 0)


def test_metrics_from_the_confusion_matrix():
    truth = np.array([[0, 0, 1, 255]], np.uint8)
    predicted = np.array([[0, 1, 1, 2]], np.uint8)
    confusion = confusion_matrix(truth, predicted, 3)
    assert confusion.tolist() == [[1, 1, 0], [0, 1, 0], [0, 0, 0]]
    assert iou_per_class(confusion)[:2].tolist() == [0.5, 0.5]
    assert mean_iou(confusion) == 0.5  # class 2 absent from truth and prediction: left out
    assert pixel_accuracy(confusion) == pytest.approx(2 / 3)


def camvid_frames(tmp_path: Path, count: int = 2) -> Path:
    source = DATA / "CamVid" / "val"
    if not source.is_dir():
        message = f"real data missing: {source} (set EDGEIMG_DATA)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    folder = tmp_path / "frames"
    folder.mkdir()
    for path in sorted(source.glob("*.png"))[:count]:
        (folder / path.name).write_bytes(path.read_bytes())
    return folder


def test_predict_writes_overlay_jsonl_and_masks_on_real_frames(tmp_path):
    model = logits_model(tmp_path / "seg.onnx")
    frames = camvid_frames(tmp_path)
    video, jsonl, masks = tmp_path / "overlay.mp4", tmp_path / "areas.jsonl", tmp_path / "m.masks"
    args = ["predict", str(model), str(frames), "-o", str(video), "-o", str(jsonl)]
    assert main([*args, "-o", str(masks)]) == 0
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    names = sorted(p.name for p in frames.iterdir())
    assert [r["name"] for r in records] == names
    for record in records:
        assert set(record["areas"]) <= set(NAMES)
        assert sum(record["areas"].values()) == pytest.approx(1.0, abs=1e-3)
    written = sorted(masks.iterdir())
    assert [p.name for p in written] == names
    mask = cv2.imread(str(written[0]), cv2.IMREAD_UNCHANGED)
    frame = cv2.imread(str(frames / names[0]))
    assert mask.shape == (360, 480) and mask.dtype == np.uint8
    # the hand-made model's class is the strongest RGB channel of each letterboxed pixel: a
    # 480x360 frame in 64x96 is 85x64 with 5 + 6 columns of padding (the odd one right)
    boxed, transform = letterbox(frame, (64, 96), 114)
    assert (transform.pad_x, boxed.shape[1] - 85 - 5) == (5, 6)
    content = boxed[:, 5:90, ::-1].argmax(axis=2).astype(np.uint8)
    expected = cv2.resize(content, (480, 360), interpolation=cv2.INTER_NEAREST)
    np.testing.assert_array_equal(mask, expected)
    capture = cv2.VideoCapture(str(video))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 2
    assert capture.get(cv2.CAP_PROP_FRAME_WIDTH) == 480
    capture.release()


def test_predict_writes_an_overlay_image_and_refuses_a_file_as_mask_folder(tmp_path):
    model = logits_model(tmp_path / "seg.onnx")
    frame = camvid_frames(tmp_path, 1)
    image = next(frame.iterdir())
    out = tmp_path / "overlay.png"
    assert main(["predict", str(model), str(image), "-o", str(out)]) == 0
    overlay = cv2.imread(str(out))
    assert overlay.shape == (360, 480, 3) and not np.array_equal(overlay, cv2.imread(str(image)))
    (tmp_path / "x.masks").write_text("")
    assert main(["predict", str(model), str(image), "-o", str(tmp_path / "x.masks")]) != 0


def test_the_bundled_camvid_model_runs_with_no_model_path(tmp_path):
    from edgeimg.runtime.model import bundled_model_path

    path = bundled_model_path("segment")
    assert path.name == "segment_camvid.onnx" and path.is_file()
    frames = camvid_frames(tmp_path, 1)
    image = next(frames.iterdir())
    out = tmp_path / "areas.jsonl"
    assert main(["predict", "--task", "segment", str(image), "-o", str(out)]) == 0
    areas = json.loads(out.read_text())["areas"]
    assert "Road" in areas and sum(areas.values()) == pytest.approx(1.0, abs=1e-3)
    model = load_model(path, backend="onnxruntime")
    mask = model.predict(cv2.imread(str(image))).mask
    truth = cv2.imread(str(DATA / "CamVid" / "valannot" / image.name), cv2.IMREAD_UNCHANGED)
    labelled = truth < 11
    assert np.mean(mask[labelled] == truth[labelled]) > 0.7  # the README's model, not noise

    # its INT8 file, quantized from this very file with its accuracy measured, labels the same
    from edgeimg.runtime.backends.choose import int8_sibling

    int8 = int8_sibling(path)
    assert int8 is not None and int8.name == "segment_camvid.int8.onnx"
    mask8 = load_model(int8).predict(cv2.imread(str(image))).mask
    assert np.mean(mask8[labelled] == truth[labelled]) > 0.7
    assert np.mean(mask8 == mask) > 0.9
