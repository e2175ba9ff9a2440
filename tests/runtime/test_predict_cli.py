"""`edgeimg predict` on the bundled detector: JSON lines on stdout, outputs by suffix, refusals."""

from __future__ import annotations

import json
import re

import cv2
import numpy as np
import pytest

from edgeimg.cli.main import main


def test_with_no_arguments_the_bundled_detector_prints_json_lines(capsys):
    assert main(["predict", "--frames", "3", "-q"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["frame"] for r in records] == [1, 2, 3]
    assert all(len(r["detections"]) >= 3 for r in records)  # the scene's people
    assert {d["class"] for r in records for d in r["detections"]} == {"person"}


@pytest.mark.parametrize("workers", ["1", "2"])
def test_outputs_by_suffix_with_the_task_stage(tmp_path, capsys, workers):
    video, mot = tmp_path / "out.mp4", tmp_path / "out.txt"
    args = ["predict", "synthetic:frames=12", "-o", str(video), "-o", str(mot), "--track"]
    assert main([*args, "--workers", workers, "--threads", "1"]) == 0
    capture = cv2.VideoCapture(str(video))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 12
    capture.release()
    lines = mot.read_text().splitlines()
    frames = [int(line.split(",")[0]) for line in lines]
    assert frames == sorted(frames) and set(frames) == set(range(1, 13))  # in frame order
    ids = {line.split(",")[1] for line in lines}
    assert "-1" not in ids and len(ids) >= 3  # tracked: real IDs, not untracked -1
    assert "12 frames" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["x.onnx", "y.onnx"], "expected one MODEL.onnx and one SOURCE"),
        (["synthetic:", "-o", "a.csv"], r"expected a name ending in .* for a detect model"),
        (["synthetic:", "-o", "a.jsonl", "-o", "a.jsonl"], "a.jsonl"),
        (["--task", "nosuch"], "contract task: expected one of"),
        ([""], "source: expected a camera index"),
        (["synthetic:", "--workers", "0"], "--workers: expected >= 1, got 0"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(args, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["predict", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and re.search(message, err[0]), err
    assert list(tmp_path.iterdir()) == []


def test_an_output_that_is_the_source_image_is_refused(tmp_path, capsys):
    image = tmp_path / "street.png"
    cv2.imwrite(str(image), np.full((48, 64, 3), 90, np.uint8))
    before = image.read_bytes()
    assert main(["predict", str(image), "-o", str(image)]) == 2
    assert "would destroy the input" in capsys.readouterr().err
    assert image.read_bytes() == before
