"""The model latency matrix: backends x precisions x threads x providers x batch sizes.

Every configuration that can run here is timed in one interleaved run (see
:mod:`edgeimg.bench.harness`); one that cannot is kept as a skipped row with its reason.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgeimg.bench.backends import (
    Backend,
    BenchConfig,
    Precision,
    Unsupported,
    available_providers,
    make_workload,
)
from edgeimg.bench.harness import RunPlan, measure_interleaved
from edgeimg.bench.stats import LatencyStats, summarize

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MatrixSpec:
    """What to time. Paths are ONNX files of the same model at each precision.

    providers: short provider names (``CPU``, ``CUDA`` ...); None means every onnxruntime
    provider available here (OpenCV dnn gets CPU, plus CUDA when its build has a device;
    OpenVINO gets CPU).
    io_binding: also time onnxruntime through a pre-bound IOBinding.
    """

    fp32: Path
    int8: Path | None = None
    fp16: Path | None = None
    backends: tuple[Backend, ...] = (Backend.ONNXRUNTIME, Backend.OPENCV)
    threads: tuple[int, ...] = (1,)
    batches: tuple[int, ...] = (1,)
    providers: tuple[str, ...] | None = None
    io_binding: bool = False


@dataclass(frozen=True)
class Row:
    config: BenchConfig
    stats: LatencyStats
    latencies_s: np.ndarray


@dataclass(frozen=True)
class Skipped:
    label: str
    reason: str


@dataclass
class MatrixResult:
    rows: list[Row] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    def best(self, batch: int = 1) -> Row | None:
        """The row with the lowest median latency at ``batch``."""
        rows = [r for r in self.rows if r.config.batch == batch]
        return min(rows, key=lambda r: r.stats.p50_ms) if rows else None


def opencv_targets() -> list[str]:
    import cv2

    try:
        cuda = cv2.cuda.getCudaEnabledDeviceCount() > 0
    except (AttributeError, cv2.error):
        cuda = False
    return ["CPU", "CUDA"] if cuda else ["CPU"]


def build_matrix(spec: MatrixSpec) -> tuple[list[BenchConfig], list[Skipped]]:
    """Every configuration of ``spec``, plus the precisions that have no model file."""
    models = {Precision.FP32: spec.fp32, Precision.INT8: spec.int8, Precision.FP16: spec.fp16}
    skipped = []
    if spec.int8 is None:
        skipped.append(Skipped("int8", "no INT8 model given (--int8 MODEL.int8.onnx)"))
    configs = []
    for backend in spec.backends:
        if spec.providers is not None:
            providers = list(spec.providers)
        elif backend is Backend.ONNXRUNTIME:
            providers = available_providers()
        elif backend is Backend.OPENVINO:
            providers = ["CPU"]
        else:
            providers = opencv_targets()
        for provider in providers:
            for precision, path in models.items():
                if path is None:
                    continue
                for threads in spec.threads:
                    for batch in spec.batches:
                        config = BenchConfig(
                            backend, precision, Path(path), threads, batch, provider
                        )
                        configs.append(config)
                        if spec.io_binding and backend is Backend.ONNXRUNTIME:
                            configs.append(config.with_(io_binding=True))
    if spec.fp16 is None and any(p in ("CUDA", "TensorRT") for p in available_providers()):
        skipped.append(Skipped("fp16", "no FP16 model given (--fp16 MODEL.fp16.onnx)"))
    return configs, skipped


def run_matrix(
    configs: Sequence[BenchConfig],
    plan: RunPlan,
    on_skip: Callable[[Skipped], None] | None = None,
) -> MatrixResult:
    """Time every configuration that loads, interleaved; the rest become skipped rows."""
    result = MatrixResult()
    workloads, kept = [], []
    for config in configs:
        try:
            workloads.append(make_workload(config))
            kept.append(config)
        except Unsupported as exc:
            skip = Skipped(config.label, str(exc))
            result.skipped.append(skip)
            log.debug("skipped %s: %s", skip.label, skip.reason)
            if on_skip is not None:
                on_skip(skip)
    if workloads:
        log.info("timing %d configurations interleaved over %d rounds", len(workloads), plan.rounds)
        for config, samples in zip(kept, measure_interleaved(workloads, plan), strict=True):
            result.rows.append(Row(config, summarize(samples, config.batch), samples))
    return result
