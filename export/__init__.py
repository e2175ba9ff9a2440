"""Keras -> ONNX with a parity gate, and INT8 / FP16 models that are measured (``[train]`` extra).

- :mod:`~edgeimg.export.onnx_export`: ``export_keras(keras_path, onnx_path, ExportOptions, verify)``
  (tf2onnx, contract in ``metadata_props``, checker, onnxslim, atomic write).
- :mod:`~edgeimg.export.parity`: ``check_parity(model, onnx_path, contract, batch, Tolerance)``.
- :mod:`~edgeimg.export.calibration`: real frames from a video / folder / MOT sequence, prepared
  by the runtime's ``prepare``.
- :mod:`~edgeimg.export.quantize`: ``quantize_int8`` (static QDQ), ``convert_fp16``.
- :mod:`~edgeimg.export.report`: FP32 vs INT8 side by side (size, latency, accuracy, worst
  tensors) and the gate; :mod:`~edgeimg.export.evaluation` the accuracy evaluators.
- :mod:`~edgeimg.export.layout`: NHWC vs NCHW compared.
"""
