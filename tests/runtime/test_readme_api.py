"""The README's Python API example runs as written and does what it says."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import cv2

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_example() -> str:
    text = README.read_text(encoding="utf-8")
    match = re.search(r"<!-- api-example -->\n```python\n(.*?)```", text, re.DOTALL)
    assert match, "README.md lost its <!-- api-example --> block"
    return match.group(1)


def test_the_readme_api_example_tracks_and_writes_a_video(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", readme_example()],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    match = re.search(r"(\d+) frames written; IDs on the last one: \[([\d, ]+)\]", done.stdout)
    assert match, done.stdout
    assert int(match.group(1)) == 60
    ids = [int(v) for v in match.group(2).split(",")]
    assert len(ids) >= 3 and all(i >= 1 for i in ids)  # people tracked, with IDs
    capture = cv2.VideoCapture(str(tmp_path / "tracks.mp4"))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 60
    capture.release()
