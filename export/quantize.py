"""INT8 static quantization (QDQ) and FP16 conversion of an exported edgeimg model.

INT8 is onnxruntime's static quantization in QDQ format: ``quant_pre_process`` first (shape
inference and graph fusions), per-channel weights, activations calibrated on real frames
prepared by the runtime's preprocessing. QDQ, not QOperator or dynamic quantization: on this
machine (2-core x86 without VNNI) those two were slower than FP32 for a small CNN while QDQ
was faster; the quantization report measures it for every model.

Types per target (onnxruntime's guidance):

- ``cpu-x86``: U8S8 (uint8 activations, asymmetric; int8 weights). Without VNNI the uint8 x
  int8 products can saturate the 16-bit accumulation of ``vpmaddubsw``, so weights are
  reduced to 7 bits (``reduce_range``) unless ``/proc/cpuinfo`` shows avx512_vnni or avx_vnni.
- ``cpu-arm``, ``tensorrt``: S8S8 symmetric (int8 activations and weights, zero points 0),
  which TensorRT requires and ARM's int8 dot products run natively.

By default the nodes the model's export task names stay in float (``ExportTask.float_nodes``:
a detector's head, the last convolution of each output and what follows it, where int8 steps
cost accuracy and save almost no time); classifiers are quantized whole.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from onnxruntime.quantization import (
    CalibrationDataReader,
    QuantFormat,
    QuantType,
    quant_pre_process,
    quantize_static,
)
from onnxruntime.quantization import CalibrationMethod as OrtMethod

from edgeimg.export.calibration import check_batch_shape
from edgeimg.export.tasks import get_export_task
from edgeimg.runtime.atomic import atomic_output, check_destination
from edgeimg.runtime.contract import QUANTIZATION_KEY, ModelContract
from edgeimg.runtime.errors import EdgeimgError, first_line, parse_enum

if TYPE_CHECKING:
    import onnx

log = logging.getLogger(__name__)


class CalibrationMethod(str, Enum):
    MINMAX = "minmax"
    ENTROPY = "entropy"
    PERCENTILE = "percentile"


class Target(str, Enum):
    CPU_X86 = "cpu-x86"
    CPU_ARM = "cpu-arm"
    TENSORRT = "tensorrt"


@dataclass(frozen=True)
class QuantizeOptions:
    """How to quantize; checked before any work.

    target: chooses the int8 types (see the module docstring). method: calibration.
    percentile: for the percentile method, the share of values kept (90 < p <= 100).
    per_channel: one scale per output channel of each weight. keep_head_float: leave the nodes
    the task keeps in float (a detector's head) in float. exclude: more node names to keep in
    float.
    reduce_range: 7-bit weights; None decides from the target and the CPU.
    debug_images: how many calibration images the per-tensor error analysis runs on (0: skip).
    """

    target: Target = Target.CPU_X86
    # Percentile: measured best here (PETS detector AP@0.5 -0.28 pts vs -0.83 MinMax, -10 KL).
    method: CalibrationMethod = CalibrationMethod.PERCENTILE
    percentile: float = 99.999
    per_channel: bool = True
    keep_head_float: bool = True
    exclude: tuple[str, ...] = ()
    reduce_range: bool | None = None
    debug_images: int = 8

    def __post_init__(self) -> None:
        object.__setattr__(self, "target", parse_enum(Target, self.target, "target"))
        object.__setattr__(
            self, "method", parse_enum(CalibrationMethod, self.method, "calibration method")
        )
        object.__setattr__(self, "exclude", tuple(self.exclude))
        if not 90.0 < float(self.percentile) <= 100.0:
            raise EdgeimgError(f"percentile: expected 90 < p <= 100, got {self.percentile}")
        if self.debug_images < 0:
            raise EdgeimgError(f"debug_images: expected >= 0, got {self.debug_images}")
        if self.reduce_range and self.target is not Target.CPU_X86:
            raise EdgeimgError(
                f"reduce_range applies to U8S8 on x86 only, not to target {self.target.value}"
            )


@dataclass(frozen=True)
class QuantScheme:
    """The int8 types chosen for a target (onnxruntime QuantType names)."""

    activation_type: str
    weight_type: str
    symmetric_activations: bool
    symmetric_weights: bool
    reduce_range: bool

    @property
    def label(self) -> str:
        name = "U8S8" if self.activation_type == "QUInt8" else "S8S8"
        return (
            name
            + (" symmetric" if self.symmetric_activations else "")
            + (" reduce_range" if self.reduce_range else "")
        )


@dataclass(frozen=True)
class TensorError:
    """Signal-to-quantization-noise ratio (dB) of one activation, float model vs int8 model."""

    name: str
    sqnr_db: float


@dataclass(frozen=True)
class QuantizeResult:
    path: Path
    scheme: QuantScheme
    method: str
    excluded: tuple[str, ...]
    calibration_images: int
    tensor_errors: tuple[TensorError, ...]


def cpu_has_vnni(cpuinfo: str | None = None) -> bool:
    """True when the CPU flags (``/proc/cpuinfo`` text) include avx512_vnni or avx_vnni."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return False
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags = set(line.partition(":")[2].split())
            return bool(flags & {"avx512_vnni", "avx_vnni"})
    return False


def quant_scheme(options: QuantizeOptions, has_vnni: bool) -> QuantScheme:
    """The types for ``options.target`` (reduce_range auto: x86 without VNNI)."""
    if options.target is Target.CPU_X86:
        reduce = (not has_vnni) if options.reduce_range is None else options.reduce_range
        return QuantScheme("QUInt8", "QInt8", False, False, reduce)
    return QuantScheme("QInt8", "QInt8", True, True, False)


class ArrayReader(CalibrationDataReader):
    """Feeds a prepared (N, ...) batch to onnxruntime one image at a time (tqdm bar optional)."""

    def __init__(self, input_name: str, batch: np.ndarray, progress: str | None = None) -> None:
        self.input_name = input_name
        self.batch = batch
        self.progress = progress
        self._items: Iterator[dict[str, np.ndarray]] | None = None

    def _generate(self) -> Iterator[dict[str, np.ndarray]]:
        indices: Sequence[int] = range(len(self.batch))
        if self.progress:
            from tqdm import tqdm

            indices = tqdm(indices, desc=self.progress, unit="img", leave=False)
        for i in indices:
            yield {self.input_name: self.batch[i : i + 1]}

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self._items is None:
            self._items = self._generate()
        return next(self._items, None)

    def rewind(self) -> None:
        self._items = None


def load_onnx(path: str | Path) -> onnx.ModelProto:
    """An ONNX model, or a one-line error for a missing, corrupt or non-ONNX file."""
    import onnx

    path = Path(path)
    if not path.is_file():
        raise EdgeimgError(f"no such ONNX file: {path}")
    try:
        proto = onnx.load_model(os.fspath(path))
        onnx.checker.check_model(proto)
    except Exception as exc:  # protobuf DecodeError, ValidationError, OSError...
        message = first_line(exc) or type(exc).__name__
        raise EdgeimgError(f"{path} is not a valid ONNX model: {message}") from None
    if not proto.graph.node:
        raise EdgeimgError(f"{path} is not a valid ONNX model: the graph has no nodes")
    return proto


def onnx_contract(proto: onnx.ModelProto, source: str) -> ModelContract:
    """The edgeimg contract in an ONNX model's metadata."""
    metadata = {p.key: p.value for p in proto.metadata_props}
    return ModelContract.from_metadata(metadata, source)


def read_onnx_contract(path: str | Path) -> ModelContract:
    """The contract of the ONNX file at ``path`` (one-line errors for a bad file or contract)."""
    return onnx_contract(load_onnx(path), str(path))


def input_dims(proto: onnx.ModelProto) -> list[int | str]:
    """The first input's dimensions: sizes, or names for symbolic ones."""
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    return [d.dim_value if d.HasField("dim_value") else d.dim_param for d in dims]


def quantize_int8(
    fp32_path: str | Path,
    out_path: str | Path,
    batch: np.ndarray,
    options: QuantizeOptions | None = None,
    progress: bool = False,
) -> QuantizeResult:
    """Write the int8 QDQ model of ``fp32_path`` to ``out_path`` (atomically).

    batch: (N, ...) float32 calibration inputs prepared per the model's contract (see
    :func:`edgeimg.export.calibration.prepare_batch`). The output keeps the contract and adds
    a ``quantization`` metadata entry describing what was done.
    """
    import onnx

    options = options or QuantizeOptions()
    check_destination(out_path)
    proto = load_onnx(fp32_path)
    contract = onnx_contract(proto, str(fp32_path))
    if len(batch) == 0:
        raise EdgeimgError("calibration data: no images")
    if batch.dtype != np.float32:
        raise EdgeimgError(f"calibration data: expected float32 tensors, got {batch.dtype}")
    check_batch_shape(batch, input_dims(proto), f"calibration data for {fp32_path}")
    scheme = quant_scheme(options, cpu_has_vnni())
    excluded = list(options.exclude)
    if options.keep_head_float:
        float_nodes = get_export_task(contract.task).float_nodes(proto)
        excluded = float_nodes + [n for n in excluded if n not in float_nodes]
    known = {node.name for node in proto.graph.node}
    unknown = [name for name in options.exclude if name not in known]
    if unknown:
        raise EdgeimgError(f"exclude: no nodes named {', '.join(unknown)} in {fp32_path}")
    input_name = proto.graph.input[0].name
    method = {
        CalibrationMethod.MINMAX: OrtMethod.MinMax,
        CalibrationMethod.ENTROPY: OrtMethod.Entropy,
        CalibrationMethod.PERCENTILE: OrtMethod.Percentile,
    }[options.method]
    extra = {
        "ActivationSymmetric": scheme.symmetric_activations,
        "WeightSymmetric": scheme.symmetric_weights,
    }
    if options.method is CalibrationMethod.PERCENTILE:
        extra["CalibPercentile"] = float(options.percentile)
    log.info(
        "quantizing %s: %s, %s calibration on %d images, per-channel %s, %d nodes kept float",
        fp32_path,
        scheme.label,
        options.method.value,
        len(batch),
        options.per_channel,
        len(excluded),
    )
    with tempfile.TemporaryDirectory(prefix="edgeimg-quant-") as work:
        prepped = Path(work) / "prepped.onnx"
        # ONNX shape inference, not onnxruntime's symbolic one: the latter is meant for
        # transformers and gives up on Resize with a dynamic batch.
        quant_pre_process(os.fspath(fp32_path), os.fspath(prepped), skip_symbolic_shape=True)
        kept = {node.name for node in onnx.load_model(os.fspath(prepped)).graph.node}
        int8_tmp = Path(work) / "int8.onnx"
        reader = ArrayReader(input_name, batch, "calibrating" if progress else None)
        cache = None
        if options.method is CalibrationMethod.ENTROPY:
            cache = entropy_ranges(prepped, reader, scheme.symmetric_activations, Path(work))
        quantize_static(
            os.fspath(prepped),
            os.fspath(int8_tmp),
            reader,
            quant_format=QuantFormat.QDQ,
            per_channel=options.per_channel,
            reduce_range=scheme.reduce_range,
            activation_type=QuantType[scheme.activation_type],
            weight_type=QuantType[scheme.weight_type],
            nodes_to_exclude=[n for n in excluded if n in kept],
            calibrate_method=method,
            extra_options=extra,
            calibration_cache_path=cache,
        )
        errors: tuple[TensorError, ...] = ()
        if options.debug_images:
            errors = tensor_errors(prepped, int8_tmp, input_name, batch[: options.debug_images])
        int8 = onnx.load_model(os.fspath(int8_tmp))
    record = {
        "scheme": asdict(scheme),
        "method": options.method.value,
        "per_channel": options.per_channel,
        "calibration_images": len(batch),
        "float_nodes": excluded,
    }
    metadata = {p.key: p.value for p in proto.metadata_props}
    metadata[QUANTIZATION_KEY] = json.dumps(record)
    del int8.metadata_props[:]
    for key, value in metadata.items():
        prop = int8.metadata_props.add()
        prop.key, prop.value = key, value
    with atomic_output(out_path) as tmp:
        onnx.save_model(int8, os.fspath(tmp))
    return QuantizeResult(
        Path(out_path), scheme, options.method.value, tuple(excluded), len(batch), errors
    )


def stamp_quantization(path: str | Path, fields: dict[str, object]) -> None:
    """Merge ``fields`` into the quantization record of the INT8 file at ``path`` (rewritten in
    place: call it on a file that is not yet at its destination)."""
    import onnx

    proto = onnx.load_model(os.fspath(path))
    for prop in proto.metadata_props:
        if prop.key == QUANTIZATION_KEY:
            prop.value = json.dumps({**json.loads(prop.value), **fields})
            break
    else:
        raise EdgeimgError(f"{path}: no {QUANTIZATION_KEY} record to stamp")
    onnx.save_model(proto, os.fspath(path))


def entropy_ranges(model: Path, reader: ArrayReader, symmetric: bool, work: Path) -> Path:
    """Entropy (KL) activation ranges with TensorRT's histogram settings, as a calibration cache.

    ``quantize_static`` builds its entropy calibrator with 128 histogram bins and 128 quantized
    bins, which leaves a single candidate threshold (the full range, i.e. MinMax); 2048 bins
    give the KL search room. The cache file is what ``quantize_static`` loads instead.
    """
    from onnxruntime.quantization.calibrate import create_calibrator, save_tensors_data

    calibrator = create_calibrator(
        model,
        augmented_model_path=os.fspath(work / "entropy_augmented.onnx"),
        calibrate_method=OrtMethod.Entropy,
        extra_options={"symmetric": symmetric, "num_bins": 2048, "num_quantized_bins": 128},
    )
    calibrator.collect_data(reader)
    cache = work / "entropy_ranges.json"
    save_tensors_data(calibrator.compute_data(), cache)
    reader.rewind()
    return cache


def tensor_errors(
    float_path: Path, qdq_path: Path, input_name: str, batch: np.ndarray
) -> tuple[TensorError, ...]:
    """SQNR (dB) of every activation the two models share, worst (lowest) first.

    Uses onnxruntime's ``qdq_loss_debug``: both models are augmented to output their
    intermediate tensors and run on ``batch``; float_path must be the model that was
    quantized (after ``quant_pre_process``) so tensor names match.
    """
    from onnxruntime.quantization.qdq_loss_debug import (
        collect_activations,
        compute_activation_error,
        create_activation_matching,
        modify_model_output_intermediate_tensors,
    )

    work = qdq_path.parent
    float_aug, qdq_aug = work / "float_aug.onnx", work / "qdq_aug.onnx"
    modify_model_output_intermediate_tensors(float_path, float_aug)
    modify_model_output_intermediate_tensors(qdq_path, qdq_aug)
    float_acts = collect_activations(os.fspath(float_aug), ArrayReader(input_name, batch))
    qdq_acts = collect_activations(os.fspath(qdq_aug), ArrayReader(input_name, batch))
    matching = create_activation_matching(qdq_acts, float_acts)
    errors = compute_activation_error(matching)
    found = [
        TensorError(name, float(err["xmodel_err"]))
        for name, err in errors.items()
        if "xmodel_err" in err and np.isfinite(err["xmodel_err"])
    ]
    return tuple(sorted(found, key=lambda e: e.sqnr_db))


def convert_fp16(fp32_path: str | Path, out_path: str | Path) -> Path:
    """Write an FP16 copy of the model for GPU targets; inputs and outputs stay float32.

    Weights and activations become float16 (onnxconverter-common); Cast nodes at the graph's
    edges keep the runtime's float32 tensors working unchanged. The contract is kept.
    """
    import onnx
    from onnxconverter_common import float16

    check_destination(out_path)
    proto = load_onnx(fp32_path)
    onnx_contract(proto, str(fp32_path))
    # The converter infers types itself; stale float32 value_info would contradict the Casts it
    # puts around the ops it keeps in float32 (Resize among them).
    del proto.graph.value_info[:]
    with warnings.catch_warnings():  # it warns for every tiny weight it rounds to fp16
        warnings.simplefilter("ignore", UserWarning)
        half = float16.convert_float_to_float16(proto, keep_io_types=True)
    onnx.checker.check_model(half)
    with atomic_output(out_path) as tmp:
        onnx.save_model(half, os.fspath(tmp))
    return Path(out_path)
