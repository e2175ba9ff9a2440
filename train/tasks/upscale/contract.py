"""The contract an upscaler carries in its ``.keras`` file (and, after export, in its ONNX)."""

from __future__ import annotations

from pathlib import Path

from edgeimg import __version__
from edgeimg.runtime.contract import ColorOrder, ModelContract, ResizeMode


def upscale_contract(scale: int, channels: int = 1) -> ModelContract:
    """Upscale contract: one float32 channel, BT.601 luminance Y 0..255 (normalised in the
    graph), any height and width (``resize: none``), decoder ``ycbcr``, output ``hr``; with
    ``channels=3`` the frame in RGB 0..255 and decoder ``rgb``."""
    colour = channels == 3
    return ModelContract(
        task="upscale",
        input_size=None,
        channels=channels,
        color_order=ColorOrder.RGB if colour else ColorOrder.GRAY,
        mean=(0.0,) * channels,
        std=(1.0,) * channels,
        resize=ResizeMode.NONE,
        decoder="rgb" if colour else "ycbcr",
        output_names=("hr",),
        task_params={"scale": int(scale)},
        edgeimg_version=__version__,
    )


def attach_upscale_contract(keras_path: str | Path, scale: int) -> ModelContract:
    """Write the upscale contract into a saved ``.keras`` file (e.g. one trained before
    ``train_upscale`` attached it); returns the contract."""
    from edgeimg.export.keras_file import attach_contract

    contract = upscale_contract(scale)
    attach_contract(keras_path, contract)
    return contract
