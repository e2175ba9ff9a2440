"""ByteTrack (Zhang et al., ECCV 2022), written for edgeimg with every track in flat arrays.

Each ``update`` runs ByteTrack's steps on all tracks at once (one Kalman predict, one IoU matrix
shared by every association stage, one assignment per stage, one Kalman update), with no Python
object per track:

1. predict every track to the frame's timestamp (the time step comes from the timestamps, so
   dropped frames or a variable frame rate keep the motion right);
2. high-score detections vs all confirmed tracks, tracked and lost (IoU, optionally score-fused);
3. low-score detections vs the confirmed tracks left (by default lost ones too; ByteTrack's
   reference code only offers them to tracks matched on the previous frame); tracks left
   unmatched become *lost*;
4. unconfirmed (newborn) tracks vs the high detections left, then (by default) vs the low ones
   left; unmatched newborns are dropped;
5. high detections still left with ``score >= new_track_thresh`` start new tracks;
6. lost tracks older than the buffer are removed, and a tracked/lost pair that overlaps is
   resolved in favour of the longer-lived track.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from edgeimg.runtime.contract import ModelContract
from edgeimg.runtime.errors import EdgeimgError
from edgeimg.runtime.tasks.detect.detections import Detections
from edgeimg.runtime.tasks.detect.tracking import kalman
from edgeimg.runtime.tasks.detect.tracking.assignment import linear_assignment, pairwise_iou
from edgeimg.runtime.tasks.detect.tracking.config import NOMINAL_FPS, ByteTrackConfig, OutputBoxes

# Lost tracks are removed when unseen for longer than the buffer; this slack keeps a track that
# is unseen for exactly the buffer (timestamps computed as index / fps) from rounding out early.
_TIME_SLACK = 1e-6
_NONE = np.zeros(0, np.int64)


def _nonzero(mask: np.ndarray) -> np.ndarray:
    """Indices where a 1-D boolean mask is True (``np.flatnonzero`` without its overhead)."""
    return mask.nonzero()[0]


class ByteTracker:
    """Multi-object tracker: ``update(detections, timestamp)`` -> detections with track IDs.

    IDs are positive, unique within this tracker instance and given in order of confirmation;
    ``reset()`` forgets every track and restarts them at 1. Not thread-safe: use one tracker
    per video stream.
    """

    def __init__(self, config: ByteTrackConfig | None = None) -> None:
        self.config = config if config is not None else ByteTrackConfig()
        self.reset()

    @classmethod
    def from_contract(
        cls, contract: ModelContract, overrides: Mapping[str, Any] | None = None
    ) -> ByteTracker:
        """A tracker with the settings tuned for this model (the contract's
        ``task_params.tracker``), each key of ``overrides`` replacing the model's value.

        ``ByteTracker()`` alone uses ByteTrack's published defaults, which suit a model whose
        scores are calibrated like YOLOX's; edgeimg's bundled detector needs its tuned ones.
        """
        tuned = dict(contract.task_params.get("tracker", {}))
        return cls(ByteTrackConfig.from_dict({**tuned, **(overrides or {})}))

    def reset(self) -> None:
        """Forget every track and timestamp; the next ID is 1 again."""
        self._next_id = 1
        self._frames = 0
        self._last_time: float | None = None
        # Per-track arrays, one row per track (T rows):
        self._mean = np.zeros((0, 8))  # Kalman state (cx, cy, a, h, vcx, vcy, va, vh)
        self._cov = np.zeros((0, 8, 8))
        self._id = np.zeros(0, np.int64)  # -1 until the track is confirmed
        self._lost = np.zeros(0, bool)  # unmatched on the latest frame
        self._hits = np.zeros(0, np.int64)  # consecutive matched frames (confirms newborns)
        self._born = np.zeros(0)  # timestamp of the first detection
        self._seen = np.zeros(0)  # timestamp of the latest matched detection
        self._class = np.zeros(0, np.int32)  # class of the first detection

    @property
    def num_tracks(self) -> int:
        """Tracks held now: tracked, lost and unconfirmed."""
        return len(self._id)

    def update(self, detections: Detections, timestamp: float) -> Detections:
        """Associate one frame's detections with the tracks.

        detections: the frame's detections (any scores; those <= ``low_thresh`` are ignored).
        timestamp: the frame's capture time in seconds; must not decrease between calls.

        Returns a new ``Detections`` holding the rows of ``detections`` that belong to a
        confirmed track, in their input order, with ``tracker_id`` set (boxes replaced by the
        filtered ones with ``output_boxes = "filtered"``). The input is not modified.
        """
        cfg = self.config
        dt = self._time_step(float(timestamp))
        self._predict(dt)
        scores = detections.confidence
        high = _nonzero(scores > cfg.track_thresh)
        low = _nonzero((scores > cfg.low_thresh) & (scores <= cfg.track_thresh))
        iou, fused = self._similarity(detections)
        confirmed = self._id >= 0

        def associate(
            tracks: np.ndarray, dets: np.ndarray, threshold: float, fuse: bool
        ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
            """(matched tracks, their detections, unmatched tracks, unmatched detections)."""
            if len(tracks) == 0 or len(dets) == 0:
                return _NONE, _NONE, tracks, dets
            sim = fused if fuse else iou
            cost = 1.0 - sim[tracks][:, dets]
            matches, free_tracks, free_dets = linear_assignment(cost, threshold)
            return tracks[matches[:, 0]], dets[matches[:, 1]], tracks[free_tracks], dets[free_dets]

        # Stage 1: high detections vs confirmed tracks, tracked and lost.
        pool = _nonzero(confirmed)
        t1, d1, pool_left, high_left = associate(pool, high, cfg.match_thresh, True)
        # Stage 2: low detections vs the confirmed tracks left (with low_score_all_tracks False,
        # only those tracked on the previous frame); the unmatched ones are lost.
        if not cfg.low_score_all_tracks:
            pool_left = pool_left[~self._lost[pool_left]]
        t2, d2, now_lost, low_left = associate(pool_left, low, cfg.low_match_thresh, False)
        # Stage 3: newborn tracks vs the high detections left (then, with low_score_all_tracks,
        # vs the low ones left); unmatched newborns die.
        newborn = _nonzero(~confirmed)
        t3, d3, dead, high_left = associate(newborn, high_left, cfg.unconfirmed_match_thresh, True)
        if cfg.low_score_all_tracks:
            t4, d4, dead, _ = associate(dead, low_left, cfg.low_match_thresh, False)
            t3, d3 = np.concatenate([t3, t4]), np.concatenate([d3, d4])

        matched_tracks = np.concatenate([t1, t2, t3])
        matched_dets = np.concatenate([d1, d2, d3])
        det_xyah = kalman.xyxy_to_xyah(detections.xyxy)
        self._correct(matched_tracks, det_xyah[matched_dets], timestamp)
        self._lost[now_lost] = True

        keep = self._lost & (timestamp - self._seen > cfg.lost_seconds + _TIME_SLACK)
        np.logical_not(keep, out=keep)
        keep[dead] = False
        births = high_left[scores[high_left] >= cfg.new_track_thresh]
        births = self._drop_duplicates(iou, keep, matched_tracks, matched_dets, births)
        order = np.argsort(matched_dets, kind="stable")
        self._confirm(matched_tracks[order][keep[matched_tracks[order]]])
        output_track = np.full(len(detections), -1, np.int64)
        output_track[matched_dets] = matched_tracks
        output_track = self._compact(keep, output_track)
        if len(births):
            self._add(det_xyah[births], detections.class_id[births], timestamp)
            output_track[births] = np.arange(self.num_tracks - len(births), self.num_tracks)
            self._confirm(output_track[births])
        self._frames += 1
        return self._output(detections, output_track)

    # --- steps -------------------------------------------------------------------------------

    def _time_step(self, timestamp: float) -> float:
        """Elapsed time since the previous frame in periods of 1/30 s (1.0 on the first)."""
        if not math.isfinite(timestamp):
            raise EdgeimgError(
                f"tracker timestamp: expected a finite time in seconds, got {timestamp}"
            )
        last = self._last_time
        if last is not None and timestamp < last:
            raise EdgeimgError(
                f"tracker timestamp: expected a time >= the previous {last}, got {timestamp} "
                "(pass capture times in seconds, or reset() between videos)"
            )
        self._last_time = timestamp
        return 1.0 if last is None else (timestamp - last) * NOMINAL_FPS

    def _similarity(self, detections: Detections) -> tuple[np.ndarray, np.ndarray]:
        """(T, D) IoU of predicted track boxes and detections, and IoU x score (ByteTrack's
        fuse_score, or the same IoU without it); -1 for pairs of different classes when
        class-aware, so they never match."""
        iou = pairwise_iou(kalman.xyah_to_xyxy(self._mean), detections.xyxy)
        if self.config.class_aware:
            iou[self._class[:, None] != detections.class_id[None, :]] = -1.0
        fused = iou * detections.confidence[None, :] if self.config.fuse_score else iou
        return iou, fused

    def _predict(self, dt: float) -> None:
        # As in ByteTrack, a lost track's height stops changing while it is unseen.
        self._mean[self._lost, 7] = 0.0
        self._mean, self._cov = kalman.predict(self._mean, self._cov, dt)

    def _correct(self, tracks: np.ndarray, measurement: np.ndarray, timestamp: float) -> None:
        mean, cov = kalman.update(self._mean[tracks], self._cov[tracks], measurement)
        self._mean[tracks] = mean
        self._cov[tracks] = cov
        self._lost[tracks] = False
        self._seen[tracks] = timestamp
        self._hits[tracks] += 1

    def _confirm(self, tracks: np.ndarray) -> None:
        """Give IDs, in the order given, to the unconfirmed ``tracks`` with enough hits.

        On the first frame (after construction or ``reset()``) every new track is confirmed at
        once, as in ByteTrack, so the first frame has output.
        """
        ready = self._id[tracks] < 0
        if self._frames > 0:
            ready &= self._hits[tracks] >= self.config.min_hits
        ready = tracks[ready]
        self._id[ready] = np.arange(self._next_id, self._next_id + len(ready))
        self._next_id += len(ready)

    def _add(self, xyah: np.ndarray, class_id: np.ndarray, timestamp: float) -> None:
        mean, cov = kalman.initiate(xyah)
        n = len(mean)
        self._mean = np.concatenate([self._mean, mean])
        self._cov = np.concatenate([self._cov, cov])
        self._id = np.concatenate([self._id, np.full(n, -1, np.int64)])
        self._lost = np.concatenate([self._lost, np.zeros(n, bool)])
        self._hits = np.concatenate([self._hits, np.ones(n, np.int64)])
        self._born = np.concatenate([self._born, np.full(n, timestamp)])
        self._seen = np.concatenate([self._seen, np.full(n, timestamp)])
        self._class = np.concatenate([self._class, np.asarray(class_id, np.int32)])

    def _compact(self, keep: np.ndarray, output_track: np.ndarray) -> np.ndarray:
        """Drop the tracks where ``keep`` is False; returns ``output_track`` renumbered (-1 kept)."""
        if keep.all():
            return output_track
        for name in ("_mean", "_cov", "_id", "_lost", "_hits", "_born", "_seen", "_class"):
            setattr(self, name, getattr(self, name)[keep])
        new_index = np.cumsum(keep) - 1
        new_index[~keep] = -1
        remapped = np.full_like(output_track, -1)
        valid = output_track >= 0
        remapped[valid] = new_index[output_track[valid]]
        return remapped

    def _drop_duplicates(
        self,
        iou: np.ndarray,
        keep: np.ndarray,
        matched_tracks: np.ndarray,
        matched_dets: np.ndarray,
        births: np.ndarray,
    ) -> np.ndarray:
        """Resolve lost tracks that overlap a track seen on this frame (ByteTrack's
        ``remove_duplicate_stracks``): the younger of the two goes.

        iou: (T, D) IoU of the tracks' predicted boxes with the detections; a lost track's box
        is still its prediction, and a track seen on this frame is judged by its detection's
        box. Clears ``keep`` (T,) for the lost or matched tracks that go; returns the births
        (detection indices) that stay.
        """
        lost = _nonzero(self._lost & keep)
        if len(lost) == 0 or len(matched_dets) + len(births) == 0:
            return births
        seen_dets = np.concatenate([matched_dets, births])
        rows, cols = (iou[lost][:, seen_dets] > self.config.duplicate_iou).nonzero()
        if len(rows) == 0:
            return births
        age = self._seen - self._born
        lost_age = age[lost[rows]]
        is_birth = cols >= len(matched_dets)
        seen_age = np.zeros(len(cols))
        seen_age[~is_birth] = age[matched_tracks[cols[~is_birth]]]
        seen_older = seen_age > lost_age
        keep[lost[rows[seen_older]]] = False
        keep[matched_tracks[cols[~seen_older & ~is_birth]]] = False
        dropped = seen_dets[cols[~seen_older & is_birth]]
        return births[~np.isin(births, dropped)]

    def _output(self, detections: Detections, output_track: np.ndarray) -> Detections:
        rows = _nonzero(output_track >= 0)
        tracks = output_track[rows]
        ids = self._id[tracks]
        shown = ids >= 0
        rows, tracks, ids = rows[shown], tracks[shown], ids[shown]
        if self.config.output_boxes is OutputBoxes.FILTERED:
            xyxy = kalman.xyah_to_xyxy(self._mean[tracks])
        else:
            xyxy = detections.xyxy[rows]
        return Detections(
            xyxy,
            detections.confidence[rows],
            detections.class_id[rows],
            ids,
            {key: value[rows] for key, value in detections.data.items()},
        )
