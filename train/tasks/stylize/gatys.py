"""The reference: Gatys et al.'s optimisation of one image against the perceptual loss.

It starts from the content image and runs Adam on the pixels (0..255) to lower
:class:`~edgeimg.export.perceptual.PerceptualLoss`'s weighted total: seconds to minutes per
image on a CPU, where the feed-forward stylizer takes milliseconds. The same loss network and
weights as training make its losses the bar the stylizer is measured against.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass

import numpy as np

from edgeimg.export.perceptual import LossTerms, PerceptualLoss
from edgeimg.runtime.errors import EdgeimgError


@dataclass(frozen=True)
class Optimized:
    """The optimised (H, W, 3) uint8 RGB image, its losses, and the seconds it took."""

    image: np.ndarray
    losses: LossTerms
    seconds: float


def optimize(
    loss: PerceptualLoss,
    content_rgb: np.ndarray,
    steps: int = 300,
    learning_rate: float = 4.0,
    progress: bool = False,
) -> Optimized:
    """Optimise the pixels of one (H, W, 3) RGB 0..255 image from ``content_rgb``."""
    import tensorflow as tf

    if steps < 1:
        raise EdgeimgError(f"--steps: expected >= 1, got {steps}")
    start = time.perf_counter()
    content = tf.constant(np.asarray(content_rgb, np.float32)[None])
    content_feat = loss.network(content, training=False)[-1]
    image = tf.Variable(content)
    optimizer = tf.keras.optimizers.Adam(learning_rate)

    @tf.function
    def step() -> tf.Tensor:
        with tf.GradientTape() as tape:
            feats = loss.network(image, training=False)
            total = loss.terms_from_features(feats, content_feat, image)[3]
        optimizer.apply_gradients([(tape.gradient(total, image), image)])
        image.assign(tf.clip_by_value(image, 0.0, 255.0))
        return total[0]

    for i in range(steps):
        value = float(step())
        if progress and (i % 50 == 0 or i == steps - 1):
            print(f"step {i + 1}/{steps}: loss {value:.4f}", file=sys.stderr, flush=True)
    result = np.clip(np.rint(image.numpy()[0]), 0, 255).astype(np.uint8)
    terms = loss.measure(result[None].astype(np.float32), np.asarray(content_rgb)[None])
    return Optimized(result, terms, time.perf_counter() - start)


def optimize_cli(
    content: str, style: str, output: str, size: int, steps: int, loss_net: str, seed: int
) -> int:
    """``edgeimg stylize --optimize``: optimise one content image (long side ``size``, rounded to
    multiples of 8) in the style of ``style``, write ``output``, print the losses and time."""
    from edgeimg.export.perceptual import PerceptualLoss, loss_network
    from edgeimg.runtime.atomic import check_destination
    from edgeimg.runtime.sinks import write_image
    from edgeimg.train.tasks.stylize.data import fit_to_multiple, read_style
    from edgeimg.train.tasks.stylize.models import MULTIPLE

    if size < 4 * MULTIPLE:
        raise EdgeimgError(f"--size: expected >= {4 * MULTIPLE}, got {size}")
    check_destination(output, "-o/--output")
    painting = read_style(style)
    photo = read_style(content, "CONTENT").astype(np.float32)
    photo = fit_to_multiple(photo, size, MULTIPLE)
    import keras

    keras.utils.set_random_seed(seed)
    loss = PerceptualLoss(loss_network(loss_net, seed), painting)
    print(
        f"Gatys: {photo.shape[1]}x{photo.shape[0]}, {steps} steps, loss network {loss_net}",
        file=sys.stderr,
    )
    result = optimize(loss, photo, steps, progress=True)
    write_image(output, result.image[..., ::-1])
    print(f"wrote {output}: {result.losses.line()} in {result.seconds:.1f} s")
    return 0
