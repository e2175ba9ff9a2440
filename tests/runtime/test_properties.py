"""Property tests (hypothesis; issue 15) of the contract parser and the tracker's invariants."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from edgeimg.runtime.contract import ContractError, ModelContract  # noqa: E402
from edgeimg.runtime.tasks.detect import Detections  # noqa: E402
from edgeimg.runtime.tasks.detect.tracking import ByteTracker  # noqa: E402

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
