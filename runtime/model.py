"""A loaded model: contract + backend + decoder, with the stage-split calls the pipeline times.

model = load_model("person.onnx", backend="onnxruntime", device="auto")
detections = model.predict(frame_bgr)                  # or, stage by stage:
tensor, transform = model.preprocess(frame_bgr)
outputs = model.infer(tensor)
detections = model.decode(outputs, transform)
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from edgeimg.runtime.backends import (
    Backend,
    BackendKind,
    Device,
    TensorRTOptions,
    create_backend,
)
from edgeimg.runtime.backends.base import TensorSpec, check_model_file
from edgeimg.runtime.contract import ContractError, Layout, ModelContract, Task
from edgeimg.runtime.decoders import Decoder, create_decoder
from edgeimg.runtime.decoders.base import DecoderError
from edgeimg.runtime.detections import Detections
from edgeimg.runtime.errors import EdgeimgError
from edgeimg.runtime.preprocess import Transform, prepare

log = logging.getLogger(__name__)

DECODER_TASKS = {"centernet": Task.DETECT, "softmax": Task.CLASSIFY}


class Model:
    """An ONNX model ready to run on BGR frames. Build it with :func:`load_model`."""

    def __init__(self, path: Path, contract: ModelContract, backend: Backend, decoder: Decoder):
        self.path = path
        self.contract = contract
        self.backend = backend
        self.decoder = decoder
        names = [spec.name for spec in backend.outputs]
        wanted = contract.output_names or decoder.default_output_names
        self._output_order = [names.index(name) for name in wanted]
        self._reorder = self._output_order != list(range(len(names)))

    def __repr__(self) -> str:
        return (
            f"Model({self.path.name}, task={self.contract.task.value}, "
            f"input={self.contract.input_size}, {self.backend.description})"
        )

    def preprocess(self, image_bgr: np.ndarray) -> tuple[np.ndarray, Transform]:
        """(H, W, 3) uint8 BGR frame -> (input tensor (1, ...), Transform)."""
        return prepare(image_bgr, self.contract)

    def infer(self, tensor: np.ndarray) -> list[np.ndarray]:
        """Input tensor -> the outputs the decoder reads, in the contract's output order."""
        outputs = self.backend.run(tensor)
        if self._reorder:
            outputs = [outputs[i] for i in self._output_order]
        return outputs

    def decode(
        self, outputs: list[np.ndarray], transform: Transform
    ) -> Detections | tuple[np.ndarray, np.ndarray]:
        """Outputs of :meth:`infer` -> Detections (detectors) or (class_ids, probs) (classifiers)."""
        return self.decoder(outputs, transform)

    def predict(self, image_bgr: np.ndarray) -> Detections:
        """(H, W, 3) uint8 BGR frame -> Detections in that frame's pixels."""
        if self.contract.task is not Task.DETECT:
            raise EdgeimgError(
                f"model {self.path.name} is a classifier: use classify(), not predict()"
            )
        tensor, transform = self.preprocess(image_bgr)
        return self.decoder(self.infer(tensor), transform)

    def classify(self, image_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(H, W, 3) uint8 BGR (or (H, W) gray) image -> (class_ids (k,) int64, probs (k,) float32).

        The ``top_k`` most probable classes, most probable first.
        """
        if self.contract.task is not Task.CLASSIFY:
            raise EdgeimgError(
                f"model {self.path.name} is a detector: use predict(), not classify()"
            )
        tensor, transform = self.preprocess(image_bgr)
        return self.decoder(self.infer(tensor), transform)


def resolve_contract(
    path: Path, metadata: Mapping[str, str], contract: ModelContract | str | Path | None
) -> ModelContract:
    """The contract given (object or JSON/YAML file), else the one in the model's metadata."""
    if isinstance(contract, ModelContract):
        return contract
    if contract is not None:
        return ModelContract.from_file(contract)
    if not any(key.startswith("edgeimg.") for key in metadata):
        required = ", ".join(ModelContract.REQUIRED)
        raise ContractError(
            f"model {path} has no edgeimg metadata (missing keys: {required}); export it with "
            "`edgeimg export`, or describe it in a JSON/YAML file holding those keys "
            "(plus layout, color_order, mean, std, resize, decoder, decoder_params, output_names "
            "as needed) and pass it with --contract FILE (Python: ModelContract.from_file)"
        )
    return ModelContract.from_metadata(metadata, f"model {path}")


def input_spec_for(contract: ModelContract) -> tuple[int, ...]:
    height, width = contract.input_size
    if contract.layout is Layout.NCHW:
        return (1, contract.channels, height, width)
    return (1, height, width, contract.channels)


def check_input(contract: ModelContract, spec: TensorSpec) -> None:
    """Refuse a contract whose input (size, channels, layout, dtype) differs from the model's."""
    expected = input_spec_for(contract)
    shape_ok = len(spec.shape) == 4 and all(
        got is None or got == want for got, want in zip(spec.shape, expected, strict=True)
    )
    if not shape_ok or spec.dtype != contract.input_dtype:
        raise ContractError(
            f"model input {spec.name}: the contract (input_size {contract.input_size}, "
            f"{contract.channels} channels, {contract.layout.value}, {contract.input_dtype}) expects "
            f"({', '.join(map(str, expected))}) {contract.input_dtype}, the model declares "
            f"{spec.describe()}"
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


def load_model(
    path: str | Path,
    backend: BackendKind | str = BackendKind.ONNXRUNTIME,
    device: Device | str = Device.CPU,
    threads: int | None = None,
    contract: ModelContract | str | Path | None = None,
    decoder_params: Mapping[str, Any] | None = None,
    tensorrt: TensorRTOptions | None = None,
) -> Model:
    """Load an ONNX model, check it against its contract, and warm it up with one run.

    contract: a ModelContract or a JSON/YAML file for a model without edgeimg metadata (the
        model's own metadata is used when None).
    decoder_params: overrides of the contract's decoder_params (e.g. ``{"score_threshold": 0.3}``).
    Raises EdgeimgError (one line, expected vs actual) for a missing, corrupt or non-ONNX file,
    missing metadata, or outputs that do not match the decoder.
    """
    path = check_model_file(path)
    kind = BackendKind.parse(backend)
    runner = create_backend(path, kind, device, threads, tensorrt)
    resolved = resolve_contract(path, runner.metadata, contract)
    if decoder_params:
        resolved = replace(resolved, decoder_params={**resolved.decoder_params, **decoder_params})
    expected_task = DECODER_TASKS.get(resolved.decoder)
    if expected_task is not None and expected_task is not resolved.task:
        raise ContractError(
            f"contract: decoder {resolved.decoder} expects task {expected_task.value}, "
            f"got {resolved.task.value}"
        )
    decoder = create_decoder(resolved)
    check_input(resolved, runner.inputs[0])
    check_outputs(resolved, decoder, runner.outputs)
    model = Model(path, resolved, runner, decoder)
    warmup = np.zeros(input_spec_for(resolved), dtype=resolved.input_dtype)
    decoder.check_output_shapes([out.shape for out in model.infer(warmup)])
    log.info("model %s runs on %s", path.name, runner.description)
    return model
