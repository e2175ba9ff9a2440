"""Perceptual losses of style transfer (Gatys et al. 2016; Johnson et al. 2016) and the networks
they are measured with.

A *loss network* maps (N, H, W, 3) float32 RGB 0..255 to feature maps at several depths:
``style`` layers (their Gram matrices describe a texture) and one ``content`` layer. Published
methods use an ImageNet VGG, whose weights cannot be downloaded here, so the network is named by
a spec (:func:`loss_network`):

- ``random-vgg16`` (default): VGG-16's shape to relu4_1 with He-normal random weights from
  ``seed`` and average pooling (texture-synthesis work finds random multi-scale filters keep
  style statistics: Ustyuzhaninov et al., ICLR workshop 2017; He et al., IJCAI 2016).
  ``random-vgg16-half`` is the same with half the channels (about 4x fewer MACs).
- a ``.keras`` file of an edgeimg image model (e.g. the CamVid segmenter: features learnt on
  real street photos): the last ReLU before each of its first four downsamplings are the style
  layers, the second (1/4 of the input size, as VGG's relu3_3) is the content layer.
- a Keras VGG16/VGG19 weights file (``*vgg16*.h5`` / ``*vgg19*.h5``, ``include_top`` or not,
  as ``keras.applications`` saves them): relu1_1..relu4_1 style, relu3_3 / relu3_4 content, with
  the Caffe preprocessing those weights expect.

Losses, each *relative* so that they are comparable between layers and networks (a loss of 0.5
means the features are off by half their own energy): content = |F - Fc|^2 / |Fc|^2 at the
content layer; style = mean over style layers of |G - Gs|^2 / |Gs|^2 with G = F^T F / (H W) per
image; total variation = mean |dI/dx| + |dI/dy| / 255. :class:`PerceptualLoss` holds the network
and the style's Gram matrices.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from edgeimg.runtime.errors import EdgeimgError

if TYPE_CHECKING:
    import keras
    import tensorflow as tf

RANDOM_VGG = {"random-vgg16": 1.0, "random-vgg16-half": 0.5}
# the CamVid segmenter of the README's segmentation figures, shipped as the default loss network
SHIPPED = {"camvid-seg": Path(__file__).parent / "assets" / "loss_camvid_seg.keras"}
DEFAULT_LOSS_NET = "camvid-seg"
# VGG-16 to relu4_1: (block, convs, channels); style at each block's first ReLU, content relu3_3
VGG_BLOCKS = ((1, 2, 64), (2, 2, 128), (3, 3, 256), (4, 1, 512))
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


@dataclass(frozen=True)
class LossTerms:
    """One image's (or a batch's mean) relative content, style and total-variation losses and
    their weighted sum."""

    content: float
    style: float
    tv: float
    total: float

    def line(self) -> str:
        return (
            f"total {self.total:.4f} (content {self.content:.4f}, style {self.style:.4f}, "
            f"tv {self.tv:.4f})"
        )


@dataclass(frozen=True)
class LossWeights:
    """Weights of the three terms in the total (content 1, style 5, tv 10 by default: chosen by
    eye on a CamVid/val picture with the CamVid loss network; their balance is the look, more
    style weight paints more)."""

    content: float = 1.0
    style: float = 5.0
    tv: float = 10.0

    def __post_init__(self) -> None:
        for name in ("content", "style", "tv"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and value >= 0 and np.isfinite(value)):
                raise EdgeimgError(f"{name} weight: expected a number >= 0, got {value!r}")


def random_vgg(width: float, seed: int) -> keras.Model:
    """VGG-16's layers to relu4_1 with random He-normal weights (average pooling), outputs
    [relu1_1, relu2_1, relu3_1, relu4_1, relu3_3]; input RGB 0..255."""
    import keras
    from keras import layers

    image = keras.Input((None, None, 3), name="image")
    x = layers.Rescaling(1.0 / 127.5, -1.0)(image)
    taps: dict[str, keras.KerasTensor] = {}
    for block, convs, channels in VGG_BLOCKS:
        if block > 1:
            x = layers.AveragePooling2D(2, name=f"pool{block - 1}")(x)
        for conv in range(1, convs + 1):
            init = keras.initializers.HeNormal(seed=seed * 1000 + block * 10 + conv)
            x = layers.Conv2D(
                max(8, int(channels * width)),
                3,
                padding="same",
                activation="relu",
                kernel_initializer=init,
                bias_initializer="zeros",
                name=f"relu{block}_{conv}",
            )(x)
            taps[f"relu{block}_{conv}"] = x
    outputs = [taps[f"relu{b}_1"] for b, _, _ in VGG_BLOCKS] + [taps["relu3_3"]]
    return keras.Model(image, outputs, name=f"random_vgg16_w{width:g}_s{seed}")


def vgg_from_weights(path: Path) -> keras.Model:
    """keras.applications VGG16/VGG19 with weights from ``path`` (Caffe preprocessing in the
    graph), outputs [relu1_1, relu2_1, relu3_1, relu4_1, content]."""
    import keras
    from keras import layers

    name = path.name.lower()
    if "vgg19" in name:
        build, content = keras.applications.VGG19, "block3_conv4"
    elif "vgg16" in name:
        build, content = keras.applications.VGG16, "block3_conv3"
    else:
        raise EdgeimgError(
            f"loss network {path}: expected a VGG16 or VGG19 weights file named like "
            "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"
        )
    base = build(include_top=False, weights=None, input_shape=(None, None, 3))
    try:
        base.load_weights(str(path), skip_mismatch=False)
    except Exception as exc:
        raise EdgeimgError(f"loss network {path}: cannot load VGG weights ({exc})") from None
    image = keras.Input((None, None, 3), name="image")
    bgr = layers.Lambda(lambda t: t[..., ::-1] - np.array(CAFFE_MEAN_BGR, np.float32))(image)
    names = ["block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", content]
    features = keras.Model(base.input, [base.get_layer(n).output for n in names])
    return keras.Model(image, features(bgr), name=path.stem)


def network_from_model(path: Path) -> keras.Model:
    """An edgeimg image model's ReLU features: the last ReLU before each of its first four
    downsamplings (style), the second of them (content); input RGB 0..255 at any size (the
    model is rebuilt on an input of any size, the contract's normalisation in front)."""
    import keras
    from keras import layers

    from edgeimg.export.keras_file import load_keras
    from edgeimg.runtime.contract import ColorOrder

    model, contract = load_keras(path)
    if contract.channels != 3:
        raise EdgeimgError(f"loss network {path}: expected an RGB model, got {contract.channels}")
    relus = [
        layer
        for layer in model.layers
        if "relu" in layer.name.lower() and len(layer.output.shape) == 4
    ]
    taps = [
        layer.name
        for layer, nxt in itertools.pairwise(relus)
        if nxt.output.shape[1] != layer.output.shape[1]
    ][:4]
    if len(taps) < 3:
        raise EdgeimgError(
            f"loss network {path}: found {len(taps)} downsampling ReLU stages, expected at "
            "least 3 (use a convolutional image model)"
        )
    image = keras.Input((None, None, 3), name="image")
    x = (
        image
        if contract.color_order is ColorOrder.RGB
        else layers.Lambda(lambda t: t[..., ::-1])(image)
    )
    mean, std = np.asarray(contract.mean, np.float32), np.asarray(contract.std, np.float32)
    x = layers.Rescaling(1.0 / std, -mean / std)(x)
    rebuilt = keras.models.clone_model(model, input_tensors=keras.Input((None, None, 3)))
    rebuilt.set_weights(model.get_weights())
    features = keras.Model(rebuilt.inputs, [rebuilt.get_layer(n).output for n in taps])
    outputs = features(x)
    return keras.Model(image, [*outputs, outputs[1]], name=Path(path).stem)


def loss_network(spec: str, seed: int = 0) -> keras.Model:
    """The loss network a spec names (see the module docstring); outputs style layers then the
    content layer."""
    if spec in RANDOM_VGG:
        return random_vgg(RANDOM_VGG[spec], seed)
    path = SHIPPED.get(spec, Path(spec))
    if not path.is_file():
        raise EdgeimgError(
            f"loss network: expected {', '.join([*SHIPPED, *RANDOM_VGG])} or a .keras/.h5 file, "
            f"got {spec!r}"
        )
    if path.suffix == ".keras":
        return network_from_model(path)
    if path.suffix in (".h5", ".hdf5"):
        return vgg_from_weights(path)
    raise EdgeimgError(f"loss network {path}: expected a .keras or VGG .h5 file")


def gram(features: tf.Tensor) -> tf.Tensor:
    """(N, H, W, C) -> (N, C, C) Gram matrices F^T F / (H W)."""
    import tensorflow as tf

    shape = tf.shape(features)
    flat = tf.reshape(features, (shape[0], shape[1] * shape[2], shape[3]))
    flat = flat - tf.reduce_mean(flat, axis=1, keepdims=True)
    area = tf.cast(shape[1] * shape[2], features.dtype)
    return tf.matmul(flat, flat, transpose_a=True) / area


def total_variation(images: tf.Tensor) -> tf.Tensor:
    """(N, H, W, 3) 0..255 -> (N,) mean absolute neighbour difference / 255."""
    import tensorflow as tf

    dy = tf.reduce_mean(tf.abs(images[:, 1:] - images[:, :-1]), axis=(1, 2, 3))
    dx = tf.reduce_mean(tf.abs(images[:, :, 1:] - images[:, :, :-1]), axis=(1, 2, 3))
    return (dx + dy) / 255.0


class PerceptualLoss:
    """Content, style and TV losses against one style image, in a loss network.

    network: a :func:`loss_network`. style_rgb: (H, W, 3) RGB 0..255 (uint8 or float), the
    painting; its Gram matrices are computed once here (at ``style_size`` on its long side).
    """

    def __init__(
        self,
        network: keras.Model,
        style_rgb: np.ndarray,
        weights: LossWeights | None = None,
        style_size: int = 256,
    ) -> None:
        import tensorflow as tf

        self.network = network
        self.weights = weights or LossWeights()
        style = resize_long_side(np.asarray(style_rgb, np.float32), style_size)
        feats = self.network(tf.constant(style[None]), training=False)
        self.style_grams = [gram(f) for f in feats[:-1]]
        self._energy = [tf.reduce_sum(tf.square(g)) for g in self.style_grams]

    def terms(self, output: tf.Tensor, content: tf.Tensor) -> tuple[tf.Tensor, ...]:
        """(N, H, W, 3) stylized and (N, H, W, 3) content images, RGB 0..255 -> per-image
        (content, style, tv, total), each (N,)."""
        out_feats = self.network(output, training=False)
        content_feat = self.network(content, training=False)[-1]
        return self.terms_from_features(out_feats, content_feat, output)

    def terms_from_features(
        self, out_feats: list[tf.Tensor], content_feat: tf.Tensor, output: tf.Tensor
    ) -> tuple[tf.Tensor, ...]:
        import tensorflow as tf

        diff = tf.reduce_sum(tf.square(out_feats[-1] - content_feat), axis=(1, 2, 3))
        content = diff / (tf.reduce_sum(tf.square(content_feat), axis=(1, 2, 3)) + 1e-8)
        style = tf.add_n(
            [
                tf.reduce_sum(tf.square(gram(f) - g), axis=(1, 2)) / (e + 1e-8)
                for f, g, e in zip(out_feats[:-1], self.style_grams, self._energy, strict=True)
            ]
        ) / len(self.style_grams)
        tv = total_variation(output)
        w = self.weights
        total = w.content * content + w.style * style + w.tv * tv
        return content, style, tv, total

    def measure(self, outputs: np.ndarray, contents: np.ndarray, batch: int = 4) -> LossTerms:
        """Mean losses of (N, H, W, 3) RGB 0..255 outputs against their contents (numpy)."""
        import tensorflow as tf

        sums = np.zeros(4)
        for start in range(0, len(outputs), batch):
            o = tf.constant(np.asarray(outputs[start : start + batch], np.float32))
            c = tf.constant(np.asarray(contents[start : start + batch], np.float32))
            sums += [float(tf.reduce_sum(t)) for t in self.terms(o, c)]
        mean = sums / max(len(outputs), 1)
        return LossTerms(*map(float, mean))


def resize_long_side(image: np.ndarray, size: int, multiple: int = 1) -> np.ndarray:
    """(H, W, C) -> resized so that the long side is ``size`` (area filter when shrinking),
    both sides rounded down to a multiple of ``multiple`` (>= ``multiple``)."""
    import cv2

    height, width = image.shape[:2]
    scale = size / max(height, width)
    h = max(multiple, round(height * scale) // multiple * multiple)
    w = max(multiple, round(width * scale) // multiple * multiple)
    if (h, w) == (height, width):
        return image
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    out: np.ndarray = cv2.resize(image, (w, h), interpolation=interp)
    return out
