"""The super-resolution peers bench on a small real set: every contender scored, no timing checks."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from edgeimg.bench.harness import RunPlan
from edgeimg.bench.upscale import bench_upscale, main, table
from edgeimg.runtime.model import bundled_model_path

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def two_set5_images(tmp_path: Path) -> Path:
    set5 = Path(os.environ.get("EDGEIMG_DATA", REPO.parent / "shared" / "data")) / "SR" / "CSet5"
    if not set5.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"real data missing: {set5}")
        pytest.skip(f"real data missing: {set5}")
    folder = tmp_path / "set"
    folder.mkdir()
    for name in ("baby.png", "bird.png"):
        shutil.copy(set5 / name, folder / name)
    return folder


def test_the_model_beats_every_classic_resize_on_real_images(two_set5_images):
    plan = RunPlan(warmup=1, iterations=2, rounds=1)
    rows = bench_upscale(two_set5_images, 3, bundled_model_path("upscale"), None, (36, 64), 1, plan)
    by_name = {row.name: row for row in rows}
    assert set(by_name) == {
        "OpenCV bicubic",
        "OpenCV Lanczos",
        "MATLAB bicubic (numpy)",
        "edgeimg onnxruntime FP32",
        "edgeimg opencv FP32",
    }
    model = by_name["edgeimg onnxruntime FP32"]
    assert (
        model.psnr > max(by_name[n].psnr for n in by_name if "bicubic" in n or "Lanczos" in n) + 1
    )
    assert abs(by_name["edgeimg opencv FP32"].psnr - model.psnr) < 0.01  # same model, same output
    assert all(row.p50_ms > 0 for row in rows)
    assert "| edgeimg onnxruntime FP32 |" in table(rows, two_set5_images, 3, (36, 64))


def test_also_adds_a_row_per_model_named_after_its_file(two_set5_images, tmp_path):
    copy = tmp_path / "same_model.onnx"
    shutil.copy(bundled_model_path("upscale"), copy)
    plan = RunPlan(warmup=1, iterations=2, rounds=1)
    rows = bench_upscale(
        two_set5_images, 3, bundled_model_path("upscale"), None, (36, 64), 1, plan, also=(copy,)
    )
    by_name = {row.name: row for row in rows}
    assert (
        by_name["edgeimg onnxruntime same_model"].psnr == by_name["edgeimg onnxruntime FP32"].psnr
    )


def test_a_model_of_another_scale_is_a_one_line_error(two_set5_images, capsys):
    code = main(["--set", str(two_set5_images), "--scale", "2", "--iterations", "1"])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"bench upscale: error: {bundled_model_path('upscale')}: expected an x2 upscale model, got 3"
    ]


def test_compare_writes_bicubic_model_original_side_by_side(two_set5_images, tmp_path):
    import cv2

    from edgeimg.bench.upscale import write_comparisons

    out = tmp_path / "compare"
    written = write_comparisons(two_set5_images, 3, bundled_model_path("upscale"), out)
    assert [p.name for p in written] == ["baby.png", "bird.png"]
    for path in written:
        original = cv2.imread(str(two_set5_images / path.name))
        panels = cv2.imread(str(path))
        height, width = (s - s % 3 for s in original.shape[:2])
        assert panels.shape == (height, 3 * width, 3)
        # the right panel is the original itself (below its label)
        assert (panels[40:, 2 * width :] == original[40:height, :width]).all()
    assert sorted(p.name for p in out.iterdir()) == ["baby.png", "bird.png"]  # no temp files


def test_litert_rows_run_the_same_keras_model_through_the_runtime_colour_path(
    two_set5_images, tmp_path
):
    pytest.importorskip("ai_edge_litert")
    from edgeimg.bench.upscale import litert_contenders, quality
    from edgeimg.train.fit import save_keras
    from edgeimg.train.tasks.upscale.contract import upscale_contract
    from edgeimg.train.tasks.upscale.models import build_upscaler

    path = save_keras(build_upscaler("espcn", 3, 16), tmp_path / "x3.keras", upscale_contract(3))
    rows = litert_contenders(path, 3, two_set5_images, threads=1)
    assert set(rows) == {"LiteRT FP32", "LiteRT INT8"}
    frame = np.full((20, 30, 3), 128, np.uint8)
    for enlarge in rows.values():
        assert enlarge(frame).shape == (60, 90, 3)
        assert enlarge(frame[:10, :12]).shape == (30, 36, 3)  # resized to each frame's size
    # LiteRT FP32 gives Keras's image (same prepare and decoder), INT8 stays close on real images
    from edgeimg.export.keras_file import load_keras
    from edgeimg.runtime.tasks.upscale.image import prepare_luma
    from edgeimg.runtime.tasks.upscale.ycbcr import YCbCrDecoder

    model, contract = load_keras(path)
    tensor, transform = prepare_luma(frame, contract)
    keras_image = YCbCrDecoder(3)([np.asarray(model(tensor))], transform).image
    assert np.abs(rows["LiteRT FP32"](frame).astype(int) - keras_image).max() <= 1
    fp32, int8 = (quality(rows[name], two_set5_images, 3)[0] for name in sorted(rows))
    assert abs(fp32 - int8) < 2
