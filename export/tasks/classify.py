"""Export of the classify task: a probability per class, top-1 agreement in the parity gate,
quantized whole, top-1 accuracy on held-out labels.

Classifiers keep no float island: on the Fashion-MNIST CNN every float island (softmax, stem)
added Q/DQ boundaries that made INT8 measurably slower.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from edgeimg.export.calibration import prepare_batch
from edgeimg.export.evaluation import HeldOut, Infer
from edgeimg.export.tasks import register_export_task
from edgeimg.export.tasks.base import (
    Agreement,
    ExportTask,
    Outputs,
    Shape,
    check_channels,
    checked_kind,
)
from edgeimg.runtime.contract import ModelContract
from edgeimg.runtime.errors import EdgeimgError

BATCH = 32


def check_outputs(shapes: Mapping[str, Shape], contract: ModelContract, source: str) -> None:
    """One probability per class in the first output."""
    check_channels(shapes, {contract.output_names[0]: len(contract.class_names)}, contract, source)


def top1_agreement(got: Outputs, ref: Outputs, contract: ModelContract) -> Agreement:
    """Fraction of images whose most probable class is the same."""
    name = contract.output_names[0]
    scores, reference = got[name], ref[name]
    same = (
        float(np.mean(scores.argmax(axis=-1) == reference.argmax(axis=-1)))
        if len(reference)
        else 1.0
    )
    return Agreement("top-1 agreement", same, len(reference))


@dataclass
class TopOneEvaluator:
    """Top-1 accuracy (percent) on images labelled with class indices."""

    held_out: HeldOut
    contract: ModelContract
    progress: bool = False
    metric: str = "top-1 %"

    def __post_init__(self) -> None:
        checked_kind(
            self.held_out,
            "labels",
            self.contract.task,
            "a class label per image (classification data)",
        )
        labels = np.asarray(self.held_out.targets).reshape(-1)
        classes = len(self.contract.class_names)
        if int(labels.max()) >= classes or int(labels.min()) < 0:
            raise EdgeimgError(
                f"evaluation data: labels {int(labels.min())}..{int(labels.max())} do not fit "
                f"the model's {classes} classes"
            )
        self._labels = labels
        self._batch = prepare_batch(self.held_out.images, self.contract)

    def __call__(self, infer: Infer) -> float:
        hits = 0
        for start in range(0, len(self._batch), BATCH):
            probs = infer(self._batch[start : start + BATCH])[0]
            hits += int(np.sum(probs.argmax(axis=-1) == self._labels[start : start + BATCH]))
        return 100.0 * hits / len(self._batch)


TASK = register_export_task(
    ExportTask(
        name="classify",
        check_outputs=check_outputs,
        agreement=top1_agreement,
        evaluator=TopOneEvaluator,
        description="top-1 agreement in parity, quantized whole, top-1 accuracy",
    )
)
