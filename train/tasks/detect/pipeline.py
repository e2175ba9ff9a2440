"""``tf.data`` input pipeline of detection: decoded frames -> augmented, batched targets.

Images are decoded once and kept as uint8 arrays; the pipeline augments them in parallel map
calls (OpenCV releases the GIL, so two cores stay busy) and overlaps that with training.
Per-sample randomness comes from a seed drawn by ``tf.random`` (seeded by ``--seed``), so a
run is reproducible.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from edgeimg.train.tasks.detect.augment import BoxAugment
from edgeimg.train.tasks.detect.batches import DetectionShapes, detection_example
from edgeimg.train.tasks.detect.data import DetectionSample

AUTOTUNE = tf.data.AUTOTUNE


def detection_dataset(
    samples: list[DetectionSample],
    shapes: DetectionShapes,
    batch_size: int,
    augment: BoxAugment | None = None,
    seed: int | None = None,
) -> tf.data.Dataset:
    """Batches of (float32 RGB images, {"heatmap": ..., "boxes": ...}) for ``model.fit``.

    With ``augment`` (training): shuffled every epoch, random crops of ``shapes.crop_hw``.
    Without: whole letterboxed frames of ``shapes.input_hw`` in order (validation).
    """
    training = augment is not None
    hw = shapes.crop_hw if training else shapes.input_hw
    out_hw = (hw[0] // shapes.stride, hw[1] // shapes.stride)

    def make(index, sample_seed):
        rng = np.random.default_rng(int(sample_seed)) if training else None
        return detection_example(samples, int(index), shapes, augment, rng)

    def wrapped(index, sample_seed):
        image, heatmap, boxes = tf.numpy_function(
            make, [index, sample_seed], [tf.uint8, tf.float32, tf.float32], stateful=False
        )
        image.set_shape((*hw, 3))
        heatmap.set_shape((*out_hw, shapes.num_classes))
        boxes.set_shape((*out_hw, 5))
        return tf.cast(image, tf.float32), {"heatmap": heatmap, "boxes": boxes}

    ds = tf.data.Dataset.range(len(samples))
    if training:
        ds = ds.shuffle(len(samples), seed=seed, reshuffle_each_iteration=True)
        seeds = tf.data.Dataset.random(seed=seed)
    else:
        seeds = tf.data.Dataset.from_tensors(tf.constant(0, tf.int64)).repeat()
    ds = tf.data.Dataset.zip((ds, seeds)).map(wrapped, num_parallel_calls=AUTOTUNE)
    return ds.batch(batch_size, drop_remainder=training).prefetch(AUTOTUNE)
