"""Training targets of the centernet detector, from boxes (numpy, one image at a time).

Heatmap: one elliptical Gaussian per box (TTFNet's, sigma = alpha * size / 6 on each axis)
centred on the cell that holds the box centre, where the value is exactly 1; the maximum where
Gaussians overlap. Boxes: every cell near a centre (Gaussian > ``min_weight`` and cell centre
inside the box) regresses the (left, top, right, bottom) distances from its own centre, in units
of the stride, weighted by the Gaussian and normalised to a total weight of 1 per box; where
boxes overlap the smaller box wins.
"""

from __future__ import annotations

import numpy as np


def centernet_targets(
    xyxy: np.ndarray,
    class_id: np.ndarray,
    input_hw: tuple[int, int],
    stride: int,
    num_classes: int,
    alpha: float = 0.54,
    min_weight: float = 0.05,
) -> tuple[np.ndarray, np.ndarray]:
    """(K, 4) corner boxes in input pixels and (K,) classes -> targets at ``stride``.

    Returns heatmap (h, w, num_classes) float32 in 0..1, and boxes (h, w, 5) float32 holding
    (left, top, right, bottom, weight); h, w = input_hw // stride.
    """
    out_h, out_w = input_hw[0] // stride, input_hw[1] // stride
    heatmap = np.zeros((out_h, out_w, num_classes), np.float32)
    boxes = np.zeros((out_h, out_w, 5), np.float32)
    xyxy = np.asarray(xyxy, np.float32).reshape(-1, 4)
    if len(xyxy) == 0:
        return heatmap, boxes
    areas = np.prod(xyxy[:, 2:] - xyxy[:, :2], axis=1)
    cell_x = (np.arange(out_w, dtype=np.float32) + 0.5) * stride
    cell_y = (np.arange(out_h, dtype=np.float32) + 0.5) * stride
    for k in np.argsort(-areas):  # largest first: smaller boxes overwrite the regression
        x1, y1, x2, y2 = xyxy[k]
        cx = min(int((x1 + x2) / 2 / stride), out_w - 1)
        cy = min(int((y1 + y2) / 2 / stride), out_h - 1)
        sx = max(alpha * (x2 - x1) / stride / 6, 0.2)
        sy = max(alpha * (y2 - y1) / stride / 6, 0.2)
        gx = np.exp(-((np.arange(out_w) - cx) ** 2) / (2 * sx * sx))
        gy = np.exp(-((np.arange(out_h) - cy) ** 2) / (2 * sy * sy))
        gaussian = (gy[:, None] * gx[None, :]).astype(np.float32)
        channel = heatmap[:, :, int(class_id[k])]
        np.maximum(channel, gaussian, out=channel)
        inside = (
            ((cell_y > y1) & (cell_y < y2))[:, None]
            & ((cell_x > x1) & (cell_x < x2))[None, :]
            & (gaussian > min_weight)
        )
        inside[cy, cx] = True  # the peak cell always regresses, even for tiny boxes
        weight = np.where(inside, gaussian, 0.0)
        weight /= weight.sum()
        ys, xs = np.nonzero(inside)
        boxes[ys, xs, 0] = (cell_x[xs] - x1) / stride
        boxes[ys, xs, 1] = (cell_y[ys] - y1) / stride
        boxes[ys, xs, 2] = (x2 - cell_x[xs]) / stride
        boxes[ys, xs, 3] = (y2 - cell_y[ys]) / stride
        boxes[ys, xs, 4] = weight[ys, xs]
    np.maximum(boxes[:, :, :4], 0.0, out=boxes[:, :, :4])
    return heatmap, boxes
