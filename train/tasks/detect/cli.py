"""``edgeimg train detect`` and ``edgeimg train evaluate``: parse the options into the typed
configs, make one library call, print the figures.

Only argparse at import time; TensorFlow/Keras load when a command runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from edgeimg.runtime.errors import EdgeimgError
from edgeimg.train.options import (
    add_fit_arguments,
    class_names,
    fit_config,
    parse_size,
    quiet_tensorflow,
    write_json,
)


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "detect",
        help="single-shot anchor-free detector (centernet family)",
        description="Train the centernet detector (plain convolutions, stride-4 heatmap and "
        "box distances; decoding and NMS run outside the graph, in the runtime). DATA is a "
        "MOTChallenge sequence (a video, or img1/, with gt/gt.txt), a YOLO folder (images/ + "
        "labels/), a COCO JSON file (or a folder with annotations/*.json) or a Pascal VOC folder "
        "(Annotations/ + JPEGImages/), or 'synthetic:' for edgeimg's generated street scene "
        "(options as synthetic:frames=300,seed=1). Add more sets with --data SPEC[@FIRST-LAST].",
        epilog="example: edgeimg train detect ../shared/data/PETS09-S2L1/vtest.avi --frames "
        "1-600 --test-frames 601-795 --input-size 288x384 -o runs/pets/detector.keras",
    )
    parser.add_argument("data", help="dataset (see above)")
    parser.add_argument(
        "--data",
        dest="more",
        action="append",
        default=[],
        metavar="SPEC[@FIRST-LAST][*N]",
        help="another dataset to train on (repeatable), with an optional frame range; *N counts "
        "its images N times an epoch (weight for a small set beside a large one; quote it)",
    )
    parser.add_argument(
        "--select-classes",
        metavar="NAME[=ID],...",
        help="train on these classes only, in this order: each dataset's class of that name, "
        "or its class ID where its files name none (COCO128 without data.yaml: person=0); "
        "images left without boxes stay as background",
    )
    parser.add_argument(
        "--frames", metavar="FIRST-LAST", help="1-based frames of DATA to train on (e.g. 1-600)"
    )
    parser.add_argument(
        "--test-frames",
        metavar="FIRST-LAST",
        help="after training, report COCO AP on these frames of DATA (e.g. 601-795)",
    )
    parser.add_argument("--test", metavar="SPEC[@FIRST-LAST]", help="or on another dataset")
    parser.add_argument(
        "--input-size",
        metavar="HxW",
        default="288x384",
        help="model input, multiples of 32 (default 288x384: PETS at half resolution)",
    )
    parser.add_argument(
        "--crop",
        metavar="HxW",
        help="train on random windows of this size cut from the letterboxed frames "
        "(cheaper steps; default: the whole input)",
    )
    parser.add_argument("--stride", type=int, choices=(4, 8), default=4, help="output stride")
    parser.add_argument(
        "--val-fraction",
        type=float,
        default=0.0,
        help="hold out the last part of each dataset for the validation loss (default 0)",
    )
    parser.add_argument(
        "--zoom",
        metavar="MIN-MAX",
        default="0.75-1.35",
        help="random zoom range of the letterboxed frames, log-uniform (default 0.75-1.35; "
        "0.5-4 teaches one model people from 30 px to 300 px tall)",
    )
    parser.add_argument(
        "--mosaic",
        metavar="P",
        type=float,
        default=0.0,
        help="probability that a training sample is a 2x2 mosaic of four images, each "
        "quadrant augmented on its own (more scenes and cut-off people per step; YOLO uses "
        "1.0; default 0)",
    )
    parser.add_argument("--no-augment", action="store_true", help="train without augmentation")
    parser.add_argument(
        "--init",
        metavar="bundled|M.keras",
        help="start from these weights: 'bundled' (edgeimg's person detector) or a .keras "
        "detector of the same classes, input size, stride and width (fine-tuning)",
    )
    parser.add_argument(
        "--freeze-backbone",
        type=int,
        default=0,
        metavar="EPOCHS",
        help="of --epochs, train the first EPOCHS with the backbone frozen (neck and heads "
        "adapt first; for fine-tuning on a few frames). Default 0",
    )
    add_fit_arguments(parser, epochs=40, batch=16, lr=2e-3)
    return parser


def add_evaluate_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "evaluate",
        help="COCO AP of a trained .keras detector on held-out data",
        description="Run a .keras detector written by `edgeimg train detect` over DATA through "
        "the runtime's letterbox and centernet decoder, and print COCO AP@0.5, AP@0.5:0.95 and "
        "AP@0.75 (pycocotools). DATA is any detection dataset `train detect` reads.",
        epilog="example: edgeimg train evaluate runs/pets/detector.keras "
        "../shared/data/PETS09-S2L1/vtest.avi --frames 601-795",
    )
    parser.add_argument("model", help="a .keras detector with its edgeimg contract")
    parser.add_argument("data", help="detection dataset, or synthetic:...")
    parser.add_argument("--frames", metavar="FIRST-LAST", help="1-based frames of DATA")
    parser.add_argument("--json", metavar="FILE", help="also write the figures to this file")
    return parser


def run(args: argparse.Namespace) -> int:
    quiet_tensorflow()
    from edgeimg.train.tasks.detect.augment import BoxAugment
    from edgeimg.train.tasks.detect.data import FrameRange, parse_class_selection
    from edgeimg.train.tasks.detect.models import DetectorConfig
    from edgeimg.train.tasks.detect.train import DataSpec, DetectTrainConfig, train_detector

    first = DataSpec.parse(args.data)
    if args.frames:
        first = DataSpec(first.spec, FrameRange.parse(args.frames), first.repeat)
    data = (first, *(DataSpec.parse(m) for m in args.more))
    if args.test and args.test_frames:
        raise EdgeimgError("give --test-frames (frames of DATA) or --test SPEC, not both")
    test = DataSpec.parse(args.test) if args.test else None
    if args.test_frames:
        test = DataSpec(args.data, FrameRange.parse(args.test_frames))
    config = DetectTrainConfig(
        data=data,
        output=Path(args.output),
        detector=DetectorConfig(
            input_size=parse_size(args.input_size), width=args.width, stride=args.stride
        ),
        crop_size=parse_size(args.crop, "crop size") if args.crop else None,
        test=test,
        val_fraction=args.val_fraction,
        augment=BoxAugment.off()
        if args.no_augment
        else BoxAugment(scale=parse_zoom(args.zoom), mosaic=args.mosaic),
        num_classes=args.num_classes,
        class_names=class_names(args),
        select=parse_class_selection(args.select_classes) if args.select_classes else None,
        init=Path(args.init) if args.init else None,
        freeze_backbone=args.freeze_backbone,
    )
    result = train_detector(config, fit_config(args, warmup=1.0, weight_decay=5e-4))
    height, width = config.detector.input_size
    print(
        f"detector {height}x{width} stride {args.stride}: {result.params:,} params, "
        f"{2 * result.macs / 1e9:.2f} GFLOPs ({result.macs / 1e9:.2f} GMAC), "
        f"{result.train_images} training images -> {result.model_path}"
    )
    figures = {
        "params": result.params,
        "gflops": 2 * result.macs / 1e9,
        "train_images": result.train_images,
        "epochs": result.epochs,
    }
    if result.metrics is not None:
        print(_ap_line("test ", result.metrics))
        figures["test"] = result.metrics.as_dict()
    write_json(args.json, figures)
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    quiet_tensorflow()
    from edgeimg.train.tasks.detect.data import FrameRange
    from edgeimg.train.tasks.detect.train import DataSpec, evaluate_keras_detector

    frames = FrameRange.parse(args.frames) if args.frames else None
    metrics = evaluate_keras_detector(args.model, DataSpec(args.data, frames))
    print(_ap_line("", metrics))
    write_json(args.json, metrics.as_dict())
    return 0


def parse_zoom(text: str) -> tuple[float, float]:
    """``"0.5-4"`` -> (0.5, 4.0): the augmentation's zoom range."""
    low, dash, high = text.partition("-")
    try:
        zoom = (float(low), float(high if dash else low))
    except ValueError:
        raise EdgeimgError(f"zoom: expected MIN-MAX such as 0.5-4, got {text!r}") from None
    if not 0 < zoom[0] <= zoom[1]:
        raise EdgeimgError(f"zoom: expected 0 < MIN <= MAX, got {text!r}")
    return zoom


def _ap_line(prefix: str, m) -> str:
    """One line of COCO figures (a :class:`~edgeimg.train.tasks.detect.evaluate.DetectionMetrics`)."""
    return (
        f"{prefix}AP@0.5 {m.ap50:.4f}  AP@0.5:0.95 {m.ap:.4f}  AP@0.75 {m.ap75:.4f}  "
        f"AR@100 {m.ar100:.4f}  ({m.images} images, {m.ground_truth} boxes)"
    )
