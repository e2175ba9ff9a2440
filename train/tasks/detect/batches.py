"""Detection examples in numpy, and a ``keras.utils.PyDataset`` of them for non-TF backends.

:func:`detection_example` turns one sample into the detector's input and targets; the
``tf.data`` pipeline (:mod:`edgeimg.train.tasks.detect.pipeline`) maps it in parallel under
TensorFlow, and :class:`DetectionBatches` feeds it to Keras on the JAX or PyTorch backends (a GPU
host without TensorFlow), with worker threads (OpenCV releases the GIL).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from edgeimg.train.data.batches import EpochBatches
from edgeimg.train.tasks.detect.augment import (
    BoxAugment,
    augment_sample,
    letterbox_matrix,
    mosaic_sample,
    warp_boxes,
    warp_image,
)
from edgeimg.train.tasks.detect.data import DetectionSample
from edgeimg.train.tasks.detect.targets import centernet_targets


@dataclass(frozen=True)
class DetectionShapes:
    """input_hw: the model's input (height, width), what frames are letterboxed to.
    crop_hw: the training window cut from it (smaller = cheaper steps; the detector is fully
    convolutional). stride and num_classes: of the detector's outputs."""

    input_hw: tuple[int, int]
    crop_hw: tuple[int, int]
    stride: int
    num_classes: int


def detection_example(
    samples: list[DetectionSample],
    index: int,
    shapes: DetectionShapes,
    augment: BoxAugment | None,
    rng: np.random.Generator | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sample ``index`` -> (image (h, w, 3) uint8 RGB, heatmap target, boxes target).

    Training (``augment`` and ``rng`` given): random geometry, a ``crop_hw`` window and colour;
    with probability ``augment.mosaic``, a mosaic of it and three random others of ``samples``.
    Otherwise: the runtime's letterbox to ``input_hw``, nothing random.
    """
    sample = samples[index]
    if augment is None or rng is None:
        matrix = letterbox_matrix(sample.image.shape[:2], shapes.input_hw)
        hw = shapes.input_hw
        image = warp_image(sample.image, matrix, hw)
        boxes, classes = warp_boxes(sample.xyxy, sample.class_id, matrix, hw, 0.0)
    elif augment.mosaic and rng.random() < augment.mosaic:
        hw = shapes.crop_hw
        chosen = [sample, *(samples[int(i)] for i in rng.integers(len(samples), size=3))]
        parts = [(s.image, s.xyxy, s.class_id) for s in chosen]
        image, boxes, classes = mosaic_sample(parts, rng, shapes.input_hw, hw, augment)
    else:
        hw = shapes.crop_hw
        image, boxes, classes = augment_sample(
            sample.image, sample.xyxy, sample.class_id, rng, shapes.input_hw, hw, augment
        )
    heatmap, box_target = centernet_targets(boxes, classes, hw, shapes.stride, shapes.num_classes)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB), heatmap, box_target


class DetectionBatches(EpochBatches):
    """Batches of (float32 RGB images, {"heatmap", "boxes"}) for ``model.fit`` on any backend.

    With ``augment``: reshuffled every epoch, random crops, full batches only; randomness
    derives from (seed, epoch, position), so runs repeat. Without: letterboxed frames in order.
    """

    def __init__(
        self,
        samples: list[DetectionSample],
        shapes: DetectionShapes,
        batch_size: int,
        augment: BoxAugment | None = None,
        seed: int = 0,
        workers: int = 4,
    ):
        self.samples = samples
        self.shapes = shapes
        super().__init__(len(samples), batch_size, augment, seed, workers)

    def __len__(self) -> int:
        if self.augment is not None:
            return len(self.samples) // self.batch_size
        return math.ceil(len(self.samples) / self.batch_size)

    def __getitem__(self, index: int):
        chosen = self.chosen(index)
        examples = []
        for position in chosen:
            rng = None
            if self.augment is not None:
                rng = np.random.default_rng([self.seed, self.epoch, int(position)])
            examples.append(
                detection_example(self.samples, int(position), self.shapes, self.augment, rng)
            )
        images, heatmaps, boxes = (np.stack(parts) for parts in zip(*examples, strict=True))
        return images.astype(np.float32), {"heatmap": heatmaps, "boxes": boxes}
