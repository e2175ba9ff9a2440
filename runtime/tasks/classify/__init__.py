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
    """Writes the top-k classes and scores in the frame's top-left corner."""

    def __init__(self, class_names: tuple[str, ...], font_scale: float = 0.6) -> None:
        self.class_names = class_names
        self.font_scale = font_scale

    def update(self, image_bgr: np.ndarray, result: ClassScores) -> np.ndarray:
        image = (
            image_bgr.copy() if image_bgr.ndim == 3 else cv2.cvtColor(image_bgr, cv2.COLOR_GRAY2BGR)
        )
        line = int(24 * self.font_scale / 0.6)
        for rank, item in enumerate(result.top(self.class_names)):
            text = f"{item['class'] or item['class_id']} {item['score']:.2f}"
            origin = (8, 8 + line * (rank + 1))
            cv2.putText(
                image,
                text,
                origin,
                cv2.FONT_HERSHEY_SIMPLEX,
                self.font_scale,
                (0, 0, 0),
                3,
                cv2.LINE_AA,
            )
            cv2.putText(
                image,
                text,
                origin,
                cv2.FONT_HERSHEY_SIMPLEX,
                self.font_scale,
                (255, 255, 255),
                1,
                cv2.LINE_AA,
            )
        return image

    def reset(self) -> None:
        """No state between frames."""


class ScoresCsvSink(TextSink):
    """``frame,name,rank,class_id,class,score``: one row per image and rank (rank 1 = best);
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
            f"{result.frame.index},{name},{rank},{item['class_id']},"
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
    )
)

__all__ = ["TASK", "ClassScores"]
