"""``edgeimg train classify``: parse the options into a :class:`ClassifyConfig`, train, report.

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


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "classify",
        help="image classifier",
        description="Train a classifier. DATA is a CIFAR-10 python folder (cifar-10-batches-py), "
        "a folder of MNIST-style idx files (gzipped or not; MNIST, Fashion-MNIST) or a folder "
        "with one sub-folder of images per class (optionally under train/ and test/). The "
        "format is detected. Prints the test accuracy and the confusion matrix.",
        epilog="example: edgeimg train classify /usr/share/datasets/fashion-mnist "
        "--arch cifar_cnn --epochs 12 -o runs/fmnist/cnn.keras",
    )
    parser.add_argument("data", help="dataset folder")
    parser.add_argument(
        "--arch",
        default="cifar_cnn",
        help="cifar_cnn (the classic Conv32-Conv64-Conv64-Dense64 CNN), mobilenet "
        "(inverted residuals) or edgenet (stride-2 stem, depthwise-separable blocks: the "
        "fastest per accuracy on small images) (default cifar_cnn)",
    )
    parser.add_argument(
        "--input-size", metavar="HxW", help="resize image-folder images to this size"
    )
    parser.add_argument(
        "--val-split", type=float, default=0.1, help="validation fraction (default 0.1)"
    )
    parser.add_argument("--no-augment", action="store_true", help="train without augmentation")
    parser.add_argument("--limit", type=int, help="use only the first N train and test images")
    add_fit_arguments(parser, epochs=12, batch=64, lr=2e-3)
    return parser


def run(args: argparse.Namespace) -> int:
    quiet_tensorflow()
    from edgeimg.train.tasks.classify.evaluate import format_confusion
    from edgeimg.train.tasks.classify.train import ClassifyConfig, train_classifier

    config = ClassifyConfig(
        data=Path(args.data),
        output=Path(args.output),
        arch=args.arch,
        width=args.width,
        validation_split=args.val_split,
        augment=not args.no_augment,
        image_size=parse_size(args.input_size) if args.input_size else None,
        num_classes=args.num_classes,
        class_names=class_names(args),
        limit=args.limit,
    )
    result = train_classifier(config, fit_config(args, warmup=0.0, weight_decay=0.0))
    print(format_confusion(result.confusion, result.class_names))
    print(
        f"test accuracy {result.test_accuracy:.4f}  params {result.params:,}  "
        f"file {result.file_bytes / 1024:.0f} KiB  -> {result.model_path}"
    )
    write_json(
        args.json,
        {
            "test_accuracy": result.test_accuracy,
            "params": result.params,
            "file_bytes": result.file_bytes,
            "confusion": result.confusion.tolist(),
            "class_names": list(result.class_names),
            "epochs": result.epochs,
        },
    )
    return 0
