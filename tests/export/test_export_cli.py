"""`edgeimg export` and `edgeimg quantize` from the command line; calibration data; the gate."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from edgeimg.cli.main import main
from edgeimg.export.calibration import FrameSelection, prepare_batch, resolve_spec, sample_frames
from edgeimg.export.evaluation import HeldOut
from edgeimg.export.report import Budget, Latency, QuantReport
from edgeimg.export.tasks.classify import TopOneEvaluator
from edgeimg.runtime.contract import ModelContract
from edgeimg.runtime.errors import EdgeimgError


@pytest.fixture(scope="module")
def exported(detector_keras, pets_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "detector.onnx"
    code = main(
        [
            "export", str(detector_keras), "-o", str(out), "--calib", str(pets_dir),
            "--calib-frames", "1-600", "--calib-count", "8", "--fp16",
        ]
    )  # fmt: skip
    return code, out


def test_export_writes_a_verified_model_and_fp16(exported, capsys):
    code, out = exported
    assert code == 0
    assert out.is_file()
    assert out.with_name("detector.fp16.onnx").is_file()


def test_quantize_writes_model_and_report(exported, pets_dir, tmp_path, capsys):
    _, model = exported
    int8, report = tmp_path / "detector.int8.onnx", tmp_path / "q.json"
    code = main(
        [
            "quantize", str(model), "--calib", str(pets_dir), "--calib-frames", "1-600",
            "--calib-count", "8", "--eval", "synthetic:frames=6", "--rounds", "10",
            "--method", "percentile", "-o", str(int8), "--report", str(report), "--force",
        ]
    )  # fmt: skip
    assert code == 0
    assert int8.is_file()
    data = json.loads(report.read_text())
    assert data["metric"] == "AP@0.5 %"
    assert data["float"]["score"] is not None and data["quantized"]["score"] is not None
    assert data["calibration_method"] == "percentile"
    assert data["quantized"]["path"] == str(int8)
    out = capsys.readouterr().out
    assert "latency median" in out and "verdict:" in out


def test_compare_layouts_prints_transposes_and_latency_of_both(detector_keras, capsys):
    code = main(["export", str(detector_keras), "--compare-layouts", "--rounds", "5"])
    assert code == 0
    lines = capsys.readouterr().out.splitlines()
    nhwc = next(line for line in lines if line.startswith("NHWC:"))
    nchw = next(line for line in lines if line.startswith("NCHW:"))
    assert "2 Transpose" in nhwc and "1 Transpose" in nchw
    assert "(5 runs)" in nchw
    assert any(line.startswith("NCHW/NHWC median latency") for line in lines)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["export", "{absent}", "-o", "{tmp}/m.onnx"], "no such Keras file"),
        (["export", "{keras}"], "-o/--output MODEL.onnx is required"),
        (["export", "{keras}", "-o", "{tmp}/missing/m.onnx"], "does not exist"),
        (["export", "{keras}", "-o", "{tmp}/m.onnx", "--opset", "9"], "opset: expected 13..18"),
        (["export", "{keras}", "-o", "{tmp}/m.onnx", "--int8"], "--int8 needs --calib"),
        (["quantize", "{keras}", "--calib", "{tmp}", "-o", "{tmp}/m.onnx"], "not a valid ONNX"),
        (["quantize", "{onnx}", "--calib", "{empty}", "-o", "{tmp}/m.onnx"], "has no images"),
        (
            ["quantize", "{onnx}", "--calib", "{tmp}", "-o", "{tmp}/m.onnx", "--calib-count", "0"],
            "--calib-count: expected >= 1",
        ),
        (
            ["quantize", "{onnx}", "--calib", "{tmp}", "-o", "{tmp}/m.onnx", "--backend", "trt"],
            "--backend: expected one of onnxruntime, opencv, openvino or auto, got 'trt'",
        ),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    args, message, detector_keras, exported, tmp_path, capsys
):
    empty = tmp_path / "empty"
    empty.mkdir()
    values = {
        "absent": tmp_path / "absent.keras",
        "keras": detector_keras,
        "onnx": exported[1],
        "tmp": tmp_path,
        "empty": empty,
    }
    code = main([a.format(**values) for a in args])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "m.onnx").exists()


def report_with(float_ms: float, quant_ms: float, float_score: float, quant_score: float):
    return QuantReport(
        float_path="f.onnx",
        quant_path="q.onnx",
        float_bytes=4000,
        quant_bytes=1000,
        float_latency=Latency(float_ms, float_ms, 10),
        quant_latency=Latency(quant_ms, quant_ms, 10),
        metric="top-1 %",
        float_score=float_score,
        quant_score=quant_score,
        scheme="U8S8",
        method="minmax",
        float_nodes=(),
        worst_tensors=(),
        budget=Budget(max_accuracy_drop=1.0),
    )


@pytest.mark.parametrize(
    ("float_ms", "quant_ms", "float_score", "quant_score", "problems"),
    [
        (10.0, 6.0, 90.0, 89.5, []),
        (10.0, 11.0, 90.0, 90.0, ["SLOWER"]),
        (10.0, 6.0, 90.0, 88.5, ["LOSES 1.50 points"]),
        (10.0, 12.0, 90.0, 80.0, ["SLOWER", "LOSES 10.00 points"]),
    ],
)
def test_gate_fails_when_int8_is_slower_or_worse(
    float_ms, quant_ms, float_score, quant_score, problems
):
    report = report_with(float_ms, quant_ms, float_score, quant_score)
    found = report.problems()
    assert len(found) == len(problems)
    for text, expected in zip(found, problems, strict=True):
        assert expected in text
    assert report.passed is (not problems)
    assert ("verdict: FAILED" in report.table()) is bool(problems)


def test_calibration_draws_frames_evenly_from_a_mot_folder(pets_dir):
    assert resolve_spec(pets_dir).endswith("vtest.avi")
    frames = sample_frames(pets_dir, FrameSelection.parse("601-795", count=5))
    assert len(frames) == 5
    assert all(f.shape == (576, 768, 3) and f.dtype == np.uint8 for f in frames)


def test_calibration_reads_an_image_folder(tmp_path):
    for i in range(6):
        cv2.imwrite(str(tmp_path / f"{i}.png"), np.full((20, 30, 3), 40 * i, np.uint8))
    frames = sample_frames(tmp_path, FrameSelection(3))
    assert [int(f[0, 0, 0]) for f in frames] == [0, 80, 160]


def test_grayscale_calibration_for_a_colour_model_is_refused():
    contract = ModelContract(task="detect", class_names=("person",), input_size=(64, 96))
    with pytest.raises(EdgeimgError, match=r"expected colour images .* got 2 grayscale"):
        prepare_batch([np.zeros((28, 28), np.uint8)] * 2, contract)


def test_evaluation_labels_must_fit_the_model():
    contract = ModelContract(
        task="classify", class_names=("a", "b"), input_size=(8, 8), decoder="softmax"
    )
    with pytest.raises(EdgeimgError, match=r"labels 0\.\.9 do not fit the model's 2 classes"):
        TopOneEvaluator(HeldOut([np.zeros((8, 8, 3), np.uint8)] * 2, [0, 9], "labels"), contract)


@pytest.mark.parametrize("text", ["x-3", "5-2", "0-4"])
def test_bad_frame_ranges_are_refused(text):
    with pytest.raises(EdgeimgError, match="calibration frames"):
        FrameSelection.parse(text)
