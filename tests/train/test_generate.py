"""Image generation end to end on real Fashion-MNIST: a few training steps of the conditional
DCGAN and the VAE (losses moving the right way), resume, export with parity and FP16, the INT8
gate scored in FID-FMNIST by a judge classifier, and `edgeimg generate` on the result."""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
pytest.importorskip("tensorflow")

from edgeimg.cli.main import main
from edgeimg.export import ExportPlan, QuantizePlan, export_model
from edgeimg.export.evaluation import HeldOut
from edgeimg.export.fid import Judge, frechet_distance
from edgeimg.export.keras_file import read_contract
from edgeimg.runtime.errors import EdgeimgError
from edgeimg.runtime.tasks.generate import load_generator
from edgeimg.train.tasks.generate.data import GenerationData, load_images
from edgeimg.train.tasks.generate.train import (
    GenerateConfig,
    GenerateResult,
    Networks,
    train_generator,
)

FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(scope="module")
def fashion() -> GenerationData:
    if not FASHION.is_dir():
        message = f"Debian package dataset-fashion-mnist missing ({FASHION})"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    full = load_images(FASHION)
    return GenerationData(
        full.x_train[:2048], full.y_train[:2048], full.x_test[:500], full.y_test[:500],
        full.class_names,
    )  # fmt: skip


@pytest.fixture(scope="module")
def cgan_run(tmp_path_factory, fashion) -> GenerateResult:
    """A conditional DCGAN (width 0.25) after 3 epochs of 12 steps on real images."""
    out = tmp_path_factory.mktemp("cgan") / "cgan.keras"
    config = GenerateConfig(
        FASHION, out, "dcgan", conditional=True, width=0.25, epochs=3, batch_size=64,
        steps_per_epoch=12, seed=1,
    )  # fmt: skip
    return train_generator(config, fashion)


@pytest.fixture(scope="module")
def cgan(cgan_run) -> Path:
    return cgan_run.path


@pytest.fixture(scope="module")
def judge(tmp_path_factory) -> Path:
    """A small Fashion-MNIST classifier (1 epoch on 3,000 images) as FID's feature network."""
    if not FASHION.is_dir():
        pytest.skip("Debian package dataset-fashion-mnist missing")
    out = tmp_path_factory.mktemp("judge") / "judge.keras"
    code = main(
        ["-q", "train", "classify", str(FASHION), "--limit", "3000", "--epochs", "1",
         "--no-augment", "-o", str(out)]
    )  # fmt: skip
    assert code == 0
    return out


def test_conditional_gan_trains_on_real_images(cgan_run, cgan):
    history = cgan_run.history
    assert [h.epoch for h in history] == [1, 2, 3]
    first, last = history[0].losses, history[-1].losses
    # the discriminator learns to tell real from generated: its losses fall from ln 4 = 1.39
    assert last["d_loss"] < first["d_loss"] < 1.45
    assert last["d_real"] > last["d_fake"]
    contract = read_contract(cgan)
    assert contract.task == "generate" and contract.class_names[7] == "Sneaker"
    assert contract.task_params["conditional"] is True
    assert contract.task_params["latent_dim"] == 100
    grids = sorted((cgan.parent / "cgan_samples").glob("epoch_*.png"))
    assert [g.name for g in grids] == ["epoch_001.png", "epoch_002.png", "epoch_003.png"]
    image = cv2.imread(str(grids[-1]))
    assert image.shape == (10 * 58 + 2, 10 * 58 + 2, 3)  # 10 classes x 10 rows of 56 px + pad
    log = [json.loads(line) for line in (cgan.parent / "cgan_checkpoints/log.jsonl").open()]
    assert [entry["epoch"] for entry in log] == [1, 2, 3]


def test_the_auxiliary_class_loss_teaches_the_discriminator_the_classes(tmp_path, fashion):
    result = train_generator(
        GenerateConfig(
            FASHION, tmp_path / "ac.keras", "dcgan", conditional=True, width=0.25, epochs=3,
            batch_size=64, steps_per_epoch=20, aux_weight=1.0, seed=2,
        ),
        fashion,
    )  # fmt: skip
    first, last = result.history[0].losses, result.history[-1].losses
    assert last["d_class"] < 0.85 * first["d_class"]  # from ln 10 = 2.3 towards the classes
    assert {"g_class", "d_loss", "g_loss"} <= set(last)


def test_the_generator_sampled_and_saved_is_the_moving_average_of_its_weights(fashion):
    import tensorflow as tf

    config = GenerateConfig(FASHION, Path("unused.keras"), "dcgan", width=0.25, ema=0.9)
    nets = Networks(config, fashion.image_shape, len(fashion.class_names))
    assert nets.sampler is nets.average
    before = [w.numpy() for w in nets.average.weights]
    assert all(
        np.array_equal(a, g.numpy()) for a, g in zip(before, nets.generator.weights, strict=True)
    )
    nets.updates.assign(1000)  # past the ramp: the decay is the configured 0.9
    real = tf.cast(fashion.x_train[:32], tf.float32) / 127.5 - 1.0
    nets.step(real, tf.constant(fashion.y_train[:32]))
    moved = 0
    for old, avg, live in zip(before, nets.average.weights, nets.generator.weights, strict=True):
        np.testing.assert_allclose(avg.numpy(), 0.9 * old + 0.1 * live.numpy(), atol=1e-6)
        moved += not np.allclose(avg.numpy(), live.numpy())
    assert moved > len(before) // 2  # the average lags the trained weights
    plain = Networks(
        GenerateConfig(FASHION, Path("unused.keras"), "dcgan", width=0.25, ema=0.0),
        fashion.image_shape, len(fashion.class_names),
    )  # fmt: skip
    assert plain.average is None and plain.sampler is plain.generator
    with pytest.raises(EdgeimgError, match="--ema: the weight average is for --arch dcgan"):
        GenerateConfig(FASHION, Path("v.keras"), "vae", ema=0.99)
    with pytest.raises(EdgeimgError, match=r"--ema: expected 0 <= decay < 1, got 1.0"):
        GenerateConfig(FASHION, Path("g.keras"), "dcgan", ema=1.0)


def test_resume_continues_from_the_checkpoint(tmp_path, fashion):
    out = tmp_path / "vae.keras"
    base = dict(arch="vae", epochs=1, batch_size=64, steps_per_epoch=4, width=0.25)
    train_generator(GenerateConfig(FASHION, out, **base), fashion)
    resumed = train_generator(
        GenerateConfig(FASHION, out, **{**base, "epochs": 2}, resume=True), fashion
    )
    assert [h.epoch for h in resumed.history] == [2]
    log = (tmp_path / "vae_checkpoints/log.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in log] == [1, 2]
    with pytest.raises(EdgeimgError, match="--resume: no checkpoint"):
        train_generator(
            GenerateConfig(FASHION, tmp_path / "other.keras", **base, resume=True), fashion
        )


def test_vae_elbo_falls_and_is_reported_on_the_test_set(tmp_path, fashion):
    result = train_generator(
        GenerateConfig(
            FASHION, tmp_path / "cvae.keras", "vae", conditional=True, epochs=3,
            batch_size=64, steps_per_epoch=15,
        ),
        fashion,
    )  # fmt: skip
    losses = [h.losses["loss"] for h in result.history]
    assert losses[-1] < losses[0] * 0.9, losses
    test = result.vae_test
    assert test is not None
    assert test["neg_elbo_nats"] == pytest.approx(test["recon_nats"] + test["kl_nats"])
    assert 0 < test["recon_mae_pixels"] < 128


def test_frechet_distance_matches_the_closed_form():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4000, 3))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    # N(0, I) vs N(m, 4I): |m|^2 + tr(I + 4I - 2 * 2I) = |m|^2 + 3
    b = rng.standard_normal((4000, 3)) * 2 + np.array([1.0, 2.0, 0.0])
    assert frechet_distance(a, b) == pytest.approx(5.0 + 3.0, rel=0.1)
    with pytest.raises(EdgeimgError, match="FID: expected two"):
        frechet_distance(a, b[:, :2])


def test_export_parity_fp16_and_the_fid_gate(cgan, judge, fashion, tmp_path):
    out = tmp_path / "cgan.onnx"
    held_out = HeldOut(list(fashion.x_test), [0] * len(fashion.x_test), "labels", reference=judge)
    plan = ExportPlan(
        fp16=True,
        int8=QuantizePlan(held_out=lambda: held_out, rounds=20, force=True),
    )
    result = export_model(cgan, out, plan)
    assert result.parity is not None and result.parity.passed
    assert result.parity.agreement.fraction == 1.0
    assert result.fp16 is not None and max(d for _, d in result.fp16.max_abs_diff) < 0.01
    report = result.int8.report
    assert report.metric == "FID-FMNIST" and report.lower_is_better
    assert report.float_score > 0 and report.quant_score > 0
    assert report.accuracy_drop == pytest.approx(report.quant_score - report.float_score)
    generator = load_generator(out)
    batch = generator.generate(20, "sneaker", seed=3)
    assert batch.images.shape == (20, 28, 28, 1) and set(batch.labels) == {7}
    again = load_generator(result.int8.path).generate(20, "sneaker", seed=3)
    assert np.abs(again.images.astype(int) - batch.images).mean() < 20  # INT8 close to FP32


def test_judge_scores_real_images_close_and_noise_far(judge, fashion):
    model = Judge.load(judge)
    real_a, real_b = model.features(fashion.x_train[:500]), model.features(fashion.x_test)
    noise = np.random.default_rng(0).integers(0, 256, (500, 28, 28, 1), dtype=np.uint8)
    assert frechet_distance(real_a, real_b) * 5 < frechet_distance(model.features(noise), real_b)
    with pytest.raises(EdgeimgError, match="expects images"):
        model.features(np.zeros((2, 32, 32, 3), np.uint8))


def test_generate_cli_on_an_exported_model(cgan, tmp_path, capsys):
    onnx_path = tmp_path / "g.onnx"
    assert main(["-q", "export", str(cgan), "-o", str(onnx_path)]) == 0
    grid, each = tmp_path / "grid.png", tmp_path / "each"
    code = main(["generate", str(onnx_path), "--count", "12", "--class", "Ankle boot",
                 "--seed", "0", "-o", str(grid), "--each", str(each)])  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert "generated 12 images in" in out and "ms per image" in out
    assert cv2.imread(str(grid)).shape == (3 * 58 + 2, 4 * 58 + 2, 3)  # 12 images: 4 x 3
    files = sorted(each.iterdir())
    assert len(files) == 12 and files[0].name == "0000_Ankle_boot.png"
    assert cv2.imread(str(files[0]), cv2.IMREAD_UNCHANGED).shape == (28, 28)
    walk = tmp_path / "walk.mp4"
    code = main(["-q", "generate", str(onnx_path), "--interpolate", "1,2", "--frames", "12",
                 "--class", "sneaker,bag", "-o", str(walk)])  # fmt: skip
    assert code == 0
    capture = cv2.VideoCapture(str(walk))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 12
    assert capture.read()[1].shape == (224, 224, 3)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--class", "spaceship"], "no class 'spaceship'; valid: 0=T-shirt/top"),
        (["--count", "0"], "--count: expected >= 1, got 0"),
        (["-o", "grid.mp4"], "expected an image"),
        (["--interpolate", "1,2", "-o", "walk.png"], "expected a video"),
        (["--interpolate", "a,b", "-o", "walk.mp4"], "two integer seeds"),
    ],
)
def test_generate_bad_input_is_one_line_and_writes_nothing(
    cgan, tmp_path, capsys, monkeypatch, args, message
):
    onnx_path = tmp_path / "g.onnx"
    assert main(["-q", "export", str(cgan), "-o", str(onnx_path), "--no-verify"]) == 0
    monkeypatch.chdir(tmp_path)
    before = set(tmp_path.iterdir())
    assert main(["generate", str(onnx_path), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert set(tmp_path.iterdir()) == before


def test_bench_generate_scores_and_times_every_engine(cgan, judge, tmp_path, capsys):
    from edgeimg.bench.generate import main as bench_main

    onnx_path, int8 = tmp_path / "g.onnx", tmp_path / "g.int8.onnx"
    assert main(["-q", "export", str(cgan), "-o", str(onnx_path)]) == 0
    assert (
        main(["-q", "quantize", str(onnx_path), "-o", str(int8), "--force", "--rounds", "5"]) == 0
    )
    report = tmp_path / "bench.json"
    code = bench_main(
        ["--model", str(onnx_path), "--model", str(int8), "--judge", str(judge),
         "--data", str(FASHION), "--count", "300", "--speed", str(cgan), "--onnx",
         str(onnx_path), "--int8", str(int8), "--iterations", "4", "--json", str(report)]
    )  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert "| floor: 300 train images |" in out and "avx" in out.lower()
    figures = json.loads(report.read_text())
    rows = figures["quality"]["rows"]
    assert [r["name"] for r in rows] == ["g.onnx", "g.int8.onnx"]
    # a few steps of training are far from the data: FID well above the train-vs-test floor
    assert all(r["fid"] > 2 * figures["quality"]["floor"] for r in rows)
    assert all(0 <= r["class_accuracy"] <= 1 and len(r["per_class"]) == 10 for r in rows)
    timed = {
        (r["engine"], r["precision"], r["batch"]) for r in figures["speed"]["rows"] if r["p50_ms"]
    }
    assert {("onnxruntime", "fp32", 1), ("onnxruntime", "int8", 64), ("litert", "int8", 1),
            ("opencv dnn", "fp32", 1), ("keras/tensorflow", "fp32", 64)} <= timed  # fmt: skip


def test_an_output_that_cannot_be_written_is_refused_before_training(tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    config = GenerateConfig(FASHION, blocker / "g.keras", epochs=1)
    with pytest.raises(EdgeimgError, match="-o/--output: cannot create folder"):
        train_generator(config, data=None)  # refused before the data is even read
    assert not (tmp_path / "g_checkpoints").exists()
