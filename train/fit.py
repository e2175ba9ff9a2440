"""The training loop: Keras ``fit`` on ``tf.data``, under a ``tf.distribute`` strategy.

Callbacks give a progress bar per epoch (Keras'), a JSON-lines log, ``.keras`` checkpoints that
carry the edgeimg contract (``last.keras`` every epoch, ``best.keras`` on a better validation
loss, ``state.json`` with the epoch reached), early stopping and resume from the checkpoint
folder. Every ``.keras`` file is written to a temporary name and moved into place, so an
interrupted run never leaves a half-written model.

Strategies (``--strategy``): ``default`` (TensorFlow's default: the first GPU or the CPU),
``one_device`` (pinned to one device), ``mirrored`` (synchronous data parallelism over the GPUs
of this host) and ``multi_worker`` (the same across hosts; each host runs the same command with
``TF_CONFIG`` naming the cluster and its own index, and the chief, worker 0, writes the files).
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

import keras

from edgeimg.export.keras_file import attach_contract, load_keras
from edgeimg.runtime.atomic import atomic_output, write_text
from edgeimg.runtime.contract import ModelContract
from edgeimg.runtime.errors import EdgeimgError, parse_enum
from edgeimg.train.config import FitConfig, StrategyKind
from edgeimg.train.tasks import import_keras_objects

if TYPE_CHECKING:
    import tensorflow as tf

log = logging.getLogger(__name__)

LAST, BEST, STATE, LOG = "last.keras", "best.keras", "state.json", "log.jsonl"


def tensorflow_backend() -> bool:
    """Whether Keras runs on TensorFlow (tf.data, tf.distribute); JAX and PyTorch also train."""
    return keras.backend.backend() == "tensorflow"


def make_strategy(
    kind: StrategyKind | str, device: str | None = None
) -> tf.distribute.Strategy | None:
    """The ``tf.distribute`` strategy of ``kind``; ``device`` (e.g. ``/cpu:0``) for one_device.

    On another Keras backend (``KERAS_BACKEND=jax`` on a GPU host without TensorFlow) only
    ``default`` is available and gives None: Keras places the model on the backend's device.
    """
    kind = parse_enum(StrategyKind, kind, "strategy")
    if not tensorflow_backend():
        if kind is not StrategyKind.DEFAULT:
            raise EdgeimgError(
                f"strategy {kind.value} needs the TensorFlow backend, Keras runs on "
                f"{keras.backend.backend()}"
            )
        return None
    import tensorflow as tf

    if kind is StrategyKind.DEFAULT:
        return tf.distribute.get_strategy()
    if kind is StrategyKind.ONE_DEVICE:
        gpus = tf.config.list_logical_devices("GPU")
        return tf.distribute.OneDeviceStrategy(device or ("/gpu:0" if gpus else "/cpu:0"))
    if kind is StrategyKind.MIRRORED:
        return tf.distribute.MirroredStrategy()
    text = os.environ.get("TF_CONFIG", "")
    try:
        cluster = json.loads(text)["cluster"]
    except (json.JSONDecodeError, KeyError, TypeError):
        raise EdgeimgError(
            "strategy multi_worker needs TF_CONFIG, a JSON object with 'cluster' (worker "
            "host:port list) and 'task' (this host's type and index); got "
            f"{text[:60]!r}" + ("" if text else " (unset)")
        ) from None
    log.info("multi-worker cluster: %s", cluster)
    return tf.distribute.MultiWorkerMirroredStrategy()


def seed_everything(seed: int) -> None:
    """Python, numpy and TensorFlow random state from one seed."""
    keras.utils.set_random_seed(seed)


def make_optimizer(config: FitConfig, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    """AdamW (Adam when weight_decay is 0) on a cosine schedule with linear warm-up."""
    total = max(1, config.epochs * steps_per_epoch)
    warmup = min(total - 1, int(config.warmup_epochs * steps_per_epoch))
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=config.learning_rate * (0.1 if warmup else 1.0),
        decay_steps=total - warmup,
        alpha=0.01,
        warmup_target=config.learning_rate if warmup else None,
        warmup_steps=warmup,
    )
    if config.weight_decay:
        return keras.optimizers.AdamW(schedule, weight_decay=config.weight_decay)
    return keras.optimizers.Adam(schedule)


def save_keras(model: keras.Model, path: str | Path, contract: ModelContract) -> Path:
    """Save ``model`` with the contract inside, atomically (temp file in the folder, then move)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path, "model") as tmp:
        model.save(tmp)
        attach_contract(tmp, contract)
    return path


def check_keras_output(path: str | Path) -> Path:
    """``path`` as a Path, or a one-line error when it does not name a ``.keras`` file."""
    if Path(path).suffix != ".keras":
        raise EdgeimgError(f"output: expected a .keras file name, got {path}")
    return Path(path)


def inference_copy(model: keras.Model, build: Callable[[], keras.Model] | None = None):
    """An uncompiled copy of ``model`` for the output file (no optimizer, no custom losses, so
    it loads anywhere with safe_mode). ``build`` makes the target architecture (e.g. the
    detector at its fixed input size); by default the model is cloned."""
    copy = build() if build is not None else keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def copy_weights(net: keras.Model, source: keras.Model, where: str, hint: str) -> None:
    """Copy ``source``'s weights into ``net`` layer by layer, by name (``--init-from``).

    A layer ``source`` lacks is allowed only when it starts at zero and so adds nothing (a
    branch grown onto a trained network): training then starts from exactly ``source``'s
    function. Other differences are one-line errors that start with ``where`` and end with
    ``hint`` (which options make the shapes agree).
    """
    import numpy as np

    theirs_by_name = {layer.name: layer for layer in source.layers}
    for layer in net.layers:
        mine = layer.get_weights()
        if not mine:
            continue
        if layer.name not in theirs_by_name:
            if any(np.any(w) for w in mine):
                raise EdgeimgError(
                    f"{where}: expected a layer {layer.name} ({hint}), the file has none"
                )
            continue
        theirs = theirs_by_name[layer.name].get_weights()
        if [w.shape for w in theirs] != [w.shape for w in mine]:
            raise EdgeimgError(
                f"{where}: layer {layer.name}: expected weights of shapes "
                f"{[w.shape for w in mine]}, the file has {[w.shape for w in theirs]} ({hint})"
            )
        layer.set_weights(theirs)


class JsonLinesLogger(keras.callbacks.Callback):
    """Appends one JSON object per epoch: epoch, seconds, learning rate and every metric."""

    def __init__(self, path: Path, enabled: bool = True):
        super().__init__()
        self.path = path
        self.enabled = enabled
        self._start = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        if not self.enabled:
            return
        record = {"epoch": epoch + 1, "seconds": round(time.monotonic() - self._start, 2)}
        lr = self.model.optimizer.learning_rate
        record["learning_rate"] = float(keras.ops.convert_to_numpy(lr))
        record.update({k: float(v) for k, v in (logs or {}).items()})
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")


class Checkpointer(keras.callbacks.Callback):
    """Each epoch: ``last.keras`` (with optimizer state, for resume) and ``state.json``; a copy
    to ``best.keras`` when ``monitor`` improves. Every file carries the contract."""

    def __init__(self, folder: Path, contract: ModelContract, monitor: str, enabled: bool = True):
        super().__init__()
        self.folder = folder
        self.contract = contract
        self.monitor = monitor
        self.enabled = enabled
        self.best = math.inf
        state = read_state(folder)
        if state:
            self.best = state.get("best", math.inf)

    def on_epoch_end(self, epoch, logs=None):
        if not self.enabled:
            return
        logs = logs or {}
        value = float(logs.get(self.monitor, logs.get("loss", math.inf)))
        save_keras(self.model, self.folder / LAST, self.contract)
        if value < self.best:
            self.best = value
            with atomic_output(self.folder / BEST, "checkpoint") as tmp:
                shutil.copyfile(self.folder / LAST, tmp)
        state = {"epoch": epoch + 1, "best": self.best, "monitor": self.monitor}
        write_text(self.folder / STATE, json.dumps(state), "checkpoint state")


def read_state(folder: Path) -> dict:
    path = Path(folder) / STATE
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        raise EdgeimgError(f"{path}: not valid JSON; delete it to start afresh") from None


def fit(
    build: Callable[[], keras.Model],
    compile_model: Callable[[keras.Model, keras.optimizers.Optimizer], None],
    train_data: tf.data.Dataset | keras.utils.PyDataset,
    validation_data: tf.data.Dataset | keras.utils.PyDataset | None,
    steps_per_epoch: int,
    config: FitConfig,
    contract: ModelContract,
    strategy: tf.distribute.Strategy | None = None,
    check_model: Callable[[keras.Model], None] | None = None,
) -> tuple[keras.Model, list[dict]]:
    """Train a model built by ``build`` (or resumed from the checkpoint folder).

    compile_model(model, optimizer) compiles it (loss, metrics). check_model(model) may refuse
    a resumed model that does not fit the data (say, another class count).
    Returns the trained model (best weights when early stopping fired) and the epoch logs.
    """
    if strategy is None:
        strategy = make_strategy(config.strategy)
    folder = config.checkpoint_dir
    chief = strategy is None or getattr(strategy.extended, "should_checkpoint", True)
    if chief:
        folder.mkdir(parents=True, exist_ok=True)
    state = read_state(folder) if config.resume else {}
    initial_epoch = int(state.get("epoch", 0))
    with strategy.scope() if strategy is not None else nullcontext():
        if config.resume and (folder / LAST).is_file():
            import_keras_objects()  # the tasks' custom losses and layers
            model, _ = load_keras(folder / LAST, compile=True)
            if check_model:
                check_model(model)
            log.info("resuming %s at epoch %d", folder / LAST, initial_epoch + 1)
        else:
            if config.resume:
                raise EdgeimgError(f"cannot resume: {folder / LAST} does not exist")
            if chief and (folder / LOG).exists():
                (folder / LOG).unlink()
            model = build()
            compile_model(model, make_optimizer(config, steps_per_epoch))
    if initial_epoch >= config.epochs:
        log.info("checkpoint is already at epoch %d of %d", initial_epoch, config.epochs)
        return model, []
    monitor = "val_loss" if validation_data is not None else "loss"
    callbacks: list[keras.callbacks.Callback] = [
        JsonLinesLogger(folder / LOG, enabled=chief),
        Checkpointer(folder, contract, monitor, enabled=chief),
        keras.callbacks.TerminateOnNaN(),
    ]
    if config.patience:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor=monitor,
                patience=config.patience,
                restore_best_weights=True,
                verbose=1,
            )
        )
    history = model.fit(
        train_data,
        validation_data=validation_data,
        epochs=config.epochs,
        initial_epoch=initial_epoch,
        steps_per_epoch=steps_per_epoch,
        callbacks=callbacks,
        verbose=config.verbose,
        shuffle=False,  # the pipelines shuffle (seeded) themselves
    )
    epochs = [
        {k: float(v[i]) for k, v in history.history.items()} for i in range(len(history.epoch))
    ]
    return model, epochs
