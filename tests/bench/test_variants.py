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
