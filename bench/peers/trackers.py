"""edgeimg's ByteTracker against roboflow ``trackers`` ByteTrack (and supervision's, where it
exists) on identical detections: the same boxes, scores and timestamps go into every tracker.

Each tracker runs the whole sequence ``repeats`` times, interleaved with the others (reset in
between); per-frame times pool every repeat, the metrics come from the first (all are
deterministic). Detections are converted to each library's type before the clock starts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeimg.bench.backends import Unsupported
from edgeimg.bench.stats import LatencyStats, summarize
from edgeimg.runtime.tasks.detect.detections import Detections
from edgeimg.runtime.tasks.detect.mot import MotRecords

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrackedSequence:
    """Detections of consecutive frames: 1-based frame numbers, timestamps (s), detections."""

    frames: list[int]
    timestamps: list[float]
    detections: list[Detections]
    fps: float


@dataclass(frozen=True)
class TrackerRow:
    name: str
    note: str
    metrics: dict[str, float] | None
    per_frame: LatencyStats | None
    skipped: str = ""

    def to_dict(self) -> dict[str, object]:
        return {
            "tracker": self.name,
            "note": self.note,
            "metrics": self.metrics,
            "per_frame": None if self.per_frame is None else self.per_frame.to_dict(),
            "skipped": self.skipped,
        }


@dataclass(frozen=True)
class TrackerSettings:
    """Thresholds for one comparison: edgeimg's ``ByteTrackConfig`` (None: defaults) and the
    matching roboflow ``trackers`` arguments (None: its defaults), under one label."""

    label: str = "defaults"
    edgeimg: Any = None  # edgeimg.runtime.tasks.detect.tracking.ByteTrackConfig | None
    high_conf_det_threshold: float | None = None
    track_activation_threshold: float | None = None


DEFAULTS = TrackerSettings()


def tuned_settings(config_path: Path) -> TrackerSettings:
    """edgeimg's tuned YAML, and the analogous roboflow thresholds: its high/low split 0.05
    below edgeimg's ``track_thresh`` (trackers compares with ``>=``, and its low detections
    only keep tracks alive) and its activation threshold at edgeimg's ``new_track_thresh``."""
    from edgeimg.runtime.tasks.detect.tracking import ByteTrackConfig

    config = ByteTrackConfig.from_yaml(config_path)
    return TrackerSettings(
        f"tuned ({config_path.name})",
        config,
        high_conf_det_threshold=round(config.track_thresh - 0.05, 4),
        track_activation_threshold=config.new_track_thresh,
    )


class EdgeimgTracker:
    name = "edgeimg ByteTracker"

    def __init__(self, fps: float, settings: TrackerSettings = DEFAULTS) -> None:
        from dataclasses import replace

        from edgeimg.runtime.tasks.detect.tracking import ByteTrackConfig, ByteTracker

        config = settings.edgeimg or ByteTrackConfig()
        self.tracker = ByteTracker(replace(config, frame_rate=fps))
        self.note = f"{settings.label}, frame_rate = source fps"
        if settings.edgeimg is not None:
            c = settings.edgeimg
            self.note += (
                f": track {c.track_thresh}, new {c.new_track_thresh},"
                f" match {c.match_thresh}, fuse_score {c.fuse_score}"
            )

    def convert(self, detections: Detections) -> Any:
        return detections

    def reset(self) -> None:
        self.tracker.reset()

    def step(self, native: Any, timestamp: float) -> Detections:
        return self.tracker.update(native, timestamp)


class RoboflowTracker:
    """``trackers.ByteTrackTracker`` (roboflow), on ``supervision.Detections``."""

    name = "roboflow trackers ByteTrack"

    def __init__(self, fps: float, settings: TrackerSettings = DEFAULTS) -> None:
        import importlib.metadata

        import supervision
        from trackers import ByteTrackTracker

        kwargs: dict[str, float] = {}
        if settings.high_conf_det_threshold is not None:
            kwargs["high_conf_det_threshold"] = settings.high_conf_det_threshold
        if settings.track_activation_threshold is not None:
            kwargs["track_activation_threshold"] = settings.track_activation_threshold
        self.sv = supervision
        self.make = lambda: ByteTrackTracker(frame_rate=fps, **kwargs)
        self.tracker = self.make()
        shown = ", ".join(f"{k} {v}" for k, v in kwargs.items())
        self.note = f"trackers {importlib.metadata.version('trackers')}, {settings.label}"
        self.note += f": {shown}" if shown else ""

    def convert(self, detections: Detections) -> Any:
        return self.sv.Detections(
            xyxy=detections.xyxy.astype(np.float32),
            confidence=detections.confidence.astype(np.float32),
            class_id=detections.class_id.astype(int),
        )

    def reset(self) -> None:
        # A fresh instance: trackers' ID counter lives in the instance since 2.x.
        self.tracker = self.make()

    def step(self, native: Any, timestamp: float) -> Detections:
        out = self.tracker.update(native, timestamp=timestamp)
        return _from_supervision(out)


class SupervisionTracker:
    """supervision's ``ByteTrack`` (removed from supervision in favour of roboflow trackers)."""

    name = "supervision ByteTrack"

    def __init__(self, fps: float, settings: TrackerSettings = DEFAULTS) -> None:
        import importlib.metadata

        import supervision

        version = importlib.metadata.version("supervision")
        if not hasattr(supervision, "ByteTrack"):
            raise Unsupported(
                f"supervision {version} has no ByteTrack (it moved to roboflow trackers)"
            )
        self.sv = supervision
        self.make = lambda: supervision.ByteTrack(frame_rate=round(fps))
        self.tracker = self.make()
        self.note = f"supervision {version}, defaults"

    def convert(self, detections: Detections) -> Any:
        return RoboflowTracker.convert(self, detections)  # type: ignore[arg-type]

    def reset(self) -> None:
        self.tracker = self.make()

    def step(self, native: Any, timestamp: float) -> Detections:
        return _from_supervision(self.tracker.update_with_detections(native))


def _from_supervision(out: Any) -> Detections:
    ids = out.tracker_id if out.tracker_id is not None else np.full(len(out), -1)
    conf = out.confidence if out.confidence is not None else np.ones(len(out), np.float32)
    cls = out.class_id if out.class_id is not None else np.zeros(len(out), np.int32)
    return Detections(out.xyxy, conf, cls, ids)


TRACKERS = (EdgeimgTracker, RoboflowTracker, SupervisionTracker)


def run_once(
    tracker: Any, natives: Sequence[Any], sequence: TrackedSequence
) -> tuple[MotRecords, np.ndarray]:
    """Track the sequence from a reset: MOT records of confirmed tracks, per-frame seconds."""
    tracker.reset()
    clock = time.perf_counter
    seconds = np.empty(len(natives))
    records = []
    for i, (native, stamp) in enumerate(zip(natives, sequence.timestamps, strict=True)):
        start = clock()
        out = tracker.step(native, stamp)
        seconds[i] = clock() - start
        if out.tracker_id is not None:
            out = out[out.tracker_id >= 0]
        records.append(MotRecords.from_detections(sequence.frames[i], out))
    return MotRecords.concatenate(records), seconds


def compare_sequence(
    sequence: TrackedSequence,
    ground_truth: MotRecords,
    repeats: int = 5,
    settings: Sequence[TrackerSettings] = (DEFAULTS,),
) -> list[TrackerRow]:
    """Every tracker under every ``settings`` on the same detections, timed interleaved:
    metrics vs ``ground_truth`` and per-frame time."""
    from edgeimg.bench.tracking_metrics import evaluate

    skipped: list[TrackerRow] = []
    ready = []
    for setting in settings:
        for cls in TRACKERS:
            try:
                tracker = cls(sequence.fps, setting)
            except Unsupported as exc:
                if not any(r.name == cls.name for r in skipped):
                    skipped.append(TrackerRow(cls.name, "", None, None, str(exc)))
                continue
            except ModuleNotFoundError as exc:
                if not any(r.name == cls.name for r in skipped):
                    skipped.append(
                        TrackerRow(cls.name, "", None, None, f"{exc.name} is not installed")
                    )
                continue
            ready.append((tracker, [tracker.convert(d) for d in sequence.detections]))
    timings: list[list[np.ndarray]] = [[] for _ in ready]
    outputs: list[MotRecords] = []
    for repeat in range(repeats):
        for i, (tracker, natives) in enumerate(ready):
            records, seconds = run_once(tracker, natives, sequence)
            timings[i].append(seconds)
            if repeat == 0:
                outputs.append(records)
    span = (sequence.frames[0], sequence.frames[-1])
    rows = []
    for (tracker, _), seconds, records in zip(ready, timings, outputs, strict=True):
        metrics = metrics_dict(evaluate(ground_truth, records, span))
        rows.append(
            TrackerRow(tracker.name, tracker.note, metrics, summarize(np.concatenate(seconds)))
        )
    return rows + skipped


def metrics_dict(metrics: Any) -> dict[str, float]:
    """MOTA, IDF1, HOTA (and whatever else the metrics value carries) as plain floats."""
    values = metrics.to_dict() if hasattr(metrics, "to_dict") else dict(vars(metrics))
    return {k: float(v) for k, v in values.items() if isinstance(v, (int, float, np.number))}


def detect_sequence(onnx_path: Path, pets_dir: Path, frames: str = "601-795") -> TrackedSequence:
    """Run edgeimg's detector once over the frames (1-based, inclusive) of the PETS clip."""
    from edgeimg.runtime.model import load_model
    from edgeimg.runtime.sources import SourceConfig, open_source

    first, _, last = frames.partition("-")
    first_n, last_n = int(first), int(last) if last else None
    model = load_model(onnx_path, backend="onnxruntime", device="cpu")
    seq = TrackedSequence([], [], [], 0.0)
    with open_source(str(pets_dir / "vtest.avi"), SourceConfig(start=first_n - 1)) as source:
        fps = source.fps or 10.0
        for frame in source:
            number = frame.index + 1
            if last_n is not None and number > last_n:
                break
            seq.frames.append(number)
            seq.timestamps.append(frame.timestamp)
            seq.detections.append(model.predict(frame.image))
    return TrackedSequence(seq.frames, seq.timestamps, seq.detections, fps)


def compare_trackers(
    onnx_path: Path,
    pets_dir: Path,
    frames: str = "601-795",
    repeats: int = 5,
    settings: Sequence[TrackerSettings] = (DEFAULTS,),
) -> list[TrackerRow]:
    """The detector's boxes on PETS09-S2L1 ``frames``, tracked by every tracker, scored on gt."""
    from edgeimg.runtime.tasks.detect.mot import read_mot

    sequence = detect_sequence(onnx_path, pets_dir, frames)
    log.info(
        "tracker comparison: %d frames, %d detections",
        len(sequence.frames),
        sum(len(d) for d in sequence.detections),
    )
    gt = read_mot(pets_dir / "gt" / "gt.txt").frames(sequence.frames[0], sequence.frames[-1])
    return compare_sequence(sequence, gt, repeats, settings)


def trackers_table(rows: Sequence[TrackerRow]) -> str:
    from edgeimg.bench.report import format_table

    timed = [r for r in rows if r.metrics is not None and r.per_frame is not None]
    keys = ("MOTA", "IDF1", "HOTA")
    table = []
    for r in timed:
        m = {k.upper(): v for k, v in (r.metrics or {}).items()}
        p = r.per_frame
        table.append(
            (r.name, *(m.get(k, float("nan")) for k in keys), p.p50_ms, p.p90_ms, p.p99_ms, r.note)
        )
    headers = ("tracker", *keys, "p50 ms/frame", "p90", "p99", "note")
    text = format_table(headers, table)
    return "\n".join([text, *(f"skipped {r.name}: {r.skipped}" for r in rows if r.skipped)])
