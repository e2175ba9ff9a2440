"""Interleaved timing of several workloads, so that machine drift hits every one alike.

A workload is one configuration to time (a backend, precision, thread count, batch ...).
After each workload's warm-up, the measured calls are split into rounds; every round visits
all workloads once, starting from a different one each round (round-robin with rotation), so a
noisy neighbour or a clock change spreads over all rows instead of landing on one.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np


class Workload(Protocol):
    """One configuration to time. ``activate`` runs before each block of calls (untimed)."""

    def activate(self) -> None: ...

    def __call__(self) -> object: ...


@dataclass(frozen=True)
class RunPlan:
    """How much to run each workload.

    warmup: untimed calls per workload before measuring.
    iterations: timed calls per workload, or None to run for ``duration_s`` instead.
    duration_s: timed seconds per workload (used when iterations is None).
    rounds: number of interleaving rounds the measurement is split into.
    """

    warmup: int = 20
    iterations: int | None = 200
    duration_s: float = 5.0
    rounds: int = 10

    def __post_init__(self) -> None:
        if self.warmup < 0:
            raise ValueError(f"RunPlan.warmup: expected >= 0, got {self.warmup}")
        if self.iterations is not None and self.iterations < 1:
            raise ValueError(f"RunPlan.iterations: expected >= 1 or None, got {self.iterations}")
        if self.iterations is None and self.duration_s <= 0:
            raise ValueError(f"RunPlan.duration_s: expected > 0, got {self.duration_s}")
        if self.rounds < 1:
            raise ValueError(f"RunPlan.rounds: expected >= 1, got {self.rounds}")


def time_calls(workload: Workload, count: int | None, seconds: float | None) -> list[float]:
    """Latencies (seconds) of ``count`` calls, or of as many calls as fit in ``seconds``."""
    clock = time.perf_counter
    out: list[float] = []
    if count is not None:
        for _ in range(count):
            start = clock()
            workload()
            out.append(clock() - start)
        return out
    deadline = clock() + (seconds or 0.0)
    while True:
        start = clock()
        workload()
        end = clock()
        out.append(end - start)
        if end >= deadline:
            return out


def measure_interleaved(workloads: Sequence[Workload], plan: RunPlan) -> list[np.ndarray]:
    """Per-call latencies in seconds, one (N_i,) float64 array per workload, in input order."""
    n = len(workloads)
    samples: list[list[float]] = [[] for _ in range(n)]
    for workload in workloads:
        workload.activate()
        time_calls(workload, plan.warmup, None)
    for round_index in range(plan.rounds):
        for offset in range(n):
            i = (round_index + offset) % n
            workloads[i].activate()
            if plan.iterations is not None:
                share = plan.iterations // plan.rounds + (
                    round_index < plan.iterations % plan.rounds
                )
                if share:
                    samples[i].extend(time_calls(workloads[i], share, None))
            else:
                samples[i].extend(time_calls(workloads[i], None, plan.duration_s / plan.rounds))
    return [np.asarray(s, dtype=np.float64) for s in samples]
