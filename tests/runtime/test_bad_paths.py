"""Outputs that would destroy an input or each other are refused up front (issue 15), and
the other checks that must come before a run: each ends in one line, exit 2, nothing written."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from edgeimg.cli.main import main
from edgeimg.runtime.atomic import check_distinct
from edgeimg.runtime.errors import EdgeimgError


def last_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert err and "Traceback" not in "\n".join(err)
    return err[-1]


def test_output_equal_to_input_is_refused(tmp_path: Path) -> None:
    video = tmp_path / "in.mp4"
    video.write_bytes(b"x")
    with pytest.raises(EdgeimgError, match=r"--output .*in\.mp4: is the input --source"):
        check_distinct([("--output", video)], [("--source", str(video))])


def test_relative_symlinked_and_hard_linked_paths_are_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    original = tmp_path / "in.mp4"
    original.write_bytes(b"x")
    (tmp_path / "link.mp4").symlink_to(original)
    os.link(original, tmp_path / "hard.mp4")
    for alias in ("in.mp4", "./sub/../in.mp4", "link.mp4", "hard.mp4", str(original)):
        with pytest.raises(EdgeimgError):
            check_distinct([("--output", alias)], [("--source", "in.mp4")])


def test_distinct_paths_and_missing_options_pass(tmp_path: Path) -> None:
    check_distinct(
        [("--output", tmp_path / "a.mp4"), ("--jsonl", None), ("--mot", tmp_path / "a.txt")],
        [("--source", str(tmp_path / "in.mp4")), ("--camera", 0), ("--model", None)],
    )


def test_two_outputs_on_one_path_are_refused(tmp_path: Path) -> None:
    with pytest.raises(EdgeimgError, match=r"--jsonl .* and --mot .* name the same file"):
        check_distinct([("--jsonl", tmp_path / "o.txt"), ("--mot", tmp_path / "o.txt")])


def test_track_output_equal_to_source_keeps_the_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    video = tmp_path / "in.mp4"
    video.write_bytes(b"not replaced")
    assert main(["track", "--source", str(video), "--output", str(video)]) == 2
    assert "writing it would destroy the input" in last_error(capsys)
    assert video.read_bytes() == b"not replaced"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


def test_track_jsonl_and_mot_on_one_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "o.txt"
    assert main(["track", "--jsonl", str(out), "--mot", str(out), "--frames", "1"]) == 2
    assert "name the same file" in last_error(capsys)
    assert list(tmp_path.iterdir()) == []


def test_export_onto_its_own_model_keeps_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tmp_path / "in.keras"
    model.write_bytes(b"trained weights")
    assert main(["export", str(model), "-o", str(model)]) == 2
    assert "is the input MODEL" in last_error(capsys)
    assert model.read_bytes() == b"trained weights"


def test_quantize_onto_its_own_model_keeps_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tmp_path / "m.onnx"
    model.write_bytes(b"fp32")
    assert main(["quantize", str(model), "--calib", str(tmp_path), "-o", str(model)]) == 2
    assert "is the input MODEL" in last_error(capsys)
    assert model.read_bytes() == b"fp32"


def test_evaluate_json_onto_the_prediction(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pred = tmp_path / "pred.txt"
    pred.write_text("1,1,0,0,1,1,1,-1,-1,-1\n")
    assert main(["evaluate", "--gt", str(pred), "--pred", str(pred), "--json", str(pred)]) == 2
    assert "is the input" in last_error(capsys)
    assert pred.read_text() == "1,1,0,0,1,1,1,-1,-1,-1\n"


# -- checks that come before the run -------------------------------------------------------------
def test_timing_json_in_a_missing_folder_is_refused_before_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "o.jsonl"
    timing = tmp_path / "nodir" / "t.json"
    assert main(["track", "--frames", "2", "--jsonl", str(out), "--timing-json", str(timing)]) == 2
    line = last_error(capsys)
    assert line.startswith("edgeimg track: error: --timing-json") and "does not exist" in line
    assert list(tmp_path.iterdir()) == []  # the run never started: no JSON lines either


@pytest.mark.parametrize("spec", ["", "   "])
def test_an_empty_source_is_refused_not_the_demo(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], spec: str
) -> None:
    out = tmp_path / "o.jsonl"
    assert main(["track", "--source", spec, "--frames", "2", "--jsonl", str(out)]) == 2
    assert "--source: empty" in last_error(capsys)
    assert not out.exists()


def test_open_source_refuses_an_empty_spec() -> None:
    from edgeimg.runtime.sources import open_source

    with pytest.raises(EdgeimgError, match="source: empty"):
        open_source("")


def test_a_250_character_output_name_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = tmp_path / ("a" * 244 + ".jsonl")  # 250 characters: its temporary name is longer
    assert main(["track", "--frames", "2", "--jsonl", str(name)]) == 2
    err = capsys.readouterr().err
    assert "file name too long" in err.strip().splitlines()[-1] and "internal error" not in err
    assert list(tmp_path.iterdir()) == []


def test_malformed_tracker_yaml_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("track_thresh: [0.5, 0.6\nmatch_thresh: {\n")
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    for config, expected in ((bad, "is not valid YAML: line 2, column"), (binary, "is not text")):
        out = tmp_path / "o.jsonl"
        assert (
            main(["track", "--frames", "1", "--jsonl", str(out), "--tracker-config", str(config)])
            == 2
        )
        err = capsys.readouterr().err.strip().splitlines()
        assert expected in err[-1] and "^" not in "\n".join(err)
        assert not any(line.startswith("  ") for line in err)  # no PyYAML context lines
        assert not out.exists()


def test_malformed_yaml_contract_is_one_line(tmp_path: Path) -> None:
    from edgeimg.runtime.contract import ContractError, ModelContract

    path = tmp_path / "c.yaml"
    path.write_text("task: detect\nclass_names: [a, b\ninput_size: {\n")
    with pytest.raises(ContractError, match=r"is not valid: line \d+, column \d+") as caught:
        ModelContract.from_file(path)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"std": [0.0, 1.0, 1.0]}, "contract std: expected numbers > 0"),
        ({"std": [-1.0, 1.0, 1.0]}, "contract std: expected numbers > 0"),
        ({"mean": [float("nan"), 0.0, 0.0]}, "contract mean: expected finite numbers"),
        ({"std": [float("inf"), 1.0, 1.0]}, "contract std: expected finite numbers"),
        ({"input_size": [100000, 100000]}, "contract input_size: expected at most 16384"),
        ({"input_size": [64, 16385]}, "contract input_size: expected at most 16384"),
    ],
)
def test_contract_values_that_cannot_run_are_refused(values: dict, message: str) -> None:
    from edgeimg.runtime.contract import ContractError, ModelContract

    base = {"task": "detect", "class_names": ["p"], "input_size": [64, 96]}
    with pytest.raises(ContractError, match=message) as caught:
        ModelContract.from_dict({**base, **values})
    assert "\n" not in str(caught.value)
    ModelContract.from_dict({**base, "input_size": [16384, 16384]})  # the largest allowed


def test_nan_in_a_json_contract_file_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    contract = tmp_path / "c.json"
    contract.write_text('{"task": "detect", "class_names": ["p"], "input_size": [64, 96], '
                        '"mean": [NaN, 0, 0]}')  # fmt: skip
    from edgeimg.runtime.contract import ContractError, ModelContract

    with pytest.raises(ContractError, match="mean: expected finite numbers"):
        ModelContract.from_file(contract)


def test_a_folder_of_fake_jpegs_is_one_line_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = tmp_path / "fake"
    fake.mkdir()
    for i in range(1, 13):
        (fake / f"{i}.jpg").write_text("not a jpeg\n")
    out = tmp_path / "out"
    out.mkdir()
    args = [
        "--output",
        str(out / "o.mp4"),
        "--jsonl",
        str(out / "o.jsonl"),
        "--mot",
        str(out / "o.txt"),
    ]
    assert main(["track", "--source", str(fake), *args, "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "none of its 12 image files could be decoded" in err[0]
    assert list(out.iterdir()) == []  # no 0-byte outputs, no temporary files


def test_a_folder_with_some_fake_jpegs_warns_for_each_and_runs(tmp_path: Path, caplog) -> None:
    import cv2
    import numpy as np

    from edgeimg.runtime.sources import open_source

    (tmp_path / "1.jpg").write_text("fake")
    cv2.imwrite(str(tmp_path / "2.jpg"), np.zeros((8, 8, 3), np.uint8))
    (tmp_path / "3.jpg").write_text("fake")
    with open_source(tmp_path) as source:
        frames = []
        while (frame := source.read()) is not None:
            frames.append(frame.index)
    assert frames == [1]
    assert [r.getMessage().split("/")[-1] for r in caplog.records] == [
        "1.jpg: cannot decode image, skipped",
        "3.jpg: cannot decode image, skipped",
    ]
