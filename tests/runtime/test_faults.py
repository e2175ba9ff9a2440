"""Real faults (issue 15): a full file system and stop/kill signals at random moments never
leave a half-written file at an output's final path.

* A real, small tmpfs fills up under ``edgeimg track``: one error line (no traceback), exit 2,
  every output either absent or whole and readable, no ``.partial-`` file left.
* Six runs of ``track`` / ``predict`` (detect, and segment with its folder of masks) get
  SIGINT, SIGTERM or SIGKILL at a random time (fixed seed): a stop signal leaves complete,
  mutually consistent outputs and exit 128 + signal; SIGKILL leaves nothing at the final
  paths, and the next run removes the dead run's temporary files.

The subprocess helpers come from test_service.py, imported by its module name (pytest puts
this folder on ``sys.path``: ``tests`` is no package).
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import time
from pathlib import Path

import cv2
import pytest
from test_service import decoded_frames, edgeimg, partials, wait_for_frames

from edgeimg.runtime.tasks.detect.mot import read_mot

OUTPUTS = ("t.mp4", "t.txt", "t.jsonl")
TRACK = ("--output", "t.mp4", "--mot", "t.txt", "--jsonl", "t.jsonl")


def json_frames(path: Path) -> int:
    """The JSON lines file is whole: every line parses, frames 1..N in order. Returns N."""
    data = path.read_bytes()
    assert data.endswith(b"\n")
    records = [json.loads(line) for line in data.decode().splitlines()]
    assert [r["frame"] for r in records] == list(range(1, len(records) + 1))
    return len(records)


def assert_whole_where_present(folder: Path) -> int:
    """Each detect output is absent or whole, and they agree: the JSON lines' frame count."""
    frames = json_frames(folder / "t.jsonl") if (folder / "t.jsonl").exists() else 0
    if (folder / "t.txt").exists():
        text = (folder / "t.txt").read_text()
        assert text.endswith("\n") and all(len(s.split(",")) == 10 for s in text.splitlines())
        assert set(read_mot(folder / "t.txt").frame.tolist()) <= set(range(1, frames + 1))
    if (folder / "t.mp4").exists():
        assert frames and decoded_frames(folder / "t.mp4") == frames
    return frames


def assert_complete_and_consistent(folder: Path) -> int:
    """The three detect outputs are all there and hold the same frames: the number of frames."""
    assert sorted(p.name for p in folder.iterdir()) == sorted(OUTPUTS)
    frames = assert_whole_where_present(folder)
    assert frames >= 1
    with_boxes = {
        r["frame"]
        for line in (folder / "t.jsonl").read_text().splitlines()
        for r in [json.loads(line)]
        if any(d["track_id"] for d in r["detections"])
    }
    assert max(read_mot(folder / "t.txt").frame.tolist()) == max(with_boxes)
    return frames


@pytest.fixture
def small_fs(tmp_path):
    """Mount a real tmpfs of the given size (root only); unmounted after the test."""
    mounted: list[Path] = []

    def mount(size: str) -> Path:
        folder = tmp_path / f"fs{len(mounted)}"
        folder.mkdir()
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")
        mounted.append(folder)
        return folder

    yield mount
    for folder in mounted:
        subprocess.run(["umount", str(folder)], check=True)


@pytest.mark.parametrize(("size", "outputs"), [("300k", TRACK), ("20k", ("--jsonl", "t.jsonl"))])
def test_a_full_file_system_leaves_no_half_file_and_says_so_in_one_line(
    pets_dir, small_fs, size, outputs
):
    """200 frames do not fit: the video (~1.7 MB) not in 300 kB, the JSON lines (~100 kB) not
    in 20 kB. The write error ends the run with one line and exit 2; what is at a final path
    is whole; the video, which cannot be finished, is not there at all."""
    folder = small_fs(size)
    process = edgeimg(
        "track", "--source", str(pets_dir / "vtest.avi"), "--frames", "200", *outputs, "-q",
        cwd=folder,
    )  # fmt: skip
    out, err = process.communicate(timeout=120)

    assert process.returncode == 2, err
    assert out == "" and "Traceback" not in err
    [line] = err.strip().splitlines()
    assert line.startswith("edgeimg track: error: cannot write ")
    assert "No space left on device" in line or "disk full" in line, line
    assert partials(folder) == []
    assert {p.name for p in folder.iterdir()} <= {"t.txt", "t.jsonl"}  # never the video
    frames = assert_whole_where_present(folder)
    assert 1 <= frames < 200
    if "kept the " in line:  # the JSON lines output failed: it names what it kept
        assert f"kept the {frames} complete frames" in line


def assert_masks_consistent(folder: Path) -> int:
    """Segment: one whole mask PNG per JSON line (000000.png is frame 1), nothing else."""
    frames = json_frames(folder / "t.jsonl")
    masks = sorted((folder / "t.masks").iterdir())
    assert [p.name for p in masks] == [f"{i:06d}.png" for i in range(frames)]
    assert all(cv2.imread(str(p), cv2.IMREAD_UNCHANGED).ndim == 2 for p in masks)
    return frames


COMMANDS = {
    "track": ("track", "--source", "{clip}", *TRACK),
    "predict": ("predict", "{clip}", "--track", "-o", "t.jsonl", "-o", "t.txt", "-o", "t.mp4"),
    "segment": ("predict", "--task", "segment", "{clip}", "-o", "t.masks", "-o", "t.jsonl"),
}
STOP = (signal.SIGINT, signal.SIGTERM)


def kill_runs(seed: int = 15) -> list[tuple[str, signal.Signals, float]]:
    """Six (command, signal, delay) runs: every signal, SIGKILL twice, in a random order, and
    random delays. The segment run (last) gets a stop signal only: its masks are per-file
    temporaries with no PID in the name, which a next run does not clean (not covered here)."""
    rng = random.Random(seed)
    kills = [*STOP, signal.SIGKILL, signal.SIGKILL, rng.choice(STOP)]
    rng.shuffle(kills)
    kills.append(rng.choice(STOP))
    kinds = ["track", "predict", "track", "predict", "track", "segment"]
    return [
        (kind, kill, round(rng.uniform(0, 1.5), 2)) for kind, kill in zip(kinds, kills, strict=True)
    ]


@pytest.mark.parametrize(("kind", "signum", "delay"), kill_runs())
def test_a_signal_at_a_random_moment_leaves_whole_outputs_or_none(
    pets_dir, tmp_path, kind, signum, delay
):
    """Whatever the moment: SIGINT/SIGTERM finish every output (same frames, exit 128 +
    signal); SIGKILL leaves only the run's ``.partial-`` files, which the next run removes."""
    command = [arg.format(clip=pets_dir / "vtest.avi") for arg in COMMANDS[kind]]
    process = edgeimg(*command, cwd=tmp_path)
    wait_for_frames(process, tmp_path)
    time.sleep(delay)
    process.send_signal(signum)
    _, err = process.communicate(timeout=60)

    if signum in STOP:
        assert process.returncode == 128 + signum, err
        assert "Traceback" not in err and partials(tmp_path) == []
        check = assert_masks_consistent if kind == "segment" else assert_complete_and_consistent
        assert 3 <= check(tmp_path) < 795
        return
    assert process.returncode == -signal.SIGKILL
    assert not any((tmp_path / name).exists() for name in OUTPUTS)
    assert partials(tmp_path)
    assert all(f".partial-{process.pid}." in name for name in partials(tmp_path))

    rerun = edgeimg(*command, "--frames", "3", cwd=tmp_path)
    _, err = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, err
    assert partials(tmp_path) == []
    assert assert_complete_and_consistent(tmp_path) == 3
