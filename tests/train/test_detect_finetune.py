"""Training a detector on mixed data and fine-tuning one: class selection across datasets,
repeat weights, ``--init`` (a file or the bundled model) with a frozen-backbone warm-up, and the
one-line refusals of a start model that does not fit."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from edgeimg.cli.main import main
from edgeimg.export.keras_file import load_keras, read_contract
from edgeimg.runtime.errors import EdgeimgError
from edgeimg.runtime.model import bundled_model_path, load_model
from edgeimg.train.tasks.detect.data import (
    FrameRange,
    load_detection,
    parse_class_selection,
    select_classes,
)
from edgeimg.train.tasks.detect.evaluate import predict_detections
from edgeimg.train.tasks.detect.models import BACKBONE_PREFIXES
from edgeimg.train.tasks.detect.train import BUNDLED_KERAS, DataSpec, load_all

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

SCENE = "synthetic:frames=12,width=128,height=96,min_height=24,max_height=56,people=4"
SMALL = ["--input-size", "96x128", "--crop", "64x96", "--width", "0.5", "--batch-size", "4"]


def test_coco128_people_are_selected_by_id_and_the_rest_stays_as_background(
    coco128_dir: Path,
) -> None:
    everything = load_detection(coco128_dir)
    assert everything.class_names[0] == "class_0"  # no data.yaml: the files name no class
    people = select_classes(everything, parse_class_selection("person=0"))
    assert people.class_names == ("person",)
    assert len(people) == len(everything) == 256  # images without people stay, as negatives
    with_people = [s for s in people.samples if len(s.xyxy)]
    assert len(with_people) == 134 and people.num_boxes == 604  # the data README's counts
    for before, after in zip(everything.samples, people.samples, strict=True):
        np.testing.assert_array_equal(after.xyxy, before.xyxy[before.class_id == 0])
        assert not after.class_id.any()


def test_a_class_is_matched_by_name_before_its_id() -> None:
    scene = load_detection(SCENE, "1-2")  # one class, named person
    selected = select_classes(scene, parse_class_selection("person=5"))
    assert selected.num_boxes == scene.num_boxes
    with pytest.raises(EdgeimgError, match=r"no class 'car' \(classes: person\); name it by id"):
        select_classes(scene, parse_class_selection("car"))
    with pytest.raises(EdgeimgError, match="expected NAME or NAME=ID"):
        parse_class_selection("person=first")


def test_data_specs_carry_frames_and_a_repeat_count() -> None:
    assert DataSpec.parse("a/vtest.avi@1-600*3") == DataSpec("a/vtest.avi", FrameRange(1, 600), 3)
    assert DataSpec.parse("COCO128*2") == DataSpec("COCO128", None, 2)
    assert DataSpec.parse("synthetic:frames=4") == DataSpec("synthetic:frames=4")
    specs = (DataSpec(SCENE, FrameRange(1, 2), 3), DataSpec(SCENE, FrameRange(3, 3)))
    joined, val = load_all(specs)
    assert [s.name for s in joined.samples] == ["1", "2", "1", "2", "1", "2", "3"] and not val
    # the validation part is each dataset's last frames, held out before the repeats
    specs = (DataSpec(SCENE, FrameRange(1, 4), 3), DataSpec(SCENE, FrameRange(5, 8)))
    joined, val = load_all(specs, val_fraction=0.25)
    assert [s.name for s in joined.samples] == ["1", "2", "3"] * 3 + ["5", "6", "7"]
    assert [s.name for s in val] == ["4", "8"]
    with pytest.raises(EdgeimgError, match="repeat count >= 1"):
        DataSpec.parse("COCO128*0")


def backbone(model) -> list[np.ndarray]:
    return [w for layer in model.layers if layer.name.startswith(BACKBONE_PREFIXES)
            for w in layer.get_weights()]  # fmt: skip


def head(model) -> list[np.ndarray]:
    return model.get_layer("heatmap_conv").get_weights()


@pytest.fixture(scope="module")
def start_model(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("start") / "start.keras"
    argv = ["train", "detect", SCENE, "--frames", "1-8", *SMALL, "--epochs", "1", "-o", str(out)]
    assert main([*argv, "--mosaic", "0.5"]) == 0  # the tf.data pipeline with mosaic samples
    return out


def test_fine_tuning_starts_from_the_file_with_the_backbone_frozen_first(
    start_model: Path, tmp_path: Path
) -> None:
    out = tmp_path / "tuned.keras"
    argv = ["train", "detect", SCENE, "--frames", "5-12", *SMALL, "--lr", "1e-2", "--epochs", "2"]
    assert main([*argv, "--init", str(start_model), "--freeze-backbone", "1", "-o", str(out)]) == 0

    start, _ = load_keras(start_model)
    warm, _ = load_keras(tmp_path / "tuned_checkpoints" / "frozen_backbone" / "last.keras")
    tuned, _ = load_keras(out)
    # the warm-up epoch moved the heads and left every backbone weight (BN statistics too) alone
    for a, b in zip(backbone(start), backbone(warm), strict=True):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(head(start), head(warm), strict=True))
    # the second epoch trained the backbone, starting from the warm-up's weights
    assert any(
        not np.array_equal(a, b) for a, b in zip(backbone(warm), backbone(tuned), strict=True)
    )
    assert read_contract(out).input_size == (96, 128)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--input-size", "128x128"], "input size 96x128 (the file) vs 128x128 (this run)"),
        (["--stride", "8"], "stride 4 (the file) vs 8 (this run)"),
        (["--width", "1.0"], "layer stem: expected weights of shapes"),
        (["--select-classes", "pedestrian=0"], "classes person (the file) vs pedestrian"),
        (["--freeze-backbone", "1"], "--freeze-backbone 1: expected fewer than the 1 epochs"),
    ],
)
def test_a_start_model_that_does_not_fit_is_one_line_and_exit_2(
    start_model: Path, tmp_path: Path, capsys, args: list[str], message: str
) -> None:
    out = tmp_path / "out.keras"
    argv = ["train", "detect", SCENE, "--frames", "1-8", *SMALL, "--epochs", "1", *args]
    assert main([*argv, "--init", str(start_model), "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not out.exists()


def test_the_bundled_detector_is_the_start_of_init_bundled(tmp_path: Path, pets_dir: Path) -> None:
    keras_model, contract = load_keras(BUNDLED_KERAS)
    assert contract.task == "detect" and contract.class_names == ("person",)
    assert contract.input_size == (288, 384) and contract.decoder_params["stride"] == 4
    # the shipped .keras is the shipped ONNX's source: same people on a real frame
    frame = load_detection(pets_dir / "vtest.avi", "700").samples[0].image
    from_keras = predict_detections(keras_model, [frame], contract, score_threshold=0.1)[0]
    from_onnx = load_model(bundled_model_path("detect")).predict(frame)
    assert len(from_onnx) >= 4
    np.testing.assert_allclose(from_keras.xyxy, from_onnx.xyxy, atol=0.05)
    np.testing.assert_allclose(from_keras.confidence, from_onnx.confidence, atol=1e-4)
    out = tmp_path / "tuned.keras"
    argv = ["train", "detect", SCENE, "--frames", "1-8", "--crop", "64x96", "--batch-size", "4"]
    assert main([*argv, "--epochs", "1", "--lr", "1e-5", "--init", "bundled", "-o", str(out)]) == 0
    assert read_contract(out).input_size == (288, 384)
