"""`edgeimg train classify|detect`: train Keras models that export cleanly to ONNX."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

from edgeimg.runtime.errors import EdgeimgError

STRATEGIES = ("default", "one_device", "mirrored", "multi_worker")


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "train",
        help="train a classifier or a detector (Keras 3, tf.data, tf.distribute)",
        description="Train an image classifier or the centernet person/object detector on your "
        "data, and write a .keras file that carries its contract (class names, input size, "
        "decoder) for `edgeimg export`. Needs the [train] extra.",
    )
    tasks = parser.add_subparsers(dest="task", metavar="TASK")
    parser.set_defaults(run=lambda args: _missing_task(parser))
    _classify_parser(tasks)
    _detect_parser(tasks)
    _evaluate_parser(tasks)


def _missing_task(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _common(parser: argparse.ArgumentParser, epochs: int, batch: int, lr: float) -> None:
    parser.add_argument("-o", "--output", required=True, metavar="OUT.keras", help="model file")
    fit = parser.add_argument_group("training")
    fit.add_argument("--epochs", type=int, default=epochs, help=f"epochs (default {epochs})")
    fit.add_argument("--batch-size", type=int, default=batch, help=f"default {batch}")
    fit.add_argument("--lr", type=float, default=lr, help=f"peak learning rate (default {lr})")
    fit.add_argument(
        "--width", type=float, default=1.0, help="channel width multiplier (default 1.0)"
    )
    fit.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    fit.add_argument(
        "--patience",
        type=int,
        default=0,
        help="stop after this many epochs without a better validation loss (default 0: never)",
    )
    fit.add_argument(
        "--strategy",
        choices=STRATEGIES,
        default="default",
        help="tf.distribute strategy: one_device, mirrored (all GPUs here), multi_worker "
        "(hosts listed in TF_CONFIG; run the same command on each) (default: TensorFlow's)",
    )
    fit.add_argument(
        "--checkpoints",
        metavar="DIR",
        help="checkpoint folder: last.keras, best.keras, state.json, log.jsonl "
        "(default: OUT_checkpoints beside the output)",
    )
    fit.add_argument(
        "--resume", action="store_true", help="continue from the checkpoint folder's last.keras"
    )
    fit.add_argument("--num-classes", type=int, help="refuse data with another class count")
    fit.add_argument(
        "--classes", metavar="A,B,...", help="refuse data with other class names (in order)"
    )
    fit.add_argument(
        "--json", metavar="FILE", help="also write the final figures to this JSON file"
    )


def _classify_parser(tasks: argparse._SubParsersAction) -> None:
    parser = tasks.add_parser(
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
    _common(parser, epochs=12, batch=64, lr=2e-3)
    parser.set_defaults(run=run_classify)


def _detect_parser(tasks: argparse._SubParsersAction) -> None:
    parser = tasks.add_parser(
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
    _common(parser, epochs=40, batch=16, lr=2e-3)
    parser.set_defaults(run=run_detect)


def _evaluate_parser(tasks: argparse._SubParsersAction) -> None:
    parser = tasks.add_parser(
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
    parser.set_defaults(run=run_evaluate)


def parse_size(text: str, what: str = "input size") -> tuple[int, int]:
    match = re.fullmatch(r"\s*(\d+)\s*[xX,]\s*(\d+)\s*", text or "")
    if not match:
        raise EdgeimgError(f"{what}: expected HEIGHTxWIDTH such as 288x384, got {text!r}")
    return int(match.group(1)), int(match.group(2))


def _fit_config(args: argparse.Namespace, warmup: float, weight_decay: float):
    from edgeimg.train.fit import FitConfig

    output = Path(args.output)
    checkpoints = Path(args.checkpoints or output.with_name(output.stem + "_checkpoints"))
    return FitConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        weight_decay=weight_decay,
        warmup_epochs=warmup,
        patience=args.patience,
        seed=args.seed,
        strategy=args.strategy,
        checkpoint_dir=checkpoints,
        resume=args.resume,
        verbose=1 if sys.stdout.isatty() else 2,
    )


def _class_names(args: argparse.Namespace) -> tuple[str, ...] | None:
    return tuple(c.strip() for c in args.classes.split(",")) if args.classes else None


def _quiet_tensorflow() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _write_json(path: str | None, values: dict) -> None:
    if not path:
        return
    target = Path(path)
    tmp = target.with_name(f".{target.name}.partial")
    tmp.write_text(json.dumps(values, indent=2))
    os.replace(tmp, target)


def run_classify(args: argparse.Namespace) -> int:
    _quiet_tensorflow()
    from edgeimg.train.classify import ClassifyConfig, train_classifier
    from edgeimg.train.evaluate import format_confusion

    config = ClassifyConfig(
        data=Path(args.data),
        output=Path(args.output),
        arch=args.arch,
        width=args.width,
        validation_split=args.val_split,
        augment=not args.no_augment,
        image_size=parse_size(args.input_size) if args.input_size else None,
        num_classes=args.num_classes,
        class_names=_class_names(args),
        limit=args.limit,
    )
    result = train_classifier(config, _fit_config(args, warmup=0.0, weight_decay=0.0))
    print(format_confusion(result.confusion, result.class_names))
    print(
        f"test accuracy {result.test_accuracy:.4f}  params {result.params:,}  "
        f"file {result.file_bytes / 1024:.0f} KiB  -> {result.model_path}"
    )
    _write_json(
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


def run_detect(args: argparse.Namespace) -> int:
    _quiet_tensorflow()
    from edgeimg.train.data.augment import BoxAugment
    from edgeimg.train.data.detection import FrameRange
    from edgeimg.train.detect import DataSpec, DetectTrainConfig, train_detector
    from edgeimg.train.models.detector import DetectorConfig

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
        class_names=_class_names(args),
    )
    result = train_detector(config, _fit_config(args, warmup=1.0, weight_decay=5e-4))
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
        m = result.metrics
        print(
            f"test AP@0.5 {m.ap50:.4f}  AP@0.5:0.95 {m.ap:.4f}  AP@0.75 {m.ap75:.4f}  "
            f"AR@100 {m.ar100:.4f}  ({m.images} images, {m.ground_truth} boxes)"
        )
        figures["test"] = m.as_dict()
    _write_json(args.json, figures)
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    _quiet_tensorflow()
    from edgeimg.export.keras_file import read_contract
    from edgeimg.runtime.contract import Task
    from edgeimg.train.data.detection import load_detection
    from edgeimg.train.detect import evaluate_detector
    from edgeimg.train.fit import load_keras

    contract = read_contract(args.model)
    if contract.task is not Task.DETECT:
        raise EdgeimgError(f"{args.model}: expected a detector, got a {contract.task.value} model")
    data = load_detection(args.data, args.frames)
    if data.class_names != contract.class_names:
        raise EdgeimgError(
            f"{args.data}: classes {', '.join(data.class_names)} differ from the model's "
            f"{', '.join(contract.class_names)}"
        )
    metrics = evaluate_detector(load_keras(args.model, compile=False), data, contract)
    print(
        f"AP@0.5 {metrics.ap50:.4f}  AP@0.5:0.95 {metrics.ap:.4f}  AP@0.75 {metrics.ap75:.4f}  "
        f"AR@100 {metrics.ar100:.4f}  ({metrics.images} images, {metrics.ground_truth} boxes)"
    )
    _write_json(args.json, metrics.as_dict())
    return 0
