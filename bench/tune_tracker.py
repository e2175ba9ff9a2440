"""Choose a detector's ByteTrack thresholds on a labelled clip: detect every frame once, then
track the same detections with each setting of a grid and keep the best MOTA (IDF1 breaks ties).

    python -m edgeimg.bench.tune_tracker MODEL.onnx SEQUENCE --frames 1-600 -o tracker.yaml

SEQUENCE is a MOTChallenge sequence: a folder with ``gt/gt.txt`` and ``img1/`` or one video (or
the video itself). Tune on frames the model trained on, or on any labelled clip of your camera
that you will not report figures on: thresholds chosen on the frames you score are optimistic.
The YAML goes to ``edgeimg track --tracker-config`` or into the ONNX file with
``edgeimg export ... --tracker-config``.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from edgeimg.bench.tracking_metrics import TrackingScores, evaluate
from edgeimg.export.calibration import FrameSelection, resolve_spec
from edgeimg.runtime.errors import EdgeimgError
from edgeimg.runtime.model import Model, load_model
from edgeimg.runtime.sources import SourceConfig, open_source
from edgeimg.runtime.tasks.detect.detections import Detections
from edgeimg.runtime.tasks.detect.mot import MotRecords, read_mot
from edgeimg.runtime.tasks.detect.tracking.bytetrack import ByteTracker
from edgeimg.runtime.tasks.detect.tracking.config import ByteTrackConfig

# (track_thresh, new_track_thresh - track_thresh): scores split high/low at the first, a new
# track needs the second on top. low_thresh stays at the contract's score threshold.
TRACK_THRESHOLDS = (0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6)
NEW_TRACK_MARGINS = (0.0, 0.05, 0.1)


@dataclass(frozen=True)
class Trial:
    config: ByteTrackConfig
    scores: TrackingScores


def sequence_paths(sequence: Path) -> tuple[Path, Path]:
    """(frames: the video or img1/ folder, gt/gt.txt) of a MOTChallenge sequence."""
    root = sequence.parent if sequence.is_file() else sequence
    gt = root / "gt" / "gt.txt"
    if not gt.is_file():
        raise EdgeimgError(f"{root}: expected a MOTChallenge sequence with gt/gt.txt")
    return Path(resolve_spec(sequence)), gt


def detect_frames(
    model: Model, frames_path: Path, first: int, last: int | None
) -> list[tuple[int, float, Detections]]:
    """(1-based frame, timestamp, detections) of each frame in ``first..last``, as
    ``edgeimg track`` sees them (same source timestamps, same model and decoder)."""
    out = []
    with open_source(str(frames_path), SourceConfig(start=first - 1)) as source:
        for frame in source:
            number = frame.index + 1
            if last is not None and number > last:
                break
            out.append((number, frame.timestamp, model.predict(frame.image)))
    if not out:
        raise EdgeimgError(f"{frames_path}: no frames from {first}")
    return out


def track(detections: list[tuple[int, float, Detections]], config: ByteTrackConfig) -> MotRecords:
    tracker = ByteTracker(config)
    records = [
        MotRecords.from_detections(number, tracker.update(found, timestamp))
        for number, timestamp, found in detections
    ]
    return MotRecords.concatenate(records)


def tune(
    detections: list[tuple[int, float, Detections]], gt: MotRecords, base: ByteTrackConfig
) -> list[Trial]:
    """Every grid setting's scores, best first (MOTA, then IDF1)."""
    frames = (detections[0][0], detections[-1][0])
    trials = []
    for high, margin in itertools.product(TRACK_THRESHOLDS, NEW_TRACK_MARGINS):
        if high <= base.low_thresh:
            continue
        config = replace(base, track_thresh=high, new_track_thresh=round(high + margin, 3))
        trials.append(Trial(config, evaluate(gt, track(detections, config), frames)))
    return sorted(trials, key=lambda t: (-t.scores.mota, -t.scores.idf1))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m edgeimg.bench.tune_tracker", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("model", help="an ONNX detector with its edgeimg contract")
    parser.add_argument("sequence", type=Path, help="a MOTChallenge sequence (folder or video)")
    parser.add_argument("--frames", metavar="FIRST-LAST", help="frames to tune on (default: all)")
    parser.add_argument("-o", "--output", type=Path, help="write the best settings as YAML")
    parser.add_argument("--threads", type=int, help="inference threads")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        selection = FrameSelection.parse(args.frames)
        first, last = selection.first, selection.last
        frames_path, gt_path = sequence_paths(args.sequence)
        model = load_model(args.model, threads=args.threads)
        if model.contract.task != "detect":
            raise EdgeimgError(f"{args.model}: expected a detector, not {model.contract.task}")
        detections = detect_frames(model, frames_path, first, last)
        base = ByteTracker.from_contract(model.contract).config
        trials = tune(detections, read_mot(gt_path), base)
    except EdgeimgError as exc:
        print(f"tune_tracker: error: {exc}", file=sys.stderr)
        return 2
    span = f"{detections[0][0]}-{detections[-1][0]}"
    print(f"{args.sequence} frames {span}, {len(trials)} settings (best first):")
    print("track_thresh new_track_thresh   MOTA   IDF1  recall precision")
    for trial in trials[:8]:
        c, s = trial.config, trial.scores
        print(
            f"{c.track_thresh:12.2f} {c.new_track_thresh:16.2f} {s.mota:6.3f} {s.idf1:6.3f} "
            f"{s.recall:7.3f} {s.precision:9.3f}"
        )
    if args.output is not None:
        trials[0].config.to_yaml(args.output)
        print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
