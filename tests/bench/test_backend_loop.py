"""`python -m edgeimg.bench.backend_loop`: real `edgeimg track` processes per backend, in turns."""

from __future__ import annotations

import json

from edgeimg.bench.backend_loop import main


def test_every_backend_runs_as_a_user_runs_it_and_lands_in_the_json(tmp_path, capsys):
    out = tmp_path / "runs.json"
    args = ["synthetic:frames=12", "--backends", "onnxruntime,opencv", "--rounds", "2"]
    assert main([*args, "--json", str(out)]) == 0
    table = capsys.readouterr().out
    assert "onnxruntime" in table and "opencv" in table and "median FPS" in table
    runs = json.loads(out.read_text())
    assert [(r["backend"], r["round"]) for r in runs] == [
        ("onnxruntime", 1),
        ("opencv", 1),
        ("opencv", 2),  # the order rotates round by round
        ("onnxruntime", 2),
    ]
    assert all(r["frames"] == 12 and r["fps"] > 0 and 0 < r["busy"] <= 1 for r in runs)
    assert all(r["peak_rss_mb"] > 20 for r in runs)  # the child's own, from the OS
    assert all(r["choice"] == "" for r in runs)  # no auto here


def test_auto_says_its_choice_per_round(tmp_path, capsys):
    args = ["synthetic:frames=8", "--backends", "auto", "--rounds", "1", "--video"]
    assert main([*args, "--json", str(tmp_path / "a.json")]) == 0
    (run,) = json.loads((tmp_path / "a.json").read_text())
    assert run["choice"].endswith("(measured now)")  # a cache of its own: measured afresh
    assert "round 1, auto: " in capsys.readouterr().out
    assert run["frames"] == 8 and run["peak_rss_mb"] > 20  # the video written as well


def test_a_backend_that_cannot_run_is_one_line(capsys):
    assert main(["synthetic:frames=4", "--backends", "tvm", "--rounds", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("backend_loop: error: edgeimg track --backend tvm failed: ")
    assert "\n" not in err
