"""ByteTracker stepped frame by frame through hand-made scenes, asserting the IDs it gives.

Each scene is a list of frames; a frame lists (box, score) pairs in a fixed order, so row k of
a frame's output that survives is known to be object k (the output keeps the input order).
"""

from __future__ import annotations

import numpy as np
import pytest

from edgeimg.runtime.errors import EdgeimgError
from edgeimg.runtime.tasks.detect.detections import Detections
from edgeimg.runtime.tasks.detect.tracking import ByteTrackConfig, ByteTracker, OutputBoxes

FPS = 30.0


def box(x: float, y: float, w: float = 40.0, h: float = 80.0) -> list[float]:
    return [x, y, x + w, y + h]


def dets(*items: tuple[list[float], float], class_id: list[int] | None = None) -> Detections:
    if not items:
        return Detections.empty()
    xyxy = np.array([b for b, _ in items], np.float32)
    scores = np.array([s for _, s in items], np.float32)
    classes = np.zeros(len(items), np.int32) if class_id is None else np.array(class_id)
    return Detections(xyxy, scores, classes)


def step(tracker: ByteTracker, frame: int, detections: Detections) -> dict[int, int]:
    """One update at frame ``frame`` (30 fps); returns {row of the input: track ID}."""
    out = tracker.update(detections, frame / FPS)
    rows = [int(np.flatnonzero((detections.xyxy == b).all(1))[0]) for b in out.xyxy]
    return dict(zip(rows, out.tracker_id.tolist(), strict=True))


def test_one_walker_keeps_id_1_from_the_first_frame():
    tracker = ByteTracker()
    for f in range(10):
        assert step(tracker, f, dets((box(100 + 5 * f, 50), 0.9))) == {0: 1}


def test_two_walkers_crossing_keep_their_ids():
    tracker = ByteTracker()
    ids = []
    for f in range(40):
        a = box(100 + 6 * f, 100)  # walks right
        b = box(340 - 6 * f, 110)  # walks left, crosses a around frame 20
        ids.append(step(tracker, f, dets((a, 0.9), (b, 0.85))))
    assert ids[0] == {0: 1, 1: 2}
    assert all(frame == {0: 1, 1: 2} for frame in ids)


def test_occlusion_gap_of_five_frames_is_bridged():
    tracker = ByteTracker()
    for f in range(10):
        assert step(tracker, f, dets((box(100 + 8 * f, 50), 0.9))) == {0: 1}
    for f in range(10, 15):  # hidden: nothing is output, the track is kept as lost
        assert step(tracker, f, dets()) == {}
    assert tracker.num_tracks == 1
    for f in range(15, 20):  # back where constant velocity puts it
        assert step(tracker, f, dets((box(100 + 8 * f, 50), 0.9))) == {0: 1}


def test_a_missed_detection_keeps_the_id():
    tracker = ByteTracker()
    other = box(400, 300)
    for f in range(12):
        walker = (box(50 + 4 * f, 60), 0.8)
        frame = dets((other, 0.9)) if f == 6 else dets((other, 0.9), walker)
        expected = {0: 1} if f == 6 else {0: 1, 1: 2}
        assert step(tracker, f, frame) == expected


def test_a_newcomer_is_confirmed_on_its_second_frame_and_numbered_next():
    tracker = ByteTracker()
    step(tracker, 0, dets((box(0, 0), 0.9)))
    assert step(tracker, 1, dets((box(0, 0), 0.9), (box(200, 200), 0.9))) == {0: 1}
    assert step(tracker, 2, dets((box(0, 0), 0.9), (box(202, 200), 0.9))) == {0: 1, 1: 2}


def test_a_one_frame_false_positive_never_gets_an_id():
    tracker = ByteTracker()
    step(tracker, 0, dets((box(0, 0), 0.9)))
    assert step(tracker, 1, dets((box(0, 0), 0.9), (box(300, 300), 0.95))) == {0: 1}
    assert step(tracker, 2, dets((box(0, 0), 0.9))) == {0: 1}
    assert step(tracker, 3, dets((box(0, 0), 0.9), (box(500, 100), 0.9))) == {0: 1}
    assert step(tracker, 4, dets((box(0, 0), 0.9), (box(500, 100), 0.9))) == {0: 1, 1: 2}


def test_a_track_dies_after_the_buffer_and_a_return_gets_a_new_id():
    config = ByteTrackConfig(track_buffer=30)  # 30 frames at 30 fps: one second
    tracker = ByteTracker(config)
    for f in range(5):
        assert step(tracker, f, dets((box(100, 100), 0.9))) == {0: 1}
    # Unseen for exactly the buffer (frames 5..34): still kept as lost.
    for f in range(5, 35):
        step(tracker, f, dets())
    assert tracker.num_tracks == 1
    step(tracker, 35, dets())  # 31 frames unseen: removed
    assert tracker.num_tracks == 0
    step(tracker, 36, dets((box(100, 100), 0.9)))
    assert step(tracker, 37, dets((box(100, 100), 0.9))) == {0: 2}


def test_a_low_score_detection_keeps_a_track_alive_in_stage_two():
    tracker = ByteTracker()
    for f in range(5):
        step(tracker, f, dets((box(100 + 5 * f, 50), 0.9)))
    for f in range(5, 9):  # partly occluded: the detector is unsure (0.1 < 0.3 <= 0.5)
        assert step(tracker, f, dets((box(100 + 5 * f, 50), 0.3))) == {0: 1}
    assert step(tracker, 9, dets((box(145, 50), 0.9))) == {0: 1}


def test_by_default_a_low_score_detection_also_revives_a_lost_track():
    def run(config: ByteTrackConfig) -> dict[int, int]:
        tracker = ByteTracker(config)
        for f in range(5):
            step(tracker, f, dets((box(100 + 5 * f, 50), 0.9)))
        step(tracker, 5, dets())  # missed: the track is lost
        return step(tracker, 6, dets((box(130, 50), 0.3)))

    assert run(ByteTrackConfig()) == {0: 1}
    # ByteTrack's reference code offers low-score boxes only to tracks seen on the last frame.
    assert run(ByteTrackConfig(low_score_all_tracks=False)) == {}


def test_by_default_a_low_score_detection_confirms_a_newborn():
    def run(config: ByteTrackConfig) -> dict[int, int]:
        tracker = ByteTracker(config)
        step(tracker, 0, dets())
        step(tracker, 1, dets((box(100, 50), 0.9)))
        return step(tracker, 2, dets((box(102, 50), 0.4)))

    assert run(ByteTrackConfig()) == {0: 1}
    assert run(ByteTrackConfig(low_score_all_tracks=False)) == {}


def test_fuse_score_lets_a_confident_box_win_a_near_tie():
    def run(fuse: bool) -> dict[int, int]:
        tracker = ByteTracker(ByteTrackConfig(fuse_score=fuse))
        step(tracker, 0, dets((box(100, 50), 0.9)))
        # Both overlap the track; the right one a little more, but the detector doubts it.
        return step(tracker, 1, dets((box(92, 50), 0.95), (box(107, 50), 0.55)))

    assert run(True) == {0: 1}
    assert run(False) == {1: 1}


def test_low_score_detections_never_start_tracks():
    tracker = ByteTracker()
    for f in range(5):
        assert step(tracker, f, dets((box(100, 50), 0.4))) == {}
    assert tracker.num_tracks == 0


def test_scores_at_or_below_low_thresh_are_ignored():
    tracker = ByteTracker()
    for f in range(5):
        step(tracker, f, dets((box(100 + 5 * f, 50), 0.9)))
    assert step(tracker, 5, dets((box(125, 50), 0.05))) == {}
    assert step(tracker, 6, dets((box(130, 50), 0.9))) == {0: 1}


def test_dropped_frames_with_a_timestamp_jump_still_match():
    def run(timestamps_after_gap: float) -> dict[int, int]:
        tracker = ByteTracker()
        for f in range(10):
            tracker.update(dets((box(100 + 10 * f, 50), 0.9)), f / FPS)
        # Frames 10..15 were dropped: the walker is 60 px further than one step would put it.
        return step_at(tracker, timestamps_after_gap, dets((box(100 + 10 * 16, 50), 0.9)))

    def step_at(tracker: ByteTracker, t: float, d: Detections) -> dict[int, int]:
        out = tracker.update(d, t)
        return dict(enumerate(out.tracker_id.tolist()))

    assert run(16 / FPS) == {0: 1}  # the real capture time: prediction lands on the box
    assert run(10 / FPS) == {}  # the same frame stamped as the next one: lost, a newborn


def test_the_motion_model_runs_on_the_clock_whatever_the_frame_rate_setting():
    # A 7 fps video: the walker moves 20 px a frame. The source's rate in the config changes
    # nothing but the buffer; the timestamps alone set the motion model's steps.
    for fps in (7.0, 30.0):
        tracker = ByteTracker(ByteTrackConfig(frame_rate=fps))
        for f in range(8):
            out = tracker.update(dets((box(100 + 20 * f, 50), 0.9)), f / 7.0)
            assert out.tracker_id.tolist() == [1]
        tracker.update(dets(), 8 / 7.0)  # missed: the prediction keeps walking
        out = tracker.update(dets((box(100 + 20 * 9, 50), 0.9)), 9 / 7.0)
        assert out.tracker_id.tolist() == [1]


def test_a_lost_track_and_a_younger_one_on_the_same_spot_keep_the_older():
    tracker = ByteTracker()
    a = box(103, 50)  # stands still from frame 0
    for f in range(5):
        assert step(tracker, f, dets((a, 0.9))) == {0: 1}
    for f in range(5, 10):  # b walks up to a
        assert step(tracker, f, dets((a, 0.9), (box(80 + 4 * (f - 5), 50), 0.9))) == (
            {0: 1} if f == 5 else {0: 1, 1: 2}
        )
    # a is not detected; b's box (IoU 0.86 with a's) goes to b, and a is lost on that spot:
    # a duplicate pair, and b, the younger, is dropped.
    assert step(tracker, 10, dets((box(100, 50), 0.9))) == {}
    assert tracker.num_tracks == 1
    assert step(tracker, 11, dets((box(103, 50), 0.9))) == {0: 1}


def test_update_returns_a_new_value_and_leaves_its_input_untouched():
    tracker = ByteTracker()
    step(tracker, 0, dets((box(0, 0), 0.9)))
    frame = Detections(
        np.array([box(2, 0), box(300, 0)], np.float32),
        np.array([0.9, 0.2], np.float32),
        np.array([0, 0], np.int32),
        data={"feature": np.array([[1.0], [2.0]])},
    )
    before = (frame.xyxy.copy(), frame.confidence.copy(), frame.class_id.copy())
    out = tracker.update(frame, 1 / FPS)
    assert frame.tracker_id is None
    np.testing.assert_array_equal(frame.xyxy, before[0])
    np.testing.assert_array_equal(frame.confidence, before[1])
    np.testing.assert_array_equal(frame.class_id, before[2])
    assert out.tracker_id.tolist() == [1]
    assert out.data["feature"].tolist() == [[1.0]]
    out.xyxy[:] = -1
    np.testing.assert_array_equal(frame.xyxy, before[0])


def test_two_trackers_number_independently_and_reset_restarts_ids():
    first, second = ByteTracker(), ByteTracker()
    for f in range(3):
        step(first, f, dets((box(0, 0), 0.9), (box(200, 0), 0.9)))
    assert step(second, 0, dets((box(50, 50), 0.9))) == {0: 1}
    first.reset()
    assert first.num_tracks == 0
    assert step(first, 0, dets((box(400, 400), 0.9))) == {0: 1}


def test_class_aware_tracking_never_hands_a_track_to_another_class():
    tracker = ByteTracker(ByteTrackConfig(class_aware=True))
    step(tracker, 0, dets((box(0, 0), 0.9), class_id=[0]))
    out = tracker.update(dets((box(1, 0), 0.9), class_id=[1]), 1 / FPS)
    assert len(out) == 0  # a class-1 newborn, not track 1
    blind = ByteTracker(ByteTrackConfig(class_aware=False))
    step(blind, 0, dets((box(0, 0), 0.9), class_id=[0]))
    assert blind.update(dets((box(1, 0), 0.9), class_id=[1]), 1 / FPS).tracker_id.tolist() == [1]


def test_filtered_output_boxes_come_from_the_kalman_filter():
    tracker = ByteTracker(ByteTrackConfig(output_boxes=OutputBoxes.FILTERED))
    for f in range(5):
        tracker.update(dets((box(100 + 5 * f, 50), 0.9)), f / FPS)
    noisy = box(125 + 3, 50 - 2)
    out = tracker.update(dets((noisy, 0.9)), 5 / FPS)
    assert out.tracker_id.tolist() == [1]
    assert not np.allclose(out.xyxy[0], noisy)
    np.testing.assert_allclose(out.xyxy[0], box(125, 50), atol=3.0)


def test_empty_frames_and_an_empty_start_are_fine():
    tracker = ByteTracker()
    out = tracker.update(Detections.empty(), 0.0)
    assert len(out) == 0 and out.tracker_id is not None
    step(tracker, 1, dets((box(0, 0), 0.9)))
    assert step(tracker, 2, dets((box(0, 0), 0.9))) == {0: 1}


@pytest.mark.parametrize("timestamp", [float("nan"), float("inf")])
def test_a_non_finite_timestamp_is_refused(timestamp):
    with pytest.raises(EdgeimgError, match="finite"):
        ByteTracker().update(Detections.empty(), timestamp)


def test_a_timestamp_going_backwards_is_refused():
    tracker = ByteTracker()
    tracker.update(Detections.empty(), 2.0)
    tracker.update(Detections.empty(), 2.0)  # a repeat is allowed: no time passes
    with pytest.raises(EdgeimgError, match=r"expected a time >= the previous 2\.0, got 1\.0"):
        tracker.update(Detections.empty(), 1.0)
