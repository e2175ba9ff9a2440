"""Epoch bookkeeping for ``keras.utils.PyDataset`` batch sequences (any Keras backend).

The tasks' numpy batch sequences (detect's :class:`DetectionBatches`, classify's
:class:`ClassifyBatches`) feed ``model.fit`` on JAX or PyTorch, where there is no ``tf.data``.
:class:`EpochBatches` gives them a seeded order per epoch, so a run repeats.
"""

from __future__ import annotations

import keras
import numpy as np


class EpochBatches(keras.utils.PyDataset):
    """Index bookkeeping shared by the batch sequences: with augmentation, a new order every
    epoch from (seed, epoch), so runs repeat; without, the items in order.

    count: items; augment: None for evaluation order (anything else reshuffles per epoch).
    Subclasses implement ``__len__`` and ``__getitem__`` with :meth:`chosen`.
    """

    def __init__(self, count: int, batch_size: int, augment, seed: int, workers: int) -> None:
        super().__init__(workers=workers, use_multiprocessing=False)
        self.count = count
        self.batch_size = batch_size
        self.augment = augment
        self.seed = seed
        self.epoch = 0
        self.order = self._order()

    def _order(self) -> np.ndarray:
        if self.augment is None:
            return np.arange(self.count)
        return np.random.default_rng([self.seed, self.epoch]).permutation(self.count)

    def chosen(self, index: int) -> np.ndarray:
        """The item indices of batch ``index`` in this epoch's order."""
        return self.order[index * self.batch_size : (index + 1) * self.batch_size]

    def on_epoch_end(self) -> None:
        self.epoch += 1
        self.order = self._order()
