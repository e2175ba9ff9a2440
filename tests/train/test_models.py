"""Model builders and losses: names, shapes, export-friendly layers, initial state."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from edgeimg.runtime.errors import EdgeimgError  # noqa: E402
from edgeimg.train.tasks.classify.models import build_classifier  # noqa: E402
from edgeimg.train.tasks.detect.losses import CenterNetFocalLoss, LtrbGIoULoss  # noqa: E402
from edgeimg.train.tasks.detect.models import (  # noqa: E402
    DetectorConfig,
    build_detector,
    count_macs,
)


@pytest.mark.parametrize("arch", ["cifar_cnn", "mobilenet", "edgenet"])
@pytest.mark.parametrize("shape", [(28, 28, 1), (32, 32, 3), (12, 12, 1)])
def test_classifiers_output_probs_for_any_size(arch: str, shape: tuple[int, int, int]) -> None:
    model = build_classifier(arch, shape, num_classes=7)
    assert model.output_names == ["probs"]
    probs = np.asarray(model(np.full((2, *shape), 128, np.float32), training=False))
    assert probs.shape == (2, 7)
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_classic_cnn_has_the_tutorial_layers() -> None:
    model = build_classifier("cifar_cnn", (32, 32, 3), 10)
    convs = [layer.filters for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert convs == [32, 64, 64]
    assert model.count_params() == 122_570  # the TensorFlow CIFAR-10 tutorial's count


def test_width_multiplier_shrinks_the_edge_net() -> None:
    full = build_classifier("mobilenet", (28, 28, 1), 10, width=1.0)
    half = build_classifier("mobilenet", (28, 28, 1), 10, width=0.5)
    assert half.count_params() < full.count_params() / 2
    assert any(isinstance(layer, keras.layers.DepthwiseConv2D) for layer in full.layers)


def test_edgenet_is_a_stride_2_stem_and_depthwise_separable_blocks() -> None:
    model = build_classifier("edgenet", (28, 28, 1), 10)
    stem = model.get_layer("stem")
    assert stem.strides == (2, 2) and stem.kernel_size == (3, 3)
    depthwise = [layer for layer in model.layers if isinstance(layer, keras.layers.DepthwiseConv2D)]
    assert [layer.output.shape[1] for layer in depthwise] == [14, 7, 7, 4, 4]
    for layer in depthwise:  # each depthwise conv feeds a 1x1 pointwise conv
        assert model.get_layer(layer.name.replace("_dw", "_pw")).kernel_size == (1, 1)
    relus = [layer for layer in model.layers if isinstance(layer, keras.layers.ReLU)]
    assert relus and all(layer.max_value is None for layer in relus)  # plain ReLU, not ReLU6
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert [layer.name for layer in dense] == ["probs"]  # global average pool, one Dense
    assert model.count_params() < build_classifier("cifar_cnn", (28, 28, 1), 10).count_params()
    half = build_classifier("edgenet", (28, 28, 1), 10, width=0.5)
    assert half.count_params() < model.count_params() / 2


def test_edgenet_loss_falls_in_a_few_steps() -> None:
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 64)
    images = rng.uniform(0, 60, (64, 28, 28, 1)).astype(np.float32)
    for i, label in enumerate(labels):  # the class is which third of the image is bright
        images[i, :, 9 * label : 9 * label + 10] += 180
    model = build_classifier("edgenet", (28, 28, 1), 3, width=0.5)
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy")
    losses = [float(model.train_on_batch(images, labels)) for _ in range(12)]
    assert losses[-1] < 0.5 * losses[0]


def test_unknown_architecture_lists_the_valid_ones() -> None:
    with pytest.raises(EdgeimgError, match="expected one of cifar_cnn, mobilenet, edgenet"):
        build_classifier("resnet", (28, 28, 1), 10)


def test_detector_follows_the_centernet_contract() -> None:
    config = DetectorConfig(input_size=(96, 128), num_classes=3)
    model = build_detector(config)
    assert model.input.shape == (None, 96, 128, 3)
    outputs = model(np.full((2, 96, 128, 3), 114, np.float32), training=False)
    outputs = {k: np.asarray(v) for k, v in outputs.items()}
    assert outputs["heatmap"].shape == (2, 24, 32, 3)
    assert outputs["boxes"].shape == (2, 24, 32, 4)
    assert outputs["boxes"].min() >= 0
    # Heatmap starts at the prior (0.1) everywhere: no flood of false peaks at step 0.
    assert outputs["heatmap"].max() < 0.2


def test_detector_uses_only_export_friendly_layers() -> None:
    model = build_detector(DetectorConfig(input_size=(288, 384)))
    allowed = (
        keras.layers.InputLayer,
        keras.layers.Rescaling,
        keras.layers.Conv2D,
        keras.layers.BatchNormalization,
        keras.layers.ReLU,
        keras.layers.UpSampling2D,
        keras.layers.Add,
    )
    for layer in model.layers:
        assert isinstance(layer, allowed), f"{layer.name}: {type(layer).__name__}"
        assert not isinstance(layer, keras.layers.DepthwiseConv2D), layer.name
        if isinstance(layer, keras.layers.Conv2D) and layer.name not in ("heatmap", "boxes_linear"):
            assert layer.filters % 8 == 0, layer.name
    assert 0.4e9 < count_macs(model) < 0.8e9  # about 1.4 GFLOPs at half PETS resolution


def test_detector_trains_on_crops_and_runs_on_whole_frames() -> None:
    model = build_detector(DetectorConfig(input_size=(96, 128)), any_size=True)
    small = model(np.zeros((1, 64, 64, 3), np.float32), training=False)
    large = model(np.zeros((1, 96, 128, 3), np.float32), training=False)
    assert small["heatmap"].shape[1:3] == (16, 16) and large["heatmap"].shape[1:3] == (24, 32)


@pytest.mark.parametrize("size", [(100, 128), (96, 0)])
def test_detector_input_must_be_multiples_of_32(size: tuple[int, int]) -> None:
    with pytest.raises(EdgeimgError, match="multiples of 32"):
        DetectorConfig(input_size=size)


def test_focal_loss_rewards_a_right_heatmap() -> None:
    target = np.zeros((1, 8, 8, 1), np.float32)
    target[0, 3, 4, 0] = 1.0
    target[0, 3, 3, 0] = 0.6  # near the centre: the penalty is reduced
    right = np.clip(target, 0.01, 0.99)
    wrong = np.full_like(target, 0.5)
    loss = CenterNetFocalLoss()
    assert float(loss(target, right)) < 0.1 < float(loss(target, wrong))


def test_giou_loss_is_zero_for_the_right_distances_and_grows_with_error() -> None:
    target = np.zeros((1, 4, 4, 5), np.float32)
    target[0, 1, 1] = [2, 3, 2, 3, 1.0]  # ltrb and weight
    loss = LtrbGIoULoss()
    exact = target[..., :4]
    off = exact.copy()
    off[0, 1, 1] = [1, 1, 1, 1]
    assert float(loss(target, exact)) == pytest.approx(0.0, abs=1e-4)
    assert float(loss(target, off)) > 0.5
