"""Decoders for Ultralytics YOLO ONNX exports: contract decoders ``yolov8``, ``yolov5``, ``yolo_nms``.

All three read one output, batch of one, for an input of (H, W) pixels (letterboxed, RGB,
scaled 1/255, NCHW: the contract says mean 0, std 255, pad_value 114):

- ``yolov8`` (YOLOv8, YOLO11 and YOLOv5u/v9 heads, ``yolo export format=onnx``):
  (1, 4 + nc, N) float32: per anchor, box centre x, centre y, width, height in input pixels,
  then nc class probabilities (no objectness);
- ``yolov5`` (the ``ultralytics/yolov5`` repository's ``export.py``): (1, N, 5 + nc) float32:
  cx, cy, w, h in input pixels, objectness, nc class probabilities (score = objectness x
  class probability);
- ``yolo_nms`` (``nms=True`` exports, and end-to-end heads such as YOLOv10 and YOLO26):
  (1, N, 6) float32: x1, y1, x2, y2 in input pixels, score, class id; rows after the last
  detection are zero.

Decoding follows Ultralytics' ``non_max_suppression``: a box is a candidate when its best
class score exceeds ``score_threshold`` (and is finite; one label per box), class-aware NMS at ``nms_iou``
keeps at most ``max_detections`` boxes, best first; boxes are then mapped back to the source
image. ``yolo_nms`` boxes went through NMS in the graph already: they are only thresholded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgeimg.runtime.contract import ModelContract
from edgeimg.runtime.decoder import (
    Conversion,
    Decoder,
    DecoderError,
    Shape,
    convert_fields,
    format_shape,
)
from edgeimg.runtime.errors import typed_params
from edgeimg.runtime.preprocess import Transform
from edgeimg.runtime.tasks.detect.boxes import cxcywh_to_xyxy, nms
from edgeimg.runtime.tasks.detect.detections import Detections

# Candidates kept for NMS, best first (Ultralytics' max_nms).
MAX_NMS = 30000

Decoded = tuple[np.ndarray, np.ndarray, np.ndarray]


@dataclass(frozen=True)
class YoloConfig:
    """decoder_params of a YOLO model (defaults: Ultralytics' ``predict`` defaults)."""

    score_threshold: float = 0.25
    nms_iou: float = 0.7  # 0 disables NMS
    max_detections: int = 300

    def __post_init__(self) -> None:
        def whole(value: Any) -> int:
            if isinstance(value, bool) or int(value) != float(value):
                raise ValueError(value)
            return int(value)

        conversions: tuple[Conversion, ...] = (
            ("score_threshold", float, "a number"),
            ("nms_iou", float, "a number"),
            ("max_detections", whole, "an integer"),
        )
        convert_fields(self, conversions, "yolo")
        checks = (
            ("score_threshold", 0.0 <= self.score_threshold < 1.0, "in [0, 1)"),
            ("nms_iou", 0.0 <= self.nms_iou <= 1.0, "in [0, 1]"),
            ("max_detections", self.max_detections >= 1, "an integer >= 1"),
        )
        for name, ok, expected in checks:
            if not ok:
                raise DecoderError(
                    f"decoder yolo: {name} expected {expected}, got {getattr(self, name)!r}"
                )


def _select(
    xyxy: np.ndarray, scores: np.ndarray, classes: np.ndarray, config: YoloConfig
) -> Decoded:
    """Class-aware NMS over candidates -> (xyxy (K, 4), scores (K,), class ids (K,)), best first."""
    if len(scores) > MAX_NMS:
        top = np.argsort(-scores, kind="stable")[:MAX_NMS]
        xyxy, scores, classes = xyxy[top], scores[top], classes[top]
    if config.nms_iou > 0:
        keep = nms(xyxy, scores, config.nms_iou, classes, max_output=config.max_detections)
    else:
        keep = np.argsort(-scores, kind="stable")[: config.max_detections]
    return (
        xyxy[keep].astype(np.float32),
        scores[keep].astype(np.float32),
        classes[keep].astype(np.int32),
    )


def decode_yolov8(pred: np.ndarray, config: YoloConfig) -> Decoded:
    """One image's (4 + nc, N) YOLOv8 output -> boxes in model-input pixels.

    Returns (xyxy (K, 4) float32, scores (K,) float32, class_ids (K,) int32), best score first.
    """
    class_scores = pred[4:]  # (nc, N)
    best = class_scores.max(axis=0)
    candidates = np.flatnonzero((best > config.score_threshold) & np.isfinite(best))
    if len(candidates) == 0:
        return _empty()
    classes = class_scores[:, candidates].argmax(axis=0)
    xyxy = cxcywh_to_xyxy(pred[:4, candidates].T.astype(np.float32))
    return _select(xyxy, best[candidates], classes, config)


def decode_yolov5(pred: np.ndarray, config: YoloConfig) -> Decoded:
    """One image's (N, 5 + nc) YOLOv5 output -> boxes in model-input pixels, as YOLOv5's own
    NMS: objectness above the threshold, score = objectness x best class probability, which must
    exceed the threshold too."""
    rows = pred[(pred[:, 4] > config.score_threshold) & np.isfinite(pred[:, 4])]
    if len(rows) == 0:
        return _empty()
    class_scores = rows[:, 5:] * rows[:, 4:5]
    classes = class_scores.argmax(axis=1)
    scores = class_scores[np.arange(len(rows)), classes]
    kept = (scores > config.score_threshold) & np.isfinite(scores)
    if not kept.any():
        return _empty()
    xyxy = cxcywh_to_xyxy(rows[kept, :4].astype(np.float32))
    return _select(xyxy, scores[kept], classes[kept], config)


def decode_yolo_nms(pred: np.ndarray, config: YoloConfig) -> Decoded:
    """One image's (N, 6) x1, y1, x2, y2, score, class rows (NMS done in the graph) -> the rows
    scoring above the threshold, best first, at most ``max_detections``."""
    rows = pred[(pred[:, 4] > config.score_threshold) & np.isfinite(pred[:, 4])]
    order = np.argsort(-rows[:, 4], kind="stable")[: config.max_detections]
    rows = rows[order]
    return (
        rows[:, :4].astype(np.float32),
        rows[:, 4].astype(np.float32),
        np.rint(rows[:, 5]).astype(np.int32),
    )


def _empty() -> Decoded:
    return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int32)


class _YoloDecoder(Decoder):
    """One (1, a, b) output -> :class:`Detections` in source-image pixels."""

    default_output_names = ("output0",)

    def __init__(self, config: YoloConfig, num_classes: int) -> None:
        self.config = config
        self.num_classes = num_classes

    @classmethod
    def from_contract(cls, contract: ModelContract) -> _YoloDecoder:
        config = typed_params(
            YoloConfig, contract.decoder_params, f"decoder {cls.name}", DecoderError
        )
        return cls(config, len(contract.class_names))

    def expected(self) -> tuple[int | None, int | None]:
        """The (a, b) of a (1, a, b) output, None where any size fits."""
        raise NotImplementedError

    def shape_text(self) -> str:
        """The expected output shape as text, e.g. ``(1, 84, N)``."""
        a, b = self.expected()
        return f"(1, {'N' if a is None else a}, {'N' if b is None else b})"

    def check_output_shapes(self, shapes: Sequence[Shape]) -> None:
        if len(shapes) != 1 or len(shapes[0]) != 3:
            found = ", ".join(format_shape(s) for s in shapes)
            raise DecoderError(
                f"decoder {self.name}: expected one output of shape {self.shape_text()}, "
                f"got {found}"
            )
        shape = shapes[0]
        for size, want in zip(shape[1:], self.expected(), strict=True):
            if size is not None and want is not None and size != want:
                raise DecoderError(
                    f"decoder {self.name}: expected an output of shape {self.shape_text()} "
                    f"for {self.num_classes} classes in class_names, got {format_shape(shape)}"
                )

    def decode(self, pred: np.ndarray) -> Decoded:
        """One image's output (the batch axis removed) -> boxes in model-input pixels."""
        raise NotImplementedError

    def __call__(self, outputs: Sequence[np.ndarray], transform: Transform) -> Detections:
        xyxy, scores, class_ids = self.decode(np.asarray(outputs[0][0], dtype=np.float32))
        if not len(scores):
            return Detections.empty()
        source_xyxy = transform.boxes_to_source(xyxy)
        # Boxes that lie entirely in the letterbox padding vanish when clipped to the frame.
        visible = (source_xyxy[:, 2] > source_xyxy[:, 0]) & (source_xyxy[:, 3] > source_xyxy[:, 1])
        return Detections(source_xyxy[visible], scores[visible], class_ids[visible])


class YoloV8Decoder(_YoloDecoder):
    """``yolov8``: (1, 4 + nc, N) cx, cy, w, h, class probabilities."""

    name = "yolov8"

    def expected(self) -> tuple[int | None, int | None]:
        return 4 + self.num_classes, None

    def decode(self, pred: np.ndarray) -> Decoded:
        return decode_yolov8(pred, self.config)


class YoloV5Decoder(_YoloDecoder):
    """``yolov5``: (1, N, 5 + nc) cx, cy, w, h, objectness, class probabilities."""

    name = "yolov5"

    def expected(self) -> tuple[int | None, int | None]:
        return None, 5 + self.num_classes

    def decode(self, pred: np.ndarray) -> Decoded:
        return decode_yolov5(pred, self.config)


class YoloNmsDecoder(_YoloDecoder):
    """``yolo_nms``: (1, N, 6) x1, y1, x2, y2, score, class id, NMS done in the graph."""

    name = "yolo_nms"

    def expected(self) -> tuple[int | None, int | None]:
        return None, 6

    def decode(self, pred: np.ndarray) -> Decoded:
        return decode_yolo_nms(pred, self.config)


YOLO_DECODERS: tuple[type[_YoloDecoder], ...] = (YoloV8Decoder, YoloV5Decoder, YoloNmsDecoder)
