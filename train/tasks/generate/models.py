"""Generators and their trainers' partners: the seed's DCGAN and a convolutional VAE.

Every network here sees images as (N, H, W, C) float32 in -1..1 (tanh scale; H and W multiples
of 4) and takes its class, when class-conditional, as a one-hot appended to its input:

- generator / VAE decoder: ``latent`` (N, latent_dim [+ C]) -> ``image`` (N, H, W, C) tanh.
- discriminator: image (and one-hot) -> (N, 1) logit; conditional by projection (Miyato &
  Koyama 2018: ``logit = dense(h) + <embed(y), h>``).
- VAE encoder: image (and one-hot, as constant planes) -> (mean, log_var), (N, latent_dim) each.

The seed's DCGAN: generator Dense 7x7x256, BatchNorm, LeakyReLU, Conv2DTranspose 128 (stride 1),
64 (stride 2), C (stride 2, tanh), 5x5 kernels; discriminator Conv 64 and 128 (5x5, stride 2),
LeakyReLU, Dropout 0.3, Dense 1. One change: the stride-2 transposed convolutions use 4x4 kernels
(the DCGAN paper's own), since 5x5 at stride 2 with "same" output needs asymmetric padding
(2 before, 1 after), which OpenCV dnn's deconvolution refuses; 4x4 pads 1 on each side. ``width`` scales the channel counts (0.5 trains 4x faster).
Only built-in Keras layers: the ``.keras`` files load in safe mode and tf2onnx converts them.
"""

from __future__ import annotations

import keras
from keras import layers

from edgeimg.runtime.errors import EdgeimgError


def _channels(base: int, width: float) -> int:
    return max(8, round(base * width))


def check_shape(image_shape: tuple[int, int, int]) -> tuple[int, int, int]:
    height, width, channels = (int(v) for v in image_shape)
    if height % 4 or width % 4 or min(height, width) < 8 or channels not in (1, 3):
        raise EdgeimgError(
            f"generator image size: expected (H, W, C) with H, W multiples of 4 (>= 8) and C of "
            f"1 or 3, got {tuple(image_shape)}"
        )
    return height, width, channels


def dcgan_generator(
    latent_dim: int, image_shape: tuple[int, int, int], num_classes: int = 0, width: float = 1.0
) -> keras.Model:
    """The seed's generator; ``num_classes`` > 0 makes it class-conditional."""
    height, width_px, channels = check_shape(image_shape)
    h4, w4 = height // 4, width_px // 4
    inputs = keras.Input((latent_dim + num_classes,), name="latent")
    x = layers.Dense(h4 * w4 * _channels(256, width), use_bias=False, name="project")(inputs)
    x = layers.BatchNormalization(name="project_bn")(x)
    x = layers.LeakyReLU(0.2, name="project_act")(x)
    x = layers.Reshape((h4, w4, _channels(256, width)), name="to_map")(x)
    for i, (filters, stride) in enumerate(((128, 1), (64, 2))):
        x = layers.Conv2DTranspose(
            _channels(filters, width),
            5 if stride == 1 else 4,
            strides=stride,
            padding="same",
            use_bias=False,
            name=f"up{i + 1}",
        )(x)
        x = layers.BatchNormalization(name=f"up{i + 1}_bn")(x)
        x = layers.LeakyReLU(0.2, name=f"up{i + 1}_act")(x)
    x = layers.Conv2DTranspose(channels, 4, strides=2, padding="same", name="to_image")(x)
    image = layers.Activation("tanh", name="image")(x)
    return keras.Model(inputs, image, name="dcgan_generator")


def dcgan_discriminator(
    image_shape: tuple[int, int, int],
    num_classes: int = 0,
    width: float = 1.0,
    auxiliary: bool = False,
) -> keras.Model:
    """The seed's discriminator (a logit per image), conditional by projection; ``auxiliary``
    adds a second output, class logits (N, num_classes), for an AC-GAN loss (Odena et al. 2017)."""
    image = keras.Input(check_shape(image_shape), name="image")
    label = keras.Input((num_classes,), name="label") if num_classes else None
    x = image
    for i, filters in enumerate((64, 128)):
        x = layers.Conv2D(
            _channels(filters, width), 5, strides=2, padding="same", name=f"conv{i + 1}"
        )(x)
        x = layers.LeakyReLU(0.2, name=f"conv{i + 1}_act")(x)
        x = layers.Dropout(0.3, name=f"conv{i + 1}_drop")(x)
    h = layers.Flatten(name="flatten")(x)
    logit = layers.Dense(1, name="logit")(h)
    if label is None:
        return keras.Model(image, logit, name="dcgan_discriminator")
    embed = layers.Dense(h.shape[-1], use_bias=False, name="class_embed")(label)
    logit = layers.Add(name="projected")([logit, layers.Dot(axes=1, name="project")([h, embed])])
    if auxiliary:
        classes = layers.Dense(num_classes, name="class_logits")(h)
        return keras.Model([image, label], [logit, classes], name="dcgan_discriminator")
    return keras.Model([image, label], logit, name="dcgan_discriminator")


def vae_encoder(
    latent_dim: int, image_shape: tuple[int, int, int], num_classes: int = 0, width: float = 1.0
) -> keras.Model:
    """Image (and one-hot) -> (mean, log_var) of q(z | x, y)."""
    height, width_px, channels = check_shape(image_shape)
    image = keras.Input((height, width_px, channels), name="image")
    label = keras.Input((num_classes,), name="label") if num_classes else None
    x = image
    if label is not None:
        planes = layers.Reshape((1, 1, num_classes), name="label_planes")(label)
        planes = layers.UpSampling2D((height, width_px), name="label_map")(planes)
        x = layers.Concatenate(name="with_label")([x, planes])
    for i, filters in enumerate((32, 64)):
        x = layers.Conv2D(
            _channels(filters, width),
            4,
            strides=2,
            padding="same",
            activation="relu",
            name=f"enc{i + 1}",
        )(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(_channels(256, width), activation="relu", name="hidden")(x)
    mean = layers.Dense(latent_dim, name="mean")(x)
    log_var = layers.Dense(latent_dim, name="log_var")(x)
    inputs = image if label is None else [image, label]
    return keras.Model(inputs, [mean, log_var], name="vae_encoder")


def vae_decoder(
    latent_dim: int, image_shape: tuple[int, int, int], num_classes: int = 0, width: float = 1.0
) -> keras.Model:
    """``latent`` (z and one-hot) -> ``image`` in -1..1: the generator a VAE exports."""
    height, width_px, channels = check_shape(image_shape)
    h4, w4 = height // 4, width_px // 4
    inputs = keras.Input((latent_dim + num_classes,), name="latent")
    x = layers.Dense(_channels(256, width), activation="relu", name="hidden")(inputs)
    x = layers.Dense(h4 * w4 * _channels(64, width), activation="relu", name="project")(x)
    x = layers.Reshape((h4, w4, _channels(64, width)), name="to_map")(x)
    for i, filters in enumerate((64, 32)):
        x = layers.Conv2DTranspose(
            _channels(filters, width),
            4,
            strides=2,
            padding="same",
            activation="relu",
            name=f"dec{i + 1}",
        )(x)
    x = layers.Conv2D(channels, 3, padding="same", name="to_image")(x)
    image = layers.Activation("tanh", name="image")(x)
    return keras.Model(inputs, image, name="vae_decoder")


def encoder_with_planes(encoder: keras.Model, num_classes: int = 0) -> keras.Model:
    """The encoder as it is saved and exported: one input ``image`` (N, H, W, C + classes),
    the image in -1..1 followed, for a class-conditional encoder, by the one-hot of its class as
    constant planes (what :func:`vae_encoder` builds inside from its ``label`` input), and the
    outputs ``mean`` and ``log_var``. One input, as the generator's ``latent`` with its one-hot:
    a plain feed-forward graph that every backend and the INT8 quantizer take. Shares the
    trained layers (weights) with ``encoder``."""
    height, width_px, channels = (int(v) for v in encoder.inputs[0].shape[1:])
    image = keras.Input((height, width_px, channels + num_classes), name="image")
    x = image
    for name in ("enc1", "enc2", "flatten", "hidden"):
        x = encoder.get_layer(name)(x)
    mean, log_var = encoder.get_layer("mean")(x), encoder.get_layer("log_var")(x)
    return keras.Model(image, [mean, log_var], name="vae_encoder_file")
