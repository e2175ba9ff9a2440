"""`edgeimg predict`: run any task's model on an image, a folder, a video, a stream or a camera."""

from __future__ import annotations

import argparse
from typing import Any

from edgeimg.cli.running import (
    add_model_options,
    add_output_options,
    add_source_options,
    check_common,
    run_model,
    split_inputs,
)
from edgeimg.cli.stylize import add_blend_option, blend_params
from edgeimg.cli.track import add_classes_option, class_stages
from edgeimg.runtime.errors import EdgeimgError

DEFAULT_SOURCE = "synthetic:frames=30"

EXAMPLES = """\
examples:
  edgeimg predict                                   bundled detector, built-in scene -> stdout
  edgeimg predict fmnist.onnx shoes/ --output top5.csv --output top5.jsonl
  edgeimg predict fmnist.onnx boot.png --output boot_labelled.png
  edgeimg predict detector.onnx street.mp4 --output boxes.mp4 --output boxes.txt --track
  edgeimg predict detector.onnx 0 --show            camera 0, in a window
  edgeimg predict yolov8n.onnx street.jpg --classes person --output people.jpg
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "predict",
        help="run any model (classifier, detector, ...) on images, videos, streams or cameras",
        description="Run a model exported by edgeimg on every frame of a source and write what\n"
        "fits its task. Outputs are chosen by file suffix and may be repeated:\n"
        "  .mp4 .avi .mkv      annotated video       .jpg .png ...   annotated image\n"
        "  .jsonl              one JSON record per frame (image names for folders)\n"
        "  .csv                classifier: frame,name,rank,class_id,class,score\n"
        "  .txt                detector: MOTChallenge text\n"
        "With no --output the JSON records go to standard output. With no model the bundled\n"
        "person detector runs; with no source, the built-in synthetic scene. `edgeimg track`\n"
        "is the detection + tracking verb with its tracker options, `edgeimg stylize` the\n"
        "style-transfer verb.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "inputs",
        nargs="*",
        metavar="MODEL.onnx SOURCE",
        help="the model (a name ending in .onnx; default: bundled detector) and the source: an "
        "image, image folder, video file, camera index, URL, csi://N, GStreamer pipeline or "
        f"synthetic: (default {DEFAULT_SOURCE})",
    )
    add_source_options(parser.add_argument_group("source"))
    mdl = parser.add_argument_group("model")
    add_model_options(mdl, with_model_flag=False)
    mdl.add_argument(
        "--task",
        default="detect",
        metavar="NAME",
        help="with no MODEL.onnx: run this task's bundled model (default detect)",
    )
    mdl.add_argument("--top-k", type=int, metavar="K", help="classifier: classes kept per image")
    mdl.add_argument("--conf", type=float, metavar="SCORE", help="detector: lowest score kept")
    add_blend_option(mdl)
    add_classes_option(mdl)
    mdl.add_argument(
        "--track",
        action="store_true",
        help="run the task's stages after decoding (detect: ByteTrack with the model's settings)",
    )
    add_output_options(parser.add_argument_group("outputs"))
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    check_common(args)
    model_path, spec = split_inputs(args.inputs, DEFAULT_SOURCE)
    decoder_params: dict[str, Any] = blend_params(args.blend)
    if args.top_k is not None:
        if args.top_k < 1:
            raise EdgeimgError(f"--top-k: expected >= 1, got {args.top_k}")
        decoder_params["top_k"] = args.top_k
    if args.conf is not None:
        if not 0.0 <= args.conf <= 1.0:
            raise EdgeimgError(f"--conf: expected a score in [0, 1], got {args.conf}")
        decoder_params["score_threshold"] = args.conf

    def stages(model: Any) -> list[Any]:
        class_filter: list[Any] = class_stages(args.classes, model.contract)
        return class_filter + (model.task.stages(model.contract) if args.track else [])

    return run_model(args, model_path, spec or DEFAULT_SOURCE, decoder_params, args.task, stages)
