"""Per-set scores of an upscaler beside MATLAB bicubic, as the SR papers tabulate them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeimg.train.tasks.upscale.data import Color, Pair, list_images, make_pair
from edgeimg.train.tasks.upscale.metrics import psnr, ssim
from edgeimg.train.tasks.upscale.resize import upscale_bicubic

# (h, w) float32 LR Y 0..255 -> (h*s, w*s) HR Y 0..255 (or (h, w, 3) RGB -> (h*s, w*s, 3))
Upscaler = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class SetScore:
    """Mean Y-PSNR (dB) and SSIM over a test set, model and bicubic, border ``scale`` shaved."""

    name: str
    scale: int
    images: int
    psnr: float
    ssim: float
    bicubic_psnr: float
    bicubic_ssim: float

    def line(self) -> str:
        return (
            f"{self.name} x{self.scale} ({self.images} images): model {self.psnr:.2f} dB / "
            f"{self.ssim:.4f}, bicubic {self.bicubic_psnr:.2f} dB / {self.bicubic_ssim:.4f}"
        )


def keras_upscaler(model) -> Upscaler:
    """An ``Upscaler`` running a Keras model (N, h, w, C) -> (N, h*s, w*s, C) on one image."""

    def run(lr: np.ndarray) -> np.ndarray:
        x = lr[None, :, :, None] if lr.ndim == 2 else lr[None]
        out = np.asarray(model(x.astype(np.float32), training=False))[0]
        return out[:, :, 0] if lr.ndim == 2 else out

    return run


def score_pairs(name: str, pairs: list[Pair], scale: int, upscaler: Upscaler) -> SetScore:
    """Mean PSNR/SSIM of ``upscaler`` and of MATLAB bicubic over ``pairs`` (float, unrounded;
    RGB pairs are scored on their BT.601 Y, as the papers do)."""
    rows = []
    for pair in pairs:
        sr = upscaler(pair.lr).astype(np.float64)
        bic = upscale_bicubic(pair.lr, scale)
        rows.append(
            (
                psnr(sr, pair.hr, scale),
                ssim(sr, pair.hr, scale),
                psnr(bic, pair.hr, scale),
                ssim(bic, pair.hr, scale),
            )
        )
    mean = np.mean(np.array(rows), axis=0)
    return SetScore(name, scale, len(pairs), *(float(v) for v in mean))


def score_folder(
    folder: str | Path, scale: int, upscaler: Upscaler, color: Color = Color.Y
) -> SetScore:
    """``score_pairs`` on every image of a folder of HR images (cropped to a multiple of scale)."""
    pairs = [make_pair(path, scale, color=color) for path in list_images(folder)]
    return score_pairs(Path(folder).name, pairs, scale, upscaler)
