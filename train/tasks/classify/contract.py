"""The contract a classifier carries in its ``.keras`` file (and, after export, in its ONNX)."""

from __future__ import annotations

from edgeimg import __version__
from edgeimg.runtime.contract import ColorOrder, ModelContract, ResizeMode


def classifier_contract(
    class_names: tuple[str, ...], input_shape: tuple[int, int, int]
) -> ModelContract:
    """Classify contract: pixels 0..255 (normalised in the graph), stretch resize, softmax."""
    height, width, channels = input_shape
    return ModelContract(
        task="classify",
        class_names=class_names,
        input_size=(height, width),
        channels=channels,
        color_order=ColorOrder.GRAY if channels == 1 else ColorOrder.RGB,
        mean=(0.0,) * channels,
        std=(1.0,) * channels,
        resize=ResizeMode.STRETCH,
        decoder="softmax",
        decoder_params={"top_k": min(5, len(class_names))},
        output_names=("probs",),
        edgeimg_version=__version__,
    )
