"""``tf.data`` input pipeline of segmentation: frames in memory -> augmented batches of
(float32 RGB image, int32 labels, float32 per-pixel weights).

Void pixels get weight 0 (and label 0, which then costs nothing); the others their class
weight, so Keras' sparse cross-entropy becomes the class-weighted loss that ignores void.
Per-sample randomness comes from seeds drawn by ``tf.random`` (``--seed``): reproducible.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from edgeimg.train.tasks.segment.augment import SegmentAugment, augment_pair, letterbox_pair
from edgeimg.train.tasks.segment.data import IGNORE, SegmentationData

AUTOTUNE = tf.data.AUTOTUNE


def segment_example(
    data: SegmentationData,
    index: int,
    hw: tuple[int, int],
    base_scale: float,
    weights: np.ndarray,
    augment: SegmentAugment | None,
    rng: np.random.Generator | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One frame -> (image (h, w, 3) uint8, labels (h, w) int32, weights (h, w) float32)."""
    if augment is not None and rng is not None:
        image, label = augment_pair(
            data.images[index], data.labels[index], hw, base_scale, augment, rng
        )
    else:
        image, label = letterbox_pair(data.images[index], data.labels[index], hw)
    void = label == IGNORE
    ids = np.where(void, 0, label).astype(np.int32)
    weight = np.where(void, 0.0, weights[ids]).astype(np.float32)
    return image, ids, weight


def segment_dataset(
    data: SegmentationData,
    hw: tuple[int, int],
    batch_size: int,
    weights: np.ndarray,
    base_scale: float = 1.0,
    augment: SegmentAugment | None = None,
    seed: int | None = None,
) -> tf.data.Dataset:
    """Training (``augment`` given): shuffled, random ``hw`` crops. Otherwise letterboxed
    frames of ``hw`` in order."""
    training = augment is not None

    def make(index, sample_seed):
        rng = np.random.default_rng(int(sample_seed)) if training else None
        return segment_example(data, int(index), hw, base_scale, weights, augment, rng)

    def wrapped(index, sample_seed):
        image, label, weight = tf.numpy_function(
            make, [index, sample_seed], [tf.uint8, tf.int32, tf.float32], stateful=False
        )
        image.set_shape((*hw, 3))
        label.set_shape(hw)
        weight.set_shape(hw)
        return tf.cast(image, tf.float32), label, weight

    ds = tf.data.Dataset.range(len(data))
    if training:
        ds = ds.shuffle(len(data), seed=seed, reshuffle_each_iteration=True)
        seeds = tf.data.Dataset.random(seed=seed)
    else:
        seeds = tf.data.Dataset.from_tensors(tf.constant(0, tf.int64)).repeat()
    ds = tf.data.Dataset.zip((ds, seeds)).map(wrapped, num_parallel_calls=AUTOTUNE)
    return ds.batch(batch_size, drop_remainder=training).prefetch(AUTOTUNE)
