"""`edgeimg stylize [MODEL.onnx] [SOURCE] -o OUT`: repaint images, videos, streams or a camera
in a style, with a feed-forward stylizer (`edgeimg predict` restricted to the stylize task, with
``--blend``); ``--optimize``: the per-image Gatys optimisation, the quality reference (needs the
training extra)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from edgeimg.cli.running import (
    add_model_options,
    add_output_options,
    add_source_options,
    check_common,
    run_model,
    split_inputs,
)
from edgeimg.runtime.errors import EdgeimgError

DEFAULT_SOURCE = "synthetic:frames=30"
TASK = "stylize"
# --optimize's own options: name -> default (None in the parser, so a flag given without
# --optimize is refused rather than ignored)
OPTIMIZE_DEFAULTS: dict[str, Any] = {
    "size": 256,
    "steps": 300,
    "loss_net": "camvid-seg",
    "seed": 0,
}

EXAMPLES = """\
examples:
  edgeimg stylize photo.jpg -o starry.png                 bundled style (Starry Night)
  edgeimg stylize mosaic.onnx photo.jpg -o out.png --blend 0.3   30% of the photo mixed back
  edgeimg stylize mosaic.onnx clip.mp4 -o clip_mosaic.mp4 -o sizes.jsonl
  edgeimg stylize mosaic.onnx photos/ -o painted.jsonl --frames 10
  edgeimg stylize mosaic.onnx --camera 0 --show           webcam, in a window
  edgeimg stylize --optimize photo.jpg --style starry.jpg -o reference.png --steps 300
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "stylize",
        help="style transfer on images, videos, streams or a camera (feed-forward model), or "
        "one image by optimisation (--optimize)",
        description="Repaint every frame of a source in the style a feed-forward stylizer\n"
        "learnt (`edgeimg train stylize`, then `edgeimg export`). Without MODEL the bundled\n"
        "stylizer runs; without SOURCE the built-in synthetic scene. Frames of any size are\n"
        "padded to the network's multiple and cropped back. Outputs by file suffix, repeatable:\n"
        "  .jpg .png ...   the stylized image      .mp4 .avi .mkv   the stylized video\n"
        "  .jsonl          one JSON record per frame (style, size)\n"
        "Prints per-stage timing (p50/p90/p99) and FPS at the end.\n\n"
        "--optimize runs the per-image optimisation of Gatys et al. instead (slow, the quality\n"
        "reference): one content image SOURCE, --style STYLE_IMAGE, -o OUT.png; it needs the\n"
        'training extra (pip install "edgeimg[train]").',
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "inputs",
        nargs="*",
        metavar="MODEL.onnx SOURCE",
        help="the stylizer (a name ending in .onnx; default: the bundled one) and the source: an "
        "image, image folder, video file, camera index, URL, csi://N, GStreamer pipeline or "
        f"synthetic: (default {DEFAULT_SOURCE})",
    )
    src = parser.add_argument_group("source")
    src.add_argument("--camera", type=int, metavar="N", help="camera index, instead of SOURCE")
    add_source_options(src)
    mdl = parser.add_argument_group("model")
    add_model_options(mdl, with_model_flag=False)
    add_blend_option(mdl)
    add_output_options(parser.add_argument_group("outputs"))
    opt = parser.add_argument_group("optimisation (--optimize; needs the training extra)")
    opt.add_argument(
        "--optimize",
        action="store_true",
        help="optimise the content image SOURCE itself to the style of --style (Gatys et al.)",
    )
    opt.add_argument("--style", metavar="IMAGE", help="the style image (painting) to copy")
    opt.add_argument(
        "--size",
        type=int,
        metavar="PX",
        help=f"long side of the result in pixels (default {OPTIMIZE_DEFAULTS['size']})",
    )
    opt.add_argument(
        "--steps",
        type=int,
        metavar="N",
        help=f"optimisation steps (default {OPTIMIZE_DEFAULTS['steps']})",
    )
    opt.add_argument(
        "--loss-net",
        metavar="NAME",
        help=f"perceptual-loss network (default {OPTIMIZE_DEFAULTS['loss_net']})",
    )
    opt.add_argument(
        "--seed",
        type=int,
        help=f"seed of the loss network and the start (default {OPTIMIZE_DEFAULTS['seed']})",
    )
    parser.set_defaults(run=run)


def add_blend_option(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--blend",
        type=float,
        metavar="B",
        help="stylizer: fraction of the original frame mixed back into the output, 0..1 "
        "(default: the model's, 0)",
    )


def blend_params(blend: float | None) -> dict[str, Any]:
    """The decoder_params of ``--blend`` ({} when not given); a one-line error unless 0..1."""
    if blend is None:
        return {}
    if not (math.isfinite(blend) and 0.0 <= blend <= 1.0):
        raise EdgeimgError(f"--blend: expected 0..1, got {blend}")
    return {"blend": blend}


def run(args: argparse.Namespace) -> int:
    if args.optimize:
        return optimize(args)
    flags = ("style", *OPTIMIZE_DEFAULTS)
    given = [f"--{name.replace('_', '-')}" for name in flags if getattr(args, name) is not None]
    if given:
        raise EdgeimgError(
            f"{', '.join(given)}: only with --optimize (a trained model carries its style)"
        )
    check_common(args)
    model_path, spec = split_inputs(
        args.inputs, None if args.camera is not None else DEFAULT_SOURCE
    )
    if args.camera is not None:
        if spec is not None:
            raise EdgeimgError(f"expected SOURCE or --camera, not both (got {spec} and --camera)")
        if args.camera < 0:
            raise EdgeimgError(f"--camera: expected an index >= 0, got {args.camera}")
    if not (args.output or args.show or args.serve_view):
        raise EdgeimgError(
            "expected an output: -o OUT.png, -o OUT.mp4 or -o OUT.jsonl, --show or --serve-view"
        )
    decoder_params = blend_params(args.blend)
    source: str | int = args.camera if args.camera is not None else spec or DEFAULT_SOURCE
    return run_model(args, model_path, source, decoder_params, TASK, only_stylizers)


def only_stylizers(model: Any) -> list[Any]:
    """No stages after decoding; a one-line error for a model of another task."""
    if model.contract.task != TASK:
        raise EdgeimgError(
            f"model {model.path.name}: expected a stylizer (task {TASK}), got task "
            f"{model.contract.task}; run it with `edgeimg predict`"
        )
    return []


def optimize(args: argparse.Namespace) -> int:
    """``--optimize``: the flags checked (nothing written on a bad one), then one call of the
    training layer's ``optimize_cli``."""
    from edgeimg.runtime.atomic import check_destination, check_distinct
    from edgeimg.runtime.sinks import IMAGE_SUFFIXES

    if not args.style:
        raise EdgeimgError("--optimize: expected --style IMAGE, the painting to copy the style of")
    model_path, content = split_inputs(args.inputs, None)
    if model_path is not None:
        raise EdgeimgError(
            f"--optimize: takes no MODEL.onnx (it optimises the image itself), got {model_path}"
        )
    if content is None or args.camera is not None:
        raise EdgeimgError("--optimize: expected one content image SOURCE (a file)")
    for label, path in (("SOURCE", content), ("--style", args.style)):
        if Path(path).suffix.lower() not in IMAGE_SUFFIXES or not Path(path).is_file():
            raise EdgeimgError(
                f"--optimize {label}: expected an image file ({', '.join(IMAGE_SUFFIXES)}), "
                f"got {path}"
            )
    if len(args.output) != 1 or Path(args.output[0]).suffix.lower() not in IMAGE_SUFFIXES:
        got = ", ".join(args.output) or "none"
        raise EdgeimgError(
            f"--optimize: expected one -o OUT image ({', '.join(IMAGE_SUFFIXES)}), got {got}"
        )
    if args.show or args.serve_view or args.blend is not None:
        raise EdgeimgError("--optimize: --show, --serve-view and --blend apply to a model's run")
    options = {
        name: default if getattr(args, name) is None else getattr(args, name)
        for name, default in OPTIMIZE_DEFAULTS.items()
    }
    for name, low in (("size", 32), ("steps", 1)):
        if options[name] < low:
            raise EdgeimgError(f"--{name}: expected >= {low}, got {options[name]}")
    output = args.output[0]
    check_distinct([("--output", output)], [("SOURCE", content), ("--style", args.style)])
    check_destination(output)
    try:
        from edgeimg.train.tasks.stylize.gatys import optimize_cli
    except ImportError as exc:
        from edgeimg.cli.main import EXTRAS

        if (exc.name or "").split(".")[0] not in EXTRAS:
            raise
        error = EdgeimgError('--optimize needs the training extra: pip install "edgeimg[train]"')
        error.exit_code = 3  # a missing extra, as main.report_error says for other commands
        raise error from None
    return int(
        optimize_cli(
            content,
            args.style,
            output,
            size=options["size"],
            steps=options["steps"],
            loss_net=options["loss_net"],
            seed=options["seed"],
        )
    )
