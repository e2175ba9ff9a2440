"""Train a semantic segmenter end to end: read, hold out, augment, fit, evaluate, save."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeimg.runtime.errors import EdgeimgError
from edgeimg.train.fit import FitConfig, check_keras_output, fit, inference_copy, save_keras
from edgeimg.train.tasks.segment.augment import SegmentAugment
from edgeimg.train.tasks.segment.contract import segmenter_contract
from edgeimg.train.tasks.segment.data import (
    LabelFormat,
    SegmentationData,
    class_weights,
    load_segmentation,
)
from edgeimg.train.tasks.segment.models import STRIDE

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SegmentConfig:
    """What to train.

    data: the training image folder (labels beside it, or ``labels``). test: an image folder
    evaluated once at the end (e.g. ``CamVid/val``), never used for training or model choice.
    input_hw: the model's input (frames are letterboxed to it); crop_hw: the training window.
    xla: compile the training step with XLA (Keras' ``jit_compile="auto"``); off saves the
    compile time of short runs.
    val_fraction: the last fraction of the (name-sorted) training frames held out to monitor
    the validation loss (contiguous, so neighbouring video frames stay on one side).
    """

    data: Path
    output: Path
    labels: Path | None = None
    format: LabelFormat | None = None
    test: Path | None = None
    test_labels: Path | None = None
    input_hw: tuple[int, int] = (368, 480)
    crop_hw: tuple[int, int] = (224, 320)
    width: float = 1.0
    val_fraction: float = 0.1
    augment: bool = True
    limit: int | None = None
    xla: bool = True

    def __post_init__(self) -> None:
        for what, hw in (("input size", self.input_hw), ("crop size", self.crop_hw)):
            if any(v < STRIDE or v % STRIDE for v in hw):
                raise EdgeimgError(f"{what}: expected multiples of {STRIDE}, got {hw[0]}x{hw[1]}")
        if not 0 <= self.val_fraction < 1:
            raise EdgeimgError(f"validation fraction: expected 0..1, got {self.val_fraction}")
        object.__setattr__(self, "output", check_keras_output(self.output))


@dataclass(frozen=True)
class SegmentResult:
    model_path: Path
    class_names: tuple[str, ...]
    confusion: np.ndarray | None  # on ``test``, when given
    params: int
    file_bytes: int
    epochs: list[dict]
    minutes: float


def hold_out(data: SegmentationData, fraction: float):
    """(train, validation): the last ``fraction`` of frames (name order) held out."""
    n_val = round(len(data) * fraction)
    if n_val == 0:
        return data, None
    if n_val >= len(data):
        raise EdgeimgError(f"validation fraction {fraction} leaves no training frames")
    return data.subset(slice(0, len(data) - n_val)), data.subset(slice(len(data) - n_val, None))


def train_segmenter(config: SegmentConfig, fit_config: FitConfig) -> SegmentResult:
    import keras

    from edgeimg.train.fit import make_strategy, seed_everything
    from edgeimg.train.tasks.segment.evaluate import evaluate_segmenter
    from edgeimg.train.tasks.segment.models import build_segmenter
    from edgeimg.train.tasks.segment.pipeline import segment_dataset

    started = time.monotonic()
    data = load_segmentation(config.data, config.labels, config.format, config.limit)
    test = load_segmentation(config.test, config.test_labels, data.format) if config.test else None
    seed_everything(fit_config.seed)
    train, val = hold_out(data, config.val_fraction)
    weights = class_weights(train.labels, data.num_classes)
    log.info("class weights: %s", np.round(weights, 2).tolist())
    height, width = data.images.shape[1:3]
    base_scale = min(config.input_hw[0] / height, config.input_hw[1] / width)
    augment = SegmentAugment() if config.augment else None
    batch = fit_config.batch_size
    train_ds = segment_dataset(
        train, config.crop_hw, batch, weights, base_scale, augment, fit_config.seed
    ).repeat()
    val_ds = segment_dataset(val, config.input_hw, batch, weights) if val is not None else None
    steps = max(1, math.ceil(len(train) / batch))
    contract = segmenter_contract(data.spec.class_names, data.spec.palette, config.input_hw)
    num_classes = data.num_classes

    def build():
        return build_segmenter(num_classes, (None, None), config.width)

    def compile_model(model, optimizer):
        model.compile(
            optimizer=optimizer,
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            weighted_metrics=["accuracy"],
            jit_compile="auto" if config.xla else False,
        )

    def check_model(model):
        if model.output_shape[-1] != num_classes:
            raise EdgeimgError(
                f"checkpoint has {model.output_shape[-1]} classes, the data {num_classes}"
            )

    strategy = make_strategy(fit_config.strategy)
    model, epochs = fit(
        build, compile_model, train_ds, val_ds, steps, fit_config, contract, strategy, check_model
    )
    final = inference_copy(
        model, lambda: build_segmenter(num_classes, config.input_hw, config.width)
    )
    path = save_keras(final, config.output, contract)
    confusion = evaluate_segmenter(final, test, config.input_hw) if test is not None else None
    return SegmentResult(
        model_path=path,
        class_names=data.spec.class_names,
        confusion=confusion,
        params=final.count_params(),
        file_bytes=path.stat().st_size,
        epochs=epochs,
        minutes=(time.monotonic() - started) / 60,
    )
