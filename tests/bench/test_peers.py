"""The peers run end to end on tiny real models: every engine a row, or a skip with a reason."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgeimg.bench.peers.__main__ import main as peers_main
from edgeimg.runtime.tasks.detect.mot import read_mot


def test_peers_time_every_engine_with_accuracy_beside_each_row(tiny_models, tmp_path, capsys):
    out = tmp_path / "peers.json"
    argv = [
        "--model",
        str(tiny_models.keras),
        "--onnx",
        str(tiny_models.fp32),
        "--int8",
        str(tiny_models.int8),
    ]
    argv += ["--data", str(tiny_models.data), "--iterations", "3", "--warmup", "1", "--rounds", "1"]
    argv += ["--json", str(out), "--plot", str(tmp_path / "peers.png")]
    assert peers_main(argv) == 0
    assert "x edgeimg best" in capsys.readouterr().out
    rows = {
        (r["engine"], r["precision"], r["note"]): r
        for r in json.loads(out.read_text())["peers"]["rows"]
    }
    engines = {engine for engine, _, _ in rows}
    assert {"keras/tensorflow", "litert", "onnxruntime", "edgeimg runtime", "opencv dnn"} <= engines
    timed = [r for r in rows.values() if "skipped" not in r]
    for r in timed:
        assert r["p50_ms"] > 0 and 0.0 <= r["top-1"] <= 1.0
    # the same FP32 model gives the same answers whatever runs it
    fp32 = {r["top-1"] for r in timed if r["precision"] == "fp32"}
    assert len(fp32) == 1 and fp32.pop() > 0.9
    # edgeimg's best configuration is the reference of the ratios
    assert (
        min(r["x_edgeimg_best"] for r in timed if r["engine"] in ("onnxruntime", "edgeimg runtime"))
        == 1.0
    )
    for r in rows.values():
        if "skipped" in r:
            assert r["skipped"]  # a reason, e.g. the op OpenCV cannot import
    assert (tmp_path / "peers.png").read_bytes()[:4] == b"\x89PNG"


def test_peers_refuse_a_keras_file_without_contract(tmp_path, capsys):
    bad = tmp_path / "plain.keras"
    bad.write_bytes(b"PK\x05\x06" + b"\0" * 18)  # an empty zip archive
    assert peers_main(["--model", str(bad)]) == 2
    assert "edgeimg.json" in capsys.readouterr().err


def test_trackers_compare_on_identical_detections(pets_dir):
    pytest.importorskip("trackers")
    from edgeimg.bench.peers.trackers import TrackedSequence, compare_sequence, trackers_table

    gt = read_mot(pets_dir / "gt" / "gt.txt").frames(601, 630)
    rng = np.random.default_rng(0)
    frames = list(range(601, 631))
    detections = []
    for frame in frames:
        d = gt.detections(frame)
        noisy = d.xyxy + rng.normal(0, 2, d.xyxy.shape).astype(np.float32)
        scores = rng.uniform(0.3, 1.0, len(d)).astype(np.float32)
        detections.append(type(d)(noisy, scores, d.class_id))
    sequence = TrackedSequence(frames, [(f - 1) / 7.0 for f in frames], detections, 7.0)
    rows = compare_sequence(sequence, gt, repeats=2)
    names = [r.name for r in rows]
    assert names[:2] == ["edgeimg ByteTracker", "roboflow trackers ByteTrack"]
    for row in rows[:2]:
        assert row.per_frame.count == 2 * len(frames)
        assert 0.5 < row.metrics["mota"] <= 1.0 and 0.0 < row.metrics["hota"] <= 1.0
    supervision = rows[2]  # supervision >= 0.27 has no ByteTrack: a row with the reason
    assert supervision.metrics is not None or "ByteTrack" in supervision.skipped
    assert "MOTA" in trackers_table(rows)


def test_trackers_compare_defaults_and_tuned_thresholds_side_by_side(pets_dir, tmp_path):
    pytest.importorskip("trackers")
    from edgeimg.bench.peers.trackers import (
        DEFAULTS,
        TrackedSequence,
        compare_sequence,
        tuned_settings,
    )

    config = tmp_path / "tuned.yaml"
    config.write_text("track_thresh: 0.4\nnew_track_thresh: 0.45\nfuse_score: false\n")
    tuned = tuned_settings(config)
    assert tuned.high_conf_det_threshold == 0.35 and tuned.track_activation_threshold == 0.45
    gt = read_mot(pets_dir / "gt" / "gt.txt").frames(601, 615)
    frames = list(range(601, 616))
    detections = [gt.detections(f) for f in frames]
    detections = [
        type(d)(d.xyxy, np.full(len(d), 0.47, np.float32), d.class_id) for d in detections
    ]
    sequence = TrackedSequence(frames, [(f - 1) / 7.0 for f in frames], detections, 7.0)
    rows = [r for r in compare_sequence(sequence, gt, 1, (DEFAULTS, tuned)) if r.metrics]
    assert len(rows) == 4 and "tuned" in rows[2].note and "tuned" in rows[3].note
    # every detection scores 0.47: below the default thresholds, above the tuned ones
    assert rows[0].metrics["mota"] == 0.0 and rows[2].metrics["mota"] > 0.8
