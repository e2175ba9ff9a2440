"""Property tests (hypothesis; issue 15) of the contract parser, the decoders' box geometry, the
MOTChallenge and JSON-lines outputs read back, and the tracker's invariants."""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

from edgeimg.runtime.contract import ContractError, Layout, ModelContract  # noqa: E402
from edgeimg.runtime.errors import EdgeimgError  # noqa: E402
from edgeimg.runtime.frame import Frame  # noqa: E402
from edgeimg.runtime.preprocess import Transform, letterbox, stretch  # noqa: E402
from edgeimg.runtime.sinks import FrameResult, JsonLinesSink  # noqa: E402
from edgeimg.runtime.tasks.detect import Detections  # noqa: E402
from edgeimg.runtime.tasks.detect.centernet import CenterNetConfig, CenterNetDecoder  # noqa: E402
from edgeimg.runtime.tasks.detect.mot import read_mot  # noqa: E402
from edgeimg.runtime.tasks.detect.sinks import MotSink  # noqa: E402
from edgeimg.runtime.tasks.detect.tracking import ByteTrackConfig, ByteTracker  # noqa: E402
from edgeimg.runtime.tasks.detect.yolo import YOLO_DECODERS, YoloConfig, YoloNmsDecoder  # noqa: E402

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**6)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=10,
)
KEYS = ["task", "class_names", "input_size", "channels", "layout", "color_order", "input_dtype",
        "mean", "std", "resize", "pad_value", "decoder", "decoder_params", "output_names"]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    st.fixed_dictionaries(
        {"task": st.sampled_from(["detect", "classify"]) | JSON_VALUES},
        optional={key: JSON_VALUES for key in KEYS if key != "task"},
    )
)
def test_any_contract_is_parsed_or_refused_in_one_line(values: dict) -> None:
    try:
        contract = ModelContract.from_dict(values)
    except ContractError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    # accepted: runnable values only, and the metadata round trip gives the same contract
    assert all(math.isfinite(v) for v in (*contract.mean, *contract.std))
    assert all(v > 0 for v in contract.std)
    if contract.input_size is not None:
        assert all(0 < side <= 16384 for side in contract.input_size)
    assert ModelContract.from_metadata(contract.to_metadata()) == contract
    json.dumps(contract.to_dict())


BOX = st.tuples(
    st.floats(0, 600), st.floats(0, 400), st.floats(4, 120), st.floats(4, 200), st.floats(0, 1)
)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(BOX, max_size=12), min_size=1, max_size=25))
def test_tracker_ids_are_unique_never_reused_and_boxes_finite(frames: list) -> None:
    tracker = ByteTracker()
    highest = 0
    for index, boxes in enumerate(frames):
        xyxy = np.array([[x, y, x + w, y + h] for x, y, w, h, _ in boxes], np.float32)
        scores = np.array([s for *_, s in boxes], np.float32)
        detections = Detections(xyxy.reshape(-1, 4), scores, np.zeros(len(boxes), np.int32))
        out = tracker.update(detections, index / 10)
        ids = out.tracker_id.tolist() if out.tracker_id is not None else []
        assert len(out) <= len(detections)
        assert len(set(ids)) == len(ids) and all(i >= 1 for i in ids)  # unique in a frame
        new = [i for i in ids if i > highest]
        assert sorted(new) == list(range(highest + 1, highest + 1 + len(new)))  # in order
        highest = max([highest, *ids])  # IDs only grow: an ended track's ID never comes back
        assert np.isfinite(out.xyxy).all()
        assert tracker.num_tracks >= len(ids)


# --- decoders: box geometry -----------------------------------------------------------------

SIZE_HW = st.tuples(st.integers(1, 160), st.integers(1, 160))
EPS32 = float(np.finfo(np.float32).eps)


def resize_transform(resize, source_hw: tuple[int, int], input_hw: tuple[int, int]) -> Transform:
    """The Transform of resizing a frame of ``source_hw`` to the model input ``input_hw``."""
    resized, transform = resize(np.zeros((*source_hw, 3), np.uint8), input_hw)
    assert resized.shape[:2] == input_hw
    return transform


@settings(max_examples=200, deadline=None)
@given(
    SIZE_HW,
    SIZE_HW,
    st.sampled_from([letterbox, stretch]),
    st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1)), max_size=6),
)
def test_resize_then_map_back_is_the_identity_inside_the_frame(
    source_hw: tuple[int, int], input_hw: tuple[int, int], resize, fractions: list
) -> None:
    transform = resize_transform(resize, source_hw, input_hw)
    height, width = source_hw
    points = [(0.0, 0.0), (1.0, 1.0), *fractions]  # the frame's corners, then any points in it
    xy = np.array([(fx * width, fy * height) for fx, fy in points], np.float32)
    boxes = np.concatenate([xy, xy[::-1]], axis=1)  # (N, 4): each coordinate maps on its own
    in_input = transform.boxes_to_input(boxes)
    slack = 1e-4 * max(input_hw)  # the frame lands inside the model input (padding around it)
    assert (in_input[:, 0::2] >= -slack).all() and (in_input[:, 0::2] <= input_hw[1] + slack).all()
    assert (in_input[:, 1::2] >= -slack).all() and (in_input[:, 1::2] <= input_hw[0] + slack).all()
    # float32 rounding only: a few ulps of the largest value on the way, in source pixels
    scale = min(transform.scale_x, transform.scale_y)
    tolerance = 8 * EPS32 * (max(source_hw) + max(transform.pad_x, transform.pad_y) / scale + 1)
    np.testing.assert_allclose(transform.boxes_to_source(in_input), boxes, rtol=0, atol=tolerance)


def check_decoded(
    out: Detections, decoder, transform: Transform, probabilities: bool, class_ids: bool = True
) -> None:
    """What the decoders promise: at most max_detections boxes above the threshold, best first,
    finite corners with x1 <= x2, y1 <= y2, clipped to the source frame, class ids of the
    contract's classes (and scores <= 1 when the model's scores are probabilities)."""
    assert isinstance(out, Detections)
    assert len(out) <= decoder.config.max_detections
    height, width = transform.source_hw
    x1, y1, x2, y2 = out.xyxy.T
    assert np.isfinite(out.xyxy).all()
    assert ((x1 >= 0) & (x1 <= x2) & (x2 <= width)).all()
    assert ((y1 >= 0) & (y1 <= y2) & (y2 <= height)).all()
    assert (out.confidence > decoder.config.score_threshold).all()
    assert (np.diff(out.confidence) <= 0).all()  # best first
    if probabilities:
        assert (out.confidence <= 1).all()
    if class_ids:
        assert ((out.class_id >= 0) & (out.class_id < decoder.num_classes)).all()


PROBABILITY = st.floats(0, 1, width=32)
# any float32 (NaN, the infinities, huge), half of them of a plausible size so boxes survive
ANY_FLOAT32 = st.floats(width=32) | st.floats(-16, 80, width=32)


@st.composite
def centernet_case(draw, heat: st.SearchStrategy, distances: st.SearchStrategy) -> tuple:
    """(decoder, its outputs, the transform) for a random grid, config and frame size."""
    stride = draw(st.sampled_from([1, 2, 4, 8]))
    grid_h, grid_w, classes = (
        draw(st.integers(1, 8)),
        draw(st.integers(1, 8)),
        draw(st.integers(1, 3)),
    )
    config = CenterNetConfig(
        stride=stride,
        score_threshold=draw(st.floats(0, 0.9)),
        nms_iou=draw(st.sampled_from([0.0, 0.5, 1.0])),
        max_detections=draw(st.integers(1, 6)),
        peak_kernel=draw(st.sampled_from([1, 3])),
        output_layout=draw(st.sampled_from(list(Layout))),
    )
    heatmap = draw(
        hnp.arrays(np.float32, (1, grid_h, grid_w, classes), elements=heat, fill=st.nothing())
    )
    ltrb = draw(
        hnp.arrays(np.float32, (1, grid_h, grid_w, 4), elements=distances, fill=st.nothing())
    )
    if config.output_layout is Layout.NCHW:
        heatmap = np.ascontiguousarray(heatmap.transpose(0, 3, 1, 2))
        ltrb = np.ascontiguousarray(ltrb.transpose(0, 3, 1, 2))
    input_hw = (grid_h * stride, grid_w * stride)
    resize = draw(st.sampled_from([letterbox, stretch]))
    transform = resize_transform(resize, draw(SIZE_HW), input_hw)
    return CenterNetDecoder(config, classes, input_hw), [heatmap, ltrb], transform


@st.composite
def yolo_case(draw, garbage: bool) -> tuple:
    """(decoder, its outputs, the transform) for yolov8/yolov5/yolo_nms: probabilities in
    [0, 1], boxes around the model input (some inverted or off it), or any float32 at all."""
    classes, anchors = draw(st.integers(1, 3)), draw(st.integers(0, 24) | st.just(24))
    config = YoloConfig(
        score_threshold=draw(st.floats(0, 0.5)),
        nms_iou=draw(st.sampled_from([0.0, 0.45, 1.0])),
        max_detections=draw(st.integers(1, 6)),
    )
    decoder = draw(st.sampled_from(YOLO_DECODERS))(config, classes)
    rows, columns = (anchors if size is None else size for size in decoder.expected())
    pred = draw(
        hnp.arrays(
            np.float32,
            (1, rows, columns),
            elements=ANY_FLOAT32 if garbage else PROBABILITY,
            fill=st.nothing(),
        )
    )
    input_hw = (draw(st.integers(8, 64)), draw(st.integers(8, 64)))
    if not garbage:
        table = pred[0].T if decoder.name == "yolov8" else pred[0]  # (N, columns), a view
        extent = np.array([input_hw[1], input_hw[0]], np.float32)
        table[:, :2] = table[:, :2] * (extent + 16) - 8  # centre or x1, y1: around the input
        table[:, 2:4] *= extent  # width, height (x2, y2: x1 + width, y1 + height) in pixels
        if decoder.name == "yolo_nms":
            table[:, 2:4] += table[:, :2]
            table[:, 5] = np.minimum(np.floor(table[:, 5] * classes), classes - 1)
    transform = resize_transform(
        draw(st.sampled_from([letterbox, stretch])), draw(SIZE_HW), input_hw
    )
    return decoder, [pred], transform


@settings(max_examples=300, deadline=None)
@given(centernet_case(PROBABILITY, st.floats(-2, 12, width=32)))
def test_centernet_boxes_are_finite_in_the_frame_and_at_most_max_detections(case: tuple) -> None:
    decoder, outputs, transform = case
    check_decoded(decoder(outputs, transform), decoder, transform, probabilities=True)


@settings(max_examples=300, deadline=None)
@given(yolo_case(garbage=False))
def test_yolo_boxes_are_finite_in_the_frame_and_at_most_max_detections(case: tuple) -> None:
    decoder, outputs, transform = case
    check_decoded(decoder(outputs, transform), decoder, transform, probabilities=True)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        centernet_case(ANY_FLOAT32, ANY_FLOAT32).map(lambda case: (*case, True)),
        yolo_case(garbage=True).map(lambda case: (*case, not isinstance(case[0], YoloNmsDecoder))),
    )
)
def test_decoders_on_any_float32_outputs_give_valid_boxes_or_a_decoder_error(case: tuple) -> None:
    # Any float32 of the right shapes (NaN, infinities, negative sizes): no exception but a
    # one-line EdgeimgError, and the boxes are still finite and in the frame. Class ids stay in
    # range except for yolo_nms, whose class column is the model's (the record and the
    # annotator name an unknown class by its number).
    decoder, outputs, transform, class_ids_in_range = case
    try:
        with np.errstate(all="ignore"):  # numpy's warnings on inf - inf are not the point here
            out = decoder(outputs, transform)
    except EdgeimgError as exc:
        assert len(str(exc).splitlines()) == 1
        return
    check_decoded(out, decoder, transform, probabilities=False, class_ids=class_ids_in_range)


# --- MOTChallenge and JSON-lines outputs, read back ------------------------------------------

DETECT = ModelContract(task="detect", class_names=("person", "bag"), input_size=(48, 80))
IMAGE = np.zeros((4, 4, 3), np.uint8)
TRACKED_BOX = st.tuples(
    st.floats(-500, 4000), st.floats(-500, 4000), st.floats(0, 800), st.floats(0, 800),
    st.floats(0, 1), st.integers(0, 2), st.integers(-1, 2**40),
)  # fmt: skip
# (1-based frame number, that frame's detections): increasing numbers with gaps; a frame's
# tracker_id is None (untracked) or one ID per box, -1 for "no track"
FRAMES = st.lists(
    st.tuples(st.integers(1, 4), st.lists(TRACKED_BOX, max_size=5), st.booleans()),
    min_size=1,
    max_size=6,
).map(
    lambda items: [
        (sum(gap for gap, _, _ in items[: i + 1]), tracked_detections(boxes, tracked))
        for i, (_, boxes, tracked) in enumerate(items)
    ]
)


def tracked_detections(boxes: list, tracked: bool) -> Detections:
    xyxy = np.array([[x, y, x + w, y + h] for x, y, w, h, *_ in boxes], np.float32)
    return Detections(
        xyxy.reshape(-1, 4),
        np.array([b[4] for b in boxes], np.float32),
        np.array([b[5] for b in boxes], np.int32),
        np.array([b[6] for b in boxes], np.int64) if tracked else None,
    )


def write_frames(sink, frames: list) -> None:
    with sink:
        for number, detections in frames:
            sink.write(FrameResult(Frame(IMAGE, number - 1, (number - 1) / 30), detections))


@settings(max_examples=100, deadline=None)
@given(FRAMES)
def test_mot_sink_then_read_mot_gives_the_same_frames_ids_and_boxes(frames: list) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "tracked.txt"
        write_frames(MotSink(path), frames)
        records = read_mot(path)
    # the sink leaves out tracked boxes without a track (-1) and writes untracked ones as -1
    written = [
        (number, d if d.tracker_id is None else d[d.tracker_id >= 0]) for number, d in frames
    ]
    numbers = [number for number, d in written for _ in range(len(d))]
    ids = [
        i for _, d in written for i in (d.tracker_id if d.tracker_id is not None else [-1] * len(d))
    ]
    xywh = np.concatenate([d.xywh for _, d in written])
    scores = np.concatenate([d.confidence for _, d in written])
    assert records.frame.tolist() == numbers
    assert records.track_id.tolist() == [int(i) for i in ids]
    # MOTChallenge text: left, top, width, height to 2 decimals, confidence to 4
    np.testing.assert_allclose(records.xywh, xywh.reshape(-1, 4), rtol=0, atol=0.005 + 1e-9)
    np.testing.assert_allclose(records.confidence, scores, rtol=0, atol=0.00005 + 1e-12)


@settings(max_examples=100, deadline=None)
@given(FRAMES)
def test_json_lines_sink_read_back_gives_the_same_frames_ids_and_boxes(frames: list) -> None:
    # edgeimg has no JSON-lines reader: each line is one JSON object, read with json.loads
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "tracked.jsonl"
        write_frames(JsonLinesSink(path, DETECT), frames)
        records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [r["frame"] for r in records] == [number for number, _ in frames]  # empty ones too
    for record, (number, detections) in zip(records, frames, strict=True):
        assert record["timestamp"] == round((number - 1) / 30, 6)
        items = record["detections"]
        tracker_id = detections.tracker_id
        assert [item["track_id"] for item in items] == (
            [None] * len(detections)
            if tracker_id is None
            else [int(i) if i >= 0 else None for i in tracker_id]
        )
        assert [item["class_id"] for item in items] == detections.class_id.tolist()
        names = [DETECT.class_names[c] if c < 2 else None for c in detections.class_id.tolist()]
        assert [item["class"] for item in items] == names
        # boxes (x1, y1, x2, y2) to 2 decimals, scores to 4
        boxes = np.array([item["box"] for item in items], np.float64).reshape(-1, 4)
        np.testing.assert_allclose(boxes, detections.xyxy, rtol=0, atol=0.005 + 1e-9)
        scores = [item["score"] for item in items]
        np.testing.assert_allclose(scores, detections.confidence, rtol=0, atol=0.00005 + 1e-12)


MOT_TOKENS = st.sampled_from(
    ["1", "0", "-1", "2.5", "7", "1e3", "1e400", "9e18", "nan", "inf", "-inf", "x", "", "1_0", "+3"]
)
MOT_LINES = st.lists(
    st.builds(str.join, st.sampled_from([",", " ", ", ", "\t"]), st.lists(MOT_TOKENS, max_size=10))
    | st.text(max_size=16),
    max_size=8,
)


@settings(max_examples=300, deadline=None)
@given(MOT_LINES, st.just(b"") | st.binary(max_size=8))
def test_any_mot_file_is_read_or_refused_in_one_line(lines: list, junk: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "gt.txt"
        path.write_bytes("\n".join(lines).encode("utf-8") + junk)
        try:
            records = read_mot(path)
        except EdgeimgError as exc:
            assert len(str(exc).splitlines()) == 1
            return
    assert (records.frame >= 1).all()
    assert len(records.track_id) == len(records.confidence) == len(records.xywh) == len(records)
    assert np.isfinite(records.xywh).all() and np.isfinite(records.confidence).all()


# --- tracker: what each update returns, the lost buffer, reset() ------------------------------

# a small field: boxes overlap from frame to frame, so tracks match, get lost and end
CLASSED_BOX = st.tuples(
    st.floats(0, 200),
    st.floats(0, 150),
    st.floats(8, 120),
    st.floats(8, 160),
    st.floats(0, 1),
    st.integers(0, 1),
)  # fmt: skip
TRACKER_CONFIGS = st.builds(
    ByteTrackConfig,
    min_hits=st.integers(1, 3),
    track_buffer=st.integers(0, 5),
    low_score_all_tracks=st.booleans(),
    fuse_score=st.booleans(),
    class_aware=st.booleans(),
)
TRACKER_FRAMES = st.lists(st.lists(CLASSED_BOX, max_size=8), min_size=1, max_size=12)


def classed_detections(boxes: list) -> Detections:
    xyxy = np.array([[x, y, x + w, y + h] for x, y, w, h, _, _ in boxes], np.float32)
    scores = np.array([b[4] for b in boxes], np.float32)
    return Detections(xyxy.reshape(-1, 4), scores, np.array([b[5] for b in boxes], np.int32))


def track_all(tracker: ByteTracker, frames: list) -> list[Detections]:
    return [tracker.update(classed_detections(b), i / 30) for i, b in enumerate(frames)]


@settings(max_examples=150, deadline=None)
@given(TRACKER_CONFIGS, TRACKER_FRAMES)
def test_tracker_outputs_one_row_per_matched_or_new_confirmed_track(config, frames: list) -> None:
    tracker = ByteTracker(config)
    for index, boxes in enumerate(frames):
        detections = classed_detections(boxes)
        out = tracker.update(detections, index / 30)
        # ByteTracker exposes no matched/new counts: the confirmed tracks whose latest
        # detection is this frame's are the ones matched now or born (and confirmed) now
        updated = (tracker._id >= 0) & (tracker._seen == index / 30)
        assert len(out) == int(updated.sum()) <= len(detections)
        assert sorted(out.tracker_id.tolist()) == sorted(tracker._id[updated].tolist())
        # each output row is a different input detection (boxes as given), in input order
        rows = iter(range(len(detections)))
        for box, score, class_id in zip(out.xyxy, out.confidence, out.class_id, strict=True):
            assert any(
                (detections.xyxy[r] == box).all()
                and detections.confidence[r] == score
                and detections.class_id[r] == class_id
                for r in rows
            )
        assert (out.confidence > config.low_thresh).all()


@settings(max_examples=150, deadline=None)
@given(TRACKER_CONFIGS, TRACKER_FRAMES)
def test_tracks_end_after_the_lost_buffer_and_their_ids_never_return(config, frames: list) -> None:
    tracker = ByteTracker(config)
    outputs = track_all(tracker, frames)
    highest = max((max(o.tracker_id, default=0) for o in outputs), default=0)
    index = len(frames)
    buffer = round(config.lost_seconds * 30)  # frames of 1/30 s
    for _ in range(buffer):  # empty frames: nothing out, and the tracks seen last are kept
        assert len(tracker.update(Detections.empty(), index / 30)) == 0
        index += 1
    assert tracker.num_tracks >= len(outputs[-1])
    assert len(tracker.update(Detections.empty(), index / 30)) == 0  # one frame past the buffer
    assert tracker.num_tracks == 0
    # the busiest frame comes back: its objects start new tracks, under new IDs
    busiest = max(frames, key=len)
    for _ in range(config.min_hits + 1):
        index += 1
        out = tracker.update(classed_detections(busiest), index / 30)
        assert all(i > highest for i in out.tracker_id.tolist())


@settings(max_examples=100, deadline=None)
@given(TRACKER_CONFIGS, TRACKER_FRAMES, TRACKER_FRAMES)
def test_reset_gives_a_tracker_that_behaves_like_a_new_one(
    config, first: list, second: list
) -> None:
    used = ByteTracker(config)
    track_all(used, first)
    used.reset()
    assert used.num_tracks == 0
    again, fresh = track_all(used, second), track_all(ByteTracker(config), second)
    for a, b in zip(again, fresh, strict=True):
        np.testing.assert_array_equal(a.tracker_id, b.tracker_id)
        np.testing.assert_array_equal(a.xyxy, b.xyxy)
        np.testing.assert_array_equal(a.confidence, b.confidence)
        np.testing.assert_array_equal(a.class_id, b.class_id)
