"""The stylize task: feed-forward neural style transfer, a frame repainted in a learnt style.

Result: :class:`Stylized` (the (H, W, 3) uint8 BGR image at the frame's size and the style's
name). Input: the frame at its own size padded to the network's ``multiple`` (contract
``resize: none``, ``input_size`` none, 3 channels RGB float32 0..255, mean 0 and std 1: the
model normalises inside its graph; :func:`~edgeimg.runtime.tasks.stylize.image.prepare_stylize`).
Decoder ``image``: the output ``stylized`` (N, H, W, 3) (or (N, 3, H, W)) RGB 0..255 cropped,
clipped, made BGR, with ``decoder_params`` ``blend`` of the original mixed back. Contract
``task_params``: :class:`StylizeParams` (``style``, ``multiple``, ``loss_net``, ``loss_seed``).
Outputs: the stylized image itself as the "annotated" frame (``-o out.png``, a video), JSON
lines with the style and the size.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgeimg.runtime.tasks import register_task
from edgeimg.runtime.tasks.base import TaskSpec
from edgeimg.runtime.tasks.stylize.decoder import ImageDecoder, ImageDecoderConfig
from edgeimg.runtime.tasks.stylize.image import (
    Stylized,
    StylizeParams,
    StylizeTransform,
    prepare_stylize,
)

BUNDLED_MODEL = "stylize_starry.onnx"


def stylize_record(result: Stylized, class_names: tuple[str, ...]) -> dict[str, Any]:
    """``{"style": "starry_night", "size": [h, w]}`` ((height, width) of the frame)."""
    return {"style": result.style, "size": list(result.size_hw)}


class StylizedImage:
    """The "annotation" of a stylized frame is the stylized image itself (nothing drawn)."""

    def update(self, image_bgr: np.ndarray, result: Stylized) -> np.ndarray:
        return result.image

    def reset(self) -> None:
        """No state between frames."""


TASK = register_task(
    TaskSpec(
        name="stylize",
        result_type=Stylized,
        decoders={ImageDecoder.name: ImageDecoder},
        record=stylize_record,
        annotator=lambda contract: StylizedImage(),
        has_classes=False,
        params_type=StylizeParams,
        prepare=prepare_stylize,
        description="style transfer: the frame repainted in a learnt style (feed-forward "
        "network; blend mixes the original back)",
        bundled_model=BUNDLED_MODEL,
    )
)

__all__ = [
    "TASK",
    "ImageDecoder",
    "ImageDecoderConfig",
    "StylizeParams",
    "StylizeTransform",
    "Stylized",
    "prepare_stylize",
    "stylize_record",
]
