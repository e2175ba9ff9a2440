"""``tf.data`` input pipeline of classification: uint8 arrays -> augmented float batches.

Images are kept in memory as uint8 arrays; Keras' random layers augment each batch in parallel
map calls, overlapped with training. Per-sample randomness derives from ``--seed``.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from edgeimg.train.tasks.classify.augment import ClassifyAugment

AUTOTUNE = tf.data.AUTOTUNE


def classification_dataset(
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    augment: ClassifyAugment | None = None,
    shuffle_seed: int | None = None,
) -> tf.data.Dataset:
    """(N, H, W, C) uint8 and (N,) labels -> batches of (float32 0..255 images, int32 labels).

    With ``augment``, each batch is randomly flipped, shifted and colour-jittered; with
    ``shuffle_seed``, the order is reshuffled every epoch.
    """
    ds = tf.data.Dataset.from_tensor_slices((x, y.astype(np.int32)))
    if shuffle_seed is not None:
        ds = ds.shuffle(min(len(x), 50_000), seed=shuffle_seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    ds = ds.map(lambda a, b: (tf.cast(a, tf.float32), b), num_parallel_calls=AUTOTUNE)
    if augment is not None:
        ds = ds.map(_classify_augmenter(augment, x.shape[1:]), num_parallel_calls=AUTOTUNE)
    return ds.prefetch(AUTOTUNE)


def _classify_augmenter(augment: ClassifyAugment, shape: tuple[int, ...]):
    import keras

    steps = []
    if augment.flip:
        steps.append(keras.layers.RandomFlip("horizontal"))
    if augment.shift:
        height, width = shape[:2]
        steps.append(
            keras.layers.RandomTranslation(
                augment.shift / height, augment.shift / width, fill_mode="nearest"
            )
        )
    if augment.color:
        steps.append(keras.layers.RandomBrightness(augment.color, value_range=(0, 255)))
        steps.append(keras.layers.RandomContrast(augment.color))

    def apply(images, labels):
        for step in steps:
            images = step(images, training=True)
        return tf.clip_by_value(images, 0.0, 255.0), labels

    return apply
