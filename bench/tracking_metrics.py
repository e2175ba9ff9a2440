"""Tracking accuracy of a MOTChallenge result against ground truth: CLEAR MOT, identity and HOTA.

MOTA, MOTP, IDF1 and the counts come from py-motmetrics, HOTA / DetA / AssA / LocA from
TrackEval's ``HOTA`` metric, both fed the same per-frame IoU matrices (computed here in float64,
MOTChallenge's box IoU without the "+1"). Ground-truth rows with ``conf`` 0 are not counted and
tracker rows are all kept, as TrackEval and the MOTChallenge devkit do for 2D MOT15 sequences
such as PETS09-S2L1 (no class or distractor filtering: that is MOT16/17's preprocessing).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from edgeimg.runtime.errors import EdgeimgError
from edgeimg.runtime.tasks.detect.mot import MotRecords


@dataclass(frozen=True)
class TrackingScores:
    """Scores of one sequence. Ratios are in [0, 1] (MOTA can go below 0); counts are ints.

    motp is MOTChallenge's: the mean IoU of matched pairs (py-motmetrics reports 1 - this).
    hota, deta, assa, loca are averaged over TrackEval's 19 IoU thresholds 0.05..0.95.
    """

    frames: int
    gt_boxes: int
    pred_boxes: int
    gt_ids: int
    pred_ids: int
    mota: float
    motp: float
    idf1: float
    idp: float
    idr: float
    recall: float
    precision: float
    false_positives: int
    misses: int
    id_switches: int
    fragmentations: int
    mostly_tracked: int
    partially_tracked: int
    mostly_lost: int
    hota: float
    deta: float
    assa: float
    loca: float

    def to_dict(self) -> dict[str, float | int]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class _Sequence:
    """Both files cut into frames: per frame, GT ids, prediction ids and their IoU matrix."""

    frames: list[int]
    gt_ids: list[np.ndarray]
    pred_ids: list[np.ndarray]
    iou: list[np.ndarray]


def evaluate(
    gt: MotRecords,
    pred: MotRecords,
    frames: tuple[int, int] | None = None,
    iou_threshold: float = 0.5,
) -> TrackingScores:
    """Score ``pred`` against ``gt`` over frames ``frames = (first, last)`` (1-based, inclusive).

    With ``frames`` None the range spans every frame of both files. A GT box and a predicted box
    can match (CLEAR MOT, identity metrics) when their IoU is at least ``iou_threshold``.
    Raises ``EdgeimgError`` when the range holds no ground truth, or a dependency is missing.
    """
    mm = _import("motmetrics")
    hota_metric = _import("trackeval.metrics").HOTA
    if not 0.0 < iou_threshold <= 1.0:
        raise EdgeimgError(f"iou_threshold: expected a value in (0, 1], got {iou_threshold}")
    gt = gt.select(gt.confidence != 0)
    if frames is None:
        both = np.concatenate([gt.frame, pred.frame])
        if len(both) == 0:
            raise EdgeimgError("nothing to evaluate: both files are empty")
        frames = (int(both.min()), int(both.max()))
    first, last = frames
    if first < 1 or last < first:
        raise EdgeimgError(f"frames: expected 1 <= first <= last, got {first}-{last}")
    gt, pred = gt.frames(first, last), pred.frames(first, last)
    if len(gt) == 0:
        raise EdgeimgError(f"no ground-truth boxes in frames {first}-{last}")
    seq = _split(gt, pred, range(first, last + 1))

    acc = mm.MOTAccumulator(auto_id=True)
    for gt_ids, pred_ids, iou in zip(seq.gt_ids, seq.pred_ids, seq.iou, strict=True):
        acc.update(gt_ids, pred_ids, np.where(iou >= iou_threshold, 1.0 - iou, np.nan))
    names = [
        "mota",
        "motp",
        "idf1",
        "idp",
        "idr",
        "recall",
        "precision",
        "num_false_positives",
        "num_misses",
        "num_switches",
        "num_fragmentations",
        "mostly_tracked",
        "partially_tracked",
        "mostly_lost",
    ]
    clear = mm.metrics.create().compute(acc, metrics=names, name="seq").iloc[0]
    hota = _hota(hota_metric, seq)
    return TrackingScores(
        frames=len(seq.frames),
        gt_boxes=len(gt),
        pred_boxes=len(pred),
        gt_ids=len(np.unique(gt.track_id)),
        pred_ids=len(np.unique(pred.track_id)),
        mota=float(clear["mota"]),
        motp=1.0 - float(clear["motp"]) if np.isfinite(clear["motp"]) else 0.0,
        idf1=float(clear["idf1"]),
        idp=float(clear["idp"]),
        idr=float(clear["idr"]),
        recall=float(clear["recall"]),
        precision=float(clear["precision"]),
        false_positives=int(clear["num_false_positives"]),
        misses=int(clear["num_misses"]),
        id_switches=int(clear["num_switches"]),
        fragmentations=int(clear["num_fragmentations"]),
        mostly_tracked=int(clear["mostly_tracked"]),
        partially_tracked=int(clear["partially_tracked"]),
        mostly_lost=int(clear["mostly_lost"]),
        **hota,
    )


def box_iou_xywh(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, 4) and (M, 4) (left, top, width, height) boxes -> (N, M) float64 IoU (0 for empty unions)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, :2] + a[:, None, 2:], b[None, :, :2] + b[None, :, 2:])
    wh = np.clip(bottom_right - top_left, 0.0, None)
    inter = wh[..., 0] * wh[..., 1]
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def _split(gt: MotRecords, pred: MotRecords, frames: range) -> _Sequence:
    gt_order = np.argsort(gt.frame, kind="stable")
    pred_order = np.argsort(pred.frame, kind="stable")
    gt_frame, pred_frame = gt.frame[gt_order], pred.frame[pred_order]
    numbers = np.asarray(frames)
    gt_cut = np.searchsorted(gt_frame, np.append(numbers, numbers[-1] + 1))
    pred_cut = np.searchsorted(pred_frame, np.append(numbers, numbers[-1] + 1))
    seq = _Sequence(list(frames), [], [], [])
    for k in range(len(numbers)):
        g = gt_order[gt_cut[k] : gt_cut[k + 1]]
        p = pred_order[pred_cut[k] : pred_cut[k + 1]]
        seq.gt_ids.append(gt.track_id[g])
        seq.pred_ids.append(pred.track_id[p])
        seq.iou.append(box_iou_xywh(gt.xywh[g], pred.xywh[p]))
    return seq


def _hota(metric_class: type, seq: _Sequence) -> dict[str, float]:
    """TrackEval's HOTA on the sequence (IDs renumbered 0..K-1 as its dataset loaders do)."""
    gt_unique = np.unique(np.concatenate(seq.gt_ids)) if seq.gt_ids else np.zeros(0)
    pred_unique = np.unique(np.concatenate(seq.pred_ids)) if seq.pred_ids else np.zeros(0)
    data = {
        "num_timesteps": len(seq.frames),
        "num_gt_dets": int(sum(len(i) for i in seq.gt_ids)),
        "num_tracker_dets": int(sum(len(i) for i in seq.pred_ids)),
        "num_gt_ids": len(gt_unique),
        "num_tracker_ids": len(pred_unique),
        "gt_ids": [np.searchsorted(gt_unique, ids) for ids in seq.gt_ids],
        "tracker_ids": [np.searchsorted(pred_unique, ids) for ids in seq.pred_ids],
        "similarity_scores": seq.iou,
    }
    res = metric_class(config={"PRINT_CONFIG": False}).eval_sequence(data)
    return {
        "hota": float(np.mean(res["HOTA"])),
        "deta": float(np.mean(res["DetA"])),
        "assa": float(np.mean(res["AssA"])),
        "loca": float(np.mean(res["LocA"])),
    }


def _import(name: str):
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError as exc:
        package = name.split(".")[0]
        raise EdgeimgError(
            f"tracking metrics need {package}, which is not installed: pip install 'edgeimg[eval]'"
        ) from exc
