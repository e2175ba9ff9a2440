"""Calibration and parity inputs: real frames from the user's data, prepared as the runtime does.

A spec is what ``edgeimg.runtime.sources.open_source`` reads (a video file, an image folder,
``synthetic:``) or a MOTChallenge sequence folder (``img1/`` or one video inside, beside
``gt/gt.txt``). Frames are drawn evenly across the chosen range so calibration sees the whole
clip, and every frame goes through the task's ``prepare`` (:func:`edgeimg.runtime.preprocess.prepare`), so quantization
calibrates on exactly the tensors the runtime will feed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeimg.runtime.contract import ModelContract
from edgeimg.runtime.errors import EdgeimgError
from edgeimg.runtime.sources import SourceConfig, open_source
from edgeimg.runtime.tasks import get_task

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".avi", ".mp4", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg")


@dataclass(frozen=True)
class FrameSelection:
    """Which frames of a source to draw: at most ``count``, evenly spaced over ``first..last``.

    first, last: 1-based inclusive frame numbers (MOTChallenge numbering); last None = the end.
    """

    count: int = 100
    first: int = 1
    last: int | None = None

    def __post_init__(self) -> None:
        if self.count < 1:
            raise EdgeimgError(f"calibration frame count: expected >= 1, got {self.count}")
        if self.first < 1 or (self.last is not None and self.last < self.first):
            raise EdgeimgError(
                f"calibration frames: expected 1 <= first <= last, got {self.first}-{self.last}"
            )

    @classmethod
    def parse(cls, text: str | None, count: int = 100) -> FrameSelection:
        """``"1-600"``, ``"601-"``, ``"42"`` or None (all frames)."""
        if not text:
            return cls(count)
        first, dash, last = text.partition("-")
        try:
            start = int(first)
            end = None if dash and not last.strip() else int(last if dash else first)
        except ValueError:
            raise EdgeimgError(
                f"calibration frames: expected FIRST-LAST such as 1-600, got {text!r}"
            ) from None
        return cls(count, start, end)


def resolve_spec(spec: str | Path) -> str:
    """The source spec to open: a MOTChallenge folder becomes its ``img1/`` or its video."""
    path = Path(spec)
    if not path.is_dir() or not (path / "gt").is_dir():
        return str(spec)
    if (path / "img1").is_dir():
        return str(path / "img1")
    videos = sorted(p for p in path.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
    if len(videos) != 1:
        raise EdgeimgError(
            f"MOT folder {path}: expected img1/ or one video file, found {len(videos)} videos"
        )
    return str(videos[0])


def sample_frames(spec: str | Path, selection: FrameSelection) -> list[np.ndarray]:
    """Up to ``selection.count`` frames, (H, W, 3) uint8 BGR, evenly spaced over the range."""
    resolved = resolve_spec(spec)
    with open_source(resolved, SourceConfig(start=selection.first - 1)) as source:
        total = len(getattr(source, "files", ())) or getattr(source, "frame_count", 0)
        last = selection.last if selection.last is not None else total
        span = max(1, (last or selection.count) - selection.first + 1)
        step = max(1, span // selection.count)
        frames = []
        for frame in source:
            number = frame.index + 1
            if selection.last is not None and number > selection.last:
                break
            if (number - selection.first) % step == 0:
                frames.append(frame.image)
                if len(frames) == selection.count:
                    break
    if not frames:
        raise EdgeimgError(f"calibration data {spec}: no frames in {selection.first}-{last}")
    log.info("calibration: %d frames from %s (every %d)", len(frames), resolved, step)
    return frames


def prepare_batch(images: Iterable[np.ndarray], contract: ModelContract) -> np.ndarray:
    """Images (H, W, 3) uint8 BGR (or (H, W) gray) -> (N, ...) model inputs via ``prepare``.

    The batch has the contract's layout, dtype and colour order, shape (N, h, w, c) or
    (N, c, h, w).
    """
    images = list(images)
    if not images:
        raise EdgeimgError("calibration data: no images")
    gray = sum(image.ndim == 2 or image.shape[2] == 1 for image in images)
    if contract.channels == 3 and gray == len(images):
        raise EdgeimgError(
            f"calibration data: expected colour images for this "
            f"{contract.color_order.value} model, got {gray} grayscale images"
        )
    prepare = get_task(contract.task).prepare
    tensors = [prepare(image, contract)[0] for image in images]
    shapes = sorted({tensor.shape[1:] for tensor in tensors})
    if len(shapes) > 1:  # a model that takes any size (resize none) batches frames as they are
        raise EdgeimgError(
            f"calibration data: this model takes frames at their own size, and a batch needs "
            f"one size: got {len(shapes)} ({', '.join(map(str, shapes[:3]))}); use frames of "
            "one size (a video or a folder such as CamVid/train)"
        )
    return np.concatenate(tensors, axis=0)


def check_batch_shape(batch: np.ndarray, input_shape: Iterable[object], source: str) -> None:
    """Raise when a prepared batch does not fit the model's input shape (symbolic dims pass)."""
    expected = tuple(input_shape)
    fits = len(batch.shape) == len(expected) and all(
        not isinstance(e, int) or e == s for s, e in zip(batch.shape[1:], expected[1:], strict=True)
    )
    if not fits:
        raise EdgeimgError(
            f"{source}: prepared images have shape {tuple(batch.shape[1:])} per image, the model "
            f"input expects {tuple(expected[1:])}"
        )
