"""The OpenVINO backend (``pip install 'edgeimg[openvino]'``): the same ONNX files, on the CPU.

OpenVINO reads the ONNX file itself, FP32 or QDQ INT8 (its CPU plugin turns QuantizeLinear /
DequantizeLinear pairs into INT8 kernels, VNNI where the CPU has it). The model is compiled with
the latency hint, ``threads`` as ``INFERENCE_NUM_THREADS`` (None: OpenVINO's default, every
core), ``streams`` inference streams (1: one request at a time, lowest latency) and FP32
inference precision (OpenVINO would otherwise use BF16 on CPUs with AMX, and change the
detections). Compiled blobs are cached under ``<user cache>/openvino``, so the second load of a
model skips the compilation.

Inputs, outputs and metadata_props come from onnxruntime's reading of the file (as for the
OpenCV backend): ``check_feeds`` and the output names are the ones every backend reports.
``cuda`` and ``tensorrt`` are not OpenVINO devices: they run on the CPU with a warning.

The ``openvino`` package is imported only when a backend is made, never by ``edgeimg.runtime``.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from edgeimg.runtime.backends.base import (
    Backend,
    Device,
    ModelInfo,
    check_model_file,
    user_cache_dir,
)
from edgeimg.runtime.errors import EdgeimgError, first_line

log = logging.getLogger(__name__)

INSTALL = "pip install 'edgeimg[openvino]'"


class MissingBackend(EdgeimgError):
    """A backend whose optional package is not installed (exit code 3, like a missing extra)."""

    exit_code = 3


def openvino_available() -> bool:
    """True when the ``openvino`` package is installed (without importing it)."""
    try:
        return importlib.util.find_spec("openvino") is not None
    except (ImportError, ValueError):
        return False


def import_openvino() -> Any:
    """The ``openvino`` module, or MissingBackend naming the pip command."""
    try:
        import openvino
    except ImportError:
        raise MissingBackend(
            f"backend openvino: the openvino package is not installed here: {INSTALL}"
        ) from None
    return openvino


def openvino_version() -> str:
    """OpenVINO's short version (``2026.4.1``), without its build suffix."""
    return str(import_openvino().__version__).split("-", 1)[0]


def cache_dir() -> Path | None:
    """Where compiled models are kept (``<user cache>/openvino``), None when it cannot be made."""
    folder = user_cache_dir() / "openvino"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        log.debug("OpenVINO model cache off: cannot create %s: %s", folder, exc)
        return None
    return folder


_CORE: list[Any] = []  # the process's one ov.Core, once made
_CORE_LOCK = threading.Lock()


def shared_core(ov: Any) -> Any:
    """The process's one ``ov.Core``, made on first use and kept until exit.

    OpenVINO's CPU plugin gives the thread that loads it an alternate signal stack (room for
    AMX state) and, when the plugin is unloaded, unmaps it and restores the stack it replaced,
    on whichever thread that happens. With a Core per model, plugins unloaded out of order or
    on another thread left the loading thread's registered signal stack unmapped, and its next
    signal (Ctrl-C) killed the process with SIGSEGV (seen on an AMX Xeon in the test suite,
    then reproduced alone: two Cores released first-in first-out, or one released on another
    thread). One Core that is never unloaded keeps that stack valid (and OpenVINO advises one
    Core per process anyway)."""
    with _CORE_LOCK:
        if not _CORE:
            _CORE.append(ov.Core())
        return _CORE[0]


def compile_config(threads: int | None, streams: int) -> dict[str, Any]:
    """OpenVINO CPU properties: latency hint, FP32 precision, threads and streams."""
    config: dict[str, Any] = {
        "PERFORMANCE_HINT": "LATENCY",
        "NUM_STREAMS": int(streams),
        "INFERENCE_PRECISION_HINT": "f32",
    }
    if threads:
        config["INFERENCE_NUM_THREADS"] = int(threads)
    return config


class OpenVINOBackend(Backend):
    """An OpenVINO compiled model (CPU) with one infer request, read from the ONNX file.

    info: the model's tensors and metadata (:func:`read_model_info`); ``run`` feeds and returns
    tensors by these names. threads: ``INFERENCE_NUM_THREADS`` (None: OpenVINO's default);
    streams: ``NUM_STREAMS`` (default 1).
    """

    def __init__(
        self,
        path: str | Path,
        info: ModelInfo,
        device: Device | str = Device.CPU,
        threads: int | None = None,
        streams: int = 1,
    ) -> None:
        device = Device.parse(device)
        path = check_model_file(path)
        if streams < 1:
            raise EdgeimgError(f"openvino streams: expected >= 1, got {streams}")
        ov = import_openvino()
        if device in (Device.CUDA, Device.TENSORRT):
            log.warning(
                "device %s: OpenVINO runs on Intel devices only; running on CPU", device.value
            )
        config = compile_config(threads, streams)
        folder = cache_dir()
        if folder is not None:
            config["CACHE_DIR"] = str(folder)
        try:
            compiled = shared_core(ov).compile_model(str(path), "CPU", config)
        except RuntimeError as exc:  # OpenVINO reports read and compile failures so
            raise EdgeimgError(f"OpenVINO cannot load {path}: {_reason(exc)}") from None
        names = {name for port in compiled.outputs for name in port.get_names()}
        missing = [spec.name for spec in info.outputs if spec.name not in names]
        if missing:
            raise EdgeimgError(
                f"OpenVINO cannot load {path}: outputs {', '.join(missing)} are not in its graph"
            )
        self._compiled = compiled
        self._request = compiled.create_infer_request()
        self.inputs = info.inputs
        self.outputs = info.outputs
        self.metadata = info.metadata
        self.threads = int(compiled.get_property("INFERENCE_NUM_THREADS"))
        self.streams = int(compiled.get_property("NUM_STREAMS"))
        self.description = f"openvino {openvino_version()} CPU"
        self._output_names = [spec.name for spec in info.outputs]
        log.debug(
            "model %s runs on %s (%d threads, %d streams)",
            path.name,
            self.description,
            self.threads,
            self.streams,
        )

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.check_feeds(feeds)
        try:
            # share_outputs=False (the default): the arrays returned are copies, not views of
            # the request's buffers that the next run would overwrite.
            result = self._request.infer(dict(feeds))
        except RuntimeError as exc:
            raise EdgeimgError(f"OpenVINO inference failed: {_reason(exc)}") from None
        return {name: np.asarray(result[name]) for name in self._output_names}

    @property
    def infer_request(self) -> Any:
        """The ``openvino.InferRequest`` ``run`` uses (for benchmarks timing the bare call)."""
        return self._request


def _reason(exc: BaseException) -> str:
    """OpenVINO's message without its ``Exception from src/...cpp:123:`` location lines."""
    lines = [
        line.strip()
        for line in str(exc).splitlines()
        if line.strip() and not line.strip().startswith(("Exception from", "Check '"))
    ]
    return first_line(" ".join(lines[:2]) or exc)
