"""Accuracy on held-out data for every peer: top-1 for classifiers, AP@0.5 for detectors, mean
IoU for segmenters.

Every peer sees the same tensors: each held-out image goes once through the runtime's
``prepare`` (NHWC, as the Keras model takes it), and each runner converts layout itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edgeimg.bench.peers.runners import Runner
from edgeimg.runtime.contract import ModelContract
from edgeimg.runtime.preprocess import Transform, prepare


@dataclass(frozen=True)
class HeldOut:
    """Prepared held-out data.

    tensors: (N, H, W, C) float32 NHWC 0..255, what the Keras model takes.
    labels: (N,) int class ids (classifiers), or None.
    transforms: per image, how it was letterboxed (detectors, segmenters).
    boxes, box_classes: per image, for detectors (boxes in source pixels).
    masks: per image, for segmenters: (H, W) uint8 class ids at the source size, 255 void.
    """

    tensors: np.ndarray
    labels: np.ndarray | None = None
    transforms: Sequence[Transform] = ()
    boxes: Sequence[np.ndarray] = ()
    box_classes: Sequence[np.ndarray] = ()
    masks: Sequence[np.ndarray] = ()


def prepare_images(
    images: Sequence[np.ndarray], contract: ModelContract
) -> tuple[np.ndarray, list[Transform]]:
    """(H, W, 3) BGR or (H, W[, 1]) gray images -> (N, h, w, c) float32 NHWC tensors + transforms."""
    from dataclasses import replace

    nhwc = replace(contract, layout="NHWC")
    tensors, transforms = [], []
    for image in images:
        if image.ndim == 3 and image.shape[2] == 1:
            image = image[:, :, 0]
        tensor, transform = prepare(image, nhwc)
        tensors.append(tensor[0])
        transforms.append(transform)
    return np.stack(tensors).astype(np.float32), transforms


def run_all(runner: Runner, tensors: np.ndarray, batch: int = 256) -> list[list[np.ndarray]]:
    """Outputs of ``runner`` for every tensor, batched when the runner allows; one list per output."""
    step = min(batch, runner.max_batch or batch)
    chunks: list[list[np.ndarray]] = []
    for start in range(0, len(tensors), step):
        runner.activate()
        chunks.append(
            [np.asarray(o) for o in runner.infer(runner.prepare(tensors[start : start + step]))]
        )
    return [np.concatenate([c[i] for c in chunks]) for i in range(len(chunks[0]))]


def top1(runner: Runner, data: HeldOut) -> float:
    """Share of held-out images whose highest probability is the true class."""
    (probs,) = run_all(runner, data.tensors)[:1]
    return float(np.mean(probs.argmax(axis=1) == data.labels))


def detection_ap50(runner: Runner, data: HeldOut, contract: ModelContract) -> float:
    """AP@0.5 (``edgeimg.train.tasks.detect.evaluate.detection_ap``) of the runner's decoded detections."""
    from edgeimg.runtime.tasks import get_task
    from edgeimg.train.tasks.detect.evaluate import detection_ap

    own = getattr(runner, "contract", None) or contract  # its own stride
    decoder = get_task(own.task).decoder_type(own).from_contract(own)
    outputs = run_all(runner, data.tensors, batch=1)
    predictions = [
        decoder([o[i : i + 1] for o in outputs], t) for i, t in enumerate(data.transforms)
    ]
    truth = list(zip(data.boxes, data.box_classes, strict=True))
    return float(detection_ap(predictions, truth, len(contract.class_names)).ap50)


def segmentation_miou(runner: Runner, data: HeldOut, contract: ModelContract) -> float:
    """Mean IoU of the runner's masks, decoded by the runtime's argmax decoder back to each
    source frame's size (as ``edgeimg predict`` and the export gate do), void left out."""
    from edgeimg.runtime.tasks import get_task
    from edgeimg.runtime.tasks.segment.metrics import confusion_matrix, mean_iou

    classes = len(contract.class_names)
    decoder = get_task(contract.task).decoder_type(contract).from_contract(contract)
    confusion = np.zeros((classes, classes), np.int64)
    for start in range(0, len(data.tensors), 8):  # full-frame logits: a few frames at a time
        outputs = run_all(runner, data.tensors[start : start + 8], batch=8)
        for i, (transform, truth) in enumerate(
            zip(data.transforms[start : start + 8], data.masks[start : start + 8], strict=True)
        ):
            mask = decoder([o[i : i + 1] for o in outputs], transform).mask
            confusion += confusion_matrix(truth, mask, classes)
    return float(mean_iou(confusion))
