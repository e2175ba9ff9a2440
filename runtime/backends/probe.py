"""Which backend and device combinations can run a model on this machine (``edgeimg info``)."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeimg.runtime.backends.base import Backend, Device
from edgeimg.runtime.backends.opencv import OpenCVBackend, cuda_devices
from edgeimg.runtime.backends.ort import (
    CUDA,
    TENSORRT,
    ModelInfo,
    OrtBackend,
    TensorRTOptions,
    available_providers,
)
from edgeimg.runtime.errors import EdgeimgError

TIMED_RUNS = 5


@dataclass(frozen=True)
class Probe:
    """One backend/device combination: did it start, what runs, how long one inference takes."""

    backend: str
    device: str
    ok: bool
    detail: str
    milliseconds: float | None = None

    def describe(self) -> str:
        if not self.ok:
            return self.detail
        return (
            f"yes, {self.detail}, {self.milliseconds:.2f} ms per inference (median of {TIMED_RUNS})"
        )


def _time(backend: Backend, batch: np.ndarray) -> float:
    backend.run(batch)  # warm-up: first-run allocations and lazy initialisation
    times = []
    for _ in range(TIMED_RUNS):
        start = time.perf_counter()
        backend.run(batch)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def _try(backend: str, device: Device, make, batch: np.ndarray, runs_on: str) -> Probe:
    try:
        runner = make()
        if runs_on not in runner.description:
            return Probe(
                backend, device.value, False, f"did not start: runs on {runner.description}"
            )
        return Probe(backend, device.value, True, runner.description, _time(runner, batch))
    except EdgeimgError as exc:
        return Probe(backend, device.value, False, f"fails: {exc}")


def probe_backends(
    path: str | Path, info: ModelInfo, input_shape: tuple[int, ...] | None = None
) -> list[Probe]:
    """Try onnxruntime (CPU, CUDA, TensorRT) and cv2.dnn (CPU, CUDA) on the model at ``path``.

    Each combination this machine offers is loaded and timed on a zero input of
    ``input_shape`` (default: the declared input shape, dynamic dimensions as 1); the others
    say why they are not available. TensorRT builds (and caches) an engine: the first probe of
    a model can take minutes.
    """
    spec = info.inputs[0]
    shape = input_shape or tuple(d or 1 for d in spec.shape)
    batch = np.zeros(shape, dtype=spec.dtype)
    providers = available_providers()
    probes = [_try("onnxruntime", Device.CPU, lambda: OrtBackend(path, Device.CPU), batch, "CPU")]
    for device, provider, label in (
        (Device.CUDA, CUDA, "CUDA"),
        (Device.TENSORRT, TENSORRT, "TensorRT"),
    ):
        if provider in providers:
            make = lambda d=device: OrtBackend(path, d, tensorrt=TensorRTOptions())  # noqa: E731
            probes.append(_try("onnxruntime", device, make, batch, label))
        else:
            probes.append(
                Probe(
                    "onnxruntime",
                    device.value,
                    False,
                    f"no: {provider} is not in this onnxruntime build",
                )
            )
    probes.append(
        _try("opencv", Device.CPU, lambda: OpenCVBackend(path, info, Device.CPU), batch, "CPU")
    )
    if cuda_devices():
        probes.append(
            _try(
                "opencv", Device.CUDA, lambda: OpenCVBackend(path, info, Device.CUDA), batch, "CUDA"
            )
        )
    else:
        probes.append(Probe("opencv", "cuda", False, "no: this OpenCV build has no CUDA device"))
    return probes
