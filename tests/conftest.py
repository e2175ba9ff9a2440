"""Shared fixtures: the real footage in ../shared/data (EDGEIMG_DATA overrides the folder)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def data_root() -> Path:
    return Path(os.environ.get("EDGEIMG_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def pets_dir() -> Path:
    """PETS09-S2L1 (vtest.avi + gt/gt.txt). Skips locally when absent; fails in CI."""
    path = data_root() / "PETS09-S2L1"
    if not (path / "vtest.avi").is_file():
        message = f"real data missing: {path} (set EDGEIMG_DATA)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path
