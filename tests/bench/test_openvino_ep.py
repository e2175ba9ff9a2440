"""The OpenVINO-EP comparison script's engines that run in this environment (onnxruntime's CPU
provider, OpenVINO itself) on the bundled classifier; the EP itself needs onnxruntime-openvino,
which replaces onnxruntime, so it is measured in a venv of its own (see the script)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgeimg.bench.openvino_ep import main, openvino_direct, ort_cpu
from edgeimg.runtime.model import bundled_model_path


def test_the_engines_agree_and_report_their_memory(tmp_path, capsys):
    pytest.importorskip("openvino")
    path = str(bundled_model_path("classify"))
    x = np.random.default_rng(0).uniform(0, 255, (1, 1, 28, 28)).astype(np.float32)
    np.testing.assert_allclose(openvino_direct(path, x)(), ort_cpu(path, x)(), atol=1e-4)
    data = tmp_path / "x.npy"
    np.save(data, x)
    assert main(["rss", "openvino", path, str(data)]) == 0
    line = json.loads(capsys.readouterr().out)
    assert line["engine"] == "openvino" and line["peak_rss_mb"] > 10
