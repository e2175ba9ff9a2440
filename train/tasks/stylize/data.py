"""Content and style images for style transfer: folders of photos, one painting."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np

from edgeimg.runtime.errors import EdgeimgError
from edgeimg.train.tasks.upscale.data import list_images, read_rgb

SHORT_SIDE = 288  # content photos are resized to this short side, then cropped


def read_style(path: str | Path, what: str = "--style") -> np.ndarray:
    """(H, W, 3) uint8 RGB of the style image (or another image the option ``what`` names), or
    a one-line error."""
    if not Path(path).is_file():
        raise EdgeimgError(f"{what}: expected an image file, got {path}")
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise EdgeimgError(f"{what} {path}: not an image OpenCV can decode")
    if min(image.shape[:2]) < 32:
        raise EdgeimgError(f"{what} {path}: expected at least 32x32 pixels, got {image.shape[:2]}")
    rgb: np.ndarray = image[..., ::-1]
    return rgb


def load_contents(folders: Sequence[str | Path], short_side: int, crop: int) -> list[np.ndarray]:
    """Every image under ``folders`` as (H, W, 3) uint8 RGB with its short side ``short_side``
    (at least ``crop``)."""
    images = []
    for folder in folders:
        for path in list_images(folder):
            rgb = read_rgb(path)
            scale = max(short_side, crop) / min(rgb.shape[:2])
            size = (max(crop, round(rgb.shape[1] * scale)), max(crop, round(rgb.shape[0] * scale)))
            interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
            images.append(cv2.resize(rgb, size, interpolation=interp))
    return images


def random_crops(
    images: Sequence[np.ndarray], crop: int, batch: int, seed: int
) -> Iterator[np.ndarray]:
    """Endless (batch, crop, crop, 3) uint8 batches of random crops, flipped half the time."""
    rng = np.random.default_rng(seed)
    while True:
        out = np.empty((batch, crop, crop, 3), np.uint8)
        for i in range(batch):
            image = images[int(rng.integers(len(images)))]
            y = int(rng.integers(image.shape[0] - crop + 1))
            x = int(rng.integers(image.shape[1] - crop + 1))
            patch = image[y : y + crop, x : x + crop]
            out[i] = patch[:, ::-1] if rng.random() < 0.5 else patch
        yield out


def fit_to_multiple(rgb: np.ndarray, long_side: int, multiple: int) -> np.ndarray:
    """An (H, W, 3) image resized to ``long_side`` on its long side, both sides multiples of
    ``multiple`` (how held-out images are scored: the network's own sizes, no padding)."""
    from edgeimg.export.perceptual import resize_long_side

    return resize_long_side(rgb, long_side, multiple)


def held_out_photos(
    folder: str | Path, style: str | Path, count: int, long_side: int = 480
) -> tuple[list[np.ndarray], np.ndarray]:
    """``count`` photos evenly picked from ``folder`` as (H, W, 3) uint8 BGR with the long side
    ``long_side``, and the style image (uint8 BGR): the INT8 gate's held-out data."""
    files = list_images(folder)
    pick = np.unique(np.linspace(0, len(files) - 1, min(count, len(files))).round().astype(int))
    photos = [fit_to_multiple(read_rgb(files[i]), long_side, 1)[..., ::-1] for i in pick]
    painting: np.ndarray = read_style(style)[..., ::-1]
    return [np.ascontiguousarray(p) for p in photos], np.ascontiguousarray(painting)
