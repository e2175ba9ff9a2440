"""Soak run (issue 15): N frames of the synthetic scene through the whole pipeline with every
output on, sampling the process's resident memory (RSS) and the live track count every
``--every`` seconds; prints the samples and the RSS slope after warm-up, and checks that the
outputs are complete. A script, not a test: 100,000 frames take about half an hour here.

    python -m edgeimg.bench.soak --frames 100000 --out /tmp/soak --json soak.json --plot soak.png

The slope is a least-squares fit of RSS against frames over the samples after ``--warmup``
(a share of the frames: allocator pools, onnxruntime's arenas and the encoder's buffers fill
first). A bounded run has a slope near 0; issue 15's target is under 1 MB per 10k frames.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgeimg.runtime.sinks import FrameResult, JsonLinesSink, Sink, VideoSink


def rss_mb() -> float:
    """Resident memory of this process in MB (Linux /proc; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
    except (OSError, IndexError, ValueError):
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


@dataclass
class Sampler(Sink):
    """A sink that records (seconds, frames, RSS MB, live tracks) every ``every_s`` seconds."""

    every_s: float = 10.0
    tracker: Any = None
    samples: list[tuple[float, int, float, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__()
        self._start = time.monotonic()
        self._next = self._start

    def write(self, result: FrameResult) -> None:
        self.frames += 1
        now = time.monotonic()
        if now >= self._next:
            self._next = now + self.every_s
            self.sample(now)

    def sample(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        tracks = int(self.tracker.num_tracks) if self.tracker is not None else -1
        self.samples.append((now - self._start, self.frames, rss_mb(), tracks))
        t, n, rss, live = self.samples[-1]
        print(f"{t:8.1f} s  {n:7d} frames  RSS {rss:7.1f} MB  tracks {live}", file=sys.stderr)


def slope_mb_per_10k(samples: list[tuple[float, int, float, int]], warmup: float) -> float:
    """Least-squares RSS slope (MB per 10,000 frames) over the samples after warm-up."""
    total = samples[-1][1]
    kept = [(n, rss) for _, n, rss, _ in samples if n >= warmup * total]
    if len(kept) < 3:
        return float("nan")
    frames, rss = np.array(kept, dtype=np.float64).T
    return float(np.polyfit(frames, rss, 1)[0] * 10_000)


def plot(
    samples: list[tuple[float, int, float, int]], slope: float, warmup: float, path: Path
) -> None:
    """RSS (MB, left axis) and live tracks (right axis) against frames, warm-up shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frames = np.array([n for _, n, _, _ in samples])
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.plot(frames, [r for _, _, r, _ in samples], color="tab:blue", label="RSS")
    ax.axvspan(0, warmup * frames[-1], color="0.9", label="warm-up")
    ax.set_xlabel("frames")
    ax.set_ylabel("RSS MB")
    tracks = ax.twinx()
    tracks.plot(frames, [k for _, _, _, k in samples], color="tab:orange", lw=0.8, label="tracks")
    tracks.set_ylabel("live tracks")
    ax.set_title(f"soak: RSS slope after warm-up {slope:.2f} MB per 10k frames")
    fig.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    from edgeimg.runtime.model import bundled_model_path, load_model
    from edgeimg.runtime.pipeline import PipelineConfig, run_pipeline
    from edgeimg.runtime.sources import open_source
    from edgeimg.runtime.tasks.detect.sinks import MotSink
    from edgeimg.runtime.tasks.detect.tracking import ByteTracker

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=20_000)
    parser.add_argument("--every", type=float, default=10.0, help="seconds between samples")
    parser.add_argument("--warmup", type=float, default=0.2, help="share of frames skipped")
    parser.add_argument("--out", type=Path, help="output folder (default: a temporary one)")
    parser.add_argument("--json", type=Path, help="write the samples and the slope here")
    parser.add_argument("--plot", type=Path, help="write a PNG of RSS and live tracks by frame")
    args = parser.parse_args(argv)

    out = args.out or Path(tempfile.mkdtemp(prefix="edgeimg-soak-"))
    out.mkdir(parents=True, exist_ok=True)
    model = load_model(bundled_model_path("detect"))
    tracker = ByteTracker.from_contract(model.contract, {})
    sampler = Sampler(every_s=args.every, tracker=tracker)
    sinks: list[Sink] = [
        VideoSink(out / "soak.mp4"),
        JsonLinesSink(out / "soak.jsonl"),
        MotSink(out / "soak.txt"),
        sampler,
    ]
    start_rss = rss_mb()
    with open_source(f"synthetic:frames={args.frames},seed=1") as source:
        for sink in sinks:
            sink.configure(source.fps or 30.0, model.contract)
        result = run_pipeline(
            source,
            model,
            sinks,
            stages=[tracker],
            annotator=model.task.annotator(model.contract),
            config=PipelineConfig(log_every_s=0),
        )
    # the slope is of the samples taken while frames flowed; the one after closing the
    # outputs (the MP4's index rewritten to the front) is reported as rss_end_mb only
    slope = slope_mb_per_10k(sampler.samples, args.warmup)
    sampler.sample()
    lines = (out / "soak.jsonl").read_bytes().count(b"\n")
    mot = (out / "soak.txt").read_bytes()
    report = {
        "frames": result.frames,
        "wall_s": round(result.timing.wall_s, 1),
        "fps": round(result.timing.fps, 1),
        "rss_start_mb": round(start_rss, 1),
        "rss_end_mb": round(sampler.samples[-1][2], 1),
        "rss_slope_mb_per_10k_frames": round(slope, 3),
        "max_tracks": max(s[3] for s in sampler.samples),
        "outputs_complete": lines == result.frames and mot.endswith(b"\n"),
        "video_codec": sinks[0].codec,  # type: ignore[attr-defined]
        "samples": [
            {"s": round(t, 1), "frames": n, "rss_mb": round(r, 1), "tracks": k}
            for t, n, r, k in sampler.samples
        ],
    }
    summary = {k: v for k, v in report.items() if k != "samples"}
    print(json.dumps(summary, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    if args.plot:
        plot(sampler.samples[:-1], slope, args.warmup, args.plot)
    return 0 if report["outputs_complete"] else 1


if __name__ == "__main__":
    sys.exit(main())
