"""The model contract: what the runtime needs to know to run an ONNX model, stored in the file.

``edgeimg export`` writes it into the ONNX ``metadata_props`` (string keys prefixed with
``edgeimg.``, values JSON-encoded); the runtime reads it back with onnxruntime's
``get_modelmeta().custom_metadata_map``. A model exported elsewhere can be described by a small
JSON or YAML file holding the same keys without the prefix (``--contract FILE``).

Pixel convention: the runtime hands the model pixels in 0..255 (after resize and colour
conversion), computes ``(pixel - mean) / std`` per channel when ``input_dtype`` is float32, and
passes them in ``layout``. edgeimg's own models normalise inside the graph, so their contract
says mean 0 and std 1 and the runtime's preprocessing is only resize + layout.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar

from edgeimg.runtime.errors import EdgeimgError, parse_enum

PREFIX = "edgeimg."
# What `edgeimg quantize` did to a file (JSON), outside the prefix: not part of the contract.
QUANTIZATION_KEY = "quantization"
MAX_INPUT_SIDE = 16384  # pixels per side: larger inputs would need tens of GB per frame
T = TypeVar("T")


class Layout(str, Enum):
    NHWC = "NHWC"
    NCHW = "NCHW"


class ColorOrder(str, Enum):
    RGB = "RGB"
    BGR = "BGR"
    GRAY = "GRAY"


class ResizeMode(str, Enum):
    LETTERBOX = "letterbox"  # keep aspect ratio, pad with pad_value (boxes mapped back)
    STRETCH = "stretch"  # resize to the input size, ignoring aspect ratio
    NONE = "none"  # feed the frame at its own size (models with dynamic height and width)


class ContractError(EdgeimgError):
    """The model's metadata is missing or inconsistent."""


def yaml_problem(exc: Exception) -> str:
    """One line for a YAML parse error (PyYAML's own message spans several lines, with the
    offending text and a caret): ``line 2, column 4: expected ',' or ']', but got ':'``."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or getattr(exc, "context", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    text = problem or str(exc) or type(exc).__name__
    return where + " ".join(str(text).split())


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(value)
    return value


def _integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(value)
    return value


def _convert(key: str, value: Any, convert: Callable[[Any], T], expected: str) -> T:
    """``convert(value)``, or a one-line ContractError naming the key, expected vs actual."""
    try:
        return convert(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: int(inf), float(10**400)
        raise ContractError(f"contract {key}: expected {expected}, got {value!r}") from None


def _numbers(kind: Callable[[Any], T]) -> Callable[[Any], tuple[T, ...]]:
    def convert(value: Any) -> tuple[T, ...]:
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise TypeError(value)
        if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in value):
            raise TypeError(value)
        return tuple(kind(v) for v in value)

    return convert


def _mapping(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise TypeError(value)
    return dict(value)


def _names(value: Any) -> tuple[str, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise TypeError(value)
    return tuple(str(v) for v in value)


@dataclass(frozen=True)
class ModelContract:
    """Everything the runtime needs to feed a model and decode its outputs.

    task names a registered task (``edgeimg.runtime.tasks``: ``detect``, ``classify``, ...);
    class_names are required where the task has classes. input_size is (height, width) of the
    image input, None with ``resize: none`` (the model takes any size). decoder names one of
    the task's decoders (empty: the task's default); decoder_params are its parameters (the
    decoder validates them into its own typed config). output_names lists the ONNX outputs in
    the order the decoder reads them. task_params are the task's own typed settings (detect:
    ``tracker``, the ByteTrack settings tuned for this model's scores), validated by the task
    when the contract is read.
    """

    task: str
    class_names: tuple[str, ...] = ()
    input_size: tuple[int, int] | None = None
    channels: int = 3
    layout: Layout = Layout.NHWC
    color_order: ColorOrder = ColorOrder.RGB
    input_dtype: str = "float32"
    mean: tuple[float, ...] = (0.0, 0.0, 0.0)
    std: tuple[float, ...] = (1.0, 1.0, 1.0)
    resize: ResizeMode = ResizeMode.LETTERBOX
    pad_value: int = 114
    decoder: str = ""
    decoder_params: Mapping[str, Any] = field(default_factory=dict)
    output_names: tuple[str, ...] = ()
    task_params: Mapping[str, Any] = field(default_factory=dict)
    edgeimg_version: str = ""
    source_sha256: str = ""

    REQUIRED = ("task",)

    def __post_init__(self) -> None:
        def enum(cls: type[Enum], name: str) -> None:
            try:
                object.__setattr__(
                    self, name, parse_enum(cls, getattr(self, name), f"contract {name}")
                )
            except EdgeimgError as exc:
                raise ContractError(str(exc)) from None

        def put(name: str, convert: Callable[[Any], Any], expected: str) -> None:
            object.__setattr__(self, name, _convert(name, getattr(self, name), convert, expected))

        enum(Layout, "layout")
        enum(ColorOrder, "color_order")
        enum(ResizeMode, "resize")
        put("task", _text, "a task name")
        put("class_names", _names, "a list of class names")
        put("channels", _integer, "an integer")
        put("pad_value", _integer, "an integer")
        put("mean", _numbers(float), "a list of numbers")
        put("std", _numbers(float), "a list of numbers")
        put("output_names", _names, "a list of output names")
        put("decoder", _text, "a decoder name")
        put("decoder_params", _mapping, "a mapping of decoder parameters")
        put("task_params", _mapping, "a mapping of task parameters")
        put("input_dtype", _text, "float32 or uint8")
        for name in ("mean", "std"):
            values = getattr(self, name)
            if not all(math.isfinite(v) for v in values):
                raise ContractError(f"contract {name}: expected finite numbers, got {list(values)}")
        if any(v <= 0 for v in self.std):
            raise ContractError(
                f"contract std: expected numbers > 0 (the runtime divides by them), "
                f"got {list(self.std)}"
            )
        if self.input_size is not None:
            put("input_size", _numbers(int), "[height, width] as integers")
            if len(self.input_size) != 2 or min(self.input_size) <= 0:
                raise ContractError(
                    f"contract input_size: expected [height, width] > 0, got {list(self.input_size)}"
                )
            if max(self.input_size) > MAX_INPUT_SIDE:
                raise ContractError(
                    f"contract input_size: expected at most {MAX_INPUT_SIDE} pixels a side, "
                    f"got {list(self.input_size)}"
                )
        elif self.resize is not ResizeMode.NONE:
            raise ContractError(
                f"contract input_size: expected [height, width] for resize {self.resize.value} "
                "(only resize none takes frames at their own size), got none"
            )
        expected_channels = 1 if self.color_order is ColorOrder.GRAY else 3
        if self.channels != expected_channels:
            raise ContractError(
                f"contract channels: expected {expected_channels} for {self.color_order.value}, "
                f"got {self.channels}"
            )
        if len(self.mean) != self.channels or len(self.std) != self.channels:
            raise ContractError(
                f"contract mean/std: expected {self.channels} values each, "
                f"got {len(self.mean)} and {len(self.std)}"
            )
        if self.input_dtype not in ("float32", "uint8"):
            raise ContractError(
                f"contract input_dtype: expected float32 or uint8, got {self.input_dtype!r}"
            )
        from edgeimg.runtime.tasks import get_task  # the registry imports this module

        get_task(self.task).check_contract(self)

    # -- serialisation -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, Enum):
                out[key] = value.value
            elif isinstance(value, tuple):
                out[key] = list(value)
        return out

    def to_metadata(self) -> dict[str, str]:
        """``metadata_props`` entries: ``edgeimg.<key>`` -> JSON text."""
        return {PREFIX + k: json.dumps(v) for k, v in self.to_dict().items()}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], source: str = "contract") -> ModelContract:
        missing = [k for k in cls.REQUIRED if k not in values]
        if missing:
            raise ContractError(
                f"{source} lacks edgeimg metadata keys: {', '.join(missing)}; export the model "
                "with `edgeimg export`, or describe it in a JSON/YAML file given as --contract FILE"
            )
        known = set(cls.__dataclass_fields__)
        unknown = sorted(map(str, set(values) - known))  # YAML keys may be numbers, null
        if unknown:
            raise ContractError(f"{source}: unknown contract keys {', '.join(unknown)}")
        try:
            return cls(**dict(values))
        except ContractError as exc:
            if source == "contract":
                raise
            raise ContractError(f"{source}: {exc}") from None

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, str], source: str = "model") -> ModelContract:
        values: dict[str, Any] = {}
        for key, text in metadata.items():
            if not key.startswith(PREFIX):
                continue
            try:
                values[key[len(PREFIX) :]] = json.loads(text)
            except (ValueError, RecursionError):  # bad JSON, >4300 digits, deep nesting
                raise ContractError(
                    f"{source}: metadata {key} is not JSON: {text[:60]!r}"
                ) from None
        return cls.from_dict(values, source)

    @classmethod
    def from_file(cls, path: str | Path) -> ModelContract:
        """Read a sidecar contract (JSON, or YAML when PyYAML is installed)."""
        path = Path(path)
        try:
            text = path.read_text()
        except OSError as exc:
            raise ContractError(f"cannot read contract file {path}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise ContractError(f"contract file {path} is not text (JSON or YAML)") from None
        try:
            if path.suffix.lower() in (".yaml", ".yml"):
                import yaml

                values = yaml.safe_load(text)
            else:
                values = json.loads(text)
        except Exception as exc:  # json/yaml parse errors have no common base class
            raise ContractError(f"contract file {path} is not valid: {yaml_problem(exc)}") from None
        if not isinstance(values, dict):
            raise ContractError(
                f"contract file {path}: expected a mapping, got {type(values).__name__}"
            )
        return cls.from_dict(values, str(path))
