"""`edgeimg triton-repo`: Triton model repositories of the bundled models, checked against
Triton's own schema (``inference.ModelConfig`` from tritonclient's ``model_config_pb2``).

The schema tests skip without tritonclient (``pip install tritonclient``, in the dev extra) and
fail without it in CI. ``model_config_pb2.py`` is loaded from its file: importing it through
``tritonclient.grpc`` would need grpcio, which only its protobuf messages do not.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import onnx
import onnxruntime as ort
import pytest
from google.protobuf import text_format

from edgeimg.cli.main import main
from edgeimg.export.triton import TensorSpec, TritonConfig, render_config, write_triton_repo
from edgeimg.runtime.contract import ModelContract
from edgeimg.runtime.errors import EdgeimgError
from edgeimg.runtime.model import bundled_model_path

# (input name, dims), (output name, dims) per bundled model: dims without the batch dimension,
# as read off the ONNX files by hand (-1: dynamic)
BUNDLED = {
    "detect": ([("image", [3, 288, 384])], [("heatmap", [72, 96, 1]), ("boxes", [72, 96, 4])]),
    "classify": ([("image", [1, 28, 28])], [("probs", [10])]),
    "segment": ([("image", [3, 368, 480])], [("logits", [368, 480, 11])]),
    "upscale": ([("image", [1, -1, -1])], [("hr", [-1, -1, 1])]),
    "generate": ([("latent", [110])], [("image", [28, 28, 1])]),
}


@pytest.fixture(scope="module")
def pb2():
    """Triton's ModelConfig protobuf module (tritonclient/grpc/model_config_pb2.py)."""
    loaded = sys.modules.get("tritonclient.grpc.model_config_pb2")
    if loaded is not None:
        return loaded
    spec = importlib.util.find_spec("tritonclient")
    if spec is None or not spec.submodule_search_locations:
        message = "tritonclient not installed (pip install tritonclient): no Triton schema"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    path = Path(next(iter(spec.submodule_search_locations))) / "grpc" / "model_config_pb2.py"
    module_spec = importlib.util.spec_from_file_location("triton_model_config_pb2", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def parse(pb2, text: str):
    """config.pbtxt's text as Triton's ModelConfig: unknown fields or bad values raise."""
    return text_format.Parse(text, pb2.ModelConfig())


def ort_dims(session_args) -> dict[str, list[int]]:
    """name -> shape as onnxruntime reads the model (-1 for a named or unknown dimension)."""
    return {a.name: [d if isinstance(d, int) else -1 for d in a.shape] for a in session_args}


@pytest.mark.parametrize("task", sorted(BUNDLED))
def test_bundled_model_repository_matches_triton_schema(task, pb2, tmp_path):
    source = bundled_model_path(task)
    result = write_triton_repo(source, tmp_path / "repo", TritonConfig())
    assert result.path == (tmp_path / "repo" / source.stem).absolute()
    assert result.max_batch_size == 16 and not result.batching_off and not result.unchanged
    text = (result.path / "config.pbtxt").read_text()
    assert text == result.config_text
    config = parse(pb2, text)

    assert config.name == source.stem
    assert config.platform == "onnxruntime_onnx"
    assert config.max_batch_size == 16
    inputs, outputs = BUNDLED[task]
    assert [(t.name, list(t.dims)) for t in config.input] == inputs
    assert [(t.name, list(t.dims)) for t in config.output] == outputs
    fp32 = pb2.DataType.Value("TYPE_FP32")
    assert all(t.data_type == fp32 for t in [*config.input, *config.output])
    assert config.WhichOneof("scheduling_choice") == "dynamic_batching"
    assert config.dynamic_batching.max_queue_delay_microseconds == 2000
    assert len(config.instance_group) == 1
    group = config.instance_group[0]
    assert group.count == 1 and group.kind == pb2.ModelInstanceGroup.Kind.Value("KIND_CPU")
    assert not config.HasField("optimization")

    # the model is the file itself: same bytes, contract readable, onnxruntime agrees on dims
    model = result.path / "1" / "model.onnx"
    assert model.read_bytes() == source.read_bytes()
    metadata = {p.key: p.value for p in onnx.load(model, load_external_data=False).metadata_props}
    assert ModelContract.from_metadata(metadata, str(model)).task == task
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    for tensors, args in (
        (config.input, session.get_inputs()),
        (config.output, session.get_outputs()),
    ):
        shapes = ort_dims(args)
        assert {t.name: [-1, *t.dims] for t in tensors} == shapes


def test_gpu_tensorrt_fp16_and_custom_batching(pb2, tmp_path):
    source = bundled_model_path("detect")
    options = TritonConfig(
        name="detector", max_batch=8, queue_delay_us=500, instances=2, kind="gpu",
        tensorrt=True, fp16=True,
    )  # fmt: skip
    config = parse(pb2, write_triton_repo(source, tmp_path, options).config_text)
    assert config.name == "detector" and config.max_batch_size == 8
    assert config.dynamic_batching.max_queue_delay_microseconds == 500
    group = config.instance_group[0]
    assert group.count == 2 and group.kind == pb2.ModelInstanceGroup.Kind.Value("KIND_GPU")
    (accelerator,) = config.optimization.execution_accelerators.gpu_execution_accelerator
    assert accelerator.name == "tensorrt"
    assert dict(accelerator.parameters) == {"precision_mode": "FP16"}
    assert not config.optimization.execution_accelerators.cpu_execution_accelerator

    fp32 = TritonConfig(name="detector32", kind="gpu", tensorrt=True)
    config = parse(pb2, write_triton_repo(source, tmp_path, fp32).config_text)
    (accelerator,) = config.optimization.execution_accelerators.gpu_execution_accelerator
    assert dict(accelerator.parameters) == {"precision_mode": "FP32"}


@pytest.fixture(scope="module")
def fixed_batch_model(tmp_path_factory) -> Path:
    """The bundled detector with its batch dimension fixed to 1 (a real model Triton cannot
    batch)."""
    proto = onnx.load(bundled_model_path("detect"))
    for value in [*proto.graph.input, *proto.graph.output]:
        value.type.tensor_type.shape.dim[0].dim_value = 1
    path = tmp_path_factory.mktemp("fixed") / "detector_b1.onnx"
    onnx.save(proto, path)
    return path


def test_fixed_batch_model_gets_max_batch_size_0_and_full_dims(pb2, fixed_batch_model, tmp_path):
    result = write_triton_repo(fixed_batch_model, tmp_path, TritonConfig())
    assert result.max_batch_size == 0
    assert "'image' has first dimension 1" in result.batching_off
    config = parse(pb2, result.config_text)
    assert config.max_batch_size == 0
    assert [list(t.dims) for t in config.input] == [[1, 3, 288, 384]]
    assert [list(t.dims) for t in config.output] == [[1, 72, 96, 1], [1, 72, 96, 4]]
    assert config.WhichOneof("scheduling_choice") is None  # no dynamic batching without batches


def test_max_batch_0_keeps_the_dynamic_batch_dimension_in_dims(pb2, tmp_path):
    result = write_triton_repo(bundled_model_path("detect"), tmp_path, TritonConfig(max_batch=0))
    config = parse(pb2, result.config_text)
    assert config.max_batch_size == 0 and result.batching_off == ""
    assert [list(t.dims) for t in config.input] == [[-1, 3, 288, 384]]
    assert config.WhichOneof("scheduling_choice") is None


def test_render_config_types_scalars_and_quoting(pb2):
    inputs = [
        TensorSpec('ids "x"', "TYPE_INT64", (-1, 7)),
        TensorSpec("flag", "TYPE_BOOL", (-1,)),  # one scalar per request
    ]
    outputs = [TensorSpec("out", "TYPE_FP16", (-1, -1))]
    config = parse(pb2, render_config("m.v2-b_1", inputs, outputs, TritonConfig()))
    assert config.name == "m.v2-b_1"
    ids, flag = config.input
    assert ids.name == 'ids "x"' and ids.data_type == pb2.DataType.Value("TYPE_INT64")
    assert list(ids.dims) == [7]
    assert flag.data_type == pb2.DataType.Value("TYPE_BOOL") and list(flag.dims) == [1]
    assert flag.HasField("reshape") and list(flag.reshape.shape) == []
    assert config.output[0].data_type == pb2.DataType.Value("TYPE_FP16")
    assert list(config.output[0].dims) == [-1]
    with pytest.raises(EdgeimgError, match="model name"):
        render_config("../up", inputs, outputs, TritonConfig())


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["triton-repo", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_writes_rewrites_identically_and_refuses_other_content(pb2, tmp_path, capsys):
    source = str(bundled_model_path("detect"))
    repo = tmp_path / "models"
    code, out, err = run_cli(capsys, source, str(repo), "--kind", "gpu", "--tensorrt", "--fp16")
    assert (code, err) == (0, "")
    folder = repo / "person_detector"
    config_file = folder / "config.pbtxt"
    assert f"wrote {config_file}" in out and f"--model-repository {repo}" in out
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")) == [
        "1", "1/model.onnx", "config.pbtxt",
    ]  # fmt: skip
    config = parse(pb2, config_file.read_text())
    assert config.name == "person_detector" and config.max_batch_size == 16
    (accelerator,) = config.optimization.execution_accelerators.gpu_execution_accelerator
    assert accelerator.parameters["precision_mode"] == "FP16"
    written = config_file.read_bytes()
    stamp = config_file.stat().st_mtime_ns

    # the same again: accepted, nothing written
    code, out, err = run_cli(capsys, source, str(repo), "--kind", "gpu", "--tensorrt", "--fp16")
    assert (code, err) == (0, "") and "already up to date, nothing written" in out
    assert config_file.stat().st_mtime_ns == stamp

    # other content: refused in one line, the folder as it was
    code, out, err = run_cli(capsys, source, str(repo), "--max-batch", "4")
    assert code == 2 and out == ""
    assert err.count("\n") == 1
    assert (
        err.startswith("edgeimg triton-repo: error: ")
        and "already exists with different content" in err
    )
    assert "config.pbtxt differs" in err and "--force" in err
    assert config_file.read_bytes() == written
    assert sorted(p.name for p in folder.iterdir()) == ["1", "config.pbtxt"]  # no partial files

    # --force replaces it
    code, out, err = run_cli(capsys, source, str(repo), "--max-batch", "4", "--force")
    assert (code, err) == (0, "")
    config = parse(pb2, config_file.read_text())
    assert config.max_batch_size == 4 and not config.HasField("optimization")
    assert (folder / "1" / "model.onnx").read_bytes() == Path(source).read_bytes()


def test_cli_notes_a_model_without_a_batch_dimension(fixed_batch_model, tmp_path, capsys):
    code, out, err = run_cli(capsys, str(fixed_batch_model), str(tmp_path), "--name", "b1")
    assert (code, err) == (0, "")
    assert "note: max_batch_size 0 (no batching): 'image' has first dimension 1" in out
    assert "max_batch_size: 0\n" in (tmp_path / "b1" / "config.pbtxt").read_text()


@pytest.fixture
def not_onnx(tmp_path) -> Path:
    path = tmp_path / "inputs" / "notes.onnx"
    path.parent.mkdir()
    path.write_text("not a model\n")
    return path


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["{missing}"], "no such ONNX file"),
        (["{not_onnx}"], "is not a valid ONNX model"),
        (["{model}", "--name", "a/b"], "--name: model name 'a/b'"),
        (["{model}", "--name", ".."], "--name: model name '..'"),
        (["{model}", "--name=-x"], "--name: model name '-x'"),
        (["{model}", "--max-batch", "-1"], "--max-batch: expected >= 0, got -1"),
        (["{model}", "--queue-delay-us", "-5"], "--queue-delay-us: expected >= 0, got -5"),
        (["{model}", "--instances", "0"], "--instances: expected >= 1, got 0"),
        (["{model}", "--fp16"], "--fp16: is TensorRT's precision mode"),
        (["{model}", "--tensorrt", "--kind", "cpu"], "--tensorrt: needs GPU instances"),
        (["{odd_name}"], "model name 'two words'"),
    ],
)
def test_cli_refuses_bad_input_in_one_line_and_writes_nothing(
    args, expected, not_onnx, tmp_path, capsys
):
    odd_name = tmp_path / "inputs" / "two words.onnx"
    odd_name.write_bytes(bundled_model_path("classify").read_bytes())
    paths = {
        "missing": tmp_path / "inputs" / "missing.onnx",
        "not_onnx": not_onnx,
        "model": bundled_model_path("classify"),
        "odd_name": odd_name,
    }
    repo = tmp_path / "repo"
    code, out, err = run_cli(capsys, *[a.format(**paths) for a in args[:1]], str(repo), *args[1:])
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("edgeimg triton-repo: error: ")
    assert expected in err
    assert not repo.exists()
    if "{odd_name}" in args:
        assert "give one with --name" in err


def test_cli_refuses_a_file_as_repository(tmp_path, capsys):
    repo = tmp_path / "repo"
    repo.write_text("x")
    code, _, err = run_cli(capsys, str(bundled_model_path("classify")), str(repo))
    assert code == 2 and "expected a folder, got a file" in err
    assert repo.read_text() == "x"


def test_library_checks_its_config():
    for bad, match in (
        ({"max_batch": -1}, "max batch"),
        ({"queue_delay_us": -1}, "queue delay"),
        ({"instances": 0}, "instances"),
        ({"kind": "tpu"}, "kind"),
        ({"tensorrt": True}, "GPU"),
        ({"fp16": True, "kind": "gpu"}, "needs tensorrt"),
        ({"name": "a b"}, "model name"),
    ):
        with pytest.raises(EdgeimgError, match=match):
            TritonConfig(**bad)
