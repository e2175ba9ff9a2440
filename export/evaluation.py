"""Accuracy of an ONNX model on held-out labelled data, in the task's metric.

``edgeimg.export`` does not read datasets itself (that is ``edgeimg.train``'s job): callers hand
in the labelled images and, for detectors, the AP function, and get an :class:`Evaluator` that
scores any model file of the same contract. The CLI wires in ``edgeimg.train``'s readers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from edgeimg.export.calibration import prepare_batch
from edgeimg.export.parity import Decode, runtime_decoder
from edgeimg.runtime.contract import ModelContract
from edgeimg.runtime.detections import Detections
from edgeimg.runtime.errors import EdgeimgError
from edgeimg.runtime.preprocess import prepare

BATCH = 32

# A prepared batch (N, ...) in the model's layout -> outputs in contract.output_names order.
Infer = Callable[[np.ndarray], list[np.ndarray]]
# (predictions per image, ground truth per image as (xyxy (K, 4), class_id (K,))) -> AP in 0..1
AveragePrecision = Callable[[Sequence[Detections], Sequence[tuple[np.ndarray, np.ndarray]]], float]


class Evaluator(Protocol):
    """Scores a model: ``metric`` names the number (``top-1 %``, ``AP@0.5 %``), higher is better."""

    metric: str

    def __call__(self, infer: Infer) -> float: ...


def session_infer(
    path: str | Path, output_names: Sequence[str], threads: int | None = None
) -> Infer:
    """An :data:`Infer` running ``path`` on onnxruntime's CPU provider."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    names = list(output_names)
    return lambda batch: session.run(names, {name: batch})


@dataclass
class TopOneEvaluator:
    """Top-1 accuracy (percent) on labelled images.

    images: (H, W, 3) uint8 BGR or (H, W) gray each. labels: (N,) class indices.
    """

    images: Sequence[np.ndarray]
    labels: np.ndarray
    contract: ModelContract
    metric: str = "top-1 %"

    def __post_init__(self) -> None:
        if len(self.images) == 0 or len(self.images) != len(self.labels):
            raise EdgeimgError(
                f"evaluation data: expected as many labels as images (> 0), got "
                f"{len(self.labels)} labels for {len(self.images)} images"
            )
        classes = len(self.contract.class_names)
        if int(np.max(self.labels)) >= classes or int(np.min(self.labels)) < 0:
            raise EdgeimgError(
                f"evaluation data: labels 0..{int(np.max(self.labels))} do not fit the "
                f"model's {classes} classes"
            )
        self._batch = prepare_batch(self.images, self.contract)

    def __call__(self, infer: Infer) -> float:
        hits = 0
        for start in range(0, len(self._batch), BATCH):
            probs = infer(self._batch[start : start + BATCH])[0]
            hits += int(np.sum(probs.argmax(axis=-1) == self.labels[start : start + BATCH]))
        return 100.0 * hits / len(self._batch)


@dataclass
class DetectionEvaluator:
    """AP (percent) of decoded detections against ground-truth boxes in source pixels.

    images: (H, W, 3) uint8 BGR. truths: per image (xyxy (K, 4) float32, class_id (K,)).
    average_precision: the AP function (e.g. ``edgeimg.train.evaluate.detection_ap``).
    decode: default the runtime's decoder for the contract. progress: a tqdm bar label, or None.
    """

    images: Sequence[np.ndarray]
    truths: Sequence[tuple[np.ndarray, np.ndarray]]
    contract: ModelContract
    average_precision: AveragePrecision
    metric: str = "AP@0.5 %"
    decode: Decode | None = None
    progress: str | None = None

    def __post_init__(self) -> None:
        if len(self.images) == 0 or len(self.images) != len(self.truths):
            raise EdgeimgError(
                f"evaluation data: expected ground truth for each image (> 0 images), got "
                f"{len(self.truths)} for {len(self.images)} images"
            )
        self.decode = self.decode or runtime_decoder(self.contract)
        self._prepared = [prepare(image, self.contract) for image in self.images]

    def __call__(self, infer: Infer) -> float:
        prepared = self._prepared
        if self.progress:
            from tqdm import tqdm

            prepared = tqdm(prepared, desc=self.progress, unit="img", leave=False)
        predictions = [self.decode(infer(tensor), transform) for tensor, transform in prepared]
        return 100.0 * float(self.average_precision(predictions, self.truths))
