"""Short real training runs through the CLI: the loss falls, files carry the contract, resume
works, and bad input ends in one line and exit code 2 with nothing written."""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("tensorflow")

from edgeimg.cli.main import main
from edgeimg.export.keras_file import read_contract
from edgeimg.runtime.contract import ColorOrder, ResizeMode

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

SMALL_SCENE = "synthetic:frames=24,width=128,height=96,min_height=24,max_height=56,people=5"


def shapes_folder(root: Path, per_class: int = 40) -> Path:
    """Gray 16x16 images of three shapes at random places: a task a CNN learns in seconds."""
    rng = np.random.default_rng(0)
    for name in ("circle", "cross", "square"):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            image = rng.integers(0, 40, (16, 16), dtype=np.uint8)
            x, y = (int(v) for v in rng.integers(5, 11, 2))
            if name == "circle":
                cv2.circle(image, (x, y), 4, 255, -1)
            elif name == "cross":
                cv2.line(image, (x - 4, y), (x + 4, y), 255, 2)
                cv2.line(image, (x, y - 4), (x, y + 4), 255, 2)
            else:
                cv2.rectangle(image, (x - 4, y - 4), (x + 4, y + 4), 255, -1)
            cv2.imwrite(str(root / name / f"{i}.png"), image)
    return root


def read_log(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_classifier_trains_saves_its_contract_and_resumes(tmp_path: Path) -> None:
    data = shapes_folder(tmp_path / "shapes")
    out = tmp_path / "out" / "shapes.keras"
    common = ["train", "classify", str(data), "-o", str(out), "--batch-size", "16"]
    common += ["--strategy", "one_device", "--val-split", "0.2", "--lr", "3e-3"]

    assert main([*common, "--epochs", "3", "--json", str(tmp_path / "r.json")]) == 0

    checkpoints = tmp_path / "out" / "shapes_checkpoints"
    log = read_log(checkpoints / "log.jsonl")
    assert [r["epoch"] for r in log] == [1, 2, 3]
    assert log[-1]["loss"] < log[0]["loss"]
    assert {"last.keras", "best.keras", "state.json"} <= {p.name for p in checkpoints.iterdir()}
    contract = read_contract(out)
    assert contract.task == "classify"
    assert contract.class_names == ("circle", "cross", "square")
    assert contract.input_size == (16, 16) and contract.channels == 1
    assert contract.color_order is ColorOrder.GRAY and contract.resize is ResizeMode.STRETCH
    assert contract.output_names == ("probs",)
    figures = json.loads((tmp_path / "r.json").read_text())
    assert np.sum(figures["confusion"]) == 24  # the validation split doubles as test set

    import keras

    model = keras.models.load_model(out, safe_mode=True)  # no custom objects needed
    assert model.output_shape == (None, 3)

    assert main([*common, "--epochs", "4", "--resume"]) == 0
    assert [r["epoch"] for r in read_log(checkpoints / "log.jsonl")] == [1, 2, 3, 4]
    assert json.loads((checkpoints / "state.json").read_text())["epoch"] == 4


def test_train_evaluate_refuses_a_classifier_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    data = shapes_folder(tmp_path / "shapes", per_class=4)
    out = tmp_path / "shapes.keras"
    assert main(["train", "classify", str(data), "-o", str(out), "--epochs", "1"]) == 0
    capsys.readouterr()

    assert main(["train", "evaluate", str(out), SMALL_SCENE]) == 2

    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"edgeimg train: error: {out}: expected a detector, got a classify model"]


def test_detector_loss_falls_on_a_few_batches(tmp_path: Path) -> None:
    out = tmp_path / "det.keras"
    code = main(
        ["train", "detect", SMALL_SCENE, "--frames", "1-16", "--test-frames", "17-24",
         "--input-size", "96x128", "--crop", "64x96", "--width", "0.5", "--epochs", "3",
         "--batch-size", "4", "--lr", "3e-3", "-o", str(out), "--json", str(tmp_path / "d.json")]
    )  # fmt: skip
    assert code == 0
    log = read_log(tmp_path / "det_checkpoints" / "log.jsonl")
    assert log[-1]["heatmap_loss"] < log[0]["heatmap_loss"]
    assert log[-1]["loss"] < log[0]["loss"]
    contract = read_contract(out)
    assert contract.task == "detect" and contract.decoder == "centernet"
    assert contract.input_size == (96, 128) and contract.resize is ResizeMode.LETTERBOX
    assert contract.output_names == ("heatmap", "boxes")
    assert contract.decoder_params["stride"] == 4
    figures = json.loads((tmp_path / "d.json").read_text())
    assert figures["test"]["images"] == 8 and 0.0 <= figures["test"]["ap50"] <= 1.0

    # `train evaluate` on the saved file gives the figures training reported
    evaluate = ["train", "evaluate", str(out), SMALL_SCENE, "--frames", "17-24"]
    assert main([*evaluate, "--json", str(tmp_path / "e.json")]) == 0
    assert json.loads((tmp_path / "e.json").read_text()) == pytest.approx(figures["test"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["classify", "{shapes}", "--arch", "resnet"],
            "expected one of cifar_cnn, mobilenet, edgenet",
        ),
        (["classify", "{shapes}", "--num-classes", "10"], "class count: expected 10"),
        (["classify", "{tmp}/missing"], "no such dataset folder"),
        (["classify", "{tmp}/empty"], "unknown classification data"),
        (["detect", "{tmp}/empty"], "unknown detection data"),
        (["detect", SMALL_SCENE, "--input-size", "100x128"], "multiples of 32"),
        (["detect", SMALL_SCENE, "--frames", "9-3"], "frame range"),
        (["detect", SMALL_SCENE, "--strategy", "multi_worker"], "needs TF_CONFIG"),
        (["detect", SMALL_SCENE, "--zoom", "3-1"], "zoom: expected 0 < MIN <= MAX, got '3-1'"),
        (["detect", SMALL_SCENE, "--mosaic", "2"], "mosaic: expected a probability 0..1, got 2.0"),
        (["detect", SMALL_SCENE, "--select-classes", "car"], "no class 'car' (classes: person)"),
        (["detect", SMALL_SCENE, "--init", "{tmp}/none.keras"], "no such Keras file"),
        (["detect", f"{SMALL_SCENE}*0"], "expected a repeat count >= 1, got 0"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture, args: list[str], message: str, monkeypatch
) -> None:
    monkeypatch.delenv("TF_CONFIG", raising=False)
    shapes = shapes_folder(tmp_path / "shapes", per_class=2)
    (tmp_path / "empty").mkdir()
    out = tmp_path / "out.keras"
    argv = ["train", *(a.format(shapes=shapes, tmp=tmp_path) for a in args), "-o", str(out)]

    assert main([*argv, "--epochs", "1"]) == 2

    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not out.exists()


@pytest.mark.parametrize(("kind", "name"), [("one_device", "OneDevice"), ("mirrored", "Mirrored")])
def test_strategies_run_on_this_cpu(kind: str, name: str) -> None:
    from edgeimg.train.fit import make_strategy

    strategy = make_strategy(kind)
    assert name in type(strategy).__name__
    assert strategy.num_replicas_in_sync == 1
