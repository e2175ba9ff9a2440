"""The quantization report: is the quantized model really faster, and not really worse?

Latency of both models is measured side by side in one run, interleaved (FP32, INT8, INT8,
FP32, ...), so that the load of a shared machine affects both alike; accuracy is the task's
metric on held-out data; per-tensor errors come from onnxruntime's ``qdq_loss_debug``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgeimg.export.evaluation import Evaluator, backend_infer
from edgeimg.export.latency import (
    AUTO,
    Deployment,
    Latency,
    fastest_deployments,
    interleaved_latency,
)
from edgeimg.export.quantize import QuantizeResult
from edgeimg.runtime.atomic import write_text
from edgeimg.runtime.errors import EdgeimgError


class GateFailed(EdgeimgError):
    """The quantized model is slower than FP32 or loses more accuracy than the budget."""

    exit_code = 1


@dataclass(frozen=True)
class Budget:
    """What the quantized model may cost: accuracy points (percentage points of the metric)
    and latency (quantized / float; 1.0 = must not be slower)."""

    max_accuracy_drop: float = 1.0
    max_latency_ratio: float = 1.0

    def __post_init__(self) -> None:
        if self.max_accuracy_drop < 0 or self.max_latency_ratio <= 0:
            raise EdgeimgError(
                f"budget: expected accuracy drop >= 0 and latency ratio > 0, got {self}"
            )


@dataclass(frozen=True)
class QuantReport:
    """FP32 vs quantized: sizes, latency, accuracy, worst tensors, and the verdict."""

    float_path: str
    quant_path: str
    float_bytes: int
    quant_bytes: int
    float_latency: Latency
    quant_latency: Latency
    metric: str | None
    float_score: float | None
    quant_score: float | None
    scheme: str
    method: str
    float_nodes: tuple[str, ...]
    worst_tensors: tuple[tuple[str, float], ...]
    budget: Budget
    float_on: Deployment = field(default_factory=Deployment)
    quant_on: Deployment = field(default_factory=Deployment)
    lower_is_better: bool = False
    backend: str = "onnxruntime"  # as asked: a backend's name or "auto"

    @property
    def latency_ratio(self) -> float:
        return self.quant_latency.median_ms / self.float_latency.median_ms

    @property
    def accuracy_drop(self) -> float | None:
        if self.float_score is None or self.quant_score is None:
            return None
        drop = self.float_score - self.quant_score
        return -drop if self.lower_is_better else drop

    def problems(self) -> list[str]:
        """Why the quantized model should not be used (empty: it passes)."""
        found = []
        if self.latency_ratio > self.budget.max_latency_ratio:
            found.append(
                f"INT8 is SLOWER than FP32: {self.quant_latency.median_ms:.2f} ms vs "
                f"{self.float_latency.median_ms:.2f} ms (ratio {self.latency_ratio:.2f}, "
                f"limit {self.budget.max_latency_ratio:.2f})"
            )
        drop = self.accuracy_drop
        if drop is not None and drop > self.budget.max_accuracy_drop:
            found.append(
                f"INT8 LOSES {drop:.2f} points of {self.metric} "
                f"({self.float_score:.2f} -> {self.quant_score:.2f}, budget "
                f"{self.budget.max_accuracy_drop:g})"
            )
        return found

    @property
    def passed(self) -> bool:
        return not self.problems()

    def to_dict(self) -> dict[str, object]:
        return {
            "passed": self.passed,
            "problems": self.problems(),
            "float": {
                "path": self.float_path,
                "bytes": self.float_bytes,
                "latency_ms": vars(self.float_latency),
                "score": self.float_score,
                "deployed_on": vars(self.float_on),
            },
            "quantized": {
                "path": self.quant_path,
                "bytes": self.quant_bytes,
                "latency_ms": vars(self.quant_latency),
                "score": self.quant_score,
                "deployed_on": vars(self.quant_on),
            },
            "metric": self.metric,
            "accuracy_drop_points": self.accuracy_drop,
            "latency_ratio": self.latency_ratio,
            "size_ratio": self.quant_bytes / self.float_bytes,
            "scheme": self.scheme,
            "calibration_method": self.method,
            "float_nodes": list(self.float_nodes),
            "worst_tensors_sqnr_db": [{"tensor": n, "sqnr_db": v} for n, v in self.worst_tensors],
            "budget": vars(self.budget),
            "backend": self.backend,
        }

    def deployed_on(self) -> str:
        """Where both models were timed and scored, in words."""
        if self.backend != AUTO:
            return self.float_on.describe()
        return (
            "the fastest measured here for each, as --backend auto runs them: "
            f"FP32 on {self.float_on.describe()}; INT8 on {self.quant_on.describe()}"
        )

    def write_json(self, path: str | Path) -> None:
        write_text(path, json.dumps(self.to_dict(), indent=2) + "\n", "quantization report")

    def table(self) -> str:
        """A readable summary for the terminal."""

        def score(value: float | None) -> str:
            return "-" if value is None else f"{value:.2f}"

        rows = [
            ("", "FP32", "INT8", "INT8/FP32"),
            (
                "size",
                f"{self.float_bytes / 1e6:.2f} MB",
                f"{self.quant_bytes / 1e6:.2f} MB",
                f"{self.quant_bytes / self.float_bytes:.2f}",
            ),
            (
                "latency median",
                f"{self.float_latency.median_ms:.2f} ms",
                f"{self.quant_latency.median_ms:.2f} ms",
                f"{self.latency_ratio:.2f}",
            ),
            (
                "latency p90",
                f"{self.float_latency.p90_ms:.2f} ms",
                f"{self.quant_latency.p90_ms:.2f} ms",
                f"{self.quant_latency.p90_ms / self.float_latency.p90_ms:.2f}",
            ),
        ]
        if self.metric is not None:
            drop = self.accuracy_drop
            rows.append(
                (
                    self.metric,
                    score(self.float_score),
                    score(self.quant_score),
                    "-"
                    if drop is None
                    else f"{-drop:+.2f} pts"
                    if not self.lower_is_better
                    else f"{drop:+.2f} (lower is better)",
                )
            )
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        lines = [
            "  ".join(
                cell.rjust(w) if i else cell.ljust(w)
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            )
            for row in rows
        ]
        lines.append(
            f"scheme {self.scheme}, {self.method} calibration, "
            f"{len(self.float_nodes)} nodes kept in float, timed and scored on "
            + self.deployed_on()
        )
        if self.worst_tensors:
            lines.append("largest per-tensor errors (SQNR, lower is worse):")
            lines.extend(f"  {value:7.1f} dB  {name}" for name, value in self.worst_tensors)
        problems = self.problems()
        lines.extend(f"!! {p}" for p in problems)
        lines.append("verdict: " + ("FAILED" if problems else "ok"))
        return "\n".join(lines)


def compare(
    float_path: Path,
    result: QuantizeResult,
    sample: np.ndarray,
    output_names: tuple[str, ...],
    evaluator: Evaluator | None = None,
    budget: Budget | None = None,
    rounds: int = 200,
    threads: int | None = None,
    worst: int = 8,
    quant_label: str | None = None,
    backend: str = "onnxruntime",
) -> QuantReport:
    """Measure the float model and the quantized one (``result.path``) side by side.

    sample: one prepared input (1, ...) for latency. quant_label: the path to report for the
    quantized model when ``result.path`` is a temporary file. backend: the runtime backend
    both models are timed and scored on (the one that will run them), with ``threads``;
    ``auto``: each model where ``--backend auto`` would run it, the fastest backend x threads
    (``threads`` given: that count) measured here for it.
    """
    budget = budget or Budget()
    if backend == AUTO:
        float_on, quant_on = fastest_deployments(float_path, result.path, sample, threads)
    else:
        float_on = quant_on = Deployment(backend, threads)
    float_latency, quant_latency = interleaved_latency(
        (float_path, result.path), (sample, sample), rounds, deployments=(float_on, quant_on)
    )
    float_score = quant_score = None
    metric = None
    if evaluator is not None:
        metric = evaluator.metric
        float_score = evaluator(
            backend_infer(float_path, output_names, float_on.threads, float_on.backend)
        )
        quant_score = evaluator(
            backend_infer(result.path, output_names, quant_on.threads, quant_on.backend)
        )
    return QuantReport(
        float_path=str(float_path),
        quant_path=quant_label or str(result.path),
        float_bytes=float_path.stat().st_size,
        quant_bytes=result.path.stat().st_size,
        float_latency=float_latency,
        quant_latency=quant_latency,
        metric=metric,
        float_score=float_score,
        quant_score=quant_score,
        scheme=result.scheme.label,
        method=result.method,
        float_nodes=result.excluded,
        worst_tensors=tuple((e.name, e.sqnr_db) for e in result.tensor_errors[:worst]),
        budget=budget,
        float_on=float_on,
        quant_on=quant_on,
        lower_is_better=bool(getattr(evaluator, "lower_is_better", False)),
        backend=backend,
    )
