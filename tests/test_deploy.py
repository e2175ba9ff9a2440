"""deploy/: the systemd unit and the runtime Dockerfile (issue 15), checked as far as a
machine without containers or a running systemd allows."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


def unit_settings(path: Path) -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def test_the_unit_restarts_on_failure_stops_with_sigterm_and_logs_to_the_journal() -> None:
    unit = unit_settings(DEPLOY / "edgeimg-track.service")
    assert unit["Restart"] == ["on-failure"]
    assert unit["KillSignal"] == ["SIGTERM"]
    assert "143" in unit["SuccessExitStatus"][0].split()  # SIGTERM's clean stop is no failure
    assert unit["StandardError"] == ["journal"]
    assert "edgeimg track" in unit["ExecStart"][0]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_analyze_verifies_the_unit(tmp_path: Path) -> None:
    unit = tmp_path / "edgeimg-track.service"
    shutil.copy(DEPLOY / "edgeimg-track.service", unit)
    run = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    problems = [line for line in run.stderr.splitlines() if "edgeimg-track.service" in line]
    assert run.returncode == 0 and not problems, run.stderr


def test_the_dockerfile_is_the_runtime_install_on_python_310() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    assert "FROM python:3.10" in text
    assert "STOPSIGNAL SIGTERM" in text and 'ENTRYPOINT ["edgeimg"]' in text
    assert "deploy/install-runtime.sh" in text
    script = (DEPLOY / "install-runtime.sh").read_text()
    assert '$PIP install "$SRC[video]"' in script and "[train" not in script
    assert subprocess.run(["sh", "-n", str(DEPLOY / "install-runtime.sh")]).returncode == 0
