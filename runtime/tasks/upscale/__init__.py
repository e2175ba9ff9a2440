"""The upscale task: super-resolution, a frame enlarged ``scale`` times.

Result: :class:`Upscaled` (the (H*s, W*s, 3) uint8 BGR image). Input: the frame's BT.601
luminance Y at its own size (contract ``resize: none``, ``input_size`` none, one ``GRAY``
channel, float32 0..255; :func:`~edgeimg.runtime.tasks.upscale.image.prepare_luma`, which keeps
the chroma in the Transform), or for a 3-channel model the frame itself in RGB. Decoders:
``ycbcr`` (the model's Y merged with the chroma enlarged bicubically), ``rgb`` (a colour
model's output). Contract ``task_params``: :class:`UpscaleParams` (``scale``). Outputs: the
upscaled image itself as the "annotated" frame (``--output big.png``, a video), JSON lines with
the input and output sizes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgeimg.runtime.tasks import register_task
from edgeimg.runtime.tasks.base import TaskSpec
from edgeimg.runtime.tasks.upscale.image import Upscaled, UpscaleTransform, prepare_upscale
from edgeimg.runtime.tasks.upscale.ycbcr import RgbDecoder, UpscaleParams, YCbCrDecoder

BUNDLED_MODEL = "upscale_x3.onnx"


def upscale_record(result: Upscaled, class_names: tuple[str, ...]) -> dict[str, Any]:
    """``{"scale": 3, "input_size": [h, w], "output_size": [3h, 3w]}`` ((height, width) as the
    contract's input_size)."""
    return {
        "scale": result.scale,
        "input_size": list(result.source_hw),
        "output_size": list(result.output_hw),
    }


class UpscaledImage:
    """The "annotation" of an upscaled frame is the upscaled image itself (nothing drawn)."""

    def update(self, image_bgr: np.ndarray, result: Upscaled) -> np.ndarray:
        return result.image

    def reset(self) -> None:
        """No state between frames."""


TASK = register_task(
    TaskSpec(
        name="upscale",
        result_type=Upscaled,
        decoders={YCbCrDecoder.name: YCbCrDecoder, RgbDecoder.name: RgbDecoder},
        record=upscale_record,
        annotator=lambda contract: UpscaledImage(),
        has_classes=False,
        params_type=UpscaleParams,
        prepare=prepare_upscale,
        description="super-resolution: the frame enlarged scale times (luminance or RGB model)",
        bundled_model=BUNDLED_MODEL,
    )
)

__all__ = ["TASK", "UpscaleParams", "UpscaleTransform", "Upscaled"]
