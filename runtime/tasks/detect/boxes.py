"""Box geometry as pure, vectorized functions: conversions, clipping, IoU and NMS.

Boxes are float arrays of shape (N, 4) in pixels. Formats:
- ``xyxy``: (x1, y1, x2, y2) corners, x2 >= x1, y2 >= y1 (the format of ``Detections.xyxy``);
- ``xywh``: (left, top, width, height) (MOTChallenge's format);
- ``cxcywh``: (centre x, centre y, width, height).

Coordinates are continuous: a box from x1=0 to x2=10 is 10 pixels wide (no "+1").
Every function returns a new array and leaves its input untouched.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt


def _as_boxes(boxes: np.ndarray, name: str = "boxes") -> np.ndarray:
    arr = np.asarray(boxes)
    if arr.ndim != 2 or arr.shape[1] != 4:
        if arr.size == 0:
            return arr.reshape(0, 4).astype(np.float32)
        raise ValueError(f"{name}: expected shape (N, 4), got {arr.shape}")
    return arr


def xyxy_to_xywh(xyxy: np.ndarray) -> np.ndarray:
    """(N, 4) corners -> (N, 4) (left, top, width, height)."""
    out = np.array(_as_boxes(xyxy), dtype=np.result_type(xyxy, np.float32), copy=True)
    out[:, 2:] -= out[:, :2]
    return out


def xywh_to_xyxy(xywh: np.ndarray) -> np.ndarray:
    """(N, 4) (left, top, width, height) -> (N, 4) corners."""
    out = np.array(_as_boxes(xywh), dtype=np.result_type(xywh, np.float32), copy=True)
    out[:, 2:] += out[:, :2]
    return out


def xyxy_to_cxcywh(xyxy: np.ndarray) -> np.ndarray:
    """(N, 4) corners -> (N, 4) (centre x, centre y, width, height)."""
    boxes = _as_boxes(xyxy)
    out = np.empty(boxes.shape, dtype=np.result_type(boxes, np.float32))
    out[:, 2:] = boxes[:, 2:] - boxes[:, :2]
    out[:, :2] = boxes[:, :2] + 0.5 * out[:, 2:]
    return out


def cxcywh_to_xyxy(cxcywh: np.ndarray) -> np.ndarray:
    """(N, 4) (centre x, centre y, width, height) -> (N, 4) corners."""
    boxes = _as_boxes(cxcywh)
    out = np.empty(boxes.shape, dtype=np.result_type(boxes, np.float32))
    half = 0.5 * boxes[:, 2:]
    out[:, :2] = boxes[:, :2] - half
    out[:, 2:] = boxes[:, :2] + half
    return out


def clip(xyxy: np.ndarray, size_hw: tuple[int, int]) -> np.ndarray:
    """(N, 4) corners clipped to an image of (height, width): 0 <= x <= width, 0 <= y <= height."""
    boxes = _as_boxes(xyxy)
    height, width = size_hw
    out = np.empty(boxes.shape, dtype=np.result_type(boxes, np.float32))
    np.clip(boxes[:, 0::2], 0, width, out=out[:, 0::2])
    np.clip(boxes[:, 1::2], 0, height, out=out[:, 1::2])
    return out


def area(xyxy: np.ndarray) -> np.ndarray:
    """(N,) areas of (N, 4) corner boxes; inverted boxes have area 0."""
    boxes = _as_boxes(xyxy)
    wh = np.clip(boxes[:, 2:] - boxes[:, :2], 0, None)
    areas: np.ndarray = wh[:, 0] * wh[:, 1]
    return areas


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise intersection over union of (N, 4) and (M, 4) corner boxes -> (N, M) float32.

    Pairs whose union is empty (two zero-area boxes) have IoU 0.
    """
    a = _as_boxes(a, "a").astype(np.float32, copy=False)
    b = _as_boxes(b, "b").astype(np.float32, copy=False)
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), dtype=np.float32)
    ax1, ay1, ax2, ay2 = a[:, 0:1], a[:, 1:2], a[:, 2:3], a[:, 3:4]  # (N, 1) columns
    bx1, by1, bx2, by2 = b[:, 0], b[:, 1], b[:, 2], b[:, 3]  # (M,) rows
    # Per-coordinate (N, M) arrays: several times faster than (N, M, 2) corner arithmetic.
    width = np.minimum(ax2, bx2) - np.maximum(ax1, bx1)
    height = np.minimum(ay2, by2) - np.maximum(ay1, by1)
    inter = np.maximum(width, 0) * np.maximum(height, 0)
    union = area(a)[:, None] + area(b) - inter
    # inter is 0 wherever union is 0, so a tiny floor on union gives IoU 0 there.
    iou: npt.NDArray[np.float32] = inter / np.maximum(union, np.finfo(np.float32).tiny)
    return iou


# nms compares boxes in blocks of this many rows: bounded memory for any number of boxes.
NMS_BLOCK = 1024


def nms(
    xyxy: np.ndarray,
    scores: np.ndarray,
    iou_threshold: float,
    class_id: np.ndarray | None = None,
    max_output: int | None = None,
) -> np.ndarray:
    """Greedy non-maximum suppression -> (K,) int64 indices of the kept boxes, best score first.

    xyxy: (N, 4) corners; scores: (N,). A box is dropped when its IoU with a higher-scoring
    kept box is greater than ``iou_threshold``. With ``class_id`` (N,) the suppression is
    class-aware: boxes of different classes never suppress each other (each class is moved to
    its own region of the plane, so one pass handles every class). ``max_output`` stops once
    that many boxes are kept. Equal scores keep their input order.
    """
    # float32, or float64 once shifted per class below
    boxes: npt.NDArray[np.floating[Any]] = _as_boxes(xyxy).astype(np.float32, copy=False)
    scores = np.asarray(scores).reshape(-1)
    if len(scores) != len(boxes):
        raise ValueError(f"nms scores: expected {len(boxes)} values, got {len(scores)}")
    if len(boxes) == 0:
        return np.zeros(0, dtype=np.int64)
    if class_id is not None:
        class_id = np.asarray(class_id).reshape(-1)
        if len(class_id) != len(boxes):
            raise ValueError(f"nms class_id: expected {len(boxes)} values, got {len(class_id)}")
        if class_id.min() != class_id.max():
            span = float(np.abs(boxes).max()) + 1.0
            # float64: the offsets must not cost float32 precision on the coordinates.
            boxes = boxes + (class_id.astype(np.float64) * 2 * span)[:, None]
    order = np.argsort(-scores, kind="stable")
    ranked = boxes[order]
    limit = len(order) if max_output is None else max_output
    keep = np.ones(len(order), dtype=bool)
    kept = 0
    for start in range(0, len(order), NMS_BLOCK):
        # overlap[r, c]: box start+r overlaps box c too much (only c > start+r matters).
        overlap = iou_matrix(ranked[start : start + NMS_BLOCK], ranked) > iou_threshold
        for row, index in enumerate(range(start, min(start + NMS_BLOCK, len(order)))):
            if not keep[index]:
                continue
            kept += 1
            if kept == limit:
                keep[index + 1 :] = False
                return order[keep].astype(np.int64)
            keep[index + 1 :] &= ~overlap[row, index + 1 :]
    return order[keep].astype(np.int64)
