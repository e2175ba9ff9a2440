"""A loaded model: contract + backend + the task's decoder, with the stage-split calls the
pipeline times. One method for every task::

    model = load_model("person.onnx", backend="onnxruntime", device="auto")
    result = model.predict(frame_bgr)        # Detections, ClassScores, ... (the task's type)
    feeds, transform = model.preprocess(frame_bgr)   # or, stage by stage
    outputs = model.infer(feeds)
    result = model.decode(outputs, transform)
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from edgeimg.runtime.backends import (
    Backend,
    Device,
    TensorRTOptions,
    create_backend,
    is_backend_uri,
    read_model_info,
)
from edgeimg.runtime.backends.base import TensorSpec, check_model_file
from edgeimg.runtime.backends.choose import Choice, choose_backend
from edgeimg.runtime.contract import ContractError, Layout, ModelContract
from edgeimg.runtime.decoder import Decoder, DecoderError
from edgeimg.runtime.errors import EdgeimgError
from edgeimg.runtime.preprocess import Transform
from edgeimg.runtime.registry import Registry
from edgeimg.runtime.tasks import TaskSpec, get_task, task_names

log = logging.getLogger(__name__)


class Model:
    """An ONNX model ready to run on BGR frames. Build it with :func:`load_model`."""

    def __init__(
        self, path: Path, contract: ModelContract, backend: Backend, task: TaskSpec
    ) -> None:
        self.path = path
        self.contract = contract
        self.backend = backend
        self.task = task
        self.decoder: Decoder = task.decoder_type(contract).from_contract(contract)
        self.input_name = backend.inputs[0].name
        self.output_names = contract.output_names or self.decoder.default_output_names
        self.choice: Choice | None = None  # what backend="auto" measured, when it chose

    def __repr__(self) -> str:
        size = "any size" if self.contract.input_size is None else self.contract.input_size
        return (
            f"Model({self.path.name}, task={self.contract.task}, input={size}, "
            f"{self.backend.description})"
        )

    def preprocess(self, image_bgr: np.ndarray) -> tuple[dict[str, np.ndarray], Transform]:
        """(H, W, 3) uint8 BGR frame -> (the model's input tensors by name, Transform)."""
        tensor, transform = self.task.prepare(image_bgr, self.contract)
        return {self.input_name: tensor}, transform

    def infer(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Input tensors by name -> every output by name."""
        return self.backend.run(feeds)

    def decode(self, outputs: Mapping[str, np.ndarray], transform: Transform) -> Any:
        """Outputs of :meth:`infer` -> the task's result in source-image pixels."""
        return self.decoder([outputs[name] for name in self.output_names], transform)

    def predict(self, image_bgr: np.ndarray) -> Any:
        """(H, W, 3) uint8 BGR frame -> the task's result (``self.task.result_type``)."""
        feeds, transform = self.preprocess(image_bgr)
        return self.decode(self.infer(feeds), transform)


def bundled_model_path(task: str = "detect") -> Path:
    """The default model of ``task`` shipped inside the package (``load_model(bundled_model_path())``
    is the person detector); a one-line error when the task has none."""
    spec = get_task(task)
    if not spec.bundled_model:
        with_one = [name for name in task_names() if get_task(name).bundled_model]
        raise EdgeimgError(
            f"task {task} has no bundled model; bundled: {', '.join(with_one)} "
            "(give an exported model path)"
        )
    return Path(__file__).parent / "assets" / spec.bundled_model


@dataclass(frozen=True)
class RecognisedModel:
    """A contract built from a model's own (non-edgeimg) metadata, and what was recognised."""

    contract: ModelContract
    summary: str  # one line for `edgeimg info`, e.g. "Ultralytics YOLOv8n detect, 80 classes"


class ContractReader(Protocol):
    """Builds a contract from a foreign model's metadata and tensors: None when the file is not
    of its kind, a one-line ContractError when it is but cannot be run (the error says why)."""

    def __call__(
        self,
        path: Path,
        metadata: Mapping[str, str],
        inputs: Sequence[TensorSpec],
        outputs: Sequence[TensorSpec],
    ) -> RecognisedModel | None: ...


# Model files edgeimg runs without edgeimg metadata, by the producer's own metadata. Another
# package adds one with an entry point in the group ``edgeimg.model_formats`` naming a reader.
CONTRACT_READERS: Registry[ContractReader] = Registry(
    "model format",
    group="edgeimg.model_formats",
    builtin=("edgeimg.runtime.tasks.detect.ultralytics",),
    error=ContractError,
)


def recognise_model(
    path: Path,
    metadata: Mapping[str, str],
    inputs: Sequence[TensorSpec] = (),
    outputs: Sequence[TensorSpec] = (),
) -> RecognisedModel | None:
    """The contract the first reader that knows this file builds (None: no reader knows it)."""
    for name in CONTRACT_READERS.names():
        recognised = CONTRACT_READERS.get(name)(path, metadata, inputs, outputs)
        if recognised is not None:
            return recognised
    return None


def resolve_contract(
    path: Path,
    metadata: Mapping[str, str],
    contract: ModelContract | str | Path | None,
    inputs: Sequence[TensorSpec] = (),
    outputs: Sequence[TensorSpec] = (),
) -> ModelContract:
    """The contract given (object or JSON/YAML file), else the one in the model's metadata,
    else one built from a known producer's metadata (Ultralytics YOLO exports: see
    ``CONTRACT_READERS``), which may look at the model's ``inputs`` and ``outputs``."""
    if isinstance(contract, ModelContract):
        return contract
    if contract is not None:
        return ModelContract.from_file(contract)
    if not any(key.startswith("edgeimg.") for key in metadata):
        recognised = recognise_model(path, metadata, inputs, outputs)
        if recognised is not None:
            return recognised.contract
        found = ", ".join(spec.describe() for spec in outputs)
        raise ContractError(
            f"model {path} has no edgeimg metadata (missing key: task)"
            + (f" and no known output layout (outputs: {found})" if found else "")
            + "; export it with `edgeimg export`, or describe it in a JSON/YAML file (task, "
            "class_names, input_size, plus layout, color_order, mean, std, resize, decoder, "
            "decoder_params, output_names as needed) and pass it with --contract FILE "
            "(Python: ModelContract.from_file)"
        )
    return ModelContract.from_metadata(metadata, f"model {path}")


def input_shape_for(contract: ModelContract) -> tuple[int | None, ...]:
    """The image input's shape (batch of one; None where the size is the frame's own)."""
    height, width = contract.input_size or (None, None)
    if contract.layout is Layout.NCHW:
        return (1, contract.channels, height, width)
    return (1, height, width, contract.channels)


def check_input(contract: ModelContract, spec: TensorSpec) -> None:
    """Refuse a contract whose input (size, channels, layout, dtype) differs from the model's."""
    expected = input_shape_for(contract)
    shape_ok = len(spec.shape) == 4 and all(
        got is None or want is None or got == want
        for got, want in zip(spec.shape, expected, strict=True)
    )
    if not shape_ok or spec.dtype != contract.input_dtype:
        dims = ", ".join("?" if d is None else str(d) for d in expected)
        size = contract.input_size or "any"
        raise ContractError(
            f"model input {spec.name}: the contract (input_size {size}, "
            f"{contract.channels} channels, {contract.layout.value}, {contract.input_dtype}) "
            f"expects ({dims}) {contract.input_dtype}, the model declares {spec.describe()}"
        )


def check_outputs(
    contract: ModelContract, decoder: Decoder, outputs: tuple[TensorSpec, ...]
) -> None:
    wanted = contract.output_names or decoder.default_output_names
    names = [spec.name for spec in outputs]
    missing = [name for name in wanted if name not in names]
    if missing:
        source = "contract output_names" if contract.output_names else f"decoder {decoder.name}"
        raise DecoderError(
            f"model outputs: expected {', '.join(wanted)} ({source}), got {', '.join(names)}"
        )
    decoder.check_output_shapes([outputs[names.index(name)].shape for name in wanted])


def warmup_input(contract: ModelContract) -> np.ndarray:
    """A zero tensor of the input's shape (dynamic sizes: 64 x 64)."""
    shape = tuple(64 if d is None else d for d in input_shape_for(contract))
    return np.zeros(shape, dtype=contract.input_dtype)


AUTO = "auto"
MEASURE_SIZE = (480, 640)  # (H, W) a VGA frame: what auto times a model of any input size on


def choose_auto(
    path: Path,
    device: Device | str,
    threads: int | None,
    contract: ModelContract | str | Path | None,
) -> Choice:
    """``backend="auto"``: the choice measured or cached for this model (its ``model_path``,
    ``backend`` and ``threads``), said in one line. ``threads`` given: that count only."""
    info = read_model_info(path)
    try:  # the contract's input size fixes dynamic dimensions for the measurement
        resolved = resolve_contract(path, info.metadata, contract, info.inputs, info.outputs)
        shape = input_shape_for(replace(resolved, input_size=resolved.input_size or MEASURE_SIZE))
    except EdgeimgError:
        shape = None  # load_model reports the contract's problem
    counts = [threads] if threads else None
    choice = choose_backend(path, device, threads=counts, input_shape=shape, info=info)
    log.info("backend auto: %s", choice.describe())
    return choice


def load_model(
    path: str | Path,
    backend: str = "onnxruntime",
    device: Device | str = Device.CPU,
    threads: int | None = None,
    contract: ModelContract | str | Path | None = None,
    decoder_params: Mapping[str, Any] | None = None,
    tensorrt: TensorRTOptions | None = None,
) -> Model:
    """Load an ONNX model, check it against its contract, and warm it up with one run.

    backend: a registered backend name (``onnxruntime``, ``opencv``, ``openvino``; see
        ``edgeimg.runtime.backends.register_backend``); ``auto``: the fastest installed backend
        x thread count x precision (the gated ``MODEL.int8.onnx`` beside ``path`` counts) measured
        on this machine for this model, cached (see :mod:`edgeimg.runtime.backends.choose`) and
        logged in one line (``threads`` given: only that count); or a remote backend's URI
        (``triton://127.0.0.1:8000/detector``: ``path`` is then only a label, the model and
        its contract are the server's).
    contract: a ModelContract or a JSON/YAML file for a model without edgeimg metadata (the
        model's own metadata is used when None).
    decoder_params: overrides of the contract's decoder_params (e.g. ``{"score_threshold": 0.3}``).
    Raises EdgeimgError (one line, expected vs actual) for a missing, corrupt or non-ONNX file,
    missing metadata, or outputs that do not match the decoder.
    """
    choice = None
    if backend == AUTO:
        choice = choose_auto(check_model_file(path), device, threads, contract)
        path, backend, threads = choice.model_path or path, choice.backend, choice.threads
    if is_backend_uri(backend):  # the model is on a server: no local file
        runner = create_backend(path, backend, device, threads, tensorrt)
        path = Path(getattr(getattr(runner, "target", None), "model", None) or path)
    else:
        path = check_model_file(path)
        runner = create_backend(path, backend, device, threads, tensorrt)
    resolved = resolve_contract(path, runner.metadata, contract, runner.inputs, runner.outputs)
    if decoder_params:
        resolved = replace(resolved, decoder_params={**resolved.decoder_params, **decoder_params})
    task = get_task(resolved.task)
    if not task.image_input:
        raise ContractError(
            f"model {path}: a {task.name} model takes no image (its input is "
            f"{runner.inputs[0].describe() if runner.inputs else 'none'}); run it with "
            f"`edgeimg {task.name}`"
        )
    if len(runner.inputs) != 1:
        names = ", ".join(spec.name for spec in runner.inputs)
        raise ContractError(
            f"model {path}: task {task.name} feeds one image input, the model has "
            f"{len(runner.inputs)} ({names})"
        )
    model = Model(path, resolved, runner, task)
    model.choice = choice
    check_input(resolved, runner.inputs[0])
    check_outputs(resolved, model.decoder, runner.outputs)
    outputs = model.infer({model.input_name: warmup_input(resolved)})
    model.decoder.check_output_shapes([outputs[name].shape for name in model.output_names])
    log.info("model %s runs on %s", path.name, runner.description)
    return model
