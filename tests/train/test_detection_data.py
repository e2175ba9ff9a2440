"""Detection readers: MOTChallenge (images and video), YOLO, COCO, VOC, synthetic; bad input."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeimg.runtime.errors import EdgeimgError
from edgeimg.train.tasks.detect.data import DetectionFormat, FrameRange, load_detection


def blank(height: int = 60, width: int = 80, value: int = 0) -> np.ndarray:
    return np.full((height, width, 3), value, np.uint8)


@pytest.mark.parametrize(
    ("text", "first", "last"), [("1-600", 1, 600), ("601-", 601, None), ("42", 42, 42)]
)
def test_frame_ranges_are_one_based_and_inclusive(text: str, first: int, last: int | None) -> None:
    frames = FrameRange.parse(text)
    assert (frames.first, frames.last) == (first, last)
    assert first in frames and first - 1 not in frames


@pytest.mark.parametrize("text", ["0-5", "9-3", "a-b", ""])
def test_bad_frame_ranges_are_refused(text: str) -> None:
    with pytest.raises(EdgeimgError, match="frame range"):
        FrameRange.parse(text)


def write_mot(root: Path, frames: int, video: bool) -> None:
    (root / "gt").mkdir(parents=True)
    rows = []
    for f in range(1, frames + 1):
        rows.append(f"{f},1,{10 + f},5,10,20,1,-1,-1,-1")
        rows.append(f"{f},2,40,30,8,8,0,-1,-1,-1")  # conf 0: not counted, not trained on
    (root / "gt" / "gt.txt").write_text("\n".join(rows) + "\n")
    if video:
        writer = cv2.VideoWriter(
            str(root / "clip.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 5, (80, 60)
        )
        for f in range(1, frames + 1):
            writer.write(blank(value=20 * f))  # frames far apart so the codec keeps them distinct
        writer.release()
    else:
        (root / "img1").mkdir()
        for f in range(1, frames + 1):
            cv2.imwrite(str(root / "img1" / f"{f:06d}.jpg"), blank(value=20 * f))


@pytest.mark.parametrize("video", [False, True])
def test_mot_sequence_keeps_conf_1_rows_of_the_frame_range(tmp_path: Path, video: bool) -> None:
    write_mot(tmp_path, frames=6, video=video)
    spec = tmp_path / "clip.avi" if video else tmp_path

    data = load_detection(spec, "3-5")

    assert data.format is DetectionFormat.MOT and data.class_names == ("person",)
    assert [s.name for s in data.samples] == ["3", "4", "5"]
    sample = data.samples[0]
    assert sample.image.shape == (60, 80, 3)
    assert abs(int(sample.image.mean()) - 60) <= 3  # frame 3 of the file is frame 3 of gt.txt
    assert sample.xyxy.tolist() == [[13.0, 5.0, 23.0, 25.0]]
    assert sample.class_id.tolist() == [0]


def test_real_pets_frame_numbers_match_the_video(pets_dir: Path) -> None:
    data = load_detection(pets_dir / "vtest.avi", "1-3")
    gt = np.loadtxt(pets_dir / "gt" / "gt.txt", delimiter=",")
    for sample in data.samples:
        rows = gt[(gt[:, 0] == int(sample.name)) & (gt[:, 6] == 1)]
        assert sample.image.shape == (576, 768, 3)
        assert len(sample.xyxy) == len(rows)
        assert np.allclose(sorted(sample.xyxy[:, 0]), sorted(rows[:, 2]), atol=1e-3)


def test_mot_box_outside_the_image_names_the_frame(tmp_path: Path) -> None:
    write_mot(tmp_path, frames=2, video=False)
    with open(tmp_path / "gt" / "gt.txt", "a") as f:
        f.write("2,3,500,500,10,10,1,-1,-1,-1\n")
    with pytest.raises(EdgeimgError, match=r"gt.txt frame 2: box 2 .* outside the 80x60 image"):
        load_detection(tmp_path)


def write_yolo(root: Path, lines: list[str]) -> None:
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    cv2.imwrite(str(root / "images" / "a.jpg"), blank(100, 200))
    cv2.imwrite(str(root / "images" / "b.jpg"), blank(100, 200))
    (root / "labels" / "a.txt").write_text("\n".join(lines) + "\n")
    (root / "classes.txt").write_text("car\nperson\n")


def test_yolo_labels_become_pixel_corners(tmp_path: Path) -> None:
    write_yolo(tmp_path, ["1 0.5 0.5 0.2 0.4", "0 0.1 0.2 0.1 0.2"])
    data = load_detection(tmp_path)
    assert data.format is DetectionFormat.YOLO and data.class_names == ("car", "person")
    first, second = data.samples
    assert np.allclose(first.xyxy, [[80, 30, 120, 70], [10, 10, 30, 30]])
    assert first.class_id.tolist() == [1, 0]
    assert len(second.xyxy) == 0  # an image without a label file has no boxes


def test_yolo_malformed_line_names_file_and_line(tmp_path: Path) -> None:
    write_yolo(tmp_path, ["1 0.5 0.5 0.2 0.4", "1 0.5 oops 0.2 0.4"])
    with pytest.raises(EdgeimgError, match=r"a\.txt:2: expected numbers"):
        load_detection(tmp_path)


def test_yolo_box_outside_the_image_is_refused(tmp_path: Path) -> None:
    write_yolo(tmp_path, ["0 1.5 0.5 0.2 0.4"])
    with pytest.raises(EdgeimgError, match=r"a\.txt:1: box outside the image"):
        load_detection(tmp_path)


def test_coco_json_with_categories_in_id_order(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "x.jpg"), blank(50, 60))
    (tmp_path / "instances.json").write_text(
        json.dumps(
            {
                "images": [{"id": 7, "file_name": "x.jpg", "width": 60, "height": 50}],
                "annotations": [
                    {"id": 1, "image_id": 7, "category_id": 3, "bbox": [5, 6, 10, 20]},
                    {"id": 2, "image_id": 7, "category_id": 1, "bbox": [0, 0, 60, 50],
                     "iscrowd": 1},
                ],
                "categories": [{"id": 3, "name": "dog"}, {"id": 1, "name": "cat"}],
            }
        )
    )  # fmt: skip
    data = load_detection(tmp_path / "instances.json")
    assert data.format is DetectionFormat.COCO and data.class_names == ("cat", "dog")
    assert data.samples[0].xyxy.tolist() == [[5, 6, 15, 26]]
    assert data.samples[0].class_id.tolist() == [1]


def test_pascal_voc_xml(tmp_path: Path) -> None:
    (tmp_path / "Annotations").mkdir()
    (tmp_path / "JPEGImages").mkdir()
    cv2.imwrite(str(tmp_path / "JPEGImages" / "p.jpg"), blank(50, 60))
    (tmp_path / "Annotations" / "p.xml").write_text(
        "<annotation><filename>p.jpg</filename>"
        "<object><name>person</name><bndbox><xmin>11</xmin><ymin>6</ymin>"
        "<xmax>20</xmax><ymax>30</ymax></bndbox></object></annotation>"
    )
    data = load_detection(tmp_path)
    assert data.format is DetectionFormat.VOC and data.class_names == ("person",)
    assert data.samples[0].xyxy.tolist() == [[10, 5, 20, 30]]  # 1-based inclusive -> corners


def test_synthetic_scene_with_options() -> None:
    data = load_detection("synthetic:frames=5,width=160,height=120,min_height=16,max_height=40")
    assert len(data) == 5 and data.samples[0].image.shape == (120, 160, 3)
    assert data.num_boxes > 0


def test_unknown_data_is_refused_with_the_expected_layouts(tmp_path: Path) -> None:
    with pytest.raises(EdgeimgError, match="expected a MOTChallenge sequence"):
        load_detection(tmp_path)
    with pytest.raises(EdgeimgError, match="no such detection data"):
        load_detection(tmp_path / "missing")
    with pytest.raises(EdgeimgError, match="key=value"):
        load_detection("synthetic:people")
