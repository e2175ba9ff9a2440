"""`edgeimg track` end to end on real footage, its default run, and its one-line errors."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeimg.cli.main import main
from edgeimg.cli.track import DEFAULT_OUTPUT
from edgeimg.runtime.contract import ModelContract
from edgeimg.runtime.model import bundled_model_path
from edgeimg.runtime.preprocess import letterbox
from edgeimg.runtime.tasks.detect.mot import read_mot


def video_frames(path: Path) -> tuple[int, tuple[int, int]]:
    capture = cv2.VideoCapture(str(path))
    size = (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    count = 0
    while capture.read()[0]:
        count += 1
    capture.release()
    return count, size


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) >= 1 and "Traceback" not in "\n".join(err)
    return err[-1]


PEAKS = ((6, 8, 0.9), (8, 16, 0.8))  # (row, column, score) of the heatmap peaks, class person
LTRB = (1.0, 3.0, 1.0, 3.0)  # box edges from the cell centre, in strides of 4 pixels


def fixed_person_detector(path: Path) -> Path:
    """A real ONNX detector (input 64x96, stride 4) that finds the same two people in any image:
    its outputs are constants added to 0 * max(image)."""
    onnx = pytest.importorskip("onnx")
    helper, tp = onnx.helper, onnx.TensorProto
    heatmap = np.full((1, 16, 24, 1), 0.01, np.float32)
    for row, col, score in PEAKS:
        heatmap[0, row, col, 0] = score
    boxes = np.broadcast_to(np.float32(LTRB), (1, 16, 24, 4)).copy()
    nodes = [
        helper.make_node("ReduceMax", ["image"], ["peak"], keepdims=1),
        helper.make_node("Mul", ["peak", "zero"], ["nothing"]),
        helper.make_node("Add", ["nothing", "heat"], ["heatmap"]),
        helper.make_node("Add", ["nothing", "ltrb"], ["boxes"]),
    ]
    graph = helper.make_graph(
        nodes,
        "fixed",
        [helper.make_tensor_value_info("image", tp.FLOAT, [1, 64, 96, 3])],
        [
            helper.make_tensor_value_info("heatmap", tp.FLOAT, [1, 16, 24, 1]),
            helper.make_tensor_value_info("boxes", tp.FLOAT, [1, 16, 24, 4]),
        ],
        [
            onnx.numpy_helper.from_array(np.zeros((), np.float32), "zero"),
            onnx.numpy_helper.from_array(heatmap, "heat"),
            onnx.numpy_helper.from_array(boxes, "ltrb"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    contract = {
        "task": "detect",
        "class_names": ["person"],
        "input_size": [64, 96],
        "decoder": "centernet",
        "decoder_params": {"stride": 4},
        "output_names": ["heatmap", "boxes"],
    }
    helper.set_model_props(model, ModelContract.from_dict(contract).to_metadata())
    onnx.save(model, str(path))
    return path


def expected_pets_boxes() -> np.ndarray:
    """(2, 4) xyxy of the fixed detections in PETS pixels (768x576 letterboxed to 96x64)."""
    left, top, right, bottom = LTRB
    model_boxes = [
        [(c + 0.5 - left) * 4, (r + 0.5 - top) * 4, (c + 0.5 + right) * 4, (r + 0.5 + bottom) * 4]
        for r, c, _ in PEAKS
    ]
    _, transform = letterbox(np.zeros((576, 768, 3), np.uint8), (64, 96))
    return transform.boxes_to_source(np.array(model_boxes, np.float32))


def test_track_on_the_real_pets_clip_writes_consistent_outputs(pets_dir, tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    model = fixed_person_detector(tmp_path / "fixed.onnx")
    code = main(
        [
            "track",
            "--source", str(pets_dir / "vtest.avi"),
            "--start-frame", "601",
            "--frames", "6",
            "--model", str(model),
            "--device", "cpu",
            "--output", str(out / "pets.mp4"),
            "--jsonl", str(out / "pets.jsonl"),
            "--mot", str(out / "pets.txt"),
            "--timing-json", str(out / "timing.json"),
        ]
    )  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "inference" in printed and "FPS" in printed and "p99 ms" in printed

    assert video_frames(out / "pets.mp4") == (6, (768, 576))
    records = [json.loads(line) for line in (out / "pets.jsonl").read_text().splitlines()]
    assert [r["frame"] for r in records] == list(range(601, 607))  # as --start-frame, MOT
    assert records[1]["timestamp"] - records[0]["timestamp"] == pytest.approx(0.1)  # 10 fps AVI
    expected = expected_pets_boxes()
    ids = set()
    for record in records:
        found = sorted(record["detections"], key=lambda d: -d["score"])
        assert [d["class"] for d in found] == ["person", "person"]
        np.testing.assert_allclose([d["box"] for d in found], expected, atol=0.01)
        ids.add(tuple(d["track_id"] for d in found))
    assert len(ids) == 1 and None not in next(iter(ids))  # two steady tracks

    mot = read_mot(out / "pets.txt")
    assert mot.frame.tolist() == [f for f in range(601, 607) for _ in range(2)]
    assert set(mot.track_id.tolist()) == set(next(iter(ids)))
    xyxy = mot.xywh.copy()
    xyxy[:, 2:] += xyxy[:, :2]
    np.testing.assert_allclose(xyxy[:2], expected, atol=0.02)

    timing = json.loads((out / "timing.json").read_text())
    assert timing["frames"] == 6 and timing["dropped"] == 0
    assert set(timing["stages_ms"]) == {
        "capture wait", "preprocess", "inference", "postprocess", "track", "draw", "write"
    }  # fmt: skip
    assert sorted(p.name for p in out.iterdir()) == [
        "pets.jsonl", "pets.mp4", "pets.txt", "timing.json"
    ]  # fmt: skip


def test_track_with_no_source_runs_the_synthetic_demo_into_the_default_video(
    detector_path, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    assert main(["track", "--model", str(detector_path), "--frames", "4", "--no-track"]) == 0
    assert video_frames(tmp_path / DEFAULT_OUTPUT) == (4, (640, 480))
    captured = capsys.readouterr()
    assert "synthetic" in captured.err and DEFAULT_OUTPUT in captured.err
    assert "4 frames in" in captured.out


@pytest.mark.skipif(not bundled_model_path().is_file(), reason="no bundled model yet")
def test_track_with_no_arguments_uses_the_bundled_model(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["track", "--frames", "10", "--jsonl", "demo.jsonl"]) == 0
    records = [json.loads(line) for line in Path("demo.jsonl").read_text().splitlines()]
    assert len(records) == 10
    assert any(d["class"] == "person" for r in records for d in r["detections"])


def test_without_a_bundled_model_the_command_says_so(tmp_path, monkeypatch, capsys):
    if bundled_model_path().is_file():
        pytest.skip("a bundled model is installed")
    monkeypatch.chdir(tmp_path)
    assert main(["track", "--frames", "1"]) == 2
    assert "no bundled model in this installation" in one_line_error(capsys)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--source", "missing.mp4"], "source file not found: missing.mp4"),
        (["--source", "empty"], "image folder empty has no images"),
        (["--camera", "57"], "cannot open camera 57"),
        (["--output", "no/such/dir/out.mp4"], "folder .*no/such/dir does not exist"),
        (["--output", "out.gif"], r"expected a name ending in \.mp4"),
        (["--conf", "1.5"], r"--conf: expected a score in \[0, 1\], got 1.5"),
        (["--frames", "0"], "--frames: expected >= 1, got 0"),
        (["--tracker-config", "missing.yaml"], "cannot read tracker config missing.yaml"),
        (["--source", "synthetic:speed=3"], "expected key=value with key one of"),
    ],
)
def test_bad_input_is_one_line_error_and_no_output(
    args, message, detector_path, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    assert main(["track", "--model", str(detector_path), "--frames", "2", *args]) == 2
    line = one_line_error(capsys)
    assert line.startswith("edgeimg track: error: ")
    assert re.search(message, line), line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]


def test_missing_model_file_is_an_error(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["track", "--model", "nope.onnx"]) == 2
    assert "not found" in one_line_error(capsys) and list(tmp_path.iterdir()) == []


def test_a_classifier_is_refused(classifier_path, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["track", "--model", str(classifier_path)]) == 2
    assert "expected a detector (task detect), got task classify" in one_line_error(capsys)


def test_show_without_a_display_is_a_clear_error(detector_path, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert main(["track", "--model", str(detector_path), "--show"]) == 2
    assert "--show needs a display" in one_line_error(capsys)


def run_track(*args: str, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "edgeimg.cli.main", "track", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_errors_reach_the_terminal_as_one_line_without_library_noise(detector_path, tmp_path):
    process = run_track("--camera", "57", "--model", str(detector_path), cwd=tmp_path)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 2
    assert err.strip().splitlines()[-1].startswith("edgeimg track: error: cannot open camera 57")
    assert "WARN" not in err and "Traceback" not in err


def test_ctrl_c_stops_the_command_and_finishes_the_video(detector_path, tmp_path):
    process = run_track(
        "--source", "synthetic:frames=5000", "--model", str(detector_path), "--output", "run.avi",
        cwd=tmp_path,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not any(p.name.startswith(".run.partial") for p in tmp_path.iterdir()):
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.5)  # a few frames in
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    frames, size = video_frames(tmp_path / "run.avi")
    assert frames >= 1 and size == (640, 480)
    assert f"{frames} frames in" in out  # the timing summary covers what was written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.avi"]


def test_conf_raises_the_lowest_score_kept(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    model = fixed_person_detector(tmp_path / "fixed.onnx")
    args = ["track", "--model", str(model), "--source", "synthetic:frames=3", "--no-track"]
    assert main([*args, "--jsonl", "all.jsonl"]) == 0
    assert main([*args, "--jsonl", "high.jsonl", "--conf", "0.85"]) == 0
    count = {
        name: [len(json.loads(line)["detections"]) for line in Path(name).read_text().splitlines()]
        for name in ("all.jsonl", "high.jsonl")
    }
    assert count == {"all.jsonl": [2, 2, 2], "high.jsonl": [1, 1, 1]}


def test_tracker_config_yaml_changes_the_tracker(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    model = fixed_person_detector(tmp_path / "fixed.onnx")
    Path("strict.yaml").write_text("track_thresh: 0.95\nnew_track_thresh: 0.96\n")
    args = ["track", "--model", str(model), "--source", "synthetic:frames=3"]
    assert main([*args, "--mot", "default.txt"]) == 0
    assert main([*args, "--mot", "strict.txt", "--tracker-config", "strict.yaml"]) == 0
    assert len(read_mot("default.txt")) == 6  # both people tracked on every frame
    assert len(read_mot("strict.txt")) == 0  # no score reaches the stricter birth threshold
