"""Export of the upscale task: a tiny untrained ESPCN through tf2onnx with dynamic height and
width (DepthToSpace in the graph), the PSNR parity gate, the Y-PSNR evaluator, the contract the
trainer writes, and ``edgeimg train upscale`` on the command line."""

from __future__ import annotations

import argparse
import math

import numpy as np
import pytest

from edgeimg.export.evaluation import HeldOut, backend_infer
from edgeimg.export.tasks import get_export_task
from edgeimg.export.tasks.upscale import PsnrEvaluator, psnr, psnr_agreement, target_y
from edgeimg.runtime.contract import ModelContract, ResizeMode
from edgeimg.runtime.errors import EdgeimgError
from edgeimg.train.tasks import get_train_task
from edgeimg.train.tasks.upscale.contract import upscale_contract


def frames(count: int, height: int, width: int, seed: int = 0) -> list[np.ndarray]:
    """Smooth random BGR frames (a blurred noise field: something to upscale)."""
    import cv2

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        noise = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        out.append(cv2.GaussianBlur(noise, (5, 5), 1.5))
    return out


def test_the_contract_is_any_size_one_luma_channel():
    c = upscale_contract(3)
    assert (c.task, c.input_size, c.resize, c.channels) == ("upscale", None, ResizeMode.NONE, 1)
    assert c.task_params == {"scale": 3} and c.output_names == ("hr",)
    assert ModelContract.from_dict(c.to_dict()) == c


def test_agreement_is_the_psnr_between_the_outputs():
    contract = upscale_contract(2)
    ref = np.random.default_rng(0).uniform(0, 255, (3, 8, 8, 1)).astype(np.float32)
    same = psnr_agreement({"hr": ref + 1e-4}, {"hr": ref}, contract)
    assert same.fraction == 1.0 and same.items == 3 and "max abs diff" in same.what
    off = ref.copy()
    off[1] += 10.0  # one image 10 levels off: 28 dB
    worse = psnr_agreement({"hr": off}, {"hr": ref}, contract)
    assert worse.fraction == pytest.approx(2 / 3) and "worst 28.1 dB" in worse.what
    assert math.isinf(psnr(ref, ref))


def test_train_task_is_registered_with_its_keras_layer():
    task = get_train_task("upscale")
    assert task.keras_modules == ("edgeimg.train.tasks.upscale.models",)
    parser = argparse.ArgumentParser()
    task.add_parser(parser.add_subparsers())
    args = parser.parse_args(["upscale", "a", "b", "--val", "v", "--scale", "2", "-o", "m.keras"])
    assert (args.data, args.val, args.scale, args.arch) == (["a", "b"], ["v"], 2, "espcn")


def test_tiny_espcn_exports_with_dynamic_size_and_parity(tmp_path):
    pytest.importorskip("tf2onnx")
    onnx = pytest.importorskip("onnx")
    from edgeimg.export.flow import ExportPlan, export_model
    from edgeimg.runtime.model import load_model
    from edgeimg.train.tasks.upscale.models import build_espcn
    from edgeimg.train.tasks.upscale.train import save_model_atomic

    keras_path = save_model_atomic(build_espcn(3, width=8), tmp_path / "tiny.keras", scale=3)
    calib = frames(3, 24, 32)
    result = export_model(keras_path, tmp_path / "tiny.onnx", ExportPlan(calibration=lambda: calib))
    assert result.parity is not None and result.parity.passed
    assert result.parity.agreement.fraction == 1.0
    proto = onnx.load(str(result.path))
    assert "DepthToSpace" in {node.op_type for node in proto.graph.node}
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert [d.HasField("dim_value") for d in dims] == [False, True, False, False]  # N, 1, H, W

    model = load_model(result.path, threads=1)  # runs at sizes it was never exported for
    for height, width in ((10, 14), (33, 7)):
        out = model.predict(frames(1, height, width, seed=1)[0])
        assert out.image.shape == (3 * height, 3 * width, 3)

    import cv2

    lr = frames(2, 12, 16, seed=2)
    hr = [cv2.resize(f, (48, 36), interpolation=cv2.INTER_CUBIC) for f in lr]
    evaluator = get_export_task("upscale").evaluator(
        HeldOut(lr, hr, "images"), result.contract, False
    )
    assert isinstance(evaluator, PsnrEvaluator) and evaluator.metric == "Y-PSNR dB"
    score = evaluator(backend_infer(result.path, result.contract.output_names, threads=1))
    by_hand = []  # the same figure through the runtime: Y of the model vs Y of the HR image
    for image, target in zip(lr, hr, strict=True):
        feeds, _ = model.preprocess(image)
        y = model.infer(feeds)["hr"][0, :, :, 0]
        by_hand.append(psnr(y, target_y(target), shave=3))
    assert score == pytest.approx(float(np.mean(by_hand)), abs=1e-6) and math.isfinite(score)
    with pytest.raises(EdgeimgError, match="not x3 of its LR image"):
        PsnrEvaluator(HeldOut(lr, lr, "images"), result.contract)


def test_quantize_gates_an_upscaler_on_y_psnr_of_hr_images(tmp_path, capsys):
    """`edgeimg quantize --eval HR_FOLDER` on the bundled x3 model: LR made at the model's scale,
    FP32 vs INT8 Y-PSNR in the report, the gate's verdict on it."""
    import os
    from pathlib import Path

    from edgeimg.cli.main import main
    from edgeimg.runtime.model import bundled_model_path

    data = Path(
        os.environ.get("EDGEIMG_DATA", Path(__file__).resolve().parents[3] / "shared" / "data")
    )
    set5 = data / "SR" / "CSet5"
    if not set5.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"real data missing: {set5}")
        pytest.skip(f"real data missing: {set5}")
    out = tmp_path / "x3.int8.onnx"
    camvid = data / "CamVid" / "train"  # calibration frames of one size
    mixed = main(
        ["quantize", str(bundled_model_path("upscale")), "-o", str(out), "--calib", str(set5)]
    )
    assert mixed == 2 and "a batch needs one size" in capsys.readouterr().err
    args = ["quantize", str(bundled_model_path("upscale")), "-o", str(out), "--calib", str(camvid)]
    args += ["--calib-count", "3", "--eval", str(set5), "--eval-count", "2", "--rounds", "5"]
    code = main([*args, "--budget", "0.5"])
    report = capsys.readouterr().out
    line = next(row for row in report.splitlines() if row.startswith("Y-PSNR dB"))
    fp32, int8 = (float(v) for v in line.split()[2:4])
    assert fp32 > 30.0  # two Set5 images x3: far above nothing, near the figure in the README
    assert abs(fp32 - int8) < 1.0
    assert code in (0, 1) and out.exists() == (code == 0)  # written only when the gate passes


def test_a_conversion_that_lost_its_final_squeeze_is_caught():
    """tf2onnx 1.17 now and then drops the Squeeze after the last Reshape of a one-channel NCHW
    model; shape_mismatch is what makes the exporter convert again."""
    pytest.importorskip("tf2onnx")
    import tensorflow as tf

    from edgeimg.export.onnx_export import ExportOptions, keras_to_onnx, shape_mismatch
    from edgeimg.train.tasks.upscale.contract import upscale_contract
    from edgeimg.train.tasks.upscale.models import build_espcn

    model, contract = build_espcn(3, width=8), upscale_contract(3)
    proto = keras_to_onnx(model, contract, ExportOptions())
    spec = tf.TensorSpec((None, None, None, 1), tf.float32, name="image")
    assert shape_mismatch(proto, model, contract, spec, nchw=True) == ""
    squeeze = proto.graph.node[-1]
    assert squeeze.op_type == "Squeeze"
    proto.graph.node[-2].output[0] = squeeze.output[0]  # the Reshape now writes the output
    proto.graph.node.remove(squeeze)
    problem = shape_mismatch(proto, model, contract, spec, nchw=True)
    assert problem == "hr (1, 2, 144, 144, 1) instead of (2, 144, 144, 1)"


def test_an_rgb_espcn_exports_and_runs_in_colour(tmp_path):
    """A 3-channel model: export with parity, the runtime feeds the frame in RGB and decodes
    its colour output to BGR; the evaluator scores it on Y."""
    pytest.importorskip("tf2onnx")
    import keras

    from edgeimg.export.flow import ExportPlan, export_model
    from edgeimg.runtime.model import load_model
    from edgeimg.train.tasks.upscale.models import build_espcn
    from edgeimg.train.tasks.upscale.train import save_model_atomic

    keras.utils.set_random_seed(0)
    net = build_espcn(3, width=8, channels=3)
    keras_path = save_model_atomic(net, tmp_path / "rgb.keras", scale=3, channels=3)
    calib = frames(3, 24, 32)
    result = export_model(keras_path, tmp_path / "rgb.onnx", ExportPlan(calibration=lambda: calib))
    assert result.parity is not None and result.parity.passed
    model = load_model(result.path, threads=1)
    frame = frames(1, 10, 14, seed=1)[0]
    out = model.predict(frame).image
    assert out.shape == (30, 42, 3)
    rgb = np.asarray(net(frame[None, :, :, ::-1].astype(np.float32)))[0]
    expected = np.clip(np.rint(rgb[:, :, ::-1]), 0, 255)
    assert np.abs(out.astype(np.float64) - expected).max() <= 1.0  # BGR out, rounded
    with pytest.raises(EdgeimgError, match=r"expected \(H, W, 3\)"):
        get_export_task("upscale").check_outputs({"hr": (None, None, 1)}, result.contract, "m")

    import cv2

    lr = frames(2, 12, 16, seed=2)
    hr = [cv2.resize(f, (48, 36), interpolation=cv2.INTER_CUBIC) for f in lr]
    evaluator = PsnrEvaluator(HeldOut(lr, hr, "images"), result.contract)
    score = evaluator(backend_infer(result.path, result.contract.output_names, threads=1))
    from edgeimg.runtime.tasks.upscale.image import luma_of_rgb

    by_hand = [
        psnr(
            luma_of_rgb(np.asarray(net(f[None, :, :, ::-1].astype(np.float32)))[0]), target_y(t), 3
        )
        for f, t in zip(lr, hr, strict=True)
    ]
    assert score == pytest.approx(float(np.mean(by_hand)), abs=1e-3)
