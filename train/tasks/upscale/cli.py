"""``edgeimg train upscale``: parse the options into an :class:`UpscaleConfig`, train, report.

Only argparse at import time; TensorFlow/Keras load when the command runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from edgeimg.train.options import quiet_tensorflow, write_json


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "upscale",
        help="super-resolution (ESPCN, FSRCNN on luminance)",
        description="Train a super-resolution model on the luminance Y of natural images. DATA "
        "are folders of images (png/jpg, recursive) to cut patches from; the low-resolution "
        "inputs are made with MATLAB's bicubic, as the SR papers do. --val folders of HR test "
        "images (Set5, BSD68) are scored at the end (Y-PSNR/SSIM beside bicubic), never "
        "trained on. The .keras file carries the upscale contract: `edgeimg export` it.",
        epilog="example: edgeimg train upscale data/CamVid/train data/COCO128/images "
        "--val data/SR/Set5 --scale 3 --arch espcn --patch 72 --batch-size 32 --steps 1000 "
        "--epochs 60 -o runs/upscale/espcn_x3.keras",
    )
    parser.add_argument("data", nargs="+", help="folders of training images")
    parser.add_argument("-o", "--output", required=True, metavar="OUT.keras", help="model file")
    parser.add_argument("--val", nargs="*", default=[], metavar="DIR", help="HR test folders")
    parser.add_argument("--scale", type=int, default=3, help="2, 3 or 4 (default 3)")
    parser.add_argument("--arch", default="espcn", help="espcn or fsrcnn (default espcn)")
    parser.add_argument("--width", type=int, help="first-layer filters (default: the paper's)")
    parser.add_argument("--shrink", type=int, default=12, help="FSRCNN s (default 12)")
    parser.add_argument("--mapping", type=int, default=4, help="FSRCNN m (default 4)")
    parser.add_argument(
        "--no-anchor", action="store_true", help="ESPCN without the nearest-neighbour residual"
    )
    parser.add_argument("--activation", default="relu", help="ESPCN activation (default relu)")
    parser.add_argument("--patch", type=int, default=48, help="HR patch side (default 48)")
    parser.add_argument("--epochs", type=int, default=10, help="default 10")
    parser.add_argument("--steps", type=int, default=500, help="batches per epoch (default 500)")
    parser.add_argument("--batch-size", type=int, default=16, help="default 16")
    parser.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (1e-3)")
    parser.add_argument("--loss", default="l2", help="l1 or l2 (default l2)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--hr-shrink",
        type=float,
        default=1.0,
        help="shrink every training image by this factor first (MATLAB bicubic): < 1 makes soft "
        "video frames and JPEGs sharper per pixel (default 1)",
    )
    parser.add_argument(
        "--color",
        choices=("y", "rgb"),
        default="y",
        help="y: the luminance, chroma enlarged bicubically at run time, as the papers (default); "
        "rgb: all three channels through the model",
    )
    parser.add_argument("--limit", type=int, help="use only the first N training images")
    parser.add_argument("--init-from", metavar="M.keras", help="start from these weights")
    parser.add_argument("--json", metavar="FILE", help="also write the figures to this file")
    return parser


def run(args: argparse.Namespace) -> int:
    quiet_tensorflow()
    from edgeimg.train.tasks.upscale.train import UpscaleConfig, train_upscale

    config = UpscaleConfig(
        train_dirs=tuple(Path(d) for d in args.data),
        val_dirs=tuple(Path(d) for d in args.val),
        output=Path(args.output),
        scale=args.scale,
        arch=args.arch,
        width=args.width,
        shrink=args.shrink,
        mapping=args.mapping,
        anchor=not args.no_anchor,
        activation=args.activation,
        patch_size=args.patch,
        epochs=args.epochs,
        steps_per_epoch=args.steps,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        loss=args.loss,
        seed=args.seed,
        max_images=args.limit,
        hr_shrink=args.hr_shrink,
        color=args.color,
        init_from=Path(args.init_from) if args.init_from else None,
        log_dir=Path(args.output).with_suffix(""),
    )
    result = train_upscale(config)
    print(f"saved {result.path} ({result.params:,} params, {result.seconds:.0f} s)")
    for score in result.scores:
        print(score.line())
    write_json(
        args.json,
        {
            "params": result.params,
            "seconds": result.seconds,
            "scores": [vars(score) for score in result.scores],
        },
    )
    return 0
