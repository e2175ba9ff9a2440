"""The upscale task's result, its colour arithmetic and its ``prepare``.

A 3-channel model (``edgeimg train upscale --color rgb``) takes the whole frame in the
contract's colour order and gives the enlarged frame (decoder ``rgb``). A 1-channel model, the
default, sees only the luminance Y of MATLAB's ``rgb2ycbcr`` (ITU-R BT.601 "studio swing": Y = 16 + (65.481 R +
128.553 G + 24.966 B) / 255, in 16..235), as the SR papers train and score them.

BT.601's inverse gives every colour channel the same luminance weight, ``K = 255 / 219``:
``BGR = K * Y + C`` where ``C`` depends on the chroma (Cb, Cr) only. So ``prepare`` computes, in
one ``cv2.transform`` of the frame, its Y plane (the model's input, (1, H, W, 1) or
(1, 1, H, W) float32 0..255) and ``C = BGR - K * Y`` (H, W, 3), which it keeps in the
:class:`UpscaleTransform` it returns. The decoder enlarges ``C`` bicubically (OpenCV
``INTER_CUBIC``; bicubic is linear, so this equals merging the model's Y with bicubically
enlarged Cb/Cr, the papers' colour output) and adds ``K * Y`` of the model: one resize and one
saturating add at the output size. A Transform subclass carries the chroma because
``Transform`` is what the runtime already hands from ``prepare`` to the decoder, frame by frame
(``Model.preprocess`` / ``Model.decode``): no state in the decoder, so pipelines that overlap
frames stay correct.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edgeimg.runtime.contract import ColorOrder, Layout, ModelContract
from edgeimg.runtime.preprocess import Transform, check_frame

Y_OFFSET = 16.0
# MATLAB's rgb2ycbcr luminance row for B, G, R 0..255 (OpenCV's channel order)
Y_BGR = np.array([24.966, 128.553, 65.481]) / 255.0
Y_RGB = Y_BGR[::-1].copy()
K = 255.0 / 219.0  # the luminance weight of every channel in the inverse (BGR = K * Y + C)
# (4, 4) affine matrix for cv2.transform: BGR -> (Y, C_b, C_g, C_r) with C = BGR - K * Y
_ROWS = np.vstack([Y_BGR, np.eye(3) - K * Y_BGR[None, :]])
_OFFSETS = np.array([Y_OFFSET, *([-K * Y_OFFSET] * 3)])
BGR_TO_Y_AND_COLOUR = np.hstack([_ROWS, _OFFSETS[:, None]]).astype(np.float32)


@dataclass(frozen=True, eq=False)
class Upscaled:
    """One upscaled frame: ``image`` (H*scale, W*scale, 3) uint8 BGR, the ``scale`` and the
    source's (height, width)."""

    image: np.ndarray
    scale: int
    source_hw: tuple[int, int]

    @property
    def output_hw(self) -> tuple[int, int]:
        return (int(self.image.shape[0]), int(self.image.shape[1]))


@dataclass(frozen=True, eq=False)
class UpscaleTransform(Transform):
    """The identity Transform of a frame fed at its own size, plus its colour without the
    luminance: ``colour`` (H, W, 3) float32 ``BGR - K * Y`` (None: decode to gray)."""

    colour: np.ndarray | None = None


def split_luma(image_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(H, W, 3) uint8 BGR -> (Y (H, W) float32 16..235, colour ``BGR - K * Y`` (H, W, 3)
    float32), unrounded."""
    both = cv2.transform(image_bgr.astype(np.float32), BGR_TO_Y_AND_COLOUR)
    return np.ascontiguousarray(both[:, :, 0]), np.ascontiguousarray(both[:, :, 1:])


def merge_luma(y: np.ndarray, colour: np.ndarray | None) -> np.ndarray:
    """Y (h, w) float32 and colour (h, w, 3) float32 (None: gray) -> (h, w, 3) uint8 BGR,
    ``K * Y + colour`` rounded and clipped to 0..255."""
    y3 = cv2.cvtColor(y, cv2.COLOR_GRAY2BGR)
    if colour is None:
        gray: np.ndarray = cv2.convertScaleAbs(np.maximum(y3 - Y_OFFSET, 0.0), alpha=K)
        return gray
    out: np.ndarray = cv2.addWeighted(y3, K, colour, 1.0, 0.0, dtype=cv2.CV_8U)
    return out


def prepare_luma(image_bgr: np.ndarray, contract: ModelContract) -> tuple[np.ndarray, Transform]:
    """A frame -> its Y plane as the model's input, and an :class:`UpscaleTransform` holding
    its colour.

    image_bgr: (H, W, 3) uint8 BGR or (H, W) gray. Returns (1, H, W, 1) float32 for NHWC or
    (1, 1, H, W) for NCHW (Y 16..235, then ``(Y - mean) / std`` when the contract normalises).
    """
    image = check_frame(image_bgr, "upscale")
    height, width = image.shape[:2]
    y, colour = split_luma(image)
    if contract.mean[0] != 0.0 or contract.std[0] != 1.0:
        y = (y - np.float32(contract.mean[0])) * np.float32(1.0 / contract.std[0])
    shape = (1, 1, height, width) if contract.layout is Layout.NCHW else (1, height, width, 1)
    transform = UpscaleTransform(1.0, 1.0, 0.0, 0.0, (height, width), colour=colour)
    return y.reshape(shape), transform


def luma_of_rgb(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) RGB 0..255 (float, unrounded) -> (...) float64 BT.601 Y 16..235, as ``split_luma``
    (to score a colour model's output on Y, as the SR papers do)."""
    luma: np.ndarray = np.asarray(rgb, np.float64) @ Y_RGB + Y_OFFSET
    return luma


def prepare_upscale(image_bgr: np.ndarray, contract: ModelContract) -> tuple[np.ndarray, Transform]:
    """The upscale task's ``prepare``: a 1-channel model gets the frame's Y (:func:`prepare_luma`,
    the colour kept in the transform); a 3-channel model the frame itself in the contract's
    colour order, (1, H, W, 3) or (1, 3, H, W) float32 0..255 (then ``(x - mean) / std``)."""
    if contract.channels == 1:
        return prepare_luma(image_bgr, contract)
    image = check_frame(image_bgr, "upscale")
    height, width = image.shape[:2]
    x = (image[:, :, ::-1] if contract.color_order is ColorOrder.RGB else image).astype(np.float32)
    if any(m != 0.0 for m in contract.mean) or any(s != 1.0 for s in contract.std):
        mean = np.asarray(contract.mean, np.float32)
        x = (x - mean) * (1.0 / np.asarray(contract.std, np.float32))
    x = x.transpose(2, 0, 1)[None] if contract.layout is Layout.NCHW else x[None]
    return np.ascontiguousarray(x), UpscaleTransform(1.0, 1.0, 0.0, 0.0, (height, width))
