"""The edgeimg contract travels inside the ``.keras`` file that training writes.

A ``.keras`` file is a zip archive (``config.json``, ``metadata.json``, ``model.weights.h5``);
training adds one more entry, ``edgeimg.json``, holding the :class:`ModelContract` of the model
(task, class names, input size, decoder and its parameters). Keras ignores the extra entry when
loading, and ``edgeimg export`` reads it to write the ONNX metadata. No TensorFlow needed here.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from edgeimg.runtime.contract import ModelContract
from edgeimg.runtime.errors import EdgeimgError

ENTRY = "edgeimg.json"


def attach_contract(keras_path: str | Path, contract: ModelContract) -> None:
    """Add (or replace) the contract entry of a saved ``.keras`` file, in place."""
    keras_path = Path(keras_path)
    if not zipfile.is_zipfile(keras_path):
        raise EdgeimgError(f"{keras_path} is not a .keras archive (expected a zip file)")
    with zipfile.ZipFile(keras_path) as archive:
        if ENTRY not in archive.namelist():
            with zipfile.ZipFile(keras_path, "a") as out:
                out.writestr(ENTRY, json.dumps(contract.to_dict(), indent=2))
            return
        entries = {n: archive.read(n) for n in archive.namelist() if n != ENTRY}
    tmp = keras_path.with_name(keras_path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as out:
        for name, data in entries.items():
            out.writestr(name, data)
        out.writestr(ENTRY, json.dumps(contract.to_dict(), indent=2))
    tmp.replace(keras_path)


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
