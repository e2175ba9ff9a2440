"""The classify task: the most probable classes of a whole image.

Result: :class:`ClassScores`. Decoder: ``softmax`` (a ``probs`` output). Outputs: the top-k
written on the frame, JSON lines, and a CSV table (``.csv``: one row per image and rank).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edgeimg.runtime.contract import ModelContract
from edgeimg.runtime.sinks import FrameResult, TextSink
from edgeimg.runtime.tasks import register_task
from edgeimg.runtime.tasks.base import TaskSpec
from edgeimg.runtime.tasks.classify.scores import ClassScores
from edgeimg.runtime.tasks.classify.softmax import SoftmaxDecoder

CSV_HEADER = "frame,name,rank,class_id,class,score\n"


def scores_record(scores: ClassScores, class_names: tuple[str, ...]) -> dict[str, Any]:
    return {"top_k": scores.top(class_names)}


class ScoresAnnotator:
    """Writes the top-k classes and scores in the frame's top-left corner. Images under
    ``min_side`` pixels (a 28x28 Fashion-MNIST item) are enlarged first, pixel for pixel, so
    the text stays readable."""

    def __init__(self, class_names: tuple[str, ...], min_side: int = 256) -> None:
        self.class_names = class_names
        self.min_side = min_side

    def update(self, image_bgr: np.ndarray, result: ClassScores) -> np.ndarray:
        image = image_bgr if image_bgr.ndim == 3 else cv2.cvtColor(image_bgr, cv2.COLOR_GRAY2BGR)
        factor = -(-self.min_side // max(1, min(image.shape[:2])))
        if factor > 1:
            image = cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_NEAREST)
        else:
            image = image.copy()
        scale = max(0.4, min(image.shape[:2]) / 500)
        line = round(28 * scale)
        for rank, item in enumerate(result.top(self.class_names)):
            text = f"{item['class'] or item['class_id']} {item['score']:.2f}"
            origin = (8, 8 + line * (rank + 1))
            for color, width in (((0, 0, 0), 3), ((255, 255, 255), 1)):
                cv2.putText(
                    image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, color, width, cv2.LINE_AA
                )
        return image

    def reset(self) -> None:
        """No state between frames."""


class ScoresCsvSink(TextSink):
    """``frame,name,rank,class_id,class,score``: one row per image and rank (rank 1 = best);
    ``frame`` is 1-based (``Frame.index + 1``, as in JSON lines and MOTChallenge);
    ``name`` is the image's file name for folders and single images, empty for videos."""

    what = "CSV output"

    def __init__(self, path: Path, class_names: tuple[str, ...]) -> None:
        super().__init__(path)
        self.class_names = class_names

    def open(self) -> None:
        super().open()
        self.write_text(CSV_HEADER)

    def format(self, result: FrameResult) -> str:
        name = _csv_field(result.frame.name)
        return "".join(
            f"{result.frame.index + 1},{name},{rank},{item['class_id']},"
            f"{_csv_field(item['class'] or '')},{item['score']}\n"
            for rank, item in enumerate(result.result.top(self.class_names), start=1)
        )


def _csv_field(text: str) -> str:
    if any(c in text for c in ',"\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def csv_sink(path: Path, contract: ModelContract) -> ScoresCsvSink:
    return ScoresCsvSink(path, contract.class_names)


TASK = register_task(
    TaskSpec(
        name="classify",
        result_type=ClassScores,
        decoders={SoftmaxDecoder.name: SoftmaxDecoder},
        record=scores_record,
        annotator=lambda contract: ScoresAnnotator(contract.class_names),
        sinks={".csv": csv_sink},
        description="the most probable classes of the whole image",
        bundled_model="fashion_classifier.onnx",
    )
)

__all__ = ["TASK", "ClassScores"]
