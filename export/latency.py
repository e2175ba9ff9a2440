"""Latency of two ONNX models measured side by side, interleaved in one run.

Each model runs where it will be deployed (:class:`Deployment`: a runtime backend made by
:func:`edgeimg.runtime.backends.create_backend`, CPU, and its threads), with the session options
the runtime deploys (graph optimisation ALL, no spinning between runs), so the numbers are those
a device would see. :func:`fastest_deployments` finds, for an FP32 file and its INT8 copy,
where ``--backend auto`` would run each: measured the way the runtime's auto measures them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeimg.runtime.backends import create_backend, read_model_info
from edgeimg.runtime.backends.choose import FLOAT, INT8, candidates, measure
from edgeimg.runtime.errors import EdgeimgError

AUTO = "auto"


@dataclass(frozen=True)
class Latency:
    """Per-inference latency of one model (batch 1), milliseconds."""

    median_ms: float
    p90_ms: float
    runs: int


@dataclass(frozen=True)
class Deployment:
    """Where a model runs: a registered backend and its inference threads (None: the
    backend's default)."""

    backend: str = "onnxruntime"
    threads: int | None = None

    def describe(self) -> str:
        if not self.threads:
            return self.backend
        return f"{self.backend}, {self.threads} thread{'s' if self.threads > 1 else ''}"


def interleaved_latency(
    paths: tuple[Path, Path],
    samples: tuple[np.ndarray, np.ndarray],
    rounds: int = 200,
    warmup: int = 20,
    deployments: tuple[Deployment, Deployment] = (Deployment(), Deployment()),
) -> tuple[Latency, Latency]:
    """Median and p90 latency of two models, measured alternately in one run.

    samples: one prepared input (1, ...) per model (the same frame, in each model's layout).
    deployments: where each model runs. Each round runs both models, swapping which goes
    first, so drift in machine load hits both equally.
    """
    if rounds < 1:
        raise EdgeimgError(f"latency rounds: expected >= 1, got {rounds}")
    backends = [
        create_backend(p, d.backend, threads=d.threads)
        for p, d in zip(paths, deployments, strict=True)
    ]
    feeds = [{b.inputs[0].name: x} for b, x in zip(backends, samples, strict=True)]
    for _ in range(warmup):
        for backend, feed in zip(backends, feeds, strict=True):
            backend.run(feed)
    times: list[list[float]] = [[], []]
    for r in range(rounds):
        for k in (0, 1) if r % 2 == 0 else (1, 0):
            start = time.perf_counter()
            backends[k].run(feeds[k])
            times[k].append((time.perf_counter() - start) * 1e3)
    first, second = (
        Latency(float(np.median(t)), float(np.percentile(t, 90)), len(t)) for t in times
    )
    return first, second


def fastest_deployments(
    float_path: Path, quant_path: Path, sample: np.ndarray, threads: int | None = None
) -> tuple[Deployment, Deployment]:
    """Where ``--backend auto`` would run each file: every installed backend x thread count
    (``threads`` given: that count only) timed interleaved on ``sample`` (1, ...), as the
    runtime's auto measures them; the fastest FP32 and the fastest INT8 configuration.
    EdgeimgError, naming each failure, when one of the two runs nowhere."""
    options = candidates(None, [threads] if threads else None, (FLOAT, INT8))
    feeds = {read_model_info(float_path).inputs[0].name: sample}
    measured = measure(
        float_path, options, feeds=feeds, files={FLOAT: float_path, INT8: quant_path}
    )
    fastest: dict[str, Deployment] = {}
    for m in measured:  # the fastest first, failures last
        if m.milliseconds is not None:
            fastest.setdefault(
                m.candidate.precision, Deployment(m.candidate.backend, m.candidate.threads)
            )
    if len(fastest) < 2:
        reasons = "; ".join(f"{m.candidate.describe()}: {m.error}" for m in measured if m.error)
        raise EdgeimgError(f"--backend auto: no backend runs both models: {reasons}")
    return fastest[FLOAT], fastest[INT8]
