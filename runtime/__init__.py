"""Device runtime: numpy, onnxruntime and OpenCV only.

Importing this package must never import TensorFlow, Keras, tf2onnx or onnx (a test checks it),
so keep heavy or optional imports inside the functions that need them.

    from edgeimg.runtime import load_model
    model = load_model("model.onnx")
    result = model.predict(frame_bgr)   # the task's result: Detections, ClassScores, ...

    from edgeimg.runtime import load_generator   # generators take latent vectors, not frames
    images = load_generator().generate(16, cls="sneaker", seed=0).images  # (16, 28, 28, 1) uint8
"""

from edgeimg.runtime.errors import EdgeimgError
from edgeimg.runtime.frame import Frame
from edgeimg.runtime.model import Model, bundled_model_path, load_model
from edgeimg.runtime.tasks.detect.detections import Detections
from edgeimg.runtime.tasks.generate.generator import Generator, load_generator

__all__ = [
    "Detections",
    "EdgeimgError",
    "Frame",
    "Generator",
    "Model",
    "bundled_model_path",
    "load_generator",
    "load_model",
]
