"""What `edgeimg track`, `edgeimg predict` and `edgeimg stylize` share: the source, model and
output options, loading the model (the bundled one by default), and running the pipeline with
a summary at the end."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from edgeimg.runtime.errors import EdgeimgError

log = logging.getLogger(__name__)


def size_arg(text: str) -> tuple[int, int]:
    """``1280x720`` -> (1280, 720), for argparse."""
    width, sep, height = text.lower().partition("x")
    if not (sep and width.isdigit() and height.isdigit() and int(width) and int(height)):
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 1280x720, got {text!r}")
    return int(width), int(height)


def add_source_options(src: argparse._ArgumentGroup) -> None:
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
        type=size_arg,
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


def default_backend() -> str:
    """``--backend`` when it is not given: $EDGEIMG_BACKEND, else ``auto``; a one-line error
    naming the variable when it holds no backend."""
    value = os.environ.get("EDGEIMG_BACKEND", "").strip()
    if not value:
        return "auto"
    try:
        return backend_arg(value)
    except argparse.ArgumentTypeError as exc:
        raise EdgeimgError(f"EDGEIMG_BACKEND: {exc}") from None


def backend_arg(text: str) -> str:
    """``--backend``: a registered name, ``auto`` or a remote URI (``triton://...``)."""
    from edgeimg.runtime.backends import check_backend_name

    try:
        return check_backend_name(text, extra=("auto",))
    except EdgeimgError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("backend: ")) from None


def add_model_options(mdl: argparse._ArgumentGroup, with_model_flag: bool) -> None:
    from edgeimg.runtime.backends import backend_names

    if with_model_flag:
        mdl.add_argument(
            "--model", metavar="M.onnx", help="ONNX detector exported by edgeimg (default: bundled)"
        )
    mdl.add_argument(
        "--contract",
        metavar="FILE",
        help="JSON/YAML model contract, for an ONNX model without edgeimg metadata",
    )
    mdl.add_argument(
        "--backend",
        type=backend_arg,
        metavar="NAME|URI",
        help=f"inference engine: {', '.join(backend_names())}, or auto (the default, unless "
        "$EDGEIMG_BACKEND names another): the fastest installed backend, "
        "thread count and precision measured here for this model, MODEL.int8.onnx beside it "
        "included when `edgeimg quantize --eval` passed its accuracy (measured once, cached; "
        "`edgeimg bench MODEL --choose` re-measures); triton://HOST:PORT/MODEL[/VERSION]"
        "[?timeout=S]: a model served by Triton (`edgeimg serve`), pre/post-processing and "
        "tracking here, no MODEL.onnx (the contract comes from the server, or --contract)",
    )
    mdl.add_argument("--device", choices=("cpu", "cuda", "tensorrt", "auto"), default="auto")
    mdl.add_argument("--threads", type=int, metavar="N", help="inference threads")
    mdl.add_argument(
        "--workers",
        type=int,
        metavar="N",
        default=1,
        help="frames in inference at once, each on its own thread (default 1: frame n+1 is "
        "inferred while frame n is drawn and written); frame-parallel for files, e.g. "
        "--workers 2 --threads 1 on 2 cores",
    )


def add_view_option(out: argparse._ArgumentGroup) -> None:
    out.add_argument(
        "--serve-view",
        metavar="HOST:PORT",
        help="serve a live view to browsers at http://HOST:PORT/: the annotated stream "
        "(MJPEG), FPS and counts, for several viewers without slowing the run (127.0.0.1: this "
        "machine only; 0.0.0.0: every network, with a warning; PORT alone: 127.0.0.1:PORT)",
    )


def add_output_options(out: argparse._ArgumentGroup) -> None:
    """``-o/--output FILE`` (repeatable, format by suffix), ``--show``, ``--serve-view``,
    ``--timing-json``: the outputs of `edgeimg predict` and `edgeimg stylize`."""
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


def view_sinks(args: argparse.Namespace) -> list[Any]:
    """[the ViewSink of ``--serve-view``], its address bound (a port in use is a one-line
    error before any work), or []."""
    if not getattr(args, "serve_view", None):
        return []
    from edgeimg.runtime.view import ViewSink

    sink = ViewSink(args.serve_view, name="--serve-view")
    print(f"live view: {sink.url}", file=sys.stderr)
    return [sink]


def check_common(args: argparse.Namespace) -> None:
    if args.start_frame < 1:
        raise EdgeimgError(f"--start-frame: expected >= 1, got {args.start_frame}")
    if args.frames is not None and args.frames < 1:
        raise EdgeimgError(f"--frames: expected >= 1, got {args.frames}")
    if args.threads is not None and args.threads < 1:
        raise EdgeimgError(f"--threads: expected >= 1, got {args.threads}")
    if args.workers < 1:
        raise EdgeimgError(f"--workers: expected >= 1, got {args.workers}")


def quiet_opencv() -> None:
    """Keep OpenCV's and FFmpeg's own warnings (e.g. a camera that does not open) out of the
    user's way: edgeimg reports those failures itself, in one line. ``-v`` shows them."""
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # read when FFmpeg is first used
    import cv2

    utils_logging = getattr(cv2.utils, "logging", None)  # OpenCV >= 4.12
    if utils_logging is not None:
        utils_logging.setLogLevel(utils_logging.LOG_LEVEL_SILENT)
    elif hasattr(cv2, "setLogLevel"):  # older 4.x
        cv2.setLogLevel(0)  # 0 = silent


def load(
    args: argparse.Namespace,
    model: str | None,
    decoder_params: dict[str, Any] | None = None,
    task: str = "detect",
) -> Any:
    """The model at ``model`` (the task's bundled model when None), on the chosen backend."""
    from edgeimg.runtime.backends import is_backend_uri
    from edgeimg.runtime.model import bundled_model_path, load_model

    args.backend = args.backend or default_backend()
    if is_backend_uri(args.backend):
        if model:
            raise EdgeimgError(
                f"--backend {args.backend}: runs the server's model; expected no MODEL.onnx, "
                f"got {model}"
            )
        return load_model(
            args.backend,
            backend=args.backend,
            contract=args.contract,
            decoder_params=decoder_params,
        )
    if model:
        path = Path(model)
        if not path.is_file():
            raise EdgeimgError(f"model file not found: {path}")
    else:
        path = bundled_model_path(task)
        if not path.is_file():
            raise EdgeimgError(
                f"no bundled model in this installation (expected {path}); "
                "give an exported model path"
            )
    return load_model(
        path,
        backend=args.backend,
        device=args.device,
        threads=args.threads,
        contract=args.contract,
        decoder_params=decoder_params,
    )


def open_spec(args: argparse.Namespace, spec: str | int) -> Any:
    from edgeimg.runtime.sources import SourceConfig, open_source

    config = SourceConfig(
        start=args.start_frame - 1,
        fps=args.fps,
        live=args.live,
        open_timeout_s=args.timeout,
        read_timeout_s=args.timeout,
        camera_size=args.camera_size,
        camera_fps=args.camera_fps,
    )
    return open_source(spec, config)


LOOP_FRAMES = 30  # frames a run needs before --backend auto remembers its loop's cost


def run_and_report(
    args: argparse.Namespace,
    source: Any,
    model: Any,
    sinks: Sequence[Any],
    stages: Sequence[Any],
    timing_json: str | None,
) -> int:
    """Run the pipeline, print the timing table and what was written (not with ``-q``); the
    exit code: 0, or 128 + the signal that stopped the run (130 Ctrl-C, 143 SIGTERM, 129
    SIGHUP), the outputs finished in every case. A source that ended before the end its header
    announced (a truncated video) gets one warning line at the end, and exit code 0: the
    outputs are complete for every frame there was."""
    from edgeimg.runtime.pipeline import PipelineConfig, run_pipeline
    from edgeimg.runtime.signals import exit_code

    result = run_pipeline(
        source,
        model,
        sinks,
        stages=stages,
        annotator=model.task.annotator(model.contract),
        config=PipelineConfig(max_frames=args.frames, workers=args.workers),
    )
    if result.backend_lost and result.timing.frames == 0:
        raise EdgeimgError(f"{result.backend_lost}; no frame was processed")
    if result.timing.frames == 0:
        raise EdgeimgError(f"no frame was processed from {source.name}")
    choice = getattr(model, "choice", None)
    if choice is not None and args.workers == 1 and result.timing.frames >= LOOP_FRAMES:
        from edgeimg.runtime.backends.choose import remember_loop

        remember_loop(choice, result.timing.other_ms(capture=not source.live))
    if not getattr(args, "quiet", False):
        out = sys.stderr if _stdout_is_data(sinks) else sys.stdout
        print(result.timing.format(), file=out)
        for sink in sinks:
            if getattr(sink, "path", None) is not None and sink.frames:
                print(f"wrote {sink.path} ({sink.frames} frames)", file=out)
    if result.source_ended_early:
        log.warning("%s", result.source_ended_early)
    if timing_json:
        from edgeimg.runtime.atomic import write_text

        write_text(timing_json, json.dumps(result.timing.to_dict(), indent=2) + "\n", "timing JSON")
    if result.interrupted:
        return exit_code(result.signum or signal.SIGINT)
    if result.backend_lost:  # the outputs are whole, for the frames done: one line, exit 2
        raise EdgeimgError(
            f"{result.backend_lost}; stopped after {result.timing.frames} frames "
            f"({result.timing.dropped} dropped), outputs complete for those"
        )
    return 0


def _stdout_is_data(sinks: Sequence[Any]) -> bool:
    return any(getattr(sink, "to_stdout", False) for sink in sinks)


def backend_name(model: Any) -> str:
    backend = getattr(model, "backend", None)
    return getattr(backend, "description", None) or "the runtime backend"


def split_inputs(
    inputs: Sequence[str], default_source: str | None
) -> tuple[str | None, str | None]:
    """(model path or None, source spec or ``default_source``) from the positional arguments."""
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
    return (models[0] if models else None), (sources[0] if sources else default_source)


def check_paths(args: argparse.Namespace, model: str | None, spec: str | int) -> None:
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


def output_sinks(args: argparse.Namespace, contract: Any) -> list[Any]:
    """The sinks of ``--output`` (by suffix), ``--show`` and ``--serve-view``; JSON lines on
    standard output when there are none. Checks the destinations before any work."""
    from edgeimg.runtime.sinks import StdoutJsonLines, WindowSink, file_sink

    sinks: list[Any] = [file_sink(path, contract) for path in args.output]
    if args.show:
        sinks.append(WindowSink())
    sinks += view_sinks(args)
    if not sinks:
        sinks.append(StdoutJsonLines())
    return sinks


def run_model(
    args: argparse.Namespace,
    model_path: str | None,
    spec: str | int,
    decoder_params: dict[str, Any] | None,
    task: str,
    stages: Callable[[Any], list[Any]] | None = None,
) -> int:
    """Run a model (``task``'s bundled one when ``model_path`` is None) on the source ``spec``
    into the outputs of :func:`add_output_options`, after the paths, the model and the
    outputs are checked (nothing is written on a bad one); ``stages(model)`` checks the loaded
    model and returns the stages after decoding. The exit code of :func:`run_and_report`."""
    check_paths(args, model_path, spec)
    if not args.verbose:
        quiet_opencv()
    model = load(args, model_path, decoder_params or None, task)
    after = stages(model) if stages else []  # checked before any output
    sinks = output_sinks(args, model.contract)  # checks the destinations before any work
    with open_spec(args, spec) as source:
        fps = source.fps or 30.0
        for sink in sinks:
            sink.configure(fps, model.contract)
        print(
            f"{model.contract.task}: {source.name} with {model.path.name} on {backend_name(model)}",
            file=sys.stderr,
        )
        return run_and_report(args, source, model, sinks, after, args.timing_json)
