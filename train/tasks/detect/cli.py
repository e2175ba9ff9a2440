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
        metavar="SPEC[@FIRST-LAST]",
        help="another dataset to train on (repeatable), with an optional frame range",
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
    parser.add_argument("--no-augment", action="store_true", help="train without augmentation")
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
    from edgeimg.train.tasks.detect.data import FrameRange
    from edgeimg.train.tasks.detect.models import DetectorConfig
    from edgeimg.train.tasks.detect.train import DataSpec, DetectTrainConfig, train_detector

    first = DataSpec(args.data, FrameRange.parse(args.frames) if args.frames else None)
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
        augment=BoxAugment.off() if args.no_augment else BoxAugment(),
        num_classes=args.num_classes,
        class_names=class_names(args),
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


def _ap_line(prefix: str, m) -> str:
    """One line of COCO figures (a :class:`~edgeimg.train.tasks.detect.evaluate.DetectionMetrics`)."""
    return (
        f"{prefix}AP@0.5 {m.ap50:.4f}  AP@0.5:0.95 {m.ap:.4f}  AP@0.75 {m.ap75:.4f}  "
        f"AR@100 {m.ar100:.4f}  ({m.images} images, {m.ground_truth} boxes)"
    )
