"""The real-time loop: source -> preprocess -> inference -> decode -> stages -> draw -> sinks.

It knows no task: decoding gives the task's result (``Detections``, ``ClassScores``, ...), the
task's stages (the tracker for detect) turn it into the next one, the annotator draws it.

Pipelined: ``workers`` threads run inference -> decode while the caller's thread reads the
next frame and runs the stages, the drawing and the sinks of the previous one, in frame order
(onnxruntime, OpenVINO, OpenCV and numpy release the GIL, so the two sides overlap on two
cores). Preprocessing runs on whichever side is less loaded (:class:`Balance`, from the
running means of the measured stages): on the workers while reading, drawing and writing
take longest, on the reading thread when inference does. A file source is read one frame ahead of the workers; a live source only when a worker
is free, so a camera frame never waits in a queue and grows old. ``workers`` > 1 runs several
frames' inference at once (frame-parallel: give each ``threads`` = cores / workers); a backend
that cannot run two calls at once (``Backend.concurrent_run`` False) is called one at a time.

Every arrow is timed on every frame (see :mod:`edgeimg.runtime.timing`), with the frame's age
when its result is written: for live sources the time since capture (including the time the
frame waited for the model), for files the time since the frame was decoded. The sinks are
closed in every case, so their files hold every finished frame.

Stop signals (Ctrl-C/SIGINT, SIGTERM, SIGHUP: :mod:`edgeimg.runtime.signals`) are deferred
while a frame is in flight: the first one lets the frame being written reach every sink and
then stops (frames still in inference are dropped, in no output), so all outputs hold the same
frames; a second one stops at once (still closing the outputs). A backend that stops
answering for good (``BackendUnavailable``: a remote server gone past its retry timeout) ends
the run the same way, with ``backend_lost`` set. Temporary files that killed
runs left beside the outputs are removed first.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from edgeimg.runtime.atomic import remove_stale_partials
from edgeimg.runtime.backends.base import BackendUnavailable
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
    workers: frames in preprocess -> inference -> decode at once, each on its own thread.
    """

    max_frames: int | None = None
    log_every_s: float = 10.0
    workers: int = 1

    def __post_init__(self) -> None:
        if self.max_frames is not None and self.max_frames < 1:
            raise ValueError(f"max_frames: expected >= 1 or None, got {self.max_frames}")
        if self.workers < 1:
            raise ValueError(f"workers: expected >= 1, got {self.workers}")


@dataclass(frozen=True)
class PipelineResult:
    """timing: the per-stage summary. interrupted: a stop signal ended the run; signum: which
    (``signal.SIGINT`` for Ctrl-C, ``SIGTERM``, ``SIGHUP``), None otherwise. stopped_by: the
    reason the loop ended (``end of source``, ``max frames``, ``interrupted``, ``window
    closed``). source_ended_early: the source's own account of ending before the end its
    header announced (a truncated video: frames read vs frames announced), or None.
    backend_lost: why the backend stopped answering (``BackendUnavailable``: a remote server
    gone past its timeout; stopped_by ``backend unavailable``), or None.
    """

    timing: TimingSummary
    interrupted: bool
    stopped_by: str
    signum: int | None = None
    source_ended_early: str | None = None
    backend_lost: str | None = None

    @property
    def frames(self) -> int:
        return self.timing.frames


Durations = tuple[float, float, float]  # preprocess, inference, decode seconds


@dataclass(frozen=True)
class _InFlight:
    """A frame handed to a worker: when it was read, how long the read took, its work."""

    frame: Any
    read_s: float
    read_at: float
    work: Future[tuple[Any, Durations]]


class Balance:
    """Where preprocessing runs: on the reading thread or on the workers, whichever makes the
    slower side faster.

    ``update`` takes one finished frame's seconds: ``reader`` (read + stages + draw + write),
    ``preprocess``, ``work`` (inference + decode); their running means (weight ``alpha`` for
    the newest) give the per-frame time of each side, the workers' shared by ``workers``.
    ``on_reader`` is True when max(reader + pre, work / workers) < max(reader, (work + pre) /
    workers). Before the first frame: on the workers.
    """

    def __init__(self, workers: int = 1, alpha: float = 0.1) -> None:
        self.workers, self.alpha = workers, alpha
        self.means: np.ndarray | None = None  # (3,) reader, preprocess, work

    def update(self, reader_s: float, preprocess_s: float, work_s: float) -> None:
        now = np.array([reader_s, preprocess_s, work_s])
        self.means = now if self.means is None else self.means + self.alpha * (now - self.means)

    def reset(self) -> None:
        self.means = None

    @property
    def on_reader(self) -> bool:
        if self.means is None:
            return False
        reader, pre, work = self.means
        k = self.workers
        return bool(max(reader + pre, work / k) < max(reader, (work + pre) / k))


def _model_steps(
    model: StagedModel, workers: int
) -> Callable[[dict[str, np.ndarray], Any, float], tuple[Any, Durations]]:
    """(feeds, transform, preprocess seconds) -> (result, (preprocess, inference, decode)
    seconds): inference and decode, run on a worker.

    With several workers, inference on a backend that cannot run two calls at once
    (``concurrent_run`` False: OpenCV dnn's one net, OpenVINO's one infer request) is
    serialised by a lock; preprocess and decode still overlap."""
    clock = time.perf_counter
    backend = getattr(model, "backend", None)
    lock = None if workers == 1 or getattr(backend, "concurrent_run", False) else threading.Lock()

    def steps(feeds: dict[str, np.ndarray], transform: Any, pre_s: float) -> tuple[Any, Durations]:
        t1 = clock()
        if lock is None:
            outputs = model.infer(feeds)
        else:
            with lock:
                outputs = model.infer(feeds)
        t2 = clock()
        result = model.decode(outputs, transform)
        return result, (pre_s, t2 - t1, clock() - t2)

    return steps


def _timed_preprocess(model: StagedModel, image: np.ndarray) -> tuple[Any, Any, float]:
    t0 = time.perf_counter()
    feeds, transform = model.preprocess(image)
    return feeds, transform, time.perf_counter() - t0


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
    lost: str | None = None
    signum: int | None = None
    stopped_by = "end of source"
    remove_stale_partials(p for s in sinks if (p := getattr(s, "path", None)) is not None)
    steps = _model_steps(model, config.workers)
    balance = Balance(config.workers)

    def work(image: np.ndarray) -> tuple[Any, Durations]:  # preprocess on the worker
        return steps(*_timed_preprocess(model, image))

    # frames read and not yet written: a file is read one frame ahead of the workers
    ahead = config.workers + (0 if source.live else 1)
    pending: deque[_InFlight] = deque()
    submitted = 0
    source_ended = False
    clock = time.perf_counter
    started = clock()
    next_log = started + config.log_every_s
    with ExitStack() as stack:
        stop = stack.enter_context(deferred_stop())
        for sink in sinks:
            sink.watch(timer)
            stack.enter_context(sink)
        pool = ThreadPoolExecutor(config.workers, thread_name_prefix="edgeimg-infer")
        # last out: wait for the workers' current calls, drop the queued ones
        stack.callback(pool.shutdown, wait=True, cancel_futures=True)
        try:
            while True:
                if stop.is_set():
                    raise Interrupted(stop.signum or signal.SIGINT)
                more = config.max_frames is None or submitted < config.max_frames
                if more and not source_ended and len(pending) < ahead:
                    t0 = clock()
                    frame = source.read()
                    read_s = clock() - t0
                    if frame is None:
                        if stop.is_set():  # a live source gave up waiting for the signal
                            raise Interrupted(stop.signum or signal.SIGINT)
                        source_ended = True
                    else:
                        if balance.on_reader:
                            job = pool.submit(steps, *_timed_preprocess(model, frame.image))
                        else:
                            job = pool.submit(work, frame.image)
                        pending.append(_InFlight(frame, read_s, time.monotonic(), job))
                        submitted += 1
                    continue
                if not pending:
                    stopped_by = "end of source" if source_ended else "max frames"
                    break
                item = pending.popleft()
                result, (pre_s, infer_s, decode_s) = item.work.result()
                t4 = clock()
                for stage in stages:
                    result = stage.update(result, item.frame.timestamp)
                t5 = clock()
                image = item.frame.image
                annotated = drawer.update(image, result) if drawer is not None else None
                t6 = clock()
                frame_result = FrameResult(item.frame, result, annotated)
                for sink in sinks:
                    sink.write(frame_result)
                t7 = clock()
                origin = item.frame.timestamp if source.live else item.read_at
                durations = [item.read_s, pre_s, infer_s, decode_s, t5 - t4, t6 - t5, t7 - t6]
                timer.add(np.array(durations), time.monotonic() - origin)
                balance.update(item.read_s + t7 - t4, pre_s, infer_s + decode_s)
                if any(s.stop_requested for s in sinks):
                    stopped_by = "window closed"
                    break
                if config.log_every_s and t7 >= next_log:
                    next_log = t7 + config.log_every_s
                    log.info(
                        "frame %d: %d done, %.1f FPS, %d dropped",
                        item.frame.index,
                        len(timer),
                        len(timer) / (t7 - started),
                        source.dropped,
                    )
        except BackendUnavailable as exc:
            # a remote backend gone past its timeout: end as at the end of the source (frames
            # still in inference are in no output), then report it
            lost = str(exc)
            stopped_by = "backend unavailable"
            log.warning("%s: stopped after %d frames; finishing the outputs", exc, len(timer))
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
    summary = timer.summary(wall, source.dropped, config.workers)
    ended_early = getattr(source, "ended_early", None) if stopped_by == "end of source" else None
    return PipelineResult(summary, interrupted, stopped_by, signum, ended_early, lost)
