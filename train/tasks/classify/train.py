"""Train an image classifier end to end: read, split, augment, fit, test, save with contract."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeimg.runtime.errors import EdgeimgError
from edgeimg.train.data.classes import check_class_names
from edgeimg.train.fit import (
    FitConfig,
    check_keras_output,
    fit,
    inference_copy,
    make_strategy,
    save_keras,
)
from edgeimg.train.tasks.classify.contract import classifier_contract
from edgeimg.train.tasks.classify.data import ClassificationData, load_classification
from edgeimg.train.tasks.classify.evaluate import accuracy, confusion_matrix
from edgeimg.train.tasks.classify.models import Arch, build_classifier

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClassifyConfig:
    """What to train.

    data: dataset folder (format auto-detected). output: the ``.keras`` file to write.
    validation_split: fraction of the training images held out for validation (seeded).
    num_classes / class_names: when given, the data must match them (a guard for pipelines).
    limit: use only the first N training and N test images (quick runs).
    """

    data: Path
    output: Path
    arch: Arch = Arch.CIFAR_CNN
    width: float = 1.0
    validation_split: float = 0.1
    augment: bool = True
    image_size: tuple[int, int] | None = None
    num_classes: int | None = None
    class_names: tuple[str, ...] | None = None
    limit: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "arch", Arch.parse(self.arch))
        if not 0 <= self.validation_split < 1:
            raise EdgeimgError(
                f"validation split: expected 0 <= fraction < 1, got {self.validation_split}"
            )
        object.__setattr__(self, "output", check_keras_output(self.output))


@dataclass(frozen=True)
class ClassifyResult:
    model_path: Path
    test_accuracy: float
    confusion: np.ndarray
    class_names: tuple[str, ...]
    params: int
    file_bytes: int
    epochs: list[dict]


def split(data: ClassificationData, fraction: float, seed: int):
    """(x_train, y_train, x_val, y_val): a seeded random ``fraction`` of train for validation."""
    order = np.random.default_rng(seed).permutation(len(data.x_train))
    n_val = round(len(order) * fraction)
    val, train = order[:n_val], order[n_val:]
    return data.x_train[train], data.y_train[train], data.x_train[val], data.y_train[val]


def train_classifier(config: ClassifyConfig, fit_config: FitConfig) -> ClassifyResult:
    """Train, then test on the test split (the validation split when there is none)."""
    import keras

    from edgeimg.train.fit import seed_everything, tensorflow_backend
    from edgeimg.train.tasks.classify.augment import ClassifyAugment
    from edgeimg.train.tasks.classify.batches import ClassifyBatches

    data = load_classification(config.data, config.image_size)
    check_class_names(data.class_names, config.num_classes, config.class_names)
    if config.limit:
        data = ClassificationData(
            data.x_train[: config.limit],
            data.y_train[: config.limit],
            data.x_test[: config.limit],
            data.y_test[: config.limit],
            data.class_names,
            data.format,
        )
    seed_everything(fit_config.seed)
    x_train, y_train, x_val, y_val = split(data, config.validation_split, fit_config.seed)
    if len(x_train) == 0:
        raise EdgeimgError(f"{config.data}: no training images left after the validation split")
    x_test, y_test = (data.x_test, data.y_test) if len(data.x_test) else (x_val, y_val)
    shape = data.input_shape
    augment = (
        ClassifyAugment.for_data(shape[2], data.class_names, min(shape[:2]))
        if config.augment
        else None
    )
    log.info("augmentation: %s", augment)
    strategy = make_strategy(fit_config.strategy)
    batch = fit_config.batch_size
    if tensorflow_backend():
        from edgeimg.train.tasks.classify.pipeline import classification_dataset

        train_ds = classification_dataset(
            x_train, y_train, batch, augment, shuffle_seed=fit_config.seed
        ).repeat()
        val_ds = classification_dataset(x_val, y_val, batch) if len(x_val) else None
    else:  # JAX / PyTorch: no tf.data
        train_ds = ClassifyBatches(x_train, y_train, batch, augment, fit_config.seed)
        val_ds = ClassifyBatches(x_val, y_val, batch) if len(x_val) else None
    steps = math.ceil(len(x_train) / batch)
    contract = classifier_contract(data.class_names, shape)

    def build():
        return build_classifier(config.arch, shape, data.num_classes, config.width)

    def compile_model(model, optimizer):
        model.compile(
            optimizer=optimizer,
            loss=keras.losses.SparseCategoricalCrossentropy(),
            metrics=["accuracy"],
        )

    def check_model(model):
        if model.input_shape[1:] != shape or model.output_shape[-1] != data.num_classes:
            raise EdgeimgError(
                f"checkpoint expects input {model.input_shape[1:]} and "
                f"{model.output_shape[-1]} classes, the data has {shape} and {data.num_classes}"
            )

    model, epochs = fit(
        build, compile_model, train_ds, val_ds, steps, fit_config, contract, strategy, check_model
    )
    final = inference_copy(model, build)
    probs = final.predict(x_test.astype(np.float32), batch_size=256, verbose=0)
    predicted = probs.argmax(axis=1)
    path = save_keras(final, config.output, contract)
    return ClassifyResult(
        model_path=path,
        test_accuracy=accuracy(y_test, predicted),
        confusion=confusion_matrix(y_test, predicted, data.num_classes),
        class_names=data.class_names,
        params=final.count_params(),
        file_bytes=path.stat().st_size,
        epochs=epochs,
    )
