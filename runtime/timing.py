"""Per-stage timing of the pipeline, recorded on every frame and summarised as percentiles.

Memory stays bounded however long a run lasts (a service runs for days): :class:`StageTimer`
keeps the durations of the last ``window`` frames (10,000 by default, about 0.6 MB) in a ring
buffer for the percentiles, and running sums for the whole run, so the frame count, the means
and the inference share are exact over every frame while p50/p90/p99 describe the recent
window (the whole run when it is shorter than the window).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np


class Stage(str, Enum):
    """The timed stages of one frame, in pipeline order."""

    CAPTURE = "capture wait"  # waiting for the source to deliver the frame (decode for files)
    PREPROCESS = "preprocess"
    INFERENCE = "inference"
    POSTPROCESS = "postprocess"  # decoding the outputs into Detections (peaks, NMS)
    TRACK = "track"  # the task's stages after decoding (the tracker)
    DRAW = "draw"
    WRITE = "write"  # all sinks (video encode, files, window)


@dataclass(frozen=True)
class Percentiles:
    """p50/p90/p99 and mean of one quantity, in milliseconds."""

    p50: float
    p90: float
    p99: float
    mean: float

    @classmethod
    def of(cls, seconds: np.ndarray, mean: float | None = None) -> Percentiles:
        """Percentiles of (N,) durations in seconds (all zero when N = 0). mean: the mean in
        seconds when it is known over more values than ``seconds`` holds (default: theirs)."""
        if not len(seconds):
            return cls(0.0, 0.0, 0.0, 0.0 if mean is None else mean * 1000.0)
        p50, p90, p99 = np.percentile(seconds, [50, 90, 99]) * 1000.0
        average = float(seconds.mean()) if mean is None else mean
        return cls(float(p50), float(p90), float(p99), average * 1000.0)


@dataclass(frozen=True)
class TimingSummary:
    """The end-of-run summary.

    frames: frames processed. wall_s: seconds from the first read to the last write. fps:
    frames / wall_s. dropped: frames the source captured but the pipeline never saw (live
    sources). stages: percentiles per :class:`Stage`. frame_time: the sum of the stages per
    frame. frame_age: time from capture to the result being written. inference_share: the
    share of the summed frame time spent in inference. inference_busy: the share of the run's
    wall time each inference worker spent in inference (sum of inference / (wall x workers));
    with the pipelined loop the other stages overlap inference, so this is the pipeline's
    efficiency: 1.0 when the model never waits for reading, drawing or writing.
    """

    frames: int
    wall_s: float
    fps: float
    dropped: int
    stages: dict[Stage, Percentiles]
    frame_time: Percentiles
    frame_age: Percentiles
    inference_share: float
    inference_busy: float = 0.0

    def other_ms(self, capture: bool = True) -> float:
        """Mean milliseconds per frame of every stage but inference (the rest of the loop's
        work); ``capture`` False leaves out the capture wait (a live source's idle time)."""
        skip = {Stage.INFERENCE} if capture else {Stage.INFERENCE, Stage.CAPTURE}
        return sum(p.mean for stage, p in self.stages.items() if stage not in skip)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready: milliseconds per stage and the totals."""

        def ms(p: Percentiles) -> dict[str, float]:
            return {k: round(v, 3) for k, v in vars(p).items()}

        return {
            "frames": self.frames,
            "wall_s": round(self.wall_s, 3),
            "fps": round(self.fps, 2),
            "dropped": self.dropped,
            "stages_ms": {stage.value: ms(p) for stage, p in self.stages.items()},
            "frame_time_ms": ms(self.frame_time),
            "frame_age_ms": ms(self.frame_age),
            "inference_share": round(self.inference_share, 4),
            "inference_busy": round(self.inference_busy, 4),
        }

    def format(self) -> str:
        """A small text table, one row per stage, then FPS, drops and the inference share."""
        rows = [(stage.value, p) for stage, p in self.stages.items()]
        rows += [("frame total", self.frame_time), ("frame age", self.frame_age)]
        width = max(len(name) for name, _ in rows)
        lines = [f"{'stage':<{width}}  {'p50 ms':>8}  {'p90 ms':>8}  {'p99 ms':>8}  {'mean ms':>8}"]
        for name, p in rows:
            lines.append(
                f"{name:<{width}}  {p.p50:8.2f}  {p.p90:8.2f}  {p.p99:8.2f}  {p.mean:8.2f}"
            )
        lines.append(
            f"{self.frames} frames in {self.wall_s:.2f} s: {self.fps:.1f} FPS, "
            f"{self.dropped} dropped, inference {100 * self.inference_share:.0f}% of frame time, "
            f"busy {100 * self.inference_busy:.0f}% of the run"
        )
        return "\n".join(lines)


_INFERENCE = list(Stage).index(Stage.INFERENCE)


class StageTimer:
    """Collects one row of stage durations and one frame age per frame, in bounded memory.

    ``add(durations, age)`` takes the seconds of every :class:`Stage` (in enum order) for one
    frame; ``summary(wall_s, dropped)`` turns them into a :class:`TimingSummary`. The last
    ``window`` frames are kept (a ring buffer) for the percentiles; the frame count, the means
    and the inference share come from running sums over every frame of the run.
    ``len(timer)`` is the number of frames added, not the number kept.
    """

    DEFAULT_WINDOW = 10_000

    def __init__(self, window: int = DEFAULT_WINDOW) -> None:
        if window < 1:
            raise ValueError(f"timing window: expected >= 1 frames, got {window}")
        self.window = window
        self._rows = np.zeros((window, len(Stage)), np.float64)
        self._ages = np.zeros(window, np.float64)
        self._count = 0
        self._sums = np.zeros(len(Stage), np.float64)  # per stage, over the whole run
        self._age_sum = 0.0

    def __len__(self) -> int:
        return self._count

    def add(self, durations: np.ndarray, age: float) -> None:
        durations = np.asarray(durations, dtype=np.float64)
        if durations.shape != (len(Stage),):
            raise ValueError(
                f"stage durations: expected {len(Stage)} values, got {durations.shape}"
            )
        slot = self._count % self.window
        self._rows[slot] = durations
        self._ages[slot] = float(age)
        self._sums += durations
        self._age_sum += float(age)
        self._count += 1

    def _kept(self, values: np.ndarray) -> np.ndarray:
        """The kept part of a ring buffer, oldest first."""
        if self._count <= self.window:
            return values[: self._count]
        slot = self._count % self.window
        return np.concatenate([values[slot:], values[:slot]])

    def durations(self) -> np.ndarray:
        """(kept frames, stages) float64 seconds: the last ``window`` frames, oldest first."""
        return self._kept(self._rows)

    def ages(self) -> np.ndarray:
        """(kept frames,) float64 seconds: the frame ages of :meth:`durations`."""
        return self._kept(self._ages)

    def summary(self, wall_s: float, dropped: int = 0, workers: int = 1) -> TimingSummary:
        """workers: inference threads of the run (for ``inference_busy``)."""
        rows = self.durations()
        frames = self._count

        def mean(total: float) -> float | None:
            return total / frames if frames else None

        grand_total = float(self._sums.sum())
        return TimingSummary(
            frames=frames,
            wall_s=wall_s,
            fps=frames / wall_s if wall_s > 0 else 0.0,
            dropped=dropped,
            stages={
                stage: Percentiles.of(rows[:, i], mean(float(self._sums[i])))
                for i, stage in enumerate(Stage)
            },
            frame_time=Percentiles.of(rows.sum(axis=1), mean(grand_total)),
            frame_age=Percentiles.of(self.ages(), mean(self._age_sum)),
            inference_share=float(self._sums[_INFERENCE]) / grand_total if grand_total > 0 else 0.0,
            inference_busy=float(self._sums[_INFERENCE]) / (wall_s * workers)
            if wall_s > 0
            else 0.0,
        )

    def reset(self) -> None:
        self._count = 0
        self._sums[:] = 0.0
        self._age_sum = 0.0
