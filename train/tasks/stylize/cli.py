"""``edgeimg train stylize``: parse the options into a :class:`StylizeConfig`, train, report.

Only argparse at import time; TensorFlow/Keras load when the command runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from edgeimg.train.options import quiet_tensorflow, write_json

LOSS_NETS = "camvid-seg (default), random-vgg16, random-vgg16-half, a .keras image model or VGG .h5"


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "stylize",
        help="feed-forward style transfer (one network per style)",
        description="Train an image-transformation network that paints any photo in the style "
        "of one image (Johnson et al.'s fast neural style, cut down for a CPU). Each step "
        "stylizes random crops of the CONTENT photos and lowers the perceptual loss in a loss "
        "network: content (features of the photo), style (Gram matrices of the painting), total "
        "variation. Prints the losses per epoch and writes a sample grid per epoch next to the "
        "model. --val folders are scored at the end against Gatys' per-image optimisation in "
        "the same loss (never trained on). The .keras file carries the stylize contract: "
        "`edgeimg export` it.",
        epilog="example: edgeimg train stylize --style starry_night.jpg "
        "--content data/CamVid/train --val data/CamVid/val -o runs/starry.keras",
    )
    parser.add_argument("--style", required=True, metavar="IMAGE", help="the style image")
    parser.add_argument(
        "--content", nargs="+", required=True, metavar="DIR", help="folders of content photos"
    )
    parser.add_argument("-o", "--output", required=True, metavar="OUT.keras", help="model file")
    parser.add_argument("--val", nargs="*", default=[], metavar="DIR", help="held-out photos")
    parser.add_argument("--val-count", type=int, default=4, help="held-out images scored (4)")
    parser.add_argument("--val-size", type=int, default=480, help="their long side (480)")
    parser.add_argument("--gatys-steps", type=int, default=300, help="Gatys steps (300)")
    parser.add_argument("--loss-net", default="camvid-seg", metavar="NET", help=LOSS_NETS)
    parser.add_argument("--loss-seed", type=int, default=0, help="seed of a random loss network")
    parser.add_argument("--content-weight", type=float, default=1.0, help="default 1")
    parser.add_argument("--style-weight", type=float, default=5.0, help="default 5")
    parser.add_argument("--tv-weight", type=float, default=10.0, help="default 10")
    parser.add_argument("--style-size", type=int, default=256, help="style image long side (256)")
    parser.add_argument("--width", type=int, default=16, help="first-layer filters (16)")
    parser.add_argument("--blocks", type=int, default=5, help="residual blocks (5)")
    parser.add_argument(
        "--photo-skip",
        action="store_true",
        help="add a 3x3 convolution of the photo itself to the output (finer detail)",
    )
    parser.add_argument("--crop", type=int, default=256, help="training crop side (256)")
    parser.add_argument("--batch-size", type=int, default=4, help="default 4")
    parser.add_argument("--steps", type=int, default=200, help="batches per epoch (200)")
    parser.add_argument("--epochs", type=int, default=10, help="default 10")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (1e-3)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (0)")
    parser.add_argument("--init-from", metavar="M.keras", help="start from these weights")
    parser.add_argument("--json", metavar="FILE", help="also write the figures to this file")
    return parser


def run(args: argparse.Namespace) -> int:
    quiet_tensorflow()
    from edgeimg.export.perceptual import LossWeights
    from edgeimg.train.tasks.stylize.train import StylizeConfig, train_stylize

    config = StylizeConfig(
        style=Path(args.style),
        content=tuple(Path(d) for d in args.content),
        output=Path(args.output),
        loss_net=args.loss_net,
        loss_seed=args.loss_seed,
        weights=LossWeights(args.content_weight, args.style_weight, args.tv_weight),
        style_size=args.style_size,
        width=args.width,
        blocks=args.blocks,
        photo_skip=args.photo_skip,
        crop=args.crop,
        batch_size=args.batch_size,
        steps_per_epoch=args.steps,
        epochs=args.epochs,
        learning_rate=args.lr,
        seed=args.seed,
        val=tuple(Path(d) for d in args.val),
        val_count=args.val_count,
        val_size=args.val_size,
        gatys_steps=args.gatys_steps,
        init_from=Path(args.init_from) if args.init_from else None,
    )
    result = train_stylize(config)
    print(f"saved {result.path} ({result.params:,} params, {result.seconds:.0f} s)")
    comparison = result.comparison
    if comparison is not None:
        for line in comparison.lines():
            print(line)
        print(f"side by side (content | style | Gatys | network): {comparison.picture}")
    write_json(
        args.json,
        {
            "params": result.params,
            "seconds": result.seconds,
            "history": list(result.history),
            "comparison": None
            if comparison is None
            else {
                "images": comparison.images,
                "network": vars(comparison.network),
                "gatys": vars(comparison.gatys),
                "ratio": comparison.ratio,
                "network_seconds": comparison.network_seconds,
                "gatys_seconds": comparison.gatys_seconds,
            },
        },
    )
    return 0
