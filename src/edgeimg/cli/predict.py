"""`edgeimg predict`: run any task's model on an image, a folder, a video, a stream or a camera."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from edgeimg.cli.running import (
    add_model_options,
    add_source_options,
    add_view_option,
    backend_name,
    check_common,
    load,
    open_spec,
    quiet_opencv,
    run_and_report,
    view_sinks,
)
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
        "is the detection + tracking verb with its tracker options.",
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
    add_classes_option(mdl)
    mdl.add_argument(
        "--track",
        action="store_true",
        help="run the task's stages after decoding (detect: ByteTrack with the model's settings)",
    )
    out = parser.add_argument_group("outputs")
    out.add_argument(
        "-o",
        "--output",
        action="append",
        default=[],
        metavar="FILE",
        help="output file, format by suffix (repeatable)",
    )
    out.add_argument("--show", action="store_true", help="show a window (needs a display)")
    add_view_option(out)
    out.add_argument("--timing-json", metavar="FILE", help="write the timing summary as JSON")
    parser.set_defaults(run=run)


def split_inputs(inputs: list[str]) -> tuple[str | None, str]:
    """(model path or None, source spec) from the positional arguments."""
    if len(inputs) > 2:
        raise EdgeimgError(f"expected at most MODEL.onnx and SOURCE, got {len(inputs)} arguments")
    if any(not item.strip() for item in inputs):
        raise EdgeimgError("source: expected a camera index, path, URL or pipeline, got ''")
    models = [item for item in inputs if item.lower().endswith(".onnx")]
    sources = [item for item in inputs if not item.lower().endswith(".onnx")]
    if len(models) > 1 or len(sources) > 1:
        raise EdgeimgError(
            f"expected one MODEL.onnx and one SOURCE, got {', '.join(inputs)} "
            "(the model is the argument ending in .onnx)"
        )
    return (models[0] if models else None), (sources[0] if sources else DEFAULT_SOURCE)


def run(args: argparse.Namespace) -> int:
    check_common(args)
    model_path, spec = split_inputs(args.inputs)
    check_paths(args, model_path, spec)
    decoder_params: dict[str, Any] = {}
    if args.top_k is not None:
        if args.top_k < 1:
            raise EdgeimgError(f"--top-k: expected >= 1, got {args.top_k}")
        decoder_params["top_k"] = args.top_k
    if args.conf is not None:
        if not 0.0 <= args.conf <= 1.0:
            raise EdgeimgError(f"--conf: expected a score in [0, 1], got {args.conf}")
        decoder_params["score_threshold"] = args.conf
    if not args.verbose:
        quiet_opencv()
    model = load(args, model_path, decoder_params or None, args.task)
    class_filter = class_stages(args.classes, model.contract)  # checked before any output
    sinks = _sinks(args, model.contract)  # checks the destinations before any work
    with open_spec(args, spec) as source:
        fps = source.fps or 30.0
        for sink in sinks:
            sink.configure(fps, model.contract)
        stages = class_filter + (model.task.stages(model.contract) if args.track else [])
        print(
            f"{model.contract.task}: {source.name} with {model.path.name} on {backend_name(model)}",
            file=sys.stderr,
        )
        return run_and_report(args, source, model, sinks, stages, args.timing_json)


def check_paths(args: argparse.Namespace, model: str | None, spec: str) -> None:
    """Before any work: no output is an input or another output, and the timing JSON can be
    written (it is written after the run)."""
    from edgeimg.runtime.atomic import check_destination, check_distinct

    outputs = [("--output", path) for path in args.output]
    check_distinct(
        [*outputs, ("--timing-json", args.timing_json)],
        [("SOURCE", spec), ("MODEL", model), ("--contract", args.contract)],
    )
    if args.timing_json:
        check_destination(args.timing_json, "--timing-json")


def _sinks(args: argparse.Namespace, contract: Any) -> list[Any]:
    from edgeimg.runtime.sinks import StdoutJsonLines, WindowSink, file_sink

    sinks: list[Any] = [file_sink(path, contract) for path in args.output]
    if args.show:
        sinks.append(WindowSink())
    sinks += view_sinks(args)
    if not sinks:
        sinks.append(StdoutJsonLines())
    return sinks
