"""Classification batches in numpy: a ``keras.utils.PyDataset`` for the non-TF backends.

Under TensorFlow :mod:`edgeimg.train.tasks.classify.pipeline` (``tf.data``) feeds training;
:class:`ClassifyBatches` feeds Keras on JAX or PyTorch (a GPU host without TensorFlow).
"""

from __future__ import annotations

import math

import numpy as np

from edgeimg.train.data.batches import EpochBatches


class ClassifyBatches(EpochBatches):
    """Batches of (float32 images 0..255, int32 labels) from uint8 arrays, for any backend.

    x: (N, H, W, C) uint8. With ``augment`` (an object with ``flip`` and ``shift``, e.g.
    :class:`edgeimg.train.tasks.classify.augment.ClassifyAugment`): reshuffled every epoch, random
    left-right flips and shifts of up to ``shift`` pixels (edge pixels repeat), seeded by
    (seed, epoch). Colour jitter is left to the ``tf.data`` pipeline.
    """

    def __init__(self, x, y, batch_size: int, augment=None, seed: int = 0, workers: int = 2):
        self.x, self.y = x, np.asarray(y, np.int32)
        super().__init__(len(x), batch_size, augment, seed, workers)

    def __len__(self) -> int:
        return math.ceil(len(self.x) / self.batch_size)

    def __getitem__(self, index: int):
        chosen = self.chosen(index)
        images = self.x[chosen]
        if self.augment is not None:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            if self.augment.flip:
                flip = rng.random(len(images)) < 0.5
                images = np.where(flip[:, None, None, None], images[:, :, ::-1], images)
            if self.augment.shift:
                images = _random_shift(images, self.augment.shift, rng)
        return images.astype(np.float32), self.y[chosen]


def _random_shift(images: np.ndarray, shift: int, rng: np.random.Generator) -> np.ndarray:
    """(N, H, W, C) shifted by up to ``shift`` pixels per axis, edge pixels repeated."""
    n, height, width = images.shape[:3]
    padded = np.pad(images, ((0, 0), (shift, shift), (shift, shift), (0, 0)), mode="edge")
    dy, dx = rng.integers(0, 2 * shift + 1, (2, n))
    rows = dy[:, None] + np.arange(height)[None, :]  # (N, H)
    cols = dx[:, None] + np.arange(width)[None, :]  # (N, W)
    return padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]
