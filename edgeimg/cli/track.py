"""`edgeimg track`: detect and track objects in real time, from a camera, file, folder or stream."""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace
from pathlib import Path

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
        f"{DEFAULT_OUTPUT}; with no --model it uses the bundled person detector.\n"
        "Live sources (cameras, streams) are read on a capture thread that keeps only the\n"
        "newest frame; files are read in order, every frame. Ctrl-C stops cleanly and\n"
        "finishes the outputs.",
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
    src.add_argument(
        "--start-frame",
        type=int,
        default=1,
        metavar="N",
        help="first frame of a file or folder to process, 1-based like MOTChallenge (default 1)",
    )
    src.add_argument("--frames", type=int, metavar="N", help="stop after N frames")
    src.add_argument(
        "--fps", type=float, help="frame rate of a folder, or to override a video's header"
    )
    src.add_argument(
        "--live",
        action="store_true",
        help="replay a file at its frame rate like a camera (newest frame only, drops counted)",
    )
    src.add_argument(
        "--camera-size",
        type=_size,
        metavar="WxH",
        help="resolution to ask the camera for, e.g. 1280x720",
    )
    src.add_argument("--camera-fps", type=float, metavar="FPS", help="frame rate to ask for")
    src.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        metavar="S",
        help="seconds a stream URL may take to open or to deliver a frame (default 10)",
    )

    mdl = parser.add_argument_group("model")
    mdl.add_argument(
        "--model", metavar="M.onnx", help="ONNX detector exported by edgeimg (default: bundled)"
    )
    mdl.add_argument(
        "--contract",
        metavar="FILE",
        help="JSON/YAML model contract, for an ONNX model without edgeimg metadata",
    )
    mdl.add_argument("--backend", choices=("onnxruntime", "opencv"), default="onnxruntime")
    mdl.add_argument("--device", choices=("cpu", "cuda", "tensorrt", "auto"), default="auto")
    mdl.add_argument("--threads", type=int, metavar="N", help="inference threads")
    mdl.add_argument(
        "--conf",
        type=float,
        metavar="SCORE",
        help="lowest detection score kept (the model's default is low, so the tracker sees "
        "weak boxes too)",
    )

    trk = parser.add_argument_group("tracking")
    trk.add_argument("--tracker-config", metavar="YAML", help="ByteTrack settings to override")
    trk.add_argument("--no-track", action="store_true", help="detect only, no track IDs")

    out = parser.add_argument_group("outputs (any combination)")
    out.add_argument("--output", metavar="VIDEO", help="annotated video (.mp4 or .avi)")
    out.add_argument("--jsonl", metavar="FILE", help="JSON lines, one record per frame")
    out.add_argument("--mot", metavar="FILE", help="MOTChallenge text (frame,id,left,top,w,h,...)")
    out.add_argument("--show", action="store_true", help="show a window (needs a display)")
    out.add_argument("--timing-json", metavar="FILE", help="write the timing summary as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.start_frame < 1:
        raise EdgeimgError(f"--start-frame: expected >= 1, got {args.start_frame}")
    if args.frames is not None and args.frames < 1:
        raise EdgeimgError(f"--frames: expected >= 1, got {args.frames}")
    if args.threads is not None and args.threads < 1:
        raise EdgeimgError(f"--threads: expected >= 1, got {args.threads}")
    if args.conf is not None and not 0.0 <= args.conf <= 1.0:
        raise EdgeimgError(f"--conf: expected a score in [0, 1], got {args.conf}")
    spec = args.camera if args.camera is not None else (args.source or DEFAULT_SOURCE)
    default_output = not any((args.output, args.jsonl, args.mot, args.show))
    if default_output:
        args.output = DEFAULT_OUTPUT

    if not args.verbose:
        _quiet_opencv()
    sinks = _sinks(args)  # checks the destinations before any work
    model = _load_model(args)
    tracker_config = (
        None
        if args.no_track
        else _tracker_config(args.tracker_config, model.contract.tracker_params)
    )
    from edgeimg.runtime.annotate import Annotator
    from edgeimg.runtime.pipeline import PipelineConfig, run_pipeline
    from edgeimg.runtime.sources import SourceConfig, open_source

    source_config = SourceConfig(
        start=args.start_frame - 1,
        fps=args.fps,
        live=args.live,
        open_timeout_s=args.timeout,
        read_timeout_s=args.timeout,
        camera_size=args.camera_size,
        camera_fps=args.camera_fps,
    )
    with open_source(spec, source_config) as source:
        fps = source.fps or 30.0
        for sink in sinks:
            sink.configure(fps=fps, class_names=model.contract.class_names)
        tracker = None
        if tracker_config is not None:
            from edgeimg.runtime.tracking import ByteTracker

            config, explicit = tracker_config
            if "frame_rate" not in explicit:
                config = replace(config, frame_rate=fps)
            tracker = ByteTracker(config)
        print(
            f"tracking {source.name} with {_model_name(args)} on {_backend_name(model)}",
            file=sys.stderr,
        )
        if default_output:
            print(
                f"no output chosen: writing the annotated video {DEFAULT_OUTPUT}", file=sys.stderr
            )
        result = run_pipeline(
            source,
            model,
            sinks,
            tracker=tracker,
            annotator=Annotator(model.contract.class_names),
            config=PipelineConfig(max_frames=args.frames),
        )
    print(result.timing.format())
    for sink in sinks:
        if getattr(sink, "path", None) is not None and sink.frames:
            print(f"wrote {sink.path} ({sink.frames} frames)")
    if args.timing_json:
        _write_json(Path(args.timing_json), result.timing.to_dict())
    if result.timing.frames == 0:
        raise EdgeimgError(f"no frame was processed from {source.name}")
    return 130 if result.interrupted else 0


def _size(text: str) -> tuple[int, int]:
    """``1280x720`` -> (1280, 720), for argparse."""
    width, sep, height = text.lower().partition("x")
    if not (sep and width.isdigit() and height.isdigit() and int(width) and int(height)):
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 1280x720, got {text!r}")
    return int(width), int(height)


def _quiet_opencv() -> None:
    """Keep OpenCV's and FFmpeg's own warnings (e.g. a camera that does not open) out of the
    user's way: edgeimg reports those failures itself, in one line. ``-v`` shows them."""
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # read when FFmpeg is first used
    import cv2

    utils_logging = getattr(cv2.utils, "logging", None)  # OpenCV >= 4.12
    if utils_logging is not None:
        utils_logging.setLogLevel(utils_logging.LOG_LEVEL_SILENT)
    elif hasattr(cv2, "setLogLevel"):  # older 4.x
        cv2.setLogLevel(0)  # 0 = silent


def bundled_model_path() -> Path:
    """The person detector shipped inside the package."""
    import edgeimg.runtime

    return Path(edgeimg.runtime.__file__).parent / "assets" / "person_detector.onnx"


def _load_model(args: argparse.Namespace):
    from edgeimg.runtime.model import load_model

    if args.model:
        path = Path(args.model)
        if not path.is_file():
            raise EdgeimgError(f"model file not found: {path}")
    else:
        path = bundled_model_path()
        if not path.is_file():
            raise EdgeimgError(
                f"no bundled model in this installation (expected {path}); "
                "give an exported detector with --model M.onnx"
            )
    model = load_model(
        path,
        backend=args.backend,
        device=args.device,
        threads=args.threads,
        contract=args.contract,
        decoder_params=None if args.conf is None else {"score_threshold": args.conf},
    )
    if model.contract.task.value != "detect":
        raise EdgeimgError(
            f"model {path.name}: expected a detector (task detect), got task "
            f"{model.contract.task.value}"
        )
    return model


def _model_name(args: argparse.Namespace) -> str:
    return Path(args.model).name if args.model else "the bundled person detector"


def _backend_name(model) -> str:
    backend = getattr(model, "backend", None)
    return getattr(backend, "description", None) or "the runtime backend"


def _tracker_config(path: str | None, model_params: dict):
    """(ByteTrackConfig, the keys set explicitly): defaults < the model's tuned settings < YAML."""
    from edgeimg.runtime.tracking.config import ByteTrackConfig, settings_from_yaml

    values = dict(model_params)
    if path is not None:
        values.update(settings_from_yaml(path))
    try:
        return ByteTrackConfig.from_dict(values), frozenset(values)
    except EdgeimgError as exc:
        raise EdgeimgError(f"the model's tracker_params: {exc}") from None


def _sinks(args: argparse.Namespace) -> list:
    from edgeimg.runtime.sinks import JsonLinesSink, MotSink, VideoSink, WindowSink

    sinks = []
    if args.show:
        sinks.append(WindowSink())
    if args.output:
        sinks.append(VideoSink(args.output))
    if args.jsonl:
        sinks.append(JsonLinesSink(args.jsonl))
    if args.mot:
        sinks.append(MotSink(args.mot))
    return sinks


def _write_json(path: Path, values: dict) -> None:
    from edgeimg.runtime.sinks import check_writable, temporary_path

    path = check_writable(path, "timing JSON")
    temp = temporary_path(path)
    temp.write_text(json.dumps(values, indent=2) + "\n")
    os.replace(temp, path)
