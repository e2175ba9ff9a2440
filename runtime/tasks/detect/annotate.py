"""Drawing detections: boxes, labels (track ID, class, score) and motion trails.

Drawing is separate from inference: these functions take an image and a ``Detections`` value
and return a new image; nothing here runs a model. Colours follow the track ID (or the class
before tracking), so one object keeps one colour for its whole life.
"""

from __future__ import annotations

import colorsys
from collections import deque
from dataclasses import dataclass

import cv2
import numpy as np

from edgeimg.runtime.tasks.detect.detections import Detections

FONT = cv2.FONT_HERSHEY_SIMPLEX


@dataclass(frozen=True)
class AnnotatorConfig:
    """How detections are drawn.

    thickness: box line width in pixels. font_scale: label size (OpenCV Hershey units).
    trail_length: points kept per track for its trail (0: no trails). show_score,
    show_class: parts of the label next to the track ID.
    """

    thickness: int = 2
    font_scale: float = 0.5
    trail_length: int = 30
    show_score: bool = True
    show_class: bool = True

    def __post_init__(self) -> None:
        if self.thickness < 1 or self.font_scale <= 0 or self.trail_length < 0:
            raise ValueError(
                "annotator: expected thickness >= 1, font_scale > 0, trail_length >= 0, got "
                f"{self.thickness}, {self.font_scale}, {self.trail_length}"
            )


def color_for(key: int) -> tuple[int, int, int]:
    """A bright BGR colour for an ID; consecutive IDs get well separated hues (golden ratio)."""
    hue = (int(key) * 0.618033988749895) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.75, 1.0)
    return int(b * 255), int(g * 255), int(r * 255)


def labels(
    detections: Detections, class_names: tuple[str, ...], config: AnnotatorConfig
) -> list[str]:
    """One label per detection: ``#7 person 0.83`` (parts per ``config``)."""
    out = []
    for i in range(len(detections)):
        parts = []
        if detections.tracker_id is not None and detections.tracker_id[i] >= 0:
            parts.append(f"#{int(detections.tracker_id[i])}")
        if config.show_class:
            class_id = int(detections.class_id[i])
            in_range = 0 <= class_id < len(class_names)
            parts.append(class_names[class_id] if in_range else str(class_id))
        if config.show_score:
            parts.append(f"{float(detections.confidence[i]):.2f}")
        out.append(" ".join(parts))
    return out


def detection_colors(detections: Detections) -> list[tuple[int, int, int]]:
    """BGR colour per detection: by track ID when tracked, else by class."""
    if detections.tracker_id is None:
        return [color_for(c) for c in detections.class_id]
    return [
        color_for(t) if t >= 0 else color_for(c)
        for t, c in zip(detections.tracker_id, detections.class_id, strict=True)
    ]


def draw_detections(
    image_bgr: np.ndarray,
    detections: Detections,
    class_names: tuple[str, ...] = (),
    config: AnnotatorConfig | None = None,
) -> np.ndarray:
    """A copy of ``image_bgr`` ((H, W, 3) uint8 BGR) with each box and its label drawn."""
    config = config or AnnotatorConfig()
    out: np.ndarray = image_bgr.copy()
    if not len(detections):
        return out
    boxes = np.round(detections.xyxy).astype(np.int32)
    for (x1, y1, x2, y2), text, color in zip(
        boxes, labels(detections, class_names, config), detection_colors(detections), strict=True
    ):
        cv2.rectangle(out, (int(x1), int(y1)), (int(x2), int(y2)), color, config.thickness)
        if not text:
            continue
        (tw, th), base = cv2.getTextSize(text, FONT, config.font_scale, 1)
        top = int(y1) - th - base - 2 if y1 - th - base - 2 >= 0 else int(y1)
        cv2.rectangle(out, (int(x1), top), (int(x1) + tw + 4, top + th + base + 2), color, -1)
        cv2.putText(
            out,
            text,
            (int(x1) + 2, top + th + 1),
            FONT,
            config.font_scale,
            (0, 0, 0),
            1,
            cv2.LINE_AA,
        )
    return out


class TrailAnnotator:
    """The recent path of each track: the bottom centre of its box over the last frames.

    ``update(detections)`` appends one point per tracked detection (``tracker_id`` >= 0) and
    forgets tracks unseen for ``length`` updates; ``draw(image)`` returns a copy with the trails.
    """

    def __init__(self, length: int = 30) -> None:
        if length < 1:
            raise ValueError(f"trail length: expected >= 1, got {length}")
        self.length = length
        self._points: dict[int, deque[tuple[int, int]]] = {}
        self._last_seen: dict[int, int] = {}
        self._step = 0

    def update(self, detections: Detections) -> None:
        self._step += 1
        if detections.tracker_id is not None and len(detections):
            xyxy = detections.xyxy
            feet = np.stack([(xyxy[:, 0] + xyxy[:, 2]) / 2, xyxy[:, 3]], axis=1).round()
            for track_id, (x, y) in zip(detections.tracker_id.tolist(), feet.tolist(), strict=True):
                if track_id < 0:
                    continue
                self._points.setdefault(track_id, deque(maxlen=self.length)).append(
                    (int(x), int(y))
                )
                self._last_seen[track_id] = self._step
        for track_id in [t for t, s in self._last_seen.items() if self._step - s >= self.length]:
            del self._points[track_id], self._last_seen[track_id]

    def trails(self) -> dict[int, np.ndarray]:
        """Track ID -> (K, 2) int32 points, oldest first."""
        return {t: np.array(p, dtype=np.int32).reshape(-1, 2) for t, p in self._points.items()}

    def draw(self, image_bgr: np.ndarray, thickness: int = 2) -> np.ndarray:
        """A copy of ``image_bgr`` with every trail as a polyline in its track's colour."""
        out: np.ndarray = image_bgr.copy()
        for track_id, points in self.trails().items():
            if len(points) > 1:
                cv2.polylines(out, [points], False, color_for(track_id), thickness, cv2.LINE_AA)
        return out

    def reset(self) -> None:
        self._points.clear()
        self._last_seen.clear()
        self._step = 0


class Annotator:
    """Draws trails, boxes and labels; holds the trails between frames."""

    def __init__(self, class_names: tuple[str, ...] = (), config: AnnotatorConfig | None = None):
        self.class_names = tuple(class_names)
        self.config = config or AnnotatorConfig()
        self.trails = TrailAnnotator(self.config.trail_length) if self.config.trail_length else None

    def update(self, image_bgr: np.ndarray, detections: Detections) -> np.ndarray:
        """A new (H, W, 3) uint8 BGR image: ``image_bgr`` with this frame's drawing."""
        if self.trails is not None:
            self.trails.update(detections)
            image_bgr = self.trails.draw(image_bgr, max(1, self.config.thickness - 1))
        return draw_detections(image_bgr, detections, self.class_names, self.config)

    def reset(self) -> None:
        if self.trails is not None:
            self.trails.reset()
