"""`edgeimg quantize MODEL.onnx --calib DATA -o MODEL.int8.onnx`: INT8 that is proven faster.

Also home of the data wiring shared with `edgeimg export --int8`: calibration images from a
video, image folder, MOT sequence or classification dataset, and held-out evaluation data read
with ``edgeimg.train``'s readers (the CLI sits above every package; ``edgeimg.export`` itself
only takes images and an evaluator).
"""

from __future__ import annotations

import argparse
import functools
import logging
from pathlib import Path

import numpy as np

from edgeimg.runtime.contract import ModelContract, Task
from edgeimg.runtime.errors import EdgeimgError

log = logging.getLogger(__name__)


class GateFailed(EdgeimgError):
    """The quantized model is slower than FP32 or loses more accuracy than the budget."""

    exit_code = 1


def add_quantize_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by `quantize` and `export --int8`."""
    group = parser.add_argument_group("quantization")
    group.add_argument(
        "--calib-frames",
        metavar="FIRST-LAST",
        help="1-based frame range of a video/MOT/folder calibration source, e.g. 1-600 "
        "(default: all)",
    )
    group.add_argument(
        "--calib-count",
        type=int,
        default=100,
        metavar="N",
        help="calibration images, drawn evenly across the data (default 100)",
    )
    group.add_argument(
        "--method",
        choices=("minmax", "entropy", "percentile"),
        default="percentile",
        help="activation calibration (default percentile: measured the most accurate on the "
        "PETS detector and Fashion-MNIST; entropy is KL with 2048 bins and clips hard)",
    )
    group.add_argument(
        "--percentile",
        type=float,
        default=99.999,
        help="share of values kept by --method percentile (default 99.999)",
    )
    group.add_argument(
        "--target",
        choices=("cpu-x86", "cpu-arm", "tensorrt"),
        default="cpu-x86",
        help="cpu-x86: U8S8 (7-bit weights without VNNI); cpu-arm, tensorrt: S8S8 symmetric "
        "(default cpu-x86)",
    )
    group.add_argument(
        "--per-tensor",
        action="store_true",
        help="one scale per weight tensor instead of per output channel",
    )
    group.add_argument(
        "--quantize-head",
        action="store_true",
        help="also quantize a detector's head (its last convolutions and activations), "
        "kept in float by default",
    )
    group.add_argument(
        "--exclude", nargs="+", default=(), metavar="NODE", help="more ONNX nodes to keep in float"
    )
    group.add_argument(
        "--eval",
        metavar="DATA",
        help="held-out labelled data for FP32 vs INT8 accuracy: a classification dataset "
        "(its test split) or a detection dataset (MOT, YOLO, COCO, VOC)",
    )
    group.add_argument(
        "--eval-frames",
        metavar="FIRST-LAST",
        help="frame range of --eval detection data, e.g. 601-795 (default: all)",
    )
    group.add_argument(
        "--eval-count",
        type=int,
        default=0,
        metavar="N",
        help="use at most N evaluation images (default: all)",
    )
    group.add_argument(
        "--budget",
        type=float,
        default=1.0,
        metavar="POINTS",
        help="accuracy the INT8 model may lose, in points of the metric (default 1)",
    )
    group.add_argument(
        "--rounds", type=int, default=200, help="latency measurements per model (default 200)"
    )
    group.add_argument("--threads", type=int, help="onnxruntime intra-op threads (default: all)")
    group.add_argument(
        "--force",
        action="store_true",
        help="keep the INT8 model even when it is slower or loses more than the budget",
    )
    group.add_argument("--report", metavar="R.json", help="write the quantization report here")


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "quantize",
        help="INT8 (QDQ) static quantization of an exported model, with a report",
        description="Quantize an ONNX model exported by edgeimg to INT8 (onnxruntime static "
        "quantization, QDQ format, per-channel weights), calibrated on frames from your data "
        "prepared exactly as the runtime prepares them. Then measure FP32 and INT8 side by "
        "side: file size, latency (interleaved in one run), accuracy on held-out data (--eval: "
        "top-1 for classifiers, AP@0.5 for detectors) and the largest per-tensor errors. "
        "Exits 1 and writes no model when INT8 is slower or loses more than --budget points, "
        "unless --force.",
        epilog="example: edgeimg quantize runs/pets/detector.onnx --calib "
        "../shared/data/PETS09-S2L1 --calib-frames 1-600 --eval ../shared/data/PETS09-S2L1 "
        "--eval-frames 601-795 -o runs/pets/detector.int8.onnx --report quant.json",
    )
    parser.add_argument("model", help="FP32 ONNX model exported by `edgeimg export`")
    parser.add_argument(
        "--calib",
        required=True,
        metavar="DATA",
        help="calibration data: a video, an image folder, a MOT sequence folder or a "
        "classification dataset",
    )
    parser.add_argument(
        "-o", "--output", required=True, metavar="MODEL.int8.onnx", help="where to write"
    )
    add_quantize_options(parser)
    parser.set_defaults(run=run)


def quantize_options(args: argparse.Namespace):
    """Typed options from the namespace; raises before any work when they are invalid."""
    from edgeimg.export.quantize import QuantizeOptions
    from edgeimg.export.report import Budget

    for name in ("calib_count", "rounds"):
        if getattr(args, name) < 1:
            raise EdgeimgError(
                f"--{name.replace('_', '-')}: expected >= 1, got {getattr(args, name)}"
            )
    if args.eval_count < 0:
        raise EdgeimgError(f"--eval-count: expected >= 0, got {args.eval_count}")
    if args.threads is not None and args.threads < 1:
        raise EdgeimgError(f"--threads: expected >= 1, got {args.threads}")
    options = QuantizeOptions(
        target=args.target,
        method=args.method,
        percentile=args.percentile,
        per_channel=not args.per_tensor,
        keep_head_float=not args.quantize_head,
        exclude=tuple(args.exclude),
    )
    return options, Budget(max_accuracy_drop=args.budget)


def evenly(count: int, total: int) -> np.ndarray:
    """At most ``count`` indices spread evenly over ``range(total)``."""
    return np.unique(np.linspace(0, total - 1, num=min(count, total)).round().astype(int))


def as_bgr(images: np.ndarray) -> list[np.ndarray]:
    """(N, H, W, C) uint8 RGB or gray dataset images -> BGR (or gray) images for ``prepare``."""
    return [im[:, :, ::-1] if im.shape[-1] == 3 else im for im in images]


def is_classification_dataset(path: str) -> bool:
    """True for a CIFAR folder, idx files or class sub-folders (edgeimg.train's readers)."""
    folder = Path(path)
    if not folder.is_dir() or (folder / "gt").is_dir():
        return False
    from edgeimg.train.data.classification import detect_format

    try:
        detect_format(folder)
    except EdgeimgError:
        return False
    return True


@functools.lru_cache(maxsize=1)
def classification_data(path: str):
    """A classification dataset, read once when it is both --calib and --eval."""
    from edgeimg.train.data.classification import load_classification

    return load_classification(path)


def calibration_images(
    spec: str, contract: ModelContract, frames: str | None, count: int
) -> list[np.ndarray]:
    """Calibration images: a classification dataset's training split (classifiers), otherwise
    frames of a video, image folder or MOT sequence."""
    from edgeimg.export.calibration import FrameSelection, sample_frames

    selection = FrameSelection.parse(frames, count)
    if contract.task is Task.CLASSIFY and is_classification_dataset(spec):
        data = classification_data(spec)
        return as_bgr(data.x_train[evenly(count, len(data.x_train))])
    return sample_frames(spec, selection)


def build_evaluator(args: argparse.Namespace, contract: ModelContract):
    """The held-out evaluator named by --eval, or None."""
    if not args.eval:
        return None
    from edgeimg.export.evaluation import DetectionEvaluator, TopOneEvaluator

    if contract.task is Task.CLASSIFY:
        data = classification_data(args.eval)
        if not len(data.x_test):
            raise EdgeimgError(f"--eval {args.eval}: the dataset has no test split")
        pick = evenly(args.eval_count or len(data.x_test), len(data.x_test))
        return TopOneEvaluator(as_bgr(data.x_test[pick]), data.y_test[pick], contract)
    from dataclasses import replace

    from edgeimg.runtime.decoders import create_decoder
    from edgeimg.train.data.detection import load_detection
    from edgeimg.train.evaluate import AP_SCORE_THRESHOLD, detection_ap

    dataset = load_detection(args.eval, frames=args.eval_frames)
    samples = dataset.samples
    if args.eval_count:
        samples = [samples[i] for i in evenly(args.eval_count, len(samples))]
    # AP needs the low-score detections too (the PR curve's tail), as edgeimg train scores it.
    params = {**contract.decoder_params, "score_threshold": AP_SCORE_THRESHOLD}
    classes = len(contract.class_names)
    return DetectionEvaluator(
        [s.image for s in samples],
        [(s.xyxy, s.class_id) for s in samples],
        contract,
        average_precision=lambda preds, truths: detection_ap(preds, truths, classes).ap50,
        decode=create_decoder(replace(contract, decoder_params=params)),
        progress="evaluating",
    )


def run_quantize(
    args: argparse.Namespace, model: Path, output: Path, images: list[np.ndarray] | None = None
):
    """Quantize ``model`` to ``output`` behind the report's gate; returns the report."""
    import onnxruntime as ort

    from edgeimg.export.atomic import atomic_output, check_destination
    from edgeimg.export.calibration import check_batch_shape, prepare_batch
    from edgeimg.export.quantize import load_onnx, onnx_contract, quantize_int8
    from edgeimg.export.report import compare

    options, budget = quantize_options(args)
    check_destination(output)
    if args.report:
        check_destination(args.report)
    contract = onnx_contract(load_onnx(model), str(model))
    if images is None:
        images = calibration_images(args.calib, contract, args.calib_frames, args.calib_count)
    batch = prepare_batch(images, contract)
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    check_batch_shape(batch, session.get_inputs()[0].shape, f"calibration data {args.calib}")
    evaluator = build_evaluator(args, contract)
    with atomic_output(output) as tmp:
        result = quantize_int8(model, tmp, batch, options, progress=True)
        print("measuring FP32 and INT8 side by side...", flush=True)
        report = compare(
            model,
            result,
            batch[:1],
            contract.output_names,
            evaluator,
            budget,
            rounds=args.rounds,
            threads=args.threads,
            quant_label=str(output),
        )
        print(report.table())
        if args.report:
            report.write_json(args.report)
            print(f"report: {args.report}")
        if not report.passed and not args.force:
            raise GateFailed(
                f"{'; '.join(report.problems())}; {output} not written (--force keeps it)"
            )
    print(f"wrote {output}" + ("" if report.passed else " (kept with --force)"))
    return report


def run(args: argparse.Namespace) -> int:
    run_quantize(args, Path(args.model), Path(args.output))
    return 0
