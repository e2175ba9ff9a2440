"""The contract a detector carries in its ``.keras`` file (and, after export, in its ONNX)."""

from __future__ import annotations

from edgeimg import __version__
from edgeimg.runtime.contract import ColorOrder, ModelContract, ResizeMode

# The runtime's centernet defaults: a low score threshold so ByteTrack sees low-score boxes.
CENTERNET_PARAMS = {
    "score_threshold": 0.1,
    "nms_iou": 0.6,
    "max_detections": 100,
    "peak_kernel": 3,
}


def detector_contract(
    class_names: tuple[str, ...], input_size: tuple[int, int], stride: int
) -> ModelContract:
    """Detect contract of the centernet family: RGB 0..255, letterbox pad 114, NHWC."""
    return ModelContract(
        task="detect",
        class_names=class_names,
        input_size=input_size,
        channels=3,
        color_order=ColorOrder.RGB,
        resize=ResizeMode.LETTERBOX,
        pad_value=114,
        decoder="centernet",
        decoder_params={"stride": stride, **CENTERNET_PARAMS},
        output_names=("heatmap", "boxes"),
        edgeimg_version=__version__,
    )
