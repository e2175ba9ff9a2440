"""MP4 outputs are H.264 with the index at the front when PyAV is installed (issue 15), and
MPEG-4 Part 2 with one note otherwise; every file decodes."""

from __future__ import annotations

import logging
import struct
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeimg.runtime import sinks as sinks_module
from edgeimg.runtime.frame import Frame
from edgeimg.runtime.sinks import FrameResult, VideoSink, h264_available
from edgeimg.runtime.tasks.detect import Detections

MPEG4 = "fmp4"  # how OpenCV's FFmpeg names the decoder of an 'mp4v' stream


def top_level_boxes(path: Path) -> list[str]:
    """The MP4's top-level box types in file order (ftyp, moov, mdat, ...)."""
    data = path.read_bytes()
    boxes, offset = [], 0
    while offset + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        if size == 1:
            size = struct.unpack(">Q", data[offset + 8 : offset + 16])[0]
        elif size == 0:
            size = len(data) - offset
        boxes.append(kind.decode("latin-1"))
        assert size >= 8
        offset += size
    return boxes


def decode(path: Path) -> tuple[int, str, tuple[int, int]]:
    capture = cv2.VideoCapture(str(path))
    fourcc = int(capture.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little").decode("latin-1")
    size = (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    count = 0
    while capture.read()[0]:
        count += 1
    capture.release()
    return count, fourcc.lower(), size


def write_frames(path: Path, count: int, size: tuple[int, int] = (64, 48)) -> VideoSink:
    width, height = size
    with VideoSink(path, fps=25.0) as sink:
        for i in range(count):
            image = np.full((height, width, 3), (i * 9) % 255, np.uint8)
            cv2.circle(image, (8 + i, height // 2), 6, (0, 0, 255), -1)
            sink.write(FrameResult(Frame(image, i, i / 25), Detections.empty()))
    return sink


def test_mp4_is_h264_with_the_index_first(tmp_path: Path) -> None:
    if not h264_available():
        pytest.skip("PyAV with libx264 is not installed (the video extra)")
    path = tmp_path / "out.mp4"
    sink = write_frames(path, 30)
    assert sink.codec == "avc1" and sink.frames == 30
    boxes = top_level_boxes(path)
    assert boxes.index("moov") < boxes.index("mdat")  # faststart
    count, fourcc, size = decode(path)
    assert (count, size) == (30, (64, 48)) and fourcc in ("avc1", "h264")
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]


def test_without_pyav_mp4v_is_written_with_one_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(sinks_module, "h264_available", lambda: False)
    path = tmp_path / "out.mp4"
    with caplog.at_level(logging.INFO, logger="edgeimg.runtime.sinks"):
        sink = write_frames(path, 12)
    assert sink.codec == "mp4v"
    assert decode(path) == (12, MPEG4, (64, 48))
    notes = [r.getMessage() for r in caplog.records if "mp4v" in r.getMessage()]
    assert notes == [
        "out.mp4: no H.264 encoder (pip install 'edgeimg[video]' adds PyAV's); "
        "writing MPEG-4 Part 2 (mp4v), which browsers do not play"
    ]


def test_an_odd_frame_size_falls_back_to_mp4v(tmp_path: Path) -> None:
    path = tmp_path / "odd.mp4"
    sink = write_frames(path, 5, size=(63, 47))
    assert sink.codec == "mp4v"
    assert decode(path)[:2] == (5, MPEG4)


def test_avi_and_an_explicit_codec_keep_opencv(tmp_path: Path) -> None:
    assert write_frames(tmp_path / "a.avi", 3).codec == "MJPG"
    with VideoSink(tmp_path / "b.mp4", fps=25.0, codec="mp4v") as sink:
        sink.write(FrameResult(Frame(np.zeros((48, 64, 3), np.uint8), 0, 0.0), Detections.empty()))
    assert sink.codec == "mp4v" and decode(tmp_path / "b.mp4")[:2] == (1, MPEG4)
