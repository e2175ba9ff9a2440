"""What a generator gives: :class:`Generated` images, the ``tanh`` decoder, and grids.

Generators end in ``tanh``: pixels in -1..1, (N, H, W, C) as Keras writes them (or
(N, C, H, W)); the decoder maps them to uint8 0..255 BGR/gray images.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from edgeimg.runtime.contract import ModelContract
from edgeimg.runtime.decoder import Decoder, DecoderError, Shape, format_shape
from edgeimg.runtime.preprocess import Transform


@dataclass(frozen=True)
class Generated:
    """A batch of generated images.

    images: (N, H, W, C) uint8, C = 1 (gray) or 3 (BGR). labels: (N,) class index per image
    (-1 for an unconditional model). latents: (N, latent_dim) the z each image came from.
    """

    images: np.ndarray
    labels: np.ndarray
    latents: np.ndarray

    def __len__(self) -> int:
        return len(self.images)


def to_uint8(tanh: np.ndarray) -> np.ndarray:
    """(N, H, W, C) or (N, C, H, W) pixels in -1..1 -> (N, H, W, C) uint8 (C of 1 or 3)."""
    images = np.asarray(tanh, np.float32)
    if images.ndim == 4 and images.shape[1] in (1, 3) and images.shape[3] not in (1, 3):
        images = images.transpose(0, 2, 3, 1)
    pixels: np.ndarray = np.clip(np.rint((images + 1.0) * 127.5), 0, 255)
    return pixels.astype(np.uint8)


class TanhDecoder(Decoder):
    """``image`` (N, H, W, C) in -1..1 (tanh) -> (N, H, W, C) uint8."""

    name = "tanh"
    default_output_names = ("image",)

    @classmethod
    def from_contract(cls, contract: ModelContract) -> TanhDecoder:
        return cls()

    def check_output_shapes(self, shapes: Sequence[Shape]) -> None:
        self.check_ranks(shapes, (4,))
        shape = shapes[0]
        if shape[3] not in (1, 3, None) and shape[1] not in (1, 3, None):
            raise DecoderError(
                f"decoder {self.name}: output image expected 1 or 3 channels "
                f"(N, H, W, C), got shape {format_shape(shape)}"
            )

    def __call__(
        self, outputs: Sequence[np.ndarray], transform: Transform | None = None
    ) -> np.ndarray:
        return to_uint8(outputs[0])


def grid(
    images: np.ndarray, columns: int | None = None, pad: int = 2, scale: int = 1
) -> np.ndarray:
    """(N, H, W, C) uint8 -> one (rows*(H+pad)+pad, cols*(W+pad)+pad, 3) BGR image, row-major,
    on a dark-grey background, each cell enlarged ``scale`` times (nearest)."""
    images = np.asarray(images)
    count, height, width = images.shape[:3]
    columns = columns or math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    h, w = height * scale, width * scale
    canvas = np.full((rows * (h + pad) + pad, columns * (w + pad) + pad, 3), 40, np.uint8)
    for i, image in enumerate(images):
        cell = (
            image
            if image.ndim == 3 and image.shape[2] == 3
            else cv2.cvtColor(image.reshape(height, width), cv2.COLOR_GRAY2BGR)
        )
        if scale != 1:
            cell = cv2.resize(cell, (w, h), interpolation=cv2.INTER_NEAREST)
        r, c = divmod(i, columns)
        top, left = pad + r * (h + pad), pad + c * (w + pad)
        canvas[top : top + h, left : left + w] = cell
    return canvas
