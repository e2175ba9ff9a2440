"""The onnxruntime backend: execution providers chosen from a :class:`Device`.

``cpu`` -> CPUExecutionProvider; ``cuda`` -> CUDA then CPU; ``tensorrt`` -> TensorRT (FP16/INT8
flags, engine and timing caches under the user cache folder) then CUDA then CPU; ``auto`` -> CUDA
when this onnxruntime build has it, else CPU (TensorRT only when asked for: it builds an engine
on a model's first run). When the provider asked for is missing, or
onnxruntime cannot start it, the model runs on what is left and a warning names both.

onnxruntime itself is imported when a session is made or its providers are asked for, not
with this module: a run on OpenVINO or OpenCV does not load it (~38 MB resident).
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgeimg.runtime.backends.base import (
    Backend,
    Device,
    TensorSpec,
    check_model_file,
    user_cache_dir,
)
from edgeimg.runtime.errors import EdgeimgError, first_line

if TYPE_CHECKING:
    import onnxruntime as ort

log = logging.getLogger(__name__)

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
TENSORRT = "TensorrtExecutionProvider"

# onnxruntime's element type names -> numpy dtype names.
ORT_DTYPES = {
    "tensor(float)": "float32",
    "tensor(float16)": "float16",
    "tensor(double)": "float64",
    "tensor(uint8)": "uint8",
    "tensor(int8)": "int8",
    "tensor(int32)": "int32",
    "tensor(int64)": "int64",
    "tensor(bool)": "bool",
}


def onnxruntime() -> Any:
    """The onnxruntime module, imported on first use."""
    import onnxruntime

    return onnxruntime


@dataclass(frozen=True)
class TensorRTOptions:
    """TensorRT execution-provider settings.

    fp16/int8 let TensorRT pick reduced-precision kernels (int8 needs a quantized (QDQ) model
    or a calibration table). Engines and timing caches are kept in ``cache_dir`` (default
    ``<user cache>/trt``) so only the first run of a model pays for the engine build.
    """

    fp16: bool = False
    int8: bool = False
    cache_dir: Path = field(default_factory=lambda: user_cache_dir() / "trt")
    device_id: int = 0

    def provider_options(self) -> dict[str, str]:
        cache = str(Path(self.cache_dir).expanduser())
        return {
            "device_id": str(self.device_id),
            "trt_fp16_enable": str(self.fp16),
            "trt_int8_enable": str(self.int8),
            "trt_engine_cache_enable": "True",
            "trt_engine_cache_path": cache,
            "trt_timing_cache_enable": "True",
            "trt_timing_cache_path": cache,
        }


def available_providers() -> list[str]:
    return list(onnxruntime().get_available_providers())


def has_cuda_provider() -> bool:
    """Whether this onnxruntime build lists CUDA, answered without importing it: builds with
    CUDA carry its provider library beside onnxruntime's own (what ``available_providers``
    lists is what the build was compiled with, so the two agree)."""
    spec = importlib.util.find_spec("onnxruntime")
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    return any(
        next((Path(folder) / "capi").glob("*onnxruntime_providers_cuda.*"), None) is not None
        for folder in folders
    )


def plan_providers(
    device: Device, tensorrt: TensorRTOptions, available: list[str] | None = None
) -> tuple[list[str | tuple[str, dict[str, str]]], str | None]:
    """Execution providers (with options) for ``device``, best first, and the one asked for.

    The second value is the provider the user explicitly asked for (None for cpu and auto); a
    warning is due when it is not the one that ends up running.
    """
    available = available_providers() if available is None else available
    cuda = (CUDA, {"device_id": str(tensorrt.device_id)})
    if device is Device.CPU:
        return [CPU], None
    # AUTO stops at CUDA: TensorRT's first run of a model builds an engine (minutes on a
    # Jetson), which nobody should get without asking for it.
    wanted = {Device.CUDA: [CUDA], Device.TENSORRT: [TENSORRT, CUDA], Device.AUTO: [CUDA]}
    plan: list[str | tuple[str, dict[str, str]]] = []
    for name in wanted[device]:
        if name not in available:
            continue
        if name == TENSORRT:
            Path(tensorrt.cache_dir).expanduser().mkdir(parents=True, exist_ok=True)
            plan.append((TENSORRT, tensorrt.provider_options()))
        else:
            plan.append(cuda)
    plan.append(CPU)
    asked = None if device is Device.AUTO else wanted[device][0]
    return plan, asked


OPTIMIZATION_LEVELS = ("disable", "basic", "extended", "all")


def session_options(
    threads: int | None, optimization: str = "all", spinning: bool = False
) -> ort.SessionOptions:
    """The one place onnxruntime sessions are configured (the runtime, export's INT8 gate and
    the bench's variants all come through here). optimization: one of OPTIMIZATION_LEVELS
    (the runtime deploys ``all``). spinning: let idle intra-op threads busy-wait; off by
    default, since spinning workers starve the capture thread and OpenCV's resize on a shared
    CPU (a 384x512 conv net on 2 busy cores: 36 ms per run spinning, 15 ms not) and gain only
    ~0.2 ms on an idle 16-core machine."""
    ort = onnxruntime()
    level = ort.GraphOptimizationLevel
    levels = dict(
        zip(
            OPTIMIZATION_LEVELS,
            (
                level.ORT_DISABLE_ALL,
                level.ORT_ENABLE_BASIC,
                level.ORT_ENABLE_EXTENDED,
                level.ORT_ENABLE_ALL,
            ),
            strict=True,
        )
    )
    if optimization not in levels:
        raise EdgeimgError(
            f"graph optimization: expected one of {', '.join(levels)}, got {optimization!r}"
        )
    options = ort.SessionOptions()
    options.graph_optimization_level = levels[optimization]
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = int(threads or 0)  # 0: onnxruntime's default (physical cores)
    options.inter_op_num_threads = 1  # sequential execution: one graph node at a time
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    options.log_severity_level = 3  # errors only: our own log says what runs
    return options


def open_session(
    path: str | Path,
    providers: list[str | tuple[str, dict[str, str]]],
    threads: int | None = None,
    optimization: str = "all",
    spinning: bool = False,
) -> ort.InferenceSession:
    """An InferenceSession, or EdgeimgError with onnxruntime's reason on one line."""
    path = check_model_file(path)
    options = session_options(threads, optimization, spinning)
    try:
        return onnxruntime().InferenceSession(str(path), sess_options=options, providers=providers)
    except Exception as exc:  # onnxruntime's pybind errors share no base class but Exception
        reason = first_line(str(exc)).split("failed:", 1)[-1].strip()
        raise EdgeimgError(f"onnxruntime cannot load {path}: {reason}") from None


def tensor_specs(args: list[ort.NodeArg]) -> tuple[TensorSpec, ...]:
    return tuple(
        TensorSpec(
            arg.name,
            tuple(d if isinstance(d, int) and d > 0 else None for d in arg.shape),
            ORT_DTYPES.get(arg.type, arg.type),
        )
        for arg in args
    )


PROVIDER_LABELS = {CPU: "CPU", CUDA: "CUDA", TENSORRT: "TensorRT"}


def provider_label(provider: str) -> str:
    """Short name of an execution provider: CPUExecutionProvider -> CPU."""
    return PROVIDER_LABELS.get(provider, provider.replace("ExecutionProvider", ""))


class OrtBackend(Backend):
    """onnxruntime inference session with pre-bound input and output names."""

    concurrent_run = True  # InferenceSession.run is thread-safe

    def __init__(
        self,
        path: str | Path,
        device: Device | str = Device.CPU,
        threads: int | None = None,
        tensorrt: TensorRTOptions | None = None,
    ) -> None:
        device = Device.parse(device)
        tensorrt = tensorrt or TensorRTOptions()
        providers, asked = plan_providers(device, tensorrt)
        reason = "onnxruntime could not start it: see its log"
        if asked is not None and asked not in [
            p if isinstance(p, str) else p[0] for p in providers
        ]:
            reason = f"this onnxruntime build has only {', '.join(available_providers())}"
        try:
            session = open_session(path, providers, threads)
        except EdgeimgError as exc:
            if providers == [CPU]:
                raise
            # A GPU provider that fails to initialise (missing CUDA/TensorRT libraries) can make
            # onnxruntime raise; a model that the CPU can run still runs, with a warning. (A
            # file the CPU cannot load either raises its own error here.)
            session = open_session(path, [CPU], threads)
            reason = str(exc)
            if asked is None:
                log.warning("device %s: %s; running on CPU", device.value, reason)
        self._session = session
        self.providers = tuple(session.get_providers())
        if asked is not None and asked not in self.providers:
            log.warning(
                "device %s: asked for %s, running on %s (%s)",
                device.value,
                provider_label(asked),
                provider_label(self.providers[0]),
                reason,
            )
        self.inputs = tensor_specs(session.get_inputs())
        self.outputs = tensor_specs(session.get_outputs())
        self.metadata = dict(session.get_modelmeta().custom_metadata_map)
        self.description = (
            f"onnxruntime {onnxruntime().__version__} {provider_label(self.providers[0])}"
        )
        self._output_names = [spec.name for spec in self.outputs]
        log.debug("model %s runs on %s", Path(path).name, self.description)

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.check_feeds(feeds)
        try:
            outputs = self._session.run(self._output_names, dict(feeds))
        except Exception as exc:  # onnxruntime's pybind errors share no base class but Exception
            raise EdgeimgError(f"onnxruntime inference failed: {first_line(exc)}") from None
        return dict(zip(self._output_names, outputs, strict=True))
