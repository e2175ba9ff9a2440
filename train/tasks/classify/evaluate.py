"""Classification figures: accuracy, the confusion matrix and its text table."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """(C, C) int64 counts: row = true class, column = predicted class."""
    matrix = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(matrix, (np.asarray(y_true).ravel(), np.asarray(y_pred).ravel()), 1)
    return matrix


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Fraction of equal labels; 0 for no samples."""
    y_true, y_pred = np.asarray(y_true).ravel(), np.asarray(y_pred).ravel()
    return float(np.mean(y_true == y_pred)) if len(y_true) else 0.0


def format_confusion(matrix: np.ndarray, class_names: Sequence[str]) -> str:
    """A text table of the confusion matrix (rows: true class) with per-class recall."""
    names = [n[:10] for n in class_names]
    first = max(len("true \\ pred"), *(len(n) for n in names))
    width = max(6, *(len(n) for n in names), len(str(int(matrix.max(initial=0)))))
    header = "true \\ pred".ljust(first) + " " + " ".join(n.rjust(width) for n in names)
    lines = [header + "  recall"]
    for index, (name, row) in enumerate(zip(names, matrix, strict=True)):
        recall = row[index] / row.sum() if row.sum() else 0.0
        cells = " ".join(str(int(v)).rjust(width) for v in row)
        lines.append(f"{name.ljust(first)} {cells}  {recall:.3f}")
    return "\n".join(lines)
