"""Train the centernet detector end to end: read, augment, fit, evaluate AP, save with contract."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from edgeimg.runtime.contract import ModelContract
from edgeimg.runtime.errors import EdgeimgError
from edgeimg.train.data.classes import check_class_names
from edgeimg.train.fit import (
    FitConfig,
    check_keras_output,
    copy_weights,
    fit,
    inference_copy,
    make_strategy,
    save_keras,
)
from edgeimg.train.tasks.detect.augment import BoxAugment
from edgeimg.train.tasks.detect.contract import detector_contract
from edgeimg.train.tasks.detect.data import (
    DetectionDataset,
    DetectionSample,
    FrameRange,
    load_detection,
    select_classes,
)
from edgeimg.train.tasks.detect.evaluate import DetectionMetrics, detection_ap, predict_detections
from edgeimg.train.tasks.detect.models import (
    BACKBONE_PREFIXES,
    DetectorConfig,
    build_detector,
    count_macs,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DataSpec:
    """One dataset: a path (or ``synthetic:...``), an optional 1-based frame range, and how many
    times its images count in an epoch (to give a small dataset weight beside a large one).

    Text form ``SPEC[@FIRST-LAST][*N]`` (e.g. ``vtest.avi@1-600``, ``COCO128*3``).
    """

    spec: str
    frames: FrameRange | None = None
    repeat: int = 1

    def __post_init__(self) -> None:
        if self.repeat < 1:
            raise EdgeimgError(f"{self.spec}: expected a repeat count >= 1, got {self.repeat}")

    @classmethod
    def parse(cls, text: str) -> DataSpec:
        repeat = 1
        head, star, count = text.rpartition("*")
        if star and count.isdigit():
            text, repeat = head, int(count)
        spec, at, frames = text.rpartition("@")
        if not at or not frames or not frames[0].isdigit():
            return cls(text, None, repeat)
        return cls(spec, FrameRange.parse(frames), repeat)


@dataclass(frozen=True)
class DetectTrainConfig:
    """What to train.

    data: datasets to train on (their class names must agree). test: data to report AP on
    after training. crop_size: training window (height, width), multiples of 32 and at most the
    input size: the detector is fully convolutional, so it trains on crops of the letterboxed
    frames and runs on whole ones. val_fraction: the last part of each dataset is held out for
    the validation loss (0: none, then early stopping watches the training loss).
    select: train on these classes only, ((name, id or None), ...) as
    :func:`~edgeimg.train.tasks.detect.data.select_classes` reads them. init: a ``.keras``
    detector to start from (``bundled``: edgeimg's person detector), same classes, input size,
    stride and width. freeze_backbone: train this many of the epochs with the backbone frozen
    first (a warm-up for fine-tuning on little data).
    """

    data: tuple[DataSpec, ...]
    output: Path
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    crop_size: tuple[int, int] | None = None
    test: DataSpec | None = None
    val_fraction: float = 0.0
    augment: BoxAugment = field(default_factory=BoxAugment)
    num_classes: int | None = None
    class_names: tuple[str, ...] | None = None
    select: tuple[tuple[str, int | None], ...] | None = None
    init: Path | None = None
    freeze_backbone: int = 0

    def __post_init__(self) -> None:
        if not self.data:
            raise EdgeimgError("detection training needs at least one dataset")
        crop = tuple(self.crop_size or self.detector.input_size)
        object.__setattr__(self, "crop_size", crop)
        height, width = self.detector.input_size
        if crop[0] % 32 or crop[1] % 32 or crop[0] > height or crop[1] > width:
            raise EdgeimgError(
                f"crop size: expected multiples of 32 no larger than the input {height}x{width}, "
                f"got {crop[0]}x{crop[1]}"
            )
        if not 0 <= self.val_fraction < 1:
            raise EdgeimgError(f"validation fraction: expected 0..1, got {self.val_fraction}")
        object.__setattr__(self, "output", check_keras_output(self.output))
        if self.freeze_backbone < 0:
            raise EdgeimgError(
                f"--freeze-backbone: expected >= 0 epochs, got {self.freeze_backbone}"
            )


@dataclass(frozen=True)
class DetectResult:
    model_path: Path
    params: int
    macs: int
    train_images: int
    metrics: DetectionMetrics | None
    epochs: list[dict]


def load_all(
    specs: tuple[DataSpec, ...],
    select: tuple[tuple[str, int | None], ...] | None = None,
    val_fraction: float = 0.0,
) -> tuple[DetectionDataset, list[DetectionSample]]:
    """Read every dataset, keep the ``select`` classes when given, and join them (their class
    names must then be the same). Returns the training set, each dataset's images ``repeat``
    times over, and the validation samples: the last ``val_fraction`` of each dataset, once."""
    parts = [load_detection(s.spec, s.frames) for s in specs]
    if select is not None:
        parts = [select_classes(part, select) for part in parts]
    names = parts[0].class_names
    for spec, part in zip(specs[1:], parts[1:], strict=True):
        if part.class_names != names:
            raise EdgeimgError(
                f"{spec.spec}: classes {', '.join(part.class_names)} differ from the first "
                f"dataset's {', '.join(names)} (choose with --select-classes)"
            )
    train: list[DetectionSample] = []
    val: list[DetectionSample] = []
    for spec, part in zip(specs, parts, strict=True):
        keep = len(part.samples) - int(len(part.samples) * val_fraction)
        train += part.samples[:keep] * spec.repeat
        val += part.samples[keep:]
    joined = DetectionDataset(train, names, parts[0].format, ", ".join(s.spec for s in specs))
    return joined, val


BUNDLED_KERAS = Path(__file__).resolve().parents[2] / "assets" / "person_detector.keras"


def load_init(path: Path, contract: ModelContract):
    """The Keras detector to start from (``path``, or the bundled one for ``bundled``), after
    checking that it detects the same classes at the same input size and stride."""
    from edgeimg.export.keras_file import load_keras, read_contract

    if str(path) == "bundled":
        path = BUNDLED_KERAS
    theirs = read_contract(path)
    if theirs.task != "detect" or theirs.decoder != contract.decoder:
        raise EdgeimgError(
            f"--init {path}: expected a {contract.decoder} detector, got a {theirs.task} model "
            f"({theirs.decoder or 'no'} decoder)"
        )
    mine_stride = contract.decoder_params.get("stride")
    differences = [
        f"{what} {a} (the file) vs {b} (this run)"
        for what, a, b in (
            ("classes", ", ".join(theirs.class_names), ", ".join(contract.class_names)),
            (
                "input size",
                "x".join(map(str, theirs.input_size)),
                "x".join(map(str, contract.input_size)),
            ),
            ("stride", theirs.decoder_params.get("stride"), mine_stride),
        )
        if a != b
    ]
    if differences:
        raise EdgeimgError(f"--init {path}: the model differs: {'; '.join(differences)}")
    return load_keras(path)[0]


def evaluate_detector(model, data: DetectionDataset, contract: ModelContract) -> DetectionMetrics:
    """AP of a Keras detector on ``data``, through the runtime's letterbox and decoder."""
    predictions = predict_detections(model, [s.image for s in data.samples], contract)
    truth = [(s.xyxy, s.class_id) for s in data.samples]
    return detection_ap(predictions, truth, len(data.class_names))


def evaluate_keras_detector(model_path: str | Path, data: DataSpec) -> DetectionMetrics:
    """COCO AP of the ``.keras`` detector at ``model_path`` (with its edgeimg contract) on
    ``data``; the data's class names must be the model's."""
    from edgeimg.export.keras_file import load_keras, read_contract

    contract = read_contract(model_path)
    if contract.task != "detect":
        raise EdgeimgError(f"{model_path}: expected a detector, got a {contract.task} model")
    test = load_detection(data.spec, data.frames)
    if test.class_names != contract.class_names:
        raise EdgeimgError(
            f"{data.spec}: classes {', '.join(test.class_names)} differ from the model's "
            f"{', '.join(contract.class_names)}"
        )
    model, _ = load_keras(model_path)
    return evaluate_detector(model, test, contract)


def train_detector(config: DetectTrainConfig, fit_config: FitConfig) -> DetectResult:
    """Train on ``config.data``, save to ``config.output``, and report AP on ``config.test``."""
    from edgeimg.train.fit import seed_everything, tensorflow_backend
    from edgeimg.train.tasks.detect.batches import DetectionBatches, DetectionShapes
    from edgeimg.train.tasks.detect.losses import CenterNetFocalLoss, LtrbGIoULoss

    if config.freeze_backbone >= fit_config.epochs:
        raise EdgeimgError(
            f"--freeze-backbone {config.freeze_backbone}: expected fewer than the "
            f"{fit_config.epochs} epochs"
        )
    data, val_samples = load_all(config.data, config.select, config.val_fraction)
    names = data.class_names
    check_class_names(names, config.num_classes, config.class_names)
    test = load_detection(config.test.spec, config.test.frames) if config.test else None
    if test is not None and config.select is not None:
        test = select_classes(test, config.select)
    if test is not None and test.class_names != names:
        raise EdgeimgError(f"test data classes {test.class_names} differ from training's {names}")
    detector = DetectorConfig(
        input_size=config.detector.input_size,
        num_classes=len(names),
        width=config.detector.width,
        stride=config.detector.stride,
        heatmap_prior=config.detector.heatmap_prior,
    )
    train_samples = data.samples
    seed_everything(fit_config.seed)
    shapes = DetectionShapes(detector.input_size, config.crop_size, detector.stride, len(names))
    batch = fit_config.batch_size
    if len(train_samples) < batch:
        raise EdgeimgError(
            f"detection data: {len(train_samples)} training images, fewer than one batch of {batch}"
        )
    if tensorflow_backend():
        from edgeimg.train.tasks.detect.pipeline import detection_dataset

        train_ds = detection_dataset(train_samples, shapes, batch, config.augment, fit_config.seed)
        train_ds = train_ds.repeat()
        val_ds = detection_dataset(val_samples, shapes, batch) if val_samples else None
    else:  # JAX / PyTorch: no tf.data; worker threads build the batches
        workers = min(8, os.cpu_count() or 1)
        train_ds = DetectionBatches(
            train_samples, shapes, batch, config.augment, fit_config.seed, workers
        )
        val_ds = (
            DetectionBatches(val_samples, shapes, batch, workers=workers) if val_samples else None
        )
    steps = len(train_samples) // batch
    contract = detector_contract(names, detector.input_size, detector.stride)
    strategy = make_strategy(fit_config.strategy)

    def compile_model(model, optimizer):
        model.compile(
            optimizer=optimizer,
            loss={"heatmap": CenterNetFocalLoss(), "boxes": LtrbGIoULoss()},
            loss_weights={"heatmap": 1.0, "boxes": 2.0},
        )

    def check_model(model):
        got = model.get_layer("heatmap").filters
        if got != len(names):
            raise EdgeimgError(
                f"checkpoint detects {got} classes, the data has {len(names)} ({', '.join(names)})"
            )

    start = load_init(config.init, contract) if config.init is not None else None

    def build(source=start, frozen: bool = False):
        model = build_detector(detector, any_size=True)
        if source is not None:
            copy_weights(model, source, f"--init {config.init}", "same --width")
        for layer in model.layers:
            if layer.name.startswith(BACKBONE_PREFIXES):
                layer.trainable = not frozen
        return model

    epochs: list[dict] = []
    if config.freeze_backbone:  # warm-up: neck and heads learn the new data first
        warm_up = replace(
            fit_config,
            epochs=config.freeze_backbone,
            checkpoint_dir=fit_config.checkpoint_dir / "frozen_backbone",
        )
        log.info("%d epochs with the backbone frozen, then all layers", config.freeze_backbone)
        start, epochs = fit(
            lambda: build(frozen=True), compile_model, train_ds, val_ds, steps, warm_up,
            contract, strategy, check_model,
        )  # fmt: skip
        fit_config = replace(fit_config, epochs=fit_config.epochs - config.freeze_backbone)
    model, more = fit(
        lambda: build(start), compile_model, train_ds, val_ds, steps, fit_config, contract,
        strategy, check_model,
    )  # fmt: skip
    epochs += more
    final = inference_copy(model, lambda: build_detector(detector))
    path = save_keras(final, config.output, contract)
    metrics = evaluate_detector(final, test, contract) if test is not None else None
    return DetectResult(path, final.count_params(), count_macs(final), len(train_samples),
                        metrics, epochs)  # fmt: skip
