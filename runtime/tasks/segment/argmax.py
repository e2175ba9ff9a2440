"""The ``argmax`` decoder: per-pixel class logits -> a label mask over the source frame.

Reads one output, (1, H, W, C) or (1, C, H, W) with C the contract's class count, at the model
input's resolution or a fraction of it (a stride-4 head). The argmax runs on the model's grid
(vectorised numpy), the letterbox padding is cut off and the mask resized to the source frame
with nearest-neighbour interpolation.

The crop is computed from the contract's input size rather than with
:meth:`Transform.image_to_source`, which assumes equal padding on both sides: a letterbox
whose padding is odd puts the extra pixel right/bottom, and image_to_source then returns a
mask one stretch too wide (485 columns for a 480-wide frame in a 64x96 input).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from edgeimg.runtime.contract import ModelContract
from edgeimg.runtime.decoder import Decoder, DecoderError, Shape, format_shape
from edgeimg.runtime.preprocess import Transform
from edgeimg.runtime.tasks.segment.mask import SegmentMask


class ArgmaxDecoder(Decoder):
    name = "argmax"
    default_output_names = ("logits",)

    def __init__(self, num_classes: int, input_hw: tuple[int, int] | None = None) -> None:
        self.num_classes = num_classes
        self.input_hw = input_hw  # None: the model takes frames at their own size
        self.channels_last: bool | None = None  # learned from the shapes

    @classmethod
    def from_contract(cls, contract: ModelContract) -> ArgmaxDecoder:
        if contract.decoder_params:
            raise DecoderError(
                f"decoder argmax: takes no decoder_params, got {', '.join(map(str, contract.decoder_params))}"
            )
        size = contract.input_size
        return cls(len(contract.class_names), (int(size[0]), int(size[1])) if size else None)

    def check_output_shapes(self, shapes: Sequence[Shape]) -> None:
        self.check_ranks(shapes, (4,))
        shape = shapes[0]
        c = self.num_classes
        if shape[3] == c:
            self.channels_last = True
        elif shape[1] == c:
            self.channels_last = False
        else:
            raise DecoderError(
                f"decoder argmax: output logits expected (1, H, W, {c}) or (1, {c}, H, W) for "
                f"{c} classes, got {format_shape(shape)}"
            )

    def __call__(self, outputs: Sequence[np.ndarray], transform: Transform) -> SegmentMask:
        logits = np.asarray(outputs[0])[0]
        channels_last = self.channels_last
        if channels_last is None:
            channels_last = logits.shape[-1] == self.num_classes
        ids = logits.argmax(axis=-1 if channels_last else 0).astype(np.uint8)
        return SegmentMask(self.to_source(ids, transform), self.num_classes)

    def to_source(self, ids: np.ndarray, transform: Transform) -> np.ndarray:
        """A (h, w) mask over the model input (any resolution) -> (H, W) over the source."""
        height, width = transform.source_hw
        input_h, input_w = self.input_hw or (height, width)
        factor_y, factor_x = ids.shape[0] / input_h, ids.shape[1] / input_w
        top, left = round(transform.pad_y * factor_y), round(transform.pad_x * factor_x)
        bottom = top + max(1, round(height * transform.scale_y * factor_y))
        right = left + max(1, round(width * transform.scale_x * factor_x))
        content = ids[top:bottom, left:right]
        if content.shape == (height, width):
            return np.ascontiguousarray(content)
        resized: np.ndarray = cv2.resize(content, (width, height), interpolation=cv2.INTER_NEAREST)
        return resized
