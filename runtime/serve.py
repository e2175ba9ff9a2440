"""Serve an ONNX model on a real Triton Inference Server on this machine (``edgeimg serve``).

PyTriton (``pip install 'edgeimg[serve]'``, imported only by :func:`serve_model`) starts the
``tritonserver`` binary it bundles; Triton's Python backend hands each batch to a callable here,
which runs it on onnxruntime (:class:`~edgeimg.runtime.backends.ort.OrtBackend`, CPU, one
session per instance). Requests are batched by Triton's dynamic batcher (``max_batch`` > 0,
waiting up to ``queue_delay_us`` for a fuller batch) when every input and output of the model
has a dynamic first dimension; otherwise each request runs alone.

The ONNX file's metadata_props (the edgeimg contract) are served in the model config as the
parameter ``edgeimg.metadata`` (a JSON object), which any Triton client reads with
``get_model_config``; ``--backend triton://...`` does.

The interpreter: the Python backend's stub process embeds Python through the shared
``libpython`` of the interpreter's version, so ``edgeimg serve`` needs a Python built with a
shared library (Debian's ``/usr/bin/python3``; pyenv builds with ``--enable-shared``); the stub
is pointed at this interpreter's own library (``LD_LIBRARY_PATH``), so a system libpython of
another patch version is not picked up instead. :func:`check_interpreter` says in one line
what is missing before anything starts.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import sysconfig
import time
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeimg.runtime.backends.base import Device, TensorSpec, user_cache_dir
from edgeimg.runtime.backends.openvino import MissingBackend
from edgeimg.runtime.backends.ort import OrtBackend
from edgeimg.runtime.backends.triton import METADATA_PARAMETER, check_model_name
from edgeimg.runtime.errors import EdgeimgError, first_line

log = logging.getLogger(__name__)

INSTALL = "pip install 'edgeimg[serve]'"
VENV_HINT = (
    "make a venv from a Python that has one, e.g. Debian's: /usr/bin/python3 -m venv "
    ".venv-serve && .venv-serve/bin/pip install -e '.[serve]' (README: Serving on Triton)"
)


class ServeError(EdgeimgError):
    """What keeps ``edgeimg serve`` from starting (exit code 2)."""


@dataclass(frozen=True)
class ServeConfig:
    """How a model is served.

    name: the model name clients use (``triton://HOST:PORT/NAME``). host: the address the
    HTTP and gRPC endpoints bind to (127.0.0.1: this machine only). max_batch: the largest
    batch Triton forms (0: no batching, each request alone). queue_delay_us: how long the
    dynamic batcher lets a request wait for others. instances: model instances (one
    onnxruntime session each). threads: onnxruntime intra-op threads per instance (None: its
    default). version: the model version served.
    """

    name: str
    host: str = "127.0.0.1"
    http_port: int = 8000
    grpc_port: int = 8001
    metrics_port: int = 8002
    max_batch: int = 16
    queue_delay_us: int = 2000
    instances: int = 1
    threads: int | None = None
    version: int = 1

    def __post_init__(self) -> None:
        check_model_name(self.name)
        ports = {"http": self.http_port, "grpc": self.grpc_port, "metrics": self.metrics_port}
        for what, port in ports.items():
            if not 1 <= port <= 65535:
                raise ServeError(f"{what} port: expected 1..65535, got {port}")
        if len(set(ports.values())) != 3:
            raise ServeError(f"ports: expected three different ports, got {ports}")
        if self.max_batch < 0:
            raise ServeError(f"max batch: expected >= 0, got {self.max_batch}")
        if self.queue_delay_us < 0:
            raise ServeError(f"queue delay: expected >= 0 us, got {self.queue_delay_us}")
        if self.instances < 1:
            raise ServeError(f"instances: expected >= 1, got {self.instances}")
        if self.threads is not None and self.threads < 1:
            raise ServeError(f"threads: expected >= 1, got {self.threads}")
        if self.version < 1:
            raise ServeError(f"version: expected >= 1, got {self.version}")


def interpreter_problem(
    config_vars: Mapping[str, Any], exists: Callable[[Path], bool] = Path.exists
) -> str | None:
    """Why this interpreter cannot be embedded by Triton's Python-backend stub, or None.

    config_vars: ``sysconfig.get_config_vars()`` (Py_ENABLE_SHARED, LDLIBRARY, LIBDIR,
    INSTSONAME, VERSION)."""
    version = config_vars.get("VERSION") or "?"
    if not config_vars.get("Py_ENABLE_SHARED"):
        return f"has no shared libpython{version} (built without --enable-shared)"
    libdir = Path(str(config_vars.get("LIBDIR") or ""))
    names = [str(config_vars.get(k) or "") for k in ("INSTSONAME", "LDLIBRARY")]
    if not any(name.endswith(".so") or ".so." in name for name in names if name):
        return f"has no shared libpython{version} (LDLIBRARY {names[-1] or 'unset'})"
    if not any(name and exists(libdir / name) for name in names):
        return f"has no libpython{version} shared library in {libdir} (looked for {names[0]})"
    return None


def check_interpreter() -> Path:
    """This interpreter's LIBDIR (where its shared libpython is), or ServeError in one line."""
    problem = interpreter_problem(sysconfig.get_config_vars())
    if problem:
        raise ServeError(
            f"this Python ({sys.executable}, {sys.version.split()[0]}) {problem}; Triton's "
            f"Python backend embeds it through a shared libpython of the same version: {VENV_HINT}"
        )
    return Path(str(sysconfig.get_config_var("LIBDIR")))


def use_own_libpython(libdir: Path, env: MutableMapping[str, str] | None = None) -> None:
    """Put ``libdir`` first on ``LD_LIBRARY_PATH`` (of ``env``, default ``os.environ``, which
    the server and its stubs inherit), so the stub loads this interpreter's libpython and not
    a system one of another patch version (whose standard library would not match)."""
    target: MutableMapping[str, str] = os.environ if env is None else env
    paths = [p for p in target.get("LD_LIBRARY_PATH", "").split(":") if p and p != str(libdir)]
    target["LD_LIBRARY_PATH"] = ":".join([str(libdir), *paths])


def check_ports_free(config: ServeConfig) -> None:
    """ServeError naming the first of the three ports something already listens on (PyTriton
    would otherwise talk to whatever holds it and fail with its error)."""
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    ports = {"--port": config.http_port, "--grpc-port": config.grpc_port,
             "--metrics-port": config.metrics_port}  # fmt: skip
    for flag, port in ports.items():
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((config.host, port))
            except OSError as exc:
                raise ServeError(
                    f"{flag} {port}: expected a free port on {config.host}, got "
                    f"{(exc.strerror or str(exc)).lower()} (another server running?)"
                ) from None


def import_pytriton() -> Any:
    """The ``pytriton`` package, or MissingBackend (exit 3) naming the pip command."""
    try:
        import pytriton.triton
    except ImportError:
        raise MissingBackend(f"needs nvidia-pytriton: {INSTALL}") from None
    return pytriton


def check_stub(package: Path, version: tuple[int, int] = sys.version_info[:2]) -> None:
    """ServeError unless PyTriton (its package folder) has a backend stub for this Python."""
    stubs = package / "tritonserver" / "python_backend_stubs"
    wanted = f"{version[0]}.{version[1]}"
    if not (stubs / wanted / "triton_python_backend_stub").is_file():
        have = sorted(
            (p.name for p in stubs.glob("*.*")), key=lambda v: tuple(map(int, v.split(".")))
        )
        raise ServeError(
            f"PyTriton has Python-backend stubs for Python {', '.join(have) or 'none'}, not "
            f"{wanted}: run edgeimg serve from one of those"
        )


def batchable(specs: Sequence[TensorSpec]) -> bool:
    """Every tensor has a dynamic first (batch) dimension."""
    return all(spec.shape and spec.shape[0] is None for spec in specs)


def served_metadata(metadata: Mapping[str, str]) -> dict[str, str]:
    """The model config parameters that carry the ONNX file's metadata_props."""
    return {METADATA_PARAMETER: json.dumps(dict(metadata), sort_keys=True)}


def server_log_path(config: ServeConfig, verbose: bool = False) -> Path | None:
    """Where Triton's own log goes: ``<user cache>/serve/NAME-PORT.log`` (None with -vv: the
    terminal), so its start-up tables stay out of the user's way."""
    if verbose:
        return None
    folder = user_cache_dir() / "serve"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return folder / f"{config.name}-{config.http_port}.log"


def _dims(spec: TensorSpec, batched: bool) -> tuple[int, ...]:
    shape = spec.shape[1:] if batched else spec.shape
    return tuple(-1 if d is None else int(d) for d in shape)


def _with_parameters(pytriton: Any, name: str, parameters: Mapping[str, str]) -> None:
    """Add ``parameters`` to the config PyTriton generates for model ``name``.

    PyTriton 0.7 has no public option for model config parameters; its Model builds the
    config (``_get_triton_model_config``) with ``backend_parameters``, which it writes as the
    config's ``parameters``: extend them there. tests/test_triton_serve.py reads them back
    through a real server, so a PyTriton that changes this fails the test."""
    from pytriton.models.model import Model

    original = Model._get_triton_model_config
    if getattr(original, "_edgeimg", False):
        original = original.__wrapped__

    def config_with_parameters(self: Any) -> Any:
        config = original(self)
        if self.model_name == name:
            config.backend_parameters.update(parameters)
        return config

    config_with_parameters._edgeimg = True  # type: ignore[attr-defined]
    config_with_parameters.__wrapped__ = original  # type: ignore[attr-defined]
    Model._get_triton_model_config = config_with_parameters


def _infer_function(backend: OrtBackend, batched: bool) -> Any:
    """The callable Triton's Python backend calls: requests -> outputs, on onnxruntime."""
    names = [spec.name for spec in backend.inputs]

    def run(inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        feeds = {name: np.asarray(inputs[name], dtype=spec.dtype) for name, spec in
                 zip(names, backend.inputs, strict=True)}  # fmt: skip
        return backend.run(feeds)

    if batched:
        from pytriton.decorators import batch

        def batch_run(**inputs: np.ndarray) -> dict[str, np.ndarray]:
            return run(inputs)

        return batch(batch_run)

    def each(requests: Sequence[Mapping[str, np.ndarray]]) -> list[dict[str, np.ndarray]]:
        return [run(request) for request in requests]

    return each


def serve_model(
    path: str | Path,
    config: ServeConfig,
    on_ready: Callable[[str], None] | None = None,
    verbose: bool = False,
) -> None:
    """Serve the ONNX model at ``path`` until a stop signal (KeyboardInterrupt, which the CLI
    raises for SIGINT/SIGTERM/SIGHUP) or until the server dies (ServeError). on_ready: called
    with a one-line description when the model answers."""
    libdir = check_interpreter()
    check_ports_free(config)
    pytriton = import_pytriton()
    check_stub(Path(pytriton.__file__).parent)
    from pytriton.model_config import DynamicBatcher, ModelConfig, Tensor
    from pytriton.triton import Triton, TritonConfig

    if not verbose:
        logging.getLogger("pytriton").setLevel(logging.ERROR)
    sessions = [OrtBackend(path, Device.CPU, config.threads) for _ in range(config.instances)]
    first = sessions[0]
    batched = config.max_batch > 0 and batchable(first.inputs) and batchable(first.outputs)
    if config.max_batch > 0 and not batched:
        log.warning(
            "%s: not every input and output has a dynamic first dimension: no batching",
            Path(path).name,
        )
    log_file = server_log_path(config, verbose)
    use_own_libpython(libdir)
    _with_parameters(pytriton, config.name, served_metadata(first.metadata))
    triton_config = TritonConfig(
        http_address=config.host,
        http_port=config.http_port,
        grpc_address=config.host,
        grpc_port=config.grpc_port,
        metrics_port=config.metrics_port,
        log_verbose=1 if verbose else 0,
        log_file=log_file,
        exit_on_error=True,
    )
    model_config = ModelConfig(
        batching=batched,
        max_batch_size=config.max_batch if batched else 0,
        batcher=DynamicBatcher(max_queue_delay_microseconds=config.queue_delay_us),
    )
    triton = Triton(config=triton_config)
    try:
        try:
            triton.__enter__()  # starts tritonserver
            triton.bind(
                model_name=config.name,
                infer_func=[_infer_function(s, batched) for s in sessions],
                inputs=[
                    Tensor(name=s.name, dtype=np.dtype(s.dtype), shape=_dims(s, batched))
                    for s in first.inputs
                ],
                outputs=[
                    Tensor(name=s.name, dtype=np.dtype(s.dtype), shape=_dims(s, batched))
                    for s in first.outputs
                ],
                model_version=config.version,
                config=model_config,
                strict=False,
            )
        except EdgeimgError:
            raise
        except Exception as exc:  # PyTriton's start and load errors share no base class
            raise ServeError(f"triton could not serve the model: {first_line(exc)}") from None
        if on_ready is not None:
            on_ready(
                f"serving {Path(path).name} as triton://{config.host}:{config.http_port}/"
                f"{config.name} (version {config.version}; HTTP {config.http_port}, gRPC "
                f"{config.grpc_port}, metrics {config.metrics_port}; "
                + (
                    f"dynamic batching up to {config.max_batch}, {config.queue_delay_us} us"
                    if batched
                    else "no batching"
                )
                + f"; {config.instances} instance{'s' if config.instances > 1 else ''}"
                + (f"; server log {log_file})" if log_file else ")")
            )
        while triton.is_alive():
            time.sleep(0.5)
        raise ServeError(
            f"the Triton server stopped ({f'its log: {log_file}' if log_file else 'see above'})"
        )
    finally:
        triton.stop()
