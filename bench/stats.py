"""Latency statistics: percentiles and throughput from per-call timings."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class LatencyStats:
    """Summary of N timed calls, each processing ``batch`` items. Times in milliseconds.

    throughput is items per second over the measured calls (``batch * count / sum(latency)``),
    so warm-up calls and time spent outside the timed call never inflate it.
    """

    count: int
    batch: int
    min_ms: float
    mean_ms: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    throughput: float

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def summarize(latencies_s: np.ndarray, batch: int = 1) -> LatencyStats:
    """Percentiles of ``latencies_s`` ((N,) float seconds, one entry per call of ``batch`` items)."""
    values = np.asarray(latencies_s, dtype=np.float64).reshape(-1)
    if values.size == 0:
        raise ValueError("summarize: expected at least one timed call, got none")
    if batch < 1:
        raise ValueError(f"summarize: expected batch >= 1, got {batch}")
    ms = values * 1e3
    p50, p90, p99 = np.percentile(ms, [50, 90, 99])
    total = float(values.sum())
    return LatencyStats(
        count=int(values.size),
        batch=batch,
        min_ms=float(ms.min()),
        mean_ms=float(ms.mean()),
        p50_ms=float(p50),
        p90_ms=float(p90),
        p99_ms=float(p99),
        max_ms=float(ms.max()),
        throughput=batch * values.size / total if total > 0 else float("inf"),
    )
