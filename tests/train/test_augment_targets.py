"""Augmentation keeps boxes right; targets decode back to the boxes through the runtime decoder."""

from __future__ import annotations

import numpy as np
import pytest

from edgeimg.runtime.errors import EdgeimgError
from edgeimg.runtime.preprocess import Transform, letterbox
from edgeimg.runtime.tasks.detect.boxes import iou_matrix
from edgeimg.runtime.tasks.detect.centernet import CenterNetConfig, CenterNetDecoder
from edgeimg.train.tasks.detect.augment import (
    BoxAugment,
    augment_sample,
    letterbox_matrix,
    mosaic_sample,
    warp_boxes,
    warp_image,
)
from edgeimg.train.tasks.detect.evaluate import detection_ap
from edgeimg.train.tasks.detect.targets import centernet_targets

# Four boxes on a 480x640 frame, each filled with its own pure colour (BGR).
BOXES = np.array(
    [[40, 60, 100, 200], [300, 100, 340, 180], [500, 300, 620, 460], [200, 380, 260, 470]],
    np.float32,
)
COLOURS = [(0, 0, 255), (0, 255, 0), (255, 0, 0), (0, 255, 255)]


def painted_frame() -> np.ndarray:
    image = np.full((480, 640, 3), 128, np.uint8)
    for (x1, y1, x2, y2), colour in zip(BOXES.astype(int), COLOURS, strict=True):
        image[y1:y2, x1:x2] = colour
    return image


def colour_extent(image: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray | None:
    """xyxy corners of the pixels of ``colour`` in ``image`` (None when absent)."""
    mask = np.all(np.abs(image.astype(int) - colour) < 40, axis=2)
    ys, xs = np.nonzero(mask)
    if len(xs) < 4:
        return None
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float32)


@pytest.mark.parametrize("seed", range(8))
def test_augmented_boxes_cover_the_drawn_objects(seed: int) -> None:
    """Draw coloured boxes, augment (zoom, shift, flip, crop), and find each colour again:
    every kept box must match where its colour landed, and every object left fully visible
    must have kept its box."""
    augment = BoxAugment(scale=(0.6, 1.5), translate=0.25, flip=True, color=0.0, min_visible=0.4)
    rng = np.random.default_rng(seed)
    image, boxes, classes = augment_sample(
        painted_frame(), BOXES, np.arange(4, dtype=np.int32), rng, (288, 384), (160, 224), augment
    )
    assert image.shape == (160, 224, 3)
    for box, cls in zip(boxes, classes, strict=True):
        found = colour_extent(image, COLOURS[cls])
        assert found is not None, f"box of class {cls} kept, but its colour is gone"
        assert iou_matrix(box[None], found[None])[0, 0] > 0.85
    for cls, colour in enumerate(COLOURS):
        found = colour_extent(image, colour)
        inside = found is not None and found[0] > 1 and found[1] > 1
        inside = inside and found[2] < 223 and found[3] < 159
        if inside and (found[2] - found[0]) * (found[3] - found[1]) > 40:
            assert cls in classes, f"object {cls} fully in view but its box was dropped"


@pytest.mark.parametrize("seed", range(6))
def test_a_mosaic_tiles_four_samples_and_keeps_each_ones_boxes(seed: int) -> None:
    """Four frames, each with one box of its own colour on its own background: the mosaic
    shows each frame in one quadrant, and every box kept covers where its colour landed."""
    backgrounds = (30, 80, 170, 220)
    parts = []
    for index, grey in enumerate(backgrounds):
        image = np.full((480, 640, 3), grey, np.uint8)
        x1, y1, x2, y2 = BOXES[index].astype(int)
        image[y1:y2, x1:x2] = COLOURS[index]
        parts.append((image, BOXES[index : index + 1], np.array([index], np.int32)))
    augment = BoxAugment(scale=(0.8, 1.25), translate=0.1, color=0.0, mosaic=1.0)
    rng = np.random.default_rng(seed)
    image, boxes, classes = mosaic_sample(parts, rng, (288, 384), (224, 288), augment)

    assert image.shape == (224, 288, 3) and boxes.shape == (len(classes), 4)
    corners = [image[2, 2], image[2, -3], image[-3, 2], image[-3, -3]]  # one per quadrant
    for index, (corner, grey) in enumerate(zip(corners, backgrounds, strict=True)):
        # its frame's background or box, or the letterbox padding
        assert corner.tolist() in ([grey] * 3, list(COLOURS[index]), [114] * 3)
    assert len({tuple(c) for c in corners} - {(114, 114, 114)}) >= 2
    for box, cls in zip(boxes, classes, strict=True):
        found = colour_extent(image, COLOURS[cls])
        assert found is not None, f"box of sample {cls} kept, but its colour is gone"
        assert iou_matrix(box[None], found[None])[0, 0] > 0.85
    with pytest.raises(EdgeimgError, match="expected 4 samples, got 3"):
        mosaic_sample(parts[:3], rng, (288, 384), (224, 288), augment)
    with pytest.raises(EdgeimgError, match=r"mosaic: expected a probability 0\.\.1, got 1\.5"):
        BoxAugment(mosaic=1.5)


def test_letterbox_matrix_reproduces_the_runtime_letterbox() -> None:
    frame = painted_frame()
    expected, transform = letterbox(frame, (288, 288))
    matrix = letterbox_matrix(frame.shape[:2], (288, 288))
    warped = warp_image(frame, matrix, (288, 288))
    assert np.mean(np.abs(warped.astype(int) - expected.astype(int))) < 2.0
    assert warped[0, 0].tolist() == [114, 114, 114]  # the pad value, top band
    assert (matrix[0, 0], matrix[1, 1]) == (transform.scale_x, transform.scale_y)
    assert (matrix[0, 2], matrix[1, 2]) == (transform.pad_x, transform.pad_y)


def test_boxes_mostly_cut_off_by_the_crop_are_dropped() -> None:
    shift_left = np.array([[1.0, 0.0, -90.0], [0.0, 1.0, 0.0]])
    boxes, classes = warp_boxes(
        np.array([[80, 10, 100, 50], [95, 10, 140, 50]], np.float32),
        np.array([0, 1]),
        shift_left,
        (100, 100),
        min_visible=0.4,
    )
    # First box: 10 of 20 px wide remain (50%): kept, clipped. Second: fully inside.
    assert boxes.tolist() == [[0, 10, 10, 50], [5, 10, 50, 50]]
    assert classes.tolist() == [0, 1]
    boxes, _ = warp_boxes(
        np.array([[80, 10, 100, 50]], np.float32), [0], shift_left, (100, 100), 0.6
    )
    assert len(boxes) == 0


def test_targets_decode_back_to_the_boxes_through_the_runtime_decoder() -> None:
    boxes = np.array([[10, 20, 40, 100], [100, 50, 130, 130], [200, 10, 260, 60]], np.float32)
    classes = np.array([0, 1, 1], np.int32)
    heatmap, target = centernet_targets(boxes, classes, (160, 288), stride=4, num_classes=2)

    assert heatmap.shape == (40, 72, 2) and target.shape == (40, 72, 5)
    assert heatmap.max() == 1.0 and np.count_nonzero(heatmap == 1.0) == 3
    assert np.allclose(target[..., 4].sum(), 3.0, atol=1e-4)  # each box's weights sum to 1
    decoder = CenterNetDecoder(CenterNetConfig(stride=4, score_threshold=0.5), 2, (160, 288))
    decoded = decoder([heatmap[None], target[None, ..., :4]], Transform.identity((160, 288)))
    assert len(decoded) == 3
    order = np.argsort(decoded.xyxy[:, 0])
    assert np.allclose(decoded.xyxy[order], boxes, atol=1e-4)
    assert decoded.class_id[order].tolist() == classes.tolist()
    result = detection_ap([decoded], [(boxes, classes)], num_classes=2)
    assert result.ap == pytest.approx(1.0)


def test_an_image_without_boxes_has_empty_targets() -> None:
    heatmap, target = centernet_targets(np.zeros((0, 4)), np.zeros(0), (64, 64), 4, 1)
    assert not heatmap.any() and not target.any()
