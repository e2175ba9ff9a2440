"""Latency of two ONNX models measured side by side, interleaved in one run (onnxruntime CPU)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

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
) -> tuple[Latency, Latency]:
    """Median and p90 latency of two models, measured alternately in one run.

    samples: one prepared input (1, ...) per model (the same frame, in each model's layout).
    Each round runs both models, swapping which goes first, so drift in machine load hits
    both equally.
    """
    import onnxruntime as ort

    if rounds < 1:
        raise EdgeimgError(f"latency rounds: expected >= 1, got {rounds}")
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    sessions = [
        ort.InferenceSession(str(p), options, providers=["CPUExecutionProvider"]) for p in paths
    ]
    feeds = [{s.get_inputs()[0].name: x} for s, x in zip(sessions, samples, strict=True)]
    for _ in range(warmup):
        for session, feed in zip(sessions, feeds, strict=True):
            session.run(None, feed)
    times: list[list[float]] = [[], []]
    for r in range(rounds):
        for k in (0, 1) if r % 2 == 0 else (1, 0):
            start = time.perf_counter()
            sessions[k].run(None, feeds[k])
            times[k].append((time.perf_counter() - start) * 1e3)
    first, second = (
        Latency(float(np.median(t)), float(np.percentile(t, 90)), len(t)) for t in times
    )
    return first, second
