"""``edgeimg train segment``: parse the options into a :class:`SegmentConfig`, train, report.

Only argparse at import time; TensorFlow/Keras load when the command runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from edgeimg.train.options import (
    add_fit_arguments,
    class_names,
    fit_config,
    parse_size,
    quiet_tensorflow,
    write_json,
)

FORMATS = ("camvid", "cityscapes", "voc")


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "segment",
        help="semantic segmenter (a class per pixel)",
        description="Train an encoder-decoder segmenter (edgenet_seg). DATA is a folder of "
        "images; their labels are PNGs of the same name in --labels (default: the folder "
        "beside it: CamVid's train -> trainannot, VOC's JPEGImages -> SegmentationClass, "
        "Cityscapes' leftImg8bit/... -> gtFine/...). Label formats: camvid (ids 0..10, 11 "
        "void), cityscapes (*_gtFine_labelTrainIds.png, 255 void), voc (palette colours). "
        "With --test, prints per-class IoU, mean IoU, pixel accuracy and the confusion "
        "matrix on those frames at their full resolution.",
        epilog="example: edgeimg train segment ../shared/data/CamVid/train --test "
        "../shared/data/CamVid/val --epochs 80 --width 1.5 -o runs/camvid/seg.keras",
    )
    parser.add_argument("data", help="training image folder")
    parser.add_argument("--labels", metavar="DIR", help="label folder (default: beside DATA)")
    parser.add_argument("--format", choices=FORMATS, help="label format (default: detected)")
    parser.add_argument("--test", metavar="DIR", help="image folder to evaluate at the end")
    parser.add_argument("--test-labels", metavar="DIR", help="its labels (default: beside it)")
    parser.add_argument(
        "--input-size",
        default="368x480",
        metavar="HxW",
        help="model input, multiples of 16; frames are letterboxed to it (default 368x480: "
        "a 480x360 frame at full resolution)",
    )
    parser.add_argument(
        "--crop", default="224x320", metavar="HxW", help="training window (default 224x320)"
    )
    parser.add_argument(
        "--val-fraction",
        type=float,
        default=0.1,
        help="last fraction of the training frames held out for the validation loss (default 0.1)",
    )
    parser.add_argument("--no-augment", action="store_true", help="train without augmentation")
    parser.add_argument("--limit", type=int, help="use only the first N training frames")
    parser.add_argument(
        "--no-xla", action="store_true", help="no XLA compile (starts faster; for short runs)"
    )
    add_fit_arguments(parser, epochs=80, batch=8, lr=3e-3)
    return parser


def run(args: argparse.Namespace) -> int:
    quiet_tensorflow()
    from edgeimg.runtime.errors import EdgeimgError
    from edgeimg.runtime.tasks.segment.metrics import (
        format_iou_table,
        iou_per_class,
        mean_iou,
        pixel_accuracy,
    )
    from edgeimg.train.tasks.segment.train import SegmentConfig, train_segmenter

    config = SegmentConfig(
        data=Path(args.data),
        output=Path(args.output),
        labels=Path(args.labels) if args.labels else None,
        format=args.format,
        test=Path(args.test) if args.test else None,
        test_labels=Path(args.test_labels) if args.test_labels else None,
        input_hw=parse_size(args.input_size),
        crop_hw=parse_size(args.crop, "crop size"),
        width=args.width,
        val_fraction=args.val_fraction,
        augment=not args.no_augment,
        limit=args.limit,
        xla=not args.no_xla,
    )
    result = train_segmenter(config, fit_config(args, warmup=1.0, weight_decay=1e-4))
    names = class_names(args)
    if names and names != result.class_names:
        raise EdgeimgError(f"--classes {names} differ from the data's {result.class_names}")
    figures: dict = {
        "params": result.params,
        "file_bytes": result.file_bytes,
        "minutes": round(result.minutes, 2),
        "class_names": list(result.class_names),
        "epochs": result.epochs,
    }
    if result.confusion is not None:
        print(format_iou_table(result.confusion, result.class_names))
        figures.update(
            mean_iou=mean_iou(result.confusion),
            pixel_accuracy=pixel_accuracy(result.confusion),
            iou=[None if v != v else float(v) for v in iou_per_class(result.confusion)],
            confusion=result.confusion.tolist(),
        )
    print(
        f"params {result.params:,}  file {result.file_bytes / 1024:.0f} KiB  "
        f"{result.minutes:.1f} min  -> {result.model_path}"
    )
    write_json(args.json, figures)
    return 0
