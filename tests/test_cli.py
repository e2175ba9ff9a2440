"""The command line: help for every verb, version, environment report, one-line errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

from edgeimg import __version__
from edgeimg.cli.main import COMMANDS, main


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "edgeimg.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: edgeimg {command}")
    assert len(out.splitlines()) >= 4, "help should explain the command and its options"


def test_version():
    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"edgeimg {__version__}"


def test_info_reports_the_inference_stack(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    for name in (
        "edgeimg",
        "python",
        "onnxruntime",
        "providers",
        "opencv",
        "video I/O",
        "tensorflow",
    ):
        assert any(
            line.startswith(name) or line.strip().startswith(name) for line in out.splitlines()
        ), name
    assert "CPUExecutionProvider" in out
    assert "detect (person_detector.onnx)" in out and "classify (fashion_classifier.onnx)" in out
    assert "FFMPEG" in out and "GStreamer" in out and "V4L2" in out


def test_wrong_flag_is_a_one_line_usage_error():
    result = run_cli("info", "--no-such-flag")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "unrecognized arguments: --no-such-flag" in result.stderr


def test_no_command_prints_help_and_fails():
    result = run_cli()
    assert result.returncode == 2
    assert "usage: edgeimg" in result.stdout
