"""Shared fixtures: the real footage in ../shared/data (EDGEIMG_DATA overrides the folder)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# The CLI's default backend is `auto`, which measures and may pick another engine or the INT8
# file on each machine; tests compare exact outputs, so they run onnxruntime unless they name a
# backend (tests of the auto default unset this).
os.environ["EDGEIMG_BACKEND"] = "onnxruntime"


def data_root() -> Path:
    return Path(os.environ.get("EDGEIMG_DATA", REPO.parent / "shared" / "data"))


def real_data(folder: str, needed: str) -> Path:
    """``folder`` of the shared data, checked by one file in it. Skips locally when absent;
    fails in CI."""
    path = data_root() / folder
    if not (path / needed).is_file():
        message = f"real data missing: {path / needed} (set EDGEIMG_DATA)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def pets_dir() -> Path:
    """PETS09-S2L1 (vtest.avi + gt/gt.txt)."""
    return real_data("PETS09-S2L1", "vtest.avi")


@pytest.fixture(scope="session")
def coco128_dir() -> Path:
    """COCO128 (YOLO layout, no data.yaml: classes by id, person = 0)."""
    return real_data("COCO128", "labels/train2017/000000000009.txt")
