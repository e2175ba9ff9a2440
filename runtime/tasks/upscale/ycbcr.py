"""Decoders of super-resolution models. ``ycbcr``: the model's Y at ``scale`` times the frame's
size, merged with the frame's chroma enlarged bicubically -> a BGR image (see
:mod:`edgeimg.runtime.tasks.upscale.image` for the arithmetic). ``rgb``: a colour model's
enlarged frame, rounded to 8 bits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from edgeimg.runtime.contract import ColorOrder, ModelContract
from edgeimg.runtime.decoder import Decoder, DecoderError, Shape, format_shape
from edgeimg.runtime.errors import EdgeimgError, typed_params
from edgeimg.runtime.preprocess import Transform
from edgeimg.runtime.tasks.upscale.image import Upscaled, UpscaleTransform, merge_luma


@dataclass(frozen=True)
class UpscaleParams:
    """The contract's ``task_params`` of an upscaler: the factor between input and output."""

    scale: int = 3

    def __post_init__(self) -> None:
        if isinstance(self.scale, bool) or not isinstance(self.scale, int):
            raise EdgeimgError(f"upscale scale: expected an integer, got {self.scale!r}")
        if not 2 <= self.scale <= 8:
            raise EdgeimgError(f"upscale scale: expected 2..8, got {self.scale}")


class YCbCrDecoder(Decoder):
    """``hr`` (1, H*s, W*s, 1) or (1, 1, H*s, W*s) Y 0..255 -> :class:`Upscaled`.

    The colour comes from the :class:`UpscaleTransform` of ``prepare``, enlarged bicubically;
    a Transform without one (a frame prepared elsewhere) gives a gray image.
    """

    name = "ycbcr"
    default_output_names = ("hr",)

    def __init__(self, scale: int) -> None:
        self.scale = scale

    @classmethod
    def from_contract(cls, contract: ModelContract) -> YCbCrDecoder:
        params = typed_params(UpscaleParams, contract.task_params, "contract task_params")
        if contract.channels != 1 or contract.input_dtype != "float32":
            raise DecoderError(
                f"decoder {cls.name}: expected a 1-channel float32 luminance input, got "
                f"{contract.channels} channels {contract.input_dtype}"
            )
        return cls(params.scale)

    def check_output_shapes(self, shapes: Sequence[Shape]) -> None:
        self.check_ranks(shapes, (4,))
        shape = shapes[0]
        if shape[3] != 1 and shape[1] != 1:
            raise DecoderError(
                f"decoder {self.name}: output hr expected one channel (1, H, W, 1) or "
                f"(1, 1, H, W), got shape {format_shape(shape)}"
            )

    def __call__(self, outputs: Sequence[np.ndarray], transform: Transform) -> Upscaled:
        hr = outputs[0]
        y = hr[0, :, :, 0] if hr.shape[3] == 1 else hr[0, 0]
        height, width = transform.source_hw
        want = check_size(self.name, y.shape, hr.shape, transform, self.scale)
        y = np.ascontiguousarray(y, dtype=np.float32)
        colour = transform.colour if isinstance(transform, UpscaleTransform) else None
        if colour is not None:
            colour = cv2.resize(colour, (want[1], want[0]), interpolation=cv2.INTER_CUBIC)
        return Upscaled(merge_luma(y, colour), self.scale, (height, width))


def check_size(
    decoder: str, got: tuple[int, ...], shape: Shape, transform: Transform, scale: int
) -> tuple[int, int]:
    """The (height, width) the output must have (``scale`` x the frame's); raises unless ``got``."""
    height, width = transform.source_hw
    want = (height * scale, width * scale)
    if tuple(got) != want:
        raise DecoderError(
            f"decoder {decoder}: output hr expected {want[0]}x{want[1]} for a "
            f"{height}x{width} frame at x{scale}, got shape {format_shape(shape)}"
        )
    return want


class RgbDecoder(Decoder):
    """``hr`` (1, H*s, W*s, 3) or (1, 3, H*s, W*s) 0..255 in the contract's colour order ->
    :class:`Upscaled` (rounded, clipped, BGR)."""

    name = "rgb"
    default_output_names = ("hr",)

    def __init__(self, scale: int, rgb: bool = True) -> None:
        self.scale, self.rgb = scale, rgb

    @classmethod
    def from_contract(cls, contract: ModelContract) -> RgbDecoder:
        params = typed_params(UpscaleParams, contract.task_params, "contract task_params")
        if contract.channels != 3 or contract.input_dtype != "float32":
            raise DecoderError(
                f"decoder {cls.name}: expected a 3-channel float32 colour input, got "
                f"{contract.channels} channels {contract.input_dtype}"
            )
        return cls(params.scale, contract.color_order is ColorOrder.RGB)

    def check_output_shapes(self, shapes: Sequence[Shape]) -> None:
        self.check_ranks(shapes, (4,))
        shape = shapes[0]
        if shape[3] != 3 and shape[1] != 3:
            raise DecoderError(
                f"decoder {self.name}: output hr expected three channels (1, H, W, 3) or "
                f"(1, 3, H, W), got shape {format_shape(shape)}"
            )

    def __call__(self, outputs: Sequence[np.ndarray], transform: Transform) -> Upscaled:
        hr = outputs[0]
        image = hr[0] if hr.shape[3] == 3 else hr[0].transpose(1, 2, 0)
        check_size(self.name, image.shape[:2], hr.shape, transform, self.scale)
        pixels = cv2.convertScaleAbs(np.ascontiguousarray(image, dtype=np.float32))
        if self.rgb:
            pixels = cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR)
        return Upscaled(pixels, self.scale, transform.source_hw)
