"""The parity gate: the exported ONNX model must give Keras's answers on real inputs.

Both models run on the same prepared frames (the runtime's preprocessing); the ONNX file runs
on the runtime's own onnxruntime backend. Each output is compared elementwise with
``|onnx - keras| <= atol + rtol * |keras|`` (numpy's ``allclose``), and the task's own answer
is compared too (the export task's ``agreement``: top-1 class for classifiers; for detectors
both outputs decoded with the runtime's decoder and the boxes matched, with the score
difference of matched boxes).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from edgeimg.export.keras_file import call_model
from edgeimg.export.tasks import Agreement, get_export_task
from edgeimg.runtime.backends import create_backend
from edgeimg.runtime.contract import Layout, ModelContract
from edgeimg.runtime.errors import EdgeimgError

if TYPE_CHECKING:
    import keras

log = logging.getLogger(__name__)

BATCH = 16


class ParityError(EdgeimgError):
    """The exported model does not agree with the Keras model; ``report`` says where."""

    def __init__(self, message: str, report: ParityReport | None = None) -> None:
        super().__init__(message)
        self.report = report


@dataclass(frozen=True)
class Tolerance:
    """Limits of the gate.

    atol, rtol: per element, ``|onnx - keras| <= atol + rtol * |keras|``.
    min_agreement: the least fraction of the task's items (images with the same top-1, boxes
        matched) that must agree. max_score_diff: the largest score difference of matched items
        (tasks that compare scores).
    """

    atol: float = 1e-4
    rtol: float = 1e-3
    min_agreement: float = 0.99
    max_score_diff: float = 1e-3

    def __post_init__(self) -> None:
        if min(self.atol, self.rtol, self.max_score_diff) < 0:
            raise EdgeimgError(f"parity tolerances must be >= 0, got {self}")
        if not 0 <= self.min_agreement <= 1:
            raise EdgeimgError(f"min_agreement: expected 0..1, got {self.min_agreement}")


@dataclass(frozen=True)
class OutputDiff:
    """Elementwise difference of one output over all images.

    max_rel is taken over elements with ``|keras| >= 1e-3`` (relative error of near-zero
    values says nothing); passed applies the tolerance to every element.
    """

    name: str
    max_abs: float
    max_rel: float
    passed: bool


@dataclass(frozen=True)
class ParityReport:
    """Result of the gate on ``images`` inputs: each output, and the task's agreement."""

    task: str
    images: int
    outputs: tuple[OutputDiff, ...]
    agreement: Agreement
    tolerance: Tolerance

    def problems(self) -> list[str]:
        """What failed (empty: the gate passed)."""
        tol, agreement = self.tolerance, self.agreement
        bad = [o.name for o in self.outputs if not o.passed]
        if agreement.fraction < tol.min_agreement:
            bad.append(f"{agreement.what} {agreement.fraction:.1%}")
        if agreement.score_diff is not None and agreement.score_diff > tol.max_score_diff:
            bad.append(f"score diff {agreement.score_diff:.3g}")
        return bad

    @property
    def passed(self) -> bool:
        return not self.problems()

    def summary(self) -> str:
        """One line per output plus the task's agreement, for logs and errors."""
        tol, agreement = self.tolerance, self.agreement
        lines = [
            f"parity on {self.images} images (atol {tol.atol:g}, rtol {tol.rtol:g}): "
            + ("passed" if self.passed else "FAILED")
        ]
        for out in self.outputs:
            lines.append(
                f"  {out.name}: max abs diff {out.max_abs:.3g}, max rel diff {out.max_rel:.3g}"
                f" {'ok' if out.passed else 'OUT OF TOLERANCE'}"
            )
        line = (
            f"  {agreement.what} {agreement.fraction:.2%} of {agreement.items} "
            f"(min {tol.min_agreement:.0%})"
        )
        if agreement.score_diff is not None:
            line += f", max score diff {agreement.score_diff:.3g} (max {tol.max_score_diff:g})"
        lines.append(line)
        return "\n".join(lines)

    def to_dict(self) -> dict[str, object]:
        return {
            "passed": self.passed,
            "task": self.task,
            "images": self.images,
            "outputs": {
                o.name: {"max_abs": o.max_abs, "max_rel": o.max_rel, "passed": o.passed}
                for o in self.outputs
            },
            "agreement": {
                "what": self.agreement.what,
                "fraction": self.agreement.fraction,
                "items": self.agreement.items,
                "score_diff": self.agreement.score_diff,
            },
            "tolerance": {
                "atol": self.tolerance.atol,
                "rtol": self.tolerance.rtol,
                "min_agreement": self.tolerance.min_agreement,
                "max_score_diff": self.tolerance.max_score_diff,
            },
        }


def compare_output(name: str, got: np.ndarray, ref: np.ndarray, tol: Tolerance) -> OutputDiff:
    """Elementwise difference of ``got`` (ONNX) against ``ref`` (Keras), same shape."""
    if got.shape != ref.shape:
        raise ParityError(f"output {name}: ONNX shape {got.shape} != Keras shape {ref.shape}")
    diff = np.abs(got.astype(np.float64) - ref.astype(np.float64))
    scale = np.abs(ref.astype(np.float64))
    significant = scale >= 1e-3
    max_rel = float((diff[significant] / scale[significant]).max()) if significant.any() else 0.0
    passed = bool(np.all(diff <= tol.atol + tol.rtol * scale)) and bool(np.isfinite(got).all())
    return OutputDiff(name, float(diff.max(initial=0.0)), max_rel, passed)


def run_keras(
    model: keras.Model, batch_nhwc: np.ndarray, contract: ModelContract
) -> dict[str, np.ndarray]:
    """Keras outputs by contract output name for a (N, H, W, C) float32 batch."""
    chunks: list[dict[str, object]] = [
        call_model(model, batch_nhwc[start : start + BATCH], contract)
        for start in range(0, len(batch_nhwc), BATCH)
    ]
    return {
        name: np.concatenate([np.asarray(c[name]) for c in chunks])
        for name in contract.output_names
    }


def run_onnx(
    onnx_path: str | Path, batch: np.ndarray, threads: int | None = None
) -> dict[str, np.ndarray]:
    """Every output by name for a batch in the model's layout, on the runtime's onnxruntime
    backend (CPU)."""
    backend = create_backend(onnx_path, "onnxruntime", threads=threads)
    name = backend.inputs[0].name
    chunks = [
        backend.run({name: batch[start : start + BATCH]}) for start in range(0, len(batch), BATCH)
    ]
    return {key: np.concatenate([c[key] for c in chunks]) for key in chunks[0]}


def check_parity(
    model: keras.Model,
    onnx_path: str | Path,
    contract: ModelContract,
    batch: np.ndarray,
    tolerance: Tolerance | None = None,
    threads: int | None = None,
) -> ParityReport:
    """Compare Keras and the ONNX file on ``batch`` (prepared per ``contract``, ONNX layout).

    model: the Keras model. The task-level comparison is the contract's export task's
    ``agreement``.
    """
    tolerance = tolerance or Tolerance()
    if len(batch) == 0:
        raise EdgeimgError("parity: expected at least one image, got none")
    nchw = contract.layout is Layout.NCHW and batch.ndim == 4
    batch_nhwc = batch.transpose(0, 2, 3, 1) if nchw else batch
    ref = run_keras(model, np.ascontiguousarray(batch_nhwc), contract)
    got = run_onnx(onnx_path, batch, threads)
    task = get_export_task(contract.task)
    per_element = replace(tolerance, atol=tolerance.atol * task.output_range)
    diffs = tuple(
        compare_output(name, got[name], ref[name], per_element) for name in contract.output_names
    )
    agreement = task.agreement(got, ref, contract)
    report = ParityReport(contract.task, len(batch), diffs, agreement, per_element)
    log.debug("%s", report.summary())
    return report
