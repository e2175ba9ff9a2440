"""Timed inference workloads for one ONNX model on onnxruntime, OpenCV dnn or OpenVINO.

Each workload owns its session (or net) and a pre-made random input, so a timed call is the
backend's run and nothing else. A configuration the backend cannot run raises
:class:`Unsupported` with a reason that names the failing operator when the backend says which.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path

import numpy as np

from edgeimg.runtime.backends.onnx_info import read_model_info
from edgeimg.runtime.backends.ort import open_session
from edgeimg.runtime.errors import EdgeimgError, first_line, parse_enum


class Backend(str, Enum):
    """The engines the latency matrix times (the runtime registry's built-in backends)."""

    ONNXRUNTIME = "onnxruntime"
    OPENCV = "opencv"
    OPENVINO = "openvino"

    @classmethod
    def parse(cls, value: str | Backend) -> Backend:
        return parse_enum(cls, value, "backend")


class Precision(str, Enum):
    FP32 = "fp32"
    INT8 = "int8"
    FP16 = "fp16"


class GraphOptimization(str, Enum):
    DISABLED = "disabled"
    BASIC = "basic"
    EXTENDED = "extended"
    ALL = "all"


# The runtime's session factory names the levels its own way (``session_options``).
OPTIMIZATION = {
    GraphOptimization.DISABLED: "disable",
    GraphOptimization.BASIC: "basic",
    GraphOptimization.EXTENDED: "extended",
    GraphOptimization.ALL: "all",
}


class Unsupported(Exception):
    """This backend cannot run this configuration; the message says why (and which op)."""


@dataclass(frozen=True)
class BenchConfig:
    """One row of the latency matrix.

    provider: where it runs, by short name: ``CPU``, ``CUDA``, ``TensorRT`` (onnxruntime's
        ``<name>ExecutionProvider``; for OpenCV dnn, its CPU or CUDA target). io_binding: run through a pre-bound ``IOBinding`` with
        pre-allocated outputs instead of ``session.run``. spinning: let onnxruntime's
        intra-op threads spin between calls (its default).
    """

    backend: Backend
    precision: Precision
    model_path: Path
    threads: int = 1
    batch: int = 1
    provider: str = "CPU"
    io_binding: bool = False
    spinning: bool = True
    graph_optimization: GraphOptimization = GraphOptimization.ALL

    @property
    def label(self) -> str:
        provider = self.provider
        parts = [self.backend.value, self.precision.value, f"t{self.threads}", f"b{self.batch}"]
        if provider != "CPU":
            parts.append(provider)
        if self.io_binding:
            parts.append("iobind")
        if not self.spinning:
            parts.append("nospin")
        if self.graph_optimization is not GraphOptimization.ALL:
            parts.append(f"opt-{self.graph_optimization.value}")
        return " ".join(parts)

    def with_(self, **changes: object) -> BenchConfig:
        return replace(self, **changes)


FP16_PROVIDERS = ("CUDA", "TensorRT", "Dml")


def ort_provider(name: str) -> str:
    """onnxruntime's provider name for a short name: ``TensorRT`` -> ``TensorrtExecutionProvider``."""
    return {"TensorRT": "Tensorrt"}.get(name, name) + "ExecutionProvider"


def available_providers() -> list[str]:
    """Short names of the onnxruntime execution providers this install has (``CPU``, ``CUDA`` ...)."""
    import onnxruntime as ort

    names = [p.removesuffix("ExecutionProvider") for p in ort.get_available_providers()]
    return ["TensorRT" if n == "Tensorrt" else n for n in names if n != "Azure"]


def random_input(shape: tuple[int, ...], dtype: np.dtype, seed: int = 0) -> np.ndarray:
    """Pixels 0..255 of ``shape`` and ``dtype`` (what edgeimg models take), reproducibly."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=shape).astype(dtype)


def resolve_shape(shape: list[object], batch: int, source: str) -> tuple[int, ...]:
    """The concrete input shape for ``batch``; symbolic non-batch dims are an error."""
    dims = list(shape)
    first = dims[0]
    if isinstance(first, int) and first > 0 and first != batch:
        raise Unsupported(f"{source}: input has a fixed batch of {first}, cannot run batch {batch}")
    dims[0] = batch
    for i, dim in enumerate(dims[1:], start=1):
        if not isinstance(dim, int) or dim <= 0:
            raise Unsupported(
                f"{source}: input dimension {i} is symbolic ({dim!r}); expected fixed"
            )
    return tuple(int(d) for d in dims)


ORT_DTYPES = {"tensor(float)": np.float32, "tensor(uint8)": np.uint8, "tensor(float16)": np.float16}


class OrtWorkload:
    """``session.run`` (or ``run_with_iobinding``) of one model on onnxruntime."""

    def __init__(self, config: BenchConfig) -> None:

        if config.provider not in available_providers():
            raise Unsupported(
                f"onnxruntime provider {config.provider} not available here "
                f"(available: {', '.join(available_providers())})"
            )
        if config.precision is Precision.FP16 and config.provider not in FP16_PROVIDERS:
            raise Unsupported(f"{config.provider} has no FP16 kernels; FP16 needs CUDA or TensorRT")
        try:
            self.session = open_session(
                config.model_path,
                [ort_provider(config.provider)],
                config.threads,
                OPTIMIZATION[config.graph_optimization],
                config.spinning,
            )
        except EdgeimgError as exc:
            raise Unsupported(str(exc)) from None
        inp = self.session.get_inputs()[0]
        dtype = ORT_DTYPES.get(inp.type)
        if dtype is None:
            raise Unsupported(f"onnxruntime: unsupported input type {inp.type}")
        self.input = random_input(
            resolve_shape(inp.shape, config.batch, config.model_path.name), dtype
        )
        self.input_name = inp.name
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.feed = {self.input_name: self.input}
        outputs = self.session.run(self.output_names, self.feed)
        self.binding = None
        if config.io_binding:
            self.binding = self.session.io_binding()
            self.binding.bind_cpu_input(self.input_name, self.input)
            self.preallocated = [np.empty_like(o) for o in outputs]
            for name, buffer in zip(self.output_names, self.preallocated, strict=True):
                self.binding.bind_output(
                    name, "cpu", 0, buffer.dtype, list(buffer.shape), buffer.ctypes.data
                )

    def activate(self) -> None:
        """Nothing to do: onnxruntime's thread pool belongs to the session."""

    def __call__(self) -> object:
        if self.binding is not None:
            return self.session.run_with_iobinding(self.binding)
        return self.session.run(self.output_names, self.feed)


class OpenCVWorkload:
    """``net.forward`` of one model on OpenCV dnn (its own CPU backend, or CUDA)."""

    def __init__(self, config: BenchConfig) -> None:
        import cv2

        self.cv2 = cv2
        self.threads = config.threads
        dnn = cv2.dnn
        if config.provider == "CUDA":
            if cv2.cuda.getCudaEnabledDeviceCount() == 0:
                raise Unsupported("OpenCV dnn: this OpenCV build has no CUDA device")
            backend = dnn.DNN_BACKEND_CUDA
            target = (
                dnn.DNN_TARGET_CUDA_FP16
                if config.precision is Precision.FP16
                else dnn.DNN_TARGET_CUDA
            )
        elif config.provider == "CPU":
            if config.precision is Precision.FP16:
                raise Unsupported(
                    "OpenCV dnn: FP16 on CPU is an ARM-only target; x86 has no FP16 path"
                )
            backend, target = dnn.DNN_BACKEND_OPENCV, dnn.DNN_TARGET_CPU
        else:
            raise Unsupported(
                f"OpenCV dnn: unknown target {config.provider!r}; expected CPU or CUDA"
            )
        try:
            self.net = dnn.readNetFromONNX(str(config.model_path))
            self.net.setPreferableBackend(backend)
            self.net.setPreferableTarget(target)
        except cv2.error as exc:
            raise Unsupported(
                f"OpenCV dnn cannot import {config.model_path.name}: {opencv_reason(exc)}"
            ) from None
        shape, dtype = onnx_input_signature(config.model_path)
        self.input = random_input(resolve_shape(shape, config.batch, config.model_path.name), dtype)
        self.output_names = list(self.net.getUnconnectedOutLayersNames())
        self.activate()
        try:
            self()
        except cv2.error as exc:
            raise Unsupported(
                f"OpenCV dnn cannot run {config.model_path.name}: {opencv_reason(exc)}"
            ) from None

    def activate(self) -> None:
        """OpenCV's thread count is process-wide: set it before every block of calls."""
        self.cv2.setNumThreads(self.threads)

    def __call__(self) -> object:
        self.net.setInput(self.input)
        return self.net.forward(self.output_names)


class OpenVINOWorkload:
    """One infer request of the runtime's OpenVINO backend (latency hint, one stream, FP32
    inference precision, ``threads`` as INFERENCE_NUM_THREADS): what ``--backend openvino``
    deploys. The QDQ INT8 file is read directly; the CPU plugin runs it on INT8 kernels."""

    def __init__(self, config: BenchConfig) -> None:
        from edgeimg.runtime.backends import read_model_info
        from edgeimg.runtime.backends.openvino import OpenVINOBackend
        from edgeimg.runtime.errors import EdgeimgError

        if config.provider != "CPU":
            raise Unsupported(f"OpenVINO: only the CPU is benchmarked here, not {config.provider}")
        if config.precision is Precision.FP16:
            raise Unsupported("OpenVINO: an FP16 file is not benchmarked on the CPU")
        try:
            info = read_model_info(config.model_path)
            backend = OpenVINOBackend(config.model_path, info, "cpu", config.threads)
        except EdgeimgError as exc:
            raise Unsupported(str(exc)) from None
        spec = info.inputs[0]
        shape = resolve_shape(list(spec.shape), config.batch, config.model_path.name)
        self.input = random_input(shape, np.dtype(spec.dtype))
        self.request = backend.infer_request
        self.feed = {spec.name: self.input}
        self.backend = backend
        try:
            self()
        except RuntimeError as exc:
            raise Unsupported(
                f"OpenVINO cannot run {config.model_path.name}: {first_line(exc)}"
            ) from None

    def activate(self) -> None:
        """Nothing to do: the compiled model owns its threads."""

    def __call__(self) -> object:
        return self.request.infer(self.feed)


def onnx_input_signature(path: Path) -> tuple[list[object], type]:
    """First input's shape (None: symbolic) and numpy dtype, read by the runtime."""
    try:
        spec = read_model_info(path).inputs[0]
    except EdgeimgError as exc:
        raise Unsupported(f"cannot read the input of {path.name}: {exc}") from None
    return list(spec.shape), np.dtype(spec.dtype).type


_NODE = re.compile(r"Node \[([\w.]+)@[\w.]*\]:?\(?([^)\s]*)")
_LAYER = re.compile(r"(?:type|layer)[^\w]+([A-Z]\w+)")
_LOCATION = re.compile(r"OpenCV\([\d.]+\) \S+ error: \([^)]*\)( in function '[^']*')?")


def opencv_reason(exc: BaseException) -> str:
    """The failing op named from an OpenCV dnn error, e.g. ``op DequantizeLinear (node x): ...``."""
    text = str(exc)
    words = " ".join(line.lstrip("> ").strip() for line in text.splitlines())
    words = " ".join(_LOCATION.sub("", words).split())
    match = _NODE.search(words)
    if match:
        detail = words.split(")", 1)[-1].strip(" :")
        return f"op {match.group(1)} (node {match.group(2) or '?'}): {detail[:160]}"
    layer = _LAYER.search(words)
    if layer:
        return f"op {layer.group(1)}: {words[:160]}"
    return words[:200] or type(exc).__name__


def make_workload(config: BenchConfig) -> OrtWorkload | OpenCVWorkload | OpenVINOWorkload:
    """Build the workload for ``config``; raises :class:`Unsupported` when it cannot run here."""
    if not config.model_path.is_file():
        raise Unsupported(f"no such model file: {config.model_path}")
    if config.threads < 1:
        raise Unsupported(f"threads: expected >= 1, got {config.threads}")
    if config.backend is Backend.ONNXRUNTIME:
        return OrtWorkload(config)
    if config.backend is Backend.OPENVINO:
        return OpenVINOWorkload(config)
    return OpenCVWorkload(config)
