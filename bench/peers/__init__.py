"""Peers measured side by side with edgeimg on the same machine, in the same run.

``python -m edgeimg.bench.peers --model runs/pets/detector.keras`` times one Keras model as run
by Keras/TensorFlow itself, by LiteRT (FP32 and full-integer INT8 from TensorFlow's TFLite
converter, XNNPACK), by onnxruntime (edgeimg's FP32 and INT8 files) and by OpenCV dnn, with
accuracy on held-out data beside every row; ``--tracker`` and ``--footprint`` add the tracker
and start-up/memory comparisons. See ``--help`` and ``bench/RESULTS.md``.
"""
