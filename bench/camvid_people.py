"""Person boxes from CamVid's per-pixel labels, written as YOLO folders ``train detect`` reads:
a dashcam at eye level, a scene edgeimg's bundled detector never trained on, for the
"your own camera" fine-tuning example.

    python -m edgeimg.bench.camvid_people ../shared/data/CamVid runs/camvid_people

writes ``OUT/train/{images,labels}`` and ``OUT/val/{images,labels}`` (the frames are linked, not
copied, where the file system allows) and ``classes.txt`` (``person``). A box is a connected
region of the Pedestrian class (9) after a 3x3 dilation, of at least ``MIN_AREA`` pixels and
``MIN_HEIGHT`` rows: people who touch in the image become one box, so these labels are coarser
than drawn ones.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import cv2
import numpy as np

from edgeimg.runtime.errors import EdgeimgError

PEDESTRIAN = 9
MIN_AREA, MIN_HEIGHT = 30, 12


def person_boxes(labels: np.ndarray) -> np.ndarray:
    """(H, W) uint8 CamVid class map -> (K, 4) float32 (x1, y1, x2, y2) pixel corners."""
    mask = cv2.dilate((labels == PEDESTRIAN).astype(np.uint8), np.ones((3, 3), np.uint8))
    _, _, stats, _ = cv2.connectedComponentsWithStats(mask)
    keep = (stats[1:, cv2.CC_STAT_AREA] >= MIN_AREA) & (stats[1:, cv2.CC_STAT_HEIGHT] >= MIN_HEIGHT)
    x, y, w, h = (stats[1:][keep][:, i] for i in range(4))
    return np.stack([x, y, x + w, y + h], axis=1).astype(np.float32).reshape(-1, 4)


def write_split(camvid: Path, split: str, out: Path) -> tuple[int, int]:
    """One split as a YOLO folder; returns (images, boxes)."""
    images = sorted((camvid / split).glob("*.png"))
    if not images:
        raise EdgeimgError(f"{camvid / split}: no PNG frames (expected CamVid's {split}/)")
    (out / split / "images").mkdir(parents=True, exist_ok=True)
    (out / split / "labels").mkdir(parents=True, exist_ok=True)
    total = 0
    for image in images:
        annotation = camvid / f"{split}annot" / image.name
        labels = cv2.imread(str(annotation), cv2.IMREAD_GRAYSCALE)
        if labels is None:
            raise EdgeimgError(f"{annotation}: missing or unreadable label image")
        height, width = labels.shape
        boxes = person_boxes(labels)
        total += len(boxes)
        centre = (boxes[:, :2] + boxes[:, 2:]) / 2 / (width, height)
        size = (boxes[:, 2:] - boxes[:, :2]) / (width, height)
        lines = "".join(f"0 {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}\n" for (cx, cy), (w, h) in
                        zip(centre, size, strict=True))  # fmt: skip
        (out / split / "labels" / f"{image.stem}.txt").write_text(lines)
        link = out / split / "images" / image.name
        if not link.exists():
            try:
                os.link(image, link)
            except OSError:
                link.write_bytes(image.read_bytes())
    (out / split / "classes.txt").write_text("person\n")
    return len(images), total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m edgeimg.bench.camvid_people", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("camvid", type=Path, help="the CamVid folder (train/, trainannot/, ...)")
    parser.add_argument("output", type=Path, help="folder to write the YOLO splits into")
    args = parser.parse_args(argv)
    try:
        for split in ("train", "val"):
            images, boxes = write_split(args.camvid, split, args.output)
            print(f"{split}: {images} frames, {boxes} person boxes -> {args.output / split}")
    except EdgeimgError as exc:
        print(f"camvid_people: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
