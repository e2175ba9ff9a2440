"""CIFAR-10 batches are read with a restricted unpickler (issue 15): a crafted pickle that
calls ``os.system`` is refused before it runs, while real batches (numpy arrays, lists, bytes,
pickled with any protocol, numpy scalars among the labels) still read."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from edgeimg.runtime.errors import EdgeimgError
from edgeimg.train.tasks.classify.data import (
    ClassificationFormat,
    RefusedPickle,
    load_classification,
    restricted_load,
)


class _RunsCommand:
    """Unpickles to ``os.system(command)``: the classic pickle exploit."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.system, (self.command,)


class _Evaluates:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return eval, ("1 + 1",)


def _batch(n: int, offset: int) -> dict[bytes, object]:
    data = np.zeros((n, 3072), np.uint8)
    data[:, 0] = np.arange(n) + offset
    labels = [np.int64(i % 2) if i else i % 2 for i in range(n)]  # numpy scalars too
    return {b"batch_label": b"batch", b"labels": labels, b"data": data, b"filenames": [b"a.png"]}


def _cifar_folder(root: Path, protocol: int) -> None:
    for i in range(1, 3):
        (root / f"data_batch_{i}").write_bytes(pickle.dumps(_batch(3, 10 * i), protocol))
    (root / "test_batch").write_bytes(pickle.dumps(_batch(2, 0), protocol))
    meta = {b"label_names": [b"cat", b"dog"], b"num_vis": 3072}
    (root / "batches.meta").write_bytes(pickle.dumps(meta, protocol))


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_real_cifar_batches_still_read(tmp_path: Path, protocol: int) -> None:
    _cifar_folder(tmp_path, protocol)

    data = load_classification(tmp_path)

    assert data.format is ClassificationFormat.CIFAR
    assert data.x_train.shape == (6, 32, 32, 3) and data.x_test.shape == (2, 32, 32, 3)
    assert data.x_train[:3, 0, 0, 0].tolist() == [10, 11, 12]
    assert data.y_train.tolist() == [0, 1, 0, 0, 1, 0]
    assert data.class_names == ("cat", "dog")


@pytest.mark.parametrize("where", ["data_batch_1", "test_batch", "batches.meta"])
def test_crafted_pickle_calling_os_system_is_refused_before_running(
    tmp_path: Path, where: str
) -> None:
    marker = tmp_path / "pwned"
    data = tmp_path / "data"
    data.mkdir()
    _cifar_folder(data, 2)
    (data / where).write_bytes(pickle.dumps({b"x": _RunsCommand(f"touch {marker}")}, 2))

    with pytest.raises(EdgeimgError) as caught:
        load_classification(data)

    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{data / where}: refused") and ".system" in message
    assert not marker.exists()


@pytest.mark.parametrize(
    "payload",
    [
        _Evaluates(),
        np.array([{"a": 1}], dtype=object),  # object arrays hold arbitrary pickles
        {1, 2},  # a set: builtins.set is not among the allowed globals
    ],
    ids=["eval", "object-array", "set"],
)
def test_other_globals_are_refused(payload: object) -> None:
    with pytest.raises(RefusedPickle):
        restricted_load(pickle.dumps(payload, 2))


def test_plain_data_round_trips() -> None:
    value = {"a": [1, 2.5, (3, b"x")], b"arr": np.arange(6, dtype=np.float32).reshape(2, 3)}
    for protocol in (2, 4, 5):
        back = restricted_load(pickle.dumps(value, protocol))
        assert isinstance(back, dict)
        assert back["a"] == [1, 2.5, (3, b"x")]
        np.testing.assert_array_equal(back[b"arr"], value[b"arr"])


def test_garbage_is_one_line(tmp_path: Path) -> None:
    for name in ("data_batch_1", "test_batch"):
        (tmp_path / name).write_bytes(b"\x80\x02not a pickle at all")
    with pytest.raises(EdgeimgError, match="not a CIFAR-10 python batch") as caught:
        load_classification(tmp_path)
    assert "\n" not in str(caught.value)
