"""The result type of the detect task: :class:`Detections`.

One ``Detections`` value goes from the decoder to the tracker to the annotator to the sinks.
It holds parallel arrays, validated once, and is never mutated by the stages: each stage
returns a new value.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Detections:
    """N detections as parallel arrays.

    xyxy: (N, 4) float32, pixel corners (x1, y1, x2, y2) in the source image.
    confidence: (N,) float32 in [0, 1].
    class_id: (N,) int32.
    tracker_id: (N,) int64 track IDs, or None before tracking. -1 means "no track".
    """

    xyxy: np.ndarray
    confidence: np.ndarray
    class_id: np.ndarray
    tracker_id: np.ndarray | None = None
    data: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        xyxy = np.asarray(self.xyxy, dtype=np.float32).reshape(-1, 4)
        n = len(xyxy)
        conf = np.asarray(self.confidence, dtype=np.float32).reshape(-1)
        cls = np.asarray(self.class_id, dtype=np.int32).reshape(-1)
        for name, arr in (("confidence", conf), ("class_id", cls)):
            if len(arr) != n:
                raise ValueError(f"Detections.{name}: expected {n} values, got {len(arr)}")
        tid = self.tracker_id
        if tid is not None:
            tid = np.asarray(tid, dtype=np.int64).reshape(-1)
            if len(tid) != n:
                raise ValueError(f"Detections.tracker_id: expected {n} values, got {len(tid)}")
        for key, value in self.data.items():
            if len(value) != n:
                raise ValueError(f"Detections.data[{key!r}]: expected {n} rows, got {len(value)}")
        object.__setattr__(self, "xyxy", xyxy)
        object.__setattr__(self, "confidence", conf)
        object.__setattr__(self, "class_id", cls)
        object.__setattr__(self, "tracker_id", tid)

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int32))

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index: np.ndarray | slice | list[int]) -> Detections:
        """Select rows with a boolean mask, an index array or a slice."""
        if isinstance(index, (int, np.integer)):
            index = [int(index)]
        return Detections(
            xyxy=self.xyxy[index],
            confidence=self.confidence[index],
            class_id=self.class_id[index],
            tracker_id=None if self.tracker_id is None else self.tracker_id[index],
            data={k: v[index] for k, v in self.data.items()},
        )

    @property
    def xywh(self) -> np.ndarray:
        """(N, 4) float32 (left, top, width, height)."""
        out: np.ndarray = self.xyxy.copy()
        out[:, 2:] -= out[:, :2]
        return out

    @staticmethod
    def concatenate(items: list[Detections]) -> Detections:
        items = [d for d in items if len(d)]
        if not items:
            return Detections.empty()
        tracked = all(d.tracker_id is not None for d in items)
        keys = set.intersection(*(set(d.data) for d in items))
        return Detections(
            xyxy=np.concatenate([d.xyxy for d in items]),
            confidence=np.concatenate([d.confidence for d in items]),
            class_id=np.concatenate([d.class_id for d in items]),
            tracker_id=np.concatenate([d.tracker_id for d in items]) if tracked else None,
            data={k: np.concatenate([d.data[k] for d in items]) for k in keys},
        )
