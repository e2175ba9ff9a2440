"""Segmentation metrics from a confusion matrix: per-class IoU, mean IoU, pixel accuracy.

Pure numpy (the runtime's dependencies), shared by training's evaluation and the export gate.
"""

from __future__ import annotations

import numpy as np

IGNORE = 255


def confusion_matrix(truth: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """(C, C) int64 counts, rows = true class, columns = predicted; pixels whose true id is not
    a class (void, 255) are left out. truth and predicted: integer arrays of one shape."""
    if truth.shape != predicted.shape:
        raise ValueError(f"truth {truth.shape} and prediction {predicted.shape} differ in shape")
    t = truth.ravel().astype(np.int64)
    p = predicted.ravel().astype(np.int64)
    keep = (t < num_classes) & (p >= 0) & (p < num_classes)
    counts = np.bincount(t[keep] * num_classes + p[keep], minlength=num_classes * num_classes)
    matrix: np.ndarray = counts.reshape(num_classes, num_classes)
    return matrix


def iou_per_class(confusion: np.ndarray) -> np.ndarray:
    """IoU = TP / (TP + FP + FN) per class; NaN for a class absent from truth and prediction."""
    tp = np.diag(confusion).astype(np.float64)
    union = confusion.sum(axis=0) + confusion.sum(axis=1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        iou: np.ndarray = np.where(union > 0, tp / np.maximum(union, 1), np.nan)
    return iou


def mean_iou(confusion: np.ndarray) -> float:
    """The mean of the per-class IoUs over the classes present (in truth or prediction)."""
    iou = iou_per_class(confusion)
    return float(np.nanmean(iou)) if np.isfinite(iou).any() else 0.0


def pixel_accuracy(confusion: np.ndarray) -> float:
    """Correct labelled pixels / labelled pixels."""
    total = confusion.sum()
    return float(np.trace(confusion) / total) if total else 0.0


def format_iou_table(confusion: np.ndarray, class_names: tuple[str, ...]) -> str:
    """A Markdown table: class, IoU per class; then mean IoU and pixel accuracy."""
    iou = iou_per_class(confusion)
    rows = ["| class | IoU |", "| --- | ---: |"]
    for name, value in zip(class_names, iou, strict=True):
        rows.append(f"| {name} | {'n/a' if np.isnan(value) else f'{value:.3f}'} |")
    rows.append(f"| **mean IoU** | **{mean_iou(confusion):.3f}** |")
    rows.append(f"| pixel accuracy | {pixel_accuracy(confusion):.3f} |")
    return "\n".join(rows)
