"""edgeimg's single-shot, anchor-free detector: the "centernet" family of the model contract.

Designed together with the runtime it runs on:
- only plain 3x3 / 1x1 ``Conv2D`` + ``BatchNormalization`` + ``ReLU``, stride-2 convolutions
  for downsampling, nearest ``UpSampling2D`` and ``Add`` for the top-down fusion: every layer
  converts with tf2onnx, runs in OpenCV's dnn, and fuses to Conv+Relu. No depthwise
  convolutions: onnxruntime's INT8 (QDQ) kernels were measured slower than FP32 on
  depthwise-heavy nets and faster on plain convolutions;
- channel counts are multiples of 8 (vector width on CPUs, tensor cores on a Jetson);
- decoding (peak extraction) and NMS stay outside the graph, in the runtime's decoder.

Input ``image``: (N, H, W, 3) float32 RGB 0..255 (H, W multiples of 32), normalised inside by a
``Rescaling`` layer. Outputs, NHWC at stride s (4 by default):
``heatmap`` (N, H/s, W/s, C) sigmoid centre probabilities per class, and
``boxes`` (N, H/s, W/s, 4) non-negative (left, top, right, bottom) distances from the cell
centre ((x + 0.5) * s, (y + 0.5) * s) to the box edges, in units of the stride.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import keras
from keras import layers

from edgeimg.runtime.errors import EdgeimgError

# Backbone: (channels, convolutions) per stage after the stem; each stage starts with a
# stride-2 conv. Stage outputs are at strides 4, 8, 16, 32.
_STAGES = ((32, 2), (64, 3), (96, 3), (128, 2))
# Name prefixes of the backbone's layers (stem and stages): what --freeze-backbone freezes.
BACKBONE_PREFIXES = ("stem", *(f"c{index + 2}_" for index in range(len(_STAGES))))


@dataclass(frozen=True)
class DetectorConfig:
    """Shape of a centernet detector.

    input_size: (height, width), multiples of 32. num_classes: heatmap channels.
    width: channel multiplier (1.0 = about 0.6 GMAC at 288x384). stride: output stride, 4 or 8.
    heatmap_prior: initial probability of the heatmap (bias = logit of it; CenterNet's 0.1).
    """

    input_size: tuple[int, int] = (288, 384)
    num_classes: int = 1
    width: float = 1.0
    stride: int = 4
    heatmap_prior: float = 0.1

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_size", tuple(int(v) for v in self.input_size))
        height, width = self.input_size
        if height <= 0 or width <= 0 or height % 32 or width % 32:
            raise EdgeimgError(
                f"detector input size: expected height and width multiples of 32, "
                f"got {height}x{width}"
            )
        if self.num_classes < 1:
            raise EdgeimgError(f"detector classes: expected at least 1, got {self.num_classes}")
        if self.stride not in (4, 8):
            raise EdgeimgError(f"detector stride: expected 4 or 8, got {self.stride}")
        if self.width <= 0:
            raise EdgeimgError(f"width multiplier: expected > 0, got {self.width}")
        if not 0 < self.heatmap_prior < 1:
            raise EdgeimgError(f"heatmap prior: expected 0 < p < 1, got {self.heatmap_prior}")

    @property
    def output_size(self) -> tuple[int, int]:
        return self.input_size[0] // self.stride, self.input_size[1] // self.stride


def _channels(base: int, width: float) -> int:
    return max(8, int(base * width + 4) // 8 * 8)


def _conv(x, channels: int, kernel: int, stride: int, name: str):
    x = layers.Conv2D(channels, kernel, stride, padding="same", use_bias=False, name=name)(x)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def build_detector(config: DetectorConfig, any_size: bool = False) -> keras.Model:
    """The centernet detector of ``config`` (uncompiled); see the module docstring.

    any_size: accept any input height and width that are multiples of 32 (for training on
    crops and validating on whole frames with the same weights); the exported model has the
    fixed ``config.input_size``.
    """
    w = config.width
    shape = (None, None, 3) if any_size else (*config.input_size, 3)
    inputs = keras.Input(shape, name="image")
    x = layers.Rescaling(1.0 / 255.0, name="rescale")(inputs)
    x = _conv(x, _channels(16, w), 3, 2, "stem")  # stride 2
    features = []
    for index, (base, repeats) in enumerate(_STAGES):
        channels = _channels(base, w)
        x = _conv(x, channels, 3, 2, f"c{index + 2}_down")
        for r in range(1, repeats):
            x = _conv(x, channels, 3, 1, f"c{index + 2}_conv{r}")
        features.append(x)  # strides 4, 8, 16, 32
    # Top-down fusion: 1x1 laterals, nearest upsampling, add, 3x3 smoothing, down to the output
    # stride (the 4-stride level is narrower: it is where most of the cost lies).
    neck = _channels(64, w)
    levels = {4: 0, 8: 1}
    y = _conv(features[-1], neck, 1, 1, "p5_lateral")
    for level in range(len(features) - 2, levels[config.stride] - 1, -1):
        stride = 4 * 2**level
        channels = _channels(32, w) if stride == 4 else neck
        if y.shape[-1] != channels:
            y = _conv(y, channels, 1, 1, f"p{level + 2}_reduce")
        y = layers.UpSampling2D(2, interpolation="nearest", name=f"p{level + 2}_up")(y)
        lateral = _conv(features[level], channels, 1, 1, f"p{level + 2}_lateral")
        y = layers.Add(name=f"p{level + 2}_add")([y, lateral])
        y = _conv(y, channels, 3, 1, f"p{level + 2}_smooth")
    head = _channels(32, w)
    bias = -math.log((1 - config.heatmap_prior) / config.heatmap_prior)
    h = _conv(y, head, 3, 1, "heatmap_conv")
    heatmap = layers.Conv2D(
        config.num_classes,
        1,
        activation="sigmoid",
        bias_initializer=keras.initializers.Constant(bias),
        name="heatmap",
    )(h)
    b = _conv(y, head, 3, 1, "boxes_conv")
    boxes = layers.Conv2D(
        4, 1, bias_initializer=keras.initializers.Constant(1.0), name="boxes_linear"
    )(b)
    boxes = layers.ReLU(name="boxes")(boxes)
    return keras.Model(inputs, {"heatmap": heatmap, "boxes": boxes}, name="centernet")


def count_macs(model: keras.Model) -> int:
    """Multiply-accumulates of one forward pass (batch 1): conv, depthwise and dense layers."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, layers.DepthwiseConv2D):
            _, h, w, c = layer.output.shape
            total += h * w * c * math.prod(layer.kernel_size)
        elif isinstance(layer, layers.Conv2D):
            _, h, w, c = layer.output.shape
            total += h * w * c * math.prod(layer.kernel_size) * layer.input.shape[-1]
        elif isinstance(layer, layers.Dense):
            total += layer.input.shape[-1] * layer.units
    return int(total)
