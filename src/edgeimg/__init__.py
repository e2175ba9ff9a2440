"""edgeimg: Keras image models from training to real-time ONNX inference on edge devices.

Subpackages (each a top-level folder of the repository):

- ``edgeimg.train``   (``train/``)   Keras 3 training; needs the ``[train]`` extra.
- ``edgeimg.export``  (``export/``)  Keras -> ONNX, parity gate, INT8/FP16; ``[train]`` extra.
- ``edgeimg.runtime`` (``runtime/``) ONNX inference, tracking, sources and sinks; base install.
- ``edgeimg.bench``   (``bench/``)   latency/throughput and peer comparisons.
"""

__version__ = "0.1.0"
