"""A naive live capture for comparison: every frame is queued, none is dropped.

:class:`BacklogSource` replays a file at a fixed rate on a capture thread, like the runtime's
newest-frame ``PacedSource``, but puts every frame into an unbounded FIFO queue, as a plain
``while cap.read()`` loop on a camera does in effect (the driver buffers). When the pipeline is
slower than the rate, the queue and the frame age grow without bound. :class:`AgeRecorder` is a
sink that records each frame's age when its result is written.
"""

from __future__ import annotations

import queue
import threading
import time

import numpy as np

from edgeimg.runtime.frame import Frame
from edgeimg.runtime.sinks import FrameResult, Sink
from edgeimg.runtime.sources import Source


class BacklogSource(Source):
    """``inner``'s frames released at ``fps`` with ``time.monotonic()`` capture stamps, queued."""

    live = True

    def __init__(self, inner: Source, fps: float) -> None:
        super().__init__(f"{inner.name} (queued at {fps:g} fps)", fps)
        self.kind = inner.kind
        self._inner = inner
        self._period = 1.0 / fps
        self._queue: queue.Queue[Frame | None] = queue.Queue()
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self.max_backlog = 0
        self._thread = threading.Thread(target=self._run, name="backlog capture", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        due = time.monotonic()
        try:
            while not self._stop.is_set():
                frame = self._inner.read()
                if frame is None:
                    break
                if self._stop.wait(max(0.0, due - time.monotonic())):
                    break
                due += self._period
                self._queue.put(Frame(frame.image, frame.index, time.monotonic()))
                self.max_backlog = max(self.max_backlog, self._queue.qsize())
        except BaseException as exc:  # handed to the consumer by read()
            self._error = exc
        finally:
            self._queue.put(None)

    def read(self) -> Frame | None:
        item = self._queue.get()
        if item is None and self._error is not None:
            raise self._error
        return item

    @property
    def backlog(self) -> int:
        return self._queue.qsize()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5.0)
        self._inner.close()


class AgeRecorder(Sink):
    """Records, per frame, ``time.monotonic() - frame.timestamp`` (s) when the result arrives."""

    def __init__(self) -> None:
        super().__init__()
        self.ages: list[float] = []

    def write(self, result: FrameResult) -> None:
        self.ages.append(time.monotonic() - result.frame.timestamp)
        self.frames += 1

    def series(self) -> np.ndarray:
        """(N,) float64 ages in seconds, in processing order."""
        return np.asarray(self.ages, dtype=np.float64)
