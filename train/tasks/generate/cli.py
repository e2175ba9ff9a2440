"""``edgeimg train generate``: parse the options into a :class:`GenerateConfig`, train, report.

Only argparse at import time; TensorFlow/Keras load when the command runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from edgeimg.train.options import parse_size, quiet_tensorflow, write_json


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "generate",
        help="image generation (the seed's DCGAN, a convolutional VAE; class-conditional)",
        description="Train an image generator. DATA is a classification dataset (Fashion-MNIST "
        "idx files, CIFAR-10, class sub-folders) or a flat folder of images (resized to "
        "--image-size; unconditional only). Every epoch logs the losses and writes a sample "
        "grid from fixed latents to OUT_samples/epoch_NNN.png (one column per class for a "
        "conditional model) and a checkpoint to OUT_checkpoints/ (--resume continues). The "
        ".keras file is the generator (the VAE's decoder) with the generate contract: "
        "`edgeimg export` it, then `edgeimg generate MODEL.onnx`. A VAE also writes its "
        "encoder as OUT.encoder.keras: export it too for `edgeimg generate MODEL.onnx "
        "--encoder ENC.onnx --reconstruct IMG...` (real images through the VAE).",
        epilog="example: edgeimg train generate /usr/share/datasets/fashion-mnist --arch dcgan "
        "--conditional --width 0.5 --epochs 20 -o runs/generate/cgan.keras",
    )
    parser.add_argument("data", help="dataset or image folder")
    parser.add_argument("-o", "--output", required=True, metavar="OUT.keras", help="model file")
    parser.add_argument("--arch", default="dcgan", help="dcgan or vae (default dcgan)")
    parser.add_argument(
        "--conditional",
        action="store_true",
        help="class-conditional: the class is an input (generate --class sneaker)",
    )
    parser.add_argument(
        "--latent-dim", type=int, help="size of z (default 100 for the DCGAN, 16 for the VAE)"
    )
    parser.add_argument(
        "--width", type=float, default=1.0, help="channel width multiplier (default 1.0)"
    )
    parser.add_argument("--epochs", type=int, default=20, help="default 20")
    parser.add_argument("--batch-size", type=int, default=128, help="default 128")
    parser.add_argument(
        "--steps", type=int, help="batches per epoch (default: the whole training set)"
    )
    parser.add_argument(
        "--lr", type=float, default=2e-4, help="Adam learning rate (default 2e-4; VAE: 5x it)"
    )
    parser.add_argument(
        "--beta", type=float, default=1.0, help="VAE: weight of the KL term (default 1)"
    )
    parser.add_argument(
        "--smooth",
        type=float,
        default=0.9,
        help="DCGAN: target of real images for the discriminator (one-sided label "
        "smoothing; default 0.9, 1 turns it off)",
    )
    parser.add_argument(
        "--aux-weight",
        type=float,
        default=0.0,
        help="conditional DCGAN: weight of an auxiliary class loss (AC-GAN) on the "
        "discriminator's class head (default 0: projection only)",
    )
    parser.add_argument(
        "--ema",
        type=float,
        metavar="DECAY",
        help="DCGAN: sample and save a moving average of the generator's weights with this "
        "decay (default 0.999; 0 saves the trained generator itself)",
    )
    parser.add_argument("--image-size", metavar="HxW", help="resize folder images (default 28x28)")
    parser.add_argument("--limit", type=int, help="use only the first N training images")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--resume", action="store_true", help="continue from the checkpoint")
    parser.add_argument("--checkpoints", metavar="DIR", help="default OUT_checkpoints/")
    parser.add_argument("--samples", metavar="DIR", help="default OUT_samples/")
    parser.add_argument("--json", metavar="FILE", help="also write the figures to this file")
    return parser


def run(args: argparse.Namespace) -> int:
    quiet_tensorflow()
    from edgeimg.train.tasks.generate.train import GenerateConfig, train_generator

    config = GenerateConfig(
        data=Path(args.data),
        output=Path(args.output),
        arch=args.arch,
        conditional=args.conditional,
        latent_dim=args.latent_dim,
        width=args.width,
        epochs=args.epochs,
        batch_size=args.batch_size,
        steps_per_epoch=args.steps,
        learning_rate=args.lr,
        beta=args.beta,
        smooth=args.smooth,
        aux_weight=args.aux_weight,
        ema=args.ema,
        seed=args.seed,
        image_size=parse_size(args.image_size) if args.image_size else None,
        limit=args.limit,
        resume=args.resume,
        checkpoints=Path(args.checkpoints) if args.checkpoints else None,
        samples=Path(args.samples) if args.samples else None,
    )
    result = train_generator(config)
    print(f"saved {result.path} ({result.params:,} params, {result.seconds:.0f} s)")
    if result.encoder is not None:
        print(f"saved the encoder {result.encoder}")
    if result.samples is not None:
        print(f"samples: {result.samples}")
    if result.vae_test is not None:
        test = result.vae_test
        print(
            f"VAE on the test set: -ELBO {test['neg_elbo_nats']:.2f} nats per image "
            f"(reconstruction {test['recon_nats']:.2f} + KL {test['kl_nats']:.2f}); "
            f"reconstruction MAE {test['recon_mae_pixels']:.2f} of 255"
        )
    write_json(
        args.json,
        {
            "params": result.params,
            "seconds": result.seconds,
            "history": [
                {"epoch": h.epoch, "seconds": h.seconds, **h.losses} for h in result.history
            ],
            "vae_test": result.vae_test,
        },
    )
    return 0
