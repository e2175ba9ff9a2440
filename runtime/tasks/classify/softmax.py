"""Decoder for classifiers, contract decoder ``softmax``: ``probs`` (1, C) -> top-k classes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edgeimg.runtime.contract import ModelContract
from edgeimg.runtime.decoder import (
    Decoder,
    DecoderError,
    Shape,
    format_shape,
)
from edgeimg.runtime.errors import typed_params
from edgeimg.runtime.preprocess import Transform
from edgeimg.runtime.tasks.classify.scores import ClassScores


@dataclass(frozen=True)
class SoftmaxConfig:
    """decoder_params of a classifier: how many of the best classes to return."""

    top_k: int = 5

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "top_k", int(self.top_k))
        except (TypeError, ValueError, OverflowError):
            raise DecoderError(
                f"decoder softmax: top_k expected an integer, got {self.top_k!r}"
            ) from None
        if self.top_k < 1:
            raise DecoderError(f"decoder softmax: top_k expected >= 1, got {self.top_k}")


def top_k(probs: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(C,) probabilities -> (class_ids (k,) int64, probs (k,) float32), most probable first.

    Ties keep the lower class id first.
    """
    probs = np.asarray(probs, dtype=np.float32).reshape(-1)
    k = min(k, len(probs))
    order = np.argsort(-probs, kind="stable")[:k]
    return order.astype(np.int64), probs[order]


class SoftmaxDecoder(Decoder):
    """``probs`` (1, C) -> :class:`ClassScores` of the ``top_k`` most probable classes."""

    name = "softmax"
    default_output_names = ("probs",)

    def __init__(self, config: SoftmaxConfig, num_classes: int) -> None:
        self.config = config
        self.num_classes = num_classes

    @classmethod
    def from_contract(cls, contract: ModelContract) -> SoftmaxDecoder:
        config = typed_params(
            SoftmaxConfig, contract.decoder_params, f"decoder {cls.name}", DecoderError
        )
        return cls(config, len(contract.class_names))

    def check_output_shapes(self, shapes: Sequence[Shape]) -> None:
        self.check_ranks(shapes, (2,))
        got = shapes[0][1]
        if got is not None and got != self.num_classes:
            raise DecoderError(
                f"decoder softmax: output probs expected {self.num_classes} classes "
                f"(class_names), got shape {format_shape(shapes[0])}"
            )

    def __call__(self, outputs: Sequence[np.ndarray], transform: Transform) -> ClassScores:
        return ClassScores(*top_k(outputs[0][0], self.config.top_k))
