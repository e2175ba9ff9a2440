"""Tiny real models for the bench entry points, built once per session under a temp folder.

A classifier (bright vs dark 16x16 images, trained for a few epochs so accuracy means
something) and an untrained centernet detector (train's ``build_detector``, 64x96), both
exported with ``edgeimg.export`` (tf2onnx, NCHW) and quantized with its INT8 QDQ path.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest


@dataclass(frozen=True)
class TinyModels:
    keras: Path
    fp32: Path
    int8: Path
    data: Path  # image folder: train/ and test/ with one sub-folder per class


@dataclass(frozen=True)
class TinyDetector:
    keras: Path
    fp32: Path


def _images(rng: np.random.Generator, base: float, count: int) -> np.ndarray:
    return np.clip(rng.normal(base, 30, (count, 16, 16, 3)), 0, 255).astype(np.uint8)


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> TinyModels:
    keras = pytest.importorskip("keras")
    import cv2

    from edgeimg.export.keras_file import attach_contract
    from edgeimg.export.onnx_export import export_keras
    from edgeimg.export.quantize import quantize_int8
    from edgeimg.train.tasks.classify.contract import classifier_contract

    folder = tmp_path_factory.mktemp("tiny_models")
    rng = np.random.default_rng(0)
    names = ("bright", "dark")  # sorted, as the image-folder reader numbers them
    for split, count in (("train", 24), ("test", 12)):
        for name, base in zip(names, (190, 60), strict=True):
            target = folder / "data" / split / name
            target.mkdir(parents=True)
            for i, image in enumerate(_images(rng, base, count)):
                cv2.imwrite(str(target / f"{i}.png"), image)
    keras.utils.set_random_seed(0)
    inp = keras.Input((16, 16, 3), name="image")
    x = keras.layers.Rescaling(1 / 255.0)(inp)
    x = keras.layers.Conv2D(8, 3, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    out = keras.layers.Dense(2, activation="softmax", name="probs")(x)
    model = keras.Model(inp, out)
    model.compile("adam", "sparse_categorical_crossentropy")
    x_train = np.concatenate([_images(rng, 190, 100), _images(rng, 60, 100)]).astype(np.float32)
    model.fit(x_train, np.repeat([0, 1], 100), epochs=30, verbose=0)
    model.save(folder / "tiny.keras")
    contract = classifier_contract(names, (16, 16, 3))
    attach_contract(folder / "tiny.keras", contract)
    export_keras(folder / "tiny.keras", folder / "tiny.onnx")
    calibration = x_train[::10].transpose(0, 3, 1, 2).copy()  # NCHW, as the export writes
    quantize_int8(folder / "tiny.onnx", folder / "tiny.int8.onnx", calibration)
    return TinyModels(
        folder / "tiny.keras", folder / "tiny.onnx", folder / "tiny.int8.onnx", folder / "data"
    )


@pytest.fixture(scope="session")
def tiny_detector(tmp_path_factory: pytest.TempPathFactory) -> TinyDetector:
    keras = pytest.importorskip("keras")
    from edgeimg.export.keras_file import attach_contract
    from edgeimg.export.onnx_export import export_keras
    from edgeimg.train.tasks.detect.contract import detector_contract
    from edgeimg.train.tasks.detect.models import DetectorConfig, build_detector

    folder = tmp_path_factory.mktemp("tiny_detector")
    keras.utils.set_random_seed(0)
    build_detector(DetectorConfig((64, 96), width=0.25)).save(folder / "det.keras")
    attach_contract(folder / "det.keras", detector_contract(("person",), (64, 96), 4))
    export_keras(folder / "det.keras", folder / "det.onnx")
    return TinyDetector(folder / "det.keras", folder / "det.onnx")
