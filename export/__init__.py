"""Keras -> ONNX with a parity gate, and INT8 / FP16 models that are measured (``[train]`` extra).

- :func:`export_model` ``(keras_path, out_path, ExportPlan) -> ExportResult``: the whole flow
  (Keras -> ONNX -> parity -> FP16 -> INT8 -> report) as one call; :func:`quantize_model`
  ``(fp32_path, out_path, calibration, QuantizePlan) -> Int8Result``: INT8 of an existing
  export behind the report's gate (:mod:`~edgeimg.export.flow`).
- :mod:`~edgeimg.export.tasks`: the task registry (``get_export_task(name)``): per task the
  output check, the parity gate's agreement metric, the nodes kept in float, the evaluator.
- :mod:`~edgeimg.export.onnx_export`: ``export_keras(keras_path, onnx_path, ExportOptions, verify)``
  (tf2onnx, contract in ``metadata_props``, checker, onnxslim, atomic write).
- :mod:`~edgeimg.export.parity`: ``check_parity(model, onnx_path, contract, batch, Tolerance)``.
- :mod:`~edgeimg.export.calibration`: real frames from a video / folder / MOT sequence, prepared
  by the runtime's ``prepare``.
- :mod:`~edgeimg.export.quantize`: ``quantize_int8`` (static QDQ), ``convert_fp16``.
- :mod:`~edgeimg.export.report`: FP32 vs INT8 side by side (size, latency, accuracy, worst
  tensors) and the gate; :mod:`~edgeimg.export.evaluation` the held-out data and evaluators.
- :mod:`~edgeimg.export.layout`: NHWC vs NCHW compared.

Importing the package is cheap (``edgeimg.train`` imports :mod:`~edgeimg.export.keras_file`);
the names below load :mod:`~edgeimg.export.flow` (onnx, onnxruntime) on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edgeimg.export.flow import (
        ExportPlan,
        Fp16Result,
        Int8Result,
        QuantizePlan,
        export_model,
        quantize_model,
    )
    from edgeimg.export.onnx_export import ExportOptions, ExportResult

_LAZY = {
    "ExportPlan": "edgeimg.export.flow",
    "Fp16Result": "edgeimg.export.flow",
    "Int8Result": "edgeimg.export.flow",
    "QuantizePlan": "edgeimg.export.flow",
    "export_model": "edgeimg.export.flow",
    "quantize_model": "edgeimg.export.flow",
    "ExportOptions": "edgeimg.export.onnx_export",
    "ExportResult": "edgeimg.export.onnx_export",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ExportOptions",
    "ExportPlan",
    "ExportResult",
    "Fp16Result",
    "Int8Result",
    "QuantizePlan",
    "export_model",
    "quantize_model",
]
