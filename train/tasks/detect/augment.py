"""Augmentation that keeps boxes right: one affine warp per sample, boxes moved by the same matrix.

A sample is letterboxed into the model's input exactly as the runtime does it
(:func:`edgeimg.runtime.preprocess.letterbox`: centred, pad 114), then zoomed, shifted, flipped
and cropped. All of that is a single 2x3 affine matrix without rotation, so an axis-aligned box
maps to an axis-aligned box exactly, and the image is resampled once.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edgeimg.runtime.errors import EdgeimgError
from edgeimg.runtime.preprocess import INTERPOLATION


@dataclass(frozen=True)
class BoxAugment:
    """Random geometry and colour for detection training.

    scale: zoom range relative to the letterboxed frame. translate: largest shift, as a fraction
    of the input size. flip: mirror left-right half of the time. color: strength of random
    brightness, contrast and saturation (0 = off). min_visible: a box cut by the crop is kept
    when at least this fraction of its area stays inside. mosaic: probability that a training
    sample is a 2x2 mosaic of four (:func:`mosaic_sample`; 0 = never).
    """

    scale: tuple[float, float] = (0.75, 1.35)
    translate: float = 0.15
    flip: bool = True
    color: float = 0.3
    min_visible: float = 0.4
    mosaic: float = 0.0

    def __post_init__(self) -> None:
        if not 0 <= self.mosaic <= 1:
            raise EdgeimgError(f"mosaic: expected a probability 0..1, got {self.mosaic}")

    @classmethod
    def off(cls) -> BoxAugment:
        return cls(scale=(1.0, 1.0), translate=0.0, flip=False, color=0.0)


def letterbox_matrix(source_hw: tuple[int, int], input_hw: tuple[int, int]) -> np.ndarray:
    """(2, 3) float64 affine matrix of the runtime's letterbox (same rounding, same padding)."""
    src_h, src_w = source_hw
    dst_h, dst_w = input_hw
    scale = min(dst_h / src_h, dst_w / src_w)
    new_w = min(dst_w, max(1, round(src_w * scale)))
    new_h = min(dst_h, max(1, round(src_h * scale)))
    pad_x, pad_y = (dst_w - new_w) // 2, (dst_h - new_h) // 2
    return np.array([[new_w / src_w, 0.0, pad_x], [0.0, new_h / src_h, pad_y]])


def random_matrix(
    rng: np.random.Generator,
    source_hw: tuple[int, int],
    input_hw: tuple[int, int],
    crop_hw: tuple[int, int],
    augment: BoxAugment,
) -> np.ndarray:
    """Letterbox to ``input_hw``, random zoom about the centre, shift, flip, then a random
    ``crop_hw`` window of the result. Returns the (2, 3) float64 matrix source -> crop."""
    matrix = np.vstack([letterbox_matrix(source_hw, input_hw), [0.0, 0.0, 1.0]])
    height, width = input_hw
    zoom = float(np.exp(rng.uniform(*np.log(augment.scale))))
    shift = rng.uniform(-augment.translate, augment.translate, 2) * (width, height)
    step = np.array(
        [
            [zoom, 0.0, (1 - zoom) * width / 2 + shift[0]],
            [0.0, zoom, (1 - zoom) * height / 2 + shift[1]],
            [0.0, 0.0, 1.0],
        ]
    )
    matrix = step @ matrix
    if augment.flip and rng.random() < 0.5:
        matrix = np.array([[-1.0, 0.0, width], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]) @ matrix
    crop_y = rng.integers(0, height - crop_hw[0] + 1)
    crop_x = rng.integers(0, width - crop_hw[1] + 1)
    matrix[0, 2] -= crop_x
    matrix[1, 2] -= crop_y
    return matrix[:2]


def warp_image(
    image: np.ndarray, matrix: np.ndarray, output_hw: tuple[int, int], pad_value: int = 114
) -> np.ndarray:
    """(H, W, 3) uint8 (any colour order) -> (h, w, 3) uint8 resampled through ``matrix``."""
    return cv2.warpAffine(
        image,
        matrix,
        (int(output_hw[1]), int(output_hw[0])),
        flags=INTERPOLATION,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(pad_value,) * 3,
    )


def warp_boxes(
    xyxy: np.ndarray,
    class_id: np.ndarray,
    matrix: np.ndarray,
    output_hw: tuple[int, int],
    min_visible: float = 0.4,
) -> tuple[np.ndarray, np.ndarray]:
    """(K, 4) corner boxes and (K,) classes through a rotation-free affine ``matrix``.

    Boxes are clipped to the (h, w) output; those with less than ``min_visible`` of their area
    inside, or under 2 pixels wide or high, are dropped. Returns float32 boxes, int32 classes.
    """
    xyxy = np.asarray(xyxy, np.float64).reshape(-1, 4)
    xs = xyxy[:, [0, 2]] * matrix[0, 0] + matrix[0, 2]
    ys = xyxy[:, [1, 3]] * matrix[1, 1] + matrix[1, 2]
    moved = np.stack([xs.min(1), ys.min(1), xs.max(1), ys.max(1)], axis=1)
    height, width = output_hw
    clipped = moved.copy()
    clipped[:, 0::2] = clipped[:, 0::2].clip(0, width)
    clipped[:, 1::2] = clipped[:, 1::2].clip(0, height)
    full = np.prod(moved[:, 2:] - moved[:, :2], axis=1)
    size = clipped[:, 2:] - clipped[:, :2]
    keep = (size.min(axis=1) >= 2) & (np.prod(size, axis=1) >= min_visible * full)
    return clipped[keep].astype(np.float32), np.asarray(class_id, np.int32).reshape(-1)[keep]


def jitter_colors(image: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Random brightness, contrast and saturation on a (H, W, 3) uint8 image (any order)."""
    if strength <= 0:
        return image
    contrast = 1.0 + rng.uniform(-strength, strength)
    brightness = 255.0 * rng.uniform(-strength, strength) / 3
    saturation = 1.0 + rng.uniform(-strength, strength)
    out = image.astype(np.float32)
    gray = out.mean(axis=2, keepdims=True)
    out = gray + (out - gray) * saturation
    out = (out - 128.0) * contrast + 128.0 + brightness
    return np.clip(out, 0, 255).astype(np.uint8)


def augment_sample(
    image: np.ndarray,
    xyxy: np.ndarray,
    class_id: np.ndarray,
    rng: np.random.Generator,
    input_hw: tuple[int, int],
    crop_hw: tuple[int, int],
    augment: BoxAugment,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One training sample: (crop (h, w, 3) uint8 same colour order, boxes (K, 4), classes)."""
    matrix = random_matrix(rng, image.shape[:2], input_hw, crop_hw, augment)
    warped = jitter_colors(warp_image(image, matrix, crop_hw), rng, augment.color)
    boxes, classes = warp_boxes(xyxy, class_id, matrix, crop_hw, augment.min_visible)
    return warped, boxes, classes


def mosaic_sample(
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    rng: np.random.Generator,
    input_hw: tuple[int, int],
    crop_hw: tuple[int, int],
    augment: BoxAugment,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Four (image, xyxy, class_id) samples tiled into one ``crop_hw`` window (YOLOv4's mosaic):
    the window splits at a random point of its middle half, and each quadrant is a window of
    its own sample, augmented as :func:`augment_sample` does a whole one (same zoom range, so
    people keep their sizes; boxes cut by a quadrant's edge follow ``min_visible``). More
    scenes, more people, more cut-off bodies per step. Returns what :func:`augment_sample` does.
    """
    if len(parts) != 4:
        raise EdgeimgError(f"mosaic: expected 4 samples, got {len(parts)}")
    height, width = crop_hw
    split_y = round(rng.uniform(0.25, 0.75) * height)
    split_x = round(rng.uniform(0.25, 0.75) * width)
    canvas = np.empty((height, width, 3), np.uint8)
    quadrants = ((0, 0, split_y, split_x), (0, split_x, split_y, width))
    quadrants += ((split_y, 0, height, split_x), (split_y, split_x, height, width))
    all_boxes, all_classes = [], []
    for (top, left, bottom, right), (image, xyxy, class_id) in zip(quadrants, parts, strict=True):
        tile, boxes, classes = augment_sample(
            image, xyxy, class_id, rng, input_hw, (bottom - top, right - left), augment
        )
        canvas[top:bottom, left:right] = tile
        all_boxes.append(boxes + np.array([left, top, left, top], np.float32))
        all_classes.append(classes)
    return canvas, np.concatenate(all_boxes), np.concatenate(all_classes)
