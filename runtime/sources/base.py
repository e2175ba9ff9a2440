"""The source interface: :class:`Source`, its options and kinds."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum

import cv2
import numpy as np

from edgeimg.runtime.errors import EdgeimgError
from edgeimg.runtime.frame import Frame

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "http", "https", "udp", "tcp", "srt")
DEFAULT_FPS = 30.0


class SourceKind(str, Enum):
    CAMERA = "camera"
    VIDEO = "video"
    FOLDER = "folder"
    STREAM = "stream"
    GSTREAMER = "gstreamer"
    SYNTHETIC = "synthetic"


@dataclass(frozen=True)
class SourceConfig:
    """Options of :func:`open_source`.

    start: index of the first frame delivered by a file, folder or synthetic scene (0-based;
        earlier frames are decoded and skipped, so indices stay positions in the file).
    fps: frame rate for timestamps; overrides a video header, and is what folders use
        (default: ``frameRate`` of a MOTChallenge ``seqinfo.ini`` beside the folder, else 30).
    live: read a file, folder or synthetic scene like a camera: paced at its frame rate on a
        capture thread that keeps only the newest frame (to measure frame age under load).
    open_timeout_s, read_timeout_s: limits for a stream URL to open and to deliver a frame.
    reconnect_attempts: times a dropped camera or stream is reopened before giving up; the
        wait doubles from ``reconnect_delay_s`` up to ``reconnect_max_delay_s``.
    camera_size, camera_fps: (width, height) and frame rate to ask a camera for (None: its
        default); the camera may pick the nearest mode it has.
    """

    start: int = 0
    fps: float | None = None
    live: bool = False
    open_timeout_s: float = 10.0
    read_timeout_s: float = 10.0
    reconnect_attempts: int = 5
    reconnect_delay_s: float = 0.5
    reconnect_max_delay_s: float = 8.0
    camera_size: tuple[int, int] | None = None
    camera_fps: float | None = None

    def __post_init__(self) -> None:
        if self.start < 0:
            raise EdgeimgError(f"start frame: expected >= 0, got {self.start}")
        if self.fps is not None and not (math.isfinite(self.fps) and self.fps > 0):
            raise EdgeimgError(f"fps: expected a positive number, got {self.fps}")
        if min(self.open_timeout_s, self.read_timeout_s) <= 0:
            raise EdgeimgError(
                f"timeouts: expected > 0 s, got open {self.open_timeout_s}, "
                f"read {self.read_timeout_s}"
            )
        if self.camera_size is not None and (
            len(self.camera_size) != 2 or min(self.camera_size) < 1
        ):
            raise EdgeimgError(f"camera size: expected (width, height) > 0, got {self.camera_size}")
        if self.camera_fps is not None and not self.camera_fps > 0:
            raise EdgeimgError(f"camera fps: expected > 0, got {self.camera_fps}")
        if self.reconnect_attempts < 0 or self.reconnect_delay_s < 0:
            raise EdgeimgError(
                f"reconnect: expected attempts >= 0 and delay >= 0, got "
                f"{self.reconnect_attempts} and {self.reconnect_delay_s}"
            )


class Source:
    """Frames from somewhere, in order. A context manager; iterate it or call :meth:`read`.

    name: how messages refer to the source. kind: a :class:`SourceKind`. live: True when
    timestamps are ``time.monotonic()`` at capture (frames may be dropped), False when they are
    positions in a file. fps: the nominal frame rate, or None when unknown. dropped: frames the
    source captured or skipped but never delivered. ended_early: once ``read`` returned None,
    one line saying the source ended before the end it announced (a truncated video file:
    frames read vs frames in its header), else None.
    """

    kind: SourceKind
    live = False

    def __init__(self, name: str, fps: float | None) -> None:
        self.name = name
        self.fps = fps
        self.dropped = 0
        self.ended_early: str | None = None

    def read(self) -> Frame | None:
        """The next frame, or None at the end of the source."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the device or file. Safe to call twice."""

    def __iter__(self) -> Iterator[Frame]:
        while (frame := self.read()) is not None:
            yield frame

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


def as_bgr(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 BGR from what OpenCV decoded: gray (H, W) or (H, W, 1), BGRA, or BGR."""
    if image.ndim == 2 or image.shape[2] == 1:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image
