"""Bench output: terminal tables, JSON for machines, PNG plots of latency distributions.

Files are written to a temporary file in the same folder and moved into place, so a failed
run never leaves a half-written report.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from edgeimg.bench.model import MatrixResult
from edgeimg.runtime.atomic import atomic_output


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table; floats are printed with 3 significant decimals."""

    def cell(value: object) -> str:
        if isinstance(value, float):
            if math.isnan(value):
                return "-"
            return f"{value:.3f}" if abs(value) < 1000 else f"{value:.0f}"
        return str(value)

    text = [[cell(v) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in text]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for row in text:
        lines.append(
            "  ".join(
                v.rjust(w) if i else v.ljust(w)
                for i, (v, w) in enumerate(zip(row, widths, strict=True))
            )
        )
    return "\n".join(lines)


MATRIX_HEADERS = ("configuration", "min", "mean", "p50", "p90", "p99", "max", "items/s", "x best")


def matrix_table(result: MatrixResult) -> str:
    """Latencies in ms per configuration; ``x best`` is p50 over the best p50 at that batch."""
    rows = []
    for row in result.rows:
        best = result.best(row.config.batch)
        s = row.stats
        ratio = s.p50_ms / best.stats.p50_ms if best is not None else float("nan")
        rows.append(
            (
                row.config.label,
                s.min_ms,
                s.mean_ms,
                s.p50_ms,
                s.p90_ms,
                s.p99_ms,
                s.max_ms,
                s.throughput,
                ratio,
            )
        )
    text = format_table(MATRIX_HEADERS, rows)
    if result.skipped:
        text += "\n" + "\n".join(f"skipped {s.label}: {s.reason}" for s in result.skipped)
    return text


def matrix_payload(result: MatrixResult) -> dict[str, object]:
    """JSON-ready rows: each configuration's settings and statistics (ms)."""
    rows = []
    for row in result.rows:
        c = row.config
        rows.append(
            {
                "label": c.label,
                "backend": c.backend.value,
                "precision": c.precision.value,
                "model": str(c.model_path),
                "threads": c.threads,
                "batch": c.batch,
                "provider": c.provider,
                "io_binding": c.io_binding,
                "spinning": c.spinning,
                "graph_optimization": c.graph_optimization.value,
                **row.stats.to_dict(),
            }
        )
    return {
        "rows": rows,
        "skipped": [{"label": s.label, "reason": s.reason} for s in result.skipped],
    }


def write_atomic(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path, "report") as tmp:
        tmp.write_bytes(data)


def write_json(path: Path, payload: object) -> None:
    write_atomic(path, (json.dumps(payload, indent=2, default=_jsonable) + "\n").encode())


def _jsonable(value: object) -> object:
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def plot_distributions(
    series: Sequence[tuple[str, np.ndarray]], path: Path, title: str, unit: str = "ms"
) -> None:
    """One horizontal box plot per (label, values) with outliers; log scale when values span 10x."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    if not series:
        raise ValueError("plot_distributions: expected at least one series, got none")
    labels = [label for label, _ in series]
    values = [np.asarray(v, dtype=np.float64) for _, v in series]
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(series) + 1.6))
    ax.boxplot(values, vert=False, whis=(1, 99), showfliers=True, flierprops={"markersize": 2})
    ax.set_yticks(range(1, len(labels) + 1), labels)
    ax.invert_yaxis()
    lo = min(float(v.min()) for v in values if v.size)
    hi = max(float(v.max()) for v in values if v.size)
    if lo > 0 and hi / lo > 10:
        ax.set_xscale("log")
    ax.set_xlabel(f"latency ({unit}); whiskers p1-p99")
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    save_figure(fig, path)


def save_figure(fig: object, path: Path) -> None:
    """Save a matplotlib figure as PNG through a temporary file, and close it."""
    from matplotlib import pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_output(path, "plot") as tmp:
            fig.tight_layout()  # type: ignore[attr-defined]
            fig.savefig(tmp, dpi=110, format="png")  # type: ignore[attr-defined]
    finally:
        plt.close(fig)  # type: ignore[arg-type]


def plot_matrix(result: MatrixResult, path: Path, title: str) -> None:
    plot_distributions([(r.config.label, r.latencies_s * 1e3) for r in result.rows], path, title)
