"""The OpenVINO backend: the same ONNX files as onnxruntime, the same tensors and detections.

Tolerances: FP32 convolutions summed in a different order (and OpenVINO's fused kernels) stay
within 1e-4 on the small test detector; on the bundled 288x384 detector, boxes agree within
0.5 px and scores within 2e-3. An INT8 QDQ file runs on each engine's own INT8 kernels
(rounding of requantised activations differs): its outputs agree with onnxruntime's on the same
file within 5 % of the output range. Where the openvino package is missing (the Python 3.10
device stack) the tests that run it are skipped; the missing-package error is tested everywhere.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgeimg.runtime.backends import MissingBackend, create_backend, installed_backend_names
from edgeimg.runtime.backends.openvino import openvino_available
from edgeimg.runtime.errors import EdgeimgError
from edgeimg.runtime.model import bundled_model_path, load_model

needs_openvino = pytest.mark.skipif(
    not openvino_available(),
    reason="openvino is not installed here (pip install 'edgeimg[openvino]'; the Python 3.10 "
    "device stack has no openvino)",
)

OUTPUT_ATOL = 1e-4
BOX_ATOL_PX = 0.5
SCORE_ATOL = 2e-3
INT8_RANGE_SHARE = 0.05


def random_batch(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 255, (1, 64, 96, 3)).astype(np.float32)


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """OpenVINO's compiled-model cache goes under tmp_path, not the user's cache folder."""
    monkeypatch.setenv("EDGEIMG_CACHE", str(tmp_path / "cache"))


@needs_openvino
def test_openvino_gives_the_outputs_of_onnxruntime_by_name(detector_path, tmp_path):
    ov_backend = create_backend(detector_path, "openvino", threads=1)
    ort_backend = create_backend(detector_path, "onnxruntime", threads=1)
    assert ov_backend.inputs == ort_backend.inputs
    assert ov_backend.outputs == ort_backend.outputs
    assert ov_backend.metadata == ort_backend.metadata  # metadata_props, read by onnxruntime
    assert ov_backend.description.startswith("openvino ") and ov_backend.description.endswith("CPU")
    for seed in (1, 2):
        batch = random_batch(seed)
        expected = ort_backend.run({"image": batch})
        got = ov_backend.run({"image": batch})
        assert list(got) == ["heatmap", "boxes"]
        for name, want in expected.items():
            assert got[name].dtype == want.dtype
            np.testing.assert_allclose(got[name], want, atol=OUTPUT_ATOL, rtol=0)
    # the returned arrays are the caller's: the next run does not overwrite them
    first = ov_backend.run({"image": random_batch(1)})["heatmap"].copy()
    kept = ov_backend.run({"image": random_batch(1)})
    ov_backend.run({"image": random_batch(2)})
    np.testing.assert_array_equal(kept["heatmap"], first)


@needs_openvino
def test_threads_streams_and_the_model_cache_are_configured(detector_path, tmp_path):
    from edgeimg.runtime.backends import read_model_info
    from edgeimg.runtime.backends.openvino import OpenVINOBackend

    backend = OpenVINOBackend(detector_path, read_model_info(detector_path), "cpu", threads=1)
    assert (backend.threads, backend.streams) == (1, 1)
    assert any((tmp_path / "cache" / "openvino").iterdir())  # the compiled blob is cached
    with pytest.raises(EdgeimgError, match="openvino streams: expected >= 1, got 0"):
        OpenVINOBackend(detector_path, read_model_info(detector_path), "cpu", streams=0)


@needs_openvino
@pytest.mark.skipif(not bundled_model_path().is_file(), reason="no bundled model")
def test_the_bundled_detector_finds_the_same_people_on_openvino(tmp_path):
    from edgeimg.runtime.synthetic import SyntheticScene

    on_ort = load_model(bundled_model_path(), backend="onnxruntime", threads=1)
    on_ov = load_model(bundled_model_path(), backend="openvino", threads=1)
    scene = SyntheticScene()
    total = 0
    for index in (0, 40, 80):
        frame = scene.render(index)[0]
        want, got = on_ort.predict(frame), on_ov.predict(frame)
        assert len(got.xyxy) == len(want.xyxy)
        np.testing.assert_array_equal(got.class_id, want.class_id)
        np.testing.assert_allclose(got.xyxy, want.xyxy, atol=BOX_ATOL_PX, rtol=0)
        np.testing.assert_allclose(got.confidence, want.confidence, atol=SCORE_ATOL, rtol=0)
        total += len(want.xyxy)
    assert total > 0  # the comparison really covered detections


def qdq_copy(fp32: Path, out: Path) -> Path:
    """The model quantized to INT8 QDQ (per-channel weights) by onnxruntime, calibrated on a
    few random images: the format ``edgeimg quantize`` writes."""
    pytest.importorskip("onnx")
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter([{"image": random_batch(seed)} for seed in range(8)])

        def get_next(self):
            return next(self.batches, None)

    quantize_static(
        str(fp32),
        str(out),
        Reader(),
        quant_format=QuantFormat.QDQ,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        per_channel=True,
    )
    return out


@needs_openvino
def test_an_int8_qdq_file_loads_and_agrees_with_onnxruntime(detector_path, tmp_path):
    int8 = qdq_copy(detector_path, tmp_path / "detector.int8.onnx")
    ov_backend = create_backend(int8, "openvino", threads=1)
    ort_backend = create_backend(int8, "onnxruntime", threads=1)
    assert ov_backend.metadata == ort_backend.metadata
    batch = random_batch(5)
    expected = ort_backend.run({"image": batch})
    got = ov_backend.run({"image": batch})
    for name, want in expected.items():
        span = float(want.max() - want.min())
        np.testing.assert_allclose(got[name], want, atol=INT8_RANGE_SHARE * span, rtol=0)


@needs_openvino
def test_a_batch_of_the_wrong_shape_dtype_or_name_is_refused_in_one_line(detector_path):
    backend = create_backend(detector_path, "openvino")
    with pytest.raises(
        EdgeimgError,
        match=r"^model input image: expected image \(1, 64, 96, 3\) float32, "
        r"got \(1, 3, 64, 96\) float32$",
    ):
        backend.run({"image": np.zeros((1, 3, 64, 96), np.float32)})
    with pytest.raises(EdgeimgError, match=r"got \(1, 64, 96, 3\) uint8$"):
        backend.run({"image": np.zeros((1, 64, 96, 3), np.uint8)})
    with pytest.raises(EdgeimgError, match=r"^model inputs: expected image, got picture$"):
        backend.run({"picture": np.zeros((1, 64, 96, 3), np.float32)})


@needs_openvino
def test_a_file_openvino_cannot_read_is_one_line_naming_it(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(EdgeimgError) as caught:
        create_backend(bad, "openvino")
    assert "\n" not in str(caught.value) and "bad.onnx" in str(caught.value)


def test_without_the_package_openvino_is_one_line_with_the_pip_command_and_exit_3(
    detector_path, monkeypatch, tmp_path, capsys
):
    from edgeimg.cli.main import main

    monkeypatch.setitem(sys.modules, "openvino", None)  # `import openvino` raises ImportError
    assert not openvino_available()
    assert "openvino" not in installed_backend_names()
    with pytest.raises(MissingBackend, match=r"pip install 'edgeimg\[openvino\]'") as caught:
        create_backend(detector_path, "openvino")
    assert caught.value.exit_code == 3
    monkeypatch.chdir(tmp_path)
    code = main(["track", "--model", str(detector_path), "--frames", "1", "--backend", "openvino"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 3
    assert err[-1] == (
        "edgeimg track: error: backend openvino: the openvino package is not installed here: "
        "pip install 'edgeimg[openvino]'"
    )


def test_importing_the_runtime_does_not_import_openvino():
    code = (
        "import sys, edgeimg.runtime, edgeimg.runtime.backends, edgeimg.runtime.backends.choose; "
        "import edgeimg.cli.track; print('openvino' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


@needs_openvino
def test_the_latency_matrix_times_openvino_beside_the_others(detector_path, tmp_path):
    from edgeimg.bench.backends import Backend, Precision
    from edgeimg.bench.harness import RunPlan
    from edgeimg.bench.model import MatrixSpec, build_matrix, run_matrix

    int8 = qdq_copy(detector_path, tmp_path / "detector.int8.onnx")
    spec = MatrixSpec(
        detector_path, int8=int8, backends=(Backend.ONNXRUNTIME, Backend.OPENVINO), threads=(1,)
    )
    configs, _ = build_matrix(spec)
    result = run_matrix(configs, RunPlan(warmup=1, iterations=3, rounds=1))
    labels = {row.config.label for row in result.rows}
    assert {"openvino fp32 t1 b1", "openvino int8 t1 b1"} <= labels
    assert all(len(row.latencies_s) == 3 for row in result.rows)
    assert not [s for s in result.skipped if s.label.startswith("openvino")]
    assert {row.config.precision for row in result.rows} == {Precision.FP32, Precision.INT8}


RELEASE_THEN_SIGINT = """
import gc, signal, threading
import numpy as np
from edgeimg.runtime.backends import create_backend
from edgeimg.runtime.model import bundled_model_path

path = bundled_model_path().with_name("person_detector.int8.onnx")
def make():
    backend = create_backend(path, "openvino", threads=1)
    backend.run({"image": np.zeros((1, 3, 288, 384), np.float32)})
    return backend
first, second = make(), make()
del first; gc.collect(); del second; gc.collect()  # first in, first out
third = [make()]
releaser = threading.Thread(target=third.clear); releaser.start(); releaser.join()
caught = []
signal.signal(signal.SIGINT, lambda *_: caught.append("SIGINT"))
signal.raise_signal(signal.SIGINT)
print(caught)
"""


@needs_openvino
def test_ctrl_c_after_openvino_models_were_released_in_any_order_or_thread():
    """OpenVINO's CPU plugin gives the thread that loads it an alternate signal stack (for AMX
    state) and unmaps it when the plugin is unloaded. With a Core per model, releasing them
    first-in first-out or on another thread left that stack unmapped, and the next Ctrl-C
    killed the process with SIGSEGV (this failed on an AMX Xeon before the backends shared
    one Core; CPUs without AMX never had the problem)."""
    result = subprocess.run(
        [sys.executable, "-c", RELEASE_THEN_SIGINT],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, (result.returncode, result.stderr[-500:])
    assert result.stdout.strip().splitlines()[-1] == "['SIGINT']"
