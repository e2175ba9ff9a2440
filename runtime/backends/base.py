"""The one interface every inference backend implements: named tensors in, named tensors out."""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import numpy as np

from edgeimg.runtime.errors import EdgeimgError, parse_enum


class Device(str, Enum):
    """Where inference runs. AUTO: CUDA when available here, else CPU (TensorRT on request)."""

    CPU = "cpu"
    CUDA = "cuda"
    TENSORRT = "tensorrt"
    AUTO = "auto"

    @classmethod
    def parse(cls, value: str | Device) -> Device:
        return parse_enum(cls, value, "device")


class BackendUnavailable(EdgeimgError):
    """A backend stopped answering for longer than its timeout (a remote server gone): the
    pipeline ends the run as at the end of the source, its outputs finished with the frames
    done, and then reports this error."""


@dataclass(frozen=True)
class TensorSpec:
    """A model input or output: name, shape (None for a dynamic dimension), numpy dtype name."""

    name: str
    shape: tuple[int | None, ...]
    dtype: str

    def describe(self) -> str:
        dims = ", ".join("?" if d is None else str(d) for d in self.shape)
        return f"{self.name} ({dims}) {self.dtype}"


@dataclass(frozen=True)
class ModelInfo:
    """What an ONNX file declares: inputs, outputs and its metadata_props (string -> string)."""

    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    metadata: dict[str, str]


class Backend(ABC):
    """Runs one ONNX model.

    ``inputs`` and ``outputs`` describe the model's tensors (any number of each, static or
    dynamic dimensions, any batch the model allows) and ``metadata`` holds its metadata_props;
    ``run`` takes a tensor per input name and returns every output by name. ``description``
    names what actually runs, after any fallback (e.g. ``onnxruntime 1.32.0 CUDA``).
    ``concurrent_run``: True when two threads may call ``run`` at once (the pipeline's workers).
    """

    concurrent_run: bool = False

    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    metadata: dict[str, str]
    description: str

    @abstractmethod
    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """feeds: one array per input name, shaped and typed as ``inputs`` -> outputs by name."""

    def check_feeds(self, feeds: Mapping[str, np.ndarray]) -> None:
        """Raise EdgeimgError unless ``feeds`` names every input with its dtype and static dims."""
        names = [spec.name for spec in self.inputs]
        if sorted(feeds) != sorted(names):
            raise EdgeimgError(
                f"model inputs: expected {', '.join(names)}, got {', '.join(feeds) or 'none'}"
            )
        for spec in self.inputs:
            tensor = feeds[spec.name]
            shape = tensor.shape
            if (
                tensor.dtype != spec.dtype
                or len(shape) != len(spec.shape)
                or any(
                    want is not None and want != got
                    for want, got in zip(spec.shape, shape, strict=True)
                )
            ):
                raise EdgeimgError(
                    f"model input {spec.name}: expected {spec.describe()}, "
                    f"got ({', '.join(map(str, shape))}) {tensor.dtype}"
                )


def user_cache_dir() -> Path:
    """edgeimg's cache folder: $EDGEIMG_CACHE, else $XDG_CACHE_HOME/edgeimg, else ~/.cache/edgeimg."""
    if os.environ.get("EDGEIMG_CACHE"):
        return Path(os.environ["EDGEIMG_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "edgeimg"


def check_model_file(path: str | Path) -> Path:
    """The path of a readable, non-empty file, or EdgeimgError saying what is wrong."""
    path = Path(path)
    if not path.exists():
        raise EdgeimgError(f"model file not found: {path}")
    if not path.is_file():
        raise EdgeimgError(f"model: expected an .onnx file, got a directory: {path}")
    if not os.access(path, os.R_OK):
        raise EdgeimgError(f"model file is not readable: {path}")
    if path.stat().st_size == 0:
        raise EdgeimgError(f"model file is empty: {path}")
    return path
