"""`edgeimg bench --pipeline` and the start-up/footprint comparison, on tiny inputs."""

from __future__ import annotations

import json

import pytest

from edgeimg.bench.footprint import compare_footprint, footprint_table
from edgeimg.bench.live import BacklogSource
from edgeimg.cli.main import main
from edgeimg.runtime.sources import open_source


def test_pipeline_reports_stages_startup_and_bounded_age(tiny_detector, pets_dir, tmp_path, capsys):
    out, png = tmp_path / "pipe.json", tmp_path / "age.png"
    argv = ["bench", str(tiny_detector.fp32), "--pipeline", str(pets_dir / "vtest.avi")]
    argv += ["--frames", "12", "--live-frames", "12", "--json", str(out), "--plot", str(png)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "inference" in printed and "frame age" in printed and "naive queue" in printed
    payload = json.loads(out.read_text())
    assert payload["timing"]["frames"] == 12
    assert set(payload["timing"]["stages_ms"]) >= {
        "capture wait",
        "preprocess",
        "inference",
        "track",
    }
    assert 0 < payload["timing"]["inference_share"] < 1
    assert payload["startup_s"]["import_s"] > 0 and payload["rss_mb"] > 0
    newest, naive = payload["live"]
    assert newest["max_backlog"] == 1  # the newest-frame capture holds one frame at most
    assert naive["dropped"] == 0  # the queue keeps everything: its backlog is what grows
    assert newest["frames"] == naive["frames"] == 12
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_pipeline_needs_a_detector(tiny_models, pets_dir, capsys):
    assert main(["bench", str(tiny_models.fp32), "--pipeline", str(pets_dir / "vtest.avi")]) == 2
    assert "expected a detector" in capsys.readouterr().err


def test_backlog_source_delivers_every_frame_in_order(pets_dir):
    with BacklogSource(open_source(str(pets_dir / "vtest.avi")), fps=500.0) as source:
        indices = [source.read().index for _ in range(8)]
    assert indices == list(range(8))


def test_footprint_measures_fresh_processes(tiny_detector, pets_dir):
    rows = compare_footprint(
        tiny_detector.keras,
        tiny_detector.fp32,
        pets_dir,
        frames=3,
        repeats=1,
        contenders=("python", "edgeimg"),
    )
    baseline, edgeimg = rows
    assert edgeimg.import_s > 0 and edgeimg.load_s > 0 and edgeimg.frames == 3
    assert edgeimg.peak_rss_mb > baseline.peak_rss_mb > 0
    assert "peak RSS MB" in footprint_table(rows)


@pytest.mark.slow
def test_footprint_through_tensorflow(tiny_detector, pets_dir):
    (row,) = compare_footprint(
        tiny_detector.keras,
        tiny_detector.fp32,
        pets_dir,
        frames=3,
        repeats=1,
        contenders=("tensorflow",),
    )
    assert row.import_s > 0 and row.peak_rss_mb > 0 and not row.note
