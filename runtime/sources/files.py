"""Sources read in order, never dropping a frame: video files, image folders, the synthetic
scene. Timestamps are positions in the file (index / fps)."""

from __future__ import annotations

import logging
import math
import re
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import cv2

from edgeimg.runtime.errors import EdgeimgError
from edgeimg.runtime.frame import Frame
from edgeimg.runtime.sources.base import (
    DEFAULT_FPS,
    IMAGE_SUFFIXES,
    Source,
    SourceConfig,
    SourceKind,
    as_bgr,
)

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

log = logging.getLogger(__name__)

_Options = TypeVar("_Options", bound="DataclassInstance")


class _FileSource(Source):
    """A source read in order, timestamps being positions: its frame rate is always known."""

    fps: float

    def __init__(self, name: str, fps: float) -> None:
        super().__init__(name, fps)


# FFmpeg renders text as pictures with these decoders (ANSI art, BinText, XBin, iCEDraw, TTY):
# a file they "decode" is text, not video.
TEXT_CODECS = frozenset({"ansi", "bint", "xbin", "idf ", "idf", "tty"})
MAX_SIDE = 16384  # pixels: larger frames are no camera's (and a misread header)
MAX_FPS = 1000.0


def sniff_text(path: Path, size: int = 4096) -> str | None:
    """The first line of ``path`` when its first ``size`` bytes are text (UTF-8 without NUL or
    other control bytes but tab, CR, LF); None for binary data, as every video container is."""
    with open(path, "rb") as file:
        head = file.read(size)
    if not head:
        return ""
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut at the end of the block
            return None
        text = head[: exc.start].decode("utf-8")
    if any(ord(c) < 32 and c not in "\t\r\n" for c in text):
        return None
    return text.splitlines()[0] if text.splitlines() else ""


def _fourcc(capture: cv2.VideoCapture) -> str:
    code = int(capture.get(cv2.CAP_PROP_FOURCC))
    return "".join(chr((code >> (8 * i)) & 0xFF) for i in range(4)).rstrip("\x00")


def check_video_content(path: Path, capture: cv2.VideoCapture) -> None:
    """Raise EdgeimgError unless ``path`` looks like a video by its content: binary (not text),
    a codec that decodes pictures (not FFmpeg's text renderers), a plausible frame size and
    frame rate. ``capture`` may be unopened (then only the content is named). (The caller then
    checks that a frame decodes.)"""
    opened = capture.isOpened()
    codec = _fourcc(capture) if opened else ""
    width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)) if opened else 0
    height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)) if opened else 0
    fps = capture.get(cv2.CAP_PROP_FPS) if opened else math.nan
    line = sniff_text(path)
    if line is not None or codec.lower() in TEXT_CODECS:
        found = (
            "an empty file" if line == "" else "text" if line is None else f"text ({line[:40]!r})"
        )
        rendered = (
            f", which FFmpeg would render as codec {codec or 'unknown'!r} {width}x{height}"
            if opened
            else ""
        )
        raise EdgeimgError(
            f"source {path} is not a video: found {found}{rendered}; expected a video file "
            "(MP4, AVI, MKV, ...) or an image folder"
        )
    if not opened:
        raise EdgeimgError(f"cannot decode video {path}: OpenCV cannot open it")
    if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE):
        raise EdgeimgError(
            f"source {path} is not a usable video: frame size {width}x{height} "
            f"(codec {codec or 'unknown'!r}); expected 1 to {MAX_SIDE} pixels a side"
        )
    if math.isfinite(fps) and fps > MAX_FPS:
        raise EdgeimgError(
            f"source {path} is not a usable video: {fps:g} frames per second "
            f"(codec {codec or 'unknown'!r}); expected at most {MAX_FPS:g} (or give --fps)"
        )


class VideoFileSource(_FileSource):
    """Every frame of a video file, in order; timestamps are index / fps.

    Refuses (EdgeimgError, one line) a file that is not a video by its content even when FFmpeg
    opens it (text files, which FFmpeg renders as ANSI art), and one with no decodable frame.
    When decoding stops before the frame count of the header (a truncated file), ``read``
    returns None and ``ended_early`` says so.
    """

    kind = SourceKind.VIDEO

    def __init__(self, path: Path, config: SourceConfig) -> None:
        if not path.is_file():
            raise EdgeimgError(f"video file not found: {path}")
        capture = cv2.VideoCapture(str(path))
        try:
            check_video_content(path, capture)
        except BaseException:
            capture.release()
            raise
        header_fps = capture.get(cv2.CAP_PROP_FPS)
        fps = config.fps or (header_fps if math.isfinite(header_fps) and header_fps > 0 else None)
        if fps is None:
            log.warning("%s: no frame rate in the header, assuming %g fps", path, DEFAULT_FPS)
            fps = DEFAULT_FPS
        super().__init__(str(path), fps)
        self.frame_count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        self._capture: cv2.VideoCapture | None = capture
        self._index = 0
        try:
            for _ in range(config.start):
                if not capture.grab():
                    raise EdgeimgError(
                        f"video {path} has {self._index} frames; cannot start at frame "
                        f"{config.start}"
                    )
                self._index += 1
            self._pending = self._decode()
            if self._pending is None:
                raise EdgeimgError(f"cannot decode video {path}: no frame could be decoded")
        except BaseException:
            self.close()
            raise

    def _decode(self) -> Frame | None:
        if self._capture is None:  # closed
            return None
        ok, image = self._capture.read()
        if not ok or image is None:
            return None
        frame = Frame(as_bgr(image), self._index, self._index / self.fps)
        self._index += 1
        return frame

    def read(self) -> Frame | None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            return pending
        if self._capture is None:
            return None
        frame = self._decode()
        if frame is None:
            # containers that store no count make OpenCV estimate it from the duration: allow 1
            if 0 < self._index < self.frame_count - 1 and self.ended_early is None:
                self.ended_early = (
                    f"{self.name} ended early: {self._index} of the {self.frame_count} frames "
                    "its header announces could be read (a truncated or corrupt file)"
                )
                log.debug("%s", self.ended_early)
            self.close()
        return frame

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None


class ImageFolderSource(_FileSource):
    """The images of a folder in natural sort order (or one image file); index = position."""

    kind = SourceKind.FOLDER

    def __init__(self, path: Path, config: SourceConfig) -> None:
        if path.is_file():
            files = [path]
        else:
            files = sorted(
                (p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()),
                key=_natural_key,
            )
        if not files:
            raise EdgeimgError(
                f"image folder {path} has no images (expected files ending in "
                f"{', '.join(IMAGE_SUFFIXES)})"
            )
        if config.start >= len(files):
            raise EdgeimgError(
                f"image folder {path} has {len(files)} images; cannot start at frame {config.start}"
            )
        super().__init__(str(path), config.fps or _sequence_fps(path) or DEFAULT_FPS)
        self.files = files
        self._index = config.start
        self._decoded = 0
        self._held: list[Path] = []  # undecodable files before the first good one

    def read(self) -> Frame | None:
        """The next image that decodes. Images that do not are skipped with a warning each;
        those before the first good one are held back, so a folder where none decodes is one
        error line (EdgeimgError) instead of a warning per file."""
        while self._index < len(self.files):
            index, self._index = self._index, self._index + 1
            image = cv2.imread(str(self.files[index]), cv2.IMREAD_COLOR)
            if image is not None:
                for skipped in self._held:
                    log.warning("%s: cannot decode image, skipped", skipped)
                self._held.clear()
                self._decoded += 1
                return Frame(image, index, index / self.fps, self.files[index].name)
            if self._decoded:
                log.warning("%s: cannot decode image, skipped", self.files[index])
            else:
                self._held.append(self.files[index])
            self.dropped += 1
        if self._held and not self._decoded:
            raise EdgeimgError(
                f"image folder {self.name}: none of its {len(self._held)} image files could be "
                f"decoded (first: {self._held[0].name}; not images, or corrupt)"
            )
        return None


def _natural_key(path: Path) -> list[object]:
    """Sort key that puts ``img2`` before ``img10``."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", path.name)]


def _sequence_fps(folder: Path) -> float | None:
    """``frameRate`` from a MOTChallenge ``seqinfo.ini`` in or beside an image folder."""
    for ini in (folder / "seqinfo.ini", folder.parent / "seqinfo.ini"):
        if ini.is_file():
            match = re.search(r"^\s*frameRate\s*=\s*([\d.]+)", ini.read_text(), re.MULTILINE)
            if match and float(match.group(1)) > 0:
                return float(match.group(1))
    return None


class SyntheticSource(_FileSource):
    """Frames of edgeimg's generated scene (``edgeimg.runtime.synthetic``), with ground truth.

    options: ``key=value`` pairs separated by commas naming :class:`SceneConfig` fields, e.g.
    ``frames=100,seed=3,people=12``. ``scene`` gives the ground truth of every frame.
    """

    kind = SourceKind.SYNTHETIC

    def __init__(self, options: str, config: SourceConfig) -> None:
        from edgeimg.runtime.synthetic import SceneConfig, SyntheticScene

        scene_config = _parse_options(options, SceneConfig)
        self.scene = SyntheticScene(scene_config)
        c = self.scene.config
        if config.start >= c.frames:
            raise EdgeimgError(
                f"synthetic scene has {c.frames} frames; cannot start at frame {config.start}"
            )
        super().__init__(f"synthetic:{options}", config.fps or c.fps)
        self._index = config.start

    def read(self) -> Frame | None:
        if self._index >= len(self.scene):
            return None
        index, self._index = self._index, self._index + 1
        image, _, _ = self.scene.render(index)
        return Frame(image, index, index / self.fps)


def _parse_options(options: str, cls: type[_Options]) -> _Options:
    """A dataclass ``cls`` from ``key=value,key=value`` text (values parsed as int, then float)."""
    names = {f.name for f in fields(cls)}
    values: dict[str, float | int] = {}
    for item in filter(None, (s.strip() for s in options.split(","))):
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or key not in names:
            raise EdgeimgError(
                f"synthetic source option {item!r}: expected key=value with key one of "
                f"{', '.join(sorted(names))}"
            )
        try:
            values[key] = int(text)
        except ValueError:
            try:
                values[key] = float(text)
            except ValueError:
                raise EdgeimgError(
                    f"synthetic source option {key}: expected a number, got {text!r}"
                ) from None
    try:
        return cls(**values)
    except ValueError as exc:
        raise EdgeimgError(f"synthetic source: {exc}") from None
