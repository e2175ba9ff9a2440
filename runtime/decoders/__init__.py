"""Decoders: a model family's raw outputs -> results in source-image pixels, chosen by name.

The contract's ``decoder`` names one: ``centernet`` (edgeimg detectors -> ``Detections``) or
``softmax`` (classifiers -> top-k class ids and probabilities).
"""

from __future__ import annotations

from edgeimg.runtime.contract import ModelContract
from edgeimg.runtime.decoders.base import Decoder, DecoderError
from edgeimg.runtime.decoders.centernet import CenterNetConfig, CenterNetDecoder
from edgeimg.runtime.decoders.softmax import SoftmaxConfig, SoftmaxDecoder

DECODERS: dict[str, type[Decoder]] = {
    CenterNetDecoder.name: CenterNetDecoder,
    SoftmaxDecoder.name: SoftmaxDecoder,
}


def create_decoder(contract: ModelContract) -> Decoder:
    """The decoder the contract names, configured by its decoder_params."""
    try:
        decoder_type = DECODERS[contract.decoder]
    except KeyError:
        valid = ", ".join(sorted(DECODERS))
        raise DecoderError(
            f"contract decoder: expected one of {valid}, got {contract.decoder!r}"
        ) from None
    return decoder_type.from_contract(contract)


__all__ = [
    "DECODERS",
    "CenterNetConfig",
    "CenterNetDecoder",
    "Decoder",
    "DecoderError",
    "SoftmaxConfig",
    "SoftmaxDecoder",
    "create_decoder",
]
