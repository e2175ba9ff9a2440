"""Classification readers: each format read back from files written here, and the errors."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeimg.runtime.errors import EdgeimgError
from edgeimg.train.tasks.classify.data import (
    FASHION_MNIST_CLASSES,
    ClassificationFormat,
    detect_format,
    load_classification,
    read_idx,
)

FASHION = Path("/usr/share/datasets/fashion-mnist")


def write_idx(path: Path, array: np.ndarray, gz: bool) -> None:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    data = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if gz else data)


@pytest.mark.parametrize("gz", [True, False])
def test_idx_files_read_as_grayscale_nhwc(tmp_path: Path, gz: bool) -> None:
    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, (12, 28, 28), dtype=np.uint8)
    test = rng.integers(0, 256, (5, 28, 28), dtype=np.uint8)
    suffix = ".gz" if gz else ""
    write_idx(tmp_path / f"train-images-idx3-ubyte{suffix}", train, gz)
    write_idx(tmp_path / f"train-labels-idx1-ubyte{suffix}", np.arange(12) % 3, gz)
    write_idx(tmp_path / f"t10k-images-idx3-ubyte{suffix}", test, gz)
    write_idx(tmp_path / f"t10k-labels-idx1-ubyte{suffix}", np.arange(5) % 3, gz)

    data = load_classification(tmp_path)

    assert data.format is ClassificationFormat.IDX
    assert data.x_train.shape == (12, 28, 28, 1) and data.x_train.dtype == np.uint8
    assert np.array_equal(data.x_train[..., 0], train)
    assert np.array_equal(data.x_test[..., 0], test)
    assert data.y_train.tolist() == [0, 1, 2] * 4
    assert data.class_names == ("0", "1", "2")


def test_idx_file_with_a_bad_header_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(b"\x00\x00\x0d\x03" + b"\x00" * 20)  # 0x0d = float, not unsigned byte
    with pytest.raises(EdgeimgError, match="bad magic number"):
        read_idx(path)


def test_idx_file_shorter_than_its_header_says_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(struct.pack(">BBBB3I", 0, 0, 8, 3, 10, 28, 28) + b"\x00" * 100)
    with pytest.raises(EdgeimgError, match=r"header says \(10, 28, 28\)"):
        read_idx(path)


@pytest.mark.skipif(not FASHION.is_dir(), reason="Debian package dataset-fashion-mnist")
def test_real_fashion_mnist_has_its_class_names() -> None:
    data = load_classification(FASHION)
    assert data.x_train.shape == (60000, 28, 28, 1)
    assert data.x_test.shape == (10000, 28, 28, 1)
    assert data.class_names == FASHION_MNIST_CLASSES
    assert np.bincount(data.y_test).tolist() == [1000] * 10


def test_cifar_batches_become_rgb_nhwc(tmp_path: Path) -> None:
    # Each image is planar R, G, B: 1024 red values, then green, then blue.
    def batch(n: int, offset: int) -> dict:
        data = np.zeros((n, 3072), np.uint8)
        data[:, :1024], data[:, 1024:2048], data[:, 2048:] = 200, 100, 50
        data[:, 0] = np.arange(n) + offset  # top-left red value tells the images apart
        return {b"data": data, b"labels": [i % 2 for i in range(n)]}

    for i in range(1, 6):
        (tmp_path / f"data_batch_{i}").write_bytes(pickle.dumps(batch(3, 10 * i)))
    (tmp_path / "test_batch").write_bytes(pickle.dumps(batch(4, 0)))
    (tmp_path / "batches.meta").write_bytes(pickle.dumps({b"label_names": [b"cat", b"dog"]}))

    data = load_classification(tmp_path)

    assert data.format is ClassificationFormat.CIFAR
    assert data.x_train.shape == (15, 32, 32, 3) and data.x_test.shape == (4, 32, 32, 3)
    assert data.x_train[0, 5, 5].tolist() == [200, 100, 50]  # R, G, B
    assert data.x_train[:3, 0, 0, 0].tolist() == [10, 11, 12]
    assert data.class_names == ("cat", "dog")


def test_image_folder_per_class_with_train_and_test(tmp_path: Path) -> None:
    for split, count in (("train", 3), ("test", 2)):
        for name, colour in (("blue", (255, 0, 0)), ("red", (0, 0, 255))):
            folder = tmp_path / split / name
            folder.mkdir(parents=True)
            for i in range(count):
                image = np.full((20, 24, 3), colour, np.uint8)  # BGR on disk
                cv2.imwrite(str(folder / f"{i}.png"), image)

    data = load_classification(tmp_path, image_size=(16, 16))

    assert data.format is ClassificationFormat.FOLDER
    assert data.class_names == ("blue", "red")
    assert data.x_train.shape == (6, 16, 16, 3) and data.x_test.shape == (4, 16, 16, 3)
    assert data.x_train[0, 0, 0].tolist() == [0, 0, 255]  # blue, returned in RGB order
    assert data.y_train.tolist() == [0, 0, 0, 1, 1, 1]


def test_grayscale_image_folder_keeps_one_channel(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        cv2.imwrite(str(tmp_path / name / "x.png"), np.full((8, 8), 7, np.uint8))
    data = load_classification(tmp_path)
    assert data.x_train.shape == (2, 8, 8, 1)
    assert len(data.x_test) == 0


def test_unknown_folder_names_the_expected_formats(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(EdgeimgError, match="expected a CIFAR-10 python folder"):
        detect_format(tmp_path)


def test_missing_and_empty_folders_are_refused(tmp_path: Path) -> None:
    with pytest.raises(EdgeimgError, match="no such dataset folder"):
        load_classification(tmp_path / "nope")
    with pytest.raises(EdgeimgError, match="found nothing"):
        load_classification(tmp_path)
