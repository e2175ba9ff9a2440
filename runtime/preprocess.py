"""Frame -> model input: resize (letterbox or stretch), colour order, dtype, normalisation, layout.

This is the per-frame hot path, so each step is one OpenCV or numpy call and nothing is copied
twice. Every function is pure: the caller's image is never modified.

Geometry: a resized image relates to its source by a per-axis scale and a padding offset,
``input = source * scale + pad``; :class:`Transform` records them and maps boxes back.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edgeimg.runtime.contract import ColorOrder, Layout, ModelContract, ResizeMode
from edgeimg.runtime.errors import EdgeimgError


@dataclass(frozen=True)
class Transform:
    """How a model-input image was made from a source image of ``source_hw`` (height, width).

    ``x_input = x_source * scale_x + pad_x`` (and the same for y).
    """

    scale_x: float
    scale_y: float
    pad_x: float
    pad_y: float
    source_hw: tuple[int, int]
    input_hw: tuple[int, int] | None = None  # the model input's (height, width) when known

    @classmethod
    def identity(cls, source_hw: tuple[int, int]) -> Transform:
        return cls(1.0, 1.0, 0.0, 0.0, (int(source_hw[0]), int(source_hw[1])))

    def boxes_to_source(self, xyxy: np.ndarray) -> np.ndarray:
        """(N, 4) float32 corner boxes in model-input pixels -> source pixels, clipped to the source."""
        boxes = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4)
        out = np.empty_like(boxes)
        height, width = self.source_hw
        np.clip((boxes[:, 0::2] - self.pad_x) / self.scale_x, 0, width, out=out[:, 0::2])
        np.clip((boxes[:, 1::2] - self.pad_y) / self.scale_y, 0, height, out=out[:, 1::2])
        return out

    def image_to_source(self, image: np.ndarray, nearest: bool = False) -> np.ndarray:
        """A model output image laid over the model input (a label mask, an upscaled image)
        -> the same picture over the source frame.

        image: (h', w'[, C]) covering the whole model input at any resolution (h' = k * input
        height for an x``k`` upscaler, h' = input height for a mask). The padding is cut off
        and the rest resized to the source's size times the same factor k. ``nearest``: for
        label masks (no blending of class ids). Returns a new (H*k, W*k[, C]) array.
        """
        height, width = self.source_hw
        # The letterbox puts an odd padding pixel right/bottom: only input_hw knows it.
        input_h, input_w = self.input_hw or (
            round(height * self.scale_y + 2 * self.pad_y),
            round(width * self.scale_x + 2 * self.pad_x),
        )
        factor_y, factor_x = image.shape[0] / input_h, image.shape[1] / input_w
        top, left = round(self.pad_y * factor_y), round(self.pad_x * factor_x)
        bottom = top + round(height * self.scale_y * factor_y)
        right = left + round(width * self.scale_x * factor_x)
        content = image[top:bottom, left:right]
        size = (round(width * factor_x), round(height * factor_y))
        if (content.shape[1], content.shape[0]) == size:
            cropped: np.ndarray = content.copy()
            return cropped
        method = cv2.INTER_NEAREST if nearest else INTERPOLATION
        return cv2.resize(content, size, interpolation=method)

    def boxes_to_input(self, xyxy: np.ndarray) -> np.ndarray:
        """(N, 4) float32 corner boxes in source pixels -> model-input pixels (not clipped)."""
        boxes = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4)
        out = np.empty_like(boxes)
        out[:, 0::2] = boxes[:, 0::2] * self.scale_x + self.pad_x
        out[:, 1::2] = boxes[:, 1::2] * self.scale_y + self.pad_y
        return out


def _check_image(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        kind = getattr(image, "dtype", type(image).__name__)
        raise EdgeimgError(f"expected a uint8 image (H, W, 3) BGR, got {kind}")
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3)):
        raise EdgeimgError(f"expected an image of shape (H, W, 3) or (H, W), got {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise EdgeimgError(f"expected a non-empty image, got shape {image.shape}")


def check_frame(image: np.ndarray, task: str) -> np.ndarray:
    """A uint8 (H, W, 3) BGR frame ((H, W[, 1]) gray is made BGR) for a task that takes frames
    at their own size (upscale, stylize); a one-line error starting with ``task`` otherwise
    (16-bit or float pixels, 4 channels: read files with ``cv2.imread(path,
    cv2.IMREAD_COLOR)``, as ``edgeimg predict`` does)."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        kind = getattr(image, "dtype", type(image).__name__)
        raise EdgeimgError(
            f"{task}: expected a uint8 BGR image (H, W, 3), got {kind} pixels "
            "(read files with cv2.IMREAD_COLOR to get 8-bit BGR)"
        )
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (1, 3))):
        raise EdgeimgError(
            f"{task}: expected an image of shape (H, W, 3) BGR or (H, W) gray, got {image.shape} "
            "(drop the alpha channel: cv2.cvtColor(image, cv2.COLOR_BGRA2BGR))"
        )
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise EdgeimgError(f"{task}: expected a non-empty image, got shape {image.shape}")
    if image.ndim == 2 or image.shape[2] == 1:
        gray: np.ndarray = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        return gray
    return image


# INTER_LINEAR everywhere: INTER_AREA is ~5x slower for a small gain when shrinking, and training
# uses these same functions, so the model sees what it was trained on.
INTERPOLATION = cv2.INTER_LINEAR


def letterbox(
    image_bgr: np.ndarray, size_hw: tuple[int, int], pad_value: int = 114
) -> tuple[np.ndarray, Transform]:
    """Resize keeping the aspect ratio and pad, centred, to ``size_hw`` (height, width).

    image_bgr: (H, W, C) or (H, W) uint8, any colour order (kept as is).
    Returns the (height, width[, C]) uint8 image and its :class:`Transform`. The padding is split
    evenly between both sides (the extra pixel, if any, goes right/bottom). An image that
    already has the target size is returned as is (not copied).
    """
    _check_image(image_bgr)
    src_h, src_w = image_bgr.shape[:2]
    dst_h, dst_w = int(size_hw[0]), int(size_hw[1])
    if (src_h, src_w) == (dst_h, dst_w):
        return image_bgr, Transform.identity((src_h, src_w))
    scale = min(dst_h / src_h, dst_w / src_w)
    new_w = min(dst_w, max(1, round(src_w * scale)))
    new_h = min(dst_h, max(1, round(src_h * scale)))
    resized = image_bgr
    if (new_h, new_w) != (src_h, src_w):
        resized = cv2.resize(image_bgr, (new_w, new_h), interpolation=INTERPOLATION)
    pad_x, pad_y = (dst_w - new_w) // 2, (dst_h - new_h) // 2
    if (new_h, new_w) != (dst_h, dst_w):
        resized = cv2.copyMakeBorder(
            resized,
            pad_y,
            dst_h - new_h - pad_y,
            pad_x,
            dst_w - new_w - pad_x,
            cv2.BORDER_CONSTANT,
            value=(pad_value,) * 4,
        )
        if image_bgr.ndim == 3 and resized.ndim == 2:  # OpenCV drops a single channel axis
            resized = resized[:, :, None]
    transform = Transform(
        new_w / src_w, new_h / src_h, float(pad_x), float(pad_y), (src_h, src_w), (dst_h, dst_w)
    )
    return resized, transform


def stretch(image_bgr: np.ndarray, size_hw: tuple[int, int]) -> tuple[np.ndarray, Transform]:
    """Resize to ``size_hw`` (height, width) ignoring the aspect ratio.

    image_bgr: (H, W, C) or (H, W) uint8, any colour order (kept as is).
    Returns the (height, width[, C]) uint8 image and its :class:`Transform`.
    """
    _check_image(image_bgr)
    src_h, src_w = image_bgr.shape[:2]
    dst_h, dst_w = int(size_hw[0]), int(size_hw[1])
    if (src_h, src_w) == (dst_h, dst_w):
        return image_bgr, Transform.identity((src_h, src_w))
    resized = cv2.resize(image_bgr, (dst_w, dst_h), interpolation=INTERPOLATION)
    if image_bgr.ndim == 3 and resized.ndim == 2:
        resized = resized[:, :, None]
    return resized, Transform(
        dst_w / src_w, dst_h / src_h, 0.0, 0.0, (src_h, src_w), (dst_h, dst_w)
    )


def to_color_order(image_bgr: np.ndarray, color_order: ColorOrder) -> np.ndarray:
    """(H, W, 3) BGR or (H, W[, 1]) gray uint8 -> (H, W, 3) in ``color_order`` or (H, W) gray.

    Returns the input itself when no conversion is needed.
    """
    gray_in = image_bgr.ndim == 2 or image_bgr.shape[2] == 1
    if color_order is ColorOrder.GRAY:
        if gray_in:
            return image_bgr if image_bgr.ndim == 2 else image_bgr[:, :, 0]
        return cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY)
    if gray_in:
        code = cv2.COLOR_GRAY2RGB if color_order is ColorOrder.RGB else cv2.COLOR_GRAY2BGR
        return cv2.cvtColor(image_bgr, code)
    if color_order is ColorOrder.RGB:
        return cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
    return image_bgr


def prepare(image_bgr: np.ndarray, contract: ModelContract) -> tuple[np.ndarray, Transform]:
    """One frame -> the model's input tensor, as the contract describes it.

    image_bgr: (H, W, 3) uint8 BGR (OpenCV's order; (H, W) gray is accepted too).
    Returns a C-contiguous tensor of shape (1, h, w, c) for NHWC or (1, c, h, w) for NCHW,
    where (h, w) = ``contract.input_size`` (the frame's own size when it is None) and
    c = ``contract.channels``, in the contract's colour
    order and dtype (float32: ``(pixel - mean) / std`` per channel; uint8: raw pixels), and the
    :class:`Transform` that maps the model's boxes back to this frame.
    """
    if contract.input_size is None:  # resize none: the model takes the frame's own size
        _check_image(image_bgr)
        resized, transform = image_bgr, Transform.identity(image_bgr.shape[:2])
    elif contract.resize is ResizeMode.LETTERBOX:
        resized, transform = letterbox(image_bgr, contract.input_size, contract.pad_value)
    else:
        resized, transform = stretch(image_bgr, contract.input_size)
    pixels = to_color_order(resized, contract.color_order)  # (h, w, 3) or (h, w)
    dtype = np.float32 if contract.input_dtype == "float32" else np.uint8
    height, width = resized.shape[:2]
    channels = contract.channels
    if contract.layout is Layout.NHWC:
        # np.ndarray: float32 or uint8 as the contract says (normalised only when float32)
        tensor: np.ndarray = pixels.reshape(1, height, width, channels).astype(dtype)  # one copy
        if dtype is np.float32 and _normalises(contract):
            tensor -= np.asarray(contract.mean, np.float32)
            tensor *= 1.0 / np.asarray(contract.std, np.float32)
        return tensor, transform
    planar: np.ndarray = np.empty((1, channels, height, width), dtype=dtype)
    planes = (pixels,) if channels == 1 else cv2.split(pixels)
    for index, plane in enumerate(planes):
        planar[0, index] = plane  # writes and converts each channel plane once
    if dtype is np.float32 and _normalises(contract):
        planar -= np.asarray(contract.mean, np.float32)[:, None, None]
        planar *= 1.0 / np.asarray(contract.std, np.float32)[:, None, None]
    return planar, transform


def _normalises(contract: ModelContract) -> bool:
    return any(m != 0.0 for m in contract.mean) or any(s != 1.0 for s in contract.std)
