"""`edgeimg bench MODEL.onnx`: the latency matrix on a tiny real model."""

from __future__ import annotations

import json

import pytest

from edgeimg.bench.backends import (
    Backend,
    BenchConfig,
    Precision,
    Unsupported,
    make_workload,
    resolve_shape,
)
from edgeimg.bench.harness import RunPlan
from edgeimg.bench.model import MatrixSpec, build_matrix, run_matrix
from edgeimg.cli.main import main

QUICK = RunPlan(warmup=1, iterations=4, rounds=2)


def test_matrix_times_every_backend_precision_thread_and_batch(tiny_models):
    spec = MatrixSpec(
        fp32=tiny_models.fp32,
        int8=tiny_models.int8,
        threads=(1, 2),
        batches=(1, 2),
        providers=("CPU",),
    )
    configs, skipped = build_matrix(spec)
    assert len(configs) == 2 * 2 * 2 * 2
    assert skipped == []
    result = run_matrix(configs, QUICK)
    assert len(result.rows) + len(result.skipped) == len(configs)
    ort_rows = [r for r in result.rows if r.config.backend is Backend.ONNXRUNTIME]
    assert len(ort_rows) == 8  # onnxruntime runs every configuration
    for row in result.rows:
        assert row.stats.count == 4
        assert 0 < row.stats.min_ms <= row.stats.p50_ms <= row.stats.max_ms
    for skip in result.skipped:  # OpenCV dnn may refuse QDQ INT8: then it names the op
        assert skip.label.startswith("opencv int8")
        assert "op " in skip.reason
    assert result.best(1).config.batch == 1


def test_io_binding_rows_return_the_same_outputs_as_session_run(tiny_models):
    plain = make_workload(BenchConfig(Backend.ONNXRUNTIME, Precision.FP32, tiny_models.fp32))
    bound = make_workload(
        BenchConfig(Backend.ONNXRUNTIME, Precision.FP32, tiny_models.fp32, io_binding=True)
    )
    bound()
    (expected,) = plain()
    (buffer,) = bound.preallocated
    assert (abs(buffer - expected) < 1e-6).all()


def test_configurations_that_cannot_run_here_are_skipped_with_the_reason(tiny_models, tmp_path):
    bad = tmp_path / "garbage.onnx"
    bad.write_bytes(b"not an onnx file")
    configs = [
        BenchConfig(Backend.ONNXRUNTIME, Precision.FP32, tiny_models.fp32, provider="NoSuch"),
        BenchConfig(Backend.ONNXRUNTIME, Precision.FP16, tiny_models.fp32),
        BenchConfig(Backend.OPENCV, Precision.FP16, tiny_models.fp32),
        BenchConfig(Backend.ONNXRUNTIME, Precision.FP32, bad),
        BenchConfig(Backend.ONNXRUNTIME, Precision.FP32, tiny_models.fp32),
    ]
    result = run_matrix(configs, QUICK)
    assert [r.config for r in result.rows] == [configs[-1]]
    reasons = [s.reason for s in result.skipped]
    assert "provider NoSuch not available" in reasons[0]
    assert "FP16" in reasons[1] and "FP16" in reasons[2]
    assert "garbage.onnx: Protobuf parsing failed" in reasons[3]


def test_fixed_batch_model_refuses_larger_batches():
    assert resolve_shape([None, 3, 16, 16], 4, "m.onnx") == (4, 3, 16, 16)
    with pytest.raises(Unsupported, match="fixed batch of 1"):
        resolve_shape([1, 3, 16, 16], 3, "m.onnx")
    with pytest.raises(Unsupported, match="symbolic"):
        resolve_shape([None, 3, "height", 16], 1, "m.onnx")


def test_cli_writes_table_json_and_png(tiny_models, tmp_path, capsys):
    out_json, out_png = tmp_path / "bench.json", tmp_path / "bench.png"
    argv = ["bench", str(tiny_models.fp32), "--int8", str(tiny_models.int8), "--threads", "1,2"]
    argv += ["--iterations", "4", "--warmup", "1", "--rounds", "2", "--io-binding"]
    argv += ["--json", str(out_json), "--plot", str(out_png)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "onnxruntime fp32 t1 b1" in printed and "p99" in printed and "CPU:" in printed
    payload = json.loads(out_json.read_text())
    labels = [r["label"] for r in payload["rows"]]
    assert "onnxruntime int8 t2 b1 iobind" in labels
    assert payload["machine"]["versions"]["onnxruntime"]
    assert all(r["p50_ms"] > 0 and r["throughput"] > 0 for r in payload["rows"])
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob(".*tmp"))  # no temporary leftovers


def test_cli_json_to_stdout_is_machine_readable(tiny_models, capsys):
    assert (
        main(
            [
                "bench",
                str(tiny_models.fp32),
                "--backends",
                "onnxruntime",
                "--iterations",
                "3",
                "--json",
            ]
        )
        == 0
    )
    payload = json.loads(capsys.readouterr().out)
    assert [r["label"] for r in payload["rows"]] == ["onnxruntime fp32 t1 b1"]


def test_cli_bad_input_is_one_line_and_exit_2(tiny_models, tmp_path, capsys):
    assert main(["bench", str(tmp_path / "missing.onnx")]) == 2
    assert "no such model file" in capsys.readouterr().err
    assert main(["bench", str(tiny_models.fp32), "--threads", "0"]) == 2
    assert "--threads: expected integers >= 1" in capsys.readouterr().err
    assert main(["bench", str(tiny_models.fp32), "--backends", "tvm"]) == 2
    err = capsys.readouterr().err
    assert "onnxruntime, opencv" in err and len(err.strip().splitlines()) == 1
