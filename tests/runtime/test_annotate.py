"""Annotation: boxes and labels in the track's colour on a copy, trails that follow and forget."""

from __future__ import annotations

import numpy as np
import pytest

from edgeimg.runtime.tasks.detect.annotate import (
    Annotator,
    AnnotatorConfig,
    TrailAnnotator,
    color_for,
    draw_detections,
    labels,
)
from edgeimg.runtime.tasks.detect.detections import Detections


def canvas() -> np.ndarray:
    return np.zeros((120, 160, 3), np.uint8)


def one_track(track_id: int, x: float) -> Detections:
    return Detections([[x, 40, x + 20, 90]], [0.8], [0], [track_id])


def test_colours_are_stable_per_id_and_distinct_between_neighbours():
    assert color_for(5) == color_for(5)
    colours = [color_for(i) for i in range(1, 9)]
    assert len(set(colours)) == 8
    assert all(max(c) == 255 for c in colours)  # bright enough to see on any scene


def test_labels_show_track_class_and_score():
    dets = Detections([[0, 0, 1, 1]] * 3, [0.834, 0.5, 0.25], [0, 1, 0], [7, -1, 12])
    assert labels(dets, ("person", "bag"), AnnotatorConfig()) == [
        "#7 person 0.83",
        "bag 0.50",
        "#12 person 0.25",
    ]
    quiet = AnnotatorConfig(show_score=False, show_class=False)
    assert labels(dets, ("person", "bag"), quiet) == ["#7", "", "#12"]


def test_boxes_are_drawn_on_a_copy_in_the_track_colour():
    image = canvas()
    out = draw_detections(image, one_track(4, 50), ("person",))
    assert not image.any()  # the input frame is untouched
    assert tuple(out[70, 50]) == color_for(4)  # left edge of the box
    assert tuple(out[70, 60]) == (0, 0, 0)  # inside stays clear
    assert out[:40].any()  # a label above the box


def test_untracked_boxes_take_their_class_colour():
    out = draw_detections(canvas(), Detections([[50, 40, 70, 90]], [0.8], [2]))
    assert tuple(out[70, 50]) == color_for(2)


def test_trails_follow_each_track_and_forget_it_after_length_updates():
    trails = TrailAnnotator(length=3)
    for x in (10, 20, 30, 40):
        trails.update(Detections.concatenate([one_track(1, x), one_track(2, x + 60)]))
    points = trails.trails()
    np.testing.assert_array_equal(points[1], [[30, 90], [40, 90], [50, 90]])  # bottom centres
    assert len(points[2]) == 3

    trails.update(one_track(2, 110))
    trails.update(one_track(2, 120))
    assert set(trails.trails()) == {1, 2}
    trails.update(one_track(2, 130))  # track 1 unseen for 3 updates
    assert set(trails.trails()) == {2}

    trails.reset()
    assert trails.trails() == {}


def test_trails_are_drawn_as_lines_in_the_track_colour():
    trails = TrailAnnotator(length=10)
    for x in (10, 40, 70):
        trails.update(one_track(9, x))
    out = trails.draw(canvas())
    assert tuple(out[90, 50]) == color_for(9)  # on the path between the first two points


def test_annotator_draws_trails_and_boxes_and_resets():
    annotator = Annotator(("person",), AnnotatorConfig(trail_length=5))
    for x in (10, 30, 50):
        out = annotator.update(canvas(), one_track(3, x))
    trail = out[88:93, 35].astype(int).max(axis=0)  # the trail of earlier frames (anti-aliased)
    assert np.abs(trail - color_for(3)).max() < 40
    assert not out[100:, :].any()  # nothing below the feet
    annotator.reset()
    assert annotator.trails.trails() == {}


def test_bad_annotator_config_is_refused():
    with pytest.raises(ValueError, match="thickness >= 1"):
        AnnotatorConfig(thickness=0)
