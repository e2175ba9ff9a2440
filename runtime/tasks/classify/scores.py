"""The result type of the classify task: the most probable classes of one image."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class ClassScores:
    """The top-k classes of one image, most probable first.

    class_id: (k,) int64. score: (k,) float32 probabilities (ties keep the lower id first).
    """

    class_id: np.ndarray
    score: np.ndarray

    def __post_init__(self) -> None:
        ids = np.asarray(self.class_id, dtype=np.int64).reshape(-1)
        scores = np.asarray(self.score, dtype=np.float32).reshape(-1)
        if len(ids) != len(scores):
            raise ValueError(
                f"ClassScores: expected as many scores as ids, got {len(scores)} and {len(ids)}"
            )
        object.__setattr__(self, "class_id", ids)
        object.__setattr__(self, "score", scores)

    def __len__(self) -> int:
        return len(self.class_id)

    def top(self, class_names: tuple[str, ...]) -> list[dict[str, Any]]:
        """``[{"class_id": 7, "class": "sneaker", "score": 0.93}, ...]``, most probable first."""
        return [
            {
                "class_id": int(i),
                "class": class_names[i] if 0 <= i < len(class_names) else None,
                "score": round(float(p), 4),
            }
            for i, p in zip(self.class_id.tolist(), self.score.tolist(), strict=True)
        ]
