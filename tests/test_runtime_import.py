"""The device runtime imports without TensorFlow, Keras, tf2onnx or onnx, nor the Triton
client and server packages that only ``--backend triton://`` and ``edgeimg serve`` use
(checked in a fresh interpreter, so nothing imported by other tests can hide a heavy import)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HEAVY = ("tensorflow", "keras", "tf2onnx", "onnx", "tritonclient", "pytriton", "gevent")

PROBE = """
import json, sys
import edgeimg.runtime
import edgeimg.runtime.{modules}
import edgeimg.cli.track, edgeimg.cli.predict, edgeimg.cli.serve
heavy = sorted(m for m in sys.modules if m.split(".")[0] in {heavy!r})
print(json.dumps(heavy))
"""

RUNTIME_MODULES = (
    "sources",
    "sinks",
    "pipeline",
    "timing",
    "model",
    "preprocess",
    "synthetic",
    "tasks",
    "tasks.detect",
    "tasks.detect.tracking",
    "tasks.detect.mot",
    "tasks.classify",
    "backends.triton",
    "serve",
)


def test_runtime_imports_without_tensorflow_keras_tf2onnx_onnx_or_triton():
    code = PROBE.format(modules=", edgeimg.runtime.".join(RUNTIME_MODULES), heavy=HEAVY)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def test_the_installed_package_imports_from_the_repository_root():
    """No folder at the root shadows the installed package (regular or editable install: CI
    runs this file in both), so scripts a user keeps in the checkout import edgeimg too."""
    root = Path(__file__).resolve().parents[1]
    assert not (root / "edgeimg").exists()
    code = "import edgeimg, edgeimg.runtime, edgeimg.cli.main; print(edgeimg.runtime.load_model)"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "load_model" in result.stdout
