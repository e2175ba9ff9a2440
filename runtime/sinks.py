"""Where results go: an annotated video or image file, JSON lines, a window, and the formats a
task adds (MOTChallenge text for detect, CSV for classify: ``TaskSpec.sinks``).

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

from edgeimg.runtime.atomic import check_destination, temporary_path
from edgeimg.runtime.contract import ModelContract
from edgeimg.runtime.errors import EdgeimgError
from edgeimg.runtime.frame import Frame
from edgeimg.runtime.timing import StageTimer

log = logging.getLogger(__name__)

VIDEO_CODECS = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}
H264_SUFFIXES = (".mp4", ".m4v", ".mov")  # written as H.264 + faststart when PyAV is installed
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
JSON_SUFFIXES = (".jsonl", ".json", ".ndjson")


@dataclass(frozen=True)
class FrameResult:
    """What the pipeline hands each sink for one frame.

    frame: the source frame (image (H, W, 3) uint8 BGR, index, timestamp).
    result: the task's result for the frame (``Detections`` with ``tracker_id`` once tracked,
        ``ClassScores``, ...: ``TaskSpec.result_type``).
    annotated: (H, W, 3) uint8 BGR drawing of the result on the frame, or None when no sink
        asked for one.
    """

    frame: Frame
    result: Any
    annotated: np.ndarray | None = None


class Sink:
    """Base of the sinks. needs_image: the pipeline must draw ``FrameResult.annotated``.
    stop_requested: the sink asks the pipeline to stop (a window closed by the user).
    """

    needs_image = False

    def __init__(self) -> None:
        self.stop_requested = False
        self.frames = 0

    def configure(self, fps: float, contract: ModelContract) -> None:
        """Learn the source's frame rate and the model's contract (before ``open``); sinks
        built before the source and model were opened take their defaults from here.
        """

    def watch(self, timer: StageTimer) -> None:
        """Given the run's per-stage timer before the first frame (read it from ``write``,
        on the pipeline's thread), for sinks that report timing live."""

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
    return check_destination(path, what)


def h264_available() -> bool:
    """PyAV (the ``video`` extra: ``pip install 'edgeimg[video]'``) with FFmpeg's libx264 is
    installed. OpenCV's pip wheels carry no H.264 encoder."""
    try:
        import av
    except ImportError:
        return False
    return "libx264" in getattr(av, "codecs_available", ())


class PyAVWriter:
    """H.264 (libx264, yuv420p) in an MP4 with its index (``moov``) at the front (FFmpeg's
    ``movflags=+faststart``), so browsers, editors and chat apps play it, and start before it
    is fully downloaded. The interface of ``cv2.VideoWriter`` that :class:`VideoSink` uses:
    ``write(bgr_image)``, ``release()``, ``isOpened()``.
    """

    def __init__(self, path: Path, fps: float, size: tuple[int, int], crf: int = 23) -> None:
        from fractions import Fraction

        import av

        self._av = av
        width, height = size
        self._container = av.open(
            str(path), mode="w", format="mp4", options={"movflags": "+faststart"}
        )
        try:
            stream = self._container.add_stream(
                "libx264", rate=Fraction(fps).limit_denominator(1001)
            )
            stream.width, stream.height = width, height
            stream.pix_fmt = "yuv420p"
            # a 5-frame rate-control lookahead (veryfast's is 10): measured on 300 PETS frames
            # with every output on, peak RSS 203 -> 188 MB and the file 2.34 -> 2.00 MB;
            # tune=zerolatency saved 32 MB but made the file 46 % larger
            stream.options = {"crf": str(crf), "preset": "veryfast", "rc-lookahead": "5"}
            # write the header now: the file exists from the first frame on (the encoder
            # buffers frames before its first packet), and an unwritable file fails here
            self._container.start_encoding()
        except Exception:
            self._container.close()
            raise
        self._stream = stream
        self._open = True

    def isOpened(self) -> bool:
        return self._open

    def write(self, image: np.ndarray) -> None:
        frame = self._av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="bgr24")
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def release(self) -> None:
        """Flush the encoder and write the index (moved to the front). Raises when the file
        could not be finished (a full disk); safe to call twice."""
        if not self._open:
            return
        self._open = False
        try:
            for packet in self._stream.encode(None):
                self._container.mux(packet)
        finally:
            self._container.close()


class VideoSink(Sink):
    """An annotated video file: ``.mp4``/``.m4v``/``.mov`` or ``.avi``/``.mkv`` (Motion JPEG),
    at ``fps`` frames per second (None: from ``configure``, else 30).

    MP4 files are H.264 with the index at the front (faststart: plays in browsers, VS Code,
    chat apps) when PyAV is installed (the ``video`` extra) and the frame size is even;
    otherwise MPEG-4 Part 2 ('mp4v', which browsers do not play), with one note in the log.
    ``codec`` names a FourCC to use OpenCV's writer with that codec instead.

    The frame size is the first frame's; a later frame of another size is resized to it (with
    one warning). The file appears at ``path`` on ``close``, holding every frame written.
    Encoding runs on a background thread (OpenCV releases the GIL), so the pipeline's next frame
    overlaps it; ``write`` blocks only when ``queue_depth`` frames wait (no frame is dropped).
    Two are enough: on the PETS clip with H.264 (2 cores) depths 2, 4 and 8 ran at the same
    142-161 FPS, and each queued 768x576 frame is 1.3 MB more peak memory (219 vs 227 MB).
    ``frames`` counts the frames encoded.
    """

    needs_image = True

    def __init__(
        self,
        path: str | os.PathLike[str],
        fps: float | None = None,
        codec: str | None = None,
        queue_depth: int = 2,
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
        # H.264 through PyAV when the codec is not chosen and the container is MP4
        self._try_h264 = codec is None and suffix in H264_SUFFIXES
        if len(self.codec) != 4:
            raise EdgeimgError(f"video codec: expected a FourCC of 4 characters, got {codec!r}")
        self.fps: float | None = None
        if fps is not None:
            self._set_fps(fps)
        self.size: tuple[int, int] | None = None  # (width, height)
        self._temp = temporary_path(self.path)
        self._writer: cv2.VideoWriter | PyAVWriter | None = None
        self._encoder: BackgroundWriter | None = None
        self._queue_depth = queue_depth
        self._warned_size = False

    def configure(self, fps: float, contract: ModelContract) -> None:
        if self.fps is None:
            self._set_fps(fps)

    def _set_fps(self, fps: float) -> None:
        if not fps > 0:
            raise EdgeimgError(f"video output fps: expected > 0, got {fps}")
        self.fps = float(fps)

    def write(self, result: FrameResult) -> None:
        image = result.annotated if result.annotated is not None else result.frame.image
        height, width = image.shape[:2]
        if self._writer is None:
            self._open_writer(width, height)
        # _open_writer sets the writer, its encoder thread and the size together
        assert self._encoder is not None and self.size is not None
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
        # close() stops this thread before it releases the writer
        assert self._writer is not None
        self._writer.write(image)
        self.frames += 1

    def _open_writer(self, width: int, height: int) -> None:
        if self.fps is None:
            log.warning("%s: frame rate unknown, writing at 30 fps", self.path.name)
            self.fps = 30.0
        if self._try_h264:
            h264 = self._open_h264(width, height)
            if h264 is not None:
                self._start(h264, width, height)
                return
        writer = cv2.VideoWriter(
            str(self._temp), cv2.VideoWriter.fourcc(*self.codec), self.fps, (width, height)
        )
        if not writer.isOpened():
            writer.release()
            self._temp.unlink(missing_ok=True)
            raise EdgeimgError(
                f"cannot write video {self.path}: OpenCV has no writer for codec {self.codec!r} "
                f"in {self.path.suffix} files (try .avi)"
            )
        self._start(writer, width, height)

    def _open_h264(self, width: int, height: int) -> PyAVWriter | None:
        """PyAV's H.264 writer, or None (with one note saying why) to fall back to mp4v."""
        why = None
        if not h264_available():
            why = "no H.264 encoder (pip install 'edgeimg[video]' adds PyAV's)"
        elif width % 2 or height % 2:
            why = f"H.264 needs an even frame size, got {width}x{height}"
        if why is None:
            assert self.fps is not None
            try:
                writer = PyAVWriter(self._temp, self.fps, (width, height))
            except Exception as exc:  # an FFmpeg build without a working libx264
                why = f"the H.264 encoder did not start ({exc})"
            else:
                self.codec = "avc1"
                return writer
        log.info(
            "%s: %s; writing MPEG-4 Part 2 (mp4v), which browsers do not play",
            self.path.name,
            why,
        )
        self._temp.unlink(missing_ok=True)
        return None

    def _start(self, writer: cv2.VideoWriter | PyAVWriter, width: int, height: int) -> None:
        self._writer = writer
        self.size = (width, height)
        self._encoder = BackgroundWriter(
            self._encode, f"encode {self.path.name}", self._queue_depth
        )

    def close(self) -> None:
        if self._writer is None:
            return
        finished = False
        failed: OSError | None = None
        try:
            if self._encoder is not None:
                encoder, self._encoder = self._encoder, None
                encoder.close()
        except OSError as exc:  # a write after the last put failed (disk full): said below
            failed = exc
        finally:
            writer, self._writer = self._writer, None
            try:
                writer.release()
            except Exception as exc:  # PyAV: the index could not be written (disk full)
                log.debug("%s: finishing the video failed: %s", self.path.name, exc)
            if self.frames and self._readable():
                os.replace(self._temp, self.path)
                finished = True
                log.debug("wrote %s (%d frames)", self.path, self.frames)
            else:
                self._temp.unlink(missing_ok=True)
        if failed is not None and finished:
            raise EdgeimgError(
                f"cannot write video {self.path}: {failed.strerror or failed} "
                f"(kept the {self.frames} frames encoded before)"
            )
        if (self.frames or failed is not None) and not finished:
            raise EdgeimgError(
                f"cannot write video {self.path}: the encoder could not finish the file "
                "(disk full or file size limit?); nothing written there"
            )

    def _readable(self) -> bool:
        """The finished temporary file opens as a video with frames (OpenCV's writer reports no
        write error: a full disk leaves an MP4 without its index, which no player opens)."""
        try:
            if self._temp.stat().st_size == 0:
                return False
        except OSError:
            return False
        capture = cv2.VideoCapture(str(self._temp))
        try:
            return bool(capture.isOpened()) and capture.read()[0]
        finally:
            capture.release()


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
    """Base of the sinks writing text lines to a temporary file renamed into place on close.

    Each frame's text goes to the file in one unbuffered write, so the file never holds part
    of a frame that ``write`` did not report. When a write fails (a full disk, ENOSPC; a file
    size limit, EFBIG), the file is cut back to the last whole frame, moved into place, and
    EdgeimgError says what happened in one line: the output keeps every complete frame.
    """

    what = "output"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__()
        self.path = check_writable(Path(path), self.what)
        self._temp = temporary_path(self.path)
        self._file: IO[bytes] | None = None
        self._complete = 0  # bytes of whole frames (and headers) in the file

    def open(self) -> None:
        if self._file is None:
            try:
                self._file = open(self._temp, "wb", buffering=0)  # noqa: SIM115 (closed in close)
            except OSError as exc:
                raise EdgeimgError(
                    f"cannot write {self.what} {self.path}: {exc.strerror}"
                ) from None
            self._complete = 0

    def write(self, result: FrameResult) -> None:
        self.write_text(self.format(result))
        self.frames += 1

    def write_text(self, text: str) -> None:
        """Append whole lines (a frame's or a header's) to the file, all or nothing."""
        if self._file is None:
            self.open()
        assert self._file is not None
        encoded = text.encode("utf-8")
        data = memoryview(encoded)
        try:
            while data:
                written = self._file.write(data)
                data = data[written or 0 :]
        except OSError as exc:
            self._fail(exc)
        self._complete += len(encoded)

    def _fail(self, exc: OSError) -> None:
        """Keep the whole frames written so far at the final path, then raise one line."""
        assert self._file is not None
        reason = exc.strerror or type(exc).__name__
        try:
            self._file.truncate(self._complete)
        finally:
            self.close()
        kept = f"kept the {self.frames} complete frames" if self.frames else "nothing written"
        raise EdgeimgError(f"cannot write {self.what} {self.path}: {reason} ({kept})") from None

    def format(self, result: FrameResult) -> str:
        """The text of one frame (whole lines, each ending in a newline)."""
        raise NotImplementedError

    def close(self) -> None:
        """Move the file into place when it holds a frame; otherwise remove it."""
        if self._file is None:
            return
        file, self._file = self._file, None
        file.close()
        if self.frames:
            os.replace(self._temp, self.path)
            log.debug("wrote %s (%d frames)", self.path, self.frames)
        else:
            self._temp.unlink(missing_ok=True)


class JsonLinesSink(TextSink):
    """One JSON object per frame and line: ``{"frame": 1, "timestamp": 0.0, ...}`` followed by
    the task's record of the result (``TaskSpec.record``), e.g. for detect::

        {"frame": 1, "timestamp": 0.0, "detections": [{"box": [x1, y1, x2, y2], "score": 0.91,
         "class_id": 0, "class": "person", "track_id": 3}, ...]}

    ``frame`` is the 1-based frame number in the source (``Frame.index + 1``: the same number
    as the MOTChallenge file and ``--start-frame``), ``timestamp`` its time in seconds,
    ``name`` the file name for image sources; boxes are pixels of the source image.
    """

    what = "JSON lines output"

    def __init__(self, path: str | os.PathLike[str], contract: ModelContract | None = None) -> None:
        super().__init__(path)
        self._record: Callable[[Any, tuple[str, ...]], dict[str, Any]] | None = None
        self.class_names: tuple[str, ...] = ()
        if contract is not None:
            self.configure(0.0, contract)

    def configure(self, fps: float, contract: ModelContract) -> None:
        from edgeimg.runtime.tasks import get_task

        self._record = get_task(contract.task).record
        self.class_names = contract.class_names

    def format(self, result: FrameResult) -> str:
        if self._record is None:
            raise EdgeimgError("JSON lines output: configure() with the model's contract first")
        return json.dumps(frame_record(result, self._record, self.class_names)) + "\n"


class StdoutJsonLines(Sink):
    """The JSON-lines records of :class:`JsonLinesSink`, printed to standard output (for pipes:
    ``edgeimg predict m.onnx photos/ | jq .top_k``)."""

    to_stdout = True

    def __init__(self) -> None:
        super().__init__()
        self._record: Callable[[Any, tuple[str, ...]], dict[str, Any]] | None = None
        self.class_names: tuple[str, ...] = ()

    def configure(self, fps: float, contract: ModelContract) -> None:
        from edgeimg.runtime.tasks import get_task

        self._record = get_task(contract.task).record
        self.class_names = contract.class_names

    def write(self, result: FrameResult) -> None:
        if self._record is None:
            raise EdgeimgError("JSON lines output: configure() with the model's contract first")
        sys.stdout.write(json.dumps(frame_record(result, self._record, self.class_names)) + "\n")
        sys.stdout.flush()
        self.frames += 1


def frame_record(
    result: FrameResult,
    record: Callable[[Any, tuple[str, ...]], dict[str, Any]],
    class_names: tuple[str, ...] = (),
) -> dict[str, Any]:
    """The JSON-ready record of one frame (see :class:`JsonLinesSink`; ``frame`` 1-based)."""
    frame = result.frame
    head: dict[str, Any] = {"frame": frame.index + 1, "timestamp": round(frame.timestamp, 6)}
    if frame.name:
        head["name"] = frame.name
    return {**head, **record(result.result, class_names)}


class ImageSink(Sink):
    """The annotated frame of a single-image source as an image file (format by suffix).

    Written to a temporary name and moved into place, so the path holds the whole image or
    nothing; a second frame is refused (use a video or a folder source with ``.jsonl``).
    """

    needs_image = True

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__()
        self.path = check_writable(Path(path), "image output")
        if self.path.suffix.lower() not in IMAGE_SUFFIXES:
            raise EdgeimgError(
                f"image output {self.path}: expected a name ending in "
                f"{', '.join(IMAGE_SUFFIXES)}, got {self.path.suffix or 'no suffix'!r}"
            )

    def write(self, result: FrameResult) -> None:
        if self.frames:
            raise EdgeimgError(
                f"image output {self.path}: holds one image, the source has more "
                "(write a video, .mp4, or JSON lines instead)"
            )
        write_image(
            self.path, result.annotated if result.annotated is not None else result.frame.image
        )
        self.frames += 1


def write_image(path: str | os.PathLike[str], image: np.ndarray) -> Path:
    """``image`` (H, W, 3) uint8 BGR or (H, W) gray as an image file (format by suffix), written
    to a temporary name and moved into place: the path holds the whole image or nothing."""
    path = Path(path)
    temp = temporary_path(path)
    try:
        if not cv2.imwrite(str(temp), image):
            raise EdgeimgError(f"cannot write image {path}: OpenCV could not encode it")
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    return path


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


def file_sink(
    path: str | os.PathLike[str], contract: ModelContract, fps: float | None = None
) -> Sink:
    """The sink for an output file, chosen by its suffix: a video (``.mp4`` ...), an image
    (``.jpg`` ...), JSON lines (``.jsonl``), or a format of the model's task (``.txt``
    MOTChallenge for detect, ``.csv`` for classify)."""
    from edgeimg.runtime.tasks import get_task

    path = Path(path)
    suffix = path.suffix.lower()
    task_sinks = get_task(contract.task).sinks
    if suffix in VIDEO_CODECS:
        return VideoSink(path, fps)
    if suffix in IMAGE_SUFFIXES:
        return ImageSink(path)
    if suffix in JSON_SUFFIXES:
        return JsonLinesSink(path, contract)
    if suffix in task_sinks:
        return task_sinks[suffix](path, contract)
    valid = [*VIDEO_CODECS, *IMAGE_SUFFIXES, *JSON_SUFFIXES, *task_sinks]
    raise EdgeimgError(
        f"output {path}: expected a name ending in {', '.join(valid)} for a {contract.task} "
        f"model, got {suffix or 'no suffix'!r}"
    )
