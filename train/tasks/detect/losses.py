"""Losses of the centernet detector, in ``keras.ops`` (any Keras backend).

Both return one value per sample, scaled so that Keras' mean over the batch equals the batch
total divided by the number of objects in the batch (CenterNet's normalisation): a frame with
many people weighs more than an empty one, and the scale does not depend on the batch size.
"""

from __future__ import annotations

import keras
from keras import ops

_EPS = 1e-4


@keras.saving.register_keras_serializable(package="edgeimg")
class CenterNetFocalLoss(keras.losses.Loss):
    """Penalty-reduced pixel-wise focal loss (CenterNet, Zhou et al. 2019).

    y_true: (N, h, w, C) Gaussian-splatted centres (1 at a centre). y_pred: (N, h, w, C)
    sigmoid probabilities. alpha focuses on hard cells, beta reduces the penalty near centres.
    """

    def __init__(self, alpha: float = 2.0, beta: float = 4.0, name: str = "centernet_focal", **kw):
        super().__init__(name=name, **kw)
        self.alpha = alpha
        self.beta = beta

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, y_pred.dtype)
        p = ops.clip(y_pred, _EPS, 1.0 - _EPS)
        positive = ops.cast(ops.greater_equal(y_true, 1.0 - 1e-6), p.dtype)
        pos = -ops.log(p) * ops.power(1.0 - p, self.alpha) * positive
        neg = (
            -ops.log(1.0 - p)
            * ops.power(p, self.alpha)
            * ops.power(1.0 - y_true, self.beta)
            * (1.0 - positive)
        )
        per_sample = ops.sum(pos + neg, axis=(1, 2, 3))
        batch = ops.cast(ops.shape(p)[0], p.dtype)
        return per_sample * batch / ops.maximum(ops.sum(positive), 1.0)

    def get_config(self) -> dict:
        return {**super().get_config(), "alpha": self.alpha, "beta": self.beta}


@keras.saving.register_keras_serializable(package="edgeimg")
class LtrbGIoULoss(keras.losses.Loss):
    """1 - GIoU between predicted and target (left, top, right, bottom) distances.

    y_true: (N, h, w, 5) target distances and a weight per cell (each box's weights sum to 1).
    y_pred: (N, h, w, 4) predicted distances. Both boxes share the cell centre as origin.
    """

    def __init__(self, name: str = "ltrb_giou", **kw):
        super().__init__(name=name, **kw)

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, y_pred.dtype)
        target, weight = y_true[..., :4], y_true[..., 4]
        pl, pt, pr, pb = (y_pred[..., i] for i in range(4))
        tl, tt, tr, tb = (target[..., i] for i in range(4))
        inter = (ops.minimum(pl, tl) + ops.minimum(pr, tr)) * (
            ops.minimum(pt, tt) + ops.minimum(pb, tb)
        )
        union = (pl + pr) * (pt + pb) + (tl + tr) * (tt + tb) - inter
        enclose = (ops.maximum(pl, tl) + ops.maximum(pr, tr)) * (
            ops.maximum(pt, tt) + ops.maximum(pb, tb)
        )
        giou = inter / (union + _EPS) - (enclose - union) / (enclose + _EPS)
        per_sample = ops.sum(weight * (1.0 - giou), axis=(1, 2))
        batch = ops.cast(ops.shape(y_pred)[0], y_pred.dtype)
        return per_sample * batch / ops.maximum(ops.sum(weight), 1.0)
