"""Keras -> LiteRT flatbuffers with TensorFlow's TFLite converter: FP32 and full-integer INT8.

``TFLiteConverter.from_keras_model`` freezes the Keras 3 variables (a concrete function of the
model converts to READ_VARIABLE ops that come out as NaN). Its signature names the outputs
``output_0``, ``output_1`` ... in the Keras model's output order; :func:`signature_names` maps
them to the contract's names. INT8 is full-integer (``TFLITE_BUILTINS_INT8``, int8 input and
output) calibrated on the same tensors edgeimg's INT8 export uses. :func:`frame_engine` runs
a converted image-to-image model on frames of any size through a task's own ``prepare`` and
decoder (the upscale and stylize benches).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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


def frame_engine(
    flatbuffer: bytes,
    threads: int,
    prepare: Callable[[np.ndarray], tuple[np.ndarray, Any]],
    decode: Callable[[Sequence[np.ndarray], Any], Any],
) -> Callable[[np.ndarray], Any]:
    """A frame -> result function running ``flatbuffer`` on a LiteRT interpreter (XNNPACK,
    ``threads``) the way edgeimg's runtime runs a model: ``prepare(frame)`` -> (NHWC float32
    tensor, transform), the interpreter resized to the tensor's shape when it changes (a model
    that takes any size), an INT8 input quantized and an INT8 output dequantized in numpy
    (inside the call, as onnxruntime's QDQ nodes pay for theirs), then ``decode([output],
    transform)``. Only the engine differs from the runtime's rows."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=flatbuffer, num_threads=threads)
    source = interpreter.get_input_details()[0]["index"]
    shape: list[tuple[int, ...]] = [()]

    def run(frame: np.ndarray) -> Any:
        tensor, transform = prepare(frame)
        if tensor.shape != shape[0]:
            interpreter.resize_tensor_input(source, tensor.shape)
            interpreter.allocate_tensors()
            shape[0] = tensor.shape
        detail = interpreter.get_input_details()[0]
        if detail["dtype"] != np.float32:
            scale, zero = detail["quantization"]
            info = np.iinfo(detail["dtype"])
            tensor = np.clip(np.rint(tensor / scale) + zero, info.min, info.max)
            tensor = tensor.astype(detail["dtype"])
        interpreter.set_tensor(detail["index"], tensor)
        interpreter.invoke()
        out = interpreter.get_output_details()[0]
        value = interpreter.get_tensor(out["index"])
        if out["dtype"] != np.float32:
            scale, zero = out["quantization"]
            value = (value.astype(np.float32) - zero) * scale
        return decode([value], transform)

    return run
