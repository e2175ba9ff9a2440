"""Keras 3 ``.keras`` -> ONNX through tf2onnx, with the model's contract in ``metadata_props``.

``tf2onnx.convert.from_keras`` breaks on Keras 3 models; like Keras's own
``model.export(format="onnx")`` we wrap the model in a ``tf.function`` with an explicit
``input_signature`` (dynamic batch, fixed height/width from the contract) and convert that
with ``tf2onnx.convert.from_function``. The function returns a dict keyed by the contract's
output names, so the ONNX outputs carry those names.

Opset 17 by default: it is the newest opset that every backend edgeimg targets takes —
onnxruntime >= 1.16 (opsets up to 19), OpenCV dnn >= 4.8 (its importer is tested up to 17;
opset 18 moved the Reduce* axes to inputs, which older importers reject) and TensorRT 8.6
(JetPack 5 and 6, opsets 9..17; TensorRT 10 takes up to 20). tf2onnx 1.17 writes 13..18.
"""

from __future__ import annotations

import hashlib
import logging
import os
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgeimg import __version__
from edgeimg.export.graph_passes import (
    fold_input_scale,
    fold_nearest_upsampling,
    fold_resize_scales,
)
from edgeimg.export.keras_file import call_model, load_keras, read_contract
from edgeimg.export.tasks import get_export_task
from edgeimg.runtime.atomic import atomic_output, check_destination
from edgeimg.runtime.contract import Layout, ModelContract
from edgeimg.runtime.errors import EdgeimgError, first_line, parse_enum

if TYPE_CHECKING:
    import keras
    import onnx

    from edgeimg.export.flow import Fp16Result, Int8Result
    from edgeimg.export.parity import ParityReport

# A verification step: (Keras model, exported contract, path of the written ONNX file) -> report;
# it raises to stop the file from reaching its destination.
Verify = Callable[["keras.Model", ModelContract, Path], "ParityReport"]

log = logging.getLogger(__name__)

DEFAULT_OPSET = 17
CONVERT_ATTEMPTS = 3
OPSET_RANGE = (13, 18)  # what tf2onnx 1.17 writes and onnxruntime >= 1.16 runs
# NCHW input by default, chosen with `edgeimg export MODEL --compare-layouts` (onnxruntime 1.32,
# this 2-core x86, interleaved runs): PETS detector 288x384 NCHW/NHWC median latency 0.977-1.005
# over three runs (equal within noise) with one Transpose fewer (2 -> 1); Fashion-MNIST CNN 0.90
# (0.17 vs 0.19 ms). NCHW is also the native layout of OpenCV dnn and TensorRT, and the
# runtime's prepare() writes either layout in its single copy.
DEFAULT_LAYOUT = Layout.NCHW


@dataclass(frozen=True)
class ExportOptions:
    """How to convert.

    layout: the ONNX input layout (NHWC as in Keras, or NCHW: tf2onnx's ``inputs_as_nchw``
        folds the input Transpose away). opset: ONNX opset, 13..18. simplify: run onnxslim
        (kept when it has fewer nodes), then fold nearest-upsampling chains into ``Resize``
        (:mod:`edgeimg.export.graph_passes`). task_params: merged over the contract's
        ``task_params`` (one level deep: ``{"tracker": {...}}`` updates the tracker settings
        key by key), e.g. the ByteTrack settings tuned for a detector's scores that
        ``edgeimg track`` starts from; the task checks names and types when the contract is
        built.
    """

    layout: Layout = DEFAULT_LAYOUT
    opset: int = DEFAULT_OPSET
    simplify: bool = True
    task_params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "layout", parse_enum(Layout, self.layout, "layout"))
        low, high = OPSET_RANGE
        if isinstance(self.opset, bool) or not isinstance(self.opset, int):
            raise EdgeimgError(f"opset: expected an integer {low}..{high}, got {self.opset!r}")
        if not low <= self.opset <= high:
            raise EdgeimgError(f"opset: expected {low}..{high}, got {self.opset}")
        if not isinstance(self.task_params, Mapping):
            raise EdgeimgError(f"task_params: expected a mapping, got {self.task_params!r}")


@dataclass(frozen=True)
class GraphStats:
    """Size of an ONNX graph: node count, Transpose count, ops by type."""

    nodes: int
    transposes: int
    op_types: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class ExportResult:
    """The written file, its contract, graph size, the parity report when verified, and the
    FP16 and INT8 siblings when :func:`edgeimg.export.export_model` was asked for them."""

    path: Path
    contract: ModelContract
    stats: GraphStats
    simplified: bool
    parity: ParityReport | None = None
    fp16: Fp16Result | None = None
    int8: Int8Result | None = None


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def keras_to_onnx(
    model: keras.Model, contract: ModelContract, options: ExportOptions
) -> onnx.ModelProto:
    """Convert with tf2onnx: one input ``image`` (dynamic batch), outputs named per contract."""
    import tensorflow as tf
    import tf2onnx
    from keras.src.export.tf2onnx_lib import patch_tf2onnx

    vector_shape = get_export_task(contract.task).input_shape
    if vector_shape is not None:  # the task's own input (generate: a latent vector), named
        name = getattr(model.inputs[0], "name", "") or "input"  # as in Keras (latent, image)
        spec = (tf.TensorSpec((None, *vector_shape(contract)), tf.float32, name=name),)
    else:
        height, width = contract.input_size or (None, None)  # resize none: any size
        spec = (tf.TensorSpec((None, height, width, contract.channels), tf.float32, name="image"),)

    @tf.function(input_signature=spec)
    def serve(inputs: tf.Tensor) -> dict[str, tf.Tensor]:
        outputs = call_model(model, inputs, contract)
        return {name: tf.identity(out, name=name) for name, out in outputs.items()}

    with warnings.catch_warnings():  # the patch probes np.object, which warns
        warnings.simplefilter("ignore", FutureWarning)
        patch_tf2onnx()  # Keras's own fix for tf2onnx 1.17 under numpy 2 (np.object, np.cast)
    nchw = ["image"] if options.layout is Layout.NCHW and vector_shape is None else None
    # tf2onnx 1.17's transpose optimizer is not deterministic: about one conversion in 15 of a
    # one-channel NCHW upscaler ends in Reshape(x, [1, -1, 0, 0, 1]) without the Squeeze that
    # follows it, giving (1, N, H, W, 1) for (N, H, W, 1). Convert again when the output
    # shapes on a batch of two differ from Keras's.
    for attempt in range(1, CONVERT_ATTEMPTS + 1):
        proto, _ = tf2onnx.convert.from_function(
            serve, input_signature=spec, opset=options.opset, inputs_as_nchw=nchw
        )
        problem = shape_mismatch(proto, model, contract, spec[0], bool(nchw))
        if not problem:
            break
        log.warning("tf2onnx conversion %d of %d: %s", attempt, CONVERT_ATTEMPTS, problem)
    else:
        raise EdgeimgError(f"tf2onnx gave a wrong graph {CONVERT_ATTEMPTS} times: {problem}")
    order = {name: i for i, name in enumerate(contract.output_names)}
    outputs = sorted(proto.graph.output, key=lambda o: order[o.name])
    del proto.graph.output[:]
    proto.graph.output.extend(outputs)
    return proto


def shape_mismatch(
    proto: onnx.ModelProto, model: keras.Model, contract: ModelContract, spec: Any, nchw: bool
) -> str:
    """How the converted graph's output shapes on a batch of two (dynamic sizes 48) differ
    from Keras's; empty when they agree."""
    import onnxruntime as ort

    dims = [2 if i == 0 else (d or 48) for i, d in enumerate(spec.shape.as_list())]
    batch = np.random.default_rng(0).uniform(0, 255, dims).astype(np.float32)
    want = {name: np.shape(out) for name, out in call_model(model, batch, contract).items()}
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(
        proto.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    feed = np.ascontiguousarray(batch.transpose(0, 3, 1, 2)) if nchw else batch
    names = [o.name for o in session.get_outputs()]
    got = dict(
        zip(names, (np.shape(o) for o in session.run(names, {spec.name: feed})), strict=True)
    )
    wrong = [
        f"{n} {got.get(n)} instead of {tuple(w)}" for n, w in want.items() if got.get(n) != tuple(w)
    ]
    return ", ".join(wrong)


def graph_stats(proto: onnx.ModelProto) -> GraphStats:
    counts: dict[str, int] = {}
    for node in proto.graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return GraphStats(
        nodes=len(proto.graph.node),
        transposes=counts.get("Transpose", 0),
        op_types=tuple(sorted(counts.items())),
    )


def simplify(proto: onnx.ModelProto) -> tuple[onnx.ModelProto, bool]:
    """onnxslim's graph when it has fewer nodes than ``proto`` (and passes the checker)."""
    import onnx
    import onnxslim

    try:
        slim = onnxslim.slim(proto)
        onnx.checker.check_model(slim)
    except Exception as exc:  # onnxslim raises whatever its passes raise; keep the original
        log.warning("onnxslim failed (%s); keeping the unsimplified graph", first_line(exc))
        return proto, False
    before, after = len(proto.graph.node), len(slim.graph.node)
    if after < before:
        log.info("onnxslim: %d -> %d nodes", before, after)
        return slim, True
    log.info("onnxslim: no node saved (%d nodes); keeping the converted graph", before)
    return proto, False


def set_metadata(proto: onnx.ModelProto, entries: Mapping[str, str]) -> None:
    """Replace ``metadata_props`` entries with the same keys, keep the others."""
    kept = [p for p in proto.metadata_props if p.key not in entries]
    del proto.metadata_props[:]
    proto.metadata_props.extend(kept)
    for key, value in entries.items():
        prop = proto.metadata_props.add()
        prop.key, prop.value = key, value


def finish(proto: onnx.ModelProto, contract: ModelContract) -> onnx.ModelProto:
    """Checker, strict shape inference, metadata and producer fields."""
    import onnx

    set_metadata(proto, contract.to_metadata())
    proto.producer_name = "edgeimg"
    proto.producer_version = __version__
    proto.doc_string = f"edgeimg {contract.task} model ({contract.decoder or 'default'} decoder)"
    try:
        onnx.checker.check_model(proto, full_check=True)
        inferred = onnx.shape_inference.infer_shapes(proto, strict_mode=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise EdgeimgError(f"the exported graph is not valid ONNX: {first_line(exc)}") from None
    return inferred


def merged_task_params(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """``update`` over ``base``, merging mapping values one level deep."""
    merged = dict(base)
    for key, value in update.items():
        old = merged.get(key)
        if isinstance(old, Mapping) and isinstance(value, Mapping):
            merged[key] = {**old, **value}
        else:
            merged[key] = value
    return merged


def exported_contract(
    contract: ModelContract, keras_path: str | Path, options: ExportOptions
) -> ModelContract:
    """The contract written into the ONNX file (checked by its task as it is built)."""
    image_input = get_export_task(contract.task).input_shape is None
    return replace(
        contract,
        layout=options.layout if image_input else Layout.NHWC,
        task_params=merged_task_params(contract.task_params, options.task_params),
        edgeimg_version=__version__,
        source_sha256=file_sha256(keras_path),
    )


def export_keras(
    keras_path: str | Path,
    onnx_path: str | Path,
    options: ExportOptions | None = None,
    verify: Verify | None = None,
) -> ExportResult:
    """Export an edgeimg ``.keras`` file to ``onnx_path``; nothing is written unless all passes.

    The order is cheap checks first: destination folder, the archive's contract, then Keras,
    conversion, checker, and ``verify`` (the parity gate) on the temporary file.
    """
    import onnx

    options = options or ExportOptions()
    check_destination(onnx_path)
    contract = exported_contract(read_contract(keras_path), keras_path, options)
    model, _ = load_keras(keras_path)
    proto = keras_to_onnx(model, contract, options)
    simplified = False
    if options.simplify:
        proto, simplified = simplify(proto)
        proto, _ = fold_nearest_upsampling(proto)  # matches onnxslim's folded shapes
        proto, _ = fold_resize_scales(proto)  # dynamic-size Resize that OpenCV dnn can load
        proto, _ = fold_input_scale(proto)
    proto = finish(proto, contract)
    stats = graph_stats(proto)
    log.info(
        "ONNX graph: %d nodes, %d Transpose, opset %d, layout %s",
        stats.nodes,
        stats.transposes,
        options.opset,
        contract.layout.value,
    )
    parity = None
    with atomic_output(onnx_path) as tmp:
        onnx.save_model(proto, os.fspath(tmp))
        if verify is not None:
            parity = verify(model, contract, tmp)
    return ExportResult(Path(onnx_path), contract, stats, simplified, parity)


__all__ = [
    "DEFAULT_LAYOUT",
    "DEFAULT_OPSET",
    "ExportOptions",
    "ExportResult",
    "GraphStats",
    "export_keras",
    "file_sha256",
]
