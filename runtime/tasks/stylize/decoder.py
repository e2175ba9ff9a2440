"""Decoder of stylizers, contract decoder ``image``: the network's picture (float 0..255 in
the contract's colour order, over the padded frame) -> :class:`Stylized`, cropped to the frame,
clipped and rounded to 8-bit BGR, the original frame mixed back in by ``blend``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from edgeimg.runtime.contract import ColorOrder, ModelContract
from edgeimg.runtime.decoder import Decoder, DecoderError, Shape, format_shape
from edgeimg.runtime.errors import typed_params
from edgeimg.runtime.preprocess import Transform
from edgeimg.runtime.tasks.stylize.image import Stylized, StylizeTransform, stylize_params


@dataclass(frozen=True)
class ImageDecoderConfig:
    """decoder_params of a stylizer: ``blend``, the fraction of the original frame mixed into
    the output (0: the network's picture only, 1: the original frame)."""

    blend: float = 0.0

    def __post_init__(self) -> None:
        value = self.blend
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise DecoderError(f"stylize blend: expected a number 0..1, got {value!r}")
        if not (math.isfinite(value) and 0.0 <= value <= 1.0):
            raise DecoderError(f"stylize blend: expected 0..1, got {value}")
        object.__setattr__(self, "blend", float(value))


class ImageDecoder(Decoder):
    """``stylized`` (1, H', W', 3) or (1, 3, H', W') float 0..255 over the padded input ->
    :class:`Stylized` (H, W, 3) uint8 BGR at the frame's size.

    Values outside 0..255 are clipped, then rounded. With ``blend`` b > 0 the result is
    ``(1 - b) * stylized + b * frame`` (the frame from the :class:`StylizeTransform` of
    ``prepare``).
    """

    name = "image"
    default_output_names = ("stylized",)

    def __init__(self, config: ImageDecoderConfig, style: str = "", rgb: bool = True) -> None:
        self.config, self.style, self.rgb = config, style, rgb

    @classmethod
    def from_contract(cls, contract: ModelContract) -> ImageDecoder:
        config = typed_params(
            ImageDecoderConfig, contract.decoder_params, f"decoder {cls.name}", DecoderError
        )
        if contract.channels != 3 or contract.input_dtype != "float32":
            raise DecoderError(
                f"decoder {cls.name}: expected a 3-channel float32 colour input, got "
                f"{contract.channels} channels {contract.input_dtype}"
            )
        style = stylize_params(contract).style
        return cls(config, style, contract.color_order is ColorOrder.RGB)

    def check_output_shapes(self, shapes: Sequence[Shape]) -> None:
        self.check_ranks(shapes, (4,))
        shape = shapes[0]
        if shape[3] != 3 and shape[1] != 3:
            raise DecoderError(
                f"decoder {self.name}: output stylized expected three channels (1, H, W, 3) or "
                f"(1, 3, H, W), got shape {format_shape(shape)}"
            )

    def __call__(self, outputs: Sequence[np.ndarray], transform: Transform) -> Stylized:
        out = outputs[0]
        picture = out[0] if out.shape[3] == 3 else out[0].transpose(1, 2, 0)  # (H', W', 3)
        height, width = transform.source_hw
        want = transform.input_hw or transform.source_hw
        if picture.shape[:2] != tuple(want):
            raise DecoderError(
                f"decoder {self.name}: output stylized expected {want[0]}x{want[1]} (the model "
                f"input) for a {height}x{width} frame, got shape {format_shape(out.shape)}"
            )
        # clip below (convertScaleAbs takes |x|), then round and saturate at 255 in one pass
        pixels = cv2.convertScaleAbs(np.maximum(picture[:height, :width], 0.0))
        if self.rgb:
            pixels = cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR)
        blend = self.config.blend
        if blend > 0.0:
            frame = transform.frame if isinstance(transform, StylizeTransform) else None
            if frame is None:
                raise DecoderError(
                    f"decoder {self.name}: blend {blend} needs the frame; prepare it with "
                    "prepare_stylize (Model.preprocess does)"
                )
            pixels = cv2.addWeighted(pixels, 1.0 - blend, frame, blend, 0.0)
        return Stylized(pixels, self.style)
