"""Latency statistics and the interleaved scheduler."""

from __future__ import annotations

import numpy as np
import pytest

from edgeimg.bench.harness import RunPlan, measure_interleaved
from edgeimg.bench.stats import summarize


def test_summary_reports_percentiles_in_ms_and_items_per_second():
    latencies = np.arange(1, 101) / 1000.0  # 1 .. 100 ms
    stats = summarize(latencies, batch=4)
    assert stats.count == 100
    assert stats.min_ms == pytest.approx(1.0)
    assert stats.max_ms == pytest.approx(100.0)
    assert stats.mean_ms == pytest.approx(50.5)
    assert stats.p50_ms == pytest.approx(50.5)
    assert stats.p90_ms == pytest.approx(90.1)
    assert stats.p99_ms == pytest.approx(99.01)
    assert stats.throughput == pytest.approx(4 * 100 / latencies.sum())


def test_summary_rejects_no_samples():
    with pytest.raises(ValueError, match="at least one"):
        summarize(np.array([]))


class Recorder:
    """A workload that records who ran, in what order, and whether it was activated first."""

    def __init__(self, name: str, log: list[str]) -> None:
        self.name, self.log = name, log

    def activate(self) -> None:
        self.log.append(f"activate {self.name}")

    def __call__(self) -> None:
        self.log.append(self.name)


def test_rounds_visit_every_workload_with_a_rotating_start():
    log: list[str] = []
    a, b, c = Recorder("a", log), Recorder("b", log), Recorder("c", log)
    samples = measure_interleaved([a, b, c], RunPlan(warmup=1, iterations=3, rounds=3))
    assert [len(s) for s in samples] == [3, 3, 3]
    calls = [entry for entry in log if not entry.startswith("activate")]
    assert calls[:3] == ["a", "b", "c"]  # warm-up, once each
    assert calls[3:] == ["a", "b", "c", "b", "c", "a", "c", "a", "b"]
    # every block of calls is preceded by its workload's activation (thread settings etc.)
    for i, entry in enumerate(log):
        if not entry.startswith("activate"):
            assert log[i - 1] in (f"activate {entry}", entry)


def test_duration_mode_times_until_the_share_of_each_round_is_spent():
    log: list[str] = []
    samples = measure_interleaved(
        [Recorder("a", log)], RunPlan(warmup=0, iterations=None, duration_s=0.02, rounds=2)
    )
    assert len(samples[0]) >= 2


def test_plan_rejects_nonsense():
    with pytest.raises(ValueError, match="rounds"):
        RunPlan(rounds=0)
    with pytest.raises(ValueError, match="iterations"):
        RunPlan(iterations=0)
