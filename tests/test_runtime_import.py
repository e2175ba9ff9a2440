"""The device runtime imports without TensorFlow, Keras, tf2onnx or onnx (checked in a fresh
interpreter, so nothing imported by other tests can hide a heavy import)."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("tensorflow", "keras", "tf2onnx", "onnx")

PROBE = """
import json, sys
import edgeimg.runtime
import edgeimg.runtime.{modules}
import edgeimg.cli.track
heavy = sorted(m for m in sys.modules if m.split(".")[0] in {heavy!r})
print(json.dumps(heavy))
"""

RUNTIME_MODULES = (
    "sources",
    "sinks",
    "annotate",
    "pipeline",
    "timing",
    "model",
    "preprocess",
    "tracking",
    "mot",
    "synthetic",
)


def test_runtime_imports_without_tensorflow_keras_tf2onnx_or_onnx():
    code = PROBE.format(modules=", edgeimg.runtime.".join(RUNTIME_MODULES), heavy=HEAVY)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []
