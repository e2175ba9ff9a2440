"""Export as one library call: Keras -> ONNX -> parity -> FP16 -> INT8 -> report.

:func:`export_model` is what ``edgeimg export`` runs and :func:`quantize_model` what
``edgeimg quantize`` runs; the CLI only parses its arguments into an :class:`ExportPlan` /
:class:`QuantizePlan`. Cheap checks come first (options, destinations, the contract, the
calibration data), then the slow work; a file reaches its destination only when its gate passed.
Progress goes to the ``edgeimg.export`` logger; nothing here prints.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from edgeimg.export.calibration import (
    FrameSelection,
    check_batch_shape,
    prepare_batch,
    sample_frames,
)
from edgeimg.export.evaluation import HeldOut, backend_infer
from edgeimg.export.onnx_export import ExportOptions, ExportResult, export_keras
from edgeimg.export.parity import ParityError, ParityReport, Tolerance, check_parity
from edgeimg.export.quantize import (
    QuantizeOptions,
    QuantizeResult,
    convert_fp16,
    input_dims,
    load_onnx,
    onnx_contract,
    quantize_int8,
    stamp_quantization,
)
from edgeimg.export.report import Budget, QuantReport, compare
from edgeimg.export.tasks import get_export_task
from edgeimg.runtime.atomic import atomic_output, check_destination
from edgeimg.runtime.backends.choose import model_sha256
from edgeimg.runtime.contract import ModelContract
from edgeimg.runtime.errors import EdgeimgError

if TYPE_CHECKING:
    import keras

log = logging.getLogger(__name__)

# Images (H, W, 3) uint8 BGR, read only when the plan's cheap checks have passed.
ImageSource = Callable[[], Sequence[np.ndarray]]
HeldOutSource = Callable[[], HeldOut]

PARITY_IMAGES = 32
CALIBRATION_INPUTS = 256  # latent draws calibrating a generator
DEFAULT_PARITY_SOURCE = "synthetic:"


@dataclass(frozen=True)
class QuantizePlan:
    """INT8 behind the report's gate.

    options: how to quantize. budget: what INT8 may cost (accuracy points, latency ratio).
    held_out: labelled data for FP32 vs INT8 accuracy (None: latency and size only).
    rounds: latency measurements per model. threads: intra-op threads (None: all). backend:
    the runtime backend the gate times and scores both models on: the one that will run them
    (onnxruntime, openvino, opencv), or ``auto``: each where ``--backend auto`` would run it.
    force: keep the INT8 file even when the gate fails. report_path: where to write the
    report's JSON. progress: show bars while calibrating and evaluating.
    """

    options: QuantizeOptions = field(default_factory=QuantizeOptions)
    budget: Budget = field(default_factory=Budget)
    held_out: HeldOutSource | None = None
    rounds: int = 200
    threads: int | None = None
    backend: str = "onnxruntime"
    force: bool = False
    report_path: Path | None = None
    progress: bool = False

    def __post_init__(self) -> None:
        if self.rounds < 1:
            raise EdgeimgError(f"rounds: expected >= 1, got {self.rounds}")
        if self.threads is not None and self.threads < 1:
            raise EdgeimgError(f"threads: expected >= 1, got {self.threads}")


@dataclass(frozen=True)
class ExportPlan:
    """What :func:`export_model` does besides the conversion.

    options: how to convert. verify: run the parity gate (Keras vs onnxruntime) before the file
    is written. tolerance: the gate's limits. calibration: real images for the parity gate (the
    first ``parity_images``) and INT8 calibration; None: parity on the built-in synthetic
    street scene. fp16: also write ``MODEL.fp16.onnx``. int8: also write ``MODEL.int8.onnx``
    behind the quantization report's gate (needs ``calibration``).
    """

    options: ExportOptions = field(default_factory=ExportOptions)
    verify: bool = True
    tolerance: Tolerance = field(default_factory=Tolerance)
    calibration: ImageSource | None = None
    parity_images: int = PARITY_IMAGES
    fp16: bool = False
    int8: QuantizePlan | None = None

    def __post_init__(self) -> None:
        if self.parity_images < 1:
            raise EdgeimgError(f"parity_images: expected >= 1, got {self.parity_images}")


@dataclass(frozen=True)
class Fp16Result:
    """The FP16 file and its largest difference to FP32 per output on ``images`` inputs."""

    path: Path
    images: int
    max_abs_diff: tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class Int8Result:
    """The INT8 destination, whether it was written (gate passed, or forced), and the report."""

    path: Path
    written: bool
    quantization: QuantizeResult
    report: QuantReport
    report_path: Path | None = None


def sibling(path: Path, tag: str) -> Path:
    """``model.onnx`` -> ``model.<tag>.onnx``."""
    return path.with_name(f"{path.stem}.{tag}{path.suffix or '.onnx'}")


def synthetic_images(count: int = PARITY_IMAGES) -> list[np.ndarray]:
    """Frames of the built-in synthetic street scene (people walking)."""
    return sample_frames(DEFAULT_PARITY_SOURCE, FrameSelection(count))


def export_model(
    keras_path: str | Path, out_path: str | Path, plan: ExportPlan | None = None
) -> ExportResult:
    """Export ``keras_path`` to ``out_path`` and, as the plan says, its FP16 and INT8 siblings.

    Raises :class:`ParityError` (with its report) when Keras and ONNX disagree; nothing is
    written then. An INT8 model that fails its gate is not written unless the plan forces it:
    ``result.int8.written`` and ``result.int8.report.problems()`` say so.
    """
    from edgeimg.export.keras_file import read_contract

    plan = plan or ExportPlan()
    output = check_destination(out_path)
    if plan.fp16:
        check_destination(sibling(output, "fp16"))
    if plan.int8 is not None:
        check_destination(sibling(output, "int8"))
        if plan.int8.report_path is not None:
            check_destination(plan.int8.report_path, "report")
    contract = read_contract(keras_path)
    task = get_export_task(contract.task)  # exportable, before any work
    if plan.int8 is not None and plan.calibration is None and task.model_inputs is None:
        raise EdgeimgError("int8: expected calibration images, got none")
    images = None
    if plan.calibration is not None and task.model_inputs is None:
        images = list(plan.calibration())
    parity_images = images[: plan.parity_images] if images else None

    def parity_batch(exported: ModelContract) -> np.ndarray:
        nonlocal parity_images
        if task.model_inputs is not None:  # a latent-vector input: fixed draws, seed 0
            return task.model_inputs(exported, plan.parity_images, 0)
        if parity_images is None:
            parity_images = synthetic_images(plan.parity_images)
        return prepare_batch(parity_images, exported)

    def verify(model: keras.Model, exported: ModelContract, path: Path) -> ParityReport:
        batch = parity_batch(exported)
        report = check_parity(model, path, exported, batch, plan.tolerance)
        log.debug("%s", report.summary())
        if not report.passed:
            raise ParityError(
                f"Keras and ONNX disagree ({', '.join(report.problems())}); {output} not written",
                report,
            )
        return report

    log.debug("exporting %s (%s, %d classes)", keras_path, contract.task, len(contract.class_names))
    result = export_keras(keras_path, output, plan.options, verify if plan.verify else None)
    fp16 = None
    if plan.fp16:
        fp16 = write_fp16(
            output, sibling(output, "fp16"), parity_batch(result.contract), result.contract
        )
    int8 = None
    if plan.int8 is not None:
        int8 = quantize_model(output, sibling(output, "int8"), images, plan.int8)
    return replace(result, fp16=fp16, int8=int8)


def write_fp16(
    fp32_path: Path, out_path: Path, batch: np.ndarray, contract: ModelContract
) -> Fp16Result:
    """Convert to FP16 and measure its largest difference to FP32 on ``batch`` (prepared
    model inputs)."""
    half = convert_fp16(fp32_path, out_path)
    names = contract.output_names
    full, low = backend_infer(fp32_path, names)(batch), backend_infer(half, names)(batch)
    diffs = tuple(
        (name, float(np.abs(a - b).max())) for name, a, b in zip(names, full, low, strict=True)
    )
    return Fp16Result(half, len(batch), diffs)


class _Rejected(Exception):
    """The INT8 model failed its gate: leave the destination as it was."""


def gate_record(fp32_path: Path, report: QuantReport) -> dict[str, object]:
    """What the INT8 file carries of its gate: the FP32 file it came from (SHA-256) and whether
    its accuracy held on held-out data (``--backend auto`` offers it only then; speed is
    measured again on each machine)."""
    drop = report.accuracy_drop
    return {
        "source_sha256": model_sha256(fp32_path),
        "accuracy": None
        if drop is None
        else {
            "metric": report.metric,
            "float": report.float_score,
            "quantized": report.quant_score,
            "drop_points": drop,
            "budget_points": report.budget.max_accuracy_drop,
            "passed": drop <= report.budget.max_accuracy_drop,
        },
        "gate": {
            "passed": report.passed,
            "latency_ratio": report.latency_ratio,
            "backend": report.backend,
            "float_on": vars(report.float_on),
            "quant_on": vars(report.quant_on),
        },
    }


def quantize_model(
    fp32_path: str | Path,
    out_path: str | Path,
    calibration: Sequence[np.ndarray] | ImageSource | None,
    plan: QuantizePlan | None = None,
) -> Int8Result:
    """Quantize ``fp32_path`` to INT8 at ``out_path`` behind the report's gate.

    calibration: images (H, W, 3) uint8 BGR, or a function returning them (called after the
    model is checked); None for a task that draws its own inputs (generate: CALIBRATION_INPUTS
    latent vectors). The INT8 file is written when the report passes (or ``plan.force``); the
    report's JSON goes to ``plan.report_path`` either way.
    """
    plan = plan or QuantizePlan()
    fp32_path, output = Path(fp32_path), Path(out_path)
    check_destination(output)
    if plan.report_path is not None:
        check_destination(plan.report_path, "report")
    proto = load_onnx(fp32_path)
    contract = onnx_contract(proto, str(fp32_path))
    task = get_export_task(contract.task)
    if task.model_inputs is not None:
        if calibration is not None:
            log.warning(
                "a %s model calibrates on its own input draws; the calibration data is not used",
                contract.task,
            )
        batch = task.model_inputs(contract, CALIBRATION_INPUTS, 1)
    elif calibration is None:
        raise EdgeimgError(f"calibration: a {contract.task} model needs calibration images")
    else:
        images = calibration() if callable(calibration) else calibration
        batch = prepare_batch(images, contract)
    check_batch_shape(batch, input_dims(proto), "calibration data")
    evaluator = None
    if plan.held_out is not None:
        evaluator = task.evaluator(plan.held_out(), contract, plan.progress)
    report: QuantReport | None = None
    result: QuantizeResult | None = None
    try:
        with atomic_output(output) as tmp:
            result = quantize_int8(fp32_path, tmp, batch, plan.options, progress=plan.progress)
            log.info("measuring FP32 and INT8 side by side...")
            report = compare(
                fp32_path,
                result,
                batch[:1],
                contract.output_names,
                evaluator,
                plan.budget,
                rounds=plan.rounds,
                threads=plan.threads,
                quant_label=str(output),
                backend=plan.backend,
            )
            if plan.report_path is not None:
                report.write_json(plan.report_path)
            if not report.passed and not plan.force:
                raise _Rejected
            stamp_quantization(tmp, gate_record(fp32_path, report))
    except _Rejected:
        pass
    assert report is not None and result is not None
    written = report.passed or plan.force
    return Int8Result(output, written, replace(result, path=output), report, plan.report_path)
