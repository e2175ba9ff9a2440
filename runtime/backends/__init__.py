"""Inference backends behind one interface, chosen by name from a registry.

``Backend.run(feeds) -> outputs`` moves named tensors. Built in: ``onnxruntime`` (execution
providers from ``--device``), ``opencv`` (``cv2.dnn``) and ``openvino`` (the optional
``openvino`` package, imported only when its backend is made: where it is missing, asking for it
is a one-line error with the pip command, exit code 3). A backend added later (a Triton client)
is one module that calls :func:`register_backend` with a factory taking
``(path, device, threads, tensorrt)``.

A backend on another machine is named by a URI instead of a name, ``SCHEME://...``, and needs
no local model file: ``triton://HOST:PORT/MODEL`` (:mod:`.triton`, ``tritonclient`` imported
only when it is made). :func:`register_remote_backend` adds a scheme.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from edgeimg.runtime.backends.base import (
    Backend,
    BackendUnavailable,
    Device,
    ModelInfo,
    TensorSpec,
)
from edgeimg.runtime.backends.onnx_info import read_model_info
from edgeimg.runtime.backends.opencv import OpenCVBackend
from edgeimg.runtime.backends.openvino import MissingBackend, OpenVINOBackend, openvino_available
from edgeimg.runtime.backends.ort import OrtBackend, TensorRTOptions
from edgeimg.runtime.errors import EdgeimgError
from edgeimg.runtime.registry import Registry

BackendFactory = Callable[[Path, Device, "int | None", "TensorRTOptions | None"], Backend]

BACKENDS: Registry[BackendFactory] = Registry("backend", group="edgeimg.backends")
# a backend on a server: (URI, device, threads) -> Backend; keyed by the URI's scheme
RemoteFactory = Callable[[str, Device, "int | None"], Backend]
REMOTE_BACKENDS: Registry[RemoteFactory] = Registry(
    "backend URI scheme", group="edgeimg.remote_backends"
)


def register_backend(name: str, factory: BackendFactory) -> None:
    """Make ``factory`` available as ``--backend NAME`` / ``create_backend(path, NAME)``; another
    package can do the same through the entry point group ``edgeimg.backends``."""
    BACKENDS.register(name, factory)


def register_remote_backend(scheme: str, factory: RemoteFactory) -> None:
    """Make ``--backend SCHEME://...`` create ``factory(uri, device, threads)``."""
    REMOTE_BACKENDS.register(scheme.lower(), factory)


def is_backend_uri(name: str) -> bool:
    """True for a remote backend's URI (``triton://host:8000/detector``), not a name."""
    return "://" in str(name)


def check_backend_name(name: str, extra: tuple[str, ...] = ()) -> str:
    """``name`` if it is a registered backend, one of ``extra`` or a URI of a registered scheme;
    a one-line error listing the valid names otherwise."""
    if is_backend_uri(name):
        REMOTE_BACKENDS.get(name.split("://", 1)[0].lower())
        return name
    if name.lower() in BACKENDS or name.lower() in extra:
        return name.lower()
    schemes = ", ".join(f"{s}://..." for s in REMOTE_BACKENDS.names())
    raise EdgeimgError(
        f"backend: expected one of {', '.join((*BACKENDS.names(), *extra))} or {schemes}, "
        f"got {name!r}"
    )


def backend_names() -> tuple[str, ...]:
    """Every registered backend, whether or not its optional package is installed here."""
    return BACKENDS.names()


# Registered backends whose package may be missing: name -> "is it installed here?" (without
# importing it). --backend auto measures only the installed ones.
OPTIONAL: dict[str, Callable[[], bool]] = {"openvino": openvino_available}


def installed_backend_names() -> tuple[str, ...]:
    """The registered backends that can be made here (optional packages installed)."""
    return tuple(name for name in BACKENDS.names() if OPTIONAL.get(name, lambda: True)())


def create_backend(
    path: str | Path,
    name: str = "onnxruntime",
    device: Device | str = Device.CPU,
    threads: int | None = None,
    tensorrt: TensorRTOptions | None = None,
) -> Backend:
    """A ready backend for the ONNX file at ``path`` (EdgeimgError when it cannot load it); for
    a backend URI (``triton://...``) the server's model, and ``path`` is not read."""
    if is_backend_uri(str(name)):
        remote = REMOTE_BACKENDS.get(str(name).split("://", 1)[0].lower())
        return remote(str(name), Device.parse(device), threads)
    factory = BACKENDS.get(str(name).lower())
    return factory(Path(path), Device.parse(device), threads, tensorrt)


register_backend(
    "onnxruntime", lambda path, device, threads, trt: OrtBackend(path, device, threads, trt)
)
# cv2.dnn cannot list a model's inputs, outputs or metadata: read_model_info reads them first.
register_backend(
    "opencv",
    lambda path, device, threads, trt: OpenCVBackend(path, read_model_info(path), device, threads),
)
# OpenVINO reads the file itself; its tensors and metadata are read like OpenCV's.
register_backend(
    "openvino",
    lambda path, device, threads, trt: OpenVINOBackend(
        path, read_model_info(path), device, threads
    ),
)


def _triton(uri: str, device: Device, threads: int | None) -> Backend:
    from edgeimg.runtime.backends.triton import TritonBackend

    return TritonBackend(uri)  # the server decides the device and threads


register_remote_backend("triton", _triton)

__all__ = [
    "BACKENDS",
    "REMOTE_BACKENDS",
    "Backend",
    "BackendUnavailable",
    "Device",
    "MissingBackend",
    "ModelInfo",
    "OpenCVBackend",
    "OpenVINOBackend",
    "OrtBackend",
    "TensorRTOptions",
    "TensorSpec",
    "backend_names",
    "check_backend_name",
    "create_backend",
    "installed_backend_names",
    "is_backend_uri",
    "read_model_info",
    "register_backend",
    "register_remote_backend",
]
