"""RGB <-> YCbCr as MATLAB's ``rgb2ycbcr`` / ``ycbcr2rgb`` (ITU-R BT.601, "studio swing").

Pixels are 0..255 floats (uint8 accepted). Y lies in [16, 235], Cb and Cr in [16, 240].
No rounding, so ``ycbcr_to_rgb(rgb_to_ycbcr(x))`` returns x to float precision. This is the
luminance the SR papers train and score on (not OpenCV's full-range ``COLOR_RGB2YCrCb``).
"""

from __future__ import annotations

import numpy as np

from edgeimg.runtime.errors import EdgeimgError

# Rows: Y, Cb, Cr; columns: R, G, B; for RGB in 0..1 (MATLAB's constants).
_M = np.array(
    [
        [65.481, 128.553, 24.966],
        [-37.797, -74.203, 112.0],
        [112.0, -93.786, -18.214],
    ]
)
_OFFSET = np.array([16.0, 128.0, 128.0])
_M_INV = np.linalg.inv(_M)


def _check(image: np.ndarray, what: str) -> np.ndarray:
    image = np.asarray(image)
    if image.shape[-1:] != (3,):
        raise EdgeimgError(f"{what}: expected (..., 3) pixels, got shape {image.shape}")
    return image.astype(np.float64, copy=False)


def rgb_to_ycbcr(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) RGB 0..255 -> (..., 3) float64 YCbCr (Y 16..235)."""
    rgb = _check(rgb, "rgb_to_ycbcr")
    return rgb @ (_M.T / 255.0) + _OFFSET


def rgb_to_y(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) RGB 0..255 -> (...) float64 luminance Y in [16, 235]."""
    rgb = _check(rgb, "rgb_to_y")
    return rgb @ (_M[0] / 255.0) + _OFFSET[0]


def ycbcr_to_rgb(ycbcr: np.ndarray) -> np.ndarray:
    """(..., 3) YCbCr -> (..., 3) float64 RGB 0..255 (not clipped)."""
    ycbcr = _check(ycbcr, "ycbcr_to_rgb")
    return (ycbcr - _OFFSET) @ (_M_INV.T * 255.0)
