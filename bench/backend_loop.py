"""``edgeimg track`` with each ``--backend``, run as a user runs it, alternated round by round.

    python -m edgeimg.bench.backend_loop SOURCE --backends auto,onnxruntime,opencv --rounds 4

Every run is a fresh ``edgeimg track`` process on SOURCE (MOTChallenge text out, and with
``--video`` the annotated MP4 too; ``--timing-json`` for the loop's figures; its peak RSS from
the operating system). The backends take turns in
each round, so the machine's drift hits every one alike. ``auto`` starts from an empty choice
cache of its own: its first round pays (and shows) the measurement, the later ones run what it
cached, ranked beside the loop's cost that the earlier rounds left. Prints FPS, the model's
busy share of the run and peak RSS per round and the median per backend; ``--json`` writes
every run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from edgeimg.bench.report import format_table
from edgeimg.runtime.errors import EdgeimgError

CLI = "from edgeimg.cli.main import main; raise SystemExit(main())"


@dataclass(frozen=True)
class LoopRun:
    """One ``edgeimg track`` process: its backend, round, the loop's FPS and busy share, peak
    RSS, and for ``auto`` the choice it printed."""

    backend: str
    round: int
    fps: float
    busy: float
    frames: int
    peak_rss_mb: float
    choice: str = ""


def track_once(
    source: str,
    backend: str,
    round_index: int,
    extra: list[str],
    work: Path,
    cache: Path,
    video: bool = False,
) -> LoopRun:
    """Run ``edgeimg track`` once in a fresh process (``video``: writing its MP4 too);
    EdgeimgError with its last line when it fails."""
    timing = work / f"{backend}-{round_index}.json"
    outputs = ["--output", str(timing.with_suffix(".mp4"))] if video else []
    command = [
        sys.executable,
        "-c",
        CLI,
        "track",
        "--source",
        source,
        "--backend",
        backend,
        "--mot",
        str(work / f"{backend}-{round_index}.txt"),
        "--timing-json",
        str(timing),
        *outputs,
        *extra,
    ]
    env = {**os.environ, "EDGEIMG_CACHE": str(cache)}
    env.pop("EDGEIMG_BACKEND", None)
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    assert process.stdout is not None
    output = process.stdout.read()
    process.stdout.close()
    _, status, usage = os.wait4(process.pid, 0)  # reaped here: its own peak RSS
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        last = output.strip().splitlines()[-1] if output.strip() else "no output"
        raise EdgeimgError(f"edgeimg track --backend {backend} failed: {last}")
    summary = json.loads(timing.read_text())
    choice = next(
        (
            line.removeprefix("backend auto: ")
            for line in output.splitlines()
            if line.startswith("backend auto: ") and "measuring" not in line
        ),
        "",
    )
    return LoopRun(
        backend,
        round_index,
        float(summary["fps"]),
        float(summary["inference_busy"]),
        int(summary["frames"]),
        peak_rss_mb(usage),
        choice,
    )


def peak_rss_mb(usage: object) -> float:
    """The finished child's peak RSS in MB (Linux reports KiB), NaN when unknown."""
    value = getattr(usage, "ru_maxrss", None)
    return float(value) / 1024.0 if value else float("nan")


def compare(
    source: str,
    backends: list[str],
    rounds: int,
    extra: list[str],
    video: bool = False,
) -> list[LoopRun]:
    """``rounds`` rounds of every backend in turn (the order rotates each round)."""
    if rounds < 1:
        raise EdgeimgError(f"rounds: expected >= 1, got {rounds}")
    if not backends:
        raise EdgeimgError("backends: expected at least one")
    runs = []
    with tempfile.TemporaryDirectory(prefix="edgeimg-loop-") as folder:
        work = Path(folder)
        for r in range(rounds):
            for i in range(len(backends)):
                backend = backends[(r + i) % len(backends)]
                runs.append(track_once(source, backend, r + 1, extra, work, work / "cache", video))
    return runs


def summary_table(runs: list[LoopRun]) -> str:
    rows = []
    for backend in dict.fromkeys(run.backend for run in runs):
        mine = [run for run in runs if run.backend == backend]
        rows.append(
            (
                backend,
                ", ".join(f"{run.fps:.1f}" for run in mine),
                statistics.median(run.fps for run in mine),
                statistics.median(run.busy for run in mine),
                ", ".join(f"{run.peak_rss_mb:.0f}" for run in mine),
            )
        )
    headers = ("backend", "FPS by round", "median FPS", "median busy", "peak RSS MB by round")
    return format_table(headers, rows)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m edgeimg.bench.backend_loop", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("source", help="what edgeimg track reads: a clip, folder or synthetic:")
    parser.add_argument(
        "--backends",
        default="auto,onnxruntime,opencv",
        help="comma list of --backend values (default %(default)s)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="runs per backend (default 3)")
    parser.add_argument("--model", help="ONNX detector (default: the bundled one)")
    parser.add_argument("--frames", type=int, help="frames per run (default: the whole source)")
    parser.add_argument("--start-frame", type=int, help="first frame (1-based)")
    parser.add_argument(
        "--video", action="store_true", help="also write the annotated MP4 (H.264 with PyAV)"
    )
    parser.add_argument("--json", metavar="PATH", help="write every run as JSON")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    extra = []
    for flag, value in (
        ("--model", args.model),
        ("--frames", args.frames),
        ("--start-frame", args.start_frame),
    ):
        if value is not None:
            extra += [flag, str(value)]
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    try:
        runs = compare(args.source, backends, args.rounds, extra, args.video)
    except EdgeimgError as exc:
        print(f"backend_loop: error: {exc}", file=sys.stderr)
        return 2
    for run in runs:
        if run.choice:
            print(f"round {run.round}, auto: {run.choice}")
    print(summary_table(runs))
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(run) for run in runs], indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
