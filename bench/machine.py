"""The machine a benchmark ran on: CPU model, the SIMD flags that matter, cores, versions."""

from __future__ import annotations

import os
import platform
from pathlib import Path

FLAGS = (
    "avx",
    "avx2",
    "fma",
    "f16c",
    "avx512f",
    "avx512_vnni",
    "avx_vnni",
    "amx_int8",
    "asimd",
    "asimddp",
)
PACKAGES = (
    "edgeimg",
    "numpy",
    "onnxruntime",
    "onnxruntime-gpu",
    "opencv-python-headless",
    "tensorflow",
    "keras",
    "tf2onnx",
    "ai-edge-litert",
    "trackers",
    "supervision",
)


def cpu_info(cpuinfo: Path = Path("/proc/cpuinfo")) -> tuple[str, list[str]]:
    """(CPU model name, the FLAGS present); falls back to ``platform.processor()``."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        text = cpuinfo.read_text()
    except OSError:
        return model, []
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("model name", "hardware") and value.strip():
            model = value.strip()
        elif key in ("flags", "features"):
            flags.update(value.split())
    return model, [f for f in FLAGS if f in flags]


def versions() -> dict[str, str]:
    """Installed versions of the packages a bench compares, without importing them."""
    from edgeimg.runtime.backends.choose import library_versions

    return library_versions(PACKAGES)


def machine_report() -> dict[str, object]:
    """A JSON-ready description of this machine and its inference stack."""
    model, flags = cpu_info()
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return {
        "cpu": model,
        "flags": flags,
        "cores": os.cpu_count(),
        "platform": f"{platform.system()} {platform.release()} {platform.machine()}",
        "load_average_at_start": [round(v, 2) for v in load],
        "versions": versions(),
    }


def machine_lines(report: dict[str, object]) -> list[str]:
    """Human-readable lines of :func:`machine_report`."""
    flags = ", ".join(report["flags"]) or "none of " + ", ".join(FLAGS)  # type: ignore[arg-type]
    vers = ", ".join(f"{k} {v}" for k, v in report["versions"].items())  # type: ignore[union-attr]
    return [
        f"CPU: {report['cpu']}, {report['cores']} cores ({report['platform']})",
        f"SIMD flags: {flags}",
        f"load average at start: {report['load_average_at_start']}",
        f"versions: {vers}",
    ]
