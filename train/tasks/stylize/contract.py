"""The contract a stylizer carries in its ``.keras`` file (and, after export, in its ONNX)."""

from __future__ import annotations

from edgeimg import __version__
from edgeimg.runtime.contract import ColorOrder, ModelContract, ResizeMode
from edgeimg.train.tasks.stylize.models import MULTIPLE


def stylize_contract(style: str, loss_net: str, loss_seed: int) -> ModelContract:
    """RGB 0..255 in (normalised in the graph), any height and width that are multiples of 8
    (the runtime pads), decoder ``image``, output ``stylized``; ``task_params`` name the style
    and the loss network the model was trained and is judged with."""
    return ModelContract(
        task="stylize",
        input_size=None,
        channels=3,
        color_order=ColorOrder.RGB,
        mean=(0.0, 0.0, 0.0),
        std=(1.0, 1.0, 1.0),
        resize=ResizeMode.NONE,
        decoder="image",
        output_names=("stylized",),
        task_params={
            "style": style,
            "multiple": MULTIPLE,
            "loss_net": loss_net,
            "loss_seed": int(loss_seed),
        },
        edgeimg_version=__version__,
    )
