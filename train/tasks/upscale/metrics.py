"""PSNR and SSIM as the SR papers report them: on Y, ``scale`` border pixels shaved.

Inputs are (H, W) luminance arrays 0..255 (or (H, W, 3) RGB, converted with MATLAB's
``rgb2ycbcr``), data range 255, computed in float64 without rounding. SSIM is Wang et al.
(2004): 11x11 Gaussian window, sigma 1.5, K1 = 0.01, K2 = 0.03, statistics over the "valid"
part of the filtered image (their ``ssim_index.m``), mean over the map.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from edgeimg.runtime.errors import EdgeimgError
from edgeimg.train.tasks.upscale.color import rgb_to_y

DATA_RANGE = 255.0


def as_y(image: np.ndarray) -> np.ndarray:
    """(H, W) as float64, or (H, W, 3) RGB -> its Y; (H, W, 1) is squeezed."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if image.ndim == 3 and image.shape[2] == 3:
        return rgb_to_y(image)
    if image.ndim != 2:
        raise EdgeimgError(f"expected an (H, W) or (H, W, 3) image, got shape {image.shape}")
    return image.astype(np.float64, copy=False)


def _pair(a: np.ndarray, b: np.ndarray, shave: int) -> tuple[np.ndarray, np.ndarray]:
    a, b = as_y(a), as_y(b)
    if a.shape != b.shape:
        raise EdgeimgError(
            f"metric: expected images of the same shape, got {a.shape} and {b.shape}"
        )
    if shave:
        if min(a.shape) <= 2 * shave:
            raise EdgeimgError(f"metric: image {a.shape} too small to shave {shave} pixels")
        a, b = a[shave:-shave, shave:-shave], b[shave:-shave, shave:-shave]
    return a, b


def psnr(output: np.ndarray, reference: np.ndarray, shave: int = 0) -> float:
    """Y-PSNR in dB of two (H, W[, 3]) images 0..255, ``shave`` border pixels removed; inf if equal."""
    a, b = _pair(output, reference, shave)
    mse = float(np.mean((a - b) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(DATA_RANGE**2 / mse)


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    """(size, size) normalised Gaussian, MATLAB's ``fspecial('gaussian', size, sigma)``."""
    r = np.arange(size) - (size - 1) / 2
    g = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * sigma**2))
    return g / g.sum()


def _filter_valid(image: np.ndarray, window: np.ndarray) -> np.ndarray:
    """MATLAB ``filter2(window, image, 'valid')`` for an odd square window: (H-k+1, W-k+1)."""
    full = cv2.filter2D(image, cv2.CV_64F, window, borderType=cv2.BORDER_CONSTANT)
    r = window.shape[0] // 2
    return full[r:-r, r:-r]


def ssim(output: np.ndarray, reference: np.ndarray, shave: int = 0) -> float:
    """Mean SSIM of two (H, W[, 3]) images 0..255 on Y (Wang et al. 2004), border shaved."""
    a, b = _pair(output, reference, shave)
    if min(a.shape) < 11:
        raise EdgeimgError(f"ssim: expected images of at least 11x11 after shaving, got {a.shape}")
    window = _gaussian_window()
    c1, c2 = (0.01 * DATA_RANGE) ** 2, (0.03 * DATA_RANGE) ** 2
    mu_a, mu_b = _filter_valid(a, window), _filter_valid(b, window)
    var_a = _filter_valid(a * a, window) - mu_a**2
    var_b = _filter_valid(b * b, window) - mu_b**2
    cov = _filter_valid(a * b, window) - mu_a * mu_b
    num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
    den = (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
    return float(np.mean(num / den))
