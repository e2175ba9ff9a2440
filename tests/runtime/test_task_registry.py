"""The task registry: a task defined outside edgeimg runs through every generic part.

The tiny ``brightness`` task (tests/runtime/plugins/brightness_task.py) is registered both ways a
user would: ``register_task`` in process, and the ``edgeimg.tasks`` entry point of an installed
distribution (a subprocess with a dist-info folder on its path).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgeimg.cli.main import main
from edgeimg.runtime.contract import ContractError, ModelContract
from edgeimg.runtime.model import load_model
from edgeimg.runtime.tasks import TASKS, get_task, register_task, task_names

PLUGINS = Path(__file__).parent / "plugins"
CONTRACT = {"task": "brightness", "input_size": [16, 16], "resize": "stretch", "channels": 3}


def brightness_model(path: Path) -> Path:
    """(1, 16, 16, 3) float32 -> ``mean`` (1, 1): the mean of every pixel (a real ONNX file)."""
    onnx = pytest.importorskip("onnx")
    helper, tp = onnx.helper, onnx.TensorProto
    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["image"], ["mean4"], axes=[1, 2, 3], keepdims=0),
         helper.make_node("Unsqueeze", ["mean4", "one"], ["mean"])],
        "brightness",
        [helper.make_tensor_value_info("image", tp.FLOAT, [1, 16, 16, 3])],
        [helper.make_tensor_value_info("mean", tp.FLOAT, [1, 1])],
        [onnx.numpy_helper.from_array(np.array([1], np.int64), "one")],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    helper.set_model_props(model, {f"edgeimg.{k}": json.dumps(v) for k, v in CONTRACT.items()})
    onnx.save(model, str(path))
    return path


@pytest.fixture
def brightness_task():
    sys.path.insert(0, str(PLUGINS))
    try:
        import brightness_task

        yield register_task(brightness_task.TASK)
    finally:
        TASKS.unregister("brightness")
        sys.path.remove(str(PLUGINS))


def test_the_built_in_tasks_are_registered_with_their_parts():
    assert {"detect", "classify"} <= set(task_names())
    detect, classify = get_task("detect"), get_task("classify")
    assert detect.result_type.__name__ == "Detections" and detect.default_decoder == "centernet"
    assert classify.result_type.__name__ == "ClassScores" and ".csv" in classify.sinks
    assert ".txt" in detect.sinks and detect.params_type is not None


def test_an_unregistered_task_is_a_one_line_error():
    with pytest.raises(
        ContractError, match=r"contract task: expected one of classify, detect(, \w+)*, got"
    ):
        ModelContract.from_dict(CONTRACT)


def test_a_registered_task_loads_predicts_and_runs_in_the_cli(brightness_task, tmp_path, capsys):
    path = brightness_model(tmp_path / "bright.onnx")
    model = load_model(path)
    assert model.task is brightness_task
    image = np.full((40, 60, 3), 200, np.uint8)
    image[:20] = 100  # half the rows darker: mean 150 whatever the resize
    assert model.predict(image).value == pytest.approx(150.0, abs=1e-3)
    cv2 = pytest.importorskip("cv2")
    folder = tmp_path / "images"
    folder.mkdir()
    for value in (10, 90):
        cv2.imwrite(str(folder / f"grey{value}.png"), np.full((8, 8, 3), value, np.uint8))
    out = tmp_path / "out.jsonl"
    assert (
        main(["predict", str(path), str(folder), "--output", str(out), "--backend", "opencv"]) == 0
    )
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["name"], r["brightness"]) for r in records] == [
        ("grey10.png", 10.0),
        ("grey90.png", 90.0),
    ]
    assert "2 frames" in capsys.readouterr().out


def test_a_task_from_an_installed_distribution_entry_point(tmp_path):
    """What `pip install my-task-package` gives: an ``edgeimg.tasks`` entry point."""
    site = tmp_path / "site"
    shutil.copytree(PLUGINS, site)
    info = site / "brightness_task-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: brightness-task\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[edgeimg.tasks]\nbrightness = brightness_task:TASK\n")
    model = brightness_model(tmp_path / "bright.onnx")
    code = (
        "import numpy as np; from edgeimg.runtime import load_model; "
        f"m = load_model({str(model)!r}); print(m.predict(np.full((9, 9, 3), 42, np.uint8)).value)"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert float(done.stdout.strip().splitlines()[-1]) == pytest.approx(42.0)
