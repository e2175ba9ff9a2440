"""`edgeimg generate [MODEL.onnx] --count 64 --class sneaker -o grid.png`: images from a
generator (a GAN generator or VAE decoder exported by `edgeimg export`).

With a VAE's exported encoder (``--encoder``), real images go through the VAE:
``--reconstruct IMG...`` (a grid of originals beside reconstructions, the error per image) and
``--interpolate-images A,B`` (a latent walk between two real images, as a video).

Thin: the flags are checked (outputs, count, class, images) before the model runs, then one
call of :meth:`~edgeimg.runtime.tasks.generate.Generator.generate` (or ``interpolate``,
:func:`~edgeimg.runtime.tasks.generate.reconstruct`, ``walk``) and the files.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from edgeimg.runtime.errors import EdgeimgError

VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".avi", ".mkv")


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "generate",
        help="make images with a generator (GAN, VAE decoder): a grid, files, a latent walk",
        description="Generate images from random latent vectors with an exported generator "
        "(`edgeimg train generate`, then `edgeimg export`). Without MODEL the bundled "
        "class-conditional Fashion-MNIST generator runs. Writes a grid image (-o), one PNG per "
        "image (--each DIR), or with --interpolate a video walking the latent space from one "
        "seed's z to another's. Prints the generation time per batch and per image. "
        "With a VAE (MODEL its exported decoder, --encoder its exported encoder) real images "
        "go through it: --reconstruct shows each beside its reconstruction and prints the "
        "error, --interpolate-images walks from one image to another.",
        epilog="examples: edgeimg generate --count 64 --class sneaker -o grid.png | "
        "edgeimg generate --interpolate 1,2 --frames 60 --class dress -o walk.mp4 | "
        "edgeimg generate cvae.onnx --encoder cvae.encoder.onnx --reconstruct a.png b.png "
        "--class sneaker -o recon.png | edgeimg generate cvae.onnx --encoder "
        "cvae.encoder.onnx --interpolate-images a.png,b.png --class sneaker,bag -o walk.mp4",
    )
    parser.add_argument("model", nargs="?", help="generator ONNX file (default: the bundled one)")
    parser.add_argument(
        "-o",
        "--output",
        default="edgeimg_generate.png",
        help="grid image (.png/.jpg), or a video with --interpolate (default edgeimg_generate.png)",
    )
    parser.add_argument("--count", type=int, default=64, help="images to make (default 64)")
    parser.add_argument(
        "--class",
        dest="cls",
        metavar="NAME",
        help="class of a conditional model, by name or index (default: every class in turn); "
        "with --interpolate or --interpolate-images, FROM,TO walks from one class to another; "
        "with --reconstruct, the class of the images",
    )
    parser.add_argument("--seed", type=int, help="seed of the latent draws (default: random)")
    parser.add_argument("--each", metavar="DIR", help="also write every image as DIR/NNNN.png")
    parser.add_argument(
        "--interpolate",
        metavar="A,B",
        help="a latent walk from seed A's z to seed B's (spherical), written as a video -o",
    )
    parser.add_argument(
        "--encoder",
        metavar="ENC.onnx",
        help="a VAE's exported encoder (`edgeimg train generate --arch vae` writes it as "
        "OUT.encoder.keras; `edgeimg export` it), MODEL being the same VAE's decoder; needed "
        "by --reconstruct and --interpolate-images",
    )
    real = parser.add_mutually_exclusive_group()
    real.add_argument(
        "--reconstruct",
        nargs="+",
        metavar="IMG",
        help="encode these image files (grey or colour, resized to the model's size as in "
        "training) to their posterior mean and decode them: a grid -o of each original beside "
        "its reconstruction (--columns pairs per row), the mean absolute error per image "
        "printed; a conditional VAE needs --class",
    )
    real.add_argument(
        "--interpolate-images",
        metavar="A,B",
        help="a latent walk from image file A's posterior mean to B's, written as a video -o "
        "(--frames); a conditional VAE needs --class (FROM,TO for two classes)",
    )
    parser.add_argument("--frames", type=int, default=60, help="frames of the walk (default 60)")
    parser.add_argument("--fps", type=float, default=30.0, help="video frame rate (default 30)")
    parser.add_argument("--columns", type=int, help="grid columns (default: square)")
    parser.add_argument(
        "--scale",
        type=int,
        help="enlarge each image this many times, nearest (default 2 for a grid, 8 for a video)",
    )
    parser.add_argument("--batch", type=int, default=64, help="images per model run (default 64)")
    parser.add_argument(
        "--backend", default="onnxruntime", help="onnxruntime or opencv (default onnxruntime)"
    )
    parser.add_argument("--threads", type=int, help="intra-op threads (default: the backend's)")
    parser.set_defaults(run=run)


def parse_pair(text: str, what: str) -> tuple[str, str]:
    first, comma, second = text.partition(",")
    if not comma or not first.strip() or not second.strip():
        raise EdgeimgError(f"{what}: expected A,B, got {text!r}")
    return first.strip(), second.strip()


def check_args(args: argparse.Namespace) -> None:
    """Every flag checked before the model is loaded (nothing written on a bad one)."""
    from edgeimg.runtime.atomic import check_destination
    from edgeimg.runtime.sinks import IMAGE_SUFFIXES

    for name in ("count", "batch", "frames"):
        if getattr(args, name) < 1:
            raise EdgeimgError(f"--{name}: expected >= 1, got {getattr(args, name)}")
    real = args.reconstruct or args.interpolate_images
    if real and not args.encoder:
        flag = "--reconstruct" if args.reconstruct else "--interpolate-images"
        raise EdgeimgError(f"{flag}: needs --encoder ENC.onnx (the VAE's exported encoder)")
    if args.encoder and not real:
        raise EdgeimgError("--encoder: expected --reconstruct IMG... or --interpolate-images A,B")
    if real and args.interpolate:
        raise EdgeimgError("--interpolate: walks between seeds; with real images use only one")
    if real and not args.model:
        raise EdgeimgError(
            "MODEL: expected the VAE's decoder (exported) beside --encoder; the bundled "
            "generator is a GAN, which has no encoder"
        )
    walking = args.interpolate or args.interpolate_images
    if args.frames < 2 and walking:
        raise EdgeimgError(f"--frames: expected >= 2 for a walk, got {args.frames}")
    for name in ("columns", "scale", "threads"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise EdgeimgError(f"--{name}: expected >= 1, got {value}")
    suffix = Path(args.output).suffix.lower()
    wanted = VIDEO_SUFFIXES if walking else IMAGE_SUFFIXES
    if suffix not in wanted:
        what = "a video for a walk" if walking else "an image (the grid)"
        raise EdgeimgError(
            f"-o/--output: expected {what} ending in {', '.join(wanted)}, got {args.output}"
        )
    check_destination(args.output)
    if args.each:
        each = Path(args.each)
        if each.exists() and not each.is_dir():
            raise EdgeimgError(f"--each: {each} exists and is not a folder")
        check_destination(each / "0000.png" if each.is_dir() else each, "--each folder")


def run(args: argparse.Namespace) -> int:
    check_args(args)
    seeds = parse_pair(args.interpolate, "--interpolate") if args.interpolate else None
    if seeds is not None and not all(s.lstrip("-").isdigit() for s in seeds):
        raise EdgeimgError(f"--interpolate: expected two integer seeds A,B, got {args.interpolate}")
    from edgeimg.runtime.tasks.generate import grid, load_generator

    if args.reconstruct or args.interpolate_images:
        return run_real(args)
    generator = load_generator(args.model, backend=args.backend, threads=args.threads)
    generator.batch_size = args.batch
    if seeds is not None:
        frames = generator.interpolate(int(seeds[0]), int(seeds[1]), args.frames, *classes(args))
        return walk(frames, args, f"seed {seeds[0]} to {seeds[1]}", generator)
    if args.each:
        Path(args.each).mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    batch = generator.generate(args.count, args.cls, args.seed)
    seconds = time.perf_counter() - start
    from edgeimg.runtime.sinks import write_image

    write_image(args.output, grid(batch.images, args.columns, scale=args.scale or 2))
    if args.each:
        names = generator.class_names
        for i, (image, label) in enumerate(zip(batch.images, batch.labels, strict=True)):
            tag = f"_{names[label].replace('/', '-').replace(' ', '_')}" if label >= 0 else ""
            write_image(Path(args.each) / f"{i:04d}{tag}.png", image)
    if not args.quiet:
        runs = -(-args.count // args.batch)
        print(
            f"generated {args.count} images in {seconds * 1e3:.1f} ms ({runs} batch"
            f"{'es' if runs > 1 else ''} of up to {args.batch}: "
            f"{seconds * 1e3 / runs:.2f} ms per batch, {seconds * 1e3 / args.count:.3f} ms per "
            f"image) with {generator!r}"
        )
        print(
            f"wrote {args.output}"
            + (f" and {args.count} images in {args.each}" if args.each else "")
        )
    return 0


def classes(args: argparse.Namespace) -> tuple[str | None, str | None]:
    """--class as (FROM, TO) of a walk: ``A,B`` or one class for both (TO None)."""
    if args.cls and "," in args.cls:
        return parse_pair(args.cls, "--class")
    return args.cls, None


def run_real(args: argparse.Namespace) -> int:
    """--reconstruct / --interpolate-images: real images through the encoder and MODEL."""
    import numpy as np

    from edgeimg.runtime.tasks.generate import load_encoder, load_generator, read_image
    from edgeimg.runtime.tasks.generate.encoder import check_pair

    files = args.reconstruct or list(parse_pair(args.interpolate_images, "--interpolate-images"))
    images = [read_image(path) for path in files]  # a missing image: before any model loads
    encoder = load_encoder(args.encoder, backend=args.backend, threads=args.threads)
    generator = load_generator(args.model, backend=args.backend, threads=args.threads)
    generator.batch_size = args.batch
    check_pair(encoder, generator)
    first, second = classes(args) if args.interpolate_images else (args.cls, None)
    labels = encoder.labels(first, len(images))
    if labels is not None and second is not None:  # a walk from one class to another
        labels = np.concatenate([labels[:1], encoder.labels(second, 1)])
    if args.interpolate_images:
        start = time.perf_counter()
        z = encoder.encode(images, labels)
        took = (time.perf_counter() - start) * 1e3
        steps = generator.walk(z[0], z[1], args.frames, first, second or first)
        return walk(steps, args, f"{files[0]} to {files[1]}, encoded in {took:.1f} ms", generator)
    return write_reconstructions(args, encoder, generator, files, images, labels)


def write_reconstructions(args, encoder, generator, files, images, labels) -> int:
    """The grid of (original, reconstruction) pairs, --each files, the error per image."""
    import math

    import numpy as np

    from edgeimg.runtime.sinks import write_image
    from edgeimg.runtime.tasks.generate import grid, reconstruct

    start = time.perf_counter()
    result = reconstruct(encoder, generator, images, labels)
    seconds = time.perf_counter() - start
    pairs = np.stack([result.originals, result.images], axis=1)  # original, then its copy
    pairs = pairs.reshape(-1, *result.images.shape[1:])
    per_row = args.columns or math.ceil(math.sqrt(len(images)))
    if args.each:
        Path(args.each).mkdir(parents=True, exist_ok=True)
    write_image(args.output, grid(pairs, 2 * per_row, scale=args.scale or 2))
    if args.each:
        for i, (path, image) in enumerate(zip(files, result.images, strict=True)):
            write_image(Path(args.each) / f"{i:04d}_{Path(path).stem}.png", image)
    if not args.quiet:
        for path, mae in zip(files, result.mae, strict=True):
            print(f"{path}: reconstruction MAE {mae:.2f} of 255")
        print(
            f"reconstructed {len(images)} images in {seconds * 1e3:.1f} ms (mean MAE "
            f"{float(result.mae.mean()):.2f} of 255) with {encoder!r} and {generator!r}"
        )
        print(
            f"wrote {args.output} (each original beside its reconstruction)"
            + (f" and {len(images)} images in {args.each}" if args.each else "")
        )
    return 0


def walk(frames, args: argparse.Namespace, what: str, generator) -> int:
    """A latent walk (frames: (H, W, C) uint8 images) as a video, every frame enlarged
    ``--scale`` times."""
    import cv2
    import numpy as np

    from edgeimg.runtime.frame import Frame
    from edgeimg.runtime.sinks import FrameResult, VideoSink

    scale = args.scale or 8
    sink = VideoSink(args.output, fps=args.fps)
    start = time.perf_counter()
    with sink:
        for i, image in enumerate(frames):
            big = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
            bgr = (
                big
                if big.ndim == 3 and big.shape[2] == 3
                else cv2.cvtColor(big, cv2.COLOR_GRAY2BGR)
            )
            sink.write(FrameResult(Frame(np.ascontiguousarray(bgr), i, i / args.fps), None))
    seconds = time.perf_counter() - start
    if not args.quiet:
        print(
            f"wrote {args.output}: {args.frames} frames from {what} "
            f"({seconds:.2f} s with video encoding, {generator!r})"
        )
    return 0
