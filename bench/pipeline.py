"""``edgeimg bench --pipeline``: the real track loop, timed per stage, and frame age under load.

Three measurements of one detector on one clip:

1. start-up in a fresh process: import the runtime, load the model, first result;
2. the loop on the file as fast as it runs (``edgeimg.runtime.pipeline.run_pipeline``):
   per-stage percentiles, frame time, FPS, the model's share of the frame time, process RSS;
3. the file replayed as a live camera faster than the loop can keep up, twice: with the
   runtime's newest-frame capture (``SourceConfig(live=True)``: old frames are dropped, the
   age of a result stays bounded) and with a naive queue that keeps every frame (the backlog
   and the age grow for as long as the run lasts).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeimg.bench.live import AgeRecorder, BacklogSource
from edgeimg.runtime.errors import EdgeimgError
from edgeimg.runtime.timing import TimingSummary

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PipelineBenchSpec:
    """frames: frames of the file run. live_frames: frames of each live run. live_speed: the
    live replay rate as a multiple of the clip's frame rate (None: twice the loop's FPS, and
    at least the clip's own rate). threads: onnxruntime intra-op threads (None: its default)."""

    model: Path
    source: str
    frames: int = 200
    live_frames: int = 100
    live_speed: float | None = None
    threads: int | None = None

    def __post_init__(self) -> None:
        if self.frames < 1 or self.live_frames < 1:
            raise EdgeimgError(f"frames: expected >= 1, got {self.frames} and {self.live_frames}")
        if self.live_speed is not None and self.live_speed <= 0:
            raise EdgeimgError(f"live speed: expected > 0, got {self.live_speed}")


@dataclass(frozen=True)
class LiveRun:
    """One live replay. ages_s: (N,) age of each result when written, in processing order."""

    capture: str
    rate_fps: float
    frames: int
    dropped: int
    ages_s: np.ndarray
    max_backlog: int

    def summary(self) -> dict[str, float | int | str]:
        ages = self.ages_s * 1e3
        tenth = max(1, len(ages) // 10)
        return {
            "capture": self.capture,
            "rate_fps": round(self.rate_fps, 2),
            "frames": self.frames,
            "dropped": self.dropped,
            "max_backlog": self.max_backlog,
            "age_p50_ms": float(np.percentile(ages, 50)) if len(ages) else float("nan"),
            "age_p99_ms": float(np.percentile(ages, 99)) if len(ages) else float("nan"),
            "age_first_tenth_ms": float(ages[:tenth].mean()) if len(ages) else float("nan"),
            "age_last_tenth_ms": float(ages[-tenth:].mean()) if len(ages) else float("nan"),
        }


@dataclass(frozen=True)
class PipelineBenchResult:
    startup: dict[str, float]
    timing: TimingSummary
    rss_mb: float
    peak_rss_mb: float
    source_fps: float
    live: list[LiveRun]

    def to_dict(self) -> dict[str, object]:
        return {
            "startup_s": self.startup,
            "timing": self.timing.to_dict(),
            "rss_mb": round(self.rss_mb, 1),
            "peak_rss_mb": round(self.peak_rss_mb, 1),
            "source_fps": self.source_fps,
            "live": [run.summary() for run in self.live],
        }


def current_rss_mb() -> float:
    """Resident set size of this process now (Linux /proc), or NaN elsewhere."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def bench_pipeline(spec: PipelineBenchSpec) -> PipelineBenchResult:
    from edgeimg.bench.footprint import measure, peak_rss_kb
    from edgeimg.runtime.model import load_model
    from edgeimg.runtime.pipeline import PipelineConfig, run_pipeline
    from edgeimg.runtime.sources import SourceConfig, open_source
    from edgeimg.runtime.tasks.detect.tracking import ByteTracker

    model = load_model(spec.model, threads=spec.threads)
    if model.contract.task != "detect":
        raise EdgeimgError(
            f"--pipeline: expected a detector, got a {model.contract.task} model ({spec.model})"
        )
    log.info("start-up in a fresh process (import, load, first result)")
    startup = measure("edgeimg", spec.model, None, 1)
    startup = {k: round(startup[k], 4) for k in ("import_s", "load_s", "first_result_s", "wall_s")}
    log.info("the loop on %s, %d frames", spec.source, spec.frames)
    with open_source(spec.source) as source:
        source_fps = source.fps or 30.0
        result = run_pipeline(
            source,
            model,
            stages=[ByteTracker.from_contract(model.contract)],
            config=PipelineConfig(max_frames=spec.frames, log_every_s=0),
        )
    timing = result.timing
    rss = current_rss_mb()
    speed = spec.live_speed or max(1.0, 2.0 * timing.fps / source_fps)
    rate = source_fps * speed
    live = []
    for capture in ("newest frame (edgeimg)", "naive queue"):
        log.info("live replay at %.1f fps (%.2fx the clip), %s capture", rate, speed, capture)
        recorder = AgeRecorder()
        config = PipelineConfig(max_frames=spec.live_frames, log_every_s=0)
        if capture.startswith("newest"):
            with open_source(spec.source, SourceConfig(live=True, fps=rate)) as paced:
                run = run_pipeline(
                    paced,
                    model,
                    [recorder],
                    [ByteTracker.from_contract(model.contract)],
                    config=config,
                )
                backlog = 1
        else:
            with BacklogSource(open_source(spec.source), rate) as queued:
                run = run_pipeline(
                    queued,
                    model,
                    [recorder],
                    [ByteTracker.from_contract(model.contract)],
                    config=config,
                )
                backlog = queued.max_backlog
        live.append(
            LiveRun(capture, rate, run.frames, run.timing.dropped, recorder.series(), backlog)
        )
    peak = peak_rss_kb() / 1024.0
    return PipelineBenchResult(startup, timing, rss, peak, source_fps, live)


def live_table(result: PipelineBenchResult) -> str:
    from edgeimg.bench.report import format_table

    headers = (
        "capture",
        "rate fps",
        "frames",
        "dropped",
        "max backlog",
        "age p50 ms",
        "age p99 ms",
        "age first 10%",
        "age last 10%",
    )
    rows = [tuple(run.summary().values()) for run in result.live]
    return format_table(headers, rows)


def plot_ages(result: PipelineBenchResult, path: Path) -> None:
    """Frame age against processed frame number, one line per capture strategy (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    from edgeimg.bench.report import save_figure

    fig, ax = plt.subplots(figsize=(8, 4))
    for run in result.live:
        ax.plot(
            np.arange(1, len(run.ages_s) + 1),
            run.ages_s * 1e3,
            label=f"{run.capture} ({run.dropped} dropped)",
        )
    ax.set_xlabel("processed frame")
    ax.set_ylabel("frame age when written (ms)")
    ax.set_title(
        f"live replay at {result.live[0].rate_fps:.1f} fps" if result.live else "live replay"
    )
    ax.legend()
    ax.grid(alpha=0.3)
    save_figure(fig, path)
