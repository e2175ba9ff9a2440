"""``train_upscale``: train an ESPCN or FSRCNN on Y patches, score it per test set, save it.

The optimiser and schedule are the generic loop's (``edgeimg.train.fit.make_optimizer``: Adam,
cosine decay to 1 % with optional warm-up). The per-epoch progress is Keras' line plus, when
validation folders are given, the Y-PSNR on the first of them (monitoring only: the model kept
is the last epoch's, never one picked on a test set).

The ``.keras`` file is written with ``model.save`` to a temporary name, given the upscale
contract (:func:`~edgeimg.train.tasks.upscale.contract.upscale_contract`, the ``edgeimg.json``
entry ``edgeimg export`` reads) and ``os.replace``d into place; the training facts (scale,
arch, scores) go to a JSON file beside it (``<output>.json``).
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import keras
import numpy as np

from edgeimg.runtime.errors import EdgeimgError
from edgeimg.train.fit import FitConfig, JsonLinesLogger, make_optimizer, seed_everything
from edgeimg.train.tasks.upscale.data import Color, PatchSequence, load_pairs
from edgeimg.train.tasks.upscale.evaluate import SetScore, keras_upscaler, score_pairs
from edgeimg.train.tasks.upscale.models import SCALES, Arch, build_upscaler

log = logging.getLogger(__name__)

LOSSES = {"l1": "mean_absolute_error", "l2": "mean_squared_error"}


@dataclass(frozen=True)
class UpscaleConfig:
    """What and how to train.

    train_dirs: folders of natural images (recursive png/jpg) to cut patches from.
    val_dirs: folders of HR test images scored at the end (e.g. Set5, BSD68); never trained on.
    scale: 2, 3 or 4. arch: espcn or fsrcnn. width: first-layer filters (None: the paper's,
    64 for ESPCN, 56 for FSRCNN); shrink and mapping: FSRCNN's s and m; anchor: ESPCN's
    nearest-neighbour residual; activation: ESPCN's hidden activation.
    patch_size: HR patch side (a multiple of scale); the LR patch is patch_size // scale.
    steps_per_epoch x epochs batches of batch_size patches; learning_rate: the cosine peak.
    loss: l1 or l2 (on 0..255 Y; l2 is the default: PSNR is an L2 measure, and it scored
    0.07-0.1 dB higher than l1 in short runs here). hr_shrink: reduce each training image by this factor
    first (MATLAB bicubic; < 1 sharpens soft or JPEG photos, see ``data.make_pair``).
    color: Y (the papers': chroma enlarged bicubically at run time) or RGB (3-channel model).
    max_images: use only the first N training images (tests).
    init_from: start from the weights of this ``.keras`` file (same architecture and scale),
    e.g. to continue a run with a new schedule.
    output: the ``.keras`` file written at the end.
    """

    train_dirs: tuple[Path, ...]
    val_dirs: tuple[Path, ...] = ()
    output: Path = Path("runs/upscale/upscaler.keras")
    scale: int = 3
    arch: Arch = Arch.ESPCN
    width: int | None = None
    shrink: int = 12
    mapping: int = 4
    anchor: bool = True
    activation: str = "relu"
    patch_size: int = 48
    epochs: int = 10
    steps_per_epoch: int = 500
    batch_size: int = 16
    learning_rate: float = 1e-3
    warmup_epochs: float = 0.0
    loss: str = "l2"
    seed: int = 0
    max_images: int | None = None
    hr_shrink: float = 1.0
    color: Color = Color.Y
    init_from: Path | None = None
    verbose: int = 2
    log_dir: Path | None = field(default=None)

    def __post_init__(self) -> None:
        object.__setattr__(self, "train_dirs", tuple(Path(p) for p in self.train_dirs))
        object.__setattr__(self, "val_dirs", tuple(Path(p) for p in self.val_dirs))
        object.__setattr__(self, "output", Path(self.output))
        object.__setattr__(self, "arch", Arch.parse(self.arch))
        try:
            object.__setattr__(self, "color", Color(self.color))
        except ValueError:
            raise EdgeimgError(f"color: expected y or rgb, got {self.color!r}") from None
        if not self.train_dirs:
            raise EdgeimgError("train_dirs: expected at least one folder of images, got none")
        if self.scale not in SCALES:
            raise EdgeimgError(f"scale: expected one of {SCALES}, got {self.scale}")
        if self.patch_size % self.scale or self.patch_size < 2 * self.scale:
            raise EdgeimgError(
                f"patch_size: expected a multiple of scale {self.scale} >= {2 * self.scale}, "
                f"got {self.patch_size}"
            )
        if self.loss not in LOSSES:
            raise EdgeimgError(f"loss: expected one of {', '.join(LOSSES)}, got {self.loss!r}")
        if self.output.suffix != ".keras":
            raise EdgeimgError(f"output: expected a .keras path, got {self.output}")
        if self.steps_per_epoch < 1:
            raise EdgeimgError(f"steps_per_epoch: expected >= 1, got {self.steps_per_epoch}")

    def fit_config(self) -> FitConfig:
        return FitConfig(
            epochs=self.epochs,
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            warmup_epochs=self.warmup_epochs,
            seed=self.seed,
            verbose=self.verbose,
        )

    def build(self) -> keras.Model:
        if self.arch is Arch.ESPCN:
            kwargs = {"anchor": self.anchor, "activation": self.activation}
        else:
            kwargs = {"shrink": self.shrink, "mapping": self.mapping}
        return build_upscaler(
            self.arch, self.scale, self.width, channels=self.color.channels, **kwargs
        )


@dataclass(frozen=True)
class UpscaleResult:
    """The saved file, per-set scores (model vs bicubic), epoch logs, params and seconds."""

    path: Path
    scores: tuple[SetScore, ...]
    epochs: tuple[dict, ...]
    params: int
    seconds: float


class ValidationPsnr(keras.callbacks.Callback):
    """Logs ``val_psnr`` (Y-PSNR on a few test pairs) after each epoch, for progress only."""

    def __init__(self, pairs, scale: int):
        super().__init__()
        self.pairs, self.scale = pairs, scale

    def on_epoch_end(self, epoch, logs=None):
        score = score_pairs("val", self.pairs, self.scale, keras_upscaler(self.model))
        if logs is not None:
            logs["val_psnr"] = score.psnr
        log.info(
            "epoch %d: val Y-PSNR %.3f dB (bicubic %.3f)", epoch + 1, score.psnr, score.bicubic_psnr
        )


def load_weights_from(model: keras.Model, path: Path) -> None:
    """Copy the weights of the ``.keras`` file ``path`` into ``model`` (same architecture)."""
    import edgeimg.train.tasks.upscale.models  # noqa: F401  (registers PixelShuffle)

    if not path.is_file():
        raise EdgeimgError(f"init_from: no such Keras file: {path}")
    source = keras.models.load_model(path, compile=False, safe_mode=True)
    want = [tuple(w.shape) for w in model.weights]
    have = [tuple(w.shape) for w in source.weights]
    if want != have:
        raise EdgeimgError(
            f"init_from {path}: expected weights shaped {want}, got {have} (another arch/scale)"
        )
    model.set_weights(source.get_weights())


def _plain(value):
    """A config value as JSON: enums by value, paths as text, tuples as lists."""
    if isinstance(value, (Arch, Color)):
        return value.value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def save_model_atomic(
    model: keras.Model, path: Path, scale: int | None = None, channels: int = 1
) -> Path:
    """``model.save`` to a temporary name in the same folder, with the upscale contract at
    ``scale`` for ``channels`` (None: none), then ``os.replace`` into place."""
    from edgeimg.export.keras_file import attach_contract
    from edgeimg.train.tasks.upscale.contract import upscale_contract

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.partial.keras")
    try:
        model.save(tmp)
        if scale is not None:
            attach_contract(tmp, upscale_contract(scale, channels))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def train_upscale(config: UpscaleConfig) -> UpscaleResult:
    """Train ``config.arch`` at ``config.scale``, score it on ``val_dirs``, save ``output``."""
    start = time.monotonic()
    seed_everything(config.seed)
    lr_patch = config.patch_size // config.scale
    pairs = load_pairs(
        config.train_dirs,
        config.scale,
        lr_patch,
        config.hr_shrink,
        limit=config.max_images,
        color=config.color,
    )
    log.info(
        "%d training images, x%d, HR patch %d, %s",
        len(pairs),
        config.scale,
        config.patch_size,
        config.color.value.upper(),
    )
    data = PatchSequence(
        pairs,
        config.scale,
        config.patch_size,
        config.batch_size,
        config.steps_per_epoch,
        seed=config.seed,
    )
    val_sets = [
        (Path(d).name, load_pairs((d,), config.scale, color=config.color)) for d in config.val_dirs
    ]
    model = config.build()
    if config.init_from is not None:
        load_weights_from(model, Path(config.init_from))
    fit_config = config.fit_config()
    model.compile(
        optimizer=make_optimizer(fit_config, config.steps_per_epoch), loss=LOSSES[config.loss]
    )
    callbacks: list[keras.callbacks.Callback] = [keras.callbacks.TerminateOnNaN()]
    if val_sets:
        callbacks.append(ValidationPsnr(val_sets[0][1], config.scale))
    if config.log_dir is not None:
        Path(config.log_dir).mkdir(parents=True, exist_ok=True)
        callbacks.append(JsonLinesLogger(Path(config.log_dir) / "log.jsonl"))
    history = model.fit(
        data, epochs=config.epochs, callbacks=callbacks, verbose=config.verbose, shuffle=False
    )
    epochs = tuple(
        {k: float(v[i]) for k, v in history.history.items()} for i in range(len(history.epoch))
    )
    if not epochs or not np.isfinite(epochs[-1]["loss"]):
        raise EdgeimgError(f"training diverged: last epoch loss {epochs[-1:]}")
    scores = tuple(
        score_pairs(name, set_pairs, config.scale, keras_upscaler(model))
        for name, set_pairs in val_sets
    )
    for score in scores:
        log.info("%s", score.line())
    inference = config.build()
    inference.set_weights(model.get_weights())
    path = save_model_atomic(inference, config.output, config.scale, config.color.channels)
    seconds = time.monotonic() - start
    facts = {
        "config": {k: _plain(v) for k, v in asdict(config).items()},
        "scores": [asdict(s) for s in scores],
        "params": inference.count_params(),
        "seconds": round(seconds, 1),
        "epochs": list(epochs),
    }
    tmp = path.with_name(f".{path.name}.json.partial")
    tmp.write_text(json.dumps(facts, indent=1, default=str))
    os.replace(tmp, path.with_suffix(".json"))
    return UpscaleResult(path, scores, epochs, inference.count_params(), seconds)
