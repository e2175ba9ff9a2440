"""Super-resolution training layer: MATLAB bicubic, YCbCr, PSNR/SSIM, patches, ESPCN/FSRCNN
and a short real training run on CamVid crops (scored on Set5)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from edgeimg.runtime.errors import EdgeimgError
from edgeimg.train.tasks.upscale.color import rgb_to_y, rgb_to_ycbcr, ycbcr_to_rgb
from edgeimg.train.tasks.upscale.metrics import psnr, ssim
from edgeimg.train.tasks.upscale.resize import (
    compare_with_opencv,
    downscale,
    imresize,
    modcrop,
    resize_matrix,
    upscale_bicubic,
)

REPO = Path(__file__).resolve().parents[2]


def data_dir(*parts: str) -> Path:
    """A folder of the real data (EDGEIMG_DATA or ../shared/data): skips locally, fails in CI."""
    root = Path(os.environ.get("EDGEIMG_DATA", REPO.parent / "shared" / "data"))
    path = root.joinpath(*parts)
    if not path.is_dir():
        message = f"real data missing: {path} (set EDGEIMG_DATA)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


# ---------------------------------------------------------------- MATLAB bicubic


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_constant_image_stays_constant(scale):
    image = np.full((12 * scale, 10 * scale, 3), 77.0)
    low = downscale(image, scale)
    assert low.shape == (12, 10, 3)
    np.testing.assert_allclose(low, 77.0, atol=1e-9)
    np.testing.assert_allclose(upscale_bicubic(low, scale), 77.0, atol=1e-9)


def test_hand_derived_values():
    # Antialiased x1/2: kernel 0.5*cubic(0.5 d) at d = ±0.5, ±1.5, ±2.5, ±3.5, normalised.
    row = resize_matrix(16, 8, 0.5)[4]
    expected = [-0.01171875, -0.03515625, 0.11328125, 0.43359375]
    np.testing.assert_allclose(row[5:13], expected + expected[::-1], atol=1e-12)
    # MATLAB imresize([1 2 3 4], 0.5): mirrored taps 4 3 2 1 | 1 2 3 4 | 4 3.
    np.testing.assert_allclose(imresize(np.array([[1.0, 2, 3, 4]]), 0.5)[0], [1.4609375, 3.5390625])
    # Upscaling x2 samples at d = ±0.25, ±0.75, ±1.25, ±1.75: cubic(0.25) = 0.8671875 etc.
    up = resize_matrix(8, 16, 2.0)[8]
    np.testing.assert_allclose(up[2:6], [-0.0234375, 0.2265625, 0.8671875, -0.0703125])


@pytest.mark.parametrize("shape", [(5, 7), (9, 4), (30, 12)])
def test_weights_sum_to_one(shape):
    for scale in (0.5, 1 / 3, 0.25, 2.0, 3.0):
        matrix = resize_matrix(shape[0], max(1, round(shape[0] * scale)), scale)
        np.testing.assert_allclose(matrix.sum(axis=1), 1.0, atol=1e-12)


def test_linear_ramp_x2_matches_analytic_value():
    ramp = np.tile(np.arange(40, dtype=np.float64), (6, 1))  # f(x) = x, 0-based columns
    low = downscale(np.tile(ramp, (1, 1))[:6, :40], 2)
    # Output column j samples x = 2 j + 0.5 with a symmetric kernel: exact away from the mirror.
    np.testing.assert_allclose(low[:, 2:-2], np.tile(2 * np.arange(20) + 0.5, (3, 1))[:, 2:-2])
    assert abs(low[0, 0] - 0.5) > 1e-3  # the mirrored border differs from the ramp


def test_antialias_suppresses_aliasing():
    x = np.arange(96)
    stripes = 128 + 100 * np.cos(2 * np.pi * 0.4 * x)  # above the x3 LR Nyquist (1/6)
    image = np.tile(stripes, (96, 1))
    with_aa = imresize(image, 1 / 3)
    without = imresize(image, 1 / 3, antialias=False)
    assert with_aa.shape == without.shape == (32, 32)
    assert with_aa[4:-4, 4:-4].std() < 0.2 * without[4:-4, 4:-4].std()
    assert without[4:-4, 4:-4].std() > 20


def test_flip_and_rotation_commute_with_downscale():
    rng = np.random.default_rng(1)
    hr = rng.uniform(0, 255, (24, 36))
    np.testing.assert_allclose(downscale(np.rot90(hr), 3), np.rot90(downscale(hr, 3)), atol=1e-9)
    np.testing.assert_allclose(downscale(hr[:, ::-1], 3), downscale(hr, 3)[:, ::-1], atol=1e-9)


def test_downscale_refuses_sizes_not_multiple_of_scale():
    with pytest.raises(EdgeimgError, match="multiples of 3"):
        downscale(np.zeros((10, 9)), 3)
    assert modcrop(np.zeros((10, 11, 3)), 3).shape == (9, 9, 3)


# ---------------------------------------------------------------- colour and metrics


def test_ycbcr_matches_matlab_and_round_trips():
    rgb = np.array([[0, 0, 0], [255, 255, 255], [255, 0, 0], [0, 255, 0], [0, 0, 255]], float)
    ycc = rgb_to_ycbcr(rgb)
    np.testing.assert_allclose(ycc[0], [16, 128, 128], atol=1e-9)
    np.testing.assert_allclose(ycc[1], [235, 128, 128], atol=1e-9)
    np.testing.assert_allclose(ycc[2], [81.481, 90.203, 240.0], atol=1e-9)
    np.testing.assert_allclose(rgb_to_y(rgb), ycc[:, 0])
    pixels = np.random.default_rng(0).uniform(0, 255, (7, 5, 3))
    np.testing.assert_allclose(ycbcr_to_rgb(rgb_to_ycbcr(pixels)), pixels, atol=1e-9)
    with pytest.raises(EdgeimgError, match=r"\(\.\.\., 3\)"):
        rgb_to_ycbcr(np.zeros((4, 4)))


def test_psnr_and_ssim_on_known_pairs():
    rng = np.random.default_rng(0)
    image = rng.uniform(30, 220, (40, 40))
    assert psnr(image, image, shave=3) == math.inf
    assert ssim(image, image, shave=3) == pytest.approx(1.0, abs=1e-12)
    sign = np.where((np.indices((40, 40)).sum(axis=0)) % 2 == 0, 1.0, -1.0)
    noisy = image + 5 * sign  # MSE exactly 25
    assert psnr(noisy, image) == pytest.approx(10 * math.log10(255**2 / 25), abs=0.01)
    assert psnr(noisy, image, shave=4) == pytest.approx(34.1514, abs=0.01)
    # Constant images 100 and 110: SSIM = (2*100*110 + C1) / (100^2 + 110^2 + C1).
    c1 = (0.01 * 255) ** 2
    expected = (2 * 100 * 110 + c1) / (100**2 + 110**2 + c1)
    assert ssim(np.full((20, 20), 110.0), np.full((20, 20), 100.0)) == pytest.approx(expected)
    # ±5 checkerboard on a flat image: variance 25, no covariance, SSIM = C2 / (25 + C2).
    c2 = (0.03 * 255) ** 2
    flat = np.full((40, 40), 100.0)
    assert ssim(flat + 5 * sign, flat) == pytest.approx(c2 / (25 + c2), abs=1e-3)
    with pytest.raises(EdgeimgError, match="same shape"):
        psnr(image, image[:-1])


def test_set5_bicubic_matches_published_and_opencv_differs():
    from edgeimg.train.tasks.upscale.data import list_images, read_y

    images = [read_y(p) for p in list_images(data_dir("SR", "CSet5"))]
    assert len(images) == 5
    diff = compare_with_opencv(images, 3)
    # SRCNN/FSRCNN/ESPCN tables: Set5 x3 bicubic 30.39 dB (MATLAB, Y, shave 3).
    assert diff["bicubic_psnr_matlab"] == pytest.approx(30.39, abs=0.05)
    assert diff["bicubic_psnr_opencv"] < diff["bicubic_psnr_matlab"] - 0.1
    assert 25 < diff["lr_psnr"] < 50


# ---------------------------------------------------------------- data and models


def test_patch_sequence_is_aligned_and_reproducible():
    from edgeimg.train.tasks.upscale.data import PatchSequence, load_pairs

    pairs = load_pairs((data_dir("SR", "CSet5"),), 3)
    seq = PatchSequence(pairs, 3, 24, batch_size=4, steps=2, seed=5)
    lr, hr = seq[0]
    assert lr.shape == (4, 8, 8, 1) and hr.shape == (4, 24, 24, 1)
    np.testing.assert_array_equal(seq[0][0], lr)
    assert not np.array_equal(seq[1][0], lr)
    for n in range(4):  # HR patches are cut at 3x the LR place: their downscale is close
        assert (
            psnr(downscale(hr[n, ..., 0].astype(np.float64), 3)[2:-2, 2:-2], lr[n, 2:-2, 2:-2, 0])
            > 30
        )
    with pytest.raises(EdgeimgError, match="multiple of scale"):
        PatchSequence(pairs, 3, 25, batch_size=4, steps=2)


@pytest.mark.parametrize("arch", ["espcn", "fsrcnn"])
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_models_upscale_any_size(arch, scale):
    from edgeimg.train.tasks.upscale.models import build_upscaler

    model = build_upscaler(arch, scale, 8)
    x = np.random.default_rng(0).uniform(0, 255, (1, 7, 11, 1)).astype(np.float32)
    y = np.asarray(model(x))
    assert y.shape == (1, 7 * scale, 11 * scale, 1)
    assert y.min() >= 0 and y.max() <= 255


def test_espcn_anchor_is_nearest_upscale_and_file_round_trips(tmp_path):
    import keras

    from edgeimg.train.tasks.upscale.models import build_espcn
    from edgeimg.train.tasks.upscale.train import save_model_atomic

    model = build_espcn(3, 16)
    model.set_weights([np.zeros_like(w) for w in model.get_weights()])
    x = np.random.default_rng(0).uniform(0, 255, (1, 5, 6, 1)).astype(np.float32)
    nearest = np.repeat(np.repeat(x, 3, axis=1), 3, axis=2)
    np.testing.assert_allclose(np.asarray(model(x)), nearest, atol=1e-3)
    model = build_espcn(3, 16)
    path = save_model_atomic(model, tmp_path / "m.keras")
    loaded = keras.models.load_model(path, safe_mode=True)
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(model(x)), atol=1e-4)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.keras"]
    with pytest.raises(EdgeimgError, match="expected one of"):
        build_espcn(5, 16)


# ---------------------------------------------------------------- a real training run


def test_short_training_run_lowers_the_loss(tmp_path):
    from edgeimg.train.tasks.upscale.train import UpscaleConfig, train_upscale

    config = UpscaleConfig(
        train_dirs=(data_dir("CamVid", "train"),),
        val_dirs=(data_dir("SR", "CSet5"),),
        output=tmp_path / "espcn.keras",
        scale=3,
        width=16,
        patch_size=48,
        epochs=4,
        steps_per_epoch=30,
        batch_size=16,
        learning_rate=3e-3,
        loss="l1",
        max_images=6,
        verbose=0,
    )
    result = train_upscale(config)
    losses = [e["loss"] for e in result.epochs]
    assert losses[-1] < losses[0] * 0.9, losses
    assert result.path.is_file() and result.path.with_suffix(".json").is_file()
    (score,) = result.scores
    assert score.images == 5 and score.bicubic_psnr == pytest.approx(30.39, abs=0.05)
    assert score.psnr > 24  # starts at the nearest-neighbour anchor (about 28 dB), not garbage
    with pytest.raises(EdgeimgError, match="multiple of scale"):
        UpscaleConfig(train_dirs=(tmp_path,), patch_size=50)
    from edgeimg.train.tasks.upscale.models import build_espcn
    from edgeimg.train.tasks.upscale.train import load_weights_from

    with pytest.raises(EdgeimgError, match="expected weights shaped"):
        load_weights_from(build_espcn(3, 8), result.path)
    same = build_espcn(3, 16)
    load_weights_from(same, result.path)
    lr = np.full((1, 9, 9, 1), 120.0, np.float32)
    trained = keras_load(result.path)
    np.testing.assert_allclose(np.asarray(same(lr)), np.asarray(trained(lr)), atol=1e-4)


def keras_load(path):
    import keras

    import edgeimg.train.tasks.upscale.models  # noqa: F401  (registers PixelShuffle)

    return keras.models.load_model(path, safe_mode=True)


def test_an_rgb_espcn_anchor_is_the_nearest_upscale_of_every_channel():
    from edgeimg.train.tasks.upscale.models import build_espcn

    model = build_espcn(3, 16, channels=3)
    model.set_weights([np.zeros_like(w) for w in model.get_weights()])
    x = np.random.default_rng(0).uniform(0, 255, (1, 5, 6, 3)).astype(np.float32)
    nearest = np.repeat(np.repeat(x, 3, axis=1), 3, axis=2)
    np.testing.assert_allclose(np.asarray(model(x)), nearest, atol=1e-3)


def test_a_short_rgb_run_learns_colour_and_is_scored_on_y(tmp_path):
    """--color rgb: (N, p, p, 3) patches, a 3-channel model with the colour contract, Set5
    scored on the BT.601 Y of its colour output (bicubic of the RGB LR, as the papers)."""
    from edgeimg.export.keras_file import read_contract
    from edgeimg.train.tasks.upscale.data import Color, PatchSequence, load_pairs
    from edgeimg.train.tasks.upscale.train import UpscaleConfig, train_upscale

    pairs = load_pairs((data_dir("CamVid", "train"),), 3, 16, limit=2, color=Color.RGB)
    lr, hr = PatchSequence(pairs, 3, 48, 4, 1)[0]
    assert lr.shape == (4, 16, 16, 3) and hr.shape == (4, 48, 48, 3)
    assert np.ptp(hr[..., 0] - hr[..., 2]) > 0  # colour, not three copies of Y
    config = UpscaleConfig(
        train_dirs=(data_dir("CamVid", "train"),),
        val_dirs=(data_dir("SR", "CSet5"),),
        output=tmp_path / "rgb.keras",
        width=16,
        epochs=3,
        steps_per_epoch=30,
        batch_size=16,
        learning_rate=3e-3,
        max_images=6,
        color="rgb",
        verbose=0,
    )
    result = train_upscale(config)
    losses = [e["loss"] for e in result.epochs]
    assert losses[-1] < losses[0] * 0.9, losses
    (score,) = result.scores
    assert score.bicubic_psnr == pytest.approx(30.39, abs=0.1) and score.psnr > 24
    contract = read_contract(result.path)
    assert (contract.channels, contract.color_order.value, contract.decoder) == (3, "RGB", "rgb")
    with pytest.raises(EdgeimgError, match="color: expected y or rgb"):
        UpscaleConfig(train_dirs=(tmp_path,), color="yuv")
