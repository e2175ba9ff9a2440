"""Graph rewrites that tf2onnx and onnxslim leave undone.

Keras 3 implements ``UpSampling2D(interpolation="nearest")`` with ``ops.repeat`` along height
and width; tf2onnx turns that into eight nodes per layer, two of them Transposes, when the
graph runs channel-first:

    Unsqueeze -> Tile -> Transpose(0,2,3,4,1) -> Reshape -> Unsqueeze -> Tile -> Reshape
    -> Transpose(0,3,1,2)

which is one ``Resize`` (nearest, integer scales) in NCHW. The rewrite works on static shapes
only (from ONNX shape inference), and the export's parity gate checks the result against Keras.
"""

from __future__ import annotations

import logging

import numpy as np
import onnx
from onnx import helper, numpy_helper

log = logging.getLogger(__name__)

REPEAT_CHAIN = (
    "Unsqueeze",
    "Tile",
    "Transpose",
    "Reshape",
    "Unsqueeze",
    "Tile",
    "Reshape",
    "Transpose",
)
FIRST_PERM, LAST_PERM = [0, 2, 3, 4, 1], [0, 3, 1, 2]


def _static_shape(value: onnx.ValueInfoProto) -> list[int] | None:
    dims = value.type.tensor_type.shape.dim
    if not dims or any(not d.HasField("dim_value") for d in dims[1:]):
        return None
    return [d.dim_value if d.HasField("dim_value") else -1 for d in dims]


def _perm(node: onnx.NodeProto) -> list[int]:
    return next((list(a.ints) for a in node.attribute if a.name == "perm"), [])


def fold_nearest_upsampling(proto: onnx.ModelProto) -> tuple[onnx.ModelProto, int]:
    """Replace each NCHW nearest-repeat chain by one ``Resize``; returns (model, chains folded)."""
    inferred = onnx.shape_inference.infer_shapes(proto)
    shapes = {
        v.name: _static_shape(v)
        for v in [*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output]
    }
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in proto.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    outputs = {o.name for o in proto.graph.output}

    def only_next(node: onnx.NodeProto) -> onnx.NodeProto | None:
        out = node.output[0]
        users = consumers.get(out, [])
        return users[0] if len(users) == 1 and out not in outputs else None

    removed: set[int] = set()
    replacements: dict[int, list[onnx.NodeProto]] = {}
    initializers: list[onnx.TensorProto] = []
    for index, start in enumerate(proto.graph.node):
        if start.op_type != REPEAT_CHAIN[0]:
            continue
        chain = [start]
        while len(chain) < len(REPEAT_CHAIN):
            nxt = only_next(chain[-1])
            if nxt is None or nxt.op_type != REPEAT_CHAIN[len(chain)]:
                break
            chain.append(nxt)
        if len(chain) != len(REPEAT_CHAIN):
            continue
        if _perm(chain[2]) != FIRST_PERM or _perm(chain[-1]) != LAST_PERM:
            continue
        source, result = start.input[0], chain[-1].output[0]
        before, after = shapes.get(source), shapes.get(result)
        if not before or not after or len(before) != 4 or len(after) != 4:
            continue
        if before[1] != after[1] or after[2] % before[2] or after[3] % before[3]:
            continue
        scale_h, scale_w = after[2] // before[2], after[3] // before[3]
        scales = numpy_helper.from_array(
            np.array([1.0, 1.0, scale_h, scale_w], np.float32),
            name=f"{result}__scales",
        )
        initializers.append(scales)
        resize = helper.make_node(
            "Resize",
            [source, "", scales.name],
            [result],
            name=f"{start.name}__resize",
            mode="nearest",
            coordinate_transformation_mode="asymmetric",
            nearest_mode="floor",
        )
        ids = {id(n) for n in chain}
        for position, node in enumerate(proto.graph.node):
            if id(node) in ids:
                removed.add(position)
        replacements[index] = [resize]
    if not replacements:
        return proto, 0
    nodes = []
    for position, node in enumerate(proto.graph.node):
        if position in replacements:
            nodes.extend(replacements[position])
        elif position not in removed:
            nodes.append(node)
    del proto.graph.node[:]
    proto.graph.node.extend(nodes)
    proto.graph.initializer.extend(initializers)
    produced = {out for node in nodes for out in node.output}
    used = {name for node in nodes for name in node.input}
    for value in [v for v in proto.graph.value_info if v.name not in produced]:
        proto.graph.value_info.remove(value)
    for tensor in [t for t in proto.graph.initializer if t.name not in used]:
        proto.graph.initializer.remove(tensor)
    log.info("folded %d nearest-upsampling chains into Resize", len(replacements))
    return proto, len(replacements)


def fold_input_scale(proto: onnx.ModelProto) -> tuple[onnx.ModelProto, bool]:
    """Fold ``Mul(image, scalar)`` (Keras's Rescaling 1/255) into the convolutions it feeds.

    A convolution is linear in its input and zero padding stays zero under scaling, so
    ``Conv(x * s, W, b) == Conv(x, W * s, b)``. Folding removes one full-image multiply per
    frame, and leaves INT8 quantization nothing to quantize before the first convolution (a
    per-channel DequantizeLinear there is what OpenCV's dnn cannot load). Returns (model,
    whether it folded). The graph is unchanged unless every consumer of the product is a Conv
    whose weights are initializers used by no other node.
    """
    graph = proto.graph
    inits = {t.name: t for t in graph.initializer}
    input_name = graph.input[0].name
    muls = [n for n in graph.node if n.op_type == "Mul" and input_name in n.input]
    if len(muls) != 1 or any(n is not muls[0] and input_name in n.input for n in graph.node):
        return proto, False
    mul = muls[0]
    scale_name = mul.input[1] if mul.input[0] == input_name else mul.input[0]
    scale = inits.get(scale_name)
    if scale is None or numpy_helper.to_array(scale).size != 1:
        return proto, False
    consumers = [n for n in graph.node if mul.output[0] in n.input]
    uses = {}
    for node in graph.node:
        for name in node.input:
            uses[name] = uses.get(name, 0) + 1
    if not consumers or any(
        n.op_type != "Conv"
        or n.input[0] != mul.output[0]
        or n.input[1] not in inits
        or uses[n.input[1]] != 1
        for n in consumers
    ):
        return proto, False
    factor = float(numpy_helper.to_array(scale).reshape(()))
    for node in consumers:
        weight = inits[node.input[1]]
        folded = numpy_helper.to_array(weight) * np.asarray(
            factor, numpy_helper.to_array(weight).dtype
        )
        weight.CopyFrom(numpy_helper.from_array(folded, weight.name))
        node.input[0] = input_name
    graph.node.remove(mul)
    if uses[scale_name] == 1:
        graph.initializer.remove(scale)
    log.info("folded the input scale %.6g into %d convolution(s)", factor, len(consumers))
    return proto, True


def _sizes_subgraph(
    proto: onnx.ModelProto, resize: onnx.NodeProto, producers: dict[str, onnx.NodeProto]
) -> list[onnx.NodeProto] | None:
    """The nodes that compute ``resize``'s sizes from ``Shape`` of its own data input and
    constants only (None when anything else feeds them)."""
    constants = {t.name for t in proto.graph.initializer}
    data, nodes, todo, seen = resize.input[0], [], [resize.input[3]], set()
    while todo:
        name = todo.pop()
        if name in seen or name in constants or not name:
            continue
        seen.add(name)
        node = producers.get(name)
        if node is None:
            return None
        if node.op_type == "Shape":
            if node.input[0] != data:
                return None
        elif node.op_type != "Constant":
            todo.extend(node.input)
        nodes.append(node)
    order = {id(n): i for i, n in enumerate(proto.graph.node)}
    return sorted(nodes, key=lambda n: order[id(n)])


def fold_resize_scales(proto: onnx.ModelProto) -> tuple[onnx.ModelProto, int]:
    """Give each ``Resize`` whose output size is computed from its input's shape (tf2onnx's
    ``tf.image.resize(x, 2 * shape)``) constant integer ``scales`` instead.

    The size computation is run on two probe shapes; when it gives (N, C, a*H, b*W) for both,
    the Resize takes scales (1, 1, a, b) and the computation goes. Same pixels; OpenCV dnn
    (which evaluates shapes at load time, on placeholder sizes) can then run graphs with
    dynamic height and width. Returns (model, Resize nodes changed).
    """
    import onnxruntime as ort

    inferred = onnx.shape_inference.infer_shapes(proto)
    shapes = {v.name: v for v in [*inferred.graph.value_info, *inferred.graph.input]}
    producers = {out: node for node in proto.graph.node for out in node.output}
    changed = 0
    for resize in [n for n in proto.graph.node if n.op_type == "Resize" and len(n.input) == 4]:
        if resize.input[3] in {t.name for t in proto.graph.initializer}:
            continue
        nodes = _sizes_subgraph(proto, resize, producers)
        value = shapes.get(resize.input[0])
        if nodes is None or value is None:
            continue
        dims = value.type.tensor_type.shape.dim
        if len(dims) != 4 or not dims[1].HasField("dim_value"):
            continue
        channels = dims[1].dim_value
        used = {name for node in nodes for name in node.input}
        graph = helper.make_graph(
            nodes,
            "sizes",
            [
                helper.make_tensor_value_info(
                    resize.input[0], value.type.tensor_type.elem_type, None
                )
            ],
            [helper.make_tensor_value_info(resize.input[3], onnx.TensorProto.INT64, None)],
            [t for t in proto.graph.initializer if t.name in used],
        )
        probe = helper.make_model(graph, opset_imports=proto.opset_import)
        probe.ir_version = proto.ir_version
        session = ort.InferenceSession(
            probe.SerializeToString(), providers=["CPUExecutionProvider"]
        )
        factors = set()
        for height, width in ((5, 7), (6, 11)):
            x = np.zeros((1, channels, height, width), np.float32)
            sizes = session.run(None, {resize.input[0]: x})[0].tolist()
            ok = sizes[:2] == [1, channels] and sizes[2] % height == 0 and sizes[3] % width == 0
            factors.add((sizes[2] // height, sizes[3] // width) if ok else None)
        if len(factors) != 1 or None in factors:
            continue
        scale_h, scale_w = factors.pop()
        scales = numpy_helper.from_array(
            np.array([1.0, 1.0, scale_h, scale_w], np.float32), name=f"{resize.output[0]}__scales"
        )
        proto.graph.initializer.append(scales)
        del resize.input[3]
        resize.input[2] = scales.name
        _integer_nearest(resize)
        changed += 1
    if changed:
        _drop_dead_nodes(proto)
        log.info("gave %d Resize node(s) constant scales", changed)
    return proto, changed


def _integer_nearest(resize: onnx.NodeProto) -> None:
    """A nearest Resize by integer scales maps output x to input floor(x / s); write it as
    ``asymmetric`` + ``floor`` (tf2onnx's ``tf_half_pixel_for_nn``, floor((x + 0.5) / s), is the
    same for integer s but deprecated: onnxruntime warns on every session)."""
    attrs = {a.name: helper.get_attribute_value(a) for a in resize.attribute}
    if attrs.get("mode", b"nearest") != b"nearest":
        return
    if attrs.get("coordinate_transformation_mode") != b"tf_half_pixel_for_nn":
        return
    if attrs.get("nearest_mode", b"round_prefer_floor") != b"floor":
        return
    kept = [a for a in resize.attribute if a.name not in ("coordinate_transformation_mode",)]
    del resize.attribute[:]
    resize.attribute.extend(
        [*kept, helper.make_attribute("coordinate_transformation_mode", "asymmetric")]
    )


def _drop_dead_nodes(proto: onnx.ModelProto) -> None:
    """Remove nodes whose outputs nothing uses, and unused initializers."""
    outputs = {o.name for o in proto.graph.output}
    while True:
        used = {name for node in proto.graph.node for name in node.input} | outputs
        dead = [n for n in proto.graph.node if not any(o in used for o in n.output)]
        if not dead:
            break
        for node in dead:
            proto.graph.node.remove(node)
    used = {name for node in proto.graph.node for name in node.input}
    for tensor in [t for t in proto.graph.initializer if t.name not in used]:
        proto.graph.initializer.remove(tensor)
