"""The generate task's runtime: latent inputs, class names, the spherical walk, grids, and the
bundled Fashion-MNIST generator through the Python API and the CLI (no TensorFlow)."""

from __future__ import annotations

import numpy as np
import pytest

from edgeimg.cli.main import main
from edgeimg.runtime import EdgeimgError, bundled_model_path, load_generator, load_model
from edgeimg.runtime.tasks.generate import grid, to_uint8
from edgeimg.runtime.tasks.generate.latent import (
    GenerateParams,
    class_index,
    model_input,
    sample_inputs,
    sample_z,
    slerp,
)

NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
         "Bag", "Ankle boot")  # fmt: skip


def test_model_input_appends_the_class_one_hot():
    params = GenerateParams(latent_dim=4, conditional=True)
    z = sample_z(3, 4, seed=0)
    x = model_input(z, np.array([0, 9, 7]), params, 10)
    assert x.shape == (3, 14) and x.dtype == np.float32
    np.testing.assert_array_equal(x[:, :4], z)
    assert x[1, 4 + 9] == 1 and x[1, 4:].sum() == 1 and x[2, 4 + 7] == 1
    with pytest.raises(EdgeimgError, match=r"expected \(N, 4\), got shape \(3, 5\)"):
        model_input(np.zeros((3, 5)), np.zeros(3, int), params, 10)
    with pytest.raises(EdgeimgError, match=r"class indices in 0\.\.9"):
        model_input(z, np.array([0, 10, 1]), params, 10)
    assert model_input(z, None, GenerateParams(4), 0).shape == (3, 4)


def test_same_seed_same_draws_and_calibration_cycles_classes():
    np.testing.assert_array_equal(sample_z(5, 8, 3), sample_z(5, 8, 3))
    assert not np.array_equal(sample_z(5, 8, 3), sample_z(5, 8, 4))
    x = sample_inputs(GenerateParams(8, conditional=True), 10, 25, seed=1)
    assert x[:, 8:].argmax(axis=1).tolist() == [i % 10 for i in range(25)]
    with pytest.raises(EdgeimgError, match="count: expected >= 1 images, got 0"):
        sample_z(0, 8, 0)


@pytest.mark.parametrize(
    ("name", "index"),
    [
        ("sneaker", 7),
        ("Sneakers", 7),
        ("ankle boot", 9),
        ("ANKLE_BOOT", 9),
        ("t-shirt/top", 0),
        ("3", 3),
        (3, 3),
    ],
)
def test_classes_by_name_or_index(name, index):
    assert class_index(name, NAMES) == index


def test_an_unknown_class_lists_the_valid_ones():
    with pytest.raises(EdgeimgError, match=r"no class 'hat'; valid: 0=T-shirt/top, 1=Trouser"):
        class_index("hat", NAMES)
    with pytest.raises(EdgeimgError, match="no class 10;"):
        class_index(10, NAMES)


def test_slerp_keeps_the_norm_of_gaussian_draws():
    a, b = sample_z(2, 512, seed=0)
    path = slerp(a, b, 9)
    np.testing.assert_allclose(path[0], a, atol=1e-5)
    np.testing.assert_allclose(path[-1], b, atol=1e-5)
    norms = np.linalg.norm(path, axis=1)
    # a straight line dips to ~0.71 of the norm halfway; the great circle stays near it
    assert norms.min() > 0.95 * min(np.linalg.norm(a), np.linalg.norm(b))
    assert np.linalg.norm((a + b) / 2) < 0.8 * np.linalg.norm(a)


def test_tanh_to_uint8_and_grid_layout():
    images = to_uint8(np.array([-1.0, 0.0, 1.0, 2.0], np.float32).reshape(1, 2, 2, 1))
    assert images.reshape(-1).tolist() == [0, 128, 255, 255]
    nchw = to_uint8(np.zeros((2, 3, 8, 8), np.float32))
    assert nchw.shape == (2, 8, 8, 3)
    canvas = grid(np.full((5, 4, 6, 1), 200, np.uint8), columns=3, pad=1)
    assert canvas.shape == (2 * 5 + 1, 3 * 7 + 1, 3)
    assert canvas[1, 1].tolist() == [200, 200, 200] and canvas[0, 0].tolist() == [40, 40, 40]
    assert canvas[-2, -2].tolist() == [40, 40, 40]  # the sixth cell stays empty


def test_the_bundled_generator_makes_the_asked_classes():
    generator = load_generator()
    assert generator.params.conditional and generator.class_names == NAMES
    batch = generator.generate(10, "trouser", seed=0)
    assert batch.images.shape == (10, 28, 28, 1) and batch.images.dtype == np.uint8
    assert batch.labels.tolist() == [1] * 10
    again = generator.generate(10, "trouser", seed=0)
    np.testing.assert_array_equal(batch.images, again.images)
    # trousers are tall and narrow: more ink in the middle columns than at the sides
    ink = batch.images[..., 0].astype(float).mean(axis=(0, 1))
    assert ink[10:18].mean() > 1.5 * np.r_[ink[:4], ink[24:]].mean()
    frames = list(generator.interpolate(1, 2, 5, cls="sneaker", cls_b="bag"))
    assert len(frames) == 5 and frames[0].shape == (28, 28, 1)


def test_predict_refuses_a_generator_and_generate_refuses_a_detector(tmp_path, capsys):
    with pytest.raises(EdgeimgError, match=r"takes no image .* run it with `edgeimg generate`"):
        load_model(bundled_model_path("generate"))
    out = tmp_path / "grid.png"
    assert main(["generate", str(bundled_model_path("detect")), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "a detect model, not a generator" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_generate_with_no_model_path_writes_a_grid(tmp_path, capsys):
    out = tmp_path / "grid.png"
    assert main(["generate", "--count", "64", "--class", "sneaker", "-o", str(out)]) == 0
    import cv2

    assert cv2.imread(str(out)).shape == (8 * 58 + 2, 8 * 58 + 2, 3)
    assert "generated 64 images" in capsys.readouterr().out
