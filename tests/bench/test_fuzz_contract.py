"""bench.fuzz_contract: the fallback (no atheris) finds nothing, the checker catches what it
must, and the inputs the atheris runs found are parsed or refused with a one-line error."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from edgeimg.bench import fuzz_contract as fuzz
from edgeimg.runtime.contract import ModelContract
from edgeimg.runtime.errors import EdgeimgError
from edgeimg.runtime.tasks.detect.tracking.config import ByteTrackConfig, settings_from_yaml


@pytest.mark.parametrize("target", fuzz.TARGETS)
def test_random_inputs_parse_or_raise_a_one_line_edgeimg_error(target):
    done, findings = fuzz.run_fallback(target, runs=300, seed=15)
    assert done == 300
    assert not findings, "\n\n".join(f.report() for f in findings)


def test_every_base_contract_is_valid():
    """The generators start from these: an invalid one would keep the search shallow."""
    for values in fuzz.BASES:
        ModelContract.from_dict(values)


def test_the_checker_reports_foreign_exceptions_and_multi_line_messages():
    def raises(exc):
        def call():
            raise exc

        return call

    assert fuzz.check("t", raises(EdgeimgError("one line")), {}) is None
    assert fuzz.check("t", raises(TypeError("x")), {}).kind == "TypeError"
    assert fuzz.check("t", raises(RecursionError()), {}).kind == "RecursionError"
    assert "multi-line" in fuzz.check("t", raises(EdgeimgError("a\nb")), {}).kind
    assert "multi-line" in fuzz.check("t", raises(EdgeimgError("a\u2028")), {}).kind
    assert "empty" in fuzz.check("t", raises(EdgeimgError("")), {}).kind
    # a line break the input itself holds may be quoted
    assert fuzz.check("t", raises(EdgeimgError("unknown keys a\nb")), {"a\nb": 1}) is None


def test_a_fallback_run_reports_a_parser_that_raises_type_error(monkeypatch):
    def from_dict(values, source="contract"):
        raise TypeError("not a parse error")

    monkeypatch.setattr(fuzz.parsers().ModelContract, "from_dict", from_dict)
    _, findings = fuzz.run_fallback("contract", runs=20, seed=0)
    assert [f.kind for f in findings] == ["TypeError"]
    assert "not a parse error" in findings[0].traceback


REGRESSIONS = [  # inputs the atheris / fallback runs found before the fixes
    # atheris, 60 s: an int beyond float's range in a tracker setting and in segment's alpha
    {
        "task": "detect",
        "class_names": ["a"],
        "input_size": [9, 9],
        "task_params": {"tracker": {"match_thresh": 10**400}},
    },
    {
        "task": "segment",
        "class_names": ["a"],
        "input_size": [9, 9],
        "task_params": {"alpha": 10**400},
    },
    {"task": "detect", "class_names": ["a"], "input_size": [float("inf"), 320]},
    {"task": "detect", "class_names": ["a"], "input_size": [320, 320], "mean": [10**400, 0, 0]},
    {"task": "detect", "class_names": ["a"], "input_size": [320, 320], 1: 2, "b": 3},
    {"task": "detect", "class_names": ["a"], "input_size": [320, 320], True: 1},
    {"task": "detect", "class_names": ["a"], "input_size": [9, 9], "task_params": {None: 1}},
    {"task": "detect", "class_names": ["a"], "input_size": [9, 9], "decoder_params": {2: 0}},
    {
        "task": "detect",
        "class_names": ["a"],
        "input_size": [9, 9],
        "decoder_params": {"stride": float("inf")},
    },
    {
        "task": "detect",
        "class_names": ["a"],
        "input_size": [9, 9],
        "decoder": "yolov8",
        "decoder_params": {"max_detections": float("-inf"), "score_threshold": 10**400},
    },
    {
        "task": "classify",
        "class_names": ["a"],
        "input_size": [9, 9],
        "decoder_params": {"top_k": float("inf")},
    },
    {"task": "segment", "class_names": ["a"], "input_size": [9, 9], "decoder_params": {1.5: 0}},
    {
        "task": "upscale",
        "resize": "none",
        "channels": 1,
        "color_order": "GRAY",
        "mean": [0],
        "std": [1],
        "task_params": {False: 1},
    },
    {"task": "generate", "class_names": ["a"], "resize": "none", "task_params": {0: 1}},
    {
        "task": "detect",
        "class_names": ["a"],
        "input_size": [9, 9],
        "task_params": {"tracker": {1: 0, "x": 0}},
    },
]


@pytest.mark.parametrize("values", REGRESSIONS, ids=range(len(REGRESSIONS)))
def test_regression_contracts_raise_a_one_line_contract_error(values):
    with pytest.raises(EdgeimgError) as info:
        ModelContract.from_dict(values)
    assert "\n" not in str(info.value)
    assert fuzz.check("contract", lambda: ModelContract.from_dict(values), values) is None


@pytest.mark.parametrize("text", ["[" * 5000, "9" * 5000, '{"a":' * 3000])
def test_regression_metadata_that_json_cannot_read_is_a_contract_error(text):
    meta = {"edgeimg.task": '"detect"', "edgeimg.input_size": text}
    with pytest.raises(EdgeimgError, match=r"metadata edgeimg\.input_size is not JSON"):
        ModelContract.from_metadata(meta)


@pytest.mark.parametrize(
    "text",
    ["1: 0\n", "null: 1\ntrack_thresh: 0.5\n", "track_buffer: " + "9" * 5000, "[" * 2000],
)
def test_regression_tracker_yaml(tmp_path: Path, text):
    path = tmp_path / "tracker.yaml"
    path.write_text(text)
    with pytest.raises(EdgeimgError) as info:
        settings_from_yaml(path)
    assert "\n" not in str(info.value)


def test_regression_tracker_dict_with_a_number_key():
    with pytest.raises(EdgeimgError, match="unknown tracker setting"):
        ByteTrackConfig.from_dict({1: 0.5, "track_thresh": 0.5})


def test_regression_contract_yaml_with_a_number_key(tmp_path: Path):
    path = tmp_path / "contract.yaml"
    path.write_text("task: detect\nclass_names: [a]\ninput_size: [9, 9]\n1: 2\nnull: 3\n")
    with pytest.raises(EdgeimgError, match="unknown contract keys 1, None"):
        ModelContract.from_file(path)


def test_the_generators_are_reproducible():
    first = [fuzz.gen_contract(fuzz.RandomSource(random.Random(3)), True) for _ in range(5)]
    again = [fuzz.gen_contract(fuzz.RandomSource(random.Random(3)), True) for _ in range(5)]
    assert repr(first) == repr(again)
