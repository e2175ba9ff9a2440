"""Keras -> LiteRT flatbuffers with TensorFlow's TFLite converter: FP32 and full-integer INT8.

``TFLiteConverter.from_keras_model`` freezes the Keras 3 variables (a concrete function of the
model converts to READ_VARIABLE ops that come out as NaN). Its signature names the outputs
``output_0``, ``output_1`` ... in the Keras model's output order; :func:`signature_names` maps
them to the contract's names. INT8 is full-integer (``TFLITE_BUILTINS_INT8``, int8 input and
output) calibrated on the same tensors edgeimg's INT8 export uses.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgeimg.bench.backends import Unsupported
from edgeimg.runtime.contract import ModelContract


def signature_names(model: Any, contract: ModelContract) -> dict[str, str]:
    """LiteRT signature output name -> contract output name."""
    from edgeimg.export.keras_file import output_order

    return {f"output_{i}": name for i, name in enumerate(output_order(model, contract))}


def convert(model: Any, calibration: np.ndarray | None = None) -> bytes:
    """A LiteRT flatbuffer of the Keras ``model`` (input NHWC float32 0..255).

    calibration: (N, H, W, C) float32 tensors; given, the model is quantized to full integer
    INT8 with int8 input and output. Raises Unsupported when the converter refuses.
    """
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if calibration is not None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: (
            [c[None].astype(np.float32)] for c in calibration
        )
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    try:
        return converter.convert()
    except Exception as exc:  # the converter raises ConverterError, ValueError, RuntimeError
        text = " ".join(str(exc).split())[:240]
        raise Unsupported(f"TFLite converter failed: {text}") from None
