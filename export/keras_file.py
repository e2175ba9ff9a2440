"""The ``.keras`` file that training writes, with the edgeimg contract inside it.

A ``.keras`` file is a zip archive (``config.json``, ``metadata.json``, ``model.weights.h5``);
training adds one more entry, ``edgeimg.json``, holding the :class:`ModelContract` of the model
(task, class names, input size, decoder and its parameters). Keras ignores the extra entry when
loading, and ``edgeimg export`` reads it to write the ONNX metadata. Reading and attaching the
contract needs no TensorFlow; :func:`load_keras` imports Keras only after the contract is read.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

from edgeimg.export.tasks import get_export_task
from edgeimg.runtime.atomic import atomic_output
from edgeimg.runtime.contract import ModelContract
from edgeimg.runtime.errors import EdgeimgError, first_line

if TYPE_CHECKING:
    import keras

ENTRY = "edgeimg.json"


def attach_contract(keras_path: str | Path, contract: ModelContract) -> None:
    """Add (or replace) the contract entry of a saved ``.keras`` file (written atomically)."""
    keras_path = Path(keras_path)
    if not zipfile.is_zipfile(keras_path):
        raise EdgeimgError(f"{keras_path} is not a .keras archive (expected a zip file)")
    with (
        zipfile.ZipFile(keras_path) as archive,
        atomic_output(keras_path, "Keras file") as tmp,
        zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as out,
    ):
        for info in archive.infolist():
            if info.filename != ENTRY:
                out.writestr(info, archive.read(info))
        out.writestr(ENTRY, json.dumps(contract.to_dict(), indent=2))


def read_contract(keras_path: str | Path) -> ModelContract:
    """The contract stored in a ``.keras`` file, or an error naming what is missing."""
    keras_path = Path(keras_path)
    if not keras_path.is_file():
        raise EdgeimgError(f"no such Keras file: {keras_path}")
    if not zipfile.is_zipfile(keras_path):
        raise EdgeimgError(f"{keras_path} is not a .keras archive (expected a zip file)")
    with zipfile.ZipFile(keras_path) as archive:
        if ENTRY not in archive.namelist():
            raise EdgeimgError(
                f"{keras_path} is not an edgeimg model: the archive has no {ENTRY} "
                "(task, class names, input size); train it with `edgeimg train`"
            )
        values = json.loads(archive.read(ENTRY))
    return ModelContract.from_dict(values, str(keras_path))


def load_keras(keras_path: str | Path, compile: bool = False) -> tuple[keras.Model, ModelContract]:
    """The Keras model (loaded with ``safe_mode=True``) and the contract stored beside it; the one
    Keras loader of edgeimg. ``compile``: restore the optimizer and losses too (resuming
    training; the train task's custom losses must be imported first, as
    ``edgeimg.train.tasks.import_keras_objects`` does).

    The contract is read first, so a ``.keras`` file that is not an edgeimg model is rejected
    with a message naming what is missing before TensorFlow is even imported.
    """
    contract = read_contract(keras_path)
    import keras

    try:
        model = keras.saving.load_model(keras_path, compile=compile, safe_mode=True)
    except Exception as exc:  # Keras raises ValueError, TypeError, OSError, KeyError...
        raise EdgeimgError(
            f"cannot load Keras model {keras_path}: {type(exc).__name__}: {first_line(exc)}"
        ) from None
    check_model_matches_contract(model, contract, str(keras_path))
    return model, contract


def check_model_matches_contract(model: keras.Model, contract: ModelContract, source: str) -> None:
    """Raise when the model's input or outputs disagree with its contract (the outputs' per-task
    part is the export task's ``check_outputs``)."""
    if len(model.inputs) != 1:
        raise EdgeimgError(f"{source}: expected a model with 1 input, got {len(model.inputs)}")
    shape = tuple(model.inputs[0].shape[1:])
    task = get_export_task(contract.task)
    if task.input_shape is not None:
        vector = task.input_shape(contract)
        if shape != vector:
            raise EdgeimgError(
                f"{source}: model input {shape} does not match the contract's {vector}"
            )
    size = contract.input_size or (None, None)
    expected = (*size, contract.channels)
    if task.input_shape is None and (
        len(shape) != 3
        or any(
            s is not None and e is not None and s != e for s, e in zip(shape, expected, strict=True)
        )
    ):
        raise EdgeimgError(
            f"{source}: model input (H, W, C) = {shape} does not match the contract's {expected}"
        )
    names = contract.output_names
    if len(model.outputs) != len(names):
        raise EdgeimgError(
            f"{source}: contract names {len(names)} outputs {list(names)}, "
            f"the model has {len(model.outputs)}"
        )
    shapes = {
        name: tuple(None if d is None else int(d) for d in t.shape[1:])
        for name, t in zip(output_order(model, contract), model.outputs, strict=True)
    }
    task.check_outputs(shapes, contract, source)


def output_order(model: keras.Model, contract: ModelContract) -> tuple[str, ...]:
    """Contract output name of each Keras output, in the model's output order.

    Outputs are matched by name when the Keras output names are the contract's names, else by
    position (the contract lists them in the model's order).
    """
    keras_names = tuple(model.output_names)
    if set(keras_names) == set(contract.output_names):
        return keras_names
    return contract.output_names


def call_model(model: keras.Model, batch: object, contract: ModelContract) -> dict[str, object]:
    """Run the Keras model; its outputs keyed by contract output name.

    Handles the three shapes Keras returns: a dict (keyed by output name), a list, one tensor.
    """
    outputs = model(batch, training=False)
    if isinstance(outputs, dict):
        return {name: outputs[name] for name in contract.output_names}
    if not isinstance(outputs, (list, tuple)):
        outputs = [outputs]
    return dict(zip(output_order(model, contract), outputs, strict=True))
