"""Style transfer's training layer on real photos: the loss networks, Gatys' optimisation
lowering its loss, a few training steps lowering the perceptual loss, the comparison with
Gatys, export (dynamic size, OpenCV dnn, FP16, the perceptual-loss INT8 gate) and bad input."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
pytest.importorskip("tensorflow")

from edgeimg.cli.main import main
from edgeimg.export import ExportPlan, QuantizePlan, export_model
from edgeimg.export.evaluation import HeldOut
from edgeimg.export.keras_file import read_contract
from edgeimg.export.perceptual import LossWeights, PerceptualLoss, loss_network
from edgeimg.runtime import load_model
from edgeimg.runtime.errors import EdgeimgError
from edgeimg.train.tasks.stylize.data import held_out_photos
from edgeimg.train.tasks.stylize.gatys import optimize
from edgeimg.train.tasks.stylize.train import StylizeConfig, StylizeResult, train_stylize

DATA = Path(
    os.environ.get("EDGEIMG_DATA", Path(__file__).resolve().parents[2].parent / "shared" / "data")
)
STYLE = Path("/usr/share/doc/opencv-doc/examples/data/starry_night.jpg")


def require(path: Path) -> Path:
    if not path.exists():
        message = f"real data missing: {path}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> tuple[Path, Path]:
    """Six CamVid train frames to train on, two val frames held out."""
    camvid = require(DATA / "CamVid")
    root = tmp_path_factory.mktemp("photos")
    for split, count in (("train", 6), ("val", 2)):
        (root / split).mkdir()
        for path in sorted((camvid / split).glob("*.png"))[:count]:
            shutil.copy(path, root / split / path.name)
    return root / "train", root / "val"


@pytest.fixture(scope="module")
def style() -> Path:
    return require(STYLE)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, photos, style) -> StylizeResult:
    """Two epochs of 12 steps (64-px crops) against the random half-width VGG, then the
    comparison with 5 Gatys steps on one held-out photo."""
    out = tmp_path_factory.mktemp("run") / "tiny.keras"
    config = StylizeConfig(
        style=style, content=(photos[0],), output=out, loss_net="random-vgg16-half",
        width=4, blocks=1, crop=64, batch_size=2, steps_per_epoch=12, epochs=2,
        learning_rate=3e-3, val=(photos[1],), val_count=1, val_size=96, gatys_steps=5,
    )  # fmt: skip
    return train_stylize(config)


def rgb(path: Path, size: tuple[int, int]) -> np.ndarray:
    return cv2.resize(cv2.imread(str(path)), size, interpolation=cv2.INTER_AREA)[..., ::-1]


def test_random_vgg_is_fixed_by_its_seed_and_takes_any_size():
    x = np.random.default_rng(0).uniform(0, 255, (1, 40, 56, 3)).astype(np.float32)
    a, b = loss_network("random-vgg16-half", 0)(x), loss_network("random-vgg16-half", 0)(x)
    c = loss_network("random-vgg16-half", 1)(x)
    assert [tuple(f.shape) for f in a] == [
        (1, 40, 56, 32), (1, 20, 28, 64), (1, 10, 14, 128), (1, 5, 7, 256), (1, 10, 14, 128),
    ]  # fmt: skip
    assert all(np.array_equal(f, g) for f, g in zip(a, b, strict=True))
    assert not np.allclose(a[0], c[0])


def test_the_shipped_camvid_loss_network_taps_four_scales_at_any_size():
    x = np.full((1, 48, 64, 3), 128, np.float32)
    features = loss_network("camvid-seg")(x)
    heights = [int(f.shape[1]) for f in features]
    assert len(features) == 5 and heights[:4] == sorted(heights[:4], reverse=True)
    assert heights[0] < 48 and features[4].shape == features[1].shape


def test_user_vgg_weights_are_loaded_from_their_file(tmp_path):
    import keras

    base = keras.applications.VGG16(include_top=False, weights=None, input_shape=(None, None, 3))
    path = tmp_path / "vgg16_test.weights.h5"
    base.save_weights(str(path))
    net = loss_network(str(path))
    x = np.random.default_rng(1).uniform(0, 255, (1, 32, 32, 3)).astype(np.float32)
    caffe = x[..., ::-1] - np.array([103.939, 116.779, 123.68], np.float32)
    want = keras.Model(base.input, base.get_layer("block2_conv1").output)(caffe)
    np.testing.assert_allclose(net(x)[1], want, rtol=1e-4, atol=1e-3)
    other = tmp_path / "resnet.weights.h5"
    base.save_weights(str(other))
    with pytest.raises(EdgeimgError, match="VGG16 or VGG19"):
        loss_network(str(other))
    with pytest.raises(EdgeimgError, match="camvid-seg, random-vgg16"):
        loss_network("vgg-from-the-internet")


def test_gatys_lowers_the_loss_of_its_image(photos, style):
    content = rgb(sorted(photos[1].glob("*.png"))[0], (96, 72)).astype(np.float32)
    loss = PerceptualLoss(loss_network("random-vgg16-half"), rgb(style, (128, 96)))
    start = loss.measure(content[None], content[None])
    assert start.content == pytest.approx(0.0, abs=1e-6) and start.style > 0
    result = optimize(loss, content, steps=15)
    assert result.image.shape == (72, 96, 3) and result.image.dtype == np.uint8
    assert result.losses.total < 0.8 * start.total


def test_training_lowers_the_perceptual_loss(trained):
    first, last = trained.history
    assert last["loss"] < first["loss"]
    assert set(first) >= {"content", "style", "tv", "loss", "seconds"}
    contract = read_contract(trained.path)
    assert contract.task == "stylize" and contract.decoder == "image"
    assert contract.task_params == {
        "style": "starry_night", "multiple": 8, "loss_net": "random-vgg16-half", "loss_seed": 0,
    }  # fmt: skip
    log_dir = trained.path.with_suffix("")
    assert (log_dir / "epoch_002.png").is_file() and (log_dir / "log.jsonl").is_file()
    grid = cv2.imread(str(log_dir / "epoch_002.png"))
    assert grid.shape == (128, 4 * 64, 3)


def test_the_comparison_with_gatys_measures_both_in_the_same_loss(trained):
    comparison = trained.comparison
    assert comparison is not None and comparison.images == 1
    for terms in (comparison.network, comparison.gatys):
        assert np.isfinite([terms.content, terms.style, terms.tv, terms.total]).all()
        w = LossWeights()
        assert terms.total == pytest.approx(
            w.content * terms.content + w.style * terms.style + w.tv * terms.tv, rel=1e-4
        )
    assert comparison.ratio == pytest.approx(comparison.network.total / comparison.gatys.total)
    picture = cv2.imread(str(comparison.picture))
    assert picture.shape[1] == 4 * picture.shape[0] * 96 // 72  # four panels of 96x72


def test_export_runs_any_size_on_onnxruntime_and_opencv(trained, tmp_path, photos, style):
    onnx_path = tmp_path / "tiny.onnx"
    result = export_model(trained.path, onnx_path, ExportPlan(fp16=True))
    assert result.parity is not None and result.parity.passed
    import onnx

    graph = onnx.load(str(onnx_path)).graph
    assert [n.op_type for n in graph.node].count("Resize") == 3
    assert "Shape" not in {n.op_type for n in graph.node}  # sizes folded into constant scales
    frame = cv2.imread(str(sorted(photos[1].glob("*.png"))[0]))[:100, :130]  # not multiples of 8
    ort_image = load_model(onnx_path).predict(frame).image
    cv_image = load_model(onnx_path, backend="opencv").predict(frame).image
    fp16_image = load_model(tmp_path / "tiny.fp16.onnx").predict(frame).image
    assert ort_image.shape == frame.shape
    assert np.abs(ort_image.astype(int) - cv_image).max() <= 1
    assert np.abs(ort_image.astype(int) - fp16_image).mean() < 2.0


def test_init_from_grows_the_photo_skip_and_the_network_exports(trained, tmp_path, photos):
    """--init-from a network without --photo-skip: the photo's convolution starts at zero, so the
    grown network computes what the file's did; it exports with parity and runs on OpenCV dnn.
    Another width is a one-line error naming the layer."""
    from edgeimg.export.keras_file import load_keras
    from edgeimg.train.fit import save_keras
    from edgeimg.train.tasks.stylize.models import transform_net
    from edgeimg.train.tasks.stylize.train import init_weights

    old, contract = load_keras(trained.path)
    assert np.abs(old.get_layer("out_conv").get_weights()[0]).max() > 0  # trained: not zero
    grown = transform_net(width=4, blocks=1, photo_skip=True)
    init_weights(grown, trained.path)
    x = np.random.default_rng(0).uniform(0, 255, (1, 48, 64, 3)).astype(np.float32)
    assert np.abs(grown.predict(x, verbose=0) - old.predict(x, verbose=0)).max() < 1e-3
    path = save_keras(grown, tmp_path / "skip.keras", contract)
    result = export_model(path, tmp_path / "skip.onnx", ExportPlan())
    assert result.parity is not None and result.parity.passed
    frame = cv2.imread(str(sorted(photos[1].glob("*.png"))[0]))[:100, :130]
    ort_image = load_model(tmp_path / "skip.onnx").predict(frame).image
    cv_image = load_model(tmp_path / "skip.onnx", backend="opencv").predict(frame).image
    assert np.abs(ort_image.astype(int) - cv_image).max() <= 1
    with pytest.raises(
        EdgeimgError, match=r"layer down1: expected weights of shapes \[\(5, 5, 3, 8\)\]"
    ):
        init_weights(transform_net(width=8, blocks=1), trained.path)
    trained_skip = transform_net(width=4, blocks=1, photo_skip=True)
    trained_skip.get_layer("photo_conv").kernel.assign(np.ones((3, 3, 3, 3), np.float32))
    with pytest.raises(EdgeimgError, match="expected a layer photo_conv"):
        init_weights(trained_skip, trained.path)  # a non-zero layer the file lacks


def test_the_int8_gate_scores_the_perceptual_loss(trained, tmp_path, photos, style):
    onnx_path = tmp_path / "gate.onnx"
    images, painting = held_out_photos(photos[1], style, 2, long_side=96)
    held_out = HeldOut(images, [painting] * 2, "images")
    calib = [cv2.imread(str(p))[:96, :128] for p in sorted(photos[0].glob("*.png"))]
    plan = ExportPlan(
        calibration=lambda: calib,
        int8=QuantizePlan(held_out=lambda: held_out, rounds=3, threads=1, force=True),
    )
    result = export_model(trained.path, onnx_path, plan)
    report = result.int8.report
    assert report.metric == "perceptual loss" and report.lower_is_better
    assert report.float_score > 0 and report.quant_score > 0
    assert (tmp_path / "gate.int8.onnx").is_file()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--style", "README.md"], "--style"),
        (["--style", "{style}", "--content", "{empty}"], "found none"),
        (["--style", "{style}", "--crop", "20"], "--crop"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(args, message, tmp_path, style, photos, capsys):
    (tmp_path / "empty").mkdir()
    args = [a.format(style=style, empty=tmp_path / "empty") for a in args]
    if "--content" not in args:
        args += ["--content", str(photos[0])]
    out = tmp_path / "m.keras"
    code = main(["train", "stylize", *args, "--epochs", "1", "--steps", "1", "-o", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and len(err.splitlines()) == 1
    assert not out.exists()
