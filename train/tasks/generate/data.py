"""Images to learn to generate: a classification dataset (Fashion-MNIST's idx files, CIFAR,
class sub-folders) or a flat folder of images (one class, unconditional only).

Images come out as (N, H, W, C) uint8 with their class indices; :func:`to_tanh` scales them to
-1..1 as the generators' tanh outputs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edgeimg.runtime.errors import EdgeimgError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")


@dataclass(frozen=True)
class GenerationData:
    """train / test images (N, H, W, C) uint8 (RGB or gray) and labels (N,) int32."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(int(v) for v in self.x_train.shape[1:])  # type: ignore[return-value]


def _flat_folder(root: Path, size: tuple[int, int]) -> GenerationData:
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise EdgeimgError(f"{root}: no images (expected {', '.join(IMAGE_SUFFIXES)})")
    images = []
    for path in files:
        image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if image is None:
            raise EdgeimgError(f"{path}: cannot decode this image")
        if image.ndim == 3 and image.shape[2] == 4:
            image = image[:, :, :3]
        image = cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_AREA)
        images.append(image[:, :, ::-1] if image.ndim == 3 else image[:, :, None])
    channels = {im.shape[2] for im in images}
    if len(channels) > 1:  # mixed gray and colour: make all colour
        images = [np.repeat(im, 3, axis=2) if im.shape[2] == 1 else im for im in images]
    x = np.stack(images)
    return GenerationData(x, np.zeros(len(x), np.int32), x[:0], np.zeros(0, np.int32), ("image",))


def load_images(path: str | Path, image_size: tuple[int, int] | None = None) -> GenerationData:
    """A dataset for generation; ``image_size`` (H, W) resizes image-folder images (default
    28x28 for a flat folder; dataset formats keep their size)."""
    from edgeimg.train.tasks.classify.data import detect_format, load_classification

    root = Path(path)
    try:
        detect_format(root)
    except EdgeimgError:
        if not root.is_dir():
            raise
        data = _flat_folder(root, image_size or (28, 28))
        log.info("image folder %s: %d images of %s", root, len(data.x_train), data.image_shape)
        return data
    data = load_classification(root, image_size)
    return GenerationData(data.x_train, data.y_train, data.x_test, data.y_test, data.class_names)


def to_tanh(images: np.ndarray) -> np.ndarray:
    """uint8 0..255 -> float32 -1..1."""
    return images.astype(np.float32) / 127.5 - 1.0
