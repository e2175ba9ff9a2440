"""Real-time super-resolution networks on luminance: ESPCN and FSRCNN.

Both take (N, H, W, 1) float32 Y pixels 0..255 of any H and W and return (N, H*s, W*s, 1)
float32 Y 0..255. The /255 normalisation is inside the graph (a ``Rescaling`` layer) and the
output is rescaled by 255 and clipped to 0..255 (a ``ReLU(max_value=255)``), so the exported
model needs no pre- or post-processing beyond taking Y and merging bicubic chroma back.

- ESPCN (Shi et al., CVPR 2016): conv 5x5 ``width``, conv 3x3 ``width/2`` (ReLU by default; the
  paper's tanh is ``activation="tanh"``, it reached 0.5 dB less Set5 x3 PSNR in the same 2,100
  steps here), conv 3x3 ``s*s`` channels, then the sub-pixel shuffle (``PixelShuffle``: ``tf.nn.depth_to_space``,
  which tf2onnx emits as ONNX ``DepthToSpace``, mode DCR). With ``anchor=True`` the input is
  repeated s*s times on channels and added before the shuffle (the nearest-neighbour "anchor"
  of ABPN, Du et al., MAI 2021): the convolutions learn only a residual, which trains much
  faster and costs one Concat and one Add.
- FSRCNN (Dong et al., ECCV 2016): conv 5x5 ``d`` (``width``), shrink 1x1 ``s_``, ``m`` conv 3x3
  ``s_``, expand 1x1 ``d``, each followed by PReLU, then a 9x9 transposed convolution with
  stride ``scale`` (ONNX ``ConvTranspose``). FSRCNN(56, 12, 4) is the paper's, (32, 5, 1) its
  "-s" variant.

``PixelShuffle`` is the only custom layer (registered as ``edgeimg>PixelShuffle``): import this
module before ``keras.models.load_model`` of an ESPCN file.
"""

from __future__ import annotations

from enum import Enum

import keras
from keras import layers

from edgeimg.runtime.errors import EdgeimgError, parse_enum


class Arch(str, Enum):
    ESPCN = "espcn"
    FSRCNN = "fsrcnn"

    @classmethod
    def parse(cls, value: str | Arch) -> Arch:
        return parse_enum(cls, value, "upscale architecture")


SCALES = (2, 3, 4)


@keras.saving.register_keras_serializable(package="edgeimg")
class PixelShuffle(layers.Layer):
    """(N, H, W, C*s*s) -> (N, H*s, W*s, C): ``tf.nn.depth_to_space`` (DCR order)."""

    def __init__(self, scale: int, **kwargs):
        super().__init__(**kwargs)
        self.scale = int(scale)

    def call(self, inputs):
        import tensorflow as tf

        return tf.nn.depth_to_space(inputs, self.scale)

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        s = self.scale
        return (n, None if h is None else h * s, None if w is None else w * s, c // (s * s))

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


def _check(scale: int, width: int) -> None:
    if scale not in SCALES:
        raise EdgeimgError(f"upscale factor: expected one of {SCALES}, got {scale}")
    if width < 2:
        raise EdgeimgError(f"width: expected >= 2 filters, got {width}")


def build_espcn(
    scale: int, width: int = 64, activation: str = "relu", anchor: bool = True, channels: int = 1
) -> keras.Model:
    """ESPCN: conv5x5(width) - conv3x3(width/2) - conv3x3(s*s*C) - PixelShuffle(s).

    Input (N, H, W, C) 0..255, output (N, H*s, W*s, C) 0..255. ``width=64`` is the paper's.
    """
    _check(scale, width)
    inputs = keras.Input((None, None, channels), name="lr")
    x = layers.Rescaling(1.0 / 255.0, name="normalise")(inputs)
    x = layers.Conv2D(width, 5, padding="same", activation=activation, name="feature")(x)
    x = layers.Conv2D(max(1, width // 2), 3, padding="same", activation=activation, name="map")(x)
    x = layers.Conv2D(scale * scale * channels, 3, padding="same", name="subpixel")(x)
    if anchor:  # depth_to_space's block-major channel order: s*s copies of the C channels
        nearest = layers.Concatenate(name="anchor")([inputs] * (scale * scale))
        x = layers.Rescaling(255.0, name="denormalise")(x)
        x = layers.Add(name="residual")([x, nearest])
    else:
        x = layers.Rescaling(255.0, name="denormalise")(x)
    x = PixelShuffle(scale, name="shuffle")(x)
    outputs = layers.ReLU(max_value=255.0, name="hr")(x)
    return keras.Model(inputs, outputs, name=f"espcn_x{scale}_w{width}")


def build_fsrcnn(
    scale: int, width: int = 56, shrink: int = 12, mapping: int = 4, channels: int = 1
) -> keras.Model:
    """FSRCNN(d=width, s=shrink, m=mapping): PReLU convs then a 9x9 stride-``scale`` deconv."""
    _check(scale, width)
    if shrink < 1 or mapping < 0:
        raise EdgeimgError(f"FSRCNN: expected shrink >= 1, mapping >= 0, got {shrink}, {mapping}")
    inputs = keras.Input((None, None, channels), name="lr")
    x = layers.Rescaling(1.0 / 255.0, name="normalise")(inputs)

    def conv(x, filters, size, name):
        x = layers.Conv2D(filters, size, padding="same", name=name)(x)
        return layers.PReLU(shared_axes=[1, 2], name=f"{name}_prelu")(x)

    x = conv(x, width, 5, "feature")
    x = conv(x, shrink, 1, "shrink")
    for i in range(mapping):
        x = conv(x, shrink, 3, f"map{i + 1}")
    x = conv(x, width, 1, "expand")
    init = keras.initializers.RandomNormal(stddev=0.001)
    x = layers.Conv2DTranspose(
        channels, 9, strides=scale, padding="same", kernel_initializer=init, name="deconv"
    )(x)
    x = layers.Rescaling(255.0, name="denormalise")(x)
    outputs = layers.ReLU(max_value=255.0, name="hr")(x)
    return keras.Model(inputs, outputs, name=f"fsrcnn_x{scale}_d{width}_s{shrink}_m{mapping}")


def build_upscaler(arch: str | Arch, scale: int, width: int | None = None, **kwargs) -> keras.Model:
    """ESPCN or FSRCNN at ``scale`` with ``width`` filters in the first layer (None: paper's)."""
    arch = Arch.parse(arch)
    if arch is Arch.ESPCN:
        return build_espcn(scale, width or 64, **kwargs)
    return build_fsrcnn(scale, width or 56, **kwargs)
