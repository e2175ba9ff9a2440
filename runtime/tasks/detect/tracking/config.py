"""Typed configuration of the ByteTrack tracker, with the published defaults, loadable from YAML."""

from __future__ import annotations

import dataclasses
import enum
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from edgeimg.runtime.atomic import write_text
from edgeimg.runtime.errors import EdgeimgError, parse_enum

NOMINAL_FPS = 30.0  # the frame rate ByteTrack's per-frame settings and noise refer to


class OutputBoxes(str, enum.Enum):
    """Which boxes ``ByteTracker.update`` returns for each tracked object."""

    DETECTION = "detection"  # the matched detection's own box (ByteTrack's MOT output)
    FILTERED = "filtered"  # the Kalman filter's corrected box (smoother, lags on turns)


@dataclass(frozen=True)
class ByteTrackConfig:
    """ByteTrack's thresholds (Zhang et al. 2022, ``yolox/tracker/byte_tracker.py`` defaults).

    Scores split detections: ``score > track_thresh`` are *high* (first association, may start
    tracks), ``low_thresh < score <= track_thresh`` are *low* (second association only, they
    keep existing tracks alive), the rest are ignored. Costs are ``1 - IoU``: a match needs a
    cost of at most its threshold (0.8 means IoU >= 0.2).

    Attributes:
        track_thresh: high/low score split (published: 0.5).
        low_thresh: scores at or below are ignored (0.1).
        new_track_thresh: a high detection left unmatched starts a track when its score is at
            least this (ByteTrack's ``track_thresh + 0.1``).
        match_thresh: max cost, high detections vs tracked and lost tracks (0.8).
        low_match_thresh: max cost, low detections vs the remaining tracked tracks (0.5).
        unconfirmed_match_thresh: max cost, new tracks vs the high detections left (0.7).
        min_hits: consecutive matched frames that confirm a new track (ByteTrack: 2, i.e. it
            must match on the frame after its birth); tracks born on the first frame after
            construction or ``reset()`` are confirmed at once, as in ByteTrack.
        track_buffer: how long a lost track is kept, in frames of 30 fps video, as published:
            ``int(frame_rate / 30 * track_buffer)`` frames at ``frame_rate``, about
            ``track_buffer / 30`` seconds (1 s) whatever the source's rate.
        frame_rate: the source's nominal frame rate (ByteTrack's ``frame_rate``); it only turns
            ``track_buffer`` into frames. The motion model needs no rate: it steps by the time
            between ``update`` timestamps, counted in periods of 1/30 s because ByteTrack tuned
            its Kalman noise per frame of 30 fps video (so a 7 fps source moves 30/7 such
            steps a frame, and dropped frames simply make a longer step).
        low_score_all_tracks: offer the low-score detections to every track the high ones left,
            lost and newborn tracks too (as roboflow/trackers does), not only to tracks matched on
            the previous frame (ByteTrack's reference code: set False to reproduce it). Keeps
            tracks alive through partial occlusions; measured +1 point of MOTA on PETS09.
        fuse_score: multiply IoU by the detection score in the first and unconfirmed
            associations (ByteTrack on MOT17; off for crowded MOT20-like scenes).
        duplicate_iou: a tracked and a lost track overlapping more than this are duplicates;
            the younger one is dropped (ByteTrack: 1 - 0.15).
        class_aware: only associate detections and tracks of the same class.
        output_boxes: detection boxes or Kalman-filtered boxes in the output.
    """

    track_thresh: float = 0.5
    low_thresh: float = 0.1
    new_track_thresh: float = 0.6
    match_thresh: float = 0.8
    low_match_thresh: float = 0.5
    unconfirmed_match_thresh: float = 0.7
    min_hits: int = 2
    track_buffer: int = 30
    frame_rate: float = 30.0
    low_score_all_tracks: bool = True
    fuse_score: bool = True
    duplicate_iou: float = 0.85
    class_aware: bool = False
    output_boxes: OutputBoxes = OutputBoxes.DETECTION

    def __post_init__(self) -> None:
        object.__setattr__(
            self,
            "output_boxes",
            parse_enum(OutputBoxes, self.output_boxes, "ByteTrackConfig.output_boxes"),
        )
        for name in (
            "track_thresh",
            "low_thresh",
            "new_track_thresh",
            "match_thresh",
            "low_match_thresh",
            "unconfirmed_match_thresh",
            "duplicate_iou",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise EdgeimgError(
                    f"ByteTrackConfig.{name}: expected a value in [0, 1], got {value}"
                )
        if self.low_thresh > self.track_thresh:
            raise EdgeimgError(
                f"ByteTrackConfig: expected low_thresh <= track_thresh, got {self.low_thresh} > "
                f"{self.track_thresh}"
            )
        if self.min_hits < 1:
            raise EdgeimgError(f"ByteTrackConfig.min_hits: expected >= 1, got {self.min_hits}")
        if self.track_buffer < 0:
            raise EdgeimgError(
                f"ByteTrackConfig.track_buffer: expected >= 0, got {self.track_buffer}"
            )
        if not self.frame_rate > 0:
            raise EdgeimgError(f"ByteTrackConfig.frame_rate: expected > 0, got {self.frame_rate}")

    @property
    def lost_seconds(self) -> float:
        """How long a lost track is kept, in seconds: ByteTrack's ``int(frame_rate / 30 *
        track_buffer)`` frames at ``frame_rate``."""
        frames = int(self.frame_rate / NOMINAL_FPS * self.track_buffer + 1e-9)
        return frames / self.frame_rate

    @classmethod
    def from_dict(cls, values: Mapping[str, object]) -> ByteTrackConfig:
        """Build from a mapping of field names; unknown keys and wrong types are refused."""
        types = {f.name: _type_name(f) for f in dataclasses.fields(cls)}
        unknown = sorted(map(str, set(values) - set(types)))  # YAML keys may be numbers, null
        if unknown:
            raise EdgeimgError(
                f"unknown tracker setting(s) {', '.join(unknown)}; valid: {', '.join(types)}"
            )
        # Any: each value has just been checked against its field's type by _coerce.
        checked: dict[str, Any] = {
            name: _coerce(name, types[name], v) for name, v in values.items()
        }
        return cls(**checked)

    @classmethod
    def from_yaml(cls, path: str | os.PathLike[str]) -> ByteTrackConfig:
        """Read a YAML mapping of settings (any subset; the rest keep their defaults)."""
        return cls.from_dict(settings_from_yaml(path))

    def to_dict(self) -> dict[str, object]:
        """Plain values (the enum as its string), as ``from_dict`` reads them."""
        out = dataclasses.asdict(self)
        out["output_boxes"] = self.output_boxes.value
        return out

    def to_yaml(self, path: str | os.PathLike[str]) -> None:
        """Write every setting to ``path`` (atomically: a temp file, then a rename)."""
        write_text(path, yaml.safe_dump(self.to_dict(), sort_keys=False), "tracker config")


def _type_name(field: dataclasses.Field[Any]) -> str:
    """A field's annotation as written (a string under ``__future__``, else the type's name)."""
    return field.type if isinstance(field.type, str) else getattr(field.type, "__name__", "?")


def _coerce(name: str, type_name: str, value: object) -> object:
    """Check a YAML value against the field's annotation (a string under ``__future__``)."""
    if type_name == "bool":
        ok = isinstance(value, bool)
    elif type_name == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif type_name == "float":
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if isinstance(value, (int, float)) and ok:
            try:
                value = float(value)
            except OverflowError:  # an int beyond float's range
                ok = False
    else:  # OutputBoxes: __post_init__ checks the name
        ok = isinstance(value, (str, OutputBoxes))
    if not ok:
        raise EdgeimgError(f"{name}: expected {type_name}, got {type(value).__name__} {value!r}")
    return value


def settings_from_yaml(path: str | os.PathLike[str]) -> dict[str, object]:
    """The settings a YAML file names, checked against :class:`ByteTrackConfig` (errors name
    the file). Only the keys in the file are returned, so they can be layered over others."""
    path = Path(path)
    from edgeimg.runtime.contract import yaml_problem

    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise EdgeimgError(f"cannot read tracker config {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise EdgeimgError(f"tracker config {path} is not text (expected YAML)") from None
    except (yaml.YAMLError, ValueError, RecursionError) as exc:  # ints of >4300 digits, nesting
        raise EdgeimgError(
            f"tracker config {path} is not valid YAML: {yaml_problem(exc)}"
        ) from None
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise EdgeimgError(
            f"tracker config {path}: expected a mapping of settings, got {type(values).__name__}"
        )
    try:
        checked = ByteTrackConfig.from_dict(values).to_dict()
    except EdgeimgError as exc:
        raise EdgeimgError(f"tracker config {path}: {exc}") from exc
    return {key: checked[key] for key in values}
