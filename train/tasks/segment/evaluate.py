"""Evaluate a Keras segmenter on whole frames at their own resolution.

Each frame is letterboxed to the model's input as the runtime does, the logits' argmax is
mapped back through the letterbox by the runtime's decoder (nearest) to the frame's full size and compared with its
full-resolution label: per-class IoU, mean IoU, pixel accuracy, confusion matrix.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgeimg.runtime.preprocess import letterbox
from edgeimg.runtime.tasks.segment.argmax import ArgmaxDecoder
from edgeimg.runtime.tasks.segment.metrics import confusion_matrix
from edgeimg.train.tasks.segment.data import SegmentationData, load_segmentation


def predict_masks(model, images: np.ndarray, input_hw: tuple[int, int], batch_size: int = 4):
    """(N, H, W) uint8 masks at the frames' size for (N, H, W, 3) uint8 RGB frames."""
    decoder = ArgmaxDecoder(logits_classes(model), input_hw)
    masks = []
    for start in range(0, len(images), batch_size):
        batch, transforms = [], []
        for image in images[start : start + batch_size]:
            boxed, transform = letterbox(image, input_hw, 114)
            batch.append(boxed)
            transforms.append(transform)
        logits = np.asarray(model.predict_on_batch(np.stack(batch).astype(np.float32)))
        for one, transform in zip(logits, transforms, strict=True):
            ids = one.argmax(axis=-1).astype(np.uint8)
            masks.append(decoder.to_source(ids, transform))
    return np.stack(masks)


def logits_classes(model) -> int:
    return int(model.output_shape[-1])


def evaluate_segmenter(model, data: SegmentationData, input_hw: tuple[int, int]) -> np.ndarray:
    """The (C, C) confusion matrix of ``model`` on ``data`` at full frame resolution."""
    confusion = np.zeros((data.num_classes, data.num_classes), np.int64)
    for start in range(0, len(data), 16):
        part = data.subset(slice(start, start + 16))
        predicted = predict_masks(model, part.images, input_hw)
        confusion += confusion_matrix(part.labels, predicted, data.num_classes)
    return confusion


def held_out_masks(path: str, count: int = 0):
    """A segmentation folder as the export gate's held-out data (BGR frames, label masks with
    255 for void); ``count`` > 0 takes that many frames spread evenly."""
    import cv2

    from edgeimg.export.evaluation import HeldOut

    data = load_segmentation(Path(path))
    pick = np.arange(len(data))
    if count:
        pick = np.unique(np.linspace(0, len(data) - 1, num=min(count, len(data))).round())
        pick = pick.astype(int)
    images = [cv2.cvtColor(data.images[i], cv2.COLOR_RGB2BGR) for i in pick]
    return HeldOut(images, [data.labels[i] for i in pick], "masks")
