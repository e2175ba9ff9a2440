"""Run an Ultralytics YOLO ONNX file as it is: its contract built from its own metadata.

``yolo export format=onnx`` writes ``metadata_props`` such as (every value a Python literal
as text)::

    author   Ultralytics             task    detect
    names    {0: 'person', 1: 'bicycle', ...}
    imgsz    [640, 640]              stride  32
    args     {'batch': 1, 'nms': False, ...}      end2end  False

and the ``ultralytics/yolov5`` repository's ``export.py`` writes ``stride`` and ``names`` only.
:func:`read_ultralytics` turns that into an edgeimg contract: task ``detect``, the class names,
the input size (the input's static shape, else ``imgsz``), letterbox with grey 114, RGB, scale
1/255 (mean 0, std 255), NCHW, and the decoder that fits the output's shape
(``edgeimg.runtime.tasks.detect.yolo``), with ByteTrack settings as Ultralytics' own
``bytetrack.yaml`` (class-aware, so IDs stay within a class).
"""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from edgeimg.runtime.backends.base import TensorSpec
from edgeimg.runtime.contract import ColorOrder, ContractError, Layout, ModelContract, ResizeMode
from edgeimg.runtime.decoder import format_shape
from edgeimg.runtime.model import CONTRACT_READERS, RecognisedModel
from edgeimg.runtime.tasks.detect.yolo import YoloNmsDecoder, YoloV5Decoder, YoloV8Decoder

# Decoder settings of a recognised model: a low threshold so the tracker sees weak boxes too,
# as Ultralytics' own `track` (conf 0.1); `--conf 0.25` gives its `predict` default.
DECODER_PARAMS = {"score_threshold": 0.1, "nms_iou": 0.7, "max_detections": 300}
# Ultralytics' bytetrack.yaml (track_high_thresh 0.25, track_low_thresh 0.1,
# new_track_thresh 0.25), class-aware: a track only ever matches boxes of its own class.
TRACKER = {"track_thresh": 0.25, "low_thresh": 0.1, "new_track_thresh": 0.25, "class_aware": True}
DEFAULT_IMGSZ = 640


def is_ultralytics(metadata: Mapping[str, str]) -> bool:
    """Written by Ultralytics' exporter (``author``), or by YOLOv5's (``stride`` + ``names``)."""
    if "Ultralytics" in metadata.get("author", ""):
        return True
    return "names" in metadata and "stride" in metadata and not metadata.get("author")


def _literal(metadata: Mapping[str, str], key: str, source: str) -> Any:
    try:
        return ast.literal_eval(metadata[key])
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        text = metadata[key]
        raise ContractError(
            f"{source}: Ultralytics metadata {key} is not a Python literal: {text[:60]!r}"
        ) from None


def parse_names(text: str, source: str = "model") -> tuple[str, ...]:
    """``"{0: 'person', 1: 'bicycle'}"`` (or a list) -> ('person', 'bicycle'), ids 0..nc-1."""
    value = _literal({"names": text}, "names", source)
    if isinstance(value, (list, tuple)):
        value = dict(enumerate(value))
    ok = isinstance(value, dict) and value and all(isinstance(k, int) for k in value)
    if not ok or sorted(value) != list(range(len(value))):
        raise ContractError(
            f"{source}: Ultralytics metadata names: expected {{0: 'name', 1: ...}} with ids "
            f"0..nc-1, got {text[:60]!r}"
        )
    return tuple(str(value[i]) for i in range(len(value)))


def _imgsz(
    metadata: Mapping[str, str], inputs: Sequence[TensorSpec], source: str
) -> tuple[int, int]:
    """(height, width): the input's static shape, else ``imgsz``, else 640 x 640."""
    if inputs and len(inputs[0].shape) == 4:
        height, width = inputs[0].shape[2:]
        if height is not None and width is not None:
            return height, width
    if "imgsz" in metadata:
        value = _literal(metadata, "imgsz", source)
        size = [value, value] if isinstance(value, int) else value
        if (
            isinstance(size, (list, tuple))
            and len(size) == 2
            and all(isinstance(v, int) and v > 0 for v in size)
        ):
            return int(size[0]), int(size[1])
        raise ContractError(
            f"{source}: Ultralytics metadata imgsz: expected [height, width], got {value!r}"
        )
    return DEFAULT_IMGSZ, DEFAULT_IMGSZ


def _flag(metadata: Mapping[str, str], args: Mapping[str, Any], key: str) -> bool:
    return metadata.get(key, "").strip() == "True" or args.get(key) is True


def choose_decoder(
    shapes: Sequence[tuple[int | None, ...]], num_classes: int, prefer_nms: bool, ultralytics: bool
) -> str | None:
    """The YOLO decoder whose output layout fits ``shapes`` (None: none fits).

    A one-class YOLOv5 output (1, N, 6) looks like an NMS export's: files written by
    Ultralytics' exporter never have the YOLOv5 layout, those of the yolov5 repository never
    have NMS in the graph.
    """
    if len(shapes) != 1 or len(shapes[0]) != 3:
        return None
    _, a, b = shapes[0]
    fits = {
        YoloV8Decoder.name: a == 4 + num_classes,
        YoloV5Decoder.name: b == 5 + num_classes,
        YoloNmsDecoder.name: b == 6,
    }
    if prefer_nms:
        order = (YoloNmsDecoder.name, YoloV8Decoder.name, YoloV5Decoder.name)
    elif ultralytics:
        order = (YoloV8Decoder.name, YoloNmsDecoder.name, YoloV5Decoder.name)
    else:
        order = (YoloV5Decoder.name, YoloV8Decoder.name, YoloNmsDecoder.name)
    return next((name for name in order if fits[name]), None)


def read_ultralytics(
    path: Path,
    metadata: Mapping[str, str],
    inputs: Sequence[TensorSpec],
    outputs: Sequence[TensorSpec],
) -> RecognisedModel | None:
    """The contract of an Ultralytics (or YOLOv5) ONNX detector, None for other files.

    Raises a one-line ContractError for an Ultralytics file edgeimg cannot run (another task,
    an unknown output layout, float16 input), saying what was found and how to describe the
    model with ``--contract``.
    """
    if not is_ultralytics(metadata) or "names" not in metadata:
        return None
    source = f"model {path}"
    names = parse_names(metadata["names"], source)
    nc = len(names)
    task = metadata.get("task", "detect").strip()
    found = ", ".join(spec.describe() for spec in outputs) or "none"
    how = (
        "describe it in a JSON/YAML file (task, class_names, input_size, layout NCHW, "
        "mean [0, 0, 0], std [255, 255, 255], decoder, output_names) and pass --contract FILE"
    )
    if task != "detect":
        raise ContractError(
            f"{source}: an Ultralytics {task} model; edgeimg runs Ultralytics detect models "
            f"(outputs found: {found}); {how}"
        )
    args = metadata.get("args", "")
    export_args = _literal(metadata, "args", source) if args else {}
    if not isinstance(export_args, dict):
        export_args = {}
    author = metadata.get("author", "")
    decoder = choose_decoder(
        [spec.shape for spec in outputs],
        nc,
        prefer_nms=_flag(metadata, export_args, "nms") or _flag(metadata, export_args, "end2end"),
        ultralytics="Ultralytics" in author,
    )
    if decoder is None:
        raise ContractError(
            f"{source}: Ultralytics metadata ({nc} classes) but no known YOLO output layout: "
            f"found {found}; expected one output (1, {4 + nc}, N) for YOLOv8/11, "
            f"(1, N, {5 + nc}) for YOLOv5 or (1, N, 6) for nms=True; {how}"
        )
    if inputs and inputs[0].dtype != "float32":
        raise ContractError(
            f"{source}: input {inputs[0].describe()}; edgeimg feeds float32: export with "
            "half=False (int8 files quantized by `edgeimg quantize` keep a float32 input)"
        )
    height, width = _imgsz(metadata, inputs, source)
    contract = ModelContract(
        task="detect",
        class_names=names,
        input_size=(height, width),
        layout=Layout.NCHW,
        color_order=ColorOrder.RGB,
        mean=(0.0, 0.0, 0.0),
        std=(255.0, 255.0, 255.0),
        resize=ResizeMode.LETTERBOX,
        pad_value=114,
        decoder=decoder,
        decoder_params=dict(DECODER_PARAMS),
        output_names=(outputs[0].name,),
        task_params={"tracker": dict(TRACKER)},
    )
    producer = "Ultralytics" if "Ultralytics" in author else "YOLOv5 (stride + names metadata)"
    version = metadata.get("version", "")
    model_name = metadata.get("description", "").replace("Ultralytics ", "").split(" model")[0]
    shown = ", ".join(names[:3]) + (", ..." if nc > 3 else "")
    summary = (
        f"{producer}{' ' + version if version else ''}"
        f"{' ' + model_name if model_name else ''}: detect, {nc} classes ({shown}), "
        f"input {height}x{width}, stride {metadata.get('stride', '?')}, "
        f"output {outputs[0].name} {format_shape(outputs[0].shape)} -> decoder {decoder}"
    )
    return RecognisedModel(contract, summary)


CONTRACT_READERS.register("ultralytics", read_ultralytics)
