"""The configuration sweep of ``python -m edgeimg.bench.variants``: every row runs or says why."""

from __future__ import annotations

import numpy as np

from edgeimg.bench.variants import QUANT_VARIANTS, rows


def test_variant_rows_run_the_model_and_name_the_files_that_are_missing(tiny_detector, tmp_path):
    runners, skipped = rows(tiny_detector.fp32, tmp_path, [], threads=1)
    labels = [r.spec.label for r in runners]
    assert "fp32 NCHW opt=basic t1" in " ".join(labels)  # session-option rows on the FP32 file
    assert any("backend opencv" in r.spec.note for r in runners)
    # variants not built yet (no --build): one line each, naming the file
    assert len(skipped) == 1 + len(QUANT_VARIANTS) + 2
    assert any("det_nhwc.onnx" in line for line in skipped)
    h, w = runners[0].contract.input_size
    image = np.random.default_rng(0).uniform(0, 255, (1, h, w, 3)).astype(np.float32)
    first = [np.asarray(o) for o in runners[0].infer(runners[0].prepare(image))]
    basic = next(r for r in runners if "optimization basic" in r.spec.note)
    again = [np.asarray(o) for o in basic.infer(basic.prepare(image))]
    for a, b in zip(first, again, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_build_writes_every_variant_through_the_export_library(tiny_detector, tmp_path):
    import json

    import onnx

    from edgeimg.bench.variants import build
    from edgeimg.export.quantize import QUANTIZATION_KEY

    build(tiny_detector.keras, tiny_detector.fp32, tmp_path, [], "synthetic:")
    records = {}
    for variant in QUANT_VARIANTS:
        proto = onnx.load(str(tmp_path / f"det_{variant.name}.onnx"))
        meta = {p.key: p.value for p in proto.metadata_props}
        records[variant.name] = json.loads(meta[QUANTIZATION_KEY])
    assert records["u8s8_rr_pc"]["float_nodes"], "the detector's head stays in float by default"
    assert records["u8s8_rr_pc_all"]["float_nodes"] == []
    assert records["s8s8_pc"]["scheme"]["activation_type"] == "QInt8"
    assert records["u8s8_rr_pt"]["per_channel"] is False
    nhwc = onnx.load(str(tmp_path / "det_nhwc.onnx"))
    assert [d.dim_value for d in nhwc.graph.input[0].type.tensor_type.shape.dim][1:] == [64, 96, 3]
    _, skipped = rows(tiny_detector.fp32, tmp_path, [], threads=1)
    assert not any("det_" in line for line in skipped), skipped  # every variant file exists


def test_variants_help_runs():
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "edgeimg.bench.variants", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "--build" in done.stdout
