"""`edgeimg quantize MODEL.onnx --calib DATA -o MODEL.int8.onnx`: INT8 that is proven faster.

Thin: the flags become a :class:`~edgeimg.export.flow.QuantizePlan` and one call of
:func:`~edgeimg.export.flow.quantize_model`. Also home of the data wiring shared with
`edgeimg export --int8`: calibration images from a video, image folder, MOT sequence or
classification dataset, and held-out evaluation data read with ``edgeimg.train``'s readers (the
CLI sits above every package; ``edgeimg.export`` itself only takes images and labelled data).
The data's format chooses the reader; the model's task chooses the evaluator.
"""

from __future__ import annotations

import argparse
import functools
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from edgeimg.runtime.errors import EdgeimgError

if TYPE_CHECKING:
    from edgeimg.export.evaluation import HeldOut
    from edgeimg.export.flow import HeldOutSource, ImageSource, Int8Result, QuantizePlan
    from edgeimg.runtime.contract import ModelContract


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
        "--judge",
        metavar="CLASSIFIER.keras",
        help="generators: the classifier (edgeimg train classify) whose features FID-FMNIST "
        "compares; --eval is then the real images' dataset (its test split). Stylizers: the "
        "loss network (default: the one the model names)",
    )
    group.add_argument(
        "--style",
        metavar="IMAGE",
        help="stylizers: the style image the perceptual loss compares with; --eval is then a "
        "folder of content photos",
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
    group.add_argument("--threads", type=int, help="intra-op threads (default: all)")
    group.add_argument(
        "--backend",
        help="where the gate times and scores FP32 and INT8: the backend that will run the "
        "model (onnxruntime, openvino, opencv), or auto (the default, as for `edgeimg track`, "
        "unless $EDGEIMG_BACKEND names another): each file on the fastest installed backend "
        "and thread count measured here for it, where `--backend auto` will run it. INT8 pays "
        "on some engines and not others: gate it where you deploy",
    )
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
        metavar="DATA",
        help="calibration data: a video, an image folder, a MOT sequence folder or a "
        "classification dataset (required, except for generators: they calibrate on "
        "latent draws)",
    )
    parser.add_argument(
        "-o", "--output", required=True, metavar="MODEL.int8.onnx", help="where to write"
    )
    add_quantize_options(parser)
    parser.set_defaults(run=run)


def quantize_plan(args: argparse.Namespace) -> QuantizePlan:
    """The typed plan of the quantization flags; raises before any work when they are invalid."""
    from edgeimg.export.flow import QuantizePlan
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
    from edgeimg.cli.running import default_backend
    from edgeimg.runtime.backends import backend_names

    backend = args.backend or default_backend()
    if backend not in (*backend_names(), "auto"):
        given = "--backend" if args.backend else "EDGEIMG_BACKEND"
        raise EdgeimgError(
            f"{given}: expected one of {', '.join(backend_names())} or auto, got {backend!r}"
        )
    options = QuantizeOptions(
        target=args.target,
        method=args.method,
        percentile=args.percentile,
        per_channel=not args.per_tensor,
        keep_head_float=not args.quantize_head,
        exclude=tuple(args.exclude),
    )
    return QuantizePlan(
        options=options,
        budget=Budget(max_accuracy_drop=args.budget),
        held_out=held_out_source(
            args.eval, args.eval_frames, args.eval_count, args.model, args.judge, args.style
        )
        if args.eval
        else None,
        rounds=args.rounds,
        threads=args.threads,
        backend=backend,
        force=args.force,
        report_path=Path(args.report) if args.report else None,
        progress=True,
    )


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
    from edgeimg.train.tasks.classify.data import detect_format

    try:
        detect_format(folder)
    except EdgeimgError:
        return False
    return True


@functools.lru_cache(maxsize=1)
def classification_data(path: str):
    """A classification dataset, read once when it is both --calib and --eval."""
    from edgeimg.train.tasks.classify.data import load_classification

    return load_classification(path)


def calibration_source(spec: str, frames: str | None, count: int) -> ImageSource:
    """Calibration images, read when the flow asks: a classification dataset's training split,
    otherwise frames of a video, image folder or MOT sequence (the data's format decides)."""
    from edgeimg.export.calibration import FrameSelection, sample_frames

    selection = FrameSelection.parse(frames, count)  # checked now, before any work

    def read() -> list[np.ndarray]:
        if is_classification_dataset(spec):
            data = classification_data(spec)
            return as_bgr(data.x_train[evenly(count, len(data.x_train))])
        return sample_frames(spec, selection)

    return read


def held_out_source(
    spec: str,
    frames: str | None,
    count: int,
    model: str | Path | None = None,
    judge: str | None = None,
    style: str | None = None,
) -> HeldOutSource:
    """Held-out labelled data, read when the flow asks: for an upscaler (``model``'s task), a
    folder of HR images (LR made by MATLAB bicubic at the model's scale, scored by Y-PSNR);
    else a segmentation folder (images with a label-PNG folder beside them: label masks, scored
    by mean IoU), a classification dataset's test split (class labels) or a detection dataset
    (MOT, YOLO, COCO, VOC: boxes, scored by COCO AP@0.5 as `edgeimg train` scores it)."""

    def read() -> HeldOut:
        from edgeimg.export.evaluation import HeldOut
        from edgeimg.train.tasks.segment.data import is_segmentation_folder

        contract = model_contract(model) if model is not None else None
        if contract is not None and contract.task == "upscale":
            from edgeimg.train.tasks.upscale.data import held_out_frames

            scale = int(contract.task_params.get("scale", 3))
            return HeldOut(*held_out_frames(spec, scale, count), "images")
        if contract is not None and contract.task == "generate":
            if judge is None:
                raise EdgeimgError("--eval of a generator needs --judge CLASSIFIER.keras (FID)")
            data = classification_data(spec)
            real = data.x_test if len(data.x_test) else data.x_train
            pick = evenly(count or len(real), len(real))
            return HeldOut(list(real[pick]), [0] * len(pick), "labels", reference=Path(judge))
        if contract is not None and contract.task == "stylize":
            from edgeimg.train.tasks.stylize.data import held_out_photos

            if style is None:
                raise EdgeimgError("--eval of a stylizer needs --style IMAGE (its painting)")
            photos, painting = held_out_photos(spec, style, count or 8)
            reference = Path(judge) if judge else None
            return HeldOut(photos, [painting] * len(photos), "images", reference=reference)

        if is_segmentation_folder(spec):  # images + label PNGs (CamVid/val + valannot)
            from edgeimg.train.tasks.segment.evaluate import held_out_masks

            return held_out_masks(spec, count)
        if is_classification_dataset(spec):
            data = classification_data(spec)
            if not len(data.x_test):
                raise EdgeimgError(f"--eval {spec}: the dataset has no test split")
            pick = evenly(count or len(data.x_test), len(data.x_test))
            return HeldOut(as_bgr(data.x_test[pick]), list(data.y_test[pick]), "labels")
        from edgeimg.train.tasks.detect.data import load_detection
        from edgeimg.train.tasks.detect.evaluate import detection_ap

        samples = load_detection(spec, frames=frames).samples
        if count:
            samples = [samples[i] for i in evenly(count, len(samples))]
        return HeldOut(
            [s.image for s in samples],
            [(s.xyxy, s.class_id) for s in samples],
            "boxes",
            score=lambda preds, truths, classes: detection_ap(preds, truths, classes).ap50,
        )

    return read


def draws_own_inputs(model: str | Path) -> bool:
    """Whether the model's task makes its own calibration inputs (generators: latent draws)."""
    from edgeimg.export.tasks import get_export_task

    return get_export_task(model_contract(model).task).model_inputs is not None


def model_contract(path: str | Path) -> ModelContract:
    """The contract of a ``.keras`` or ``.onnx`` model file."""
    if Path(path).suffix == ".keras":
        from edgeimg.export.keras_file import read_contract

        return read_contract(path)
    from edgeimg.export.quantize import read_onnx_contract

    return read_onnx_contract(path)


def print_int8(result: Int8Result) -> None:
    """The report's table, where it was written, and the verdict (GateFailed when not kept)."""
    from edgeimg.export.report import GateFailed

    report = result.report
    print(report.table())
    if result.report_path is not None:
        print(f"report: {result.report_path}")
    if not result.written:
        raise GateFailed(
            f"{'; '.join(report.problems())}; {result.path} not written (--force keeps it)"
        )
    print(f"wrote {result.path}" + ("" if report.passed else " (kept with --force)"))


def run(args: argparse.Namespace) -> int:
    from edgeimg.export.flow import quantize_model
    from edgeimg.runtime.atomic import check_distinct

    check_distinct(
        [("-o/--output", args.output), ("--report", args.report)],
        [("MODEL", args.model), ("--calib", args.calib), ("--eval", args.eval)],
    )
    plan = quantize_plan(args)
    calibration = None
    if args.calib:
        calibration = calibration_source(args.calib, args.calib_frames, args.calib_count)
    elif not draws_own_inputs(args.model):
        raise EdgeimgError("--calib DATA: required for this model (images to calibrate on)")
    print_int8(quantize_model(args.model, args.output, calibration, plan))
    return 0
