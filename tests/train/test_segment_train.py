"""The segment task of training: readers and their bad input, joint augmentation, the model,
a few real training steps on CamVid frames, and ``edgeimg train segment`` end to end."""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeimg.runtime.errors import EdgeimgError
from edgeimg.train.tasks.segment.augment import SegmentAugment, augment_pair
from edgeimg.train.tasks.segment.data import (
    CAMVID_CLASSES,
    IGNORE,
    VOC_PALETTE,
    LabelFormat,
    class_weights,
    is_segmentation_folder,
    load_segmentation,
)

DATA = Path(
    os.environ.get("EDGEIMG_DATA", Path(__file__).resolve().parents[2].parent / "shared" / "data")
)
CAMVID = DATA / "CamVid"


def camvid() -> Path:
    if not (CAMVID / "train").is_dir():
        message = f"real data missing: {CAMVID} (set EDGEIMG_DATA)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return CAMVID


def copy_split(tmp_path: Path, split: str, count: int) -> Path:
    """The first ``count`` frames of a CamVid split with their labels, in tmp_path."""
    root = camvid()
    images, labels = tmp_path / split, tmp_path / f"{split}annot"
    images.mkdir()
    labels.mkdir()
    for path in sorted((root / split).glob("*.png"))[:count]:
        shutil.copy(path, images / path.name)
        shutil.copy(root / f"{split}annot" / path.name, labels / path.name)
    return images


def write_pair(folder: Path, name: str, image: np.ndarray, label: np.ndarray) -> None:
    (folder / "img").mkdir(exist_ok=True)
    (folder / "imgannot").mkdir(exist_ok=True)
    cv2.imwrite(str(folder / "img" / name), image)
    cv2.imwrite(str(folder / "imgannot" / name), label)


def test_camvid_frames_are_read_with_void_ignored():
    data = load_segmentation(camvid() / "train", limit=3)
    assert data.format is LabelFormat.CAMVID and data.spec.class_names == CAMVID_CLASSES
    assert data.images.shape == (3, 360, 480, 3) and data.labels.shape == (3, 360, 480)
    raw = cv2.imread(str(camvid() / "trainannot" / f"{data.names[0]}.png"), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(data.labels[0] == IGNORE, raw == 11)
    np.testing.assert_array_equal(data.labels[0][raw < 11], raw[raw < 11])
    weights = class_weights(data.labels, 11)
    assert weights[3] < weights[2]  # road (common) weighs less than pole (rare)
    assert is_segmentation_folder(camvid() / "val") and not is_segmentation_folder(camvid())


def test_a_label_of_another_size_names_the_file(tmp_path):
    write_pair(tmp_path, "a.png", np.zeros((8, 8, 3), np.uint8), np.zeros((8, 6), np.uint8))
    with pytest.raises(EdgeimgError, match=r"imgannot/a.png: label is 6x8, its image a.png is 8x8"):
        load_segmentation(tmp_path / "img")


def test_an_id_outside_the_classes_names_the_file_and_value(tmp_path):
    label = np.zeros((8, 8), np.uint8)
    label[3, 3] = 12
    write_pair(tmp_path, "a.png", np.zeros((8, 8, 3), np.uint8), label)
    with pytest.raises(EdgeimgError, match=r"imgannot/a.png: class id 12 outside the 11 classes"):
        load_segmentation(tmp_path / "img")


def test_an_image_without_a_label_and_a_label_without_an_image(tmp_path):
    write_pair(tmp_path, "a.png", np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8), np.uint8))
    cv2.imwrite(str(tmp_path / "img" / "b.png"), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(EdgeimgError, match=r"img/b.png: no label for it in .*imgannot"):
        load_segmentation(tmp_path / "img")
    (tmp_path / "img" / "b.png").unlink()
    cv2.imwrite(str(tmp_path / "imgannot" / "c.png"), np.zeros((8, 8), np.uint8))
    with pytest.raises(EdgeimgError, match=r"imgannot/c.png: a label without an image"):
        load_segmentation(tmp_path / "img")


def test_voc_palette_pngs_and_an_unknown_colour(tmp_path):
    images, labels = tmp_path / "JPEGImages", tmp_path / "SegmentationClass"
    images.mkdir()
    labels.mkdir()
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[0, 0] = VOC_PALETTE[15]  # person
    rgb[1, 1] = (224, 224, 192)  # the void border
    cv2.imwrite(str(images / "x.jpg"), np.zeros((4, 4, 3), np.uint8))
    cv2.imwrite(str(labels / "x.png"), rgb[:, :, ::-1])
    data = load_segmentation(images)
    assert data.format is LabelFormat.VOC and data.num_classes == 21
    assert data.labels[0, 0, 0] == 15 and data.labels[0, 1, 1] == IGNORE
    assert data.labels[0, 2, 2] == 0
    rgb[2, 3] = (1, 2, 3)
    cv2.imwrite(str(labels / "x.png"), rgb[:, :, ::-1])
    with pytest.raises(EdgeimgError, match=r"x.png: colour \(1, 2, 3\) at \(3, 2\) is not in"):
        load_segmentation(images)


def test_cityscapes_train_ids_are_matched_by_frame_name(tmp_path):
    images, labels = tmp_path / "leftImg8bit" / "val", tmp_path / "gtFine" / "val"
    images.mkdir(parents=True)
    labels.mkdir(parents=True)
    cv2.imwrite(str(images / "aachen_0_leftImg8bit.png"), np.zeros((4, 4, 3), np.uint8))
    ids = np.full((4, 4), 255, np.uint8)
    ids[0] = 18
    cv2.imwrite(str(labels / "aachen_0_gtFine_labelTrainIds.png"), ids)
    cv2.imwrite(str(labels / "aachen_0_gtFine_labelIds.png"), ids)  # other files are ignored
    data = load_segmentation(images)
    assert data.format is LabelFormat.CITYSCAPES and data.names == ("aachen_0",)
    assert data.labels[0, 0, 0] == 18 and data.labels[0, 1, 0] == IGNORE


def test_augmentation_moves_image_and_mask_together():
    rng = np.random.default_rng(0)
    image = np.zeros((60, 80, 3), np.uint8)
    label = np.zeros((60, 80), np.uint8)
    image[20:40, 10:30] = 200  # a bright square of class 1
    label[20:40, 10:30] = 1
    augment = SegmentAugment(scale=(0.8, 1.2), flip=0.5, brightness=0, contrast=0, saturation=0)
    for _ in range(10):
        out_image, out_label = augment_pair(image, label, (32, 48), 1.0, augment, rng)
        assert out_image.shape == (32, 48, 3) and out_label.shape == (32, 48)
        inside = out_label == 1
        bright = out_image[..., 0] > 150
        # the class-1 pixels and the bright pixels are the same ones (up to the edges' blend)
        assert np.mean(inside == bright) > 0.95


def test_a_few_training_steps_on_real_frames_lower_the_loss():
    import keras

    from edgeimg.train.tasks.segment.models import build_segmenter
    from edgeimg.train.tasks.segment.pipeline import segment_example

    keras.utils.set_random_seed(0)
    data = load_segmentation(camvid() / "train", limit=4)
    weights = class_weights(data.labels, 11)
    rng = np.random.default_rng(0)
    batch = [
        segment_example(data, i, (64, 96), 0.2, weights, SegmentAugment(), rng) for i in range(4)
    ]
    x = np.stack([b[0] for b in batch]).astype(np.float32)
    y = np.stack([b[1] for b in batch])
    w = np.stack([b[2] for b in batch])
    model = build_segmenter(11, (64, 96), width=0.25)
    assert model.output_shape == (None, 64, 96, 11)
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=False,  # XLA's compile costs more than these few steps
    )
    losses = [float(model.train_on_batch(x, y, sample_weight=w)) for _ in range(15)]
    assert losses[-1] < 0.8 * losses[0], losses


def test_train_segment_cli_writes_the_model_contract_and_full_size_metrics(tmp_path, capsys):
    from edgeimg.cli.main import main

    train = copy_split(tmp_path, "train", 6)
    test = copy_split(tmp_path, "val", 2)
    out, figures = tmp_path / "seg.keras", tmp_path / "figures.json"
    args = ["train", "segment", str(train), "--test", str(test), "--input-size", "96x128"]
    args += ["--crop", "64x96", "--epochs", "1", "--batch-size", "2", "--width", "0.25", "--no-xla"]
    assert main([*args, "--val-fraction", "0.34", "-o", str(out), "--json", str(figures)]) == 0
    with zipfile.ZipFile(out) as archive:
        contract = json.loads(archive.read("edgeimg.json"))
    assert contract["task"] == "segment" and contract["decoder"] == "argmax"
    assert contract["class_names"] == list(CAMVID_CLASSES) and contract["input_size"] == [96, 128]
    assert contract["task_params"]["palette"][3] == [128, 64, 128]  # road
    values = json.loads(figures.read_text())
    confusion = np.array(values["confusion"])
    labels = load_segmentation(test).labels
    assert confusion.shape == (11, 11) and confusion.sum() == int((labels != IGNORE).sum())
    assert 0 <= values["mean_iou"] <= 1 and 0 <= values["pixel_accuracy"] <= 1
    assert "mean IoU" in capsys.readouterr().out


def test_bad_sizes_are_refused_before_training(tmp_path):
    from edgeimg.cli.main import main

    args = ["train", "segment", str(tmp_path), "--input-size", "100x120", "-o", "x.keras"]
    assert main(args) != 0
