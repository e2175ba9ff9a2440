"""`edgeimg track`: detect and track objects in real time, from a camera, file, folder or stream."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
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
from edgeimg.runtime.errors import EdgeimgError

DEFAULT_OUTPUT = "edgeimg_track.mp4"
DEFAULT_SOURCE = "synthetic:"

EXAMPLES = """\
examples:
  edgeimg track                                  demo: synthetic scene -> edgeimg_track.mp4
  edgeimg track --camera 0 --show                webcam, in a window
  edgeimg track --source clip.mp4 --output out.mp4 --jsonl out.jsonl
  edgeimg track --source rtsp://cam.local/stream --mot tracks.txt
  edgeimg track --source csi://0 --device tensorrt   Jetson CSI camera
  edgeimg track --source PETS09-S2L1/vtest.avi --start-frame 601 --mot pets.txt
  edgeimg track --model yolov8n.onnx --camera 0 --classes person,car   Ultralytics YOLO export
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "track",
        help="detect and track objects in real time (camera, file, folder, stream)",
        description="Run a detector exported by edgeimg on every frame of a source, track the\n"
        "detections with ByteTrack, and write any combination of an annotated video, JSON\n"
        "lines, MOTChallenge text and a window. Prints per-stage timing (p50/p90/p99), FPS,\n"
        "dropped frames and frame age at the end.\n\n"
        "With no source it runs the built-in synthetic scene; with no output option it writes\n"
        f"{DEFAULT_OUTPUT}; with no --model it uses the bundled person detector. An\n"
        "Ultralytics YOLO ONNX export (`yolo export format=onnx`) runs as it is: its contract\n"
        "is built from the file's own metadata (see `edgeimg info MODEL`).\n"
        "Live sources (cameras, streams) are read on a capture thread that keeps only the\n"
        "newest frame; files are read in order, every frame. Ctrl-C stops cleanly and\n"
        "finishes the outputs. Other tasks (classifiers, ...) run with `edgeimg predict`.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    src = parser.add_argument_group("source (one of)")
    which = src.add_mutually_exclusive_group()
    which.add_argument("--camera", type=int, metavar="N", help="camera index (V4L2 /dev/videoN)")
    which.add_argument(
        "--source",
        metavar="SPEC",
        help="video file, image folder, rtsp:// or http(s):// URL, csi://N, a GStreamer pipeline "
        "(contains '!'), or synthetic:[key=value,...] (default: synthetic:)",
    )
    add_source_options(src)

    mdl = parser.add_argument_group("model")
    add_model_options(mdl, with_model_flag=True)
    mdl.add_argument(
        "--conf",
        type=float,
        metavar="SCORE",
        help="lowest detection score kept (the model's default is low, so the tracker sees "
        "weak boxes too)",
    )
    add_classes_option(mdl)

    trk = parser.add_argument_group("tracking")
    trk.add_argument("--tracker-config", metavar="YAML", help="ByteTrack settings to override")
    trk.add_argument("--no-track", action="store_true", help="detect only, no track IDs")

    out = parser.add_argument_group("outputs (any combination)")
    out.add_argument("--output", metavar="VIDEO", help="annotated video (.mp4 or .avi)")
    out.add_argument("--jsonl", metavar="FILE", help="JSON lines, one record per frame")
    out.add_argument("--mot", metavar="FILE", help="MOTChallenge text (frame,id,left,top,w,h,...)")
    out.add_argument("--show", action="store_true", help="show a window (needs a display)")
    add_view_option(out)
    out.add_argument("--timing-json", metavar="FILE", help="write the timing summary as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    check_common(args)
    if args.conf is not None and not 0.0 <= args.conf <= 1.0:
        raise EdgeimgError(f"--conf: expected a score in [0, 1], got {args.conf}")
    if args.camera is not None:
        spec: str | int = args.camera
    else:  # an empty --source "" is refused by open_source, not taken for the demo
        spec = DEFAULT_SOURCE if args.source is None else args.source
    default_output = not any((args.output, args.jsonl, args.mot, args.show, args.serve_view))
    if default_output:
        args.output = DEFAULT_OUTPUT

    check_paths(args, spec)
    if isinstance(spec, str) and not spec.strip():
        raise EdgeimgError(
            "--source: empty; expected a video file, image folder, URL, csi://N, a GStreamer "
            "pipeline or synthetic: (leave --source out for the demo scene)"
        )
    if not args.verbose:
        quiet_opencv()
    sinks = _sinks(args)  # checks the destinations before any work
    model = load(args, args.model, None if args.conf is None else {"score_threshold": args.conf})
    if model.contract.task != "detect":
        raise EdgeimgError(
            f"model {model.path.name}: expected a detector (task detect), got task "
            f"{model.contract.task}; run it with `edgeimg predict`"
        )
    class_filter = class_stages(args.classes, model.contract)  # checks the names before any work
    overrides = None if args.no_track else _tracker_overrides(args.tracker_config)
    with open_spec(args, spec) as source:
        fps = source.fps or 30.0
        for sink in sinks:
            sink.configure(fps, model.contract)
        stages = class_filter + (
            [] if overrides is None else [_tracker(model.contract, overrides, fps)]
        )
        model_name = (
            Path(args.model).name
            if args.model
            else model.path.name
            if "://" in args.backend  # the server's model: its name there
            else "the bundled person detector"
        )
        print(
            f"tracking {source.name} with {model_name} on {backend_name(model)}",
            file=sys.stderr,
        )
        if default_output:
            print(
                f"no output chosen: writing the annotated video {DEFAULT_OUTPUT}", file=sys.stderr
            )
        return run_and_report(args, source, model, sinks, stages, args.timing_json)


def add_classes_option(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--classes",
        metavar="NAMES",
        help="detector: keep only these classes, by name or id, comma-separated (e.g. "
        "person,car or 0,2), before tracking",
    )


def class_stages(classes: str | None, contract: Any) -> list[Any]:
    """[a ClassFilter] for ``--classes`` (checked against the model's class names), or []."""
    if classes is None:
        return []
    from edgeimg.runtime.tasks import get_task
    from edgeimg.runtime.tasks.detect import ClassFilter, Detections
    from edgeimg.runtime.tasks.detect.classes import parse_classes

    if get_task(contract.task).result_type is not Detections:
        raise EdgeimgError(
            f"--classes: expected a detector (task detect), got task {contract.task}"
        )
    return [ClassFilter(parse_classes(classes, contract.class_names))]


def _tracker_overrides(path: str | None) -> dict[str, Any]:
    """The ByteTrack settings a --tracker-config YAML names (checked), layered over the model's."""
    from edgeimg.runtime.tasks.detect.tracking.config import settings_from_yaml

    return {} if path is None else settings_from_yaml(path)


def _tracker(contract: Any, overrides: dict[str, Any], fps: float) -> Any:
    """ByteTrack with defaults < the model's tuned settings < the YAML; the source's frame rate
    unless a setting names one."""
    from edgeimg.runtime.tasks.detect.tracking import ByteTracker

    try:
        tracker = ByteTracker.from_contract(contract, overrides)
    except EdgeimgError as exc:
        raise EdgeimgError(f"the model's tracker settings: {exc}") from None
    if "frame_rate" not in {**contract.task_params.get("tracker", {}), **overrides}:
        tracker = ByteTracker(replace(tracker.config, frame_rate=fps))
    return tracker


def check_paths(args: argparse.Namespace, spec: str | int) -> None:
    """Before any work: no output is an input or another output, and the timing JSON can be
    written (it is written after the run)."""
    from edgeimg.runtime.atomic import check_destination, check_distinct

    check_distinct(
        [
            ("--output", args.output),
            ("--jsonl", args.jsonl),
            ("--mot", args.mot),
            ("--timing-json", args.timing_json),
        ],
        [
            ("--source", spec),
            ("--model", args.model),
            ("--contract", args.contract),
            ("--tracker-config", args.tracker_config),
        ],
    )
    if args.timing_json:
        check_destination(args.timing_json, "--timing-json")


def _sinks(args: argparse.Namespace) -> list[Any]:
    from edgeimg.runtime.sinks import JsonLinesSink, VideoSink, WindowSink
    from edgeimg.runtime.tasks.detect.sinks import MotSink

    sinks: list[Any] = []
    if args.show:
        sinks.append(WindowSink())
    if args.output:
        sinks.append(VideoSink(args.output))
    if args.jsonl:
        sinks.append(JsonLinesSink(args.jsonl))
    if args.mot:
        sinks.append(MotSink(args.mot))
    return sinks + view_sinks(args)
