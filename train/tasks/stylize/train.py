"""``train_stylize``: a feed-forward stylizer for one style (Johnson et al. 2016).

Each step stylizes a batch of random content crops, measures the perceptual loss of
:mod:`edgeimg.export.perceptual` (content against the crops, style against the painting's Gram
matrices, total variation) in the loss network, and updates the transformation network with
Adam. Per epoch: the mean losses (a tqdm bar on a terminal, one log line, ``log.jsonl``) and a
sample grid PNG (content above, stylized below). At the end the ``.keras`` file is written with
the stylize contract, and with ``--val`` the network is scored against Gatys' optimisation of
the same images in the same loss (:func:`compare_with_gatys`).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from tqdm import tqdm

from edgeimg.export.perceptual import DEFAULT_LOSS_NET, LossTerms, LossWeights, PerceptualLoss
from edgeimg.export.perceptual import loss_network as build_loss_network
from edgeimg.runtime.atomic import check_destination
from edgeimg.runtime.errors import EdgeimgError
from edgeimg.runtime.sinks import write_image
from edgeimg.train.fit import copy_weights, save_keras, seed_everything
from edgeimg.train.tasks.stylize.contract import stylize_contract
from edgeimg.train.tasks.stylize.data import (
    SHORT_SIDE,
    fit_to_multiple,
    load_contents,
    random_crops,
    read_style,
)
from edgeimg.train.tasks.stylize.gatys import optimize
from edgeimg.train.tasks.stylize.models import MULTIPLE, transform_net
from edgeimg.train.tasks.upscale.data import list_images, read_rgb

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StylizeConfig:
    """What ``edgeimg train stylize`` trains: one style, content folders, the loss network and
    weights, the network's width/blocks, and the schedule. ``val`` folders are scored at the
    end (``val_count`` images at ``val_size`` on the long side, Gatys with ``gatys_steps``)."""

    style: Path
    content: tuple[Path, ...]
    output: Path
    loss_net: str = DEFAULT_LOSS_NET
    loss_seed: int = 0
    weights: LossWeights = field(default_factory=LossWeights)
    style_size: int = 256
    width: int = 16
    blocks: int = 5
    photo_skip: bool = False
    crop: int = 256
    batch_size: int = 4
    steps_per_epoch: int = 200
    epochs: int = 10
    learning_rate: float = 1e-3
    seed: int = 0
    val: tuple[Path, ...] = ()
    val_count: int = 4
    val_size: int = 480
    gatys_steps: int = 300
    init_from: Path | None = None

    def __post_init__(self) -> None:
        for name in ("width", "blocks", "batch_size", "steps_per_epoch", "epochs", "val_count"):
            if getattr(self, name) < 1:
                raise EdgeimgError(
                    f"--{name.replace('_', '-')}: expected >= 1, got {getattr(self, name)}"
                )
        if self.crop < 4 * MULTIPLE or self.crop % MULTIPLE:
            raise EdgeimgError(
                f"--crop: expected a multiple of {MULTIPLE} >= {4 * MULTIPLE}, got {self.crop}"
            )
        if not self.learning_rate > 0:
            raise EdgeimgError(f"--lr: expected > 0, got {self.learning_rate}")

    @property
    def log_dir(self) -> Path:
        return self.output.with_suffix("")


@dataclass(frozen=True)
class Comparison:
    """Held-out images: the feed-forward network's mean losses, Gatys', their ratio (total),
    the per-image seconds of each, and the side-by-side PNG."""

    images: int
    network: LossTerms
    gatys: LossTerms
    network_seconds: float
    gatys_seconds: float
    picture: Path | None

    @property
    def ratio(self) -> float:
        return self.network.total / max(self.gatys.total, 1e-12)

    def lines(self) -> list[str]:
        return [
            f"held-out ({self.images} images): network {self.network.line()} "
            f"in {1000 * self.network_seconds:.1f} ms/image (Keras)",
            f"  Gatys (same loss) {self.gatys.line()} in {self.gatys_seconds:.1f} s/image",
            f"  network / Gatys total loss: {self.ratio:.2f}x",
        ]


@dataclass(frozen=True)
class StylizeResult:
    path: Path
    params: int
    seconds: float
    history: tuple[dict[str, float], ...]
    comparison: Comparison | None


class Trainer:
    """The transformation network, its optimizer and one compiled training step."""

    def __init__(self, net: keras.Model, loss: PerceptualLoss, learning_rate: float) -> None:
        self.net, self.loss = net, loss
        self.optimizer = keras.optimizers.Adam(learning_rate)

    @tf.function
    def step(self, batch: tf.Tensor) -> dict[str, tf.Tensor]:
        content = tf.cast(batch, tf.float32)
        with tf.GradientTape() as tape:
            output = self.net(content, training=True)
            terms = self.loss.terms(output, content)
            total = tf.reduce_mean(terms[3])
        grads = tape.gradient(total, self.net.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.net.trainable_variables, strict=True))
        names = ("content", "style", "tv", "loss")
        return {name: tf.reduce_mean(t) for name, t in zip(names, terms, strict=True)}


def init_weights(net: keras.Model, path: Path) -> None:
    """Copy the weights of the stylizer in ``path`` into ``net``, layer by layer by name; a layer
    the file lacks only when it starts at zero (``photo_conv`` of ``--photo-skip`` grown onto
    a network trained without it)."""
    from edgeimg.export.keras_file import load_keras

    copy_weights(net, load_keras(path)[0], f"--init-from {path}", "same --width and --blocks?")


def sample_grid(net: keras.Model, contents: np.ndarray) -> np.ndarray:
    """(N, H, W, 3) uint8 RGB contents -> one BGR image: the contents above, stylized below."""
    out = np.clip(np.rint(net.predict(contents.astype(np.float32), verbose=0)), 0, 255)
    top, bottom = np.hstack(list(contents)), np.hstack(list(out.astype(np.uint8)))
    grid: np.ndarray = np.vstack([top, bottom])[..., ::-1]
    return grid


def train_stylize(config: StylizeConfig) -> StylizeResult:
    """Train as ``config`` says (see the module doc); returns the saved model and figures."""
    started = time.monotonic()
    try:
        config.output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EdgeimgError(
            f"-o/--output: cannot create folder {config.output.parent}: {exc.strerror}"
        ) from None
    check_destination(config.output, "-o/--output")  # before any training, not after it
    style = read_style(config.style)
    contents = load_contents(config.content, SHORT_SIDE, config.crop)
    seed_everything(config.seed)
    loss = PerceptualLoss(
        build_loss_network(config.loss_net, config.loss_seed),
        style,
        config.weights,
        config.style_size,
    )
    net = transform_net(config.width, config.blocks, config.photo_skip)
    if config.init_from is not None:
        init_weights(net, config.init_from)
    trainer = Trainer(net, loss, config.learning_rate)
    batches = random_crops(contents, config.crop, config.batch_size, config.seed)
    samples = next(random_crops(contents, config.crop, 4, config.seed + 1))
    config.log_dir.mkdir(parents=True, exist_ok=True)
    log_path = config.log_dir / "log.jsonl"
    log_path.unlink(missing_ok=True)
    history = []
    for epoch in range(1, config.epochs + 1):
        tick, sums = time.monotonic(), dict.fromkeys(("content", "style", "tv", "loss"), 0.0)
        bar = tqdm(range(config.steps_per_epoch), desc=f"epoch {epoch}", leave=False, disable=None)
        for step in bar:
            for key, value in trainer.step(tf.constant(next(batches))).items():
                sums[key] += float(value)
            if (step + 1) % 20 == 0:
                bar.set_postfix(loss=f"{sums['loss'] / (step + 1):.4f}")
        entry = {k: v / config.steps_per_epoch for k, v in sums.items()}
        entry = {"epoch": epoch, "seconds": time.monotonic() - tick, **entry}
        history.append(entry)
        log.info(
            "epoch %d/%d: loss %.4f (content %.4f, style %.4f, tv %.4f) %.0f s",
            epoch,
            config.epochs,
            entry["loss"],
            entry["content"],
            entry["style"],
            entry["tv"],
            entry["seconds"],
        )
        write_image(config.log_dir / f"epoch_{epoch:03d}.png", sample_grid(net, samples))
        with open(log_path, "a") as handle:
            handle.write(json.dumps(entry) + "\n")
    contract = stylize_contract(Path(config.style).stem, config.loss_net, config.loss_seed)
    save_keras(net, config.output, contract)
    comparison = None
    if config.val:
        comparison = compare_with_gatys(net, loss, config, style)
    return StylizeResult(
        config.output, net.count_params(), time.monotonic() - started, tuple(history), comparison
    )


def compare_with_gatys(
    net: keras.Model, loss: PerceptualLoss, config: StylizeConfig, style: np.ndarray
) -> Comparison:
    """The network and Gatys' optimisation on ``val_count`` held-out images (evenly picked from
    the ``val`` folders, ``val_size`` long side): mean losses, times and a PNG of
    content | style | Gatys | network per image (``<output>/compare.png``)."""
    files = [p for folder in config.val for p in list_images(folder)]
    pick = np.unique(np.linspace(0, len(files) - 1, config.val_count).round().astype(int))
    images = [fit_to_multiple(read_rgb(files[i]), config.val_size, MULTIPLE) for i in pick]
    net_terms, gatys_terms, rows = [], [], []
    net_seconds = gatys_seconds = 0.0
    for image in images:
        x = image[None].astype(np.float32)
        net.predict(x, verbose=0)  # warm-up for this size
        tick = time.perf_counter()
        out = np.clip(np.rint(net.predict(x, verbose=0)), 0, 255)
        net_seconds += time.perf_counter() - tick
        net_terms.append(loss.measure(out, x))
        reference = optimize(loss, image, config.gatys_steps)
        gatys_seconds += reference.seconds
        gatys_terms.append(reference.losses)
        painting = fit_to_multiple(style, image.shape[1], 1)[: image.shape[0], : image.shape[1]]
        painting = np.pad(
            painting,
            (
                (0, image.shape[0] - painting.shape[0]),
                (0, image.shape[1] - painting.shape[1]),
                (0, 0),
            ),
        )
        rows.append(np.hstack([image, painting, reference.image, out[0].astype(np.uint8)]))
    picture = write_image(config.log_dir / "compare.png", np.vstack(rows)[..., ::-1])
    count = len(images)
    return Comparison(
        count,
        mean_terms(net_terms),
        mean_terms(gatys_terms),
        net_seconds / count,
        gatys_seconds / count,
        picture,
    )


def mean_terms(terms: list[LossTerms]) -> LossTerms:
    values = np.mean([[t.content, t.style, t.tv, t.total] for t in terms], axis=0)
    return LossTerms(*map(float, values))
