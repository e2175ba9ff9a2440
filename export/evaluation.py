"""Accuracy of an ONNX model on held-out labelled data, in its task's metric.

``edgeimg.export`` does not read datasets itself (that is ``edgeimg.train``'s job): callers hand
in :class:`HeldOut` images with their targets and get, from the contract's export task
(:func:`edgeimg.export.tasks.get_export_task`), an :class:`Evaluator` that scores any model file
of the same contract. The CLI wires in ``edgeimg.train``'s readers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from edgeimg.runtime.backends import create_backend
from edgeimg.runtime.errors import EdgeimgError

# A prepared batch (N, ...) in the model's layout -> outputs in contract.output_names order.
Infer = Callable[[np.ndarray], list[np.ndarray]]
# (predictions per image, targets per image, number of classes) -> the metric in 0..1
Score = Callable[[Sequence[Any], Sequence[Any], int], float]

TARGET_KINDS = ("labels", "boxes", "masks", "images")


class Evaluator(Protocol):
    """Scores a model: ``metric`` names the number (``top-1 %``, ``AP@0.5 %``), higher is better
    unless the evaluator has ``lower_is_better = True`` (FID)."""

    metric: str

    def __call__(self, infer: Infer) -> float: ...


@dataclass(frozen=True, eq=False)
class HeldOut:
    """Labelled images a task's evaluator scores models on.

    images: (H, W, 3) uint8 BGR or (H, W) gray each. kind and targets, one target per image:
    ``labels`` -- a class index; ``boxes`` -- (xyxy (K, 4) float32 in source pixels,
    class_id (K,)). score: the data's own scoring function where the task needs one (boxes:
    COCO AP@0.5 from ``edgeimg.train.tasks.detect.evaluate``). reference: a model file the
    task's metric is measured with (generate: the classifier whose features FID compares).
    """

    images: Sequence[np.ndarray]
    targets: Sequence[Any]
    kind: str
    score: Score | None = None
    reference: Path | None = None

    def __post_init__(self) -> None:
        if self.kind not in TARGET_KINDS:
            raise EdgeimgError(
                f"evaluation data kind: expected one of {', '.join(TARGET_KINDS)}, "
                f"got {self.kind!r}"
            )
        if len(self.images) == 0 or len(self.images) != len(self.targets):
            raise EdgeimgError(
                f"evaluation data: expected one target per image (> 0 images), got "
                f"{len(self.targets)} for {len(self.images)} images"
            )


def backend_infer(
    path: str | Path,
    output_names: Sequence[str],
    threads: int | None = None,
    backend_name: str = "onnxruntime",
) -> Infer:
    """An :data:`Infer` running ``path`` on the runtime's backend ``backend_name`` (CPU, the
    session options the runtime deploys)."""
    backend = create_backend(path, backend_name, threads=threads)
    name = backend.inputs[0].name
    names = list(output_names)

    def infer(batch: np.ndarray) -> list[np.ndarray]:
        outputs = backend.run({name: batch})
        return [outputs[n] for n in names]

    return infer
