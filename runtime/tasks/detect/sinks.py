"""Outputs of the detect task: the JSON-lines record of a frame's detections, MOTChallenge text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgeimg.runtime.contract import ModelContract
from edgeimg.runtime.sinks import FrameResult, TextSink
from edgeimg.runtime.tasks.detect.detections import Detections
from edgeimg.runtime.tasks.detect.mot import MotRecords, format_lines


def detections_record(detections: Detections, class_names: tuple[str, ...]) -> dict[str, Any]:
    """``{"detections": [{"box": [x1, y1, x2, y2], "score": 0.91, "class_id": 0,
    "class": "person", "track_id": 3}, ...]}``: boxes in source pixels, ``track_id`` null
    before tracking or for an untracked box."""
    tracker_id = detections.tracker_id
    items = []
    for i in range(len(detections)):
        class_id = int(detections.class_id[i])
        track = None if tracker_id is None or tracker_id[i] < 0 else int(tracker_id[i])
        items.append(
            {
                "box": [round(float(v), 2) for v in detections.xyxy[i]],
                "score": round(float(detections.confidence[i]), 4),
                "class_id": class_id,
                "class": class_names[class_id] if 0 <= class_id < len(class_names) else None,
                "track_id": track,
            }
        )
    return {"detections": items}


class MotSink(TextSink):
    """MOTChallenge text, ``frame,id,left,top,width,height,conf,-1,-1,-1`` per box, frames
    1-based (``Frame.index + 1``), as TrackEval and py-motmetrics read it.

    Tracked detections without a track (``tracker_id`` -1) are left out; untracked
    detections (``tracker_id`` None) are written with id -1, as in MOTChallenge's det.txt.
    """

    what = "MOTChallenge output"

    def format(self, result: FrameResult) -> str:
        detections = result.result
        if detections.tracker_id is not None:
            detections = detections[detections.tracker_id >= 0]
        return format_lines(MotRecords.from_detections(result.frame.index + 1, detections))


def mot_sink(path: Path, contract: ModelContract) -> MotSink:
    return MotSink(path)
