"""The style-transfer bench on a tiny exported stylizer at one small size: every engine's row,
their pictures agreeing, the JSON, one-line errors. No timing assertions."""

from __future__ import annotations

import importlib.util
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from edgeimg.bench.stylize import KERAS, LITERT_INT8, REFERENCE, Files, bench_stylize, main


@dataclass(frozen=True)
class TinyStylizer:
    keras: Path
    onnx: Path
    fp16: Path
    photos: Path  # calibration photos (synthetic street scenes)
    frame: Path  # the timing frame, not among the photos
    style: Path


@pytest.fixture(scope="module")
def tiny_stylizer(tmp_path_factory: pytest.TempPathFactory) -> TinyStylizer:
    keras = pytest.importorskip("keras")
    import cv2

    from edgeimg.export.flow import ExportPlan, export_model
    from edgeimg.runtime.synthetic import SceneConfig, SyntheticScene
    from edgeimg.train.fit import save_keras
    from edgeimg.train.tasks.stylize.contract import stylize_contract
    from edgeimg.train.tasks.stylize.models import transform_net

    folder = tmp_path_factory.mktemp("tiny_stylizer")
    keras.utils.set_random_seed(0)
    contract = stylize_contract("test", "random-vgg16-half", 0)
    path = save_keras(transform_net(width=4, blocks=1), folder / "sty.keras", contract)
    # no parity gate here (the export tests hold it): the bench's own column compares engines
    export_model(path, folder / "sty.onnx", ExportPlan(verify=False, fp16=True))
    scene = SyntheticScene(SceneConfig(width=96, height=72, frames=6, people=3, max_height=48))
    (folder / "photos").mkdir()
    for i in range(5):
        cv2.imwrite(str(folder / "photos" / f"{i}.png"), scene.render(i)[0])
    cv2.imwrite(str(folder / "frame.png"), scene.render(5)[0])
    rng = np.random.default_rng(1)
    style = cv2.GaussianBlur(rng.integers(0, 256, (48, 48, 3), dtype=np.uint8), (5, 5), 0)
    cv2.imwrite(str(folder / "style.png"), style)
    return TinyStylizer(
        path,
        folder / "sty.onnx",
        folder / "sty.fp16.onnx",
        folder / "photos",
        folder / "frame.png",
        folder / "style.png",
    )


def test_every_engine_on_one_frame_agrees_with_onnxruntime_and_lands_in_the_json(
    tiny_stylizer, tmp_path, capsys
):
    t = tiny_stylizer
    out = tmp_path / "bench.json"
    args = ["--model", str(t.onnx), "--fp16", str(t.fp16), "--keras", str(t.keras)]
    args += ["--calib", str(t.photos), "--frame", str(t.frame), "--sizes", "64x48"]
    args += ["--threads", "1", "--rounds", "3", "--json", str(out)]
    args += ["--gatys-steps", "2", "--style", str(t.style), "--content", str(t.frame)]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "SIMD flags:" in text
    assert "| 64x48, 1 thread | p50 ms | p90 ms | FPS | x LiteRT INT8 | mean abs diff |" in text
    assert "Gatys optimisation (2 steps, loss network random-vgg16-half" in text
    report = json.loads(out.read_text())
    assert report["machine"]["cores"] >= 1
    [table] = report["tables"]
    assert (table["width"], table["height"], table["threads"]) == (64, 48, 1)
    rows = {row["name"]: row for row in table["rows"]}
    for name in (REFERENCE, "edgeimg onnxruntime FP16", "edgeimg opencv FP32", KERAS):
        assert rows[name]["p50_ms"] > 0, rows[name]
        assert rows[name]["mean_abs_diff"] < 1.0, rows[name]  # the same picture, 0..255
    assert rows[REFERENCE]["mean_abs_diff"] == 0.0
    assert report["gatys"]["steps"] == 2 and report["gatys"]["seconds"] > 0
    assert (report["gatys"]["width"], report["gatys"]["height"]) == (64, 48)
    if importlib.util.find_spec("ai_edge_litert") is None:
        assert rows[LITERT_INT8]["p50_ms"] is None and "skipped" in rows[LITERT_INT8]["note"]
        return
    assert rows["LiteRT FP32"]["mean_abs_diff"] < 1.0
    # full integer, calibrated on the photos: a few levels off (5.5 measured), not a broken engine
    assert rows[LITERT_INT8]["mean_abs_diff"] < 16.0
    assert rows[LITERT_INT8]["vs_litert_int8"] == pytest.approx(1.0)
    assert rows[REFERENCE]["vs_litert_int8"] > 0
    assert "than LiteRT INT8" in text


def test_a_missing_engine_is_a_skipped_row_not_a_crash(tiny_stylizer, monkeypatch):
    monkeypatch.setitem(sys.modules, "ai_edge_litert", None)  # import raises ModuleNotFoundError
    t = tiny_stylizer
    files = Files(t.onnx, keras=t.keras, calib=t.photos)
    [table], gatys = bench_stylize(files, [(64, 48)], [1], 2, t.frame)
    assert gatys is None
    rows = {row.name: row for row in table.rows}
    for name in ("LiteRT FP32", LITERT_INT8):
        assert rows[name].p50_ms is None
        assert rows[name].note.startswith("skipped: ") and "ai_edge_litert" in rows[name].note
    assert rows[REFERENCE].p50_ms is not None and rows[KERAS].p50_ms is not None


def test_bad_models_are_a_one_line_error(tiny_stylizer, tmp_path, capsys):
    from edgeimg.runtime.model import bundled_model_path

    frame = ["--frame", str(tiny_stylizer.frame), "--sizes", "64x48", "--rounds", "1"]
    missing = tmp_path / "missing.onnx"
    assert main(["--model", str(missing), *frame]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"bench stylize: error: --model: no such model file: {missing}"]
    upscaler = bundled_model_path("upscale")
    assert main(["--model", str(upscaler), *frame]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"bench stylize: error: --model {upscaler}: expected a stylize model, got upscale"
    ]


def test_loss_network_bench_judges_every_gatys_result_in_every_network(tiny_stylizer, tmp_path):
    from edgeimg.bench import stylize_loss_nets

    picture, report = tmp_path / "nets.png", tmp_path / "nets.json"
    argv = ["--style", str(tiny_stylizer.style), "--photos", str(tiny_stylizer.photos)]
    argv += ["--nets", "camvid-seg,random-vgg16-half", "--count", "2", "--size", "64"]
    argv += ["--steps", "5", "--picture", str(picture), "--json", str(report)]
    assert stylize_loss_nets.main(argv) == 0
    figures = json.loads(report.read_text())
    for name in ("camvid-seg", "random-vgg16-half"):
        res = figures["results"][name]
        assert set(res["result"]) == {"camvid-seg", "random-vgg16-half"}
        assert len(res["seconds"]) == 2 and len(res["result"][name]) == 2
        # Gatys lowers the loss it optimises, from the photo's own
        own = [r["total"] for r in res["result"][name]]
        assert all(a < b["total"] for a, b in zip(own, res["photo"][name], strict=True))
    import cv2

    image = cv2.imread(str(picture))
    assert image.shape[0] == 2 * 48 and image.shape[1] == 4 * 64  # 2 photos; photo|style|2 nets


def test_loss_network_bench_names_a_bad_network_in_one_line(tiny_stylizer, capsys):
    from edgeimg.bench import stylize_loss_nets

    argv = ["--style", str(tiny_stylizer.style), "--photos", str(tiny_stylizer.photos)]
    assert stylize_loss_nets.main([*argv, "--nets", "no-such-net", "--steps", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("stylize_loss_nets: error: loss network") and "\n" not in err
