"""read_model_info walks the ONNX bytes itself: what it reads equals what onnxruntime reads, on
every bundled model and the tests' detector; bytes that are no ONNX model fail in one line; and a
model run on OpenCV no longer loads onnxruntime at all (checked in a fresh interpreter)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from edgeimg.runtime.backends import read_model_info
from edgeimg.runtime.backends.onnx_info import parse_model_info
from edgeimg.runtime.backends.ort import has_cuda_provider, open_session, tensor_specs
from edgeimg.runtime.errors import EdgeimgError

ASSETS = Path(__file__).resolve().parents[2] / "runtime" / "assets"
MODELS = sorted(ASSETS.glob("*.onnx"))


def onnxruntime_reading(path: Path):
    session = open_session(path, ["CPUExecutionProvider"], threads=1, optimization="disable")
    return (
        tensor_specs(session.get_inputs()),
        tensor_specs(session.get_outputs()),
        dict(session.get_modelmeta().custom_metadata_map),
    )


def test_there_are_models_to_compare():
    assert len(MODELS) >= 8 and all(p.stat().st_size > 0 for p in MODELS)


@pytest.mark.parametrize("path", MODELS, ids=lambda p: p.name)
def test_it_reads_what_onnxruntime_reads(path):
    info = read_model_info(path)
    assert (info.inputs, info.outputs, info.metadata) == onnxruntime_reading(path)


def test_it_reads_the_test_detector_as_onnxruntime_does(detector_path):
    info = read_model_info(detector_path)
    assert (info.inputs, info.outputs, info.metadata) == onnxruntime_reading(detector_path)


def test_weights_listed_as_graph_inputs_are_not_inputs(detector_path):
    """Older exporters list initializers among the graph's inputs; onnxruntime hides them."""
    onnx = pytest.importorskip("onnx")
    model = onnx.load(str(detector_path))
    weight = model.graph.initializer[0]
    model.graph.input.append(
        onnx.helper.make_tensor_value_info(weight.name, weight.data_type, list(weight.dims))
    )
    info = parse_model_info(model.SerializeToString())
    assert [spec.name for spec in info.inputs] == ["image"]


def test_a_dynamic_dimension_is_none(detector_path):
    onnx = pytest.importorskip("onnx")
    model = onnx.load(str(detector_path))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    dims[0].dim_param = "batch"
    dims[1].ClearField("dim_value")  # neither value nor name: unknown
    info = parse_model_info(model.SerializeToString())
    assert info.inputs[0].shape == (None, None, 96, 3)


@pytest.mark.parametrize(
    "content",
    [b"not a model at all\n", b"\x08\x07garbage", b"\x3a\xff\xff\xff\x0f", bytes(range(256))],
    ids=["text", "garbage", "length past the end", "bytes"],
)
def test_bytes_that_are_no_model_fail_in_one_line(tmp_path, content):
    path = tmp_path / "broken.onnx"
    path.write_bytes(content)
    with pytest.raises(
        EdgeimgError, match=r"cannot load .*broken\.onnx: not an ONNX model \("
    ) as e:
        read_model_info(path)
    assert "\n" not in str(e.value)


def test_a_truncated_model_fails_in_one_line(tmp_path, detector_path):
    data = detector_path.read_bytes()
    path = tmp_path / "half.onnx"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(EdgeimgError, match=r"not an ONNX model .*truncated"):
        read_model_info(path)


def test_the_cuda_answer_matches_onnxruntime():
    import onnxruntime

    assert has_cuda_provider() == ("CUDAExecutionProvider" in onnxruntime.get_available_providers())


RUN_ON_OPENCV = """
import json, sys
import numpy as np
from edgeimg.runtime import load_model
model = load_model({path!r}, backend="opencv", device="auto")
out = model.backend.run({{"image": np.zeros((1, 64, 96, 3), np.float32)}})
print(json.dumps(["onnxruntime" in sys.modules, sorted(out)]))
"""


def test_a_model_run_on_opencv_does_not_load_onnxruntime(detector_path):
    code = RUN_ON_OPENCV.format(path=str(detector_path))
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [False, ["boxes", "heatmap"]]
