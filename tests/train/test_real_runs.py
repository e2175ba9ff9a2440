"""The real runs of the README as tests (slow: hours on a 2-core CPU, minutes on a GPU)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("tensorflow")

from edgeimg.cli.main import main

FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.slow
@pytest.mark.skipif(not FASHION.is_dir(), reason="Debian package dataset-fashion-mnist")
def test_classic_cnn_reaches_90_percent_on_fashion_mnist(tmp_path: Path) -> None:
    figures = tmp_path / "cnn.json"
    argv = ["train", "classify", str(FASHION), "--arch", "cifar_cnn", "--epochs", "15"]
    argv += ["--batch-size", "128", "--lr", "2e-3", "-o", str(tmp_path / "cnn.keras")]
    assert main([*argv, "--json", str(figures)]) == 0
    assert json.loads(figures.read_text())["test_accuracy"] >= 0.90


@pytest.mark.slow
def test_pets_detector_reaches_ap50_085_on_held_out_frames(tmp_path: Path, pets_dir: Path) -> None:
    figures = tmp_path / "det.json"
    argv = ["train", "detect", str(pets_dir / "vtest.avi"), "--frames", "1-600"]
    argv += ["--test-frames", "601-795", "--input-size", "288x384", "--crop", "160x224"]
    argv += ["--epochs", "40", "--batch-size", "16", "-o", str(tmp_path / "det.keras")]
    assert main([*argv, "--json", str(figures)]) == 0
    assert json.loads(figures.read_text())["test"]["ap50"] >= 0.85
