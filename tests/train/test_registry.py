"""The train task registry: every task mounts its sub-commands on `edgeimg train`; a task
defined outside edgeimg (tests/train/plugins) shows up and runs, in process and through an
entry point; the command line is built without TensorFlow or Keras."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeimg.cli.main import main
from edgeimg.runtime.errors import EdgeimgError
from edgeimg.runtime.tasks import task_names
from edgeimg.train.tasks import (
    TRAIN_TASKS,
    TrainCommand,
    TrainTask,
    get_train_task,
    register_train_task,
    train_commands,
    train_task_names,
)

PLUGINS = Path(__file__).parent / "plugins"


@pytest.fixture
def brightness_train_task():
    sys.path.insert(0, str(PLUGINS))
    try:
        import brightness_train_task

        yield register_train_task(brightness_train_task.TRAIN_TASK)
    finally:
        TRAIN_TASKS.unregister("brightness")
        sys.path.remove(str(PLUGINS))


def grey_folder(folder: Path, values: tuple[int, ...]) -> Path:
    folder.mkdir()
    for value in values:
        cv2.imwrite(str(folder / f"grey{value}.png"), np.full((8, 8), value, np.uint8))
    return folder


def help_of(argv: list[str], capsys: pytest.CaptureFixture) -> str:
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--help"])
    assert exit_.value.code == 0
    return capsys.readouterr().out


def test_the_built_in_tasks_are_registered_under_the_runtime_names() -> None:
    assert {"classify", "detect"} <= set(train_task_names())
    # the name is the contract's task: the runtime knows the built-in ones
    assert {"classify", "detect"} <= set(task_names())
    assert [c.name for c in get_train_task("detect").commands] == ["detect", "evaluate"]
    assert get_train_task("detect").keras_modules == ("edgeimg.train.tasks.detect.losses",)


def test_every_registered_train_task_has_a_cli_parser(capsys: pytest.CaptureFixture) -> None:
    listing = help_of(["train"], capsys)
    for command in train_commands():
        assert command.name in listing
        assert f"usage: edgeimg train {command.name}" in help_of(["train", command.name], capsys)


def test_an_unknown_train_task_lists_the_registered_ones() -> None:
    with pytest.raises(
        EdgeimgError, match=r"train task: expected one of classify, detect.*'segmnt'"
    ):
        get_train_task("segmnt")


def test_a_bad_task_name_is_refused() -> None:
    with pytest.raises(EdgeimgError, match="train task name: expected a word"):
        TrainTask(name="two words", add_parser=lambda sub: None, run=lambda args: 0)


def test_a_task_defined_in_the_tests_shows_up_and_runs(
    brightness_train_task: TrainTask, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert "brightness" in train_task_names()
    assert "mean brightness of a folder (test task)" in help_of(["train"], capsys)
    folder = grey_folder(tmp_path / "images", (10, 90))
    out = tmp_path / "brightness.json"

    assert main(["train", "brightness", str(folder), "-o", str(out)]) == 0

    assert json.loads(out.read_text()) == {"task": "brightness", "mean": 50.0}
    assert "mean brightness 50.0" in capsys.readouterr().out
    empty = grey_folder(tmp_path / "empty", ())
    assert main(["train", "brightness", str(empty), "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"edgeimg train: error: {empty}: expected .png images, found none"]


def test_a_sub_command_taken_by_another_task_is_left_out_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def never(args) -> int:
        raise AssertionError("the detect task's evaluate must win")

    clash = TrainCommand("evaluate", lambda sub: sub.add_parser("evaluate"), never)
    register_train_task(
        TrainTask(
            "clash", lambda sub: sub.add_parser("clash"), lambda a: 0, extra_commands=(clash,)
        )
    )
    try:
        with caplog.at_level(logging.WARNING, logger="edgeimg.train.tasks"):
            commands = {c.name: c for c in train_commands()}
    finally:
        TRAIN_TASKS.unregister("clash")
    assert commands["evaluate"].run is get_train_task("detect").extra_commands[0].run
    assert "clash" in commands
    assert "sub-command 'evaluate' left out, task detect already has it" in caplog.text


def test_an_entry_point_adds_a_task_and_the_cli_needs_no_tensorflow(tmp_path: Path) -> None:
    """What `pip install my-task-package` gives: an ``edgeimg.train_tasks`` entry point. The
    whole `edgeimg train --help` is built in a fresh process without TensorFlow or Keras."""
    site = tmp_path / "site"
    shutil.copytree(PLUGINS, site)
    info = site / "brightness_train_task-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: brightness-train\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[edgeimg.train_tasks]\nbrightness = brightness_train_task:TRAIN_TASK\n"
    )
    code = (
        "import sys\nfrom edgeimg.cli.main import main\n"
        "try:\n    main(['train', '--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'keras'})\n"
        "print('heavy:', heavy)\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert re.search(r"\n\s+brightness\s+mean brightness of a folder \(test task\)", done.stdout)
    assert "heavy: []" in done.stdout
