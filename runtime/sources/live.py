"""Live sources: cameras, streams and GStreamer pipelines read on a capture thread that keeps
only the newest frame (:class:`LatestFrameReader`), and files replayed at their frame rate.

Every wait here is interruptible: OpenCV's open and read calls block in C code (up to the
stream timeouts), so they run on worker threads while the caller waits in short slices,
checking for a stop signal (:func:`edgeimg.runtime.signals.stop_requested`, and Python's own
signal handlers, which run between slices). Ctrl-C or SIGTERM while a stream opens or during
an outage therefore ends the run within about a second; a worker still inside OpenCV is left
to finish on its daemon thread and releases what it opened.
"""

from __future__ import annotations

import logging
import math
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar
from urllib.parse import urlsplit, urlunsplit

import cv2
import numpy as np

from edgeimg.runtime.errors import EdgeimgError
from edgeimg.runtime.frame import Frame
from edgeimg.runtime.signals import stop_requested
from edgeimg.runtime.sources.base import DEFAULT_FPS, Source, SourceConfig, SourceKind, as_bgr

log = logging.getLogger(__name__)

T = TypeVar("T")

WAIT_SLICE_S = 0.1  # longest wait between checks for a stop signal
STOP_JOIN_S = 1.0  # how long close() waits for a capture thread still inside OpenCV


class OpenAbandoned(Exception):
    """The wait for an opener ended (a stop request) before the opener returned."""


def open_interruptibly(
    opener: Callable[[], cv2.VideoCapture],
    name: str,
    stop: threading.Event | None = None,
) -> cv2.VideoCapture:
    """``opener()`` run on a daemon thread, waited for in slices of :data:`WAIT_SLICE_S`.

    In the main thread, signal handlers run between the slices (so Ctrl-C raises at once);
    in any thread a set ``stop`` event or :func:`stop_requested` ends the wait with
    :class:`OpenAbandoned`. An abandoned opener releases its capture when it returns.
    The opener's own exception (EdgeimgError: it did not open) is re-raised.
    """
    lock = threading.Lock()
    opened: list[cv2.VideoCapture] = []
    failed: list[BaseException] = []
    abandoned = False

    def run() -> None:
        try:
            capture = opener()
        except BaseException as exc:  # handed to the waiting thread
            failed.append(exc)
            return
        with lock:
            if abandoned:
                capture.release()
            else:
                opened.append(capture)

    worker = threading.Thread(target=run, name=f"open {name}", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(WAIT_SLICE_S)
            if (stop is not None and stop.is_set()) or stop_requested():
                raise OpenAbandoned(name)
    except BaseException:
        with lock:
            abandoned = True
            for capture in opened:
                capture.release()
        raise
    if failed:
        raise failed[0]
    return opened[0]


def csi_pipeline(sensor_id: int, width: int = 1280, height: int = 720, fps: int = 30) -> str:
    """The GStreamer pipeline of a Jetson CSI camera (nvarguscamerasrc) delivering BGR frames."""
    return (
        f"nvarguscamerasrc sensor-id={sensor_id} ! "
        f"video/x-raw(memory:NVMM),width={width},height={height},framerate={fps}/1 ! "
        "nvvidconv ! video/x-raw,format=BGRx ! videoconvert ! video/x-raw,format=BGR ! "
        "appsink drop=true max-buffers=1"
    )


def redact(url: str) -> str:
    """The URL with any password replaced by ``***`` (for messages and logs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


class LatestFrameReader(Generic[T]):
    """Runs ``read()`` on a daemon thread and keeps only the newest item.

    read: returns an item (an (H, W, 3) uint8 BGR image for cameras and streams, a Frame for a
    paced file), or None at the end of the stream; it may block.
    cleanup: called on the thread when it ends (releases what ``read`` uses, on its own thread).
    Each item is stamped with ``time.monotonic()`` when ``read`` returned it. An item that is
    replaced before :meth:`get` takes it counts as dropped. An exception raised by ``read``
    ends the thread and is re-raised by :meth:`get`. ``start()`` starts the thread, ``stop()``
    ends it between reads.
    """

    def __init__(
        self,
        read: Callable[[], T | None],
        name: str,
        cleanup: Callable[[], None] | None = None,
    ) -> None:
        self._read = read
        self._cleanup = cleanup
        self._cond = threading.Condition()
        self._latest: tuple[T, int, float] | None = None
        self._error: BaseException | None = None
        self._ended = False
        self._stop = threading.Event()
        self.captured = 0
        self.dropped = 0
        self._thread = threading.Thread(target=self._run, name=f"capture {name}", daemon=True)

    def start(self) -> None:
        """Start the capture thread (once; ``read`` may use this reader from then on)."""
        self._thread.start()

    @property
    def stopping(self) -> threading.Event:
        """Set when the consumer asked the reader to stop (a blocking ``read`` may wait on it)."""
        return self._stop

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                item = self._read()
                stamp = time.monotonic()
                if item is None:
                    break
                with self._cond:
                    if self._latest is not None:
                        self.dropped += 1
                    self._latest = (item, self.captured, stamp)
                    self.captured += 1
                    self._cond.notify_all()
        except BaseException as exc:  # handed to the consumer, re-raised there
            with self._cond:
                self._error = exc
        finally:
            try:
                if self._cleanup is not None:
                    self._cleanup()
            finally:
                with self._cond:
                    self._ended = True
                    self._cond.notify_all()

    def get(self) -> tuple[T, int, float] | None:
        """(item, capture index, monotonic time) of the newest unread item; None at the end,
        or when a stop signal comes while it waits (:func:`stop_requested`).

        Waits for a new item; re-raises the capture thread's exception.
        """
        with self._cond:
            while self._latest is None and not self._ended and self._error is None:
                self._cond.wait(WAIT_SLICE_S)  # short waits keep Ctrl-C responsive
                if self._latest is None and stop_requested():
                    return None  # a stop signal came while no frame arrived (an outage)
            if self._error is not None:
                error, self._error = self._error, None
                raise error
            latest, self._latest = self._latest, None
            return latest

    def stop(self, timeout: float = STOP_JOIN_S) -> None:
        """Ask the thread to stop and wait up to ``timeout`` seconds for it. A thread still
        inside a blocking OpenCV call (a stalled stream, up to its read timeout) is left to
        end on its own: it is a daemon and releases its capture when the call returns."""
        self._stop.set()
        if self._thread.ident is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        if self._thread.is_alive():
            log.debug(
                "%s still busy after %g s; left to end on its own", self._thread.name, timeout
            )


Opener = Callable[[], cv2.VideoCapture]


class LiveSource(Source):
    """A camera, stream or pipeline read on a :class:`LatestFrameReader` thread.

    When ``reconnect`` is set, a failed read reopens the capture with exponential backoff
    (``config.reconnect_*``) and raises EdgeimgError after the last attempt; otherwise a failed
    read ends the source.
    """

    live = True

    def __init__(
        self,
        kind: SourceKind,
        name: str,
        opener: Opener,
        reconnect: bool,
        config: SourceConfig,
    ) -> None:
        self.kind = kind
        self._opener = opener
        self._reconnect = reconnect
        self._config = config
        # opened on a worker thread: Ctrl-C/SIGTERM interrupt the wait (up to the open timeout)
        self._capture: cv2.VideoCapture | None = open_interruptibly(opener, name)
        fps = self._capture.get(cv2.CAP_PROP_FPS)
        super().__init__(name, fps if math.isfinite(fps) and fps > 0 else None)
        self.reconnects = 0
        # From here on the capture belongs to the reader's thread, which also releases it.
        self._reader: LatestFrameReader[np.ndarray] = LatestFrameReader(
            self._capture_read, name, cleanup=self._release
        )
        self._reader.start()

    def _capture_read(self) -> np.ndarray | None:
        """Runs on the capture thread: one image, reconnecting when the stream drops."""
        if self._capture is not None:
            ok, image = self._capture.read()
            if ok and image is not None:
                return as_bgr(image)
        if self._reader.captured == 0:
            raise EdgeimgError(
                f"{self.name} opened but delivered no frame (busy, or not a video device?)"
            )
        if not self._reconnect:
            log.info("%s ended", self.name)
            return None
        return self._reopen()

    def _reopen(self) -> np.ndarray | None:
        c = self._config
        delay = c.reconnect_delay_s
        for attempt in range(1, c.reconnect_attempts + 1):
            self._release()
            log.warning(
                "%s dropped; reconnecting in %.1f s (attempt %d of %d)",
                self.name,
                delay,
                attempt,
                c.reconnect_attempts,
            )
            if self._wait(delay):
                return None
            delay = min(max(delay * 2, 0.1), c.reconnect_max_delay_s)
            try:
                self._capture = open_interruptibly(self._opener, self.name, self._reader.stopping)
            except OpenAbandoned:
                return None
            except EdgeimgError as exc:
                log.warning("%s", exc)
                continue
            ok, image = self._capture.read()
            if ok and image is not None:
                self.reconnects += 1
                log.warning("%s reconnected", self.name)
                return as_bgr(image)
        raise EdgeimgError(
            f"{self.name} stopped delivering frames and did not come back after "
            f"{c.reconnect_attempts} reconnect attempts"
        )

    def _wait(self, seconds: float) -> bool:
        """Sleep ``seconds`` on the capture thread in short slices; True when asked to stop
        (the consumer's ``close``, or a stop signal) meanwhile."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if self._reader.stopping.wait(min(left, WAIT_SLICE_S)) or stop_requested():
                return True
        return self._reader.stopping.is_set() or stop_requested()

    def _release(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None

    def read(self) -> Frame | None:
        item = self._reader.get()
        self.dropped = self._reader.dropped
        if item is None:
            return None
        image, index, stamp = item
        return Frame(image, index, stamp)

    def close(self) -> None:
        self._reader.stop()


class PacedSource(Source):
    """A file-like source replayed as a live one: frames are released at the source's frame
    rate on a capture thread that keeps only the newest, with monotonic capture timestamps.

    It measures what a camera of that frame rate would see when the model is slower than it;
    ``Frame.index`` stays the position in the file, so dropped frames leave gaps.
    """

    live = True

    def __init__(self, inner: Source) -> None:
        fps = inner.fps or DEFAULT_FPS  # file-like sources know theirs; f"{None:g}" would raise
        super().__init__(f"{inner.name} (paced at {fps:g} fps)", fps)
        self.kind = inner.kind
        self._inner = inner
        self._period = 1.0 / fps
        self._next_due: float | None = None
        self._reader: LatestFrameReader[Frame] = LatestFrameReader(
            self._paced_read, self.name, cleanup=inner.close
        )
        self._reader.start()

    def _paced_read(self) -> Frame | None:
        frame = self._inner.read()
        if frame is None:
            return None
        now = time.monotonic()
        if self._next_due is None:
            self._next_due = now
        elif self._reader.stopping.wait(max(0.0, self._next_due - now)):
            return None
        self._next_due += self._period
        return frame

    def read(self) -> Frame | None:
        item = self._reader.get()
        self.dropped = self._reader.dropped + self._inner.dropped
        if item is None:
            return None
        frame, _, stamp = item
        return Frame(frame.image, frame.index, stamp)

    def close(self) -> None:
        self._reader.stop()


# -- openers for live captures ------------------------------------------------------------------


def camera_opener(index: int, config: SourceConfig) -> Opener:
    """Opens camera ``index`` (V4L2 on Linux) in the mode ``config.camera_size/fps`` asks for."""
    api = cv2.CAP_V4L2 if sys.platform.startswith("linux") else cv2.CAP_ANY
    api_name = "V4L2" if api == cv2.CAP_V4L2 else "the default backend"

    def open_camera() -> cv2.VideoCapture:
        capture = cv2.VideoCapture(index, api)
        if not capture.isOpened():
            capture.release()
            hint = " (no /dev/video devices exist)" if not _video_devices() else ""
            raise EdgeimgError(
                f"cannot open camera {index} with {api_name}: no such camera or it is busy{hint}"
            )
        if config.camera_size is not None:
            capture.set(cv2.CAP_PROP_FRAME_WIDTH, config.camera_size[0])
            capture.set(cv2.CAP_PROP_FRAME_HEIGHT, config.camera_size[1])
        if config.camera_fps is not None:
            capture.set(cv2.CAP_PROP_FPS, config.camera_fps)
        size = (
            int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
            int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
        )
        if config.camera_size is not None and size != tuple(config.camera_size):
            log.warning("camera %d: asked for %dx%d, got %dx%d", index, *config.camera_size, *size)
        return capture

    return open_camera


def _video_devices() -> list[str]:
    return sorted(str(p) for p in Path("/dev").glob("video*")) if Path("/dev").is_dir() else []


def stream_opener(url: str, config: SourceConfig) -> Opener:
    params = [
        cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
        int(config.open_timeout_s * 1000),
        cv2.CAP_PROP_READ_TIMEOUT_MSEC,
        int(config.read_timeout_s * 1000),
    ]

    def open_stream() -> cv2.VideoCapture:
        capture = cv2.VideoCapture(url, cv2.CAP_FFMPEG, params)
        if not capture.isOpened():
            capture.release()
            raise EdgeimgError(
                f"stream {redact(url)} did not open within {config.open_timeout_s:g} s "
                "(check the address, the credentials and the network)"
            )
        return capture

    return open_stream


def gstreamer_opener(pipeline: str) -> Opener:
    if not cv2.videoio_registry.hasBackend(cv2.CAP_GSTREAMER):
        raise EdgeimgError(
            f"GStreamer pipelines need an OpenCV built with GStreamer; this OpenCV "
            f"{cv2.__version__} has none (on a Jetson use the system OpenCV from JetPack, "
            "not opencv-python from PyPI; `edgeimg info` lists the video backends)"
        )

    def open_pipeline() -> cv2.VideoCapture:
        capture = cv2.VideoCapture(pipeline, cv2.CAP_GSTREAMER)
        if not capture.isOpened():
            capture.release()
            raise EdgeimgError(f"cannot open GStreamer pipeline {pipeline!r}")
        return capture

    return open_pipeline
