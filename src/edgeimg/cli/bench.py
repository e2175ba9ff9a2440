"""`edgeimg bench`: latency matrix of a model, or per-stage timing of the real pipeline."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from edgeimg.runtime.errors import EdgeimgError


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "bench",
        help="latency, throughput and footprint of a model or of the whole pipeline",
        description="Time MODEL.onnx on every backend, precision, thread count and execution "
        "provider available here, interleaved so machine drift hits every row alike (warm-up "
        "not counted; min/mean/p50/p90/p99/max and throughput). With --pipeline SOURCE, time "
        "each stage of the track loop instead. With --choose, re-measure what `--backend auto` "
        "picks for MODEL here (every installed backend x thread count) and cache it. Peers "
        "(Keras, LiteRT, trackers): python -m edgeimg.bench.peers --help.",
    )
    parser.add_argument("model", nargs="?", type=Path, help="FP32 ONNX model exported by edgeimg")
    parser.add_argument("--int8", type=Path, help="the same model quantized to INT8")
    parser.add_argument("--fp16", type=Path, help="the same model in FP16 (GPU providers only)")
    parser.add_argument(
        "--backends",
        help="comma list: onnxruntime, opencv, openvino (default: onnxruntime,opencv; with "
        "--choose every installed backend)",
    )
    parser.add_argument(
        "--threads",
        help="comma list of thread counts (default: 1; with --choose 1, half and all CPUs)",
    )
    parser.add_argument(
        "--choose",
        action="store_true",
        help="re-measure and cache the backend x threads that `--backend auto` uses for MODEL",
    )
    parser.add_argument(
        "--batch", default="1", help="comma list of batch sizes (default: %(default)s)"
    )
    parser.add_argument(
        "--providers", help="comma list: CPU, CUDA, TensorRT (default: every one available here)"
    )
    parser.add_argument("--io-binding", action="store_true", help="also time onnxruntime IOBinding")
    parser.add_argument(
        "--warmup", type=int, default=20, help="untimed calls per row (default: %(default)s)"
    )
    amount = parser.add_mutually_exclusive_group()
    amount.add_argument(
        "--iterations", type=int, default=200, help="timed calls per row (default: %(default)s)"
    )
    amount.add_argument(
        "--duration", type=float, help="timed seconds per row instead of --iterations"
    )
    parser.add_argument(
        "--rounds", type=int, default=10, help="interleaving rounds (default: %(default)s)"
    )
    parser.add_argument(
        "--json", nargs="?", const="-", metavar="PATH", help="write JSON (to stdout without PATH)"
    )
    parser.add_argument(
        "--plot",
        nargs="?",
        const="edgeimg-bench.png",
        type=Path,
        metavar="PNG",
        help="write a PNG of the latency distributions (default name: %(const)s)",
    )
    parser.add_argument(
        "--pipeline", metavar="SOURCE", help="time the track pipeline on SOURCE (a clip)"
    )
    parser.add_argument(
        "--frames", type=int, default=200, help="--pipeline: frames to run (default: %(default)s)"
    )
    parser.add_argument(
        "--live-frames",
        type=int,
        default=100,
        help="--pipeline: frames per live replay (default: %(default)s)",
    )
    parser.add_argument(
        "--live-speed",
        type=float,
        default=None,
        help="--pipeline: play the clip as a live camera at this multiple of its frame rate "
        "(default: fast enough to outrun the model)",
    )
    parser.set_defaults(run=run)


def int_list(text: str, option: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise EdgeimgError(f"{option}: expected comma-separated integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise EdgeimgError(f"{option}: expected integers >= 1, got {text!r}")
    return values


def run(args: argparse.Namespace) -> int:
    if args.pipeline:
        return run_pipeline(args)
    if args.model is None:
        raise EdgeimgError("expected MODEL.onnx (or --pipeline SOURCE), got neither")
    if args.choose:
        return run_choose(args)
    backend_list = args.backends or "onnxruntime,opencv"
    from edgeimg.bench.backends import Backend
    from edgeimg.bench.harness import RunPlan
    from edgeimg.bench.machine import machine_lines, machine_report
    from edgeimg.bench.model import MatrixSpec, build_matrix, run_matrix
    from edgeimg.bench.report import matrix_payload, matrix_table, plot_matrix, write_json

    for option, path in (("MODEL", args.model), ("--int8", args.int8), ("--fp16", args.fp16)):
        if path is not None and not path.is_file():
            raise EdgeimgError(f"{option}: no such model file: {path}")
    backends = tuple(Backend.parse(b.strip()) for b in backend_list.split(",") if b.strip())
    try:
        plan = RunPlan(
            warmup=args.warmup,
            iterations=None if args.duration is not None else args.iterations,
            duration_s=args.duration or 1.0,
            rounds=args.rounds,
        )
    except ValueError as exc:
        raise EdgeimgError(str(exc)) from None
    providers = tuple(p.strip() for p in args.providers.split(",")) if args.providers else None
    spec = MatrixSpec(
        fp32=args.model,
        int8=args.int8,
        fp16=args.fp16,
        backends=backends,
        threads=int_list(args.threads or "1", "--threads"),
        batches=int_list(args.batch, "--batch"),
        providers=providers,
        io_binding=args.io_binding,
    )
    configs, skipped = build_matrix(spec)
    result = run_matrix(configs, plan)
    result.skipped[:0] = skipped
    machine = machine_report()
    to_stdout = args.json == "-"
    out = sys.stderr if to_stdout else sys.stdout
    if not to_stdout:
        print("\n".join(machine_lines(machine)), file=out)
    print(matrix_table(result), file=out)
    if args.json:
        payload = {"machine": machine, "plan": vars_of(plan), **matrix_payload(result)}
        if to_stdout:
            print(json.dumps(payload, indent=2))
        else:
            write_json(Path(args.json), payload)
            print(f"wrote {args.json}", file=out)
    if args.plot and result.rows:
        plot_matrix(result, args.plot, f"{args.model.name}: latency per configuration")
        print(f"wrote {args.plot}", file=out)
    return 0 if result.rows else 2


def run_choose(args: argparse.Namespace) -> int:
    """`edgeimg bench MODEL --choose`: measure every candidate again, cache it, print them."""
    from edgeimg.runtime.backends.choose import choose_backend

    if not args.model.is_file():
        raise EdgeimgError(f"MODEL: no such model file: {args.model}")
    backends = [b.strip() for b in args.backends.split(",") if b.strip()] if args.backends else None
    threads = int_list(args.threads, "--threads") if args.threads else None
    choice = choose_backend(args.model, "auto", backends, threads, remeasure=True)
    print(f"backend auto: {choice.describe()}")
    for m in choice.measurements:
        figure = (
            f"{m.milliseconds:8.2f} ms  ({m.runs} runs)" if m.milliseconds is not None else m.error
        )
        print(f"  {m.candidate.describe():<26} {figure}")
    print(f"cached in {choice.path}")
    return 0


def vars_of(plan: object) -> dict[str, object]:
    from dataclasses import asdict

    return asdict(plan)  # type: ignore[call-overload]


def run_pipeline(args: argparse.Namespace) -> int:
    from edgeimg.bench.machine import machine_lines, machine_report
    from edgeimg.bench.pipeline import PipelineBenchSpec, bench_pipeline, live_table, plot_ages
    from edgeimg.bench.report import write_json

    if args.model is None:
        raise EdgeimgError("--pipeline SOURCE: expected a detector MODEL.onnx too, got none")
    if not args.model.is_file():
        raise EdgeimgError(f"MODEL: no such model file: {args.model}")
    threads = int_list(args.threads or "1", "--threads")[0]
    spec = PipelineBenchSpec(
        args.model, args.pipeline, args.frames, args.live_frames, args.live_speed, threads
    )
    result = bench_pipeline(spec)
    to_stdout = args.json == "-"
    out = sys.stderr if to_stdout else sys.stdout
    print("\n".join(machine_lines(machine_report())), file=out)
    s = result.startup
    print(
        f"start-up (fresh process): import {s['import_s']:.3f} s, load {s['load_s']:.3f} s, "
        f"first result {s['first_result_s']:.3f} s, process start to exit {s['wall_s']:.3f} s",
        file=out,
    )
    print(
        f"\n{args.pipeline} ({result.source_fps:g} fps), {args.model.name}, threads {threads}:",
        file=out,
    )
    print(result.timing.format(), file=out)
    print(f"process RSS {result.rss_mb:.0f} MB (peak {result.peak_rss_mb:.0f} MB)", file=out)
    print(
        "\nlive replay faster than the loop: frame age with newest-frame capture vs a queue",
        file=out,
    )
    print(live_table(result), file=out)
    if args.json:
        payload = {
            "machine": machine_report(),
            "model": str(args.model),
            "source": args.pipeline,
            **result.to_dict(),
        }
        if to_stdout:
            print(json.dumps(payload, indent=2))
        else:
            write_json(Path(args.json), payload)
            print(f"wrote {args.json}", file=out)
    if args.plot:
        plot_ages(result, args.plot)
        print(f"wrote {args.plot}", file=out)
    return 0
