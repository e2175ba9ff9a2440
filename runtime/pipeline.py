"""The real-time loop: source -> preprocess -> inference -> decode -> stages -> draw -> sinks.

It knows no task: decoding gives the task's result (``Detections``, ``ClassScores``, ...), the
task's stages (the tracker for detect) turn it into the next one, the annotator draws it.

Every arrow is timed on every frame (see :mod:`edgeimg.runtime.timing`), with the frame's age
when its result is written: for live sources the time since capture (including the time the
frame waited for the model), for files the time since the frame was decoded. The sinks are
closed in every case, so their files hold every finished frame.

Stop signals (Ctrl-C/SIGINT, SIGTERM, SIGHUP: :mod:`edgeimg.runtime.signals`) are deferred
while a frame is in flight: the first one lets the current frame reach every sink and then
stops, so all outputs hold the same frames; a second one stops at once (still closing the
outputs). Temporary files that killed runs left beside the outputs are removed first.
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from edgeimg.runtime.atomic import remove_stale_partials
from edgeimg.runtime.signals import Interrupted, deferred_stop, signal_name
from edgeimg.runtime.sinks import FrameResult, Sink
from edgeimg.runtime.sources import Source
from edgeimg.runtime.tasks import Annotator, Stage
from edgeimg.runtime.timing import StageTimer, TimingSummary

log = logging.getLogger(__name__)


class StagedModel(Protocol):
    """What the pipeline needs of a model (``edgeimg.runtime.model.Model`` provides it)."""

    def preprocess(self, image: np.ndarray) -> tuple[dict[str, np.ndarray], Any]: ...

    def infer(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]: ...

    def decode(self, outputs: Mapping[str, np.ndarray], transform: Any) -> Any: ...


@dataclass(frozen=True)
class PipelineConfig:
    """max_frames: stop after this many frames (None: until the source ends).
    log_every_s: seconds between progress lines in the log (0: none).
    """

    max_frames: int | None = None
    log_every_s: float = 10.0

    def __post_init__(self) -> None:
        if self.max_frames is not None and self.max_frames < 1:
            raise ValueError(f"max_frames: expected >= 1 or None, got {self.max_frames}")


@dataclass(frozen=True)
class PipelineResult:
    """timing: the per-stage summary. interrupted: a stop signal ended the run; signum: which
    (``signal.SIGINT`` for Ctrl-C, ``SIGTERM``, ``SIGHUP``), None otherwise. stopped_by: the
    reason the loop ended (``end of source``, ``max frames``, ``interrupted``, ``window
    closed``). source_ended_early: the source's own account of ending before the end its
    header announced (a truncated video: frames read vs frames announced), or None.
    """

    timing: TimingSummary
    interrupted: bool
    stopped_by: str
    signum: int | None = None
    source_ended_early: str | None = None

    @property
    def frames(self) -> int:
        return self.timing.frames


def run_pipeline(
    source: Source,
    model: StagedModel,
    sinks: Sequence[Sink] = (),
    stages: Sequence[Stage] = (),
    annotator: Annotator | None = None,
    config: PipelineConfig | None = None,
) -> PipelineResult:
    """Run the loop until the source ends, ``max_frames`` frames are done, a sink asks to stop
    (a closed window) or a stop signal (Ctrl-C, SIGTERM, SIGHUP) comes. Enters and always closes
    the sinks; the source stays the caller's to close. Exceptions other than a stop signal
    propagate after the sinks are closed.
    """
    config = config or PipelineConfig()
    timer = StageTimer()
    # the annotator draws only when a sink shows or writes images
    drawer = annotator if any(s.needs_image for s in sinks) else None
    interrupted = False
    signum: int | None = None
    stopped_by = "end of source"
    remove_stale_partials(p for s in sinks if (p := getattr(s, "path", None)) is not None)
    clock = time.perf_counter
    started = clock()
    next_log = started + config.log_every_s
    with ExitStack() as stack:
        stop = stack.enter_context(deferred_stop())
        for sink in sinks:
            stack.enter_context(sink)
        try:
            while config.max_frames is None or len(timer) < config.max_frames:
                if stop.is_set():
                    raise Interrupted(stop.signum or signal.SIGINT)
                t0 = clock()
                frame = source.read()
                t1 = clock()
                if frame is None:
                    if stop.is_set():  # a live source gave up waiting for the signal
                        raise Interrupted(stop.signum or signal.SIGINT)
                    break
                read_at = time.monotonic()
                feeds, transform = model.preprocess(frame.image)
                t2 = clock()
                outputs = model.infer(feeds)
                t3 = clock()
                result = model.decode(outputs, transform)
                t4 = clock()
                for stage in stages:
                    result = stage.update(result, frame.timestamp)
                t5 = clock()
                annotated = drawer.update(frame.image, result) if drawer is not None else None
                t6 = clock()
                frame_result = FrameResult(frame, result, annotated)
                for sink in sinks:
                    sink.write(frame_result)
                t7 = clock()
                age = time.monotonic() - (frame.timestamp if source.live else read_at)
                timer.add(
                    np.array([t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5, t7 - t6]), age
                )
                if any(s.stop_requested for s in sinks):
                    stopped_by = "window closed"
                    break
                if config.log_every_s and t7 >= next_log:
                    next_log = t7 + config.log_every_s
                    log.info(
                        "frame %d: %d done, %.1f FPS, %d dropped",
                        frame.index,
                        len(timer),
                        len(timer) / (t7 - started),
                        source.dropped,
                    )
            else:
                stopped_by = "max frames"
        except KeyboardInterrupt as exc:
            interrupted = True
            signum = exc.signum if isinstance(exc, Interrupted) else int(signal.SIGINT)
            stopped_by = "interrupted"
            log.warning(
                "%s: stopped after %d frames; finishing the outputs",
                signal_name(signum),
                len(timer),
            )
        wall = clock() - started
    summary = timer.summary(wall, source.dropped)
    ended_early = getattr(source, "ended_early", None) if stopped_by == "end of source" else None
    return PipelineResult(summary, interrupted, stopped_by, signum, ended_early)
