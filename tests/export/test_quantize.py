"""INT8 (QDQ) and FP16: types per target, the float tail, accuracy compared, the report."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import numpy_helper

from edgeimg.export.calibration import prepare_batch
from edgeimg.export.evaluation import HeldOut, backend_infer
from edgeimg.export.onnx_export import ExportOptions, export_keras
from edgeimg.export.quantize import (
    QUANTIZATION_KEY,
    QuantizeOptions,
    Target,
    convert_fp16,
    cpu_has_vnni,
    load_onnx,
    quant_scheme,
    quantize_int8,
)
from edgeimg.export.report import Budget, compare
from edgeimg.export.tasks.classify import TopOneEvaluator
from edgeimg.export.tasks.detect import head_nodes
from edgeimg.runtime.contract import ModelContract
from edgeimg.runtime.errors import EdgeimgError


@pytest.fixture(scope="module")
def classifier_onnx(person_classifier, tmp_path_factory):
    path = tmp_path_factory.mktemp("cls_onnx") / "person.onnx"
    return export_keras(person_classifier.keras_path, path, ExportOptions())


@pytest.fixture(scope="module")
def detector_fp32(detector_keras, tmp_path_factory):
    path = tmp_path_factory.mktemp("det_fp32") / "detector.onnx"
    return export_keras(detector_keras, path, ExportOptions())


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ("fpu sse2 avx2 fma", False),
        ("fpu avx2 avx512f avx512_vnni", True),
        ("fpu avx2 avx_vnni", True),
        ("fpu avx2 avx512vnni_like", False),
    ],
)
def test_vnni_is_read_from_cpu_flags(flags, expected):
    assert cpu_has_vnni(f"processor\t: 0\nflags\t\t: {flags}\n") is expected


def test_types_per_target():
    x86 = QuantizeOptions(target="cpu-x86")
    assert quant_scheme(x86, has_vnni=False).label == "U8S8 reduce_range"
    assert quant_scheme(x86, has_vnni=True).label == "U8S8"
    for target in ("tensorrt", "cpu-arm"):
        scheme = quant_scheme(QuantizeOptions(target=target), has_vnni=False)
        assert scheme.label == "S8S8 symmetric"
        assert scheme.symmetric_activations and scheme.symmetric_weights


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"method": "kl"}, "calibration method: expected one of minmax, entropy, percentile"),
        ({"target": "gpu"}, "target: expected one of cpu-x86, cpu-arm, tensorrt"),
        ({"percentile": 50.0}, "percentile: expected 90 < p <= 100"),
        ({"target": "tensorrt", "reduce_range": True}, "reduce_range applies to U8S8 on x86"),
    ],
)
def test_quantize_options_are_checked_before_any_work(options, message):
    with pytest.raises(EdgeimgError, match=message):
        QuantizeOptions(**options)


def test_detector_head_is_kept_in_float_by_default(detector_fp32):
    proto = onnx.load(str(detector_fp32.path))
    names = head_nodes(proto)
    by_name = {n.name: n for n in proto.graph.node}
    ops = sorted(by_name[n].op_type for n in names)
    assert ops.count("Conv") == 2, "the last convolution of each output head"
    assert "Sigmoid" in ops and "Relu" in ops
    assert len(names) < len(proto.graph.node) / 5, "only the tail, not the backbone"


def activation_scales(path) -> dict[str, float]:
    proto = onnx.load(str(path))
    init = {i.name: numpy_helper.to_array(i) for i in proto.graph.initializer}
    return {
        n.input[0]: float(init[n.input[1]])
        for n in proto.graph.node
        if n.op_type == "QuantizeLinear" and init[n.input[1]].size == 1
    }


@pytest.mark.parametrize(
    "method",
    ["percentile", pytest.param("entropy", marks=pytest.mark.slow)],  # KL search: ~1 s a tensor
)
def test_calibration_methods_clip_what_minmax_keeps(method, detector_fp32, pets_frames, tmp_path):
    batch = prepare_batch(pets_frames[:6], detector_fp32.contract)
    scales = {}
    for name in ("minmax", method):
        out = tmp_path / f"{name}.onnx"
        options = QuantizeOptions(method=name, percentile=99.9, debug_images=0)
        quantize_int8(detector_fp32.path, out, batch, options)
        scales[name] = activation_scales(out)
    names = sorted(scales["minmax"])
    minmax = np.array([scales["minmax"][n] for n in names])
    other = np.array([scales[method][n] for n in names])
    assert np.all(other <= minmax * (1 + 1e-6)), f"{method} never widens the MinMax range"
    assert np.any(other < minmax * 0.99), f"{method} clips some range (it is not MinMax again)"


def test_int8_classifier_keeps_accuracy_on_held_out_crops(
    person_classifier, classifier_onnx, tmp_path
):
    contract = classifier_onnx.contract
    batch = prepare_batch(person_classifier.calibration.images, contract)
    out = tmp_path / "person.int8.onnx"
    result = quantize_int8(classifier_onnx.path, out, batch, QuantizeOptions(method="entropy"))
    held_out = person_classifier.held_out
    evaluator = TopOneEvaluator(HeldOut(held_out.images, held_out.labels, "labels"), contract)
    report = compare(
        classifier_onnx.path,
        result,
        batch[:1],
        contract.output_names,
        evaluator,
        Budget(max_accuracy_drop=3.0),
        rounds=20,
    )
    assert report.float_score > 90.0, "the fixture's classifier learned the task"
    assert abs(report.float_score - report.quant_score) <= 3.0
    assert report.quant_bytes < 0.5 * report.float_bytes
    assert report.worst_tensors, "per-tensor errors from qdq_loss_debug"
    assert all(np.isfinite(v) for _, v in report.worst_tensors)
    assert "QuantizeLinear" in {n.op_type for n in onnx.load(str(out)).graph.node}
    data = report.to_dict()
    assert data["metric"] == "top-1 %"
    assert data["float"]["latency_ms"]["runs"] == 20
    assert set(data) >= {"latency_ratio", "size_ratio", "scheme", "problems", "passed"}
    table = report.table()
    assert "latency median" in table and "top-1 %" in table and "verdict:" in table


def test_int8_model_keeps_the_contract_and_records_the_quantization(
    detector_fp32, pets_frames, tmp_path
):
    contract = detector_fp32.contract
    out = tmp_path / "detector.int8.onnx"
    batch = prepare_batch(pets_frames[:8], contract)
    quantize_int8(detector_fp32.path, out, batch, QuantizeOptions(target=Target.TENSORRT))
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    metadata = session.get_modelmeta().custom_metadata_map
    assert ModelContract.from_metadata(metadata) == contract
    record = json.loads(metadata[QUANTIZATION_KEY])
    assert record["scheme"]["activation_type"] == "QInt8"
    assert record["calibration_images"] == 8
    heatmap, boxes = session.run(None, {"image": batch[:2]})
    assert heatmap.shape == (2, 16, 24, 1) and boxes.shape == (2, 16, 24, 4)


def test_tensorrt_target_has_zero_zero_points(detector_fp32, pets_frames, tmp_path):
    out = tmp_path / "trt.int8.onnx"
    batch = prepare_batch(pets_frames[:4], detector_fp32.contract)
    quantize_int8(
        detector_fp32.path, out, batch, QuantizeOptions(target="tensorrt", debug_images=0)
    )
    proto = onnx.load(str(out))
    init = {i.name: numpy_helper.to_array(i) for i in proto.graph.initializer}
    zero_points = [init[n.input[2]] for n in proto.graph.node if n.op_type == "QuantizeLinear"]
    assert zero_points
    assert all(zp.dtype == np.int8 and not zp.any() for zp in zero_points)


def test_fp16_keeps_float32_io_and_close_outputs(detector_fp32, pets_frames, tmp_path):
    out = convert_fp16(detector_fp32.path, tmp_path / "detector.fp16.onnx")
    proto = onnx.load(str(out))
    float16 = onnx.TensorProto.FLOAT16
    assert any(i.data_type == float16 for i in proto.graph.initializer)
    assert all(
        v.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
        for v in [*proto.graph.input, *proto.graph.output]
    )
    batch = prepare_batch(pets_frames[:2], detector_fp32.contract)
    names = detector_fp32.contract.output_names
    full = backend_infer(detector_fp32.path, names)(batch)
    half = backend_infer(out, names)(batch)
    for a, b in zip(full, half, strict=True):
        assert b.dtype == np.float32
        assert np.abs(a - b).max() < 0.05
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert ModelContract.from_metadata(session.get_modelmeta().custom_metadata_map)


def test_truncated_or_foreign_onnx_is_refused(detector_fp32, tmp_path):
    data = detector_fp32.path.read_bytes()
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(EdgeimgError, match="not a valid ONNX model"):
        load_onnx(truncated)
    foreign = onnx.load(str(detector_fp32.path))
    del foreign.metadata_props[:]
    onnx.save(foreign, str(tmp_path / "foreign.onnx"))
    batch = np.zeros((1, 3, 64, 96), np.float32)
    with pytest.raises(EdgeimgError, match="lacks edgeimg metadata keys"):
        quantize_int8(tmp_path / "foreign.onnx", tmp_path / "out.onnx", batch)
    assert not (tmp_path / "out.onnx").exists()


def test_corrupt_onnx_file_is_refused_and_nothing_written(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07garbage that is not a protobuf model")
    out = tmp_path / "out.onnx"
    with pytest.raises(EdgeimgError, match="not a valid ONNX model"):
        quantize_int8(bad, out, np.zeros((1, 3, 64, 96), np.float32))
    assert not out.exists()
    with pytest.raises(EdgeimgError, match="no such ONNX file"):
        load_onnx(tmp_path / "absent.onnx")


def test_calibration_tensors_that_do_not_fit_the_model_are_refused(detector_fp32, tmp_path):
    wrong = np.zeros((2, 3, 32, 32), np.float32)  # the model takes (N, 3, 64, 96)
    with pytest.raises(EdgeimgError, match=r"shape \(3, 32, 32\) per image.*\(3, 64, 96\)"):
        quantize_int8(detector_fp32.path, tmp_path / "x.onnx", wrong)
    assert not (tmp_path / "x.onnx").exists()


def test_unknown_excluded_node_is_refused(detector_fp32, pets_frames, tmp_path):
    batch = prepare_batch(pets_frames[:2], detector_fp32.contract)
    with pytest.raises(EdgeimgError, match="no nodes named nope"):
        quantize_int8(
            detector_fp32.path, tmp_path / "x.onnx", batch, QuantizeOptions(exclude=("nope",))
        )
    assert not (tmp_path / "x.onnx").exists()
