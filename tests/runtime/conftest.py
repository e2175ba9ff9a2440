"""Small real ONNX models for the runtime tests, built with the ``onnx`` package.

The runtime tests also run in a venv that has only the runtime install (no ``onnx``): the
fixtures here skip there, and the tests that need no model file do not use them.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgeimg.runtime.contract import ModelContract

DETECTOR_CONTRACT = {
    "task": "detect",
    "class_names": ["person", "bag"],
    "input_size": [64, 96],
    "decoder": "centernet",
    "decoder_params": {"stride": 4, "score_threshold": 0.1, "nms_iou": 0.6},
    "output_names": ["heatmap", "boxes"],
}

CLASSIFIER_CONTRACT = {
    "task": "classify",
    "class_names": ["tshirt", "trouser", "pullover"],
    "input_size": [28, 28],
    "channels": 1,
    "color_order": "GRAY",
    "mean": [0.0],
    "std": [1.0],
    "resize": "stretch",
    "decoder": "softmax",
    "decoder_params": {"top_k": 2},
    "output_names": ["probs"],
}


def _onnx():
    return pytest.importorskip("onnx")


def save_model(
    nodes: list,
    inputs: list,
    outputs: list,
    initializers: Mapping[str, np.ndarray],
    path: Path,
    metadata: Mapping[str, str] | None,
    opset: int = 13,
) -> Path:
    """Check and write an ONNX model with ``metadata`` in its metadata_props."""
    onnx = _onnx()
    helper, numpy_helper = onnx.helper, onnx.numpy_helper
    graph = helper.make_graph(
        nodes,
        "test",
        inputs,
        outputs,
        [numpy_helper.from_array(np.asarray(v), k) for k, v in initializers.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8  # readable by onnxruntime >= 1.14 and OpenCV's importer
    if metadata:
        helper.set_model_props(model, dict(metadata))
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(path))
    return path


def contract_metadata(values: Mapping[str, Any] | None) -> dict[str, str] | None:
    return None if values is None else ModelContract.from_dict(values).to_metadata()


def conv_detector(
    path: Path,
    contract: Mapping[str, Any] | None = DETECTOR_CONTRACT,
    input_hw: tuple[int, int] = (64, 96),
    heatmap_channels: int = 2,
    output_names: Sequence[str] = ("heatmap", "boxes"),
    seed: int = 0,
) -> Path:
    """A real stride-4 conv net: NHWC float32 0..255 in, sigmoid heatmap + ReLU ltrb out (NHWC).

    Two 3x3 stride-2 convs and two 1x1 heads with seeded random weights: the outputs depend on
    every input pixel, as a trained detector's do, so backends can be compared on it.
    """
    onnx = _onnx()
    helper, tp = onnx.helper, onnx.TensorProto
    rng = np.random.default_rng(seed)
    h, w = input_hw

    def weights(cout: int, cin: int, k: int) -> np.ndarray:
        return (rng.standard_normal((cout, cin, k, k)) * (2.0 / (cin * k * k)) ** 0.5).astype(
            np.float32
        )

    init = {
        "scale": np.array(1 / 255, np.float32),
        "w1": weights(8, 3, 3),
        "b1": np.zeros(8, np.float32),
        "w2": weights(16, 8, 3),
        "b2": np.zeros(16, np.float32),
        "wh": weights(heatmap_channels, 16, 1),
        "bh": np.full(heatmap_channels, -3.0, np.float32),  # background below 0.1
        "wb": weights(4, 16, 1),
        "bb": np.full(4, 1.0, np.float32),
    }
    heat, box = output_names
    nodes = [
        helper.make_node("Transpose", ["image"], ["nchw"], perm=[0, 3, 1, 2]),
        helper.make_node("Mul", ["nchw", "scale"], ["x"]),
        helper.make_node(
            "Conv",
            ["x", "w1", "b1"],
            ["c1"],
            kernel_shape=[3, 3],
            strides=[2, 2],
            pads=[1, 1, 1, 1],
        ),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node(
            "Conv",
            ["r1", "w2", "b2"],
            ["c2"],
            kernel_shape=[3, 3],
            strides=[2, 2],
            pads=[1, 1, 1, 1],
        ),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("Conv", ["r2", "wh", "bh"], ["hl"], kernel_shape=[1, 1]),
        helper.make_node("Sigmoid", ["hl"], ["hs"]),
        helper.make_node("Transpose", ["hs"], [heat], perm=[0, 2, 3, 1]),
        helper.make_node("Conv", ["r2", "wb", "bb"], ["bl"], kernel_shape=[1, 1]),
        helper.make_node("Relu", ["bl"], ["br"]),
        helper.make_node("Transpose", ["br"], [box], perm=[0, 2, 3, 1]),
    ]
    gh, gw = h // 4, w // 4
    return save_model(
        nodes,
        [helper.make_tensor_value_info("image", tp.FLOAT, [1, h, w, 3])],
        [
            helper.make_tensor_value_info(heat, tp.FLOAT, [1, gh, gw, heatmap_channels]),
            helper.make_tensor_value_info(box, tp.FLOAT, [1, gh, gw, 4]),
        ],
        init,
        path,
        contract_metadata(contract),
    )


def constant_detector(
    path: Path, heatmap: np.ndarray, boxes: np.ndarray, contract: Mapping[str, Any]
) -> Path:
    """A detector whose outputs are the given arrays, whatever the image (0 * max(image) + c).

    heatmap (1, h, w, C) and boxes (1, h, w, 4) float32; the input is (1, H, W, 3) float32 with
    (H, W) = contract input_size. Lets a test check decoded boxes exactly, end to end.
    """
    onnx = _onnx()
    helper, tp = onnx.helper, onnx.TensorProto
    height, width = contract["input_size"]
    nodes = [
        helper.make_node("ReduceMax", ["image"], ["peak"], keepdims=1),
        helper.make_node("Mul", ["peak", "zero"], ["nothing"]),
        helper.make_node("Add", ["nothing", "heat_const"], ["heatmap"]),
        helper.make_node("Add", ["nothing", "box_const"], ["boxes"]),
    ]
    return save_model(
        nodes,
        [helper.make_tensor_value_info("image", tp.FLOAT, [1, height, width, 3])],
        [
            helper.make_tensor_value_info("heatmap", tp.FLOAT, list(heatmap.shape)),
            helper.make_tensor_value_info("boxes", tp.FLOAT, list(boxes.shape)),
        ],
        {
            "zero": np.zeros((), np.float32),
            "heat_const": heatmap.astype(np.float32),
            "box_const": boxes.astype(np.float32),
        },
        path,
        contract_metadata(contract),
    )


def gray_classifier(path: Path, contract: Mapping[str, Any] | None = CLASSIFIER_CONTRACT) -> Path:
    """(1, 28, 28, 1) float32 gray 0..255 -> conv -> global pool -> dense -> softmax (1, 3)."""
    onnx = _onnx()
    helper, tp = onnx.helper, onnx.TensorProto
    rng = np.random.default_rng(1)
    init = {
        "scale": np.array(1 / 255, np.float32),
        "w": rng.standard_normal((4, 1, 3, 3)).astype(np.float32),
        "b": np.zeros(4, np.float32),
        "dense": rng.standard_normal((4, 3)).astype(np.float32) * 4,
        "bias": np.zeros(3, np.float32),
    }
    nodes = [
        helper.make_node("Transpose", ["image"], ["nchw"], perm=[0, 3, 1, 2]),
        helper.make_node("Mul", ["nchw", "scale"], ["x"]),
        helper.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("GlobalAveragePool", ["r"], ["g"]),
        helper.make_node("Flatten", ["g"], ["f"]),
        helper.make_node("Gemm", ["f", "dense", "bias"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probs"], axis=1),
    ]
    return save_model(
        nodes,
        [helper.make_tensor_value_info("image", tp.FLOAT, [1, 28, 28, 1])],
        [helper.make_tensor_value_info("probs", tp.FLOAT, [1, 3])],
        init,
        path,
        contract_metadata(contract),
    )


@pytest.fixture(scope="session")
def detector_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The conv detector with a full edgeimg contract (2 classes, input 64x96, stride 4)."""
    return conv_detector(tmp_path_factory.mktemp("models") / "detector.onnx")


@pytest.fixture(scope="session")
def classifier_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return gray_classifier(tmp_path_factory.mktemp("models") / "classifier.onnx")


@pytest.fixture
def make_detector(tmp_path: Path) -> Callable[..., Path]:
    """conv_detector(...) written under tmp_path: ``make_detector(name, **options)``."""
    return lambda name="model.onnx", **options: conv_detector(tmp_path / name, **options)


@pytest.fixture
def make_constant_detector(tmp_path: Path) -> Callable[..., Path]:
    """constant_detector(...) written under tmp_path: ``make_constant_detector(heatmap, boxes)``."""
    return lambda heatmap, boxes, contract=DETECTOR_CONTRACT: constant_detector(
        tmp_path / "constant.onnx", heatmap, boxes, contract
    )


@pytest.fixture
def detector_contract() -> dict[str, Any]:
    """The contract (as a plain mapping) written into ``detector_path`` and ``make_detector``."""
    return copy.deepcopy(DETECTOR_CONTRACT)


@pytest.fixture
def street_frame() -> np.ndarray:
    """(576, 768, 3) uint8 BGR: a grey street with a few bright upright 'people' blocks."""
    rng = np.random.default_rng(7)
    frame = np.full((576, 768, 3), 90, np.uint8)
    frame += rng.integers(0, 20, frame.shape, dtype=np.uint8)
    for x, y in ((100, 200), (400, 150), (600, 330)):
        frame[y : y + 120, x : x + 45] = (40, 160, 230)
    return frame
