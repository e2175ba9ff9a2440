"""Where results go: an annotated video file, JSON lines, MOTChallenge text, a window.

Every sink is a context manager taking one :class:`FrameResult` per frame in ``write``. Options
are checked when the sink is built (before any work), files are written under a temporary name
in the destination folder and moved into place by ``close`` (also after an error or Ctrl-C), so
an output path holds either nothing or a complete, readable file up to the last good frame.
Display is a sink of its own, separate from writing.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import cv2
import numpy as np

from edgeimg.runtime.detections import Detections, Frame
from edgeimg.runtime.errors import EdgeimgError
from edgeimg.runtime.mot import MotRecords, format_lines

log = logging.getLogger(__name__)

VIDEO_CODECS = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}


@dataclass(frozen=True)
class FrameResult:
    """What the pipeline hands each sink for one frame.

    frame: the source frame (image (H, W, 3) uint8 BGR, index, timestamp).
    detections: the frame's detections (with ``tracker_id`` once tracked).
    annotated: (H, W, 3) uint8 BGR drawing of the detections on the frame, or None when no
        sink asked for one.
    """

    frame: Frame
    detections: Detections
    annotated: np.ndarray | None = None


class Sink:
    """Base of the sinks. needs_image: the pipeline must draw ``FrameResult.annotated``.
    stop_requested: the sink asks the pipeline to stop (a window closed by the user).
    """

    needs_image = False

    def __init__(self) -> None:
        self.stop_requested = False
        self.frames = 0

    def configure(self, fps: float, class_names: tuple[str, ...]) -> None:
        """Learn the source's frame rate and the model's class names (before ``open``); sinks
        built before the source and model were opened take their defaults from here.
        """

    def open(self) -> None:
        """Create the output (a temporary file); called by ``__enter__``."""

    def write(self, result: FrameResult) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Finish the output. Safe to call twice."""

    def __enter__(self) -> Sink:
        self.open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def check_writable(path: Path, what: str) -> Path:
    """The absolute path, after checking that a file can be created there (EdgeimgError if not)."""
    path = Path(path).expanduser().absolute()
    folder = path.parent
    if path.is_dir():
        raise EdgeimgError(f"{what} {path}: expected a file name, got a folder")
    if not folder.is_dir():
        raise EdgeimgError(f"{what} {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise EdgeimgError(f"{what} {path}: folder {folder} is not writable")
    return path


def temporary_path(path: Path) -> Path:
    """A hidden name beside ``path`` with the same suffix (writers pick formats by suffix)."""
    return path.with_name(f".{path.stem}.partial-{os.getpid()}{path.suffix}")


class VideoSink(Sink):
    """An annotated video file: ``.mp4``/``.m4v``/``.mov`` (MPEG-4 part 2, 'mp4v') or
    ``.avi``/``.mkv`` (Motion JPEG), at ``fps`` frames per second (None: from ``configure``,
    else 30).

    The frame size is the first frame's; a later frame of another size is resized to it (with
    one warning). The file appears at ``path`` on ``close``, holding every frame written.
    Encoding runs on a background thread (OpenCV releases the GIL), so the pipeline's next frame
    overlaps it; ``write`` blocks only when ``queue_depth`` frames wait (no frame is dropped).
    ``frames`` counts the frames encoded.
    """

    needs_image = True

    def __init__(
        self,
        path: str | os.PathLike,
        fps: float | None = None,
        codec: str | None = None,
        queue_depth: int = 8,
    ) -> None:
        super().__init__()
        self.path = check_writable(Path(path), "video output")
        suffix = self.path.suffix.lower()
        if codec is None and suffix not in VIDEO_CODECS:
            raise EdgeimgError(
                f"video output {self.path}: expected a name ending in "
                f"{', '.join(VIDEO_CODECS)}, got {suffix or 'no suffix'!r}"
            )
        self.codec = codec or VIDEO_CODECS[suffix]
        if len(self.codec) != 4:
            raise EdgeimgError(f"video codec: expected a FourCC of 4 characters, got {codec!r}")
        self.fps: float | None = None
        if fps is not None:
            self.configure(fps, ())
        self.size: tuple[int, int] | None = None  # (width, height)
        self._temp = temporary_path(self.path)
        self._writer: cv2.VideoWriter | None = None
        self._encoder: BackgroundWriter | None = None
        self._queue_depth = queue_depth
        self._warned_size = False

    def configure(self, fps: float, class_names: tuple[str, ...]) -> None:
        if not fps > 0:
            raise EdgeimgError(f"video output fps: expected > 0, got {fps}")
        self.fps = float(fps)

    def write(self, result: FrameResult) -> None:
        image = result.annotated if result.annotated is not None else result.frame.image
        height, width = image.shape[:2]
        if self._writer is None:
            self._open_writer(width, height)
        if (width, height) != self.size:
            if not self._warned_size:
                log.warning(
                    "%s: frame %d is %dx%d, the video is %dx%d; resizing (warned once)",
                    self.path.name,
                    result.frame.index,
                    width,
                    height,
                    *self.size,
                )
                self._warned_size = True
            image = cv2.resize(image, self.size, interpolation=cv2.INTER_AREA)
        self._encoder.put(image)

    def _encode(self, image: np.ndarray) -> None:
        """Runs on the encoder thread."""
        self._writer.write(image)
        self.frames += 1

    def _open_writer(self, width: int, height: int) -> None:
        if self.fps is None:
            log.warning("%s: frame rate unknown, writing at 30 fps", self.path.name)
            self.fps = 30.0
        writer = cv2.VideoWriter(
            str(self._temp), cv2.VideoWriter_fourcc(*self.codec), self.fps, (width, height)
        )
        if not writer.isOpened():
            writer.release()
            self._temp.unlink(missing_ok=True)
            raise EdgeimgError(
                f"cannot write video {self.path}: OpenCV has no writer for codec {self.codec!r} "
                f"in {self.path.suffix} files (try .avi)"
            )
        self._writer = writer
        self.size = (width, height)
        self._encoder = BackgroundWriter(
            self._encode, f"encode {self.path.name}", self._queue_depth
        )

    def close(self) -> None:
        if self._writer is None:
            return
        try:
            self._encoder.close()
        finally:
            self._writer.release()
            self._writer = None
            if self.frames:
                os.replace(self._temp, self.path)
                log.debug("wrote %s (%d frames)", self.path, self.frames)
            else:
                self._temp.unlink(missing_ok=True)


_END = object()


class BackgroundWriter:
    """Calls ``write(item)`` for each item given to ``put``, in order, on its own thread.

    ``put`` blocks while ``depth`` items wait (back-pressure: nothing is dropped). The first
    exception of ``write`` is re-raised by the next ``put`` or by ``close`` (once); items after
    it are discarded. ``close`` writes what is queued and ends the thread.
    """

    def __init__(self, write: Callable[[Any], None], name: str, depth: int = 8) -> None:
        if depth < 1:
            raise ValueError(f"queue depth: expected >= 1, got {depth}")
        self._write = write
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._reported = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (item := self._queue.get()) is not _END:
            if self._error is None:
                try:
                    self._write(item)
                except BaseException as exc:  # handed to the producer, re-raised there
                    self._error = exc

    def _raise(self) -> None:
        if self._error is not None and not self._reported:
            self._reported = True
            raise self._error

    def put(self, item: Any) -> None:
        self._raise()
        self._queue.put(item)

    def close(self) -> None:
        if self._thread.is_alive():
            self._queue.put(_END)
            self._thread.join()
        self._raise()


class TextSink(Sink):
    """Base of the sinks writing text lines to a temporary file renamed into place on close."""

    what = "output"

    def __init__(self, path: str | os.PathLike) -> None:
        super().__init__()
        self.path = check_writable(Path(path), self.what)
        self._temp = temporary_path(self.path)
        self._file: IO[str] | None = None

    def open(self) -> None:
        if self._file is None:
            try:
                self._file = open(self._temp, "w", encoding="utf-8")  # noqa: SIM115 (closed in close)
            except OSError as exc:
                raise EdgeimgError(
                    f"cannot write {self.what} {self.path}: {exc.strerror}"
                ) from None

    def write(self, result: FrameResult) -> None:
        if self._file is None:
            self.open()
        self._file.write(self.format(result))
        self.frames += 1

    def format(self, result: FrameResult) -> str:
        """The text of one frame (whole lines, each ending in a newline)."""
        raise NotImplementedError

    def close(self) -> None:
        if self._file is None:
            return
        self._file.close()
        self._file = None
        os.replace(self._temp, self.path)
        log.debug("wrote %s (%d frames)", self.path, self.frames)


class JsonLinesSink(TextSink):
    """One JSON object per frame and line::

        {"frame": 0, "timestamp": 0.0, "detections": [{"box": [x1, y1, x2, y2], "score": 0.91,
         "class_id": 0, "class": "person", "track_id": 3}, ...]}

    ``frame`` is the 0-based index in the source, ``timestamp`` its time in seconds, boxes are
    pixels of the source image, and ``track_id`` is null before tracking or for an untracked box.
    """

    what = "JSON lines output"

    def __init__(self, path: str | os.PathLike, class_names: tuple[str, ...] = ()) -> None:
        super().__init__(path)
        self.class_names = tuple(class_names)

    def configure(self, fps: float, class_names: tuple[str, ...]) -> None:
        if not self.class_names:
            self.class_names = tuple(class_names)

    def format(self, result: FrameResult) -> str:
        return json.dumps(frame_record(result.frame, result.detections, self.class_names)) + "\n"


def frame_record(
    frame: Frame, detections: Detections, class_names: tuple[str, ...] = ()
) -> dict[str, object]:
    """The JSON-ready record of one frame (see :class:`JsonLinesSink`)."""
    tracker_id = detections.tracker_id
    items = []
    for i in range(len(detections)):
        class_id = int(detections.class_id[i])
        track = None if tracker_id is None or tracker_id[i] < 0 else int(tracker_id[i])
        items.append(
            {
                "box": [round(float(v), 2) for v in detections.xyxy[i]],
                "score": round(float(detections.confidence[i]), 4),
                "class_id": class_id,
                "class": class_names[class_id] if 0 <= class_id < len(class_names) else None,
                "track_id": track,
            }
        )
    return {"frame": frame.index, "timestamp": round(frame.timestamp, 6), "detections": items}


class WindowSink(Sink):
    """Shows annotated frames in an OpenCV window; ``q`` or Esc asks the pipeline to stop.

    Needs a display and an OpenCV with GUI support (``opencv-python``, not ``-headless``);
    raises EdgeimgError when either is missing.
    """

    needs_image = True

    def __init__(self, title: str = "edgeimg") -> None:
        super().__init__()
        self.title = title
        if sys.platform.startswith("linux") and not (
            os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
        ):
            raise EdgeimgError(
                "--show needs a display, and neither DISPLAY nor WAYLAND_DISPLAY is set "
                "(write a video with --output instead)"
            )
        self._open = False

    def open(self) -> None:
        try:
            cv2.namedWindow(self.title, cv2.WINDOW_NORMAL)
        except cv2.error:
            raise EdgeimgError(
                "--show needs OpenCV with GUI support, and this build has none "
                "(opencv-python-headless); pip install opencv-python, or use --output"
            ) from None
        self._open = True

    def write(self, result: FrameResult) -> None:
        image = result.annotated if result.annotated is not None else result.frame.image
        cv2.imshow(self.title, image)
        self.frames += 1
        if (cv2.waitKey(1) & 0xFF) in (27, ord("q")):
            self.stop_requested = True

    def close(self) -> None:
        if self._open:
            cv2.destroyWindow(self.title)
            cv2.waitKey(1)
            self._open = False


class MotSink(TextSink):
    """MOTChallenge text, ``frame,id,left,top,width,height,conf,-1,-1,-1`` per box, frames
    1-based (``Frame.index + 1``), as TrackEval and py-motmetrics read it.

    Tracked detections without a track (``tracker_id`` -1) are left out; untracked
    detections (``tracker_id`` None) are written with id -1, as in MOTChallenge's det.txt.
    """

    what = "MOTChallenge output"

    def format(self, result: FrameResult) -> str:
        detections = result.detections
        if detections.tracker_id is not None:
            detections = detections[detections.tracker_id >= 0]
        return format_lines(MotRecords.from_detections(result.frame.index + 1, detections))
