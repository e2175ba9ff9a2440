"""The models shipped in the package: every task with a bundled default runs with no model path."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeimg.cli.main import main
from edgeimg.runtime import bundled_model_path, load_generator, load_model
from edgeimg.runtime.errors import EdgeimgError
from edgeimg.runtime.tasks import get_task, task_names

FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(scope="module")
def fashion_test() -> tuple[np.ndarray, np.ndarray]:
    """The first 300 Fashion-MNIST test images (28x28 uint8) and labels (Debian's package)."""
    images = FASHION / "t10k-images-idx3-ubyte.gz"
    if not images.is_file():
        message = f"Debian package dataset-fashion-mnist missing ({images})"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    with gzip.open(images) as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(FASHION / "t10k-labels-idx1-ubyte.gz") as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)
    return x[:300], y[:300]


def test_every_bundled_model_file_is_shipped_and_loads():
    bundled = [name for name in task_names() if get_task(name).bundled_model]
    assert {"detect", "classify"} <= set(bundled)
    for name in bundled:
        if get_task(name).image_input:
            model = load_model(bundled_model_path(name))
        else:
            model = load_generator(bundled_model_path(name))
        assert model.contract.task == name


def test_a_task_without_a_bundled_model_says_which_have_one():
    from edgeimg.runtime.tasks import TASKS, register_task

    spec = get_task("classify")
    from dataclasses import replace

    register_task(replace(spec, name="nomodel", bundled_model=""))
    try:
        with pytest.raises(EdgeimgError, match=r"task nomodel has no bundled model; bundled: "):
            bundled_model_path("nomodel")
    finally:
        TASKS.unregister("nomodel")


def test_the_bundled_classifier_names_fashion_mnist_test_items(fashion_test):
    images, labels = fashion_test
    model = load_model(bundled_model_path("classify"), backend="opencv")
    predicted = np.array([model.predict(image).class_id[0] for image in images])
    assert (predicted == labels).mean() >= 0.85  # 0.906 on the whole test set


def test_predict_with_no_model_runs_the_tasks_bundled_classifier(fashion_test, tmp_path, capsys):
    images, labels = fashion_test
    folder = tmp_path / "items"
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f"item{i}.png"), images[i])
    table = tmp_path / "top.csv"
    labelled = tmp_path / "first.png"
    assert main(["predict", "--task", "classify", str(folder), "-o", str(table), "-q"]) == 0
    rows = [line.split(",") for line in table.read_text().splitlines()[1:]]
    best = [int(r[3]) for r in rows if r[2] == "1"]
    assert [r[1] for r in rows if r[2] == "1"] == ["item0.png", "item1.png", "item2.png"]
    assert (np.array(best) == labels[:3]).sum() >= 2
    assert (
        main(["predict", "--task", "classify", str(folder / "item0.png"), "-o", str(labelled)]) == 0
    )
    drawn = cv2.imread(str(labelled))
    assert drawn.shape[0] >= 256  # enlarged so the labels can be read
