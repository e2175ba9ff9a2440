"""Input pipelines: tf.data and the backend-neutral PyDataset give the same kind of batches."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from edgeimg.train.tasks.classify.augment import ClassifyAugment
from edgeimg.train.tasks.classify.batches import ClassifyBatches
from edgeimg.train.tasks.classify.pipeline import classification_dataset
from edgeimg.train.tasks.detect.augment import BoxAugment
from edgeimg.train.tasks.detect.batches import DetectionBatches, DetectionShapes
from edgeimg.train.tasks.detect.data import load_detection
from edgeimg.train.tasks.detect.pipeline import detection_dataset

SHAPES = DetectionShapes(input_hw=(96, 128), crop_hw=(64, 96), stride=4, num_classes=1)


@pytest.fixture(scope="module")
def scene():
    return load_detection("synthetic:frames=6,width=160,height=120,min_height=20,max_height=50")


def test_tf_data_training_batches_are_crops_with_targets(scene) -> None:
    ds = detection_dataset(scene.samples, SHAPES, batch_size=4, augment=BoxAugment(), seed=1)
    images, targets = next(iter(ds))
    assert images.shape == (4, 64, 96, 3) and images.dtype.name == "float32"
    assert targets["heatmap"].shape == (4, 16, 24, 1)
    assert targets["boxes"].shape == (4, 16, 24, 5)
    assert float(np.max(images)) <= 255.0


def test_tf_data_validation_batches_are_whole_letterboxed_frames(scene) -> None:
    ds = detection_dataset(scene.samples, SHAPES, batch_size=4)
    sizes = [int(images.shape[0]) for images, _ in ds]
    assert sizes == [4, 2]  # every frame, in order, the last batch short
    images, targets = next(iter(ds))
    assert images.shape[1:] == (96, 128, 3)
    # Frame 1 has people: one heatmap peak of exactly 1 per visible person.
    assert int(np.sum(targets["heatmap"][0] == 1.0)) == len(scene.samples[0].xyxy)


def test_pydataset_batches_repeat_for_a_seed_and_change_per_epoch(scene) -> None:
    first = DetectionBatches(scene.samples, SHAPES, 2, BoxAugment(), seed=3, workers=1)
    again = DetectionBatches(scene.samples, SHAPES, 2, BoxAugment(), seed=3, workers=1)
    images, targets = first[0]
    assert len(first) == 3 and images.shape == (2, 64, 96, 3)
    assert set(targets) == {"heatmap", "boxes"}
    assert np.array_equal(images, again[0][0])
    first.on_epoch_end()
    assert not np.array_equal(images, first[0][0])


def test_mosaic_batches_repeat_for_a_seed_and_differ_from_plain_ones(scene) -> None:
    mosaic = BoxAugment(mosaic=1.0)
    first = DetectionBatches(scene.samples, SHAPES, 2, mosaic, seed=3, workers=1)
    again = DetectionBatches(scene.samples, SHAPES, 2, mosaic, seed=3, workers=1)
    plain = DetectionBatches(scene.samples, SHAPES, 2, BoxAugment(), seed=3, workers=1)
    images, targets = first[0]
    assert images.shape == (2, 64, 96, 3) and targets["heatmap"].shape == (2, 16, 24, 1)
    assert np.array_equal(images, again[0][0])
    assert not np.array_equal(images, plain[0][0])
    ds = detection_dataset(scene.samples, SHAPES, batch_size=4, augment=mosaic, seed=1)
    images, targets = next(iter(ds))
    assert images.shape == (4, 64, 96, 3) and targets["boxes"].shape == (4, 16, 24, 5)


def test_classification_batches_are_float_pixels_with_augmentation() -> None:
    x = np.random.default_rng(0).integers(0, 256, (10, 12, 12, 3), dtype=np.uint8)
    y = np.arange(10) % 2
    plain = next(iter(classification_dataset(x, y, 4)))
    assert plain[0].shape == (4, 12, 12, 3) and np.array_equal(plain[0].numpy(), x[:4])
    augmented = next(iter(classification_dataset(x, y, 4, ClassifyAugment(True, 2, 0.2))))
    assert augmented[0].shape == (4, 12, 12, 3)
    assert float(np.min(augmented[0])) >= 0.0 and float(np.max(augmented[0])) <= 255.0
    assert not np.array_equal(augmented[0].numpy(), x[:4])


def test_digits_are_not_flipped_but_clothes_are() -> None:
    assert not ClassifyAugment.for_data(1, tuple("0123456789"), 28).flip
    assert ClassifyAugment.for_data(1, ("Shirt", "Bag"), 28).flip
    assert ClassifyAugment.for_data(3, ("cat", "dog"), 32).color > 0


def test_classify_pydataset_flips_and_shifts_with_labels_kept() -> None:
    x = np.zeros((6, 8, 8, 1), np.uint8)
    x[:, 3:5, 1:3] = 255  # a bright block left of the centre, away from the edges
    y = np.arange(6)
    plain = ClassifyBatches(x, y, 4)
    images, labels = plain[0]
    assert images.dtype == np.float32 and labels.tolist() == [0, 1, 2, 3]
    assert len(plain) == 2 and plain[1][0].shape == (2, 8, 8, 1)
    moved = ClassifyBatches(x, y, 6, ClassifyAugment(flip=True, shift=1), seed=0)
    images, labels = moved[0]
    assert sorted(labels.tolist()) == list(range(6))
    assert images.sum(axis=(1, 2, 3)).tolist() == [4 * 255.0] * 6  # the block stays whole
    assert not np.array_equal(images, x[labels].astype(np.float32))
