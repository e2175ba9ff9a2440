"""The parity gate: the exported ONNX model must give Keras's answers on real inputs.

Both models run on the same prepared frames (the runtime's preprocessing). Each output is
compared elementwise with ``|onnx - keras| <= atol + rtol * |keras|`` (numpy's ``allclose``),
and the task's own answer is compared too: top-1 class for classifiers; for detectors both
outputs are decoded with the runtime's decoder and the boxes matched (same class, IoU >= 0.5),
with the score difference of matched boxes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from edgeimg.runtime.boxes import iou_matrix
from edgeimg.runtime.contract import Layout, ModelContract, Task
from edgeimg.runtime.detections import Detections
from edgeimg.runtime.errors import EdgeimgError
from edgeimg.runtime.preprocess import Transform

if TYPE_CHECKING:
    import keras

log = logging.getLogger(__name__)

# (outputs of one image in output_names order, transform) -> Detections
Decode = Callable[[Sequence[np.ndarray], Transform], Detections]

MATCH_IOU = 0.5
# Detectors are compared on boxes down to this score (below the runtime's usual 0.1), so that
# even a barely trained model has boxes to match.
PARITY_SCORE_THRESHOLD = 0.05
BATCH = 16


class ParityError(EdgeimgError):
    """The exported model does not agree with the Keras model."""


@dataclass(frozen=True)
class Tolerance:
    """Limits of the gate.

    atol, rtol: per element, ``|onnx - keras| <= atol + rtol * |keras|``.
    min_agreement: the least fraction of images (classifiers: same top-1) or of boxes
        (detectors: matched) that must agree. max_score_diff: detectors, matched boxes.
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
    """Result of the gate on ``images`` inputs.

    agreement: fraction of images with the same top-1 (classify) or of boxes matched
    (detect). score_diff: detectors, largest score difference of matched boxes.
    """

    task: Task
    images: int
    outputs: tuple[OutputDiff, ...]
    agreement: float
    boxes: int
    score_diff: float
    tolerance: Tolerance

    @property
    def passed(self) -> bool:
        task_ok = self.agreement >= self.tolerance.min_agreement
        if self.task is Task.DETECT:
            task_ok = task_ok and self.score_diff <= self.tolerance.max_score_diff
        return task_ok and all(o.passed for o in self.outputs)

    def summary(self) -> str:
        """One line per output plus the task's agreement, for logs and errors."""
        tol = self.tolerance
        lines = [
            f"parity on {self.images} images (atol {tol.atol:g}, rtol {tol.rtol:g}): "
            + ("passed" if self.passed else "FAILED")
        ]
        for out in self.outputs:
            lines.append(
                f"  {out.name}: max abs diff {out.max_abs:.3g}, max rel diff {out.max_rel:.3g}"
                f" {'ok' if out.passed else 'OUT OF TOLERANCE'}"
            )
        if self.task is Task.DETECT:
            lines.append(
                f"  boxes matched {self.agreement:.2%} of {self.boxes} (min "
                f"{tol.min_agreement:.0%}), max score diff {self.score_diff:.3g} "
                f"(max {tol.max_score_diff:g})"
            )
        else:
            lines.append(f"  top-1 agreement {self.agreement:.2%} (min {tol.min_agreement:.0%})")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, object]:
        return {
            "passed": self.passed,
            "images": self.images,
            "outputs": {
                o.name: {"max_abs": o.max_abs, "max_rel": o.max_rel, "passed": o.passed}
                for o in self.outputs
            },
            "agreement": self.agreement,
            "boxes": self.boxes,
            "score_diff": self.score_diff,
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


def top1_agreement(got: np.ndarray, ref: np.ndarray) -> float:
    """Fraction of rows of (N, C) scores with the same argmax."""
    return float(np.mean(got.argmax(axis=-1) == ref.argmax(axis=-1))) if len(ref) else 1.0


def match_detections(got: Detections, ref: Detections) -> tuple[int, int, float]:
    """(matched, total, max score diff): greedy same-class matching at IoU >= 0.5.

    total is the larger of the two counts, so a box found by one model only counts against
    agreement either way.
    """
    total = max(len(got), len(ref))
    if not len(got) or not len(ref):
        return 0, total, 0.0
    iou = iou_matrix(ref.xyxy, got.xyxy)
    iou[ref.class_id[:, None] != got.class_id[None, :]] = 0.0
    matched, worst = 0, 0.0
    for i in np.argsort(-ref.confidence):
        j = int(iou[i].argmax())
        if iou[i, j] >= MATCH_IOU:
            matched += 1
            worst = max(worst, abs(float(got.confidence[j]) - float(ref.confidence[i])))
            iou[:, j] = 0.0
    return matched, total, worst


def run_keras(
    model: keras.Model, batch_nhwc: np.ndarray, contract: ModelContract
) -> list[np.ndarray]:
    """Keras outputs in ``contract.output_names`` order for a (N, H, W, C) float32 batch."""
    from edgeimg.export.onnx_export import call_model

    chunks: list[list[np.ndarray]] = []
    for start in range(0, len(batch_nhwc), BATCH):
        outputs = call_model(model, batch_nhwc[start : start + BATCH], contract)
        chunks.append([np.asarray(outputs[name]) for name in contract.output_names])
    return [np.concatenate(parts) for parts in zip(*chunks, strict=True)]


def run_onnx(
    onnx_path: str | Path, batch: np.ndarray, output_names: Sequence[str]
) -> list[np.ndarray]:
    """onnxruntime (CPU) outputs named ``output_names`` for a batch in the model's layout."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    chunks = [
        session.run(list(output_names), {name: batch[start : start + BATCH]})
        for start in range(0, len(batch), BATCH)
    ]
    return [np.concatenate(parts) for parts in zip(*chunks, strict=True)]


def check_parity(
    model: keras.Model,
    onnx_path: str | Path,
    contract: ModelContract,
    batch: np.ndarray,
    tolerance: Tolerance | None = None,
    decode: Decode | None = None,
) -> ParityReport:
    """Compare Keras and the ONNX file on ``batch`` (prepared per ``contract``, ONNX layout).

    model: the Keras model, outputs in ``contract.output_names`` order. decode: detectors, the
    runtime's decoder (default: the one ``contract.decoder`` names, scores down to 0.05).
    """
    tolerance = tolerance or Tolerance()
    batch_nhwc = batch.transpose(0, 2, 3, 1) if contract.layout is Layout.NCHW else batch
    ref = run_keras(model, np.ascontiguousarray(batch_nhwc), contract)
    got = run_onnx(onnx_path, batch, contract.output_names)
    diffs = tuple(
        compare_output(name, g, r, tolerance)
        for name, g, r in zip(contract.output_names, got, ref, strict=True)
    )
    boxes, score_diff = 0, 0.0
    if contract.task is Task.DETECT:
        decode = decode or runtime_decoder(contract, PARITY_SCORE_THRESHOLD)
        identity = Transform.identity(contract.input_size)
        matched = 0
        for i in range(len(batch)):
            one = decode([o[i : i + 1] for o in got], identity)
            reference = decode([o[i : i + 1] for o in ref], identity)
            m, total, worst = match_detections(one, reference)
            matched, boxes, score_diff = matched + m, boxes + total, max(score_diff, worst)
        agreement = matched / boxes if boxes else 1.0
    else:
        agreement = top1_agreement(got[0], ref[0])
    report = ParityReport(contract.task, len(batch), diffs, agreement, boxes, score_diff, tolerance)
    log.debug("%s", report.summary())
    return report


def runtime_decoder(contract: ModelContract, score_threshold: float | None = None) -> Decode:
    """The decoder the runtime uses for this contract (optionally with another threshold)."""
    from edgeimg.runtime.decoders import create_decoder

    if score_threshold is not None:
        params = {**contract.decoder_params, "score_threshold": score_threshold}
        contract = replace(contract, decoder_params=params)
    return create_decoder(contract)
