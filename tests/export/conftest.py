"""Small real Keras models for the export tests, built with edgeimg.train's model builders.

- ``detector_keras``: an untrained centernet detector (64x96 input, width 0.25) with its
  contract attached: export and parity do not need trained weights.
- ``person_classifier``: a tiny CNN trained for a few epochs on real PETS09-S2L1 crops (person
  boxes from the ground truth vs. background windows of frames 1-600), with held-out crops from
  frames 601-795: what quantization's accuracy comparison needs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
keras = pytest.importorskip("keras")

from edgeimg.export.calibration import prepare_batch  # noqa: E402
from edgeimg.export.keras_file import attach_contract  # noqa: E402
from edgeimg.runtime.contract import ModelContract  # noqa: E402

DETECTOR_CONTRACT = ModelContract(
    task="detect",
    class_names=("person",),
    input_size=(64, 96),
    decoder="centernet",
    decoder_params={"stride": 4, "score_threshold": 0.1, "nms_iou": 0.6},
    output_names=("heatmap", "boxes"),
)
CLASSIFIER_CONTRACT = ModelContract(
    task="classify",
    class_names=("background", "person"),
    input_size=(32, 32),
    resize="stretch",
    decoder="softmax",
    output_names=("probs",),
)


def save_with_contract(model, path: Path, contract: ModelContract | None) -> Path:
    model.save(path)
    if contract is not None:
        attach_contract(path, contract)
    return path


@pytest.fixture(scope="session")
def save_keras():
    """``save_keras(model, path, contract)``: save a Keras model and attach its contract."""
    return save_with_contract


@pytest.fixture(scope="session")
def detector_keras(tmp_path_factory) -> Path:
    from edgeimg.train.tasks.detect.models import DetectorConfig, build_detector

    keras.utils.set_random_seed(0)
    model = build_detector(DetectorConfig(input_size=(64, 96), width=0.25))
    folder = tmp_path_factory.mktemp("detector")
    return save_with_contract(model, folder / "detector.keras", DETECTOR_CONTRACT)


@pytest.fixture(scope="session")
def pets_frames(pets_dir) -> list[np.ndarray]:
    """Frames 1, 31, 61, ... 571 of PETS09-S2L1 (BGR), for parity and calibration."""
    from edgeimg.export.calibration import FrameSelection, sample_frames

    return sample_frames(pets_dir, FrameSelection(20, 1, 600))


@dataclass(frozen=True)
class Crops:
    """Labelled crops (BGR uint8, any size): 1 = person, 0 = background."""

    images: list[np.ndarray]
    labels: np.ndarray


def pets_crops(pets_dir: Path, every: int, split: int = 600) -> tuple[Crops, Crops]:
    """Person crops from the MOT ground truth and as many background windows, from every
    ``every``-th frame; (frames 1..split, frames after split)."""
    gt = np.loadtxt(pets_dir / "gt" / "gt.txt", delimiter=",")
    rng = np.random.default_rng(0)
    capture = cv2.VideoCapture(str(pets_dir / "vtest.avi"))
    parts: tuple[tuple[list, list], ...] = (([], []), ([], []))
    number = 0
    while True:
        ok, frame = capture.read()
        number += 1
        if not ok:
            break
        if (number - 1) % every:
            continue
        images, labels = parts[number > split]
        rows = gt[(gt[:, 0] == number) & (gt[:, 6] == 1)]
        boxes = rows[:, 2:6].copy()
        boxes[:, 2:] += boxes[:, :2]
        height, width = frame.shape[:2]
        for x1, y1, x2, y2 in boxes.astype(int):
            x1, y1, x2, y2 = max(x1, 0), max(y1, 0), min(x2, width), min(y2, height)
            if x2 - x1 < 8 or y2 - y1 < 16:
                continue
            images.append(frame[y1:y2, x1:x2])
            labels.append(1)
            bw, bh = x2 - x1, y2 - y1
            for _ in range(10):  # a background window of the same size, away from people
                bx = int(rng.integers(0, width - bw))
                by = int(rng.integers(0, height - bh))
                overlap = (
                    (boxes[:, 0] < bx + bw)
                    & (boxes[:, 2] > bx)
                    & (boxes[:, 1] < by + bh)
                    & (boxes[:, 3] > by)
                )
                if not overlap.any():
                    images.append(frame[by : by + bh, bx : bx + bw])
                    labels.append(0)
                    break
    capture.release()
    train, held_out = (Crops(images, np.asarray(labels, np.int32)) for images, labels in parts)
    return train, held_out


@dataclass(frozen=True)
class TrainedClassifier:
    keras_path: Path
    calibration: Crops
    held_out: Crops


@pytest.fixture(scope="session")
def person_classifier(tmp_path_factory, pets_dir) -> TrainedClassifier:
    from edgeimg.train.tasks.classify.models import build_classifier

    keras.utils.set_random_seed(0)
    train, held_out = pets_crops(pets_dir, every=15)
    model = build_classifier("cifar_cnn", (32, 32, 3), 2, width=0.5)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x = prepare_batch(train.images, CLASSIFIER_CONTRACT)
    model.fit(x, train.labels, epochs=6, batch_size=32, verbose=0)
    folder = tmp_path_factory.mktemp("classifier")
    path = save_with_contract(model, folder / "person.keras", CLASSIFIER_CONTRACT)
    calibration = Crops(train.images[::4], train.labels[::4])
    return TrainedClassifier(path, calibration, held_out)
