"""MOTChallenge text files: ``frame,id,left,top,width,height,conf,x,y,z``, one box a line.

Frames are 1-based (frame N of the file is frame N of the video: ``Frame.index + 1``). Tracker
output written here has ``x,y,z = -1,-1,-1``, the form TrackEval and py-motmetrics read.
Ground truth (``gt/gt.txt``) has the same first seven columns; ``conf`` 0 marks boxes that are
not counted.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeimg.runtime.atomic import write_text
from edgeimg.runtime.errors import EdgeimgError
from edgeimg.runtime.tasks.detect.detections import Detections


@dataclass(frozen=True)
class MotRecords:
    """N boxes of a MOTChallenge file as parallel arrays.

    frame: (N,) int64, 1-based frame numbers.
    track_id: (N,) int64 identities (-1 for detections without a track).
    xywh: (N, 4) float64 (left, top, width, height) in pixels.
    confidence: (N,) float64 (ground truth: 1 counted, 0 ignored; tracker output: the score).
    """

    frame: np.ndarray
    track_id: np.ndarray
    xywh: np.ndarray
    confidence: np.ndarray

    def __post_init__(self) -> None:
        frame = np.asarray(self.frame, dtype=np.int64).reshape(-1)
        n = len(frame)
        arrays = {
            "track_id": np.asarray(self.track_id, dtype=np.int64).reshape(-1),
            "xywh": np.asarray(self.xywh, dtype=np.float64).reshape(-1, 4),
            "confidence": np.asarray(self.confidence, dtype=np.float64).reshape(-1),
        }
        for name, arr in arrays.items():
            if len(arr) != n:
                raise ValueError(f"MotRecords.{name}: expected {n} rows, got {len(arr)}")
        object.__setattr__(self, "frame", frame)
        for name, arr in arrays.items():
            object.__setattr__(self, name, arr)

    def __len__(self) -> int:
        return len(self.frame)

    @classmethod
    def empty(cls) -> MotRecords:
        return cls(np.zeros(0), np.zeros(0), np.zeros((0, 4)), np.zeros(0))

    def select(self, mask: np.ndarray) -> MotRecords:
        """The rows where ``mask`` (N,) bool is True (or the rows of an index array)."""
        return MotRecords(
            self.frame[mask], self.track_id[mask], self.xywh[mask], self.confidence[mask]
        )

    def frames(self, first: int, last: int) -> MotRecords:
        """The rows of frames ``first`` to ``last``, both included (1-based)."""
        return self.select((self.frame >= first) & (self.frame <= last))

    def detections(self, frame: int) -> Detections:
        """Frame ``frame``'s boxes as ``Detections`` (class 0, ``tracker_id`` = the file's IDs)."""
        rows = np.flatnonzero(self.frame == frame)
        xyxy = self.xywh[rows].copy()
        xyxy[:, 2:] += xyxy[:, :2]
        return Detections(
            xyxy, self.confidence[rows], np.zeros(len(rows), np.int32), self.track_id[rows]
        )

    @classmethod
    def from_detections(cls, frame: int, detections: Detections) -> MotRecords:
        """One frame's detections (``tracker_id`` None is written as -1)."""
        n = len(detections)
        ids = detections.tracker_id if detections.tracker_id is not None else np.full(n, -1)
        return cls(np.full(n, frame), ids, detections.xywh, detections.confidence)

    @staticmethod
    def concatenate(items: list[MotRecords]) -> MotRecords:
        if not items:
            return MotRecords.empty()
        return MotRecords(
            np.concatenate([r.frame for r in items]),
            np.concatenate([r.track_id for r in items]),
            np.concatenate([r.xywh for r in items]),
            np.concatenate([r.confidence for r in items]),
        )


def read_mot(path: str | os.PathLike[str]) -> MotRecords:
    """Read a MOTChallenge text file (comma- or space-separated, >= 7 columns, or 6 without conf).

    Raises ``EdgeimgError`` naming the file and line for anything that is not such a file.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise EdgeimgError(f"MOTChallenge file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise EdgeimgError(f"cannot read MOTChallenge file {path}: {exc}") from exc
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        fields = line.replace(",", " ").split()
        if len(fields) < 6:
            raise EdgeimgError(
                f"{path}:{number}: expected 'frame,id,left,top,width,height,conf,...' "
                f"(at least 6 values), got {line!r}"
            )
        try:
            values = [float(v) for v in fields[:7]]
        except ValueError:
            raise EdgeimgError(f"{path}:{number}: expected numbers, got {line!r}") from None
        if len(values) == 6:
            values.append(1.0)
        if not all(math.isfinite(v) for v in values):
            raise EdgeimgError(f"{path}:{number}: expected finite numbers, got {line!r}")
        if not 1 <= values[0] < 2**63 or values[0] != int(values[0]):
            raise EdgeimgError(f"{path}:{number}: expected a 1-based frame number, got {fields[0]}")
        if not -(2**63) <= values[1] < 2**63 or values[1] != int(values[1]):
            raise EdgeimgError(f"{path}:{number}: expected an integer track id, got {fields[1]}")
        rows.append(values)
    if not rows:
        return MotRecords.empty()
    table = np.asarray(rows, dtype=np.float64)
    return MotRecords(table[:, 0], table[:, 1], table[:, 2:6], table[:, 6])


def format_lines(records: MotRecords) -> str:
    """MOTChallenge text of ``records`` (boxes to 2 decimals, confidence to 4, x,y,z = -1)."""
    return "".join(
        f"{f},{i},{b[0]:.2f},{b[1]:.2f},{b[2]:.2f},{b[3]:.2f},{c:.4f},-1,-1,-1\n"
        for f, i, b, c in zip(
            records.frame.tolist(),
            records.track_id.tolist(),
            records.xywh,
            records.confidence,
            strict=True,
        )
    )


def write_mot(path: str | os.PathLike[str], records: MotRecords) -> None:
    """Write ``records`` to ``path`` atomically (a temp file in the same folder, then a rename)."""
    write_text(path, format_lines(records), "MOTChallenge output")
