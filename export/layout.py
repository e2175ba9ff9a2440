"""NHWC or NCHW input? Export both, count Transposes, time them side by side.

``edgeimg export MODEL.keras --compare-layouts`` runs this; the default layout of
:class:`~edgeimg.export.onnx_export.ExportOptions` was chosen with it.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeimg.export.latency import Deployment, Latency, interleaved_latency
from edgeimg.export.onnx_export import DEFAULT_OPSET, ExportOptions, export_keras
from edgeimg.runtime.contract import Layout
from edgeimg.runtime.tasks import get_task


@dataclass(frozen=True)
class LayoutResult:
    """One layout's graph size and latency (batch 1, onnxruntime CPU)."""

    layout: Layout
    nodes: int
    transposes: int
    latency: Latency


def compare_layouts(
    keras_path: str | Path,
    image_bgr: np.ndarray,
    rounds: int = 200,
    threads: int | None = None,
    opset: int = DEFAULT_OPSET,
) -> tuple[LayoutResult, LayoutResult]:
    """(NHWC, NCHW) exports of ``keras_path`` timed on the same frame, interleaved.

    image_bgr: (H, W, 3) uint8 BGR, prepared for each model as the runtime would.
    """
    layouts = (Layout.NHWC, Layout.NCHW)
    with tempfile.TemporaryDirectory(prefix="edgeimg-layout-") as work:
        results = [
            export_keras(
                keras_path, Path(work) / f"{layout.value}.onnx", ExportOptions(layout, opset)
            )
            for layout in layouts
        ]
        samples = tuple(
            get_task(r.contract.task).prepare(image_bgr, r.contract)[0] for r in results
        )
        timings = interleaved_latency(
            (results[0].path, results[1].path),
            samples,
            rounds=rounds,
            deployments=(Deployment(threads=threads), Deployment(threads=threads)),
        )
    return tuple(  # type: ignore[return-value]
        LayoutResult(layout, r.stats.nodes, r.stats.transposes, t)
        for layout, r, t in zip(layouts, results, timings, strict=True)
    )
