"""MATLAB's ``imresize(..., 'bicubic')``, vectorised in numpy, and how it differs from OpenCV.

The SR papers (SRCNN, FSRCNN, ESPCN, VDSR, EDSR...) make their low-resolution inputs with
MATLAB's ``imresize``: Keys' cubic kernel with a = -0.5, and when downscaling by ``scale < 1`` the
kernel is stretched by ``1/scale`` (antialiasing: ``h(x) = scale * cubic(scale * x)``, support
``4/scale`` input pixels). Output pixel ``x`` (1-based) samples the input at
``u = x / scale + 0.5 * (1 - 1 / scale)``; the weights of each output pixel are normalised to sum
to 1 and out-of-range taps are mirrored (MATLAB's symmetric padding, edge sample repeated:
``... 2 1 | 1 2 3 ... n | n n-1 ...``). The output size is ``ceil(in * scale)``.

OpenCV's ``INTER_CUBIC`` uses a = -0.75 and no antialiasing when shrinking (it samples the
4x4 neighbourhood only), so its low-resolution images alias and are sharper:
``compare_with_opencv`` measures the difference.

The resize is a product of two matrices, ``out = Wh @ img @ Ww.T`` (one per axis), computed in
float64; uint8 input is not rounded back (MATLAB rounds uint8 output: do it yourself if needed).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from edgeimg.runtime.errors import EdgeimgError

A = -0.5  # Keys' cubic parameter used by MATLAB


def cubic(x: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel with a = -0.5 (MATLAB's ``cubic``), any shape."""
    ax = np.abs(x)
    ax2, ax3 = ax * ax, ax * ax * ax
    inner = (A + 2) * ax3 - (A + 3) * ax2 + 1
    outer = A * ax3 - 5 * A * ax2 + 8 * A * ax - 4 * A
    return np.where(ax <= 1, inner, np.where(ax <= 2, outer, 0.0))


@lru_cache(maxsize=256)
def resize_matrix(in_len: int, out_len: int, scale: float, antialias: bool = True) -> np.ndarray:
    """The (out_len, in_len) float64 matrix of MATLAB's bicubic resize along one axis.

    scale: output / input size factor (MATLAB's scale argument, e.g. 1/3 for x3 down).
    antialias: widen the kernel by 1/scale when scale < 1 (MATLAB's default, True).
    """
    if in_len < 1 or out_len < 1 or scale <= 0:
        raise EdgeimgError(
            f"resize: expected positive lengths and scale, got {in_len}->{out_len} x{scale}"
        )
    width = 4.0
    if scale < 1 and antialias:
        width = 4.0 / scale

        def kernel(d):
            return scale * cubic(scale * d)
    else:
        kernel = cubic
    x = np.arange(1, out_len + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)  # (out_len,) 1-based input coordinates
    left = np.floor(u - width / 2)
    taps = math.ceil(width) + 2
    idx = left[:, None] + np.arange(taps)[None, :]  # (out_len, taps) 1-based
    weights = kernel(u[:, None] - idx)
    weights /= weights.sum(axis=1, keepdims=True)
    mirror = np.concatenate([np.arange(in_len), np.arange(in_len - 1, -1, -1)])
    cols = mirror[np.mod(idx.astype(np.int64) - 1, 2 * in_len)]  # 0-based, mirrored
    matrix = np.zeros((out_len, in_len))
    rows = np.broadcast_to(np.arange(out_len)[:, None], cols.shape)
    np.add.at(matrix, (rows, cols), weights)
    matrix.setflags(write=False)
    return matrix


def output_size(in_len: int, scale: float) -> int:
    """MATLAB's output length for a scale factor: ceil(in_len * scale)."""
    return math.ceil(in_len * scale - 1e-9)


def imresize(
    image: np.ndarray,
    scale: float | None = None,
    size: tuple[int, int] | None = None,
    antialias: bool = True,
) -> np.ndarray:
    """MATLAB ``imresize(image, scale, 'bicubic')`` (or to ``size`` = (height, width)).

    image: (H, W) or (H, W, C), any real dtype (computed in float64).
    Returns float64 (out_H, out_W) or (out_H, out_W, C), not clipped or rounded.
    When both are given, ``size`` sets the output shape and ``scale`` the kernel (as MATLAB
    does with a scale: the scale, not out/in, places the samples).
    """
    image = np.asarray(image)
    if image.ndim not in (2, 3) or image.shape[0] < 1 or image.shape[1] < 1:
        raise EdgeimgError(f"imresize: expected an (H, W) or (H, W, C) image, got {image.shape}")
    height, width = image.shape[:2]
    if size is None:
        if scale is None:
            raise EdgeimgError("imresize: expected a scale or a size, got neither")
        size = (output_size(height, scale), output_size(width, scale))
    scale_h = scale if scale is not None else size[0] / height
    scale_w = scale if scale is not None else size[1] / width
    wh = resize_matrix(height, size[0], float(scale_h), antialias)
    ww = resize_matrix(width, size[1], float(scale_w), antialias)
    data = image.astype(np.float64, copy=False)
    out = np.tensordot(wh, data, axes=(1, 0))  # (out_H, W[, C])
    out = np.tensordot(ww, out, axes=(1, 1))  # (out_W, out_H[, C])
    return np.swapaxes(out, 0, 1)


def modcrop(image: np.ndarray, scale: int) -> np.ndarray:
    """Crop (H, W[, C]) to the largest multiple of ``scale`` from the top-left (MATLAB's modcrop)."""
    height, width = image.shape[:2]
    return image[: height - height % scale, : width - width % scale]


def downscale(image: np.ndarray, scale: int) -> np.ndarray:
    """The papers' low-resolution input: MATLAB bicubic by 1/scale of (H, W[, C]), H, W
    multiples of scale (use ``modcrop``); float64 (H/scale, W/scale[, C])."""
    height, width = image.shape[:2]
    if height % scale or width % scale:
        raise EdgeimgError(
            f"downscale x{scale}: expected height and width multiples of {scale}, got "
            f"{height}x{width} (modcrop first)"
        )
    return imresize(image, 1.0 / scale, size=(height // scale, width // scale))


def upscale_bicubic(image: np.ndarray, scale: int) -> np.ndarray:
    """MATLAB bicubic upscaling of (h, w[, C]) by an integer scale: float64 (h*s, w*s[, C])."""
    height, width = image.shape[:2]
    return imresize(image, float(scale), size=(height * scale, width * scale))


def compare_with_opencv(hr_y: list[np.ndarray], scale: int) -> dict[str, float]:
    """How OpenCV ``INTER_CUBIC`` downscaling differs from MATLAB's, on Y images (H, W) 0..255.

    Returns the mean over images of: ``lr_psnr`` (PSNR between the two low-resolution images),
    ``bicubic_psnr_matlab`` and ``bicubic_psnr_opencv`` (Y-PSNR, border ``scale`` shaved, of
    MATLAB-bicubic upscaling of each LR image back to HR, against the HR image) and
    ``inter_area_lr_psnr`` (PSNR of OpenCV ``INTER_AREA`` LR against MATLAB's, for reference).
    """
    import cv2

    from edgeimg.train.tasks.upscale.metrics import psnr

    rows = []
    for hr in hr_y:
        hr = modcrop(np.asarray(hr, dtype=np.float64), scale)
        size = (hr.shape[1] // scale, hr.shape[0] // scale)
        lr_m = downscale(hr, scale)
        lr_c = cv2.resize(hr.astype(np.float32), size, interpolation=cv2.INTER_CUBIC)
        lr_a = cv2.resize(hr.astype(np.float32), size, interpolation=cv2.INTER_AREA)
        rows.append(
            (
                psnr(lr_c, lr_m, shave=0),
                psnr(upscale_bicubic(lr_m, scale), hr, shave=scale),
                psnr(upscale_bicubic(lr_c.astype(np.float64), scale), hr, shave=scale),
                psnr(lr_a, lr_m, shave=0),
            )
        )
    mean = np.mean(np.array(rows), axis=0)
    keys = ("lr_psnr", "bicubic_psnr_matlab", "bicubic_psnr_opencv", "inter_area_lr_psnr")
    return dict(zip(keys, (float(v) for v in mean), strict=True))
