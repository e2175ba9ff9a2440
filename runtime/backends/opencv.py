"""The OpenCV ``cv2.dnn`` backend: the same interface as onnxruntime, no extra dependency.

``cpu`` -> DNN_BACKEND_OPENCV on the CPU; ``cuda`` -> DNN_BACKEND_CUDA when this OpenCV was built
with CUDA and sees a device (otherwise a warning and the CPU); ``tensorrt`` is not something
cv2.dnn offers, so it runs as ``cuda``; ``auto`` -> CUDA when available, else the CPU.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np

from edgeimg.runtime.backends.base import Backend, Device, ModelInfo, check_model_file
from edgeimg.runtime.errors import EdgeimgError, first_line

log = logging.getLogger(__name__)

# "Node [Hardmax@ai.onnx]:(onnx_node!my_hardmax) parse error: ..."
_NODE = re.compile(r"Node \[([\w.]+)@[\w.]*\]:\((?:onnx_node!)?([^)]*)\)")
# "Can't create layer "x" of type "Hardmax""
_LAYER = re.compile(r"Can't create layer \"(?:onnx_node!)?([^\"]*)\" of type \"([^\"]+)\"")
# Noise around OpenCV's reason: "OpenCV(4.x) /path/file.cpp:123: error: (-215:Assertion failed)",
# "in function 'f'", the "> " quoting of nested errors.
_NOISE = re.compile(
    r"OpenCV\([^)]*\) \S+ error: \([^)]*\)|in function '[^']*'|parse error:|^[> ]+", re.MULTILINE
)


def describe_cv2_error(exc: cv2.error) -> str:
    """One line from a cv2.error: the failing ONNX op and node when OpenCV names them."""
    text = str(exc)
    layer = _LAYER.search(text)
    if layer:
        return f"unsupported op {layer.group(2)} (node {layer.group(1)})"
    node = _NODE.search(text)
    reason = " ".join(_NOISE.sub(" ", text[node.end() :] if node else text).split()).strip(" :")
    if node:
        where = f"op {node.group(1)} (node {node.group(2)})"
        return f"{where}: {reason}" if reason else where
    return first_line(reason or text)


@contextmanager
def _quiet_opencv() -> Iterator[None]:
    """OpenCV logs its own copy of each import error to stderr; the EdgeimgError says it once."""
    logging_api = getattr(cv2, "utils", None) and getattr(cv2.utils, "logging", None)
    if logging_api is None:
        yield
        return
    level = logging_api.getLogLevel()
    logging_api.setLogLevel(logging_api.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        logging_api.setLogLevel(level)


def cuda_devices() -> int:
    """CUDA devices this OpenCV build can use (0 for the pip wheels, which lack CUDA)."""
    try:
        return int(cv2.cuda.getCudaEnabledDeviceCount())
    except (AttributeError, cv2.error):
        return 0


class OpenCVBackend(Backend):
    """``cv2.dnn`` network read from the ONNX file.

    info: the model's tensors and metadata as onnxruntime reads them (cv2.dnn cannot list its
    inputs nor read metadata_props); ``run`` asks cv2.dnn for the outputs by these names. ``threads`` sets OpenCV's
    process-wide thread count (``cv2.setNumThreads``).
    """

    def __init__(
        self,
        path: str | Path,
        info: ModelInfo,
        device: Device | str = Device.CPU,
        threads: int | None = None,
    ) -> None:
        device = Device.parse(device)
        path = check_model_file(path)
        try:
            with _quiet_opencv():
                net = cv2.dnn.readNetFromONNX(str(path))
        except cv2.error as exc:
            raise EdgeimgError(
                f"OpenCV dnn cannot load {path}: {describe_cv2_error(exc)}"
            ) from None
        if threads:
            cv2.setNumThreads(int(threads))
        use_cuda = device is not Device.CPU and cuda_devices() > 0
        if device in (Device.CUDA, Device.TENSORRT) and not use_cuda:
            log.warning(
                "device %s: this OpenCV has no CUDA device (cv2.cuda reports 0); running on CPU",
                device.value,
            )
        elif device is Device.TENSORRT:
            log.warning("device tensorrt: OpenCV dnn has no TensorRT; running on its CUDA backend")
        with _quiet_opencv():  # OpenCV 5's new engine logs that it ignores targets
            if use_cuda:
                net.setPreferableBackend(cv2.dnn.DNN_BACKEND_CUDA)
                net.setPreferableTarget(cv2.dnn.DNN_TARGET_CUDA)
            else:
                net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
                net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
        self._net = net
        self.inputs = info.inputs
        self.outputs = info.outputs
        self.metadata = info.metadata
        self._output_names = [spec.name for spec in info.outputs]
        self.description = f"opencv {cv2.__version__} dnn {'CUDA' if use_cuda else 'CPU'}"
        log.debug("model %s runs on %s", path.name, self.description)

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.check_feeds(feeds)
        try:
            with _quiet_opencv():
                for name, tensor in feeds.items():
                    self._net.setInput(tensor, name)
                outputs = self._net.forward(self._output_names)
        except cv2.error as exc:
            raise EdgeimgError(f"OpenCV dnn inference failed: {describe_cv2_error(exc)}") from None
        return dict(zip(self._output_names, outputs, strict=True))
