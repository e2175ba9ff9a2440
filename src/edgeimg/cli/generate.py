"""`edgeimg generate [MODEL.onnx] --count 64 --class sneaker -o grid.png`: images from a
generator (a GAN generator or VAE decoder exported by `edgeimg export`).

Thin: the flags are checked (outputs, count, class) before the model runs, then one call of
:meth:`~edgeimg.runtime.tasks.generate.Generator.generate` (or ``interpolate``) and the files.
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
        "seed's z to another's. Prints the generation time per batch and per image.",
        epilog="examples: edgeimg generate --count 64 --class sneaker -o grid.png | "
        "edgeimg generate --interpolate 1,2 --frames 60 --class dress -o walk.mp4",
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
        "with --interpolate, FROM,TO walks from one class to another",
    )
    parser.add_argument("--seed", type=int, help="seed of the latent draws (default: random)")
    parser.add_argument("--each", metavar="DIR", help="also write every image as DIR/NNNN.png")
    parser.add_argument(
        "--interpolate",
        metavar="A,B",
        help="a latent walk from seed A's z to seed B's (spherical), written as a video -o",
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
    if args.frames < 2 and args.interpolate:
        raise EdgeimgError(f"--frames: expected >= 2 for a walk, got {args.frames}")
    for name in ("columns", "scale", "threads"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise EdgeimgError(f"--{name}: expected >= 1, got {value}")
    suffix = Path(args.output).suffix.lower()
    wanted = VIDEO_SUFFIXES if args.interpolate else IMAGE_SUFFIXES
    if suffix not in wanted:
        what = "a video for --interpolate" if args.interpolate else "an image (the grid)"
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

    generator = load_generator(args.model, backend=args.backend, threads=args.threads)
    generator.batch_size = args.batch
    if seeds is not None:
        return walk(generator, args, int(seeds[0]), int(seeds[1]))
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


def walk(generator, args: argparse.Namespace, seed_a: int, seed_b: int) -> int:
    """The latent walk as a video (every frame enlarged ``--scale`` times)."""
    import cv2
    import numpy as np

    from edgeimg.runtime.frame import Frame
    from edgeimg.runtime.sinks import FrameResult, VideoSink

    classes = parse_pair(args.cls, "--class") if args.cls and "," in args.cls else (args.cls, None)
    scale = args.scale or 8
    sink = VideoSink(args.output, fps=args.fps)
    start = time.perf_counter()
    with sink:
        for i, image in enumerate(
            generator.interpolate(seed_a, seed_b, args.frames, classes[0], classes[1])
        ):
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
            f"wrote {args.output}: {args.frames} frames from seed {seed_a} to {seed_b} "
            f"({seconds:.2f} s with encoding, {generator!r})"
        )
    return 0
