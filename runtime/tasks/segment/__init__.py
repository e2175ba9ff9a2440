"""The segment task: a class for every pixel (semantic segmentation).

Result: :class:`SegmentMask` (a uint8 label mask over the source frame). Decoder: ``argmax``
(per-pixel logits, NHWC or NCHW). Contract ``task_params``: :class:`SegmentParams` (the class
palette, the overlay's alpha). Outputs: an alpha-blended colour overlay with a legend (video,
image, window), JSON lines with each class's share of the frame, and label masks
(``--output DIR.masks``: a folder of single-channel PNGs of class ids, one per frame).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edgeimg.runtime.contract import ModelContract
from edgeimg.runtime.tasks import register_task
from edgeimg.runtime.tasks.base import TaskSpec
from edgeimg.runtime.tasks.segment.argmax import ArgmaxDecoder
from edgeimg.runtime.tasks.segment.mask import SegmentMask, SegmentParams, class_palette
from edgeimg.runtime.tasks.segment.sinks import MaskSink

BUNDLED_MODEL = "segment_camvid.onnx"


def mask_record(result: SegmentMask, class_names: tuple[str, ...]) -> dict[str, Any]:
    """``{"areas": {"Road": 0.31, ...}}``: each class's fraction of the frame (classes absent
    from the frame left out), largest first."""
    areas = result.areas()
    order = np.argsort(-areas, kind="stable")
    return {
        "areas": {
            (class_names[i] if i < len(class_names) else str(i)): round(float(areas[i]), 5)
            for i in order
            if areas[i] > 0
        }
    }


class MaskAnnotator:
    """Blends the class colours over the frame (``alpha``) and draws a legend of the classes
    present, top-left."""

    def __init__(
        self, class_names: tuple[str, ...], palette: tuple[tuple[int, int, int], ...], alpha: float
    ) -> None:
        self.class_names = class_names
        self.alpha = alpha
        lut = np.zeros((256, 3), np.uint8)
        lut[: len(palette)] = np.asarray(palette, np.uint8)[:, ::-1]  # RGB -> BGR
        self.lut = lut

    def update(self, image_bgr: np.ndarray, result: SegmentMask) -> np.ndarray:
        image = image_bgr if image_bgr.ndim == 3 else cv2.cvtColor(image_bgr, cv2.COLOR_GRAY2BGR)
        colours = self.lut[result.mask]
        out: np.ndarray = cv2.addWeighted(image, 1.0 - self.alpha, colours, self.alpha, 0.0)
        present = np.flatnonzero(result.areas() > 0)
        for row, class_id in enumerate(present):
            y = 8 + 18 * row
            colour = tuple(int(v) for v in self.lut[class_id])
            cv2.rectangle(out, (8, y), (22, y + 14), colour, -1)
            cv2.rectangle(out, (8, y), (22, y + 14), (255, 255, 255), 1)
            name = self.class_names[class_id] if class_id < len(self.class_names) else str(class_id)
            for thickness, text_colour in ((3, (0, 0, 0)), (1, (255, 255, 255))):
                cv2.putText(
                    out,
                    name,
                    (28, y + 12),
                    cv2.FONT_HERSHEY_SIMPLEX,
                    0.45,
                    text_colour,
                    thickness,
                    cv2.LINE_AA,
                )
        return out

    def reset(self) -> None:
        """No state between frames."""


def mask_annotator(contract: ModelContract) -> MaskAnnotator:
    params = TASK.params(contract)
    palette = class_palette(params, len(contract.class_names))
    return MaskAnnotator(contract.class_names, palette, params.alpha)


def masks_sink(path: Path, contract: ModelContract) -> MaskSink:
    return MaskSink(path)


TASK = register_task(
    TaskSpec(
        name="segment",
        result_type=SegmentMask,
        decoders={ArgmaxDecoder.name: ArgmaxDecoder},
        record=mask_record,
        annotator=mask_annotator,
        params_type=SegmentParams,
        sinks={".masks": masks_sink},
        description="a class for every pixel (semantic segmentation)",
        bundled_model=BUNDLED_MODEL,
    )
)

__all__ = ["TASK", "ArgmaxDecoder", "MaskAnnotator", "SegmentMask", "SegmentParams"]
