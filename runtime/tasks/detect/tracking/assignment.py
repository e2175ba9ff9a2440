"""Box overlap and linear assignment for the tracker (pure functions).

Costs are ``1 - similarity`` matrices of shape (tracks T, detections D), float; a pair can be
matched only when its cost is at most the threshold. The solver is ``lap.lapjv`` (Jonker-Volgenant,
a runtime dependency); scipy's ``linear_sum_assignment`` is the fallback where lap is missing.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

try:
    import lap
except ImportError:  # pragma: no cover - lap is a base dependency; scipy serves without it
    lap = None


def pairwise_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(T, 4) and (D, 4) corner boxes (x1, y1, x2, y2) -> (T, D) float64 IoU.

    A lean twin of ``edgeimg.runtime.tasks.detect.boxes.iou_matrix`` for the tracker's hot path: no input
    checks, no dtype round trip (the tracker calls it several times a frame on valid arrays).
    """
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(rb - lt, 0.0, None)
    inter = wh[..., 0] * wh[..., 1]
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    iou: npt.NDArray[np.float64] = np.zeros(inter.shape)
    np.divide(inter, union, out=iou, where=union > 0)
    return iou


def linear_assignment(
    cost: np.ndarray, threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Minimum-cost one-to-one matching of rows to columns, keeping pairs with cost <= threshold.

    cost: (R, C) float. Returns ``(matches (K, 2) int64 [row, col], unmatched_rows (R - K,),
    unmatched_cols (C - K,))``, all sorted by row / column index. The matching maximises the sum
    of ``threshold - cost`` over matched pairs (``lap.lapjv``'s ``cost_limit``).
    """
    cost = np.asarray(cost, dtype=np.float64)
    rows, cols = cost.shape
    if rows == 0 or cols == 0:
        return np.zeros((0, 2), np.int64), np.arange(rows), np.arange(cols)
    # Exact shortcut: a row adds at most its cheapest pair to the sum, so when the rows' cheapest
    # columns (within the threshold) are all different, taking them is optimal. Tracking
    # frames are mostly like that; the solver handles the rest.
    best = cost.argmin(axis=1)
    matched_rows = (cost[np.arange(rows), best] <= threshold).nonzero()[0]
    matched_cols = best[matched_rows]
    if len(set(matched_cols.tolist())) < len(matched_cols):
        matched_rows, matched_cols = _solve(cost, threshold)
    matches = np.empty((len(matched_rows), 2), np.int64)
    matches[:, 0] = matched_rows
    matches[:, 1] = matched_cols
    row_free = np.ones(rows, bool)
    row_free[matched_rows] = False
    col_free = np.ones(cols, bool)
    col_free[matched_cols] = False
    return matches, row_free.nonzero()[0], col_free.nonzero()[0]


def _solve(cost: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """(matched rows, their columns), rows ascending, with lap or else scipy."""
    rows, cols = cost.shape
    if lap is not None:
        _, row_to_col, _ = lap.lapjv(cost, extend_cost=True, cost_limit=threshold)
        matched_rows = (row_to_col >= 0).nonzero()[0]
        matched_cols = row_to_col[matched_rows].astype(np.int64)
    else:
        from scipy.optimize import linear_sum_assignment

        # lap's cost_limit, spelled out: every row and column may instead take a dummy partner
        # at threshold / 2, so a pair costing more than the threshold is never worth matching.
        size = rows + cols
        extended = np.full((size, size), threshold / 2.0)
        extended[:rows, :cols] = cost
        extended[rows:, cols:] = 0.0
        ext_rows, ext_cols = linear_sum_assignment(extended)
        real = (ext_rows < rows) & (ext_cols < cols)
        matched_rows, matched_cols = ext_rows[real], ext_cols[real]
    keep = cost[matched_rows, matched_cols] <= threshold
    return matched_rows[keep], matched_cols[keep]
