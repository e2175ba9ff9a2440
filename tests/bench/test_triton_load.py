"""The Triton load test's pieces: pooled percentiles, the process-tree CPU count, and a short
real run of the local setup (two stream processes replaying PETS live)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from edgeimg.bench.triton_load import main, markdown, summarise, tree_cpu_seconds


def test_frame_ages_are_pooled_over_every_stream():
    records = [
        {"frames": 20, "seconds": 2.0, "dropped": 1, "ages_ms": [10.0] * 19 + [100.0]},
        {"frames": 10, "seconds": 2.0, "dropped": 3, "ages_ms": [30.0] * 10},
    ]
    row = summarise("local", records, cpu=50.0, ours=40.0, failed=1)
    assert (row.streams, row.fps_total, row.fps_per_stream, row.dropped) == (3, 15.0, 5.0, 4)
    assert row.p50_ms == 10.0  # 19 of the 29 ages are 10 ms
    assert 30.0 < row.p99_ms < 100.0
    assert "| local | 3 (1 failed) | 15.0 | 5.0 | 4 | 10.0 |" in markdown([row])


def test_the_cpu_of_a_process_tree_counts_its_busy_grandchild():
    """(Processes alive at both readings: the streams and the server are, through a window.)"""
    spin = "import time; t = time.monotonic()\nwhile time.monotonic() - t < 10: pass"
    child = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {spin!r}])"
    parent = subprocess.Popen([sys.executable, "-c", child], start_new_session=True)
    try:
        time.sleep(0.5)
        before = tree_cpu_seconds([parent.pid])
        time.sleep(1.0)
        after = tree_cpu_seconds([parent.pid])
    finally:
        os.killpg(parent.pid, signal.SIGKILL)
        parent.wait(timeout=30)
    assert after - before > 0.3  # the grandchild spins (on a busy 2-core machine: > 30 %)


def test_a_short_local_run_reports_every_stream(pets_dir, tmp_path):
    report = tmp_path / "load.json"
    argv = ["--video", str(pets_dir / "vtest.avi"), "--streams", "2", "--seconds", "2"]
    assert main([*argv, "--setups", "local", "--json", str(report)]) == 0
    data = json.loads(report.read_text())
    (row,) = data["rows"]
    assert row["setup"] == "local" and row["streams"] == 2 and row["failed"] == 0
    # PETS replays at 10 fps: two streams on a free machine keep up
    assert row["fps_total"] == pytest.approx(20.0, rel=0.3)
    assert 0 < row["p50_ms"] <= row["p99_ms"] < 2000
    assert 0 < row["ours_percent"] <= row["cpu_percent"] + 5
    assert data["machine"]["cores"] >= 1
