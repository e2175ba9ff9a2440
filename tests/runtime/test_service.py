"""edgeimg as a service (issue 15): stop signals finish the outputs, a killed run's temporary
files are cleaned by the next one, bad and truncated inputs are named in one line, a full disk
keeps every complete frame, and ``-q``/``-v`` work after the verb.

The signal and disk tests run the real command in a subprocess on the real PETS clip.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest

from edgeimg.cli.main import main
from edgeimg.runtime.atomic import remove_stale_partials, stale_partials
from edgeimg.runtime.tasks.detect.mot import read_mot

OUTPUTS = ("t.mp4", "t.txt", "t.jsonl")
TRACK = ("--output", "t.mp4", "--mot", "t.txt", "--jsonl", "t.jsonl")


def decoded_frames(path: Path) -> int:
    capture = cv2.VideoCapture(str(path))
    count = 0
    while capture.read()[0]:
        count += 1
    capture.release()
    return count


def edgeimg(*args: str, cwd: Path, **options: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "edgeimg.cli.main", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **options,  # type: ignore[call-overload]
    )


def wait_for_frames(process: subprocess.Popen[str], folder: Path, lines: int = 3) -> None:
    """Wait until the run's temporary JSON lines file holds ``lines`` frames (bounded)."""
    temp = folder / f".t.partial-{process.pid}.jsonl"
    deadline = time.monotonic() + 120
    while not (temp.is_file() and temp.read_bytes().count(b"\n") >= lines):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "no frame written within 120 s"
        time.sleep(0.05)


def partials(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".partial-" in p.name)


def assert_complete_and_consistent(folder: Path) -> int:
    """The three outputs hold the same frames, whole: the number of frames."""
    records = [json.loads(line) for line in (folder / "t.jsonl").read_text().splitlines()]
    frames = len(records)
    assert frames >= 1
    assert [r["frame"] for r in records] == list(range(1, frames + 1))
    assert decoded_frames(folder / "t.mp4") == frames
    text = (folder / "t.txt").read_text()
    assert text.endswith("\n")
    mot = read_mot(folder / "t.txt")
    with_boxes = {r["frame"] for r in records if any(d["track_id"] for d in r["detections"])}
    assert set(mot.frame.tolist()) <= set(range(1, frames + 1))
    assert max(mot.frame.tolist()) == max(with_boxes)
    return frames


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_stop_signal_finishes_every_output_at_its_final_path(pets_dir, tmp_path, signum):
    process = edgeimg("track", "--source", str(pets_dir / "vtest.avi"), *TRACK, cwd=tmp_path)
    wait_for_frames(process, tmp_path)
    process.send_signal(signum)
    out, err = process.communicate(timeout=120)

    assert process.returncode == 128 + signum, err
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(OUTPUTS)  # no .partial- left
    frames = assert_complete_and_consistent(tmp_path)
    assert 3 <= frames < 795
    name = signal.Signals(signum).name
    assert f"{name}: stopped after {frames} frames; finishing the outputs" in err
    assert f"{frames} frames in" in out and f"wrote {tmp_path / 't.mp4'} ({frames} frames)" in out
    assert "Traceback" not in err


def test_sigkill_leaves_nothing_at_the_final_paths_and_the_next_run_cleans_up(pets_dir, tmp_path):
    killed = edgeimg("track", "--source", str(pets_dir / "vtest.avi"), *TRACK, cwd=tmp_path)
    wait_for_frames(killed, tmp_path)
    killed.kill()
    killed.communicate(timeout=60)
    assert killed.returncode == -signal.SIGKILL
    left = [f".t.partial-{killed.pid}{Path(name).suffix}" for name in OUTPUTS]
    assert partials(tmp_path) == sorted(left)
    assert not any((tmp_path / name).exists() for name in OUTPUTS)

    rerun = edgeimg(
        "track", "--source", str(pets_dir / "vtest.avi"), "--frames", "4", *TRACK, cwd=tmp_path
    )
    _, err = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, err
    assert partials(tmp_path) == []
    assert assert_complete_and_consistent(tmp_path) == 4
    cleaned = [line for line in err.splitlines() if "left by stopped runs" in line]
    assert len(cleaned) == 1 and cleaned[0].startswith("removed 3 temporary files")
    assert all(name in cleaned[0] for name in left)


def test_only_temporary_files_of_dead_processes_are_stale(tmp_path):
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    dead, alive = finished.pid, os.getppid()
    for name in (
        f".t.partial-{dead}.jsonl",  # stale
        f".t.partial-{alive}.jsonl",  # a running process's: kept
        f".t.partial-{os.getpid()}.jsonl",  # this process's: kept
        f".t.partial-{dead}.txt",  # another destination's: kept
        f".u.partial-{dead}.jsonl",  # another destination's: kept
        "t.jsonl",
    ):
        (tmp_path / name).write_text("x\n")
    assert stale_partials(tmp_path / "t.jsonl") == [tmp_path / f".t.partial-{dead}.jsonl"]
    assert remove_stale_partials([tmp_path / "t.jsonl"]) == [tmp_path / f".t.partial-{dead}.jsonl"]
    assert not (tmp_path / f".t.partial-{dead}.jsonl").exists()
    assert len(list(tmp_path.iterdir())) == 5


def test_a_mask_folder_is_written_through_temporary_files_the_next_run_cleans(tmp_path):
    """``-o NAME.masks`` writes each PNG through ``.<stem>.partial-PID.png``: a killed run's
    leftovers inside the folder are stale for the next run, a running one's are kept."""
    import numpy as np

    from edgeimg.runtime.frame import Frame
    from edgeimg.runtime.sinks import FrameResult
    from edgeimg.runtime.tasks.segment.mask import SegmentMask
    from edgeimg.runtime.tasks.segment.sinks import MaskSink

    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    folder = tmp_path / "out.masks"
    folder.mkdir()
    (folder / f".000007.partial-{finished.pid}.png").write_bytes(b"half")
    (folder / f".000008.partial-{os.getppid()}.png").write_bytes(b"busy")
    assert remove_stale_partials([folder]) == [folder / f".000007.partial-{finished.pid}.png"]
    mask = SegmentMask(np.full((4, 6), 2, np.uint8), 3)
    frame = Frame(np.zeros((4, 6, 3), np.uint8), 0, 0.0)
    with MaskSink(folder) as sink:
        sink.write(FrameResult(frame, mask, None))
    assert sorted(p.name for p in folder.iterdir()) == [
        f".000008.partial-{os.getppid()}.png",
        "000000.png",
    ]
    assert (cv2.imread(str(folder / "000000.png"), cv2.IMREAD_UNCHANGED) == 2).all()


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert "Traceback" not in captured.err
    assert lines, captured
    return lines[-1]


def test_a_text_file_is_not_a_video(pets_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code = main(["track", "--source", str(pets_dir / "gt" / "gt.txt"), "--jsonl", "t.jsonl"])
    assert code == 2
    line = one_line_error(capsys)
    assert line.startswith("edgeimg track: error: source ") and "is not a video" in line
    assert "found text ('1,9,499,158" in line and "codec 'ansi'" in line
    assert list(tmp_path.iterdir()) == []


def test_text_named_like_a_video_is_refused_too(pets_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    shutil.copy(pets_dir / "gt" / "gt.txt", tmp_path / "clip.mp4")
    assert main(["track", "--source", "clip.mp4", "--jsonl", "t.jsonl"]) == 2
    assert "clip.mp4 is not a video: found text" in one_line_error(capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]


def test_a_truncated_video_says_it_ended_early_and_keeps_the_outputs(pets_dir, tmp_path):
    with open(pets_dir / "vtest.avi", "rb") as whole:
        (tmp_path / "cut.avi").write_bytes(whole.read(3_000_000))
    process = edgeimg(
        "track", "--source", "cut.avi", "--jsonl", "t.jsonl", "--mot", "t.txt", "-q", cwd=tmp_path
    )
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert out == ""  # -q: no banner, no table
    assert err.splitlines() == [
        "cut.avi ended early: 287 of the 795 frames its header announces could be read "
        "(a truncated or corrupt file)"
    ]  # one line, FFmpeg's own complaints kept out
    records = (tmp_path / "t.jsonl").read_text().splitlines()
    assert len(records) == 287 and json.loads(records[-1])["frame"] == 287
    assert max(read_mot(tmp_path / "t.txt").frame.tolist()) <= 287


def test_a_contract_with_a_wrong_type_is_one_line_naming_the_key(
    pets_dir, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    contract = {"task": "detect", "class_names": ["p"], "input_size": ["x", 2]}
    (tmp_path / "c.json").write_text(json.dumps(contract))
    args = ["track", "--source", "synthetic:frames=2", "--contract", "c.json", "--jsonl", "o.jsonl"]
    assert main(args) == 2
    line = one_line_error(capsys)
    assert line.startswith("edgeimg track: error: ") and "input_size" in line
    assert "['x', 2]" in line and "internal error" not in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.json"]


@pytest.mark.parametrize("where", ["before", "after"])
def test_quiet_prints_nothing_but_keeps_errors(where, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    run = ["track", "--source", "synthetic:frames=3", "--jsonl", "t.jsonl"]
    argv = ["-q", *run] if where == "before" else [*run, "-q"]
    assert main(argv) == 0
    assert capsys.readouterr() == ("", "")
    assert len((tmp_path / "t.jsonl").read_text().splitlines()) == 3

    bad = ["track", "--source", "missing.avi"]
    assert main(["-q", *bad] if where == "before" else [*bad, "-q"]) == 2
    assert one_line_error(capsys) == "edgeimg track: error: source file not found: missing.avi"


def test_verbose_after_the_verb_and_the_two_exclude_each_other(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    process = edgeimg(
        "track", "--source", "synthetic:frames=2", "--jsonl", "t.jsonl", "-v", cwd=tmp_path
    )
    _, err = process.communicate(timeout=120)
    assert process.returncode == 0 and "INFO edgeimg." in err  # -v: levels and logger names
    assert main(["-v", "track", "--source", "synthetic:frames=2", "--jsonl", "t.jsonl", "-q"]) == 2
    assert "exclude each other" in one_line_error(capsys)


def test_quiet_and_verbose_are_parsed_on_both_sides_of_the_verb():
    from edgeimg.cli.main import build_parser, verbosity

    for argv in (["info", "-q"], ["-q", "info"], ["bench", "-q"]):
        args = build_parser().parse_known_args(argv)[0]
        assert verbosity(args) == (0, True), argv
    args = build_parser().parse_known_args(["-v", "info", "-v"])[0]
    assert verbosity(args) == (2, False)


def limit_file_size(limit: int) -> None:
    """For the child process: files may grow to ``limit`` bytes; past it write() fails with
    EFBIG (SIGXFSZ is ignored, as Python does at startup), as on a full disk with ENOSPC."""
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def test_a_write_error_keeps_every_complete_frame_and_says_so_in_one_line(pets_dir, tmp_path):
    process = edgeimg(
        "track", "--source", str(pets_dir / "vtest.avi"), "--frames", "300",
        "--jsonl", "t.jsonl", "--mot", "t.txt",
        cwd=tmp_path, preexec_fn=lambda: limit_file_size(20_000),
    )  # fmt: skip
    _, err = process.communicate(timeout=120)
    assert process.returncode == 2, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("edgeimg track: error: cannot write JSON lines output ")
    assert "File too large (kept the " in last and "Traceback" not in err
    kept = int(last.split("kept the ")[1].split()[0])
    assert partials(tmp_path) == []
    data = (tmp_path / "t.jsonl").read_bytes()
    assert len(data) <= 20_000 and data.endswith(b"\n")
    records = [json.loads(line) for line in data.decode().splitlines()]
    assert len(records) == kept and [r["frame"] for r in records] == list(range(1, kept + 1))
    mot = (tmp_path / "t.txt").read_text()  # the other output: whole lines of those frames
    assert mot.endswith("\n") and max(read_mot(tmp_path / "t.txt").frame.tolist()) <= kept + 1


def test_a_video_the_encoder_cannot_finish_is_not_left_at_the_final_path(pets_dir, tmp_path):
    process = edgeimg(
        "track", "--source", str(pets_dir / "vtest.avi"), "--frames", "40", "--output", "t.mp4",
        cwd=tmp_path, preexec_fn=lambda: limit_file_size(200_000),
    )  # fmt: skip
    _, err = process.communicate(timeout=120)
    assert process.returncode == 2, err
    assert err.strip().splitlines()[-1].startswith("edgeimg track: error: cannot write video ")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("module", "extra"), [("tqdm", "train"), ("tensorflow", "train"), ("motmetrics", "eval")]
)
def test_a_missing_extra_is_an_install_hint_not_an_internal_error(module, extra, capsys):
    from argparse import Namespace

    from edgeimg.cli.main import report_error

    missing = ModuleNotFoundError(f"No module named '{module}'", name=module)
    args = Namespace(command="train", verbose=0)
    assert report_error(args, missing, sys.stderr) == 3
    line = one_line_error(capsys)
    assert line.startswith(f"edgeimg train: error: needs {module}, which comes with the ")
    assert line.endswith(f"pip install 'edgeimg[{extra}]'")
