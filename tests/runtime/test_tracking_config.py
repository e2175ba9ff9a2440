"""ByteTrackConfig: published defaults, YAML round trip, and errors that name the valid keys."""

from __future__ import annotations

import pytest

from edgeimg.runtime.errors import EdgeimgError
from edgeimg.runtime.tasks.detect.tracking import ByteTrackConfig, OutputBoxes


def test_defaults_are_bytetracks_published_ones():
    c = ByteTrackConfig()
    assert (c.track_thresh, c.low_thresh, c.new_track_thresh) == (0.5, 0.1, 0.6)
    assert (c.match_thresh, c.low_match_thresh, c.unconfirmed_match_thresh) == (0.8, 0.5, 0.7)
    assert (c.track_buffer, c.frame_rate, c.min_hits, c.fuse_score) == (30, 30.0, 2, True)
    assert c.low_score_all_tracks
    assert c.lost_seconds == pytest.approx(1.0)


def test_yaml_round_trip(tmp_path):
    config = ByteTrackConfig(
        track_thresh=0.6, track_buffer=60, frame_rate=15, class_aware=True, output_boxes="filtered"
    )
    path = tmp_path / "tracker.yaml"
    config.to_yaml(path)
    loaded = ByteTrackConfig.from_yaml(path)
    assert loaded == config
    assert loaded.output_boxes is OutputBoxes.FILTERED
    assert loaded.lost_seconds == pytest.approx(2.0)  # 60 frames of 30 fps video


@pytest.mark.parametrize(("fps", "seconds"), [(30, 1.0), (7, 1.0), (10, 1.0), (12.5, 12 / 12.5)])
def test_the_lost_buffer_is_bytetracks_whatever_the_source_rate(fps, seconds):
    # ByteTrack keeps int(frame_rate / 30 * track_buffer) frames at the source's rate.
    assert ByteTrackConfig(frame_rate=fps).lost_seconds == pytest.approx(seconds)


def test_a_partial_file_keeps_the_other_defaults(tmp_path):
    path = tmp_path / "tracker.yaml"
    path.write_text("match_thresh: 0.9\ntrack_buffer: 10\n")
    assert ByteTrackConfig.from_yaml(path) == ByteTrackConfig(match_thresh=0.9, track_buffer=10)
    path.write_text("")
    assert ByteTrackConfig.from_yaml(path) == ByteTrackConfig()


def test_an_unknown_key_is_refused_naming_the_valid_ones(tmp_path):
    path = tmp_path / "tracker.yaml"
    path.write_text("track_threshold: 0.4\n")
    with pytest.raises(EdgeimgError) as err:
        ByteTrackConfig.from_yaml(path)
    message = str(err.value)
    assert "unknown tracker setting(s) track_threshold" in message
    assert "valid: track_thresh, low_thresh, new_track_thresh" in message
    assert str(path) in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("track_buffer: 2.5\n", "track_buffer: expected int, got float 2.5"),
        ("fuse_score: 1\n", "fuse_score: expected bool, got int 1"),
        ("match_thresh: high\n", "match_thresh: expected float, got str 'high'"),
        ("match_thresh: 1.5\n", r"match_thresh: expected a value in \[0, 1\], got 1.5"),
        ("low_thresh: 0.7\n", "expected low_thresh <= track_thresh"),
        ("output_boxes: smooth\n", "expected one of detection, filtered, got 'smooth'"),
        ("- 1\n- 2\n", "expected a mapping of settings, got list"),
        ("a: [\n", "is not valid YAML"),
    ],
)
def test_bad_values_are_refused_with_a_clear_message(tmp_path, text, expected):
    path = tmp_path / "tracker.yaml"
    path.write_text(text)
    with pytest.raises(EdgeimgError, match=expected):
        ByteTrackConfig.from_yaml(path)


def test_a_missing_file_is_refused(tmp_path):
    with pytest.raises(EdgeimgError, match="cannot read tracker config"):
        ByteTrackConfig.from_yaml(tmp_path / "absent.yaml")
