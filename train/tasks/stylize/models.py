"""The feed-forward stylizer: an image-transformation network (Johnson et al., ECCV 2016) cut
down for a 2-core CPU, with instance normalisation (Ulyanov et al., 2016).

Input (N, H, W, 3) float32 RGB 0..255 of any H and W that are multiples of 8 (the runtime pads
a frame to that), output (N, H, W, 3) float32 RGB 0..255: the photo plus a learnt residual,
clipped. Starting from the photo itself matters: with Johnson's ``tanh`` output and no skip,
the network trained here (400-4,000 steps, CamVid loss network) settled on one texture whatever
the input (content loss above that of a grey image); with the skip it keeps the scene and
learns the painting's colours and strokes on top.

Layout (``width`` w, ``blocks`` b): conv 5x5 stride 2 (w), conv 3x3 s2 (2w), conv 3x3 s2 (4w),
b residual blocks of two 3x3 convs (4w) at 1/8 of the input size, then three times nearest x2
upsampling + conv 3x3 (2w, w, 3) added to the input. Every conv but the last is followed by instance
normalisation and ReLU. ``photo_skip`` adds a 3x3 convolution (3 -> 3, zero at the start) of the
photo itself to the last conv's output: the upsampled features cannot see the photo's own fine
detail, this lets the residual smooth or sharpen it (the total-variation term fell from 0.071
to 0.044 with it on the held-out photos). Johnson's network works at full and half size
with 9x9 convs (about 40 GMAC at 640x480); this one downsamples first and keeps the residual
blocks at 1/8, about 2.5 GMAC at 640x480 with w=16, b=5.

Export choices, measured on onnxruntime 1.32 and OpenCV 4.14 at 640x480 (this 2-core x86):
- Instance norm is written with mean/variance ops (:class:`InstanceNorm`): tf2onnx emits
  ``GlobalAveragePool``/``Sub``/``Mul``/``Sqrt``, which onnxruntime and OpenCV dnn both run
  (folded batch norm is a few ms faster but trains worse with small batches).
- Upsampling is ``tf.image.resize(nearest)`` (:class:`Upsample2x`): ONNX ``Resize``. Keras's
  ``UpSampling2D`` exports as an eight-node repeat chain with dynamic sizes; tiling channels and
  ``DepthToSpace`` runs everywhere but took 39.7 ms vs 22.4 ms for ``Resize`` at 2 threads;
  ``ConvTranspose`` has no integer kernel in onnxruntime. The export rewrites the ``Resize``'s
  computed sizes into constant scales (:func:`edgeimg.export.graph_passes.fold_resize_scales`)
  so OpenCV dnn, which cannot follow a shape computation, runs it too.

Custom layers are registered as ``edgeimg>InstanceNorm`` and ``edgeimg>Upsample2x``: import
this module before ``keras.models.load_model`` of a stylizer.
"""

from __future__ import annotations

import keras
from keras import layers

MULTIPLE = 8  # the input's height and width must be multiples of this (three stride-2 convs)


@keras.saving.register_keras_serializable(package="edgeimg")
class InstanceNorm(layers.Layer):
    """Per-image, per-channel normalisation over height and width, with a learned scale and
    shift: (N, H, W, C) -> (N, H, W, C)."""

    def __init__(self, epsilon: float = 1e-5, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)

    def build(self, input_shape):
        channels = input_shape[-1]
        self.gamma = self.add_weight(shape=(channels,), initializer="ones", name="gamma")
        self.beta = self.add_weight(shape=(channels,), initializer="zeros", name="beta")

    def call(self, inputs):
        from keras import ops

        mean = ops.mean(inputs, axis=(1, 2), keepdims=True)
        variance = ops.mean(ops.square(inputs - mean), axis=(1, 2), keepdims=True)
        return (inputs - mean) * ops.rsqrt(variance + self.epsilon) * self.gamma + self.beta

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="edgeimg")
class Upsample2x(layers.Layer):
    """Nearest-neighbour x2 upsampling of (N, H, W, C) of any H and W (ONNX ``Resize``)."""

    def call(self, inputs):
        import tensorflow as tf

        size = tf.shape(inputs)[1:3] * 2
        return tf.image.resize(inputs, size, method="nearest")

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        return (n, None if h is None else 2 * h, None if w is None else 2 * w, c)


def _conv(x, channels: int, kernel: int, stride: int, name: str):
    x = layers.Conv2D(channels, kernel, stride, padding="same", use_bias=False, name=name)(x)
    x = InstanceNorm(name=f"{name}_in")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def transform_net(
    width: int = 16, blocks: int = 5, photo_skip: bool = False, name: str = "stylizer"
) -> keras.Model:
    """The image-transformation network: (N, H, W, 3) RGB 0..255 -> (N, H, W, 3) RGB 0..255.
    ``photo_skip``: a 3x3 convolution of the (scaled) photo itself is added to the last one, so
    the residual can reshape the photo's own fine detail (the upsampled features cannot see it)."""
    image = keras.Input((None, None, 3), name="image")
    scaled = layers.Rescaling(1.0 / 127.5, -1.0, name="scale")(image)
    x = _conv(scaled, width, 5, 2, "down1")
    x = _conv(x, 2 * width, 3, 2, "down2")
    x = _conv(x, 4 * width, 3, 2, "down3")
    for i in range(blocks):
        y = _conv(x, 4 * width, 3, 1, f"res{i}a")
        y = layers.Conv2D(4 * width, 3, padding="same", use_bias=False, name=f"res{i}b")(y)
        y = InstanceNorm(name=f"res{i}b_in")(y)
        x = layers.Add(name=f"res{i}")([x, y])
    for i, channels in enumerate((2 * width, width)):
        x = Upsample2x(name=f"up{i + 1}")(x)
        x = _conv(x, channels, 3, 1, f"up{i + 1}_conv")
    x = Upsample2x(name="up3")(x)
    x = layers.Conv2D(3, 3, padding="same", kernel_initializer="zeros", name="out_conv")(x)
    if photo_skip:  # = one convolution over [features, photo]; an Add runs on OpenCV dnn
        fine = layers.Conv2D(
            3, 3, padding="same", use_bias=False, kernel_initializer="zeros", name="photo_conv"
        )(scaled)
        x = layers.Add(name="with_photo")([x, fine])
    x = layers.Rescaling(127.5, name="residual")(x)
    x = layers.Add(name="photo_plus_residual")([image, x])
    out = layers.ReLU(max_value=255.0, name="stylized")(x)  # clipped to 0..255
    return keras.Model(image, out, name=name)
