"""The value that flows from a source into the pipeline: one image with its place in time."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Frame:
    """One image from a source.

    image: (H, W, 3) uint8, BGR (OpenCV's order).
    index: 0-based position in the source (for files: the frame number in the file).
    timestamp: capture time in seconds (``time.monotonic()`` for live sources, position in
        the file for files), used by the tracker's motion model.
    name: the image's file name for image files and folders, else empty.
    """

    image: np.ndarray
    index: int
    timestamp: float
    name: str = ""
