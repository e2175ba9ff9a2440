"""Image classifiers: the classic CIFAR-10 CNN and two edge-friendly depthwise nets.

All take (N, H, W, C) float32 pixels 0..255 (RGB, or one gray channel) and normalise inside the
graph (a ``Rescaling`` layer), so the exported model needs no preprocessing beyond resize. The
output is named ``probs``: (N, num_classes) softmax probabilities. Only built-in Keras layers,
so the ``.keras`` files load with ``safe_mode`` and every layer converts with tf2onnx.
"""

from __future__ import annotations

import logging
from enum import Enum

import keras
from keras import layers

from edgeimg.runtime.errors import EdgeimgError, parse_enum

log = logging.getLogger(__name__)


class Arch(str, Enum):
    CIFAR_CNN = "cifar_cnn"  # Conv32-Pool-Conv64-Pool-Conv64-Dense64 (the Keras/TF tutorial CNN)
    MOBILENET = "mobilenet"  # MobileNetV2-style inverted residuals with a width multiplier
    EDGENET = "edgenet"  # stride-2 stem + 5 depthwise-separable blocks: fastest per accuracy

    @classmethod
    def parse(cls, value: str | Arch) -> Arch:
        return parse_enum(cls, value, "architecture")


def build_classifier(
    arch: str | Arch,
    input_shape: tuple[int, int, int],
    num_classes: int,
    width: float = 1.0,
) -> keras.Model:
    """A classifier for (H, W, C) inputs with ``num_classes`` outputs.

    width scales every layer's channel count (1.0 = the architecture's standard size).
    """
    arch = Arch.parse(arch)
    height, width_px, channels = (int(v) for v in input_shape)
    if min(height, width_px) < 8 or channels not in (1, 3):
        raise EdgeimgError(
            f"classifier input: expected (H, W, C) with H, W >= 8 and C in (1, 3), "
            f"got {tuple(input_shape)}"
        )
    if num_classes < 2:
        raise EdgeimgError(f"classifier: expected at least 2 classes, got {num_classes}")
    if width <= 0:
        raise EdgeimgError(f"width multiplier: expected > 0, got {width}")
    inputs = keras.Input((height, width_px, channels), name="image")
    x = layers.Rescaling(1.0 / 255.0, name="rescale")(inputs)
    if arch is Arch.CIFAR_CNN:
        x = _cifar_cnn(x, min(height, width_px), width)
    elif arch is Arch.EDGENET:
        x = _edgenet(x, min(height, width_px), width)
    else:
        x = _mobilenet(x, min(height, width_px), width)
    outputs = layers.Dense(num_classes, activation="softmax", name="probs")(x)
    return keras.Model(inputs, outputs, name=f"{arch.value}_{num_classes}")


def _channels(base: int, width: float) -> int:
    """``base * width`` rounded to a multiple of 8 (at least 8): fast on every backend."""
    return max(8, int(base * width + 4) // 8 * 8)


def _cifar_cnn(x, size: int, width: float):
    """Conv 32 3x3 ReLU, MaxPool, Conv 64 3x3 ReLU, MaxPool, Conv 64 3x3 ReLU, Flatten, Dense 64.

    Valid padding as in the original; inputs smaller than 18 px would shrink to nothing, so
    they get 'same' padding instead.
    """
    padding = "valid" if size >= 18 else "same"
    if padding == "same":
        log.info("cifar_cnn: input %d px < 18, using 'same' padding", size)
    c32, c64 = _channels(32, width), _channels(64, width)
    x = layers.Conv2D(c32, 3, padding=padding, activation="relu", name="conv1")(x)
    x = layers.MaxPooling2D(2, name="pool1")(x)
    x = layers.Conv2D(c64, 3, padding=padding, activation="relu", name="conv2")(x)
    x = layers.MaxPooling2D(2, name="pool2")(x)
    x = layers.Conv2D(c64, 3, padding=padding, activation="relu", name="conv3")(x)
    x = layers.Flatten(name="flatten")(x)
    return layers.Dense(c64, activation="relu", name="fc")(x)


# (expansion, channels, repeats, stride) per stage, MobileNetV2's table cut for small inputs.
_MOBILENET_STAGES = ((1, 16, 1, 1), (4, 24, 2, 2), (4, 32, 2, 2), (4, 64, 2, 2), (4, 96, 1, 1))


def _mobilenet(x, size: int, width: float):
    """Stem conv, inverted residual stages, 1x1 conv, global average pool, dropout.

    The stem strides by 2 only for inputs of 64 px or more, and stages stop striding once the
    feature map would fall below 4 px, so 28x28 and 224x224 inputs both work.
    """
    stem_stride = 2 if size >= 64 else 1
    x = _conv_bn(x, _channels(16, width), 3, stem_stride, "stem")
    size //= stem_stride
    in_channels = _channels(16, width)
    for stage, (expansion, base, repeats, stride) in enumerate(_MOBILENET_STAGES):
        out_channels = _channels(base, width)
        for block in range(repeats):
            s = stride if block == 0 and size // stride >= 4 else 1
            size //= s
            x = _inverted_residual(x, in_channels, out_channels, expansion, s, f"s{stage}b{block}")
            in_channels = out_channels
    x = _conv_bn(x, _channels(256, width), 1, 1, "head")
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    return layers.Dropout(0.2, name="dropout")(x)


# (channels, stride) per depthwise-separable block of edgenet, after a 24-channel stride-2 stem.
_EDGENET_STEM = 24
_EDGENET_BLOCKS = ((32, 1), (64, 2), (64, 1), (128, 2), (128, 1))


def _edgenet(x, size: int, width: float):
    """Stride-2 stem, five depthwise-separable blocks, global average pool.

    Built for latency at small inputs (28..64 px), where a CPU spends its time on
    full-resolution layers and on per-node overhead: the stem halves the resolution at once,
    so the blocks run at 1/2, 1/4 and 1/8 of the input (28x28: 14, 7, 4); every block is a
    3x3 depthwise conv and a 1x1 conv, each followed by BN (folded at export) and plain ReLU
    (fused into the conv by onnxruntime). Strides stop once the map would fall below 4 px.
    """
    x = _conv_bn(x, _channels(_EDGENET_STEM, width), 3, 2, "stem", max_value=None)
    size = -(-size // 2)  # 'same' padding rounds up; inputs are at least 8 px
    for block, (base, stride) in enumerate(_EDGENET_BLOCKS):
        s = stride if -(-size // stride) >= 4 else 1
        size = -(-size // s)
        x = _separable(x, _channels(base, width), s, f"b{block}")
    return layers.GlobalAveragePooling2D(name="pool")(x)


def _separable(x, out_c: int, stride: int, name: str):
    """3x3 depthwise, BN, ReLU, 1x1 conv, BN, ReLU (MobileNetV1's block)."""
    x = layers.DepthwiseConv2D(3, stride, padding="same", use_bias=False, name=f"{name}_dw")(x)
    x = layers.BatchNormalization(name=f"{name}_dw_bn")(x)
    x = layers.ReLU(name=f"{name}_dw_relu")(x)
    return _conv_bn(x, out_c, 1, 1, f"{name}_pw", max_value=None)


def _conv_bn(
    x,
    channels: int,
    kernel: int,
    stride: int,
    name: str,
    relu: bool = True,
    max_value: float | None = 6.0,
):
    x = layers.Conv2D(channels, kernel, stride, padding="same", use_bias=False, name=name)(x)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.ReLU(max_value, name=f"{name}_relu")(x) if relu else x


def _inverted_residual(x, in_c: int, out_c: int, expansion: int, stride: int, name: str):
    """1x1 expand, 3x3 depthwise, 1x1 linear projection; a skip when shapes allow."""
    y = x
    if expansion != 1:
        y = _conv_bn(y, in_c * expansion, 1, 1, f"{name}_expand")
    y = layers.DepthwiseConv2D(3, stride, padding="same", use_bias=False, name=f"{name}_dw")(y)
    y = layers.BatchNormalization(name=f"{name}_dw_bn")(y)
    y = layers.ReLU(6.0, name=f"{name}_dw_relu")(y)
    y = _conv_bn(y, out_c, 1, 1, f"{name}_project", relu=False)
    if stride == 1 and in_c == out_c:
        y = layers.Add(name=f"{name}_add")([x, y])
    return y
