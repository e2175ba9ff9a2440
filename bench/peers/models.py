"""The model peers: one Keras model run by Keras, LiteRT, onnxruntime, edgeimg and OpenCV dnn.

All rows are timed in one interleaved run on the same held-out input (batch 1), and each row
carries its accuracy on the held-out set, so speed is never reported apart from correctness.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgeimg.bench.backends import Unsupported
from edgeimg.bench.harness import RunPlan, measure_interleaved
from edgeimg.bench.peers import accuracy
from edgeimg.bench.peers.runners import (
    EdgeimgRunner,
    KerasRunner,
    LiteRTRunner,
    OpenCVRunner,
    OrtRunner,
    PeerSpec,
    Runner,
    TimedCall,
)
from edgeimg.bench.stats import LatencyStats, summarize
from edgeimg.runtime.contract import ModelContract
from edgeimg.runtime.errors import EdgeimgError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelFiles:
    keras: Path
    onnx: Path | None = None
    int8: Path | None = None


@dataclass(frozen=True)
class PeerRow:
    spec: PeerSpec
    stats: LatencyStats | None
    latencies_s: np.ndarray | None
    accuracy: float | None
    skipped: str = ""

    @property
    def is_edgeimg(self) -> bool:
        return self.spec.engine in ("onnxruntime", "edgeimg runtime")


@dataclass
class PeersResult:
    metric: str  # "top-1", "AP@0.5" or "mIoU"
    samples: int
    rows: list[PeerRow] = field(default_factory=list)

    def reference(self, engine: str, precision: str) -> PeerRow | None:
        """The fastest timed row of ``engine`` at ``precision`` (e.g. litert int8)."""
        timed = [
            r
            for r in self.rows
            if r.spec.engine == engine and r.spec.precision == precision and r.stats is not None
        ]
        return min(timed, key=lambda r: r.stats.p50_ms) if timed else None

    def edgeimg_best(self) -> PeerRow | None:
        timed = [r for r in self.rows if r.is_edgeimg and r.stats is not None]
        return min(timed, key=lambda r: r.stats.p50_ms) if timed else None


def build_runners(
    model: Any,
    contract: ModelContract,
    files: ModelFiles,
    threads: int,
    calibration: np.ndarray,
    io_binding: bool = True,
) -> tuple[list[Runner], list[PeerRow]]:
    """Every peer that can run here; the others as skipped rows naming why."""
    names = contract.output_names
    builders: list[tuple[PeerSpec, Callable[[], Runner]]] = [
        (PeerSpec("keras/tensorflow", "fp32", threads), lambda: KerasRunner(model, names, threads)),
    ]

    def litert(precision: str, calib: np.ndarray | None) -> Callable[[], Runner]:
        def make() -> Runner:
            from edgeimg.bench.peers.litert import convert, signature_names

            mapping = signature_names(model, contract)
            return LiteRTRunner(convert(model, calib), mapping, names, threads, precision)

        return make

    builders.append((PeerSpec("litert", "fp32", threads), litert("fp32", None)))
    builders.append((PeerSpec("litert", "int8", threads), litert("int8", calibration)))
    for precision, path in (("fp32", files.onnx), ("int8", files.int8)):
        if path is None:
            continue
        p = path
        builders.append(
            (
                PeerSpec("onnxruntime", precision, threads),
                lambda p=p, q=precision: OrtRunner(p, threads, q),
            )
        )
        if io_binding:
            builders.append(
                (
                    PeerSpec("onnxruntime", precision, threads),
                    lambda p=p, q=precision: OrtRunner(p, threads, q, io_binding=True),
                )
            )
        builders.append(
            (
                PeerSpec("edgeimg runtime", precision, threads),
                lambda p=p, q=precision: EdgeimgRunner(p, threads, q),
            )
        )
        for backend in ("opencv", "openvino"):
            builders.append(
                (
                    PeerSpec("edgeimg runtime", precision, threads, f"backend {backend}"),
                    lambda p=p, q=precision, b=backend: EdgeimgRunner(p, threads, q, backend=b),
                )
            )
        builders.append(
            (
                PeerSpec("opencv dnn", precision, threads),
                lambda p=p, q=precision: OpenCVRunner(p, threads, q, names),
            )
        )
    runners, skipped = [], []
    for spec, make in builders:
        try:
            runners.append(make())
        except (Unsupported, EdgeimgError) as exc:  # e.g. an optional backend not installed
            skipped.append(PeerRow(spec, None, None, None, str(exc)))
        except ModuleNotFoundError as exc:
            skipped.append(PeerRow(spec, None, None, None, f"{exc.name} is not installed"))
        except Exception as exc:  # a peer that breaks is a row of the report, never the run's end
            log.debug("peer %s failed", spec.label, exc_info=True)
            skipped.append(PeerRow(spec, None, None, None, f"failed: {type(exc).__name__}: {exc}"))
    return runners, skipped


# The accuracy each task's peers are compared on: (name, runner x held-out data -> score).
METRICS: dict[str, tuple[str, Callable[[Runner, accuracy.HeldOut, ModelContract], float]]] = {
    "classify": ("top-1", lambda runner, data, contract: accuracy.top1(runner, data)),
    "detect": ("AP@0.5", accuracy.detection_ap50),
    "segment": ("mIoU", accuracy.segmentation_miou),
}


def metric_for(contract: ModelContract) -> tuple[str, Callable[..., float]]:
    if contract.task not in METRICS:
        raise EdgeimgError(f"peers compare {', '.join(METRICS)} models, got task {contract.task}")
    return METRICS[contract.task]


def evaluate(runner: Runner, data: accuracy.HeldOut, contract: ModelContract) -> float:
    return metric_for(contract)[1](runner, data, contract)


def run_peers(
    runners: list[Runner],
    skipped: list[PeerRow],
    data: accuracy.HeldOut,
    contract: ModelContract,
    plan: RunPlan,
    progress: Callable[[str], None] = log.info,
) -> PeersResult:
    """Accuracy of every runner on ``data``, then all of them timed interleaved on one input."""
    metric = metric_for(contract)[0]
    result = PeersResult(metric, len(data.tensors))
    working: list[tuple[Runner, float]] = []
    for runner in runners:
        progress(
            f"accuracy of {runner.spec.label} ({runner.spec.note}) on {len(data.tensors)} held-out images"
        )
        try:
            working.append((runner, evaluate(runner, data, contract)))
        except Unsupported as exc:
            skipped.append(PeerRow(runner.spec, None, None, None, str(exc)))
        except Exception as exc:  # a peer's failure is a row of the report, never the run's end
            log.debug("peer %s failed", runner.spec.label, exc_info=True)
            skipped.append(
                PeerRow(runner.spec, None, None, None, f"failed: {type(exc).__name__}: {exc}")
            )
    sample = data.tensors[:1]
    calls = [TimedCall(r, r.prepare(sample)) for r, _ in working]
    progress(f"timing {len(calls)} peers interleaved, {plan.rounds} rounds")
    samples = measure_interleaved(calls, plan) if calls else []
    for (runner, acc), latencies in zip(working, samples, strict=True):
        result.rows.append(PeerRow(runner.spec, summarize(latencies), latencies, acc))
    result.rows.extend(skipped)
    return result
