"""`edgeimg info [MODEL]`: the environment report, and a model's contract, tensors and backends."""

from __future__ import annotations

import json
import re

from edgeimg.cli.main import main


def lines_of(capsys) -> dict[str, str]:
    """The report's rows as {name: value} (the first row of each name)."""
    rows: dict[str, str] = {}
    for line in capsys.readouterr().out.splitlines():
        parts = re.split(r"\s{2,}", line.strip(), maxsplit=1)
        if len(parts) == 2:  # onnxruntime prints its own banners when a GPU provider fails
            rows.setdefault(parts[0], parts[1])
    return rows


def test_info_without_a_model_reports_the_environment(capsys):
    assert main(["info"]) == 0
    rows = lines_of(capsys)
    assert "onnxruntime" in rows and "opencv" in rows and "providers" in rows


def test_info_on_a_model_prints_contract_tensors_and_what_runs_it(detector_path, capsys):
    assert main(["info", str(detector_path)]) == 0
    rows = lines_of(capsys)
    assert rows["contract"] == "from the model's metadata"
    assert rows["class_names"] == "['person', 'bag']"
    assert rows["input"] == "image (1, 64, 96, 3) float32"
    assert rows["output"] == "heatmap (1, 16, 24, 2) float32"
    assert rows["onnxruntime cpu"].startswith("yes, onnxruntime")
    assert "ms per inference" in rows["onnxruntime cpu"]
    assert rows["opencv cpu"].startswith("yes, opencv")
    assert "onnxruntime tensorrt" in rows  # available or not, it says which
    assert rows["ops"].startswith("12 nodes: Conv 4")  # the onnx package is installed here


def test_info_says_what_an_int8_file_is_and_whether_auto_may_use_it(detector_path, capsys):
    from edgeimg.runtime.model import bundled_model_path

    fp32 = bundled_model_path()
    assert main(["info", str(fp32), "--no-probe"]) == 0
    rows = lines_of(capsys)
    assert rows["int8 file"].startswith("person_detector.int8.onnx: accuracy gate passed")
    assert "quantization" not in rows
    assert main(["info", str(fp32.with_name("person_detector.int8.onnx")), "--no-probe"]) == 0
    summary = lines_of(capsys)["quantization"]
    assert summary.startswith("QUInt8 activations, QInt8 weights, percentile on 100 calibration")
    assert re.search(r"AP@0\.5 % 93\.\d\d -> 93\.\d\d \(budget 1 points\): passed$", summary)
    # where the gate timed it: the backend (and threads, when auto chose) of the quantizing machine
    assert re.search(
        r"; INT8/FP32 latency 0\.\d\d on (onnxruntime|openvino|opencv)\b[^;]*; AP@0", summary
    )
    assert main(["info", str(detector_path), "--no-probe"]) == 0  # no INT8 file beside it
    assert lines_of(capsys)["int8 file"].startswith("none usable beside it")


def test_info_on_a_model_without_metadata_still_lists_its_tensors(make_detector, tmp_path, capsys):
    path = make_detector("bare.onnx", contract=None)
    assert main(["info", str(path), "--no-probe"]) == 0
    out = capsys.readouterr().out
    assert "none usable" in out and "missing key: task" in out
    assert "image (1, 64, 96, 3) float32" in out
    assert "onnxruntime cpu" not in out  # --no-probe


def test_info_reads_a_contract_file(make_detector, detector_contract, tmp_path, capsys):
    path = make_detector("bare.onnx", contract=None)
    sidecar = tmp_path / "contract.json"
    sidecar.write_text(json.dumps(detector_contract))
    assert main(["info", str(path), "--contract", str(sidecar), "--no-probe"]) == 0
    assert f"from {sidecar}" in capsys.readouterr().out


def test_info_on_a_file_that_is_not_onnx_is_a_one_line_error(tmp_path, capsys):
    path = tmp_path / "notes.onnx"
    path.write_text("not a model")
    assert main(["info", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("edgeimg info: error: cannot load") and "not an ONNX model" in err
    assert "\n" not in err
    assert main(["info", str(tmp_path / "missing.onnx")]) == 2
    assert "model file not found" in capsys.readouterr().err
