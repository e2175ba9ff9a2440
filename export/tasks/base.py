"""What a task gives the generic export code: :class:`ExportTask` and the values it returns.

The exporter (:mod:`~edgeimg.export.onnx_export`), the parity gate
(:mod:`~edgeimg.export.parity`), INT8 quantization (:mod:`~edgeimg.export.quantize`) and the
quantization report never branch on a task name: they ask the contract's task here for the
per-task part of their work.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from edgeimg.runtime.errors import EdgeimgError

if TYPE_CHECKING:
    import onnx

    from edgeimg.export.evaluation import Evaluator, HeldOut
    from edgeimg.runtime.contract import ModelContract

# Shape of one output without its batch axis; None for a dynamic dimension.
Shape = tuple[int | None, ...]
# Outputs of a batch, keyed by contract output name: (N, ...) arrays.
Outputs = Mapping[str, np.ndarray]


@dataclass(frozen=True)
class Agreement:
    """The task's own answer compared between the exported model and Keras.

    what: the measure (``boxes matched``, ``top-1 agreement``). fraction: 0..1 of ``items``
    (boxes, images) that agree. score_diff: the largest score difference of matched items,
    None where the task has no such score (it is then not gated).
    """

    what: str
    fraction: float
    items: int
    score_diff: float | None = None


@dataclass(frozen=True)
class ExportTask:
    """One task as export knows it.

    name: the contract's ``task`` (a task registered in :mod:`edgeimg.runtime.tasks`).
    check_outputs: (Keras output shapes without the batch axis by contract output name,
        contract, source) -> None; raises a one-line EdgeimgError when the model's outputs do
        not fit the contract (wrong channel count for the class names, ...).
    agreement: (ONNX outputs, Keras outputs, contract) -> :class:`Agreement`, the parity gate's
        task-level comparison on a batch.
    float_nodes: ONNX graph -> names of the nodes INT8 quantization keeps in float by default
        (a detector's head); none for most tasks.
    input_shape: for a task whose input is not an image (generate: a latent vector), contract
        -> the input's shape without the batch axis; None: an image as the contract says.
    model_inputs: for such a task, (contract, count, seed) -> ``count`` model inputs, the
        parity gate's and INT8 calibration's data in place of images.
    evaluator: (held-out data, contract, progress) -> the :class:`Evaluator` scoring a model
        file in the task's metric; ``progress`` shows a bar while it runs.
    output_range: the span of the outputs' values (1 for scores and logits; 255 for images in
        0..255): the parity gate's ``atol`` is per unit of it, so float32 rounding of a pixel
        near 0 (0.02 of 255 measured on a stylizer) is not read as a 200x relative error.
    """

    name: str
    check_outputs: Callable[[Mapping[str, Shape], ModelContract, str], None]
    agreement: Callable[[Outputs, Outputs, ModelContract], Agreement]
    evaluator: Callable[[HeldOut, ModelContract, bool], Evaluator]
    float_nodes: Callable[[onnx.ModelProto], list[str]] = lambda proto: []
    input_shape: Callable[[ModelContract], tuple[int, ...]] | None = None
    model_inputs: Callable[[ModelContract, int, int], np.ndarray] | None = None
    description: str = ""
    output_range: float = 1.0


def check_channels(
    shapes: Mapping[str, Shape], wanted: Mapping[str, int], contract: ModelContract, source: str
) -> None:
    """Raise unless each output named in ``wanted`` has that many channels (last axis)."""
    for name, count in wanted.items():
        shape = shapes.get(name)
        if not shape:
            continue
        got: Any = shape[-1]
        if got is not None and int(got) != count:
            raise EdgeimgError(
                f"{source}: output {name!r} has {got} channels, expected {count} "
                f"({len(contract.class_names)} classes in the contract)"
            )


def checked_kind(held_out: HeldOut, kind: str, task: str, expected: str) -> None:
    """Raise unless the held-out data carries the targets the task's evaluator reads."""
    if held_out.kind != kind:
        raise EdgeimgError(
            f"{task} evaluation data: expected {expected}, got {held_out.kind} targets"
        )


def first_items(outputs: Outputs, names: Sequence[str], index: int) -> list[np.ndarray]:
    """The outputs of image ``index`` as a batch of one, in ``names`` order (decoder input)."""
    return [outputs[name][index : index + 1] for name in names]
