"""Latency of two ONNX models measured side by side, interleaved in one run.

Both models run on the runtime's own backend (:func:`edgeimg.runtime.backends.create_backend`,
CPU; onnxruntime unless the caller deploys another), with the session options the runtime
deploys (graph optimisation ALL, no spinning between runs), so the numbers are those a device
would see.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeimg.runtime.backends import create_backend
from edgeimg.runtime.errors import EdgeimgError


@dataclass(frozen=True)
class Latency:
    """Per-inference latency of one model (batch 1), milliseconds."""

    median_ms: float
    p90_ms: float
    runs: int


def interleaved_latency(
    paths: tuple[Path, Path],
    samples: tuple[np.ndarray, np.ndarray],
    rounds: int = 200,
    warmup: int = 20,
    threads: int | None = None,
    backend: str = "onnxruntime",
) -> tuple[Latency, Latency]:
    """Median and p90 latency of two models, measured alternately in one run.

    samples: one prepared input (1, ...) per model (the same frame, in each model's layout).
    Each round runs both models, swapping which goes first, so drift in machine load hits
    both equally.
    """
    if rounds < 1:
        raise EdgeimgError(f"latency rounds: expected >= 1, got {rounds}")
    backends = [create_backend(p, backend, threads=threads) for p in paths]
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
