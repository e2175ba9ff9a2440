"""The real-time loop: source -> preprocess -> inference -> decode -> stages -> draw -> sinks.

It knows no task: decoding gives the task's result (``Detections``, ``ClassScores``, ...), the
task's stages (the tracker for detect) turn it into the next one, the annotator draws it.

Every arrow is timed on every frame (see :mod:`edgeimg.runtime.timing`), with the frame's age
when its result is written: for live sources the time since capture (including the time the
frame waited for the model), for files the time since the frame was decoded. Ctrl-C ends the
loop cleanly; the sinks are closed in every case, so their files hold every finished frame.

Ctrl-C (SIGINT) is deferred while a frame is in flight: the first one lets the current frame
reach every sink and then stops, so all outputs hold the same frames; a second one stops at
once (still closing the outputs).
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

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
    """timing: the per-stage summary. interrupted: Ctrl-C ended the run. stopped_by: the reason
    the loop ended (``end of source``, ``max frames``, ``interrupted``, ``window closed``).
    """

    timing: TimingSummary
    interrupted: bool
    stopped_by: str

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
    (a closed window) or Ctrl-C. Enters and always closes the sinks; the source stays the
    caller's to close. Exceptions other than Ctrl-C propagate after the sinks are closed.
    """
    config = config or PipelineConfig()
    timer = StageTimer()
    # the annotator draws only when a sink shows or writes images
    drawer = annotator if any(s.needs_image for s in sinks) else None
    interrupted = False
    stopped_by = "end of source"
    clock = time.perf_counter
    started = clock()
    next_log = started + config.log_every_s
    with ExitStack() as stack:
        ctrl_c = stack.enter_context(_deferred_interrupt())
        for sink in sinks:
            stack.enter_context(sink)
        try:
            while config.max_frames is None or len(timer) < config.max_frames:
                if ctrl_c.is_set():
                    raise KeyboardInterrupt
                t0 = clock()
                frame = source.read()
                t1 = clock()
                if frame is None:
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
        except KeyboardInterrupt:
            interrupted = True
            stopped_by = "interrupted"
            log.warning("interrupted after %d frames; finishing the outputs", len(timer))
        wall = clock() - started
    summary = timer.summary(wall, source.dropped)
    return PipelineResult(summary, interrupted, stopped_by)


@contextmanager
def _deferred_interrupt() -> Iterator[threading.Event]:
    """An event set by the first SIGINT (the loop stops between frames); a second SIGINT raises
    KeyboardInterrupt at once. Outside the main thread signals cannot be handled: the event
    is never set and Ctrl-C behaves as usual."""
    pressed = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield pressed
        return

    def handler(signum: int, frame: object) -> None:
        if pressed.is_set():
            raise KeyboardInterrupt
        pressed.set()
        log.warning("Ctrl-C: stopping after this frame (press again to stop at once)")

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield pressed
    finally:
        signal.signal(signal.SIGINT, previous)
