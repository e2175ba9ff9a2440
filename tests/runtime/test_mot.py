"""MOTChallenge text files: reading, writing, streaming, and errors that name the line."""

from __future__ import annotations

import numpy as np
import pytest

from edgeimg.runtime.errors import EdgeimgError
from edgeimg.runtime.tasks.detect.detections import Detections
from edgeimg.runtime.tasks.detect.mot import MotRecords, read_mot, write_mot


def tracked(ids, boxes, scores):
    return Detections(
        np.array(boxes, np.float32), np.array(scores, np.float32), np.zeros(len(ids)), ids
    )


def test_written_lines_are_motchallenge_with_one_based_frames(tmp_path):
    path = tmp_path / "pred.txt"
    frames = [
        (1, tracked([7, 9], [[10, 20, 40, 80], [0.5, 1, 2.25, 3]], [0.9, 0.25])),
        (2, Detections.empty()),
        (3, tracked([7], [[12, 20, 42, 81]], [0.875])),
    ]
    write_mot(path, MotRecords.concatenate([MotRecords.from_detections(*f) for f in frames]))
    assert path.read_text().splitlines() == [
        "1,7,10.00,20.00,30.00,60.00,0.9000,-1,-1,-1",
        "1,9,0.50,1.00,1.75,2.00,0.2500,-1,-1,-1",
        "3,7,12.00,20.00,30.00,61.00,0.8750,-1,-1,-1",
    ]


def test_read_back_what_was_written(tmp_path):
    records = MotRecords(
        frame=[1, 1, 2],
        track_id=[3, 4, 3],
        xywh=[[1.5, 2, 30, 60], [100, 50, 20, 40], [2.5, 2, 30, 61]],
        confidence=[0.9, 0.8, 0.7],
    )
    path = tmp_path / "out.txt"
    write_mot(path, records)
    back = read_mot(path)
    np.testing.assert_array_equal(back.frame, records.frame)
    np.testing.assert_array_equal(back.track_id, records.track_id)
    np.testing.assert_allclose(back.xywh, records.xywh)
    np.testing.assert_allclose(back.confidence, records.confidence)
    frame1 = back.detections(1)
    np.testing.assert_allclose(frame1.xyxy, [[1.5, 2, 31.5, 62], [100, 50, 120, 90]])
    assert frame1.tracker_id.tolist() == [3, 4]
    assert len(back.frames(2, 5)) == 1


def test_reads_ground_truth_with_world_coordinates_and_space_separated_files(tmp_path):
    gt = tmp_path / "gt.txt"
    gt.write_text(
        "1,9,499,158,31.03,75.17,1,-4.1554,-7.3591,0\n\n2,9,497,158,31,75,0,-4.17,-7.3,0\n"
    )
    records = read_mot(gt)
    assert records.frame.tolist() == [1, 2] and records.confidence.tolist() == [1.0, 0.0]
    spaced = tmp_path / "det.txt"
    spaced.write_text("1 -1 10 20 30 40\n")
    assert read_mot(spaced).confidence.tolist() == [1.0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1,2,3,4,5\n", r"bad.txt:1: expected 'frame,id,left,top,width,height,conf,...'"),
        ("1,2,3,4,5,6,1\n1,x,3,4,5,6,1\n", r"bad.txt:2: expected numbers, got '1,x,3,4,5,6,1'"),
        ("0,2,3,4,5,6,1\n", r"bad.txt:1: expected a 1-based frame number, got 0"),
    ],
)
def test_bad_lines_are_refused_naming_file_and_line(tmp_path, text, expected):
    path = tmp_path / "bad.txt"
    path.write_text(text)
    with pytest.raises(EdgeimgError, match=expected):
        read_mot(path)


def test_missing_file_and_missing_folder_are_refused(tmp_path):
    with pytest.raises(EdgeimgError, match="MOTChallenge file not found"):
        read_mot(tmp_path / "absent.txt")
    with pytest.raises(EdgeimgError, match="does not exist"):
        write_mot(tmp_path / "no" / "pred.txt", MotRecords.empty())


def test_an_empty_file_is_an_empty_result(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_text("")
    assert len(read_mot(path)) == 0
