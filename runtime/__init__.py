"""Device runtime: numpy, onnxruntime and OpenCV only.

Importing this package must never import TensorFlow, Keras, tf2onnx or onnx (a test checks it),
so keep heavy or optional imports inside the functions that need them.
"""

from edgeimg.runtime.detections import Detections, Frame
from edgeimg.runtime.errors import EdgeimgError

__all__ = ["Detections", "EdgeimgError", "Frame"]
