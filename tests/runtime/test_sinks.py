"""Sinks: files read back right, appear only when finished, and bad destinations fail up front."""

from __future__ import annotations

import json
import os

import cv2
import numpy as np
import pytest

from edgeimg.runtime.contract import ModelContract
from edgeimg.runtime.errors import EdgeimgError
from edgeimg.runtime.frame import Frame
from edgeimg.runtime.sinks import (
    FrameResult,
    ImageSink,
    JsonLinesSink,
    VideoSink,
    WindowSink,
    file_sink,
)
from edgeimg.runtime.tasks.classify import ScoresCsvSink
from edgeimg.runtime.tasks.classify.scores import ClassScores
from edgeimg.runtime.tasks.detect.detections import Detections
from edgeimg.runtime.tasks.detect.mot import read_mot
from edgeimg.runtime.tasks.detect.sinks import MotSink, detections_record

W, H = 80, 48
DETECT = ModelContract(task="detect", class_names=("person", "bag"), input_size=(48, 80))
CLASSIFY = ModelContract(task="classify", class_names=("cat", "dog, big", "owl"), input_size=(8, 8))


def result(i: int, detections: Detections | None = None, size=(W, H)) -> FrameResult:
    image = np.full((size[1], size[0], 3), 20 + 40 * i, np.uint8)
    return FrameResult(Frame(image, i, i / 10), detections or Detections.empty(), image)


def tracked() -> Detections:
    return Detections(
        xyxy=[[10, 20, 40, 60], [50.5, 5.25, 70, 25]],
        confidence=[0.9, 0.35],
        class_id=[0, 1],
        tracker_id=[3, -1],
    )


def read_video(path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, image = capture.read()
        if not ok:
            break
        frames.append(image)
    capture.release()
    return frames


def hidden(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.mark.parametrize("name", ["out.mp4", "out.avi"])
def test_video_reads_back_with_every_frame_in_order(tmp_path, name):
    path = tmp_path / name
    with VideoSink(path, fps=10) as sink:
        for i in range(5):
            sink.write(result(i))
            assert not path.exists()  # only the finished file ever appears under its name
    frames = read_video(path)
    assert len(frames) == 5 and frames[0].shape == (H, W, 3)
    assert [round((f.mean() - 20) / 40) for f in frames] == [0, 1, 2, 3, 4]
    assert hidden(tmp_path) == []


def test_video_keeps_the_frames_before_an_error(tmp_path):
    path = tmp_path / "partial.mp4"
    with pytest.raises(RuntimeError), VideoSink(path, fps=10) as sink:
        for i in range(6):
            if i == 4:
                raise RuntimeError("model crashed")
            sink.write(result(i))
    assert len(read_video(path)) == 4
    assert hidden(tmp_path) == []


def test_an_encoder_error_reaches_the_caller_and_keeps_the_frames_before(tmp_path):
    path = tmp_path / "bad.avi"
    not_uint8 = np.zeros((H, W, 3), np.float32)
    with pytest.raises(cv2.error), VideoSink(path, fps=10) as sink:
        sink.write(result(0))
        sink.write(result(1))
        sink.write(FrameResult(Frame(not_uint8, 2, 0.2), Detections.empty(), not_uint8))
        for i in range(3, 6):  # the encoder thread's error surfaces here or at close
            sink.write(result(i))
    assert len(read_video(path)) == 2
    assert hidden(tmp_path) == []


def test_video_resizes_a_frame_of_another_size(tmp_path, caplog):
    path = tmp_path / "sizes.avi"
    with VideoSink(path, fps=10) as sink:
        sink.write(result(0))
        sink.write(result(1, size=(W * 2, H * 3)))
    frames = read_video(path)
    assert [f.shape for f in frames] == [(H, W, 3)] * 2
    assert "frame 1 is 160x144, the video is 80x48; resizing" in caplog.text


def test_video_with_no_frames_leaves_no_file(tmp_path):
    with VideoSink(tmp_path / "empty.mp4", fps=10):
        pass
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("missing/out.mp4", "folder .*missing does not exist"),
        ("out.gif", r"expected a name ending in \.mp4, .*got '\.gif'"),
        (".", "expected a file name, got a folder"),
    ],
)
def test_bad_video_destinations_fail_before_any_work(tmp_path, name, message):
    with pytest.raises(EdgeimgError, match=message):
        VideoSink(tmp_path / name, fps=10)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write into read-only folders")
def test_read_only_folder_fails_up_front(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir(mode=0o500)
    with pytest.raises(EdgeimgError, match="is not writable"):
        JsonLinesSink(folder / "out.jsonl")


def test_json_lines_hold_one_record_per_frame(tmp_path):
    path = tmp_path / "out.jsonl"
    with JsonLinesSink(path, DETECT) as sink:
        sink.write(result(0, tracked()))
        sink.write(result(1))
        assert not path.exists()
    first, second = (json.loads(line) for line in path.read_text().splitlines())
    assert first == {
        "frame": 1,  # 1-based, as MOTChallenge: Frame.index + 1
        "timestamp": 0.0,
        "detections": [
            {"box": [10.0, 20.0, 40.0, 60.0], "score": 0.9, "class_id": 0, "class": "person",
             "track_id": 3},
            {"box": [50.5, 5.25, 70.0, 25.0], "score": 0.35, "class_id": 1, "class": "bag",
             "track_id": None},
        ],
    }  # fmt: skip
    assert second == {"frame": 2, "timestamp": 0.1, "detections": []}


def test_untracked_detections_have_null_track_ids_and_unknown_classes_null_names():
    dets = Detections([[0, 0, 1, 1]], [0.5], [7])
    record = detections_record(dets, ("person",))
    assert record["detections"][0]["track_id"] is None
    assert record["detections"][0]["class"] is None and record["detections"][0]["class_id"] == 7


def test_mot_text_is_motchallenge_format_with_tracked_boxes_only(tmp_path):
    path = tmp_path / "tracks.txt"
    with MotSink(path) as sink:
        sink.write(result(0, tracked()))
        sink.write(result(4, tracked()))
    assert path.read_text().splitlines() == [
        "1,3,10.00,20.00,30.00,40.00,0.9000,-1,-1,-1",
        "5,3,10.00,20.00,30.00,40.00,0.9000,-1,-1,-1",
    ]
    records = read_mot(path)
    assert records.frame.tolist() == [1, 5] and records.track_id.tolist() == [3, 3]


def test_text_outputs_keep_the_frames_before_an_error(tmp_path):
    jsonl, mot = tmp_path / "a.jsonl", tmp_path / "a.txt"
    with pytest.raises(KeyboardInterrupt), JsonLinesSink(jsonl, DETECT) as a, MotSink(mot) as b:
        for i in range(3):
            a.write(result(i, tracked()))
            b.write(result(i, tracked()))
        raise KeyboardInterrupt
    assert len(jsonl.read_text().splitlines()) == 3
    assert read_mot(mot).frame.tolist() == [1, 2, 3]
    assert hidden(tmp_path) == []


def test_window_without_a_display_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(EdgeimgError, match="--show needs a display"):
        WindowSink()


def test_outputs_are_chosen_by_suffix_and_the_task_adds_its_own(tmp_path):
    assert isinstance(file_sink(tmp_path / "a.mp4", DETECT), VideoSink)
    assert isinstance(file_sink(tmp_path / "a.png", CLASSIFY), ImageSink)
    assert isinstance(file_sink(tmp_path / "a.jsonl", CLASSIFY), JsonLinesSink)
    assert isinstance(file_sink(tmp_path / "a.txt", DETECT), MotSink)
    assert isinstance(file_sink(tmp_path / "a.csv", CLASSIFY), ScoresCsvSink)
    with pytest.raises(EdgeimgError, match=r"for a detect model, got '.csv'"):
        file_sink(tmp_path / "a.csv", DETECT)
    with pytest.raises(EdgeimgError, match=r"for a classify model, got '.txt'"):
        file_sink(tmp_path / "a.txt", CLASSIFY)


def test_classifier_records_and_csv_name_each_image(tmp_path):
    scores = ClassScores([1, 2], [0.75, 0.125])
    frame = Frame(np.zeros((8, 8, 3), np.uint8), 3, 0.3, "boot.png")
    jsonl, csv = tmp_path / "top.jsonl", tmp_path / "top.csv"
    with JsonLinesSink(jsonl, CLASSIFY) as a, file_sink(csv, CLASSIFY) as b:
        a.write(FrameResult(frame, scores))
        b.write(FrameResult(frame, scores))
    assert json.loads(jsonl.read_text()) == {
        "frame": 4,
        "timestamp": 0.3,
        "name": "boot.png",
        "top_k": [
            {"class_id": 1, "class": "dog, big", "score": 0.75},
            {"class_id": 2, "class": "owl", "score": 0.125},
        ],
    }
    assert csv.read_text().splitlines() == [
        "frame,name,rank,class_id,class,score",
        '4,boot.png,1,1,"dog, big",0.75',
        "4,boot.png,2,2,owl,0.125",
    ]


def test_an_image_output_holds_the_one_annotated_frame(tmp_path):
    path = tmp_path / "out.png"
    image = np.full((H, W, 3), 77, np.uint8)
    with ImageSink(path) as sink:
        sink.write(FrameResult(Frame(image, 0, 0.0), Detections.empty(), image))
        with pytest.raises(EdgeimgError, match="holds one image, the source has more"):
            sink.write(FrameResult(Frame(image, 1, 0.1), Detections.empty(), image))
    np.testing.assert_array_equal(cv2.imread(str(path)), image)
    assert hidden(tmp_path) == []
