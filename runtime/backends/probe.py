"""Which backend and device combinations can run a model on this machine (``edgeimg info``)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from edgeimg.runtime.backends.base import Backend, Device, ModelInfo
from edgeimg.runtime.backends.opencv import OpenCVBackend, cuda_devices
from edgeimg.runtime.backends.openvino import INSTALL, OpenVINOBackend, openvino_available
from edgeimg.runtime.backends.ort import (
    CUDA,
    TENSORRT,
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


def _time(backend: Backend, feeds: Mapping[str, np.ndarray]) -> float:
    """Median milliseconds of one ``backend.run(feeds)``, after one untimed warm-up run."""
    backend.run(feeds)  # warm-up: first-run allocations and lazy initialisation
    times = []
    for _ in range(TIMED_RUNS):
        start = time.perf_counter()
        backend.run(feeds)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def _try(
    backend: str,
    device: Device,
    make: Callable[[], Backend],
    feeds: Mapping[str, np.ndarray],
    runs_on: str,
) -> Probe:
    try:
        runner = make()
        if runs_on not in runner.description:
            return Probe(
                backend, device.value, False, f"did not start: runs on {runner.description}"
            )
        return Probe(backend, device.value, True, runner.description, _time(runner, feeds))
    except EdgeimgError as exc:
        return Probe(backend, device.value, False, f"fails: {exc}")


def zero_feeds(
    info: ModelInfo, input_shape: Sequence[int | None] | None = None
) -> dict[str, np.ndarray]:
    """A zero tensor for every input of the model, by name, as ``Backend.run`` takes them.

    Each input has its declared shape and dtype, dynamic dimensions as 1; ``input_shape``
    replaces the first input's shape (its None dimensions fall back to the declared ones, then
    to 1).
    """
    feeds: dict[str, np.ndarray] = {}
    for index, spec in enumerate(info.inputs):
        shape: Sequence[int | None] = spec.shape
        if index == 0 and input_shape is not None:
            if len(input_shape) != len(spec.shape):
                raise EdgeimgError(
                    f"model input {spec.name}: expected {len(spec.shape)} dimensions, "
                    f"got shape {tuple(input_shape)}"
                )
            shape = [
                want if want is not None else got
                for want, got in zip(input_shape, shape, strict=True)
            ]
        feeds[spec.name] = np.zeros(tuple(d or 1 for d in shape), dtype=spec.dtype)
    return feeds


def probe_backends(
    path: str | Path, info: ModelInfo, input_shape: Sequence[int | None] | None = None
) -> list[Probe]:
    """Try onnxruntime (CPU, CUDA, TensorRT), cv2.dnn (CPU, CUDA) and OpenVINO (CPU, when
    installed) on the model at ``path``.

    Each combination this machine offers is loaded and timed on zero inputs (see
    :func:`zero_feeds`: ``input_shape`` for the first input, default its declared shape with
    dynamic dimensions as 1); the others say why they are not available. TensorRT builds (and
    caches) an engine: the first probe of a model can take minutes.
    """
    feeds = zero_feeds(info, input_shape)
    providers = available_providers()
    probes = [_try("onnxruntime", Device.CPU, partial(OrtBackend, path, Device.CPU), feeds, "CPU")]
    for device, provider, label in (
        (Device.CUDA, CUDA, "CUDA"),
        (Device.TENSORRT, TENSORRT, "TensorRT"),
    ):
        if provider in providers:
            make = partial(OrtBackend, path, device, tensorrt=TensorRTOptions())
            probes.append(_try("onnxruntime", device, make, feeds, label))
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
        _try("opencv", Device.CPU, partial(OpenCVBackend, path, info, Device.CPU), feeds, "CPU")
    )
    if cuda_devices():
        probes.append(
            _try(
                "opencv",
                Device.CUDA,
                partial(OpenCVBackend, path, info, Device.CUDA),
                feeds,
                "CUDA",
            )
        )
    else:
        probes.append(Probe("opencv", "cuda", False, "no: this OpenCV build has no CUDA device"))
    if openvino_available():
        make_ov = partial(OpenVINOBackend, path, info, Device.CPU)
        probes.append(_try("openvino", Device.CPU, make_ov, feeds, "CPU"))
    else:
        probes.append(Probe("openvino", "cpu", False, f"no: not installed ({INSTALL})"))
    return probes
