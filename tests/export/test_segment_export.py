"""Export of the segment task: the argmax pixel agreement, a real tf2onnx export of an
edgenet_seg model through the parity gate, the runtime on the ONNX file, the head kept in
float for INT8 and the mean-IoU evaluator on real CamVid frames."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeimg.export.evaluation import HeldOut, backend_infer
from edgeimg.export.tasks import get_export_task
from edgeimg.runtime.contract import ModelContract
from edgeimg.runtime.errors import EdgeimgError

DATA = Path(
    os.environ.get("EDGEIMG_DATA", Path(__file__).resolve().parents[2].parent / "shared" / "data")
)
SEGMENT = ModelContract(
    task="segment", class_names=("a", "b", "c"), input_size=(8, 8), output_names=("logits",)
)


def frames(split: str, count: int) -> list[np.ndarray]:
    folder = DATA / "CamVid" / split
    if not folder.is_dir():
        message = f"real data missing: {folder} (set EDGEIMG_DATA)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return [cv2.imread(str(p)) for p in sorted(folder.glob("*.png"))[:count]]


def test_agreement_counts_images_whose_argmax_masks_agree_on_999_per_mille():
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(2, 40, 50, 3)).astype(np.float32)
    agreement = get_export_task("segment").agreement
    assert agreement({"logits": ref.copy()}, {"logits": ref}, SEGMENT).fraction == 1.0
    got = ref.copy()
    got[1, :2, :, :] = -ref[1, :2, :, :]  # 100 of image 1's 2000 pixels flip class: 95 %
    result = agreement({"logits": got}, {"logits": ref}, SEGMENT)
    assert result.fraction == 0.5 and result.items == 2 and result.score_diff is None
    nchw = {"logits": ref.transpose(0, 3, 1, 2)}  # the class axis found in either layout
    assert agreement(nchw, {"logits": ref}, SEGMENT).fraction == 1.0


def test_outputs_must_have_a_channel_per_class():
    check = get_export_task("segment").check_outputs
    check({"logits": (8, 8, 3)}, SEGMENT, "m.keras")
    with pytest.raises(EdgeimgError, match=r"m\.keras: output 'logits' has 5 channels, expected 3"):
        check({"logits": (8, 8, 5)}, SEGMENT, "m.keras")


def test_the_evaluator_wants_masks():
    held_out = HeldOut([np.zeros((8, 8, 3), np.uint8)], [1], "labels")
    with pytest.raises(EdgeimgError, match="segment evaluation data: expected a label mask"):
        get_export_task("segment").evaluator(held_out, SEGMENT, False)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A small edgenet_seg (untrained) saved with its CamVid contract and exported to ONNX."""
    import keras

    from edgeimg.export import ExportPlan, export_model
    from edgeimg.train.fit import save_keras
    from edgeimg.train.tasks.segment.contract import segmenter_contract
    from edgeimg.train.tasks.segment.data import CAMVID_CLASSES, CAMVID_PALETTE
    from edgeimg.train.tasks.segment.models import build_segmenter

    calibration = frames("train", 3)
    keras.utils.set_random_seed(1)
    folder = tmp_path_factory.mktemp("segment")
    model = build_segmenter(11, (96, 128), width=0.25)
    contract = segmenter_contract(CAMVID_CLASSES, CAMVID_PALETTE, (96, 128))
    path = save_keras(model, folder / "seg.keras", contract)
    plan = ExportPlan(calibration=lambda: calibration, parity_images=3)
    return model, export_model(path, folder / "seg.onnx", plan)


def test_a_real_export_passes_the_parity_gate_and_runs_in_the_runtime(exported):
    from edgeimg.runtime.model import load_model
    from edgeimg.runtime.preprocess import letterbox

    model, result = exported
    assert result.parity is not None and result.parity.passed
    assert result.parity.agreement.fraction == 1.0 and result.parity.agreement.items == 3
    frame = frames("val", 1)[0]
    mask = load_model(result.path, backend="onnxruntime").predict(frame).mask
    assert mask.shape == (360, 480)
    boxed, _ = letterbox(frame[:, :, ::-1], (96, 128), 114)  # 480x360 -> 128x96, no padding
    ids = np.asarray(model(boxed[None].astype(np.float32)))[0].argmax(-1).astype(np.uint8)
    expected = cv2.resize(ids, (480, 360), interpolation=cv2.INTER_NEAREST)
    assert np.mean(mask == expected) >= 0.999


def test_int8_keeps_the_classifier_and_its_upsampling_in_float(exported):
    import onnx

    _, result = exported
    proto = onnx.load(str(result.path))
    kinds = {n.name: n.op_type for n in proto.graph.node}
    kept = get_export_task("segment").float_nodes(proto)
    ops = [kinds[name] for name in kept]  # output back to the classifier (tf2onnx's Resize
    assert "Resize" in ops and ops[-1] == "Conv"  # runs NCHW between two Transposes)
    assert ops.count("Conv") == 1


def test_mean_iou_evaluator_on_real_frames(exported, tmp_path):
    from edgeimg.train.tasks.segment.evaluate import held_out_masks

    _, result = exported
    folder = tmp_path / "val"
    labels = tmp_path / "valannot"
    folder.mkdir()
    labels.mkdir()
    source = DATA / "CamVid"
    for path in sorted((source / "val").glob("*.png"))[:2]:
        (folder / path.name).write_bytes(path.read_bytes())
        (labels / path.name).write_bytes((source / "valannot" / path.name).read_bytes())
    held_out = held_out_masks(str(folder))
    assert held_out.kind == "masks" and held_out.targets[0].shape == (360, 480)
    evaluator = get_export_task("segment").evaluator(held_out, result.contract, False)
    score = evaluator(backend_infer(result.path, result.contract.output_names))
    assert evaluator.metric == "mIoU %" and 0.0 <= score <= 100.0
    # a model that predicts the true labels scores 100
    from edgeimg.runtime.tasks.segment.metrics import confusion_matrix, mean_iou

    truth = np.stack(held_out.targets)
    assert mean_iou(confusion_matrix(truth, np.where(truth == 255, 0, truth), 11)) == 1.0
