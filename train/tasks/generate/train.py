"""Training of generators: the DCGAN's alternating updates and the VAE's ELBO, in one loop.

``train_generator(config)`` reads the data, builds the networks (:mod:`.models`), trains with
``tf.function`` steps, and after every epoch logs the losses, writes a sample grid from fixed
latents (``OUT_samples/epoch_NNN.png``: the same z every epoch, so a user watches one set of
images take shape; one column per class for a conditional model) and a checkpoint of every
network and optimizer (``OUT_checkpoints/``, ``--resume`` continues from it). The result is the
generator (the VAE's decoder) as an edgeimg ``.keras`` file with the ``generate`` contract;
a VAE also writes its encoder beside it (``OUT.encoder.keras``, the same task with ``role:
encoder``: image [+ class planes] -> posterior mean and log-variance), so reconstruction and
interpolation between real images run from ONNX files (``edgeimg generate --encoder``).

DCGAN: non-saturating loss (the generator maximises log D(G(z))), one-sided label smoothing
(real targets ``smooth``, 0.9), Adam 2e-4 with beta_1 0.5 for both networks (Radford et al.).
Class-conditional: a projection discriminator, plus with ``aux_weight`` > 0 an auxiliary class
head (AC-GAN): D's loss adds the cross-entropy of the real images' classes, G's that of the
classes it was asked for, times ``aux_weight``. The generator that is sampled, checkpointed and
saved is an exponential moving average of the trained one's weights (``ema``, 0.999; Yazici et
al. 2019, as BigGAN and StyleGAN ship): the live generator chases a moving discriminator, the
average sits where it oscillates around. ``ema`` 0 saves the live generator.
VAE: reconstruction = binary cross-entropy of the pixels in 0..1 summed per image, KL of
q(z | x) to N(0, I), loss = recon + beta * KL (beta 1: the ELBO; reported in nats per image).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from tqdm import tqdm

from edgeimg.runtime.atomic import check_destination
from edgeimg.runtime.contract import ColorOrder, ModelContract, ResizeMode
from edgeimg.runtime.errors import EdgeimgError, parse_enum
from edgeimg.runtime.sinks import write_image
from edgeimg.runtime.tasks.generate.images import grid, to_uint8
from edgeimg.runtime.tasks.generate.latent import ENCODER, GenerateParams
from edgeimg.train.fit import save_keras, seed_everything
from edgeimg.train.tasks.generate import models
from edgeimg.train.tasks.generate.data import GenerationData, load_images, to_tanh

log = logging.getLogger(__name__)


class GenArch(str, Enum):
    DCGAN = "dcgan"
    VAE = "vae"


@dataclass(frozen=True)
class GenerateConfig:
    """What ``edgeimg train generate`` does (see the CLI's --help for each option)."""

    data: Path
    output: Path
    arch: GenArch = GenArch.DCGAN
    conditional: bool = False
    latent_dim: int | None = None  # None: 100 for the DCGAN (the seed's), 16 for the VAE
    width: float = 1.0
    epochs: int = 20
    batch_size: int = 128
    steps_per_epoch: int | None = None  # None: the whole training set each epoch
    learning_rate: float = 2e-4
    beta: float = 1.0
    smooth: float = 0.9
    aux_weight: float = 0.0
    ema: float | None = None  # None: 0.999 for the DCGAN; the VAE has no EMA
    seed: int = 0
    image_size: tuple[int, int] | None = None
    limit: int | None = None
    resume: bool = False
    checkpoints: Path | None = None
    samples: Path | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "arch", parse_enum(GenArch, self.arch, "--arch"))
        if self.output.suffix != ".keras":
            raise EdgeimgError(f"-o/--output: expected a .keras file name, got {self.output}")
        limits = (
            ("--epochs", self.epochs, self.epochs >= 1, ">= 1"),
            ("--batch-size", self.batch_size, self.batch_size >= 2, ">= 2"),
            ("--lr", self.learning_rate, self.learning_rate > 0, "> 0"),
            ("--width", self.width, self.width > 0, "> 0"),
            ("--beta", self.beta, self.beta >= 0, ">= 0"),
            ("--smooth", self.smooth, 0.5 <= self.smooth <= 1.0, "0.5..1"),
            ("--aux-weight", self.aux_weight, self.aux_weight >= 0, ">= 0"),
        )
        for name, value, ok, expected in limits:
            if not ok:
                raise EdgeimgError(f"{name}: expected {expected}, got {value}")
        if self.ema is not None and not 0 <= self.ema < 1:
            raise EdgeimgError(f"--ema: expected 0 <= decay < 1, got {self.ema}")
        if self.ema and self.arch is GenArch.VAE:
            raise EdgeimgError("--ema: the weight average is for --arch dcgan, not vae")
        if self.latent_dim is not None and self.latent_dim < 1:
            raise EdgeimgError(f"--latent-dim: expected >= 1, got {self.latent_dim}")
        if self.steps_per_epoch is not None and self.steps_per_epoch < 1:
            raise EdgeimgError(f"--steps: expected >= 1, got {self.steps_per_epoch}")

    @property
    def latent(self) -> int:
        return self.latent_dim or (100 if self.arch is GenArch.DCGAN else 16)

    @property
    def ema_decay(self) -> float:
        """The generator's weight-average decay; 0: none."""
        if self.arch is GenArch.VAE:
            return 0.0
        return 0.999 if self.ema is None else self.ema

    @property
    def checkpoint_dir(self) -> Path:
        return self.checkpoints or self.output.with_name(self.output.stem + "_checkpoints")

    @property
    def sample_dir(self) -> Path:
        return self.samples or self.output.with_name(self.output.stem + "_samples")

    @property
    def encoder_output(self) -> Path | None:
        """Where a VAE's encoder is saved: ``OUT.encoder.keras`` beside ``OUT.keras``."""
        if self.arch is not GenArch.VAE:
            return None
        return self.output.with_name(self.output.stem + ".encoder.keras")


@dataclass
class EpochLog:
    epoch: int
    seconds: float
    losses: dict[str, float] = field(default_factory=dict)

    def line(self, epochs: int) -> str:
        parts = ", ".join(f"{k} {v:.4f}" for k, v in self.losses.items())
        return f"epoch {self.epoch}/{epochs}: {parts} ({self.seconds:.0f} s)"


@dataclass(frozen=True)
class GenerateResult:
    path: Path
    contract: ModelContract
    params: int
    seconds: float
    history: tuple[EpochLog, ...]
    samples: Path | None
    vae_test: dict[str, float] | None = None  # VAE: recon, kl, elbo (nats per image), test set
    encoder: Path | None = None  # VAE: the encoder's .keras file (role encoder)


def generator_contract(data: GenerationData, config: GenerateConfig) -> ModelContract:
    height, width, channels = data.image_shape
    params = GenerateParams(config.latent, config.conditional, config.arch.value, (height, width))
    return ModelContract(
        task="generate",
        class_names=data.class_names,
        input_size=None,
        channels=channels,
        color_order=ColorOrder.GRAY if channels == 1 else ColorOrder.RGB,
        mean=(0.0,) * channels,
        std=(1.0,) * channels,
        resize=ResizeMode.NONE,
        decoder="tanh",
        output_names=("image",),
        task_params=vars(params),
    )


def encoder_contract(data: GenerationData, config: GenerateConfig) -> ModelContract:
    """The VAE encoder's contract: the generate task with ``role: encoder``; its input is the
    image resized (stretched, INTER_AREA as the training data) to ``image_size`` and scaled to
    -1..1 (mean = std = 127.5), then for a conditional model the class one-hot as planes."""
    height, width, channels = data.image_shape
    params = GenerateParams(
        config.latent, config.conditional, config.arch.value, (height, width), role=ENCODER
    )
    return ModelContract(
        task="generate",
        class_names=data.class_names,
        input_size=(height, width),
        channels=channels,
        color_order=ColorOrder.GRAY if channels == 1 else ColorOrder.RGB,
        mean=(127.5,) * channels,
        std=(127.5,) * channels,
        resize=ResizeMode.STRETCH,
        decoder="posterior",
        output_names=("mean", "log_var"),
        task_params=vars(params),
    )


class Networks:
    """The networks of one architecture, their optimizers, and one training step."""

    def __init__(self, config: GenerateConfig, shape: tuple[int, int, int], classes: int) -> None:
        self.config, self.classes = config, classes
        cond = classes if config.conditional else 0
        self.cond = cond
        self.average: keras.Model | None = None  # the DCGAN generator's weight average
        latent = config.latent
        if config.arch is GenArch.DCGAN:
            self.generator = models.dcgan_generator(latent, shape, cond, config.width)
            self.auxiliary = bool(cond) and config.aux_weight > 0
            self.critic = models.dcgan_discriminator(shape, cond, config.width, self.auxiliary)
            self.g_opt = keras.optimizers.Adam(config.learning_rate, beta_1=0.5)
            self.d_opt = keras.optimizers.Adam(config.learning_rate, beta_1=0.5)
            self.trackables = {
                "generator": self.generator, "discriminator": self.critic,
                "g_optimizer": self.g_opt, "d_optimizer": self.d_opt,
            }  # fmt: skip
            if config.ema_decay:
                self.average = models.dcgan_generator(latent, shape, cond, config.width)
                self.average.set_weights(self.generator.get_weights())
                self.updates = tf.Variable(0, dtype=tf.int64, name="ema_updates")
                self.trackables.update(generator_ema=self.average, ema_updates=self.updates)
            self.step = tf.function(self._gan_step)
        else:
            self.generator = models.vae_decoder(latent, shape, cond, config.width)
            self.encoder = models.vae_encoder(latent, shape, cond, config.width)
            self.opt = keras.optimizers.Adam(config.learning_rate * 5)  # 1e-3 at the default
            self.trackables = {
                "decoder": self.generator, "encoder": self.encoder, "optimizer": self.opt,
            }  # fmt: skip
            self.step = tf.function(self._vae_step)

    def one_hot(self, labels: tf.Tensor) -> tf.Tensor:
        return tf.one_hot(labels, self.cond) if self.cond else tf.zeros((tf.shape(labels)[0], 0))

    def latent_input(self, z: tf.Tensor, one_hot: tf.Tensor) -> tf.Tensor:
        return tf.concat([z, one_hot], axis=1) if self.cond else z

    def with_label(self, image: tf.Tensor, one_hot: tf.Tensor) -> object:
        """The critic's/encoder's input: the image, and the one-hot when conditional."""
        return [image, one_hot] if self.cond else image

    def _gan_step(self, real: tf.Tensor, labels: tf.Tensor) -> dict[str, tf.Tensor]:
        bce = keras.losses.BinaryCrossentropy(from_logits=True)
        one_hot = self.one_hot(labels)
        z = tf.random.normal((tf.shape(real)[0], self.config.latent))
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            fake = self.generator(self.latent_input(z, one_hot), training=True)
            real_logit = self.critic(self.with_label(real, one_hot), training=True)
            fake_logit = self.critic(self.with_label(fake, one_hot), training=True)
            if self.auxiliary:  # AC-GAN: D learns the class of real images, G is scored on it
                (real_logit, real_class), (fake_logit, fake_class) = real_logit, fake_logit
            d_loss = bce(tf.fill(tf.shape(real_logit), self.config.smooth), real_logit) + bce(
                tf.zeros_like(fake_logit), fake_logit
            )
            g_loss = bce(tf.ones_like(fake_logit), fake_logit)  # non-saturating
            extra = {}
            if self.auxiliary:
                ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
                extra = {"d_class": ce(labels, real_class), "g_class": ce(labels, fake_class)}
                d_loss += self.config.aux_weight * extra["d_class"]
                g_loss += self.config.aux_weight * extra["g_class"]
        g_vars, d_vars = self.generator.trainable_variables, self.critic.trainable_variables
        self.g_opt.apply_gradients(zip(g_tape.gradient(g_loss, g_vars), g_vars, strict=True))
        self.d_opt.apply_gradients(zip(d_tape.gradient(d_loss, d_vars), d_vars, strict=True))
        if self.average is not None:
            self._update_average()
        return {
            "d_loss": d_loss,
            "g_loss": g_loss,
            "d_real": tf.reduce_mean(tf.sigmoid(real_logit)),
            "d_fake": tf.reduce_mean(tf.sigmoid(fake_logit)),
            **extra,
        }

    def _update_average(self) -> None:
        """avg <- d avg + (1 - d) w for every weight, batch-norm statistics included; d ramps
        up as (1 + t) / (10 + t) to the set decay, so early steps are not averaged with the
        random start (as tf.train.ExponentialMovingAverage's num_updates)."""
        self.updates.assign_add(1)
        t = tf.cast(self.updates, tf.float32)
        decay = tf.minimum(self.config.ema_decay, (1.0 + t) / (10.0 + t))
        for avg, live in zip(self.average.weights, self.generator.weights, strict=True):
            avg.assign(decay * avg + (1.0 - decay) * live)

    @property
    def sampler(self) -> keras.Model:
        """The generator to sample and save: the weight average, else the trained one."""
        return self.average if self.average is not None else self.generator

    def vae_terms(
        self, real: tf.Tensor, labels: tf.Tensor, training: bool
    ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """Per-image reconstruction BCE (nats) and KL, each (N,), and the reconstruction
        (N, H, W, C) in -1..1 (z sampled when training, the posterior mean otherwise)."""
        one_hot = self.one_hot(labels)
        mean, log_var = self.encoder(self.with_label(real, one_hot), training=training)
        z = mean + tf.exp(0.5 * log_var) * tf.random.normal(tf.shape(mean)) if training else mean
        recon = self.generator(self.latent_input(z, one_hot), training=training)
        target = (real + 1.0) / 2.0
        prob = tf.clip_by_value((recon + 1.0) / 2.0, 1e-6, 1.0 - 1e-6)
        bce = -(target * tf.math.log(prob) + (1.0 - target) * tf.math.log(1.0 - prob))
        recon_nats = tf.reduce_sum(bce, axis=[1, 2, 3])
        kl = -0.5 * tf.reduce_sum(1.0 + log_var - tf.square(mean) - tf.exp(log_var), axis=1)
        return recon_nats, kl, recon

    def _vae_step(self, real: tf.Tensor, labels: tf.Tensor) -> dict[str, tf.Tensor]:
        with tf.GradientTape() as tape:
            recon, kl, _ = self.vae_terms(real, labels, training=True)
            loss = tf.reduce_mean(recon + self.config.beta * kl)
        variables = self.encoder.trainable_variables + self.generator.trainable_variables
        self.opt.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
        return {"loss": loss, "recon": tf.reduce_mean(recon), "kl": tf.reduce_mean(kl)}


def fixed_latents(config: GenerateConfig, classes: int) -> np.ndarray:
    """The sample grid's inputs: 100 draws (seed 1234); conditional models get the classes in
    columns (row-major grid, ``classes`` columns)."""
    columns = classes if config.conditional and classes <= 16 else 10
    count = columns * 10
    z = np.random.default_rng(1234).standard_normal((count, config.latent)).astype(np.float32)
    if not config.conditional:
        return z
    labels = np.arange(count) % classes
    return np.concatenate([z, np.eye(classes, dtype=np.float32)[labels]], axis=1)


def sample_grid(generator: keras.Model, inputs: np.ndarray, columns: int) -> np.ndarray:
    images = to_uint8(np.asarray(generator(inputs, training=False)))
    if images.shape[-1] == 3:
        images = images[..., ::-1]  # RGB data -> BGR PNG
    return grid(images, columns, scale=2)


def train_generator(config: GenerateConfig, data: GenerationData | None = None) -> GenerateResult:
    """Train as ``config`` says; returns the saved generator (see the module doc)."""
    started = time.monotonic()
    try:
        config.output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EdgeimgError(
            f"-o/--output: cannot create folder {config.output.parent}: {exc.strerror}"
        ) from None
    check_destination(config.output, "-o/--output")  # before any training, not after it
    if config.encoder_output is not None:
        check_destination(config.encoder_output, "the encoder file")
    seed_everything(config.seed)
    data = data or load_images(config.data, config.image_size)
    x_train, y_train = data.x_train, data.y_train
    if config.limit:
        x_train, y_train = x_train[: config.limit], y_train[: config.limit]
    if len(x_train) < config.batch_size:
        raise EdgeimgError(
            f"{config.data}: {len(x_train)} training images, fewer than one batch of "
            f"{config.batch_size}"
        )
    classes = len(data.class_names)
    if config.conditional and classes < 2:
        raise EdgeimgError(
            f"--conditional: {config.data} has {classes} class; a conditional model needs "
            "labelled data (class sub-folders or a dataset with labels)"
        )
    models.check_shape(data.image_shape)
    contract = generator_contract(data, config)
    nets = Networks(config, data.image_shape, classes)
    epoch_var = tf.Variable(0, dtype=tf.int64, name="epoch")
    checkpoint = tf.train.Checkpoint(epoch=epoch_var, **nets.trackables)
    manager = tf.train.CheckpointManager(checkpoint, str(config.checkpoint_dir), max_to_keep=2)
    if config.resume:
        if manager.latest_checkpoint is None:
            raise EdgeimgError(f"--resume: no checkpoint in {config.checkpoint_dir}")
        checkpoint.restore(manager.latest_checkpoint).expect_partial()
        log.info("resumed from %s (epoch %d)", manager.latest_checkpoint, int(epoch_var))
    dataset = (
        tf.data.Dataset.from_tensor_slices((x_train, y_train))
        .shuffle(min(len(x_train), 60_000), seed=config.seed, reshuffle_each_iteration=True)
        .batch(config.batch_size, drop_remainder=True)
        .map(lambda x, y: (tf.cast(x, tf.float32) / 127.5 - 1.0, y), tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )
    if config.steps_per_epoch:
        dataset = dataset.repeat().take(config.steps_per_epoch)
    inputs = fixed_latents(config, classes)
    columns = classes if config.conditional and classes <= 16 else 10
    history: list[EpochLog] = []
    log_path = config.checkpoint_dir / "log.jsonl"
    config.checkpoint_dir.mkdir(parents=True, exist_ok=True)
    config.sample_dir.mkdir(parents=True, exist_ok=True)
    if not config.resume:
        log_path.unlink(missing_ok=True)  # a fresh run starts its own log
    for epoch in range(int(epoch_var) + 1, config.epochs + 1):
        tick = time.monotonic()
        sums: dict[str, float] = {}
        steps = 0
        total = config.steps_per_epoch or len(x_train) // config.batch_size
        # a bar on a terminal (tqdm's disable=None: off when stderr is not a TTY, as in logs)
        bar = tqdm(dataset, total=total, desc=f"epoch {epoch}", leave=False, disable=None)
        for real, labels in bar:
            for key, value in nets.step(real, labels).items():
                sums[key] = sums.get(key, 0.0) + float(value)
            steps += 1
            if steps % 20 == 0:
                bar.set_postfix({k: f"{v / steps:.3f}" for k, v in sums.items() if "loss" in k})
        entry = EpochLog(epoch, time.monotonic() - tick, {k: v / steps for k, v in sums.items()})
        history.append(entry)
        log.info("%s", entry.line(config.epochs))
        write_image(
            config.sample_dir / f"epoch_{epoch:03d}.png",
            sample_grid(nets.sampler, inputs, columns),
        )
        epoch_var.assign(epoch)
        manager.save()
        with open(log_path, "a") as handle:  # one line per epoch, kept across --resume
            handle.write(
                json.dumps({"epoch": epoch, "seconds": entry.seconds, **entry.losses}) + "\n"
            )
    test_terms = None
    if config.arch is GenArch.VAE and len(data.x_test):
        test_terms = vae_test_terms(nets, data)
        log.info("VAE on %d test images: %s", len(data.x_test), test_terms)
    save_keras(nets.sampler, config.output, contract)
    if config.encoder_output is not None:
        encoder = models.encoder_with_planes(nets.encoder, nets.cond)
        save_keras(encoder, config.encoder_output, encoder_contract(data, config))
    samples = config.sample_dir / f"epoch_{config.epochs:03d}.png"
    return GenerateResult(
        config.output,
        contract,
        nets.sampler.count_params(),
        time.monotonic() - started,
        tuple(history),
        samples if samples.exists() else None,
        test_terms,
        config.encoder_output,
    )


def vae_test_terms(nets: Networks, data: GenerationData) -> dict[str, float]:
    """Mean reconstruction BCE, KL and the negative ELBO (nats per image) on the test split,
    z at the posterior mean for the reconstruction, and the pixel MAE (0..255) of it."""
    recon_sum = kl_sum = mae_sum = 0.0
    for start in range(0, len(data.x_test), 500):
        real = tf.constant(to_tanh(data.x_test[start : start + 500]))
        labels = data.y_test[start : start + 500]
        recon, kl, decoded = nets.vae_terms(real, tf.constant(labels), training=False)
        recon_sum += float(tf.reduce_sum(recon))
        kl_sum += float(tf.reduce_sum(kl))
        images = to_uint8(np.asarray(decoded)).astype(np.float32)
        mae_sum += float(np.abs(images - data.x_test[start : start + 500]).sum()) / images[0].size
    count = len(data.x_test)
    recon_mean, kl_mean = recon_sum / count, kl_sum / count
    return {
        "recon_nats": recon_mean,
        "kl_nats": kl_mean,
        "neg_elbo_nats": recon_mean + kl_mean,
        "recon_mae_pixels": mae_sum / count,
    }
