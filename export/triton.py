"""A Triton Inference Server model repository of an exported ONNX model (``edgeimg triton-repo``).

:func:`write_triton_repo` ``(onnx_path, repo_dir, TritonConfig) -> TritonRepo`` writes::

    repo_dir/<name>/config.pbtxt      the onnxruntime backend's model configuration
    repo_dir/<name>/1/model.onnx      the ONNX file, copied byte for byte

The model is copied as is, so the edgeimg contract in its ``metadata_props`` stays readable by
clients (the runtime's ``ModelContract.from_metadata``). :func:`render_config` is the pure part:
:class:`TensorSpec` inputs and outputs (read from the model by :func:`tensor_specs`) and a
:class:`TritonConfig` -> the text of ``config.pbtxt`` (protobuf text format of Triton's
``inference.ModelConfig``).

Batching. Triton's ``max_batch_size > 0`` means the model's first dimension is the batch, left
out of ``dims``; requests are then batched by ``dynamic_batching``. edgeimg exports every model
with a dynamic first dimension, which gets ``max_batch_size: TritonConfig.max_batch`` and the
other dimensions as ``dims``. A model where some input or output has a fixed (or no) first
dimension cannot be batched by Triton: it gets ``max_batch_size: 0``, its full shapes as
``dims`` and no ``dynamic_batching`` (:attr:`TritonRepo.batching_off` says why), as does
``max_batch=0``. Dynamic dimensions are ``-1``.

Rewrites. When ``repo_dir/<name>`` exists and holds exactly what would be written, nothing is
written (:attr:`TritonRepo.unchanged`); any other content is refused unless
``TritonConfig.force``, which replaces ``config.pbtxt`` and ``1/model.onnx`` and keeps other
files (other versions too: Triton serves the highest by default).
"""

from __future__ import annotations

import filecmp
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from edgeimg.runtime.atomic import atomic_output, write_text
from edgeimg.runtime.backends.triton import check_model_name
from edgeimg.runtime.errors import EdgeimgError

if TYPE_CHECKING:
    import onnx

log = logging.getLogger(__name__)

CONFIG_FILE = "config.pbtxt"
VERSION = "1"
MODEL_FILE = "model.onnx"  # the onnxruntime backend's default_model_filename
MAX_INT32 = 2**31 - 1
# ONNX TensorProto element type name -> Triton data type
TRITON_TYPES = {
    "FLOAT": "TYPE_FP32",
    "FLOAT16": "TYPE_FP16",
    "BFLOAT16": "TYPE_BF16",
    "DOUBLE": "TYPE_FP64",
    "INT8": "TYPE_INT8",
    "INT16": "TYPE_INT16",
    "INT32": "TYPE_INT32",
    "INT64": "TYPE_INT64",
    "UINT8": "TYPE_UINT8",
    "UINT16": "TYPE_UINT16",
    "UINT32": "TYPE_UINT32",
    "UINT64": "TYPE_UINT64",
    "BOOL": "TYPE_BOOL",
    "STRING": "TYPE_STRING",
}
KINDS = {"cpu": "KIND_CPU", "gpu": "KIND_GPU"}


@dataclass(frozen=True)
class TritonConfig:
    """How the model is served.

    name: the model's name in the repository (None: the ONNX file's stem). max_batch: Triton's
    ``max_batch_size`` (0: no batching; a model without a dynamic batch dimension gets 0
    anyway). queue_delay_us: how long dynamic batching waits to fill a batch, in microseconds.
    instances: model instances (``instance_group.count``) on each device of ``kind`` ("cpu" or
    "gpu"). tensorrt: run through onnxruntime's TensorRT execution provider (GPU only), in FP16
    with ``fp16``. force: replace ``config.pbtxt`` and ``1/model.onnx`` of an existing model
    folder with different content.
    """

    name: str | None = None
    max_batch: int = 16
    queue_delay_us: int = 2000
    instances: int = 1
    kind: str = "cpu"
    tensorrt: bool = False
    fp16: bool = False
    force: bool = False

    def __post_init__(self) -> None:
        if self.name is not None:
            check_model_name(self.name)
        if not 0 <= self.max_batch <= MAX_INT32:
            raise EdgeimgError(f"max batch: expected 0 to {MAX_INT32}, got {self.max_batch}")
        if self.queue_delay_us < 0:
            raise EdgeimgError(
                f"queue delay: expected >= 0 microseconds, got {self.queue_delay_us}"
            )
        if not 1 <= self.instances <= MAX_INT32:
            raise EdgeimgError(f"instances: expected >= 1, got {self.instances}")
        if self.kind not in KINDS:
            raise EdgeimgError(f"kind: expected one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.tensorrt and self.kind != "gpu":
            raise EdgeimgError("tensorrt: runs on GPU instances only (kind gpu)")
        if self.fp16 and not self.tensorrt:
            raise EdgeimgError("fp16: is TensorRT's precision mode; it needs tensorrt")


@dataclass(frozen=True)
class TensorSpec:
    """A model input or output: its name, Triton data type (``TYPE_FP32``...) and full shape,
    batch dimension included, with -1 for a dynamic dimension; ``shape`` is None when the model
    does not say the rank."""

    name: str
    data_type: str
    shape: tuple[int, ...] | None


@dataclass(frozen=True)
class TritonRepo:
    """What :func:`write_triton_repo` did.

    path: the model folder ``repo_dir/<name>``. config_text: ``config.pbtxt``'s text.
    max_batch_size: the value written. batching_off: why batching was turned off ("" when the
    model batches or max_batch was 0). unchanged: the folder already held exactly this, so
    nothing was written. kept: other files in the folder, left as they were (with force).
    """

    path: Path
    config_text: str
    max_batch_size: int
    batching_off: str = ""
    unchanged: bool = False
    kept: tuple[str, ...] = ()

    @property
    def config_path(self) -> Path:
        return self.path / CONFIG_FILE

    @property
    def model_path(self) -> Path:
        return self.path / VERSION / MODEL_FILE


def tensor_specs(proto: onnx.ModelProto) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """The graph's inputs (initializers listed as inputs left out) and outputs."""
    import onnx

    def spec(value: onnx.ValueInfoProto, what: str) -> TensorSpec:
        tensor = value.type.tensor_type
        if not value.type.HasField("tensor_type"):
            raise EdgeimgError(f"{what} {value.name!r}: not a tensor; Triton serves tensors only")
        element = onnx.TensorProto.DataType.Name(tensor.elem_type)
        if element not in TRITON_TYPES:
            raise EdgeimgError(
                f"{what} {value.name!r}: element type {element} has no Triton data type"
            )
        shape = None
        if tensor.HasField("shape"):
            shape = tuple(
                d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else -1
                for d in tensor.shape.dim
            )
        return TensorSpec(value.name, TRITON_TYPES[element], shape)

    weights = {init.name for init in proto.graph.initializer}
    inputs = [spec(v, "input") for v in proto.graph.input if v.name not in weights]
    outputs = [spec(v, "output") for v in proto.graph.output]
    return inputs, outputs


def batch_size(
    inputs: list[TensorSpec], outputs: list[TensorSpec], max_batch: int
) -> tuple[int, str]:
    """Triton's ``max_batch_size`` for these tensors, and why batching is off ("" if it is not
    or ``max_batch`` is 0): every tensor needs a dynamic first dimension to be batched."""
    if max_batch == 0:
        return 0, ""
    for spec in [*inputs, *outputs]:
        if not spec.shape or spec.shape[0] != -1:
            first = "no dimensions" if not spec.shape else f"first dimension {spec.shape[0]}"
            return 0, f"{spec.name!r} has {first}, not a dynamic batch dimension"
    return max_batch, ""


def _tensor_block(spec: TensorSpec, batched: bool) -> list[str]:
    if spec.shape is None:
        raise EdgeimgError(f"{spec.name!r}: the model does not give its shape; Triton needs dims")
    dims = list(spec.shape[1:] if batched else spec.shape)
    lines = [
        "  {",
        f"    name: {_quote(spec.name)}",
        f"    data_type: {spec.data_type}",
    ]
    if dims:
        lines.append(f"    dims: [ {', '.join(str(d) for d in dims)} ]")
    else:  # a scalar per request: Triton wants dims [1], reshaped to the model's rank-0 shape
        lines += ["    dims: [ 1 ]", "    reshape: { shape: [ ] }"]
    return [*lines, "  }"]


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_config(
    name: str, inputs: list[TensorSpec], outputs: list[TensorSpec], config: TritonConfig
) -> str:
    """The text of ``config.pbtxt`` for the onnxruntime backend (see the module's docstring for
    how ``max_batch_size`` and ``dims`` follow the tensors' shapes)."""
    max_batch, _ = batch_size(inputs, outputs, config.max_batch)
    batched = max_batch > 0
    lines = [
        f"name: {_quote(check_model_name(name))}",
        'platform: "onnxruntime_onnx"',
        f"max_batch_size: {max_batch}",
    ]
    for field, specs in (("input", inputs), ("output", outputs)):
        blocks = [_tensor_block(spec, batched) for spec in specs]
        lines.append(f"{field} [")
        for i, block in enumerate(blocks):
            lines += [*block[:-1], block[-1] + ("," if i < len(blocks) - 1 else "")]
        lines.append("]")
    if batched:
        lines += [
            "dynamic_batching {",
            f"  max_queue_delay_microseconds: {config.queue_delay_us}",
            "}",
        ]
    lines += [
        "instance_group [",
        "  {",
        f"    count: {config.instances}",
        f"    kind: {KINDS[config.kind]}",
        "  }",
        "]",
    ]
    if config.tensorrt:
        precision = "FP16" if config.fp16 else "FP32"
        lines += [
            "optimization {",
            "  execution_accelerators {",
            "    gpu_execution_accelerator: [",
            "      {",
            '        name: "tensorrt"',
            f'        parameters {{ key: "precision_mode" value: "{precision}" }}',
            "      }",
            "    ]",
            "  }",
            "}",
        ]
    return "\n".join(lines) + "\n"


def _existing_entries(folder: Path) -> list[str]:
    """Every file and folder under ``folder``, as relative POSIX paths, sorted."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


def _differences(folder: Path, onnx_path: Path, config_text: str) -> tuple[list[str], list[str]]:
    """(what of ours differs or is missing, other entries) in an existing model folder."""
    ours = {CONFIG_FILE, VERSION, f"{VERSION}/{MODEL_FILE}"}
    entries = _existing_entries(folder)
    others = [e for e in entries if e not in ours]
    differs = []
    config, model = folder / CONFIG_FILE, folder / VERSION / MODEL_FILE
    if not config.is_file():
        differs.append(f"{CONFIG_FILE} missing")
    elif config.read_bytes() != config_text.encode():
        differs.append(f"{CONFIG_FILE} differs")
    if not model.is_file():
        differs.append(f"{VERSION}/{MODEL_FILE} missing")
    elif not filecmp.cmp(model, onnx_path, shallow=False):
        differs.append(f"{VERSION}/{MODEL_FILE} differs")
    return differs, others


def write_triton_repo(
    onnx_path: str | os.PathLike[str], repo_dir: str | os.PathLike[str], config: TritonConfig
) -> TritonRepo:
    """Write (or confirm) ``repo_dir/<name>/config.pbtxt`` and ``repo_dir/<name>/1/model.onnx``.

    Every check comes before the first write (one-line EdgeimgError, nothing written): the ONNX
    file (missing, corrupt), the name, the tensors (types Triton has, known ranks), the
    destination (a file in the way, different content without ``force``). Each file is written
    atomically; ``repo_dir`` is created when missing. Returns what was done (:class:`TritonRepo`).
    """
    from edgeimg.export.quantize import load_onnx

    source = Path(onnx_path).expanduser()
    proto = load_onnx(source)  # missing, corrupt or not ONNX: one line
    name = check_model_name(config.name if config.name is not None else source.stem)
    inputs, outputs = tensor_specs(proto)
    del proto
    max_batch, batching_off = batch_size(inputs, outputs, config.max_batch)
    text = render_config(name, inputs, outputs, config)

    repo = Path(repo_dir).expanduser().absolute()
    if repo.exists() and not repo.is_dir():
        raise EdgeimgError(f"repository {repo}: expected a folder, got a file")
    if not repo.parent.is_dir():
        raise EdgeimgError(f"repository {repo}: folder {repo.parent} does not exist")
    folder = repo / name
    kept: list[str] = []
    result = TritonRepo(folder, text, max_batch, batching_off)
    if folder.exists() or folder.is_symlink():
        if not folder.is_dir():
            raise EdgeimgError(f"{folder}: exists and is not a folder")
        if (folder / VERSION).exists() and not (folder / VERSION).is_dir():
            raise EdgeimgError(f"{folder / VERSION}: exists and is not a folder")
        differs, kept = _differences(folder, source, text)
        if not differs and not kept:
            return TritonRepo(folder, text, max_batch, batching_off, unchanged=True)
        if not config.force:
            what = differs + ([f"other files: {', '.join(kept[:5])}"] if kept else [])
            raise EdgeimgError(
                f"{folder} already exists with different content ({'; '.join(what)}): "
                "--force replaces config.pbtxt and 1/model.onnx, or choose another --name"
            )

    created = [p for p in (repo, folder, folder / VERSION) if not p.exists()]
    try:
        for path in created:
            path.mkdir()
        with atomic_output(result.model_path, "model") as tmp:
            shutil.copyfile(source, tmp)
        write_text(result.config_path, text, "config")
    except BaseException:
        # nothing left behind in folders this call made (files in existing ones stay replaced
        # atomically or untouched)
        for path in reversed(created):
            shutil.rmtree(path, ignore_errors=True)
        raise
    if kept:
        log.warning("%s: kept other files: %s", folder, ", ".join(kept))
    return TritonRepo(folder, text, max_batch, batching_off, kept=tuple(kept))
