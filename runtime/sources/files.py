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


class VideoFileSource(_FileSource):
    """Every frame of a video file, in order; timestamps are index / fps."""

    kind = SourceKind.VIDEO

    def __init__(self, path: Path, config: SourceConfig) -> None:
        if not path.is_file():
            raise EdgeimgError(f"video file not found: {path}")
        capture = cv2.VideoCapture(str(path))
        if not capture.isOpened():
            capture.release()
            raise EdgeimgError(f"cannot decode video {path}: OpenCV cannot open it")
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
        if frame is None and 0 < self._index < self.frame_count - 1:
            log.warning(
                "%s: decoding stopped at frame %d of %d (truncated or corrupt file)",
                self.name,
                self._index,
                self.frame_count,
            )
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

    def read(self) -> Frame | None:
        while self._index < len(self.files):
            index, self._index = self._index, self._index + 1
            image = cv2.imread(str(self.files[index]), cv2.IMREAD_COLOR)
            if image is not None:
                return Frame(image, index, index / self.fps, self.files[index].name)
            log.warning("%s: cannot decode image, skipped", self.files[index])
            self.dropped += 1
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
