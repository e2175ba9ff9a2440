"""`edgeimg evaluate`: tracking accuracy (MOTA, IDF1, HOTA, ...) of a MOTChallenge result file."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from edgeimg.runtime.errors import EdgeimgError

_ROWS = (
    ("MOTA", "mota", "{:.4f}"),
    ("IDF1", "idf1", "{:.4f}"),
    ("HOTA", "hota", "{:.4f}"),
    ("DetA", "deta", "{:.4f}"),
    ("AssA", "assa", "{:.4f}"),
    ("LocA", "loca", "{:.4f}"),
    ("MOTP (mean IoU)", "motp", "{:.4f}"),
    ("IDP", "idp", "{:.4f}"),
    ("IDR", "idr", "{:.4f}"),
    ("recall", "recall", "{:.4f}"),
    ("precision", "precision", "{:.4f}"),
    ("false positives", "false_positives", "{}"),
    ("misses", "misses", "{}"),
    ("ID switches", "id_switches", "{}"),
    ("fragmentations", "fragmentations", "{}"),
    ("mostly tracked", "mostly_tracked", "{}"),
    ("partially tracked", "partially_tracked", "{}"),
    ("mostly lost", "mostly_lost", "{}"),
    ("frames", "frames", "{}"),
    ("GT boxes / IDs", ("gt_boxes", "gt_ids"), "{} / {}"),
    ("predicted boxes / IDs", ("pred_boxes", "pred_ids"), "{} / {}"),
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "evaluate",
        help="score a tracker's MOTChallenge output against ground truth (MOTA, IDF1, HOTA)",
        description="Compare a tracking result with ground truth, both MOTChallenge text files "
        "(frame,id,left,top,width,height,conf,...; 1-based frames). Prints CLEAR MOT and identity "
        "metrics (py-motmetrics) and HOTA (TrackEval). Ground-truth rows with conf 0 are ignored.",
        epilog="example: edgeimg evaluate --gt ../shared/data/PETS09-S2L1/gt/gt.txt "
        "--pred runs/pets/tracks.txt --frames 601-795 --json runs/pets/scores.json",
    )
    parser.add_argument("--gt", required=True, help="ground truth, e.g. PETS09-S2L1/gt/gt.txt")
    parser.add_argument("--pred", required=True, help="tracker output in MOTChallenge format")
    parser.add_argument(
        "--frames", type=frame_range, help="FIRST-LAST, 1-based and inclusive (default: all)"
    )
    parser.add_argument(
        "--iou", type=float, default=0.5, help="IoU needed for a match in MOTA/IDF1 (default 0.5)"
    )
    parser.add_argument("--json", type=Path, help="also write the scores to this JSON file")
    parser.set_defaults(run=run)


def frame_range(text: str) -> tuple[int, int]:
    """'601-795' -> (601, 795); a single number N means N-N."""
    first, _, last = text.partition("-")
    try:
        span = (int(first), int(last or first))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected FIRST-LAST frame numbers such as 601-795, got {text!r}"
        ) from None
    if span[0] < 1 or span[1] < span[0]:
        raise argparse.ArgumentTypeError(f"expected 1 <= FIRST <= LAST, got {text!r}")
    return span


def run(args: argparse.Namespace) -> int:
    from edgeimg.bench.tracking_metrics import evaluate
    from edgeimg.runtime.atomic import check_distinct
    from edgeimg.runtime.tasks.detect.mot import read_mot

    check_distinct([("--json", args.json)], [("--gt", args.gt), ("--pred", args.pred)])
    if args.json is not None and not args.json.parent.is_dir():
        raise EdgeimgError(f"cannot write {args.json}: folder {args.json.parent} does not exist")
    scores = evaluate(read_mot(args.gt), read_mot(args.pred), args.frames, args.iou)
    values = scores.to_dict()
    width = max(len(label) for label, _, _ in _ROWS)
    for label, keys, fmt in _ROWS:
        keys = keys if isinstance(keys, tuple) else (keys,)
        print(f"{label:<{width}}  {fmt.format(*(values[k] for k in keys))}")
    if args.json is not None:
        span = list(args.frames) if args.frames else None
        record = {"gt": str(args.gt), "pred": str(args.pred), "frame_range": span, **values}
        write_json(args.json, record)
    return 0


def write_json(path: Path, record: dict) -> None:
    """Write atomically: a temp file in the same folder, then a rename."""
    from edgeimg.runtime.atomic import write_text

    write_text(path, json.dumps(record, indent=2) + "\n", "JSON output")
