"""Graph rewrites: folding the input scale into the first convolution keeps the outputs."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from edgeimg.export.graph_passes import fold_input_scale  # noqa: E402


def scaled_conv_model(share_input: bool = False) -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    weight = rng.normal(size=(4, 3, 3, 3)).astype(np.float32)
    bias = rng.normal(size=4).astype(np.float32)
    nodes = [
        helper.make_node("Mul", ["image", "scale"], ["scaled"]),
        helper.make_node("Conv", ["scaled", "w", "b"], ["out"], pads=[1, 1, 1, 1]),
    ]
    outputs = [helper.make_tensor_value_info("out", TensorProto.FLOAT, None)]
    if share_input:  # the product also feeds a non-convolution: nothing may be folded
        nodes.append(helper.make_node("Relu", ["scaled"], ["side"]))
        outputs.append(helper.make_tensor_value_info("side", TensorProto.FLOAT, None))
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [None, 3, 8, 8])],
        outputs,
        [
            numpy_helper.from_array(np.array(1 / 255, np.float32), "scale"),
            numpy_helper.from_array(weight, "w"),
            numpy_helper.from_array(bias, "b"),
        ],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def run(proto: onnx.ModelProto, x: np.ndarray) -> list[np.ndarray]:
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"image": x})


def test_input_scale_folds_into_the_convolution_with_the_same_outputs():
    x = np.random.default_rng(1).uniform(0, 255, (2, 3, 8, 8)).astype(np.float32)
    model = scaled_conv_model()
    expected = run(model, x)[0]
    folded, changed = fold_input_scale(model)
    assert changed
    assert [n.op_type for n in folded.graph.node] == ["Conv"]
    assert folded.graph.node[0].input[0] == "image"
    np.testing.assert_allclose(run(folded, x)[0], expected, rtol=1e-5, atol=1e-4)


def test_input_scale_is_left_alone_when_the_product_feeds_anything_else():
    model = scaled_conv_model(share_input=True)
    folded, changed = fold_input_scale(model)
    assert not changed
    assert [n.op_type for n in folded.graph.node] == ["Mul", "Conv", "Relu"]
