"""The model contracts that training writes into its ``.keras`` files (and export into ONNX)."""

from __future__ import annotations

from edgeimg import __version__
from edgeimg.runtime.contract import ColorOrder, ModelContract, ResizeMode, Task

# The runtime's centernet defaults: a low score threshold so ByteTrack sees low-score boxes.
CENTERNET_PARAMS = {
    "score_threshold": 0.1,
    "nms_iou": 0.6,
    "max_detections": 100,
    "peak_kernel": 3,
}


def classifier_contract(
    class_names: tuple[str, ...], input_shape: tuple[int, int, int]
) -> ModelContract:
    """Classify contract: pixels 0..255 (normalised in the graph), stretch resize, softmax."""
    height, width, channels = input_shape
    return ModelContract(
        task=Task.CLASSIFY,
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


def detector_contract(
    class_names: tuple[str, ...], input_size: tuple[int, int], stride: int
) -> ModelContract:
    """Detect contract of the centernet family: RGB 0..255, letterbox pad 114, NHWC."""
    return ModelContract(
        task=Task.DETECT,
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
