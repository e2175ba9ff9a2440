"""What an ONNX file declares (inputs, outputs, metadata_props), read from its protobuf bytes.

No onnx or onnxruntime import: the backends that read the file themselves (OpenCV, OpenVINO)
and ``--backend auto``'s cache lookup need only these few fields, and loading onnxruntime to
get them cost ~38 MB of resident memory for the whole run (its libraries plus a session's
heap that is not given back). The wire format is walked, not decoded: a graph's nodes and
weights are skipped by their length, and an initializer is opened only for its name.

Field numbers are onnx.proto's (ModelProto.graph = 7, metadata_props = 14; GraphProto
initializer = 5, input = 11, output = 12; ValueInfoProto name = 1, type = 2; TypeProto
tensor_type = 1; Tensor elem_type = 1, shape = 2; TensorShapeProto dim = 1; Dimension
dim_value = 1, dim_param = 2; TensorProto name = 8; StringStringEntryProto key = 1, value = 2).
"""

from __future__ import annotations

import mmap
from collections.abc import Iterator
from pathlib import Path

from edgeimg.runtime.backends.base import ModelInfo, TensorSpec, check_model_file
from edgeimg.runtime.errors import EdgeimgError

# TensorProto.DataType -> numpy dtype name
ONNX_DTYPES = {
    1: "float32",
    2: "uint8",
    3: "int8",
    4: "uint16",
    5: "int16",
    6: "int32",
    7: "int64",
    8: "str",
    9: "bool",
    10: "float16",
    11: "float64",
    12: "uint32",
    13: "uint64",
    16: "bfloat16",
}

# TypeProto's other kinds of value (a tensor is field 1)
OTHER_TYPES = {4: "sequence", 5: "map", 8: "sparse tensor", 9: "optional"}

Field = tuple[int, "int | memoryview"]  # (field number, varint or the bytes of the field)


def _varint(data: memoryview, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("a varint runs past the end")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def fields(data: memoryview) -> Iterator[Field]:
    """The (number, value) fields of one protobuf message, in file order; fixed-width
    values come as their bytes. ValueError for bytes that are not a message."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        value: int | memoryview
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire in (1, 2, 5):
            if wire == 2:
                size, pos = _varint(data, pos)
            else:
                size = 8 if wire == 1 else 4
            if pos + size > len(data):
                raise ValueError(f"field {number} runs past the end (truncated file?)")
            value = data[pos : pos + size]
            pos += size
        else:
            raise ValueError(f"field {number} has wire type {wire}")
        if number == 0:
            raise ValueError("field number 0")
        yield number, value


def _message(value: int | memoryview) -> memoryview:
    if isinstance(value, int):
        raise ValueError("expected a message, got a number")
    return value


def _text(value: int | memoryview) -> str:
    return bytes(_message(value)).decode("utf-8", errors="replace")


def _tensor_spec(value_info: memoryview) -> TensorSpec:
    name, dtype = "", ""
    shape: tuple[int | None, ...] = ()
    for number, value in fields(value_info):
        if number == 1:
            name = _text(value)
        elif number == 2:
            for kind, tensor in fields(_message(value)):
                if kind == 1:
                    dtype, shape = _tensor_type(_message(tensor))
                elif kind in OTHER_TYPES:  # described by their kind only
                    dtype = OTHER_TYPES[kind]
    return TensorSpec(name, shape, dtype)


def _tensor_type(tensor: memoryview) -> tuple[str, tuple[int | None, ...]]:
    dtype, dims = "", []
    for number, value in fields(tensor):
        if number == 1 and isinstance(value, int):
            dtype = ONNX_DTYPES.get(value, f"onnx type {value}")
        elif number == 2:
            for kind, dim in fields(_message(value)):
                if kind == 1:
                    size = dict(fields(_message(dim))).get(1)
                    # a fixed size > 0; a named (dim_param) or unknown one is dynamic
                    dims.append(size if isinstance(size, int) and 0 < size < 1 << 62 else None)
    return dtype, tuple(dims)


def parse_model_info(data: bytes | memoryview | mmap.mmap) -> ModelInfo:
    """ModelInfo of a serialized ModelProto. ValueError when it is not one. Graph inputs that
    are initializers (weights listed as inputs by older exporters) are left out, as
    onnxruntime does."""
    graph = None
    metadata: dict[str, str] = {}
    for number, value in fields(memoryview(data)):
        if number == 7:
            graph = _message(value)
        elif number == 14:
            entry = {key: _text(text) for key, text in fields(_message(value)) if key in (1, 2)}
            metadata[entry.get(1, "")] = entry.get(2, "")
    if graph is None:
        raise ValueError("no graph")
    inputs: list[TensorSpec] = []
    outputs: list[TensorSpec] = []
    weights: set[str] = set()
    for number, value in fields(graph):
        if number == 11:
            inputs.append(_tensor_spec(_message(value)))
        elif number == 12:
            outputs.append(_tensor_spec(_message(value)))
        elif number == 5:
            weights.update(_text(name) for key, name in fields(_message(value)) if key == 8)
    if not outputs:
        raise ValueError("a graph without outputs")
    return ModelInfo(
        tuple(spec for spec in inputs if spec.name not in weights), tuple(outputs), metadata
    )


def read_model_info(path: str | Path) -> ModelInfo:
    """Inputs, outputs and metadata of the ONNX file at ``path``; EdgeimgError on one line
    when the file is missing or is not an ONNX model.

    The file is memory-mapped, not read: only the pages holding the fields above are touched
    (a few KB of a model of any size)."""
    path = check_model_file(path)
    try:
        with path.open("rb") as file:
            data = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
        # the map is closed when the last view of it goes (an explicit close would fail while
        # a traceback still holds one)
        return parse_model_info(data)
    except (ValueError, OSError) as exc:
        reason = str(exc)
    raise EdgeimgError(f"cannot load {path}: not an ONNX model ({reason})")
