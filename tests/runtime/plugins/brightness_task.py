"""A tiny task defined outside edgeimg: the mean brightness of an image (docs/adding-a-task.md).

A model with one output ``mean`` (1, 1): the average pixel value of its input. The task gives
the runtime its result type, decoder, JSON record and annotator; everything else (loading,
backends, the pipeline, sinks, ``edgeimg predict``) is generic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from edgeimg.runtime.contract import ModelContract
from edgeimg.runtime.decoder import Decoder, DecoderError, Shape
from edgeimg.runtime.preprocess import Transform
from edgeimg.runtime.tasks import TaskSpec


@dataclass(frozen=True)
class Brightness:
    """The result: mean pixel value in 0..255."""

    value: float


class MeanDecoder(Decoder):
    name = "mean"
    default_output_names = ("mean",)

    @classmethod
    def from_contract(cls, contract: ModelContract) -> MeanDecoder:
        return cls()

    def check_output_shapes(self, shapes: Sequence[Shape]) -> None:
        if len(shapes) != 1 or len(shapes[0]) != 2:
            raise DecoderError(f"decoder mean: expected one (1, 1) output, got {list(shapes)}")

    def __call__(self, outputs: Sequence[np.ndarray], transform: Transform) -> Brightness:
        return Brightness(float(outputs[0].reshape(-1)[0]))


class BrightnessAnnotator:
    def update(self, image_bgr: np.ndarray, result: Brightness) -> np.ndarray:
        image = image_bgr.copy()
        cv2.putText(
            image, f"{result.value:.0f}", (4, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 255)
        )
        return image

    def reset(self) -> None:
        """No state."""


def record(result: Brightness, class_names: tuple[str, ...]) -> dict[str, Any]:
    return {"brightness": round(result.value, 3)}


TASK = TaskSpec(
    name="brightness",
    result_type=Brightness,
    decoders={MeanDecoder.name: MeanDecoder},
    record=record,
    annotator=lambda contract: BrightnessAnnotator(),
    has_classes=False,
    description="mean brightness of the image (a test task)",
)
