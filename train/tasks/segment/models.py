"""``edgenet_seg``: a small encoder-decoder for semantic segmentation on the edge.

Encoder: a stride-2 3x3 stem, then depthwise-separable residual blocks, each stage opened by a
stride-2 depthwise convolution, down to 1/16 of the input; a global-context gate (average pool
-> 1x1 conv -> sigmoid, multiplied in) at the bottom. Decoder: bilinear x2 upsampling + a 1x1
projection of the encoder's skip at 1/8 and 1/4 (added), a separable block each, a 1x1
classifier at 1/4 and a bilinear x4 resize to the input size. Output ``logits`` (N, H, W, C).

Every op is Conv, depthwise Conv, BatchNorm (folded on export), ReLU, Add, Mul, Sigmoid,
ReduceMean and Resize (bilinear): what tf2onnx, onnxruntime (INT8 too) and OpenCV dnn run.
Pixels enter as 0..255 RGB and are scaled in the graph. Input height and width must be
multiples of 16.
"""

from __future__ import annotations

import keras
from keras import layers

STRIDE = 16
STAGES = ((32, 2), (64, 3), (128, 4))  # channels, blocks at 1/4, 1/8, 1/16


def _channels(channels: int, width: float) -> int:
    return max(8, round(channels * width / 8) * 8)


def _conv_bn(x, channels: int, kernel: int, stride: int, name: str, relu: bool = True):
    x = layers.Conv2D(
        channels, kernel, strides=stride, padding="same", use_bias=False, name=f"{name}_conv"
    )(x)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x) if relu else x


def _separable(x, channels: int, stride: int, name: str, kernel: int = 3):
    """Depthwise kxk (stride) + BN + ReLU, pointwise 1x1 + BN, residual when shapes allow."""
    shortcut = x
    y = layers.DepthwiseConv2D(
        kernel, strides=stride, padding="same", use_bias=False, name=f"{name}_dw"
    )(x)
    y = layers.BatchNormalization(name=f"{name}_dw_bn")(y)
    y = layers.ReLU(name=f"{name}_dw_relu")(y)
    y = layers.Conv2D(channels, 1, use_bias=False, name=f"{name}_pw")(y)
    y = layers.BatchNormalization(name=f"{name}_pw_bn")(y)
    if stride == 1 and shortcut.shape[-1] == channels:
        y = layers.Add(name=f"{name}_add")([y, shortcut])
    return layers.ReLU(name=f"{name}_relu")(y)


def build_segmenter(
    num_classes: int,
    input_hw: tuple[int | None, int | None] = (None, None),
    width: float = 1.0,
) -> keras.Model:
    """The ``edgenet_seg`` model; ``input_hw`` (None, None) for training on crops of any size
    (multiples of 16), a fixed size for the exported model."""
    inputs = keras.Input((*input_hw, 3), name="image")
    x = layers.Rescaling(1.0 / 255.0, name="scale")(inputs)
    x = _conv_bn(x, _channels(16, width), 3, 2, "stem")  # 1/2
    skips = []
    for stage, (channels, blocks) in enumerate(STAGES, start=1):
        c = _channels(channels, width)
        kernel = 5 if stage == len(STAGES) else 3
        for block in range(blocks):
            x = _separable(x, c, 2 if block == 0 else 1, f"s{stage}b{block}", kernel)
        skips.append(x)
    # global context: scale every channel by a gate from the whole frame
    c = x.shape[-1]
    gate = layers.GlobalAveragePooling2D(keepdims=True, name="context_pool")(x)
    gate = layers.Conv2D(c, 1, activation="sigmoid", name="context_gate")(gate)
    x = layers.Multiply(name="context_mul")([x, gate])
    for level, skip in zip((2, 1), (skips[1], skips[0]), strict=True):
        c = skip.shape[-1]
        x = layers.UpSampling2D(2, interpolation="bilinear", name=f"up{level}")(x)
        x = _conv_bn(x, c, 1, 1, f"up{level}_proj", relu=False)
        s = _conv_bn(skip, c, 1, 1, f"skip{level}_proj", relu=False)
        x = layers.Add(name=f"up{level}_add")([x, s])
        x = layers.ReLU(name=f"up{level}_relu")(x)
        x = _separable(x, c, 1, f"dec{level}")
    x = layers.Conv2D(num_classes, 1, name="classifier")(x)  # 1/4
    logits = layers.UpSampling2D(4, interpolation="bilinear", name="logits")(x)
    return keras.Model(inputs, logits, name="edgenet_seg")
