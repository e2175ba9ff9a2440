"""Label masks as PNG files: ``--output NAME.masks`` is a folder of single-channel 8-bit PNGs
of class ids (0..C-1), one per frame: ``<image stem>.png`` for images and folders,
``<frame index, 6 digits>.png`` for videos and cameras."""

from __future__ import annotations

import os
from pathlib import Path

import cv2

from edgeimg.runtime.atomic import temporary_path
from edgeimg.runtime.errors import EdgeimgError
from edgeimg.runtime.sinks import FrameResult, Sink


class MaskSink(Sink):
    """Writes each frame's mask (class ids) to ``folder/<name>.png``, atomically per file."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        super().__init__()
        self.folder = self.path = Path(folder)
        if self.folder.exists() and not self.folder.is_dir():
            raise EdgeimgError(f"mask output {self.folder}: exists and is not a folder")
        if not self.folder.parent.is_dir():
            raise EdgeimgError(f"mask output {self.folder}: no folder {self.folder.parent}")

    def open(self) -> None:
        try:
            self.folder.mkdir(exist_ok=True)
        except OSError as exc:
            raise EdgeimgError(f"mask output {self.folder}: {exc.strerror}") from None

    def write(self, result: FrameResult) -> None:
        frame = result.frame
        stem = Path(frame.name).stem if frame.name else f"{frame.index:06d}"
        path = self.folder / f"{stem}.png"
        temp = temporary_path(path)  # a killed run's leftovers are removed by the next run
        try:
            if not cv2.imwrite(str(temp), result.result.mask):
                raise EdgeimgError(f"cannot write mask {path}: OpenCV could not encode it")
            os.replace(temp, path)
        finally:
            temp.unlink(missing_ok=True)
        self.frames += 1
