"""The detect task: boxes with classes and scores, tracked over time.

Result: :class:`Detections`. Decoders: ``centernet`` (edgeimg's detectors) and the Ultralytics
YOLO ONNX layouts ``yolov8``, ``yolov5``, ``yolo_nms`` (a YOLO file needs no edgeimg contract:
``ultralytics.py`` builds it from the file's own metadata). Stages: :class:`ClassFilter`
(``--classes``) and ByteTrack with the settings tuned for the model (``task_params.tracker``). Outputs: boxes, labels and
trails drawn on the frame; JSON lines; MOTChallenge text (``.txt``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from edgeimg.runtime.contract import ModelContract
from edgeimg.runtime.tasks import register_task
from edgeimg.runtime.tasks.base import Stage, TaskSpec
from edgeimg.runtime.tasks.detect.annotate import Annotator
from edgeimg.runtime.tasks.detect.centernet import CenterNetDecoder
from edgeimg.runtime.tasks.detect.classes import ClassFilter, class_ids
from edgeimg.runtime.tasks.detect.detections import Detections
from edgeimg.runtime.tasks.detect.sinks import detections_record, mot_sink
from edgeimg.runtime.tasks.detect.tracking import ByteTrackConfig, ByteTracker
from edgeimg.runtime.tasks.detect.yolo import YOLO_DECODERS


@dataclass(frozen=True)
class DetectParams:
    """task_params of a detector. tracker: ByteTrack settings tuned for its scores
    (:class:`ByteTrackConfig` field names; the rest keep ByteTrack's defaults)."""

    tracker: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        ByteTrackConfig.from_dict(dict(self.tracker))  # refuses unknown keys and wrong types


def tracking_stages(contract: ModelContract) -> list[Stage]:
    return [ByteTracker.from_contract(contract)]


TASK = register_task(
    TaskSpec(
        name="detect",
        result_type=Detections,
        decoders={
            CenterNetDecoder.name: CenterNetDecoder,
            **{decoder.name: decoder for decoder in YOLO_DECODERS},
        },
        record=detections_record,
        annotator=lambda contract: Annotator(contract.class_names),
        params_type=DetectParams,
        stages=tracking_stages,
        sinks={".txt": mot_sink},
        description="objects as boxes with classes and scores, tracked with ByteTrack",
        bundled_model="person_detector.onnx",
    )
)

__all__ = ["TASK", "ByteTracker", "ClassFilter", "DetectParams", "Detections", "class_ids"]
