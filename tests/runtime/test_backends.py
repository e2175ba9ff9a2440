"""Backends: onnxruntime and cv2.dnn agree, providers follow --device, bad files fail in one line."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from edgeimg.runtime.backends import (
    Device,
    OrtBackend,
    TensorRTOptions,
    backend_names,
    create_backend,
    read_model_info,
)
from edgeimg.runtime.backends.ort import CPU, CUDA, TENSORRT, available_providers, plan_providers
from edgeimg.runtime.errors import EdgeimgError

# float32 convolutions summed in a different order: differences stay near 1e-6.
OUTPUT_ATOL = 1e-4


def random_batch(seed: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 255, (1, 64, 96, 3)).astype(np.float32)


def test_onnxruntime_and_opencv_give_the_same_outputs(detector_path):
    ort_backend = create_backend(detector_path, "onnxruntime")
    cv_backend = create_backend(detector_path, "opencv")
    assert [s.name for s in ort_backend.outputs] == [s.name for s in cv_backend.outputs]
    for seed in (1, 2):
        batch = random_batch(seed)
        expected = ort_backend.run({"image": batch})
        got = cv_backend.run({"image": batch})
        assert {k: a.shape for k, a in got.items()} == {
            "heatmap": (1, 16, 24, 2),
            "boxes": (1, 16, 24, 4),
        }
        for name, want in expected.items():
            np.testing.assert_allclose(got[name], want, atol=OUTPUT_ATOL, rtol=0)
        assert expected["heatmap"].std() > 0.01  # the outputs really depend on the image


def test_backends_describe_the_model_tensors_and_metadata(detector_path):
    info = read_model_info(detector_path)
    assert info.inputs[0].describe() == "image (1, 64, 96, 3) float32"
    assert [o.describe() for o in info.outputs] == [
        "heatmap (1, 16, 24, 2) float32",
        "boxes (1, 16, 24, 4) float32",
    ]
    assert info.metadata["edgeimg.task"] == '"detect"'
    backend = create_backend(detector_path, "onnxruntime", threads=1)
    assert backend.metadata == info.metadata
    assert backend.description.startswith("onnxruntime") and backend.description.endswith("CPU")


@pytest.mark.parametrize("kind", ["onnxruntime", "opencv"])
def test_a_batch_of_the_wrong_shape_or_dtype_is_refused_in_one_line(detector_path, kind):
    backend = create_backend(detector_path, kind)
    with pytest.raises(
        EdgeimgError, match=r"expected image \(1, 64, 96, 3\) float32, got \(1, 3, 64, 96\)"
    ):
        backend.run({"image": np.zeros((1, 3, 64, 96), np.float32)})
    with pytest.raises(EdgeimgError, match=r"got \(1, 64, 96, 3\) uint8"):
        backend.run({"image": np.zeros((1, 64, 96, 3), np.uint8)})
    with pytest.raises(EdgeimgError, match=r"model inputs: expected image, got picture"):
        backend.run({"picture": np.zeros((1, 64, 96, 3), np.float32)})


def test_backends_are_a_registry_a_new_one_is_one_call(detector_path):
    from edgeimg.runtime.backends import BACKENDS, register_backend

    calls = []

    def factory(path, device, threads, tensorrt):
        calls.append((path.name, device.value, threads))
        return create_backend(path, "onnxruntime", device, threads)

    register_backend("recording", factory)
    try:
        assert "recording" in backend_names()
        backend = create_backend(detector_path, "recording", threads=1)
        assert calls == [(detector_path.name, "cpu", 1)]
        assert set(backend.run({"image": random_batch()})) == {"heatmap", "boxes"}
    finally:
        BACKENDS.unregister("recording")
    with pytest.raises(
        EdgeimgError, match=r"backend: expected one of onnxruntime, opencv, openvino, got 'x'"
    ):
        create_backend(detector_path, "x")


def bad_files(tmp_path: Path, detector_path: Path) -> dict[str, Path]:
    data = detector_path.read_bytes()
    files = {
        "garbage": b"\x00\xffnot a model" * 20,
        "truncated": data[: len(data) // 2],
        "text": b"name: detector\ninput: image\n",
        "empty": b"",
    }
    paths = {}
    for name, content in files.items():
        paths[name] = tmp_path / f"{name}.onnx"
        paths[name].write_bytes(content)
    paths["missing"] = tmp_path / "missing.onnx"
    paths["folder"] = tmp_path
    return paths


EXPECTED_BAD_FILE = {
    "garbage": "cannot load",
    "truncated": "cannot load",
    "text": "cannot load",
    "empty": "model file is empty",
    "missing": "model file not found",
    "folder": "expected an .onnx file, got a directory",
}


@pytest.mark.parametrize("kind", ["onnxruntime", "opencv"])
@pytest.mark.parametrize("case", sorted(EXPECTED_BAD_FILE))
def test_corrupt_or_missing_files_fail_with_one_line(tmp_path, detector_path, kind, case):
    path = bad_files(tmp_path, detector_path)[case]
    with pytest.raises(EdgeimgError) as error:
        create_backend(path, kind)
    message = str(error.value)
    assert EXPECTED_BAD_FILE[case] in message
    assert "\n" not in message and "Traceback" not in message


def test_opencv_names_the_op_it_cannot_run(tmp_path):
    onnx = pytest.importorskip("onnx")
    helper, tp = onnx.helper, onnx.TensorProto
    # ReverseSequence: onnxruntime runs it; neither OpenCV 4.14 nor 5.0 has it.
    graph = helper.make_graph(
        [
            helper.make_node(
                "ReverseSequence",
                ["image", "lengths"],
                ["reversed"],
                name="flip_time",
                batch_axis=0,
                time_axis=1,
            )
        ],
        "reverse",
        [helper.make_tensor_value_info("image", tp.FLOAT, [1, 5])],
        [helper.make_tensor_value_info("reversed", tp.FLOAT, [1, 5])],
        [onnx.numpy_helper.from_array(np.array([5], np.int64), "lengths")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path = tmp_path / "reverse.onnx"
    onnx.save(model, str(path))
    batch = np.arange(5, dtype=np.float32)[None]
    reversed_ = create_backend(path, "onnxruntime").run({"image": batch})["reversed"]
    assert reversed_.tolist() == [[4, 3, 2, 1, 0]]
    with pytest.raises(
        EdgeimgError,
        match=r"OpenCV dnn cannot load .*: unsupported op ReverseSequence \(node flip_time\)",
    ):
        create_backend(path, "opencv")


def test_unknown_backend_and_device_names_list_the_valid_ones(detector_path):
    with pytest.raises(
        EdgeimgError, match="backend: expected one of onnxruntime, opencv, openvino, got 'tflite'"
    ):
        create_backend(detector_path, "tflite")
    with pytest.raises(
        EdgeimgError, match="device: expected one of cpu, cuda, tensorrt, auto, got 'gpu'"
    ):
        create_backend(detector_path, "onnxruntime", device="gpu")


def names(plan) -> list[str]:
    return [p if isinstance(p, str) else p[0] for p in plan]


@pytest.mark.parametrize(
    ("device", "available", "expected", "asked"),
    [
        ("cpu", [TENSORRT, CUDA, CPU], [CPU], None),
        ("cuda", [TENSORRT, CUDA, CPU], [CUDA, CPU], CUDA),
        ("cuda", [CPU], [CPU], CUDA),
        ("tensorrt", [TENSORRT, CUDA, CPU], [TENSORRT, CUDA, CPU], TENSORRT),
        ("tensorrt", [CUDA, CPU], [CUDA, CPU], TENSORRT),
        ("auto", [TENSORRT, CUDA, CPU], [CUDA, CPU], None),  # TensorRT only when asked
        ("auto", [CUDA, CPU], [CUDA, CPU], None),
        ("auto", [CPU], [CPU], None),
    ],
)
def test_device_chooses_execution_providers_best_first(
    tmp_path, device, available, expected, asked
):
    plan, wanted = plan_providers(
        Device(device), TensorRTOptions(cache_dir=tmp_path / "trt"), available
    )
    assert names(plan) == expected
    assert wanted == asked


def test_tensorrt_options_put_engines_and_timing_caches_in_the_cache_folder(tmp_path):
    options = TensorRTOptions(fp16=True, cache_dir=tmp_path / "trt")
    plan, _ = plan_providers(Device.TENSORRT, options, [TENSORRT, CPU])
    settings = plan[0][1]
    assert settings["trt_fp16_enable"] == "True" and settings["trt_int8_enable"] == "False"
    assert (
        settings["trt_engine_cache_path"]
        == settings["trt_timing_cache_path"]
        == str(tmp_path / "trt")
    )
    assert settings["trt_engine_cache_enable"] == settings["trt_timing_cache_enable"] == "True"
    assert (tmp_path / "trt").is_dir()


def test_default_cache_folder_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("EDGEIMG_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert TensorRTOptions().cache_dir == tmp_path / "edgeimg" / "trt"
    monkeypatch.setenv("EDGEIMG_CACHE", str(tmp_path / "mine"))
    assert TensorRTOptions().cache_dir == tmp_path / "mine" / "trt"


@pytest.mark.skipif(CUDA in available_providers(), reason="this onnxruntime has CUDA")
def test_asking_for_a_gpu_that_is_not_here_warns_and_runs_on_cpu(detector_path, caplog):
    with caplog.at_level(logging.WARNING, logger="edgeimg"):
        backend = OrtBackend(detector_path, device="cuda")
    assert backend.providers == (CPU,)
    warning = " ".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert "device cuda: asked for CUDA, running on CPU" in warning


def test_opencv_without_cuda_warns_and_runs_on_cpu(detector_path, caplog):
    from edgeimg.runtime.backends.opencv import cuda_devices

    if cuda_devices():
        pytest.skip("this OpenCV has CUDA")
    with caplog.at_level(logging.WARNING, logger="edgeimg"):
        backend = create_backend(detector_path, "opencv", device="cuda")
    assert backend.description.endswith("CPU")
    assert any("device cuda" in r.getMessage() for r in caplog.records)


# What OpenCV 4.14 raises for an int8 (QDQ) model it cannot import.
QDQ_ERROR = (
    "OpenCV(4.14.0) /io/opencv/modules/dnn/src/onnx/onnx_importer.cpp:1064: error: "
    "(-2:Unspecified error) in function 'handleNode'\n"
    "> Node [DequantizeLinear@ai.onnx]:(onnx_node!conv/x:0_DequantizeLinear) parse error: "
    "OpenCV(4.14.0) /io/opencv/modules/dnn/include/opencv2/dnn/shape_utils.hpp:243: error: "
    "(-2:Unspecified error) in function 'int cv::dnn::normalize_axis(int, int)'\n"
    "> > :\n> >     'axis >= -dims && axis < dims'\n> > where\n> >     'axis' is 1\n> "
)


def test_opencv_errors_shrink_to_the_op_node_and_reason():
    import cv2

    from edgeimg.runtime.backends.opencv import describe_cv2_error

    assert describe_cv2_error(cv2.error(QDQ_ERROR)) == (
        "op DequantizeLinear (node conv/x:0_DequantizeLinear): "
        "'axis >= -dims && axis < dims' where 'axis' is 1"
    )
    assert (
        describe_cv2_error(
            cv2.error(
                "OpenCV(4.14.0) /io/opencv/modules/dnn/src/onnx/onnx_importer.cpp:799: error: "
                "(-215:Assertion failed) model_proto.has_graph() in function 'populateNet'\n"
            )
        )
        == "model_proto.has_graph()"
    )


@pytest.mark.gpu
@pytest.mark.skipif(CUDA not in available_providers(), reason="needs onnxruntime-gpu")
def test_cuda_gives_the_outputs_the_cpu_gives(detector_path):
    on_gpu = OrtBackend(detector_path, device="cuda")
    assert on_gpu.providers[0] == CUDA and on_gpu.description.endswith("CUDA")
    batch = random_batch(4)
    # CUDA convolutions run in TF32 on Ampere and later (10-bit mantissa): seen up to 3e-4 on
    # an H100 for these outputs in 0..~3.
    want = OrtBackend(detector_path).run({"image": batch})
    for name, got in on_gpu.run({"image": batch}).items():
        np.testing.assert_allclose(got, want[name], atol=2e-3, rtol=0)
