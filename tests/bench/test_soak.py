"""The soak script end to end on a short run: samples, slope, complete outputs, the plot."""

from __future__ import annotations

import json

import pytest

from edgeimg.bench.soak import main, slope_mb_per_10k


def test_a_short_soak_samples_memory_and_checks_its_outputs(tmp_path):
    pytest.importorskip("matplotlib")
    report, plot = tmp_path / "soak.json", tmp_path / "soak.png"
    argv = ["--frames", "40", "--every", "0.05", "--out", str(tmp_path / "out")]
    assert main([*argv, "--json", str(report), "--plot", str(plot)]) == 0
    data = json.loads(report.read_text())
    assert data["frames"] == 40 and data["outputs_complete"] is True
    assert len(data["samples"]) >= 3 and all(s["rss_mb"] > 20 for s in data["samples"])
    assert data["max_tracks"] >= 1  # the scene's people are tracked
    assert plot.read_bytes()[:4] == b"\x89PNG"


def test_the_slope_is_megabytes_per_ten_thousand_frames_after_warm_up():
    samples = [
        (0.0, n, 100.0 + (50.0 if n < 200 else 0.0) + n * 1e-4, 3) for n in range(0, 1001, 100)
    ]
    assert slope_mb_per_10k(samples, warmup=0.2) == pytest.approx(1.0)  # the jump is left out
