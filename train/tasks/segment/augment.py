"""Augmentation that moves image and mask together: scale, crop, flip, colour.

Geometry is one affine warp per sample (scale about a random window, horizontal flip) applied
to the image with bilinear and to the mask with nearest interpolation; pixels outside the
frame become void in the mask. Colour: brightness, contrast and saturation jitter on the image
only. Without augmentation, a frame is letterboxed as the runtime does (scale to fit, pad).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edgeimg.train.tasks.segment.data import IGNORE


@dataclass(frozen=True)
class SegmentAugment:
    """scale: range of the zoom relative to ``base_scale`` (the input-size / frame-size ratio).
    flip: probability of a horizontal flip. brightness/contrast/saturation: jitter amplitudes."""

    scale: tuple[float, float] = (0.75, 1.5)
    flip: float = 0.5
    brightness: float = 0.25
    contrast: float = 0.25
    saturation: float = 0.25


def letterbox_pair(
    image: np.ndarray, label: np.ndarray, input_hw: tuple[int, int], pad_value: int = 114
) -> tuple[np.ndarray, np.ndarray]:
    """The runtime's letterbox of image (pad ``pad_value``) and label (pad void)."""
    h, w = image.shape[:2]
    scale = min(input_hw[0] / h, input_hw[1] / w)
    new_w, new_h = round(w * scale), round(h * scale)
    left, top = (input_hw[1] - new_w) // 2, (input_hw[0] - new_h) // 2
    out_image = np.full((*input_hw, 3), pad_value, np.uint8)
    out_label = np.full(input_hw, IGNORE, np.uint8)
    if (new_h, new_w) != (h, w):
        image = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
        label = cv2.resize(label, (new_w, new_h), interpolation=cv2.INTER_NEAREST)
    out_image[top : top + new_h, left : left + new_w] = image
    out_label[top : top + new_h, left : left + new_w] = label
    return out_image, out_label


def augment_pair(
    image: np.ndarray,
    label: np.ndarray,
    crop_hw: tuple[int, int],
    base_scale: float,
    augment: SegmentAugment,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """A random ``crop_hw`` window of the zoomed (and maybe flipped) frame, colour-jittered."""
    h, w = image.shape[:2]
    scale = base_scale * float(rng.uniform(*augment.scale))
    crop_h, crop_w = crop_hw
    # top-left of the window in the zoomed frame; windows larger than the frame are centred
    x0 = rng.uniform(0, w * scale - crop_w) if w * scale > crop_w else (w * scale - crop_w) / 2
    y0 = rng.uniform(0, h * scale - crop_h) if h * scale > crop_h else (h * scale - crop_h) / 2
    flip = rng.random() < augment.flip
    sx = -scale if flip else scale
    tx = (w * scale - x0) if flip else -x0
    matrix = np.array([[sx, 0.0, tx - (1 if flip else 0)], [0.0, scale, -y0]], np.float64)
    size = (crop_w, crop_h)
    out_image = cv2.warpAffine(
        image,
        matrix,
        size,
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(114, 114, 114),
    )
    out_label = cv2.warpAffine(
        label,
        matrix,
        size,
        flags=cv2.INTER_NEAREST,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=IGNORE,
    )
    return jitter_colour(out_image, augment, rng), out_label


def jitter_colour(image: np.ndarray, augment: SegmentAugment, rng: np.random.Generator):
    """Brightness, contrast and saturation scaled by random factors around 1 (uint8 out)."""
    x = image.astype(np.float32)
    gray = x.mean(axis=2, keepdims=True)
    x = gray + (x - gray) * (1 + rng.uniform(-augment.saturation, augment.saturation))
    mean = float(x.mean())
    x = mean + (x - mean) * (1 + rng.uniform(-augment.contrast, augment.contrast))
    x *= 1 + rng.uniform(-augment.brightness, augment.brightness)
    return np.clip(x, 0, 255).astype(np.uint8)
