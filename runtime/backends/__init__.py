"""Inference backends behind one interface: ``Backend.run(batch) -> list[np.ndarray]``.

``onnxruntime`` (execution providers from ``--device``) and ``opencv`` (``cv2.dnn``).
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path

from edgeimg.runtime.backends.base import Backend, Device, ModelInfo, TensorSpec
from edgeimg.runtime.backends.opencv import OpenCVBackend
from edgeimg.runtime.backends.ort import OrtBackend, TensorRTOptions, read_model_info
from edgeimg.runtime.errors import parse_enum


class BackendKind(str, Enum):
    ONNXRUNTIME = "onnxruntime"
    OPENCV = "opencv"

    @classmethod
    def parse(cls, value: str | BackendKind) -> BackendKind:
        return parse_enum(cls, value, "backend")


def create_backend(
    path: str | Path,
    kind: BackendKind | str = BackendKind.ONNXRUNTIME,
    device: Device | str = Device.CPU,
    threads: int | None = None,
    tensorrt: TensorRTOptions | None = None,
) -> Backend:
    """A ready backend for the ONNX file at ``path`` (EdgeimgError when it cannot load it).

    The OpenCV backend reads the model's inputs, outputs and metadata through onnxruntime
    first: cv2.dnn cannot list them.
    """
    kind = BackendKind.parse(kind)
    if kind is BackendKind.ONNXRUNTIME:
        return OrtBackend(path, device, threads, tensorrt)
    return OpenCVBackend(path, read_model_info(path), device, threads)


__all__ = [
    "Backend",
    "BackendKind",
    "Device",
    "ModelInfo",
    "OpenCVBackend",
    "OrtBackend",
    "TensorRTOptions",
    "TensorSpec",
    "create_backend",
    "read_model_info",
]
