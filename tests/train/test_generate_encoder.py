"""A VAE's encoder as a second ONNX model, end to end on real Fashion-MNIST: a few training
steps of a conditional VAE write the encoder beside the decoder; both export behind their parity
gates; real test images go through `edgeimg generate --encoder --reconstruct` (reconstructions
nearer their own originals than other images of the class, as in Keras) and
`--interpolate-images` (a video of the asked frame count); bad input is one line."""

from __future__ import annotations

import os
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
pytest.importorskip("tensorflow")

from test_generate import FASHION, fashion  # noqa: F401 (the module's fixture, reused)

from edgeimg.cli.main import main
from edgeimg.export import ExportPlan, export_model
from edgeimg.export.keras_file import load_keras, read_contract
from edgeimg.runtime.tasks.generate import load_encoder, load_generator, read_image, reconstruct
from edgeimg.train.tasks.generate.data import GenerationData, to_tanh
from edgeimg.train.tasks.generate.train import GenerateConfig, train_generator

SNEAKER = 7


@pytest.fixture(scope="module")
def cvae(tmp_path_factory, fashion) -> dict[str, Path]:  # noqa: F811
    """A conditional VAE (width 0.5, 3 epochs of 30 steps) and both its halves exported."""
    out = tmp_path_factory.mktemp("cvae") / "cvae.keras"
    config = GenerateConfig(
        FASHION, out, "vae", conditional=True, width=0.5, epochs=3, batch_size=64,
        steps_per_epoch=30, seed=3,
    )  # fmt: skip
    result = train_generator(config, fashion)
    assert result.encoder == out.with_name("cvae.encoder.keras")
    files = {"decoder_keras": out, "encoder_keras": result.encoder}
    for name, keras_path in (("decoder", out), ("encoder", result.encoder)):
        files[name] = out.with_name(f"{name}.onnx")
        exported = export_model(keras_path, files[name], ExportPlan())
        assert exported.parity is not None and exported.parity.passed, exported.parity
        files[f"{name}_parity"] = exported.parity  # type: ignore[assignment]
    return files


@pytest.fixture(scope="module")
def sneakers(tmp_path_factory, fashion) -> tuple[list[Path], np.ndarray]:  # noqa: F811
    """12 real test sneakers as grey PNG files, and their pixels (12, 28, 28, 1)."""
    folder = tmp_path_factory.mktemp("sneakers")
    pixels = fashion.x_test[fashion.y_test == SNEAKER][:12]
    paths = []
    for i, image in enumerate(pixels):
        paths.append(folder / f"sneaker{i}.png")
        cv2.imwrite(str(paths[-1]), image)
    return paths, pixels


def test_the_vae_writes_its_encoder_with_a_contract_and_it_exports_with_parity(cvae):
    contract = read_contract(cvae["encoder_keras"])
    assert contract.task == "generate" and contract.decoder == "posterior"
    assert contract.task_params["role"] == "encoder"
    assert read_contract(cvae["decoder_keras"]).task_params["role"] == "generator"
    assert contract.input_size == (28, 28) and contract.output_names == ("mean", "log_var")
    parity = cvae["encoder_parity"]
    assert parity.images == 32 and parity.agreement.fraction == 1.0
    assert all(o.max_abs < 1e-4 for o in parity.outputs), parity.summary()
    encoder = load_encoder(cvae["encoder"])
    assert encoder.latent_dim == 16 and encoder.backend.inputs[0].shape[1:] == (28, 28, 11)
    assert load_generator(cvae["decoder"]).params.latent_dim == 16


def test_onnx_reconstructions_match_keras_and_colour_files_are_read_as_in_training(cvae, sneakers):
    paths, pixels = sneakers
    encoder, generator = load_encoder(cvae["encoder"]), load_generator(cvae["decoder"])
    labels = np.full(len(paths), SNEAKER)
    result = reconstruct(encoder, generator, [read_image(p) for p in paths], labels)
    assert result.originals.shape == result.images.shape == (12, 28, 28, 1)
    np.testing.assert_array_equal(result.originals, pixels)
    # Keras: the same images through the two .keras files
    keras_encoder, _ = load_keras(cvae["encoder_keras"])
    keras_decoder, _ = load_keras(cvae["decoder_keras"])
    one_hot = np.eye(10, dtype=np.float32)[labels]
    planes = np.broadcast_to(one_hot[:, None, None, :], (12, 28, 28, 10))
    mean, _ = keras_encoder(np.concatenate([to_tanh(pixels), planes], axis=3))
    np.testing.assert_allclose(result.latents, np.asarray(mean), atol=1e-4)
    decoded = np.asarray(keras_decoder(np.concatenate([np.asarray(mean), one_hot], axis=1)))
    keras_images = np.clip(np.rint((decoded + 1) * 127.5), 0, 255)
    assert np.abs(keras_images - result.images).max() <= 1
    keras_mae = np.abs(keras_images - pixels).reshape(12, -1).mean(axis=1)
    np.testing.assert_allclose(result.mae, keras_mae, atol=0.05)
    # a colour file twice the size: INTER_AREA brings it back to the same grey pixels
    big = cv2.resize(
        cv2.cvtColor(pixels[0], cv2.COLOR_GRAY2BGR), (56, 56), interpolation=cv2.INTER_NEAREST
    )
    z = encoder.encode([big], labels[:1])
    np.testing.assert_allclose(z, result.latents[:1], atol=1e-5)


def test_reconstruct_real_images_through_the_cli(cvae, sneakers, tmp_path, capsys):
    paths, pixels = sneakers
    grid = tmp_path / "recon.png"
    code = main(
        ["generate", str(cvae["decoder"]), "--encoder", str(cvae["encoder"]), "--reconstruct",
         *map(str, paths), "--class", "sneaker", "--columns", "3", "-o", str(grid)]
    )  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    maes = [float(m) for m in re.findall(r"reconstruction MAE ([\d.]+) of 255", out)]
    assert len(maes) == 12 and f"{paths[0]}: reconstruction MAE" in out
    assert "reconstructed 12 images in" in out
    # 3 pairs per row: 6 columns, 4 rows of 56 px cells (scale 2) with 2 px padding
    image = cv2.imread(str(grid), cv2.IMREAD_UNCHANGED)
    assert image.shape == (4 * 58 + 2, 6 * 58 + 2, 3)
    cell = image[2:58, 2:58, 0]  # the first original, enlarged twice
    np.testing.assert_array_equal(cell[::2, ::2], pixels[0, :, :, 0])
    # the reference: each reconstruction against the other sneakers' originals
    result = reconstruct(
        load_encoder(cvae["encoder"]),
        load_generator(cvae["decoder"]),
        list(pixels[..., 0]),
        np.full(12, SNEAKER),
    )
    np.testing.assert_allclose(result.mae, maes, atol=0.01)
    cross = np.abs(
        result.images[:, None].astype(np.float32) - pixels[None].astype(np.float32)
    ).mean(axis=(2, 3, 4))
    others = (cross.sum() - np.trace(cross)) / (12 * 11)
    assert np.mean(maes) < 0.95 * others, (np.mean(maes), others)


def test_a_walk_between_two_real_images(cvae, sneakers, tmp_path, capsys):
    paths, _ = sneakers
    walk = tmp_path / "walk.mp4"
    code = main(
        ["generate", str(cvae["decoder"]), "--encoder", str(cvae["encoder"]),
         "--interpolate-images", f"{paths[0]},{paths[1]}", "--class", "sneaker,bag",
         "--frames", "15", "-o", str(walk)]
    )  # fmt: skip
    assert code == 0
    assert f"15 frames from {paths[0]} to {paths[1]}" in capsys.readouterr().out
    capture = cv2.VideoCapture(str(walk))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 15
    assert capture.read()[1].shape == (224, 224, 3)


@pytest.fixture(scope="module")
def small_vae(tmp_path_factory, fashion) -> Path:  # noqa: F811
    """An unconditional VAE with latent 8 (two steps): the other half of no pair above."""
    out = tmp_path_factory.mktemp("vae8") / "vae8.keras"
    data = GenerationData(fashion.x_train[:256], fashion.y_train[:256], fashion.x_test[:0],
                          fashion.y_test[:0], fashion.class_names)  # fmt: skip
    config = GenerateConfig(FASHION, out, "vae", latent_dim=8, width=0.25, epochs=1,
                            batch_size=64, steps_per_epoch=2)  # fmt: skip
    result = train_generator(config, data)
    onnx_path = out.with_name("vae8.encoder.onnx")
    assert main(["-q", "export", str(result.encoder), "-o", str(onnx_path), "--no-verify"]) == 0
    return onnx_path


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{dec}", "--encoder", "{enc}", "--reconstruct", "missing.png", "--class", "7"],
         "image not found: missing.png"),
        (["{dec}", "--encoder", "{dec}", "--reconstruct", "{img}", "--class", "7"],
         "a generator (latent in, image out), not an encoder"),
        (["{enc}", "--encoder", "{enc}", "--reconstruct", "{img}", "--class", "7"],
         "a VAE encoder (image in, latent out), not a generator"),
        (["{dec}", "--encoder", "{enc8}", "--reconstruct", "{img}"],
         "latent sizes differ (8 vs 16)"),
        (["{dec}", "--encoder", "{enc}", "--reconstruct", "{img}"],
         "--class: encoder.onnx is class-conditional: give the class"),
        (["{dec}", "--encoder", "{enc}", "--reconstruct", "{img}", "--class", "rocket"],
         "no class 'rocket'; valid: 0=T-shirt/top"),
        (["{dec}", "--reconstruct", "{img}"], "--reconstruct: needs --encoder ENC.onnx"),
        (["{dec}", "--encoder", "{enc}"], "--encoder: expected --reconstruct IMG..."),
        (["{dec}", "--encoder", "{enc}", "--reconstruct", "{img}", "-o", "r.mp4"],
         "expected an image"),
        (["{dec}", "--encoder", "{enc}", "--interpolate-images", "{img},{img}", "-o", "w.png"],
         "expected a video for a walk"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_writes_nothing(
    cvae, sneakers, small_vae, tmp_path, capsys, monkeypatch, args, message
):
    names = {"dec": cvae["decoder"], "enc": cvae["encoder"], "enc8": small_vae,
             "img": sneakers[0][0]}  # fmt: skip
    monkeypatch.chdir(tmp_path)
    before = set(tmp_path.iterdir())
    argv = [arg.format(**{k: str(v) for k, v in names.items()}) for arg in args]
    assert main(["generate", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
    assert set(tmp_path.iterdir()) == before
