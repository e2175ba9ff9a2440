"""The contract a segmentation model carries in its ``.keras`` file (and, after export, ONNX)."""

from __future__ import annotations

from edgeimg import __version__
from edgeimg.runtime.contract import ColorOrder, ModelContract, ResizeMode


def segmenter_contract(
    class_names: tuple[str, ...],
    palette: tuple[tuple[int, int, int], ...],
    input_hw: tuple[int, int],
    alpha: float = 0.5,
) -> ModelContract:
    """Segment contract: RGB 0..255 (scaled in the graph), letterbox pad 114, NHWC, ``argmax``
    over a ``logits`` (1, H, W, C) output; class colours in ``task_params``."""
    return ModelContract(
        task="segment",
        class_names=class_names,
        input_size=input_hw,
        channels=3,
        color_order=ColorOrder.RGB,
        resize=ResizeMode.LETTERBOX,
        pad_value=114,
        decoder="argmax",
        output_names=("logits",),
        task_params={"palette": [list(c) for c in palette], "alpha": alpha},
        edgeimg_version=__version__,
    )
