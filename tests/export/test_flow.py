"""`export_model` and `quantize_model`: the whole flow as one library call, on real models."""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import onnx
import pytest

from edgeimg.export import ExportPlan, QuantizePlan, export_model, quantize_model
from edgeimg.export.evaluation import HeldOut, backend_infer
from edgeimg.export.onnx_export import ExportOptions, export_keras
from edgeimg.export.parity import ParityError, Tolerance
from edgeimg.export.quantize import QUANTIZATION_KEY, stamp_quantization
from edgeimg.export.report import Budget
from edgeimg.runtime.backends.choose import choose_backend, int8_sibling
from edgeimg.runtime.contract import ModelContract
from edgeimg.runtime.errors import EdgeimgError


@pytest.fixture(scope="module")
def full_export(detector_keras, pets_frames, tmp_path_factory):
    folder = tmp_path_factory.mktemp("flow")
    plan = ExportPlan(
        options=ExportOptions(layout="NCHW"),
        calibration=lambda: pets_frames[:12],
        parity_images=8,
        fp16=True,
        int8=QuantizePlan(rounds=5, force=True, report_path=folder / "q.json"),
    )
    return export_model(detector_keras, folder / "detector.onnx", plan), folder


def onnx_metadata(path):
    return {p.key: p.value for p in onnx.load(str(path)).metadata_props}


def test_export_model_writes_fp32_fp16_int8_and_the_report(full_export):
    result, folder = full_export
    assert result.path == folder / "detector.onnx" and result.path.is_file()
    assert result.parity is not None and result.parity.passed
    assert result.parity.images == 8, "parity on the first parity_images calibration frames"
    assert result.fp16 is not None and result.fp16.path == folder / "detector.fp16.onnx"
    assert result.fp16.images == 8
    assert [name for name, _ in result.fp16.max_abs_diff] == ["heatmap", "boxes"]
    assert all(0 <= diff < 0.05 for _, diff in result.fp16.max_abs_diff)
    int8 = result.int8
    assert int8 is not None and int8.written and int8.path == folder / "detector.int8.onnx"
    assert int8.path.is_file() and int8.quantization.path == int8.path
    assert int8.quantization.calibration_images == 12
    assert int8.report.float_latency.runs == 5 and int8.report.metric is None
    data = json.loads((folder / "q.json").read_text())
    assert data["quantized"]["path"] == str(int8.path)
    assert sorted(p.name for p in folder.iterdir()) == [
        "detector.fp16.onnx",
        "detector.int8.onnx",
        "detector.onnx",
        "q.json",
    ], "no temporary file left"


def test_every_written_model_carries_the_contract(full_export):
    result, _ = full_export
    for path in (result.path, result.fp16.path, result.int8.path):
        metadata = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
        assert ModelContract.from_metadata(metadata) == result.contract


def test_int8_that_fails_its_gate_is_not_written_but_reported(full_export, pets_frames, tmp_path):
    result, _ = full_export
    out, report = tmp_path / "slow.int8.onnx", tmp_path / "slow.json"
    plan = QuantizePlan(
        budget=Budget(max_latency_ratio=0.01), rounds=3, report_path=report
    )  # no INT8 is 100x faster
    int8 = quantize_model(result.path, out, pets_frames[:4], plan)
    assert not int8.written
    assert not int8.report.passed
    assert any("SLOWER" in p for p in int8.report.problems())
    assert not out.exists()
    assert json.loads(report.read_text())["passed"] is False
    assert sorted(p.name for p in tmp_path.iterdir()) == ["slow.json"]


def test_parity_failure_raises_with_its_report_and_writes_nothing(
    detector_keras, pets_frames, tmp_path
):
    plan = ExportPlan(
        options=ExportOptions(simplify=False),
        tolerance=Tolerance(atol=0.0, rtol=0.0, min_agreement=1.0, max_score_diff=0.0),
        calibration=lambda: [f + 1 for f in pets_frames[:2]],
        fp16=True,
    )
    with pytest.raises(ParityError, match=r"Keras and ONNX disagree \(.*\); .* not written") as err:
        export_model(detector_keras, tmp_path / "m.onnx", plan)
    assert err.value.report is not None and not err.value.report.passed
    assert "FAILED" in err.value.report.summary()
    assert list(tmp_path.iterdir()) == []


def test_quantize_model_scores_a_classifier_on_held_out_labels(person_classifier, tmp_path):
    fp32 = export_keras(person_classifier.keras_path, tmp_path / "person.onnx").path
    held_out = person_classifier.held_out
    plan = QuantizePlan(
        held_out=lambda: HeldOut(held_out.images, list(held_out.labels), "labels"),
        budget=Budget(max_accuracy_drop=3.0),
        rounds=5,
        force=True,
    )
    int8 = quantize_model(
        fp32, tmp_path / "person.int8.onnx", person_classifier.calibration.images, plan
    )
    report = int8.report
    assert report.metric == "top-1 %"
    assert report.float_score > 90.0
    assert abs(report.float_score - report.quant_score) <= 3.0
    probs = backend_infer(int8.path, ("probs",))(np.zeros((2, 3, 32, 32), np.float32))[0]
    assert probs.shape == (2, 2)

    # the INT8 file says which file it came from and that its accuracy held: --backend auto
    # then measures it beside the FP32 model, and picks whichever is faster here
    record = json.loads(onnx_metadata(int8.path)[QUANTIZATION_KEY])
    assert record["source_sha256"] == hashlib.sha256(fp32.read_bytes()).hexdigest()
    assert record["accuracy"]["metric"] == "top-1 %"
    assert record["accuracy"]["drop_points"] == pytest.approx(report.accuracy_drop)
    assert record["accuracy"]["passed"] is True and record["gate"]["passed"] is report.passed
    assert record["float_nodes"] is not None  # the quantization record itself is kept
    assert int8_sibling(fp32) == int8.path
    choice = choose_backend(
        fp32, "cpu", ["onnxruntime"], [1], budget_s=0.02, cache_dir=tmp_path / "cache"
    )
    assert {m.candidate.precision for m in choice.measurements} == {"FP32", "INT8"}
    assert choice.key.int8_sha256 == hashlib.sha256(int8.path.read_bytes()).hexdigest()
    assert choice.model_path == {"FP32": fp32, "INT8": int8.path}[choice.precision]
    cached = choose_backend(
        fp32, "cpu", ["onnxruntime"], [1], budget_s=0.02, cache_dir=tmp_path / "cache"
    )
    assert cached.cached and cached.model_path == choice.model_path


def test_auto_offers_int8_only_from_this_model_with_its_accuracy_measured(full_export, tmp_path):
    """No held-out data (accuracy unknown), or quantized from another file: not a candidate."""
    result, _ = full_export
    record = json.loads(onnx_metadata(result.int8.path)[QUANTIZATION_KEY])
    assert record["accuracy"] is None and record["gate"]["passed"] in (True, False)
    assert int8_sibling(result.path) is None  # written with force, accuracy never measured
    choice = choose_backend(
        result.path, "cpu", ["onnxruntime"], [1], budget_s=0.02, cache_dir=tmp_path
    )
    assert {m.candidate.precision for m in choice.measurements} == {"FP32"}

    stamped = tmp_path / "detector.int8.onnx"
    shutil.copy(result.int8.path, stamped)
    stamp_quantization(stamped, {"accuracy": {"passed": True}})  # as if its gate passed...
    other = tmp_path / "detector.onnx"
    shutil.copy(result.fp16.path, other)  # ...but for another FP32 file
    assert int8_sibling(other) is None
    assert int8_sibling(tmp_path / "absent.onnx") is None


def test_the_gate_times_and_scores_on_the_backend_that_will_deploy(person_classifier, tmp_path):
    """--backend openvino: both models timed and scored by OpenVINO (which runs the QDQ file
    with its own INT8 kernels), named in the report."""
    pytest.importorskip("openvino")
    fp32 = export_keras(person_classifier.keras_path, tmp_path / "person.onnx").path
    held_out = person_classifier.held_out
    plan = QuantizePlan(
        held_out=lambda: HeldOut(held_out.images, list(held_out.labels), "labels"),
        rounds=5,
        force=True,
        backend="openvino",
    )
    images = person_classifier.calibration.images
    report = quantize_model(fp32, tmp_path / "p.int8.onnx", images, plan).report
    assert report.backend == "openvino" and "timed and scored on openvino" in report.table()
    assert report.float_score > 90.0 and abs(report.float_score - report.quant_score) <= 3.0
    assert report.to_dict()["backend"] == "openvino"


def test_the_auto_gate_times_each_file_where_auto_will_run_it(person_classifier, tmp_path):
    """backend auto: every installed backend x thread count measured for each file; FP32 and
    INT8 then timed (interleaved) and scored on their fastest, named in the report and in the
    record the INT8 file carries."""
    from edgeimg.runtime.backends import installed_backend_names

    fp32 = export_keras(person_classifier.keras_path, tmp_path / "person.onnx").path
    held_out = person_classifier.held_out
    plan = QuantizePlan(
        held_out=lambda: HeldOut(held_out.images, list(held_out.labels), "labels"),
        rounds=5,
        threads=1,
        force=True,
        backend="auto",
    )
    images = person_classifier.calibration.images
    int8 = quantize_model(fp32, tmp_path / "p.int8.onnx", images, plan)
    report = int8.report
    assert report.backend == "auto"
    for deployed in (report.float_on, report.quant_on):
        assert deployed.backend in installed_backend_names() and deployed.threads == 1
    assert (
        f"as --backend auto runs them: FP32 on {report.float_on.backend}, 1 thread; "
        f"INT8 on {report.quant_on.backend}, 1 thread" in report.table()
    )
    assert report.float_score > 90.0 and abs(report.float_score - report.quant_score) <= 3.0
    record = json.loads(onnx_metadata(int8.path)[QUANTIZATION_KEY])["gate"]
    assert record["backend"] == "auto"
    assert record["quant_on"] == {"backend": report.quant_on.backend, "threads": 1}


def test_quantize_model_reads_the_calibration_only_after_the_model_is_checked(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")

    def never() -> list[np.ndarray]:
        raise AssertionError("calibration read before the model was checked")

    with pytest.raises(EdgeimgError, match="not a valid ONNX model"):
        quantize_model(bad, tmp_path / "out.onnx", never)
    assert not (tmp_path / "out.onnx").exists()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: ExportPlan(parity_images=0), "parity_images: expected >= 1, got 0"),
        (lambda: QuantizePlan(rounds=0), "rounds: expected >= 1, got 0"),
        (lambda: QuantizePlan(threads=0), "threads: expected >= 1, got 0"),
    ],
)
def test_plans_are_checked_before_any_work(make, message):
    with pytest.raises(EdgeimgError, match=message):
        make()


def test_int8_of_an_image_model_needs_calibration_images(detector_keras, tmp_path):
    with pytest.raises(EdgeimgError, match="int8: expected calibration images, got none"):
        export_model(detector_keras, tmp_path / "m.onnx", ExportPlan(int8=QuantizePlan()))
    assert list(tmp_path.iterdir()) == []


def test_export_model_checks_every_destination_first(detector_keras, tmp_path):
    plan = ExportPlan(
        calibration=lambda: [],
        int8=QuantizePlan(report_path=tmp_path / "missing" / "q.json"),
    )
    with pytest.raises(EdgeimgError, match=r"report .*q\.json: folder .*missing does not exist"):
        export_model(detector_keras, tmp_path / "m.onnx", plan)
    assert list(tmp_path.iterdir()) == []
