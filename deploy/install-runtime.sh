#!/bin/sh
# The runtime-only install the Dockerfile runs, as a script CI can run without a container:
#   sh deploy/install-runtime.sh [SOURCE_DIR] [PIP]
# Installs edgeimg with its base dependencies and the video extra (PyAV: H.264 MP4 output),
# then checks that the runtime imports without the training stack and that the CLI answers.
set -eu
SRC=${1:-.}
PIP=${2:-pip}
PYTHON=${PYTHON:-python}

$PIP install "$SRC[video]"
$PYTHON - <<'PY'
import importlib.util
import sys

import edgeimg.runtime  # noqa: F401 - the runtime imports
for heavy in ("tensorflow", "tf2onnx", "onnx"):
    if heavy in sys.modules:
        sys.exit(f"runtime install: {heavy} was imported by edgeimg.runtime")
print("runtime ok; PyAV:", importlib.util.find_spec("av") is not None)
PY
edgeimg --version
