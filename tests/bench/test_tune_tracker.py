"""The tracker tuner: its best setting, written as YAML and given to `edgeimg track`, tracks
the real clip exactly as the tuner scored it; bad input is one line and exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeimg.bench.tracking_metrics import evaluate
from edgeimg.bench.tune_tracker import main as tune_main
from edgeimg.cli.main import main
from edgeimg.runtime.model import bundled_model_path
from edgeimg.runtime.tasks.detect.mot import read_mot
from edgeimg.runtime.tasks.detect.tracking.config import ByteTrackConfig


def test_the_best_setting_scores_the_same_in_edgeimg_track(
    pets_dir: Path, tmp_path: Path, capsys
) -> None:
    model = str(bundled_model_path("detect"))
    yaml_path = tmp_path / "tracker.yaml"
    assert tune_main([model, str(pets_dir), "--frames", "601-650", "-o", str(yaml_path)]) == 0
    table = capsys.readouterr().out.splitlines()
    best_mota = float(table[2].split()[2])
    config = ByteTrackConfig.from_yaml(yaml_path)
    assert (config.track_thresh, config.new_track_thresh) == tuple(
        float(v) for v in table[2].split()[:2]
    )

    mot = tmp_path / "tracks.txt"
    argv = ["track", "--source", str(pets_dir / "vtest.avi"), "--start-frame", "601"]
    assert (
        main([*argv, "--frames", "50", "--tracker-config", str(yaml_path), "--mot", str(mot)]) == 0
    )
    scores = evaluate(read_mot(pets_dir / "gt" / "gt.txt"), read_mot(mot), (601, 650))
    assert scores.mota == pytest.approx(best_mota, abs=5e-4)
    assert scores.mota > 0.7  # the bundled detector on its own scene


def test_a_clip_without_ground_truth_is_one_line_and_exit_2(tmp_path: Path, capsys) -> None:
    (tmp_path / "clip").mkdir()
    out = tmp_path / "t.yaml"
    assert (
        tune_main([str(bundled_model_path("detect")), str(tmp_path / "clip"), "-o", str(out)]) == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"tune_tracker: error: {tmp_path / 'clip'}: expected a MOTChallenge sequence with gt/gt.txt"
    ]
    assert not out.exists()
