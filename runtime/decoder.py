"""What every decoder shares: checking a model's outputs against what the decoder reads."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from edgeimg.runtime.contract import ModelContract
from edgeimg.runtime.errors import EdgeimgError
from edgeimg.runtime.preprocess import Transform

Shape = tuple[int | None, ...]


class DecoderError(EdgeimgError):
    """A model's outputs do not match what its decoder reads."""


# (field name, conversion, what it must be) of a decoder's frozen config dataclass
Conversion = tuple[str, Callable[[Any], object], str]


def convert_fields(config: object, conversions: Sequence[Conversion], decoder: str) -> None:
    """Convert each named field of the frozen dataclass ``config`` in place, or raise a
    one-line DecoderError naming the field: ``decoder yolo: bad decoder_params: nms_iou
    expected a number, got 'x'`` (OverflowError too: ``int(inf)``)."""
    for name, convert, kind in conversions:
        value = getattr(config, name)
        try:
            object.__setattr__(config, name, convert(value))
        except (TypeError, ValueError, OverflowError):
            raise DecoderError(
                f"decoder {decoder}: bad decoder_params: {name} expected {kind}, got {value!r}"
            ) from None


def format_shape(shape: Sequence[int | None]) -> str:
    return "(" + ", ".join("?" if d is None else str(d) for d in shape) + ")"


class Decoder(ABC):
    """Turns a model's raw outputs (a batch of one) into a result, in source-image pixels.

    ``default_output_names`` are the ONNX output names read when the contract lists none;
    ``check_output_shapes`` refuses outputs that do not fit the decoder and the contract.
    """

    name: str
    default_output_names: tuple[str, ...]

    @classmethod
    @abstractmethod
    def from_contract(cls, contract: ModelContract) -> Decoder:
        """The decoder configured by ``contract.decoder_params``."""

    @abstractmethod
    def check_output_shapes(self, shapes: Sequence[Shape]) -> None:
        """Raise DecoderError naming expected vs actual unless ``shapes`` fit (None: dynamic)."""

    @abstractmethod
    def __call__(self, outputs: Sequence[np.ndarray], transform: Transform) -> Any:
        """outputs: the model's arrays in ``output_names`` order, batch of one."""

    def check_ranks(self, shapes: Sequence[Shape], ranks: Sequence[int]) -> None:
        names = self.default_output_names
        if len(shapes) != len(ranks):
            raise DecoderError(
                f"decoder {self.name}: expected {len(ranks)} outputs ({', '.join(names)}), "
                f"got {len(shapes)}"
            )
        for name, shape, rank in zip(names, shapes, ranks, strict=True):
            if len(shape) != rank:
                raise DecoderError(
                    f"decoder {self.name}: output {name} expected rank {rank}, "
                    f"got shape {format_shape(shape)}"
                )
