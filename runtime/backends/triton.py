"""``--backend triton://HOST:PORT/MODEL[/VERSION][?timeout=S]``: inference on a Triton server.

Pre- and post-processing (and tracking) stay on this machine; only tensors travel, over
Triton's HTTP/REST protocol with binary tensors (``tritonclient[http]``, the
``pip install 'edgeimg[triton-client]'`` extra, imported only when such a backend is made:
``import edgeimg.runtime`` never imports it).

The model's tensors come from the server's model metadata; its metadata_props (the edgeimg
contract) from the model config's ``edgeimg.metadata`` parameter, which ``edgeimg serve``
writes. A model served another way (``tritonserver`` on a ``triton-repo`` folder) has none:
give the contract with ``--contract FILE``.

Faults: a model name the server does not have, or a version it does not serve, is a one-line
error naming what it has. When the server stops answering mid-run, a request is retried with
exponential backoff (0.05 s doubling up to 1 s) until the server answers again or ``timeout``
seconds (default 10) have passed since the outage began; then :class:`BackendUnavailable`
ends the run (the pipeline finishes the outputs with the frames done). A server that is up
again but has not loaded the model yet (404 unknown model, 503) counts as the same outage.
Frames a live source captures meanwhile are dropped by the source and counted in the summary.
Other errors the server reports (a bad tensor) are not retried.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np

from edgeimg.runtime.backends.base import Backend, BackendUnavailable, TensorSpec
from edgeimg.runtime.backends.openvino import MissingBackend
from edgeimg.runtime.errors import EdgeimgError, first_line

log = logging.getLogger(__name__)

INSTALL = "pip install 'edgeimg[triton-client]'"
# the model config parameter `edgeimg serve` writes: the ONNX file's metadata_props as JSON
METADATA_PARAMETER = "edgeimg.metadata"
# Triton's model names: letters, digits, "_", "." and "-", not starting with "." or "-": a
# folder name that is also safe in Triton's URLs (/v2/models/<name>) and its metric labels
NAME_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


def check_model_name(name: str) -> str:
    """``name`` when it is a valid Triton model name (see ``NAME_PATTERN``), else an error."""
    if not NAME_PATTERN.fullmatch(name):
        raise EdgeimgError(
            f"model name {name!r}: expected letters, digits, '_', '.' or '-' (not starting with "
            "'.' or '-', at most 128 characters)"
        )
    return name


# Triton data types -> numpy dtype names (the ones edgeimg models use)
TRITON_DTYPES = {
    "FP32": "float32",
    "FP16": "float16",
    "FP64": "float64",
    "UINT8": "uint8",
    "INT8": "int8",
    "INT32": "int32",
    "INT64": "int64",
    "BOOL": "bool",
}
NUMPY_TO_TRITON = {name: triton for triton, name in TRITON_DTYPES.items()}


@dataclass(frozen=True)
class TritonTarget:
    """A parsed ``triton://HOST:PORT/MODEL[/VERSION][?timeout=S]``. version "" is the server's
    choice (its newest ready version); timeout_s: seconds an outage may last mid-run."""

    host: str
    port: int
    model: str
    version: str = ""
    timeout_s: float = 10.0

    @property
    def url(self) -> str:
        return f"{self.host}:{self.port}"

    def describe(self) -> str:
        version = f"/{self.version}" if self.version else ""
        return f"triton://{self.url}/{self.model}{version}"


def parse_triton_uri(uri: str) -> TritonTarget:
    """``triton://127.0.0.1:8000/detector`` -> TritonTarget; a one-line error naming the
    expected form otherwise."""
    form = "triton://HOST:PORT/MODEL[/VERSION][?timeout=SECONDS]"
    parts = urlsplit(uri)
    try:
        port = parts.port
    except ValueError:
        port = None
    path = [p for p in parts.path.split("/") if p]
    if parts.scheme.lower() != "triton" or not parts.hostname or port is None or not path:
        raise EdgeimgError(f"backend: expected {form}, got {uri!r}")
    if len(path) > 2 or (len(path) == 2 and not path[1].isdigit()):
        raise EdgeimgError(f"backend: expected {form} (VERSION a number), got {uri!r}")
    query = parse_qs(parts.query)
    unknown = sorted(set(query) - {"timeout"})
    if unknown:
        raise EdgeimgError(f"backend {uri}: unknown options {', '.join(unknown)}; valid: timeout")
    timeout = 10.0
    if "timeout" in query:
        try:
            timeout = float(query["timeout"][-1])
        except ValueError:
            timeout = -1.0
        if not timeout > 0:
            raise EdgeimgError(
                f"backend {uri}: timeout: expected seconds > 0, got {query['timeout'][-1]!r}"
            )
    return TritonTarget(
        parts.hostname, port, path[0], path[1] if len(path) == 2 else "", timeout_s=timeout
    )


def import_http_client() -> Any:
    """``tritonclient.http``, or MissingBackend naming the pip command."""
    try:
        import tritonclient.http as httpclient
    except ImportError:
        raise MissingBackend(
            f"backend triton: tritonclient[http] is not installed here: {INSTALL}"
        ) from None
    return httpclient


def _reason(exc: BaseException) -> str:
    """A connection failure in a few words (``connection refused``, ``timed out``)."""
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError) or "timed out" in str(exc).lower():
        return "timed out"
    text = first_line(getattr(exc, "strerror", None) or exc) or type(exc).__name__
    return text.rstrip(".")


def _is_connection_error(exc: BaseException) -> bool:
    """A failure to reach the server (retry), as opposed to an error the server reported."""
    return isinstance(exc, OSError) or type(exc).__module__.startswith(("gevent", "socket"))


# what a restarting server answers before the model is loaded again (HTTP status or text)
NOT_YET = ("404", "502", "503")
NOT_YET_TEXT = ("unknown model", "not found", "is not ready", "unavailable")


def _is_transient(exc: BaseException) -> bool:
    """Worth retrying: the server unreachable, or up again without the model loaded yet (the
    model was there when the backend was made, so "unknown model" means a restart)."""
    if _is_connection_error(exc):
        return True
    status = getattr(exc, "status", None)
    code = str(status() if callable(status) else status or "")
    text = str(exc).lower()
    return code in NOT_YET or any(t in text for t in NOT_YET_TEXT)


class TritonBackend(Backend):
    """A model on a Triton Inference Server, reached over HTTP.

    Each thread that calls :meth:`run` has its own client (tritonclient's HTTP client must not
    be shared across threads), so pipeline workers run requests at once.
    """

    concurrent_run = True

    def __init__(self, uri: str | TritonTarget, connect_timeout_s: float = 5.0) -> None:
        self.target = target = parse_triton_uri(uri) if isinstance(uri, str) else uri
        self._http = import_http_client()
        self._connect_timeout_s = connect_timeout_s
        self._local = threading.local()
        self._lock = threading.Lock()
        self._outage_since: float | None = None
        self.retries = 0
        self.outages = 0
        client = self._client()
        where = f"triton server {target.url}"
        try:
            live = client.is_server_live()
            server = client.get_server_metadata()
        except Exception as exc:
            if _is_connection_error(exc):
                raise EdgeimgError(f"{where}: not reachable ({_reason(exc)})") from None
            raise EdgeimgError(f"{where}: {first_line(exc)}") from None
        if not live:
            raise EdgeimgError(f"{where}: not live")
        self._check_model(client)
        try:
            meta = client.get_model_metadata(target.model, target.version)
            config = client.get_model_config(target.model, target.version)
        except Exception as exc:
            raise EdgeimgError(f"{where}, model {target.model}: {first_line(exc)}") from None
        self.version = str(meta.get("versions", [target.version or "?"])[-1])
        if target.version:
            self.version = target.version
        self.max_batch = int(config.get("max_batch_size", 0))
        self.inputs = tuple(self._spec(t) for t in meta.get("inputs", []))
        self.outputs = tuple(self._spec(t) for t in meta.get("outputs", []))
        self.metadata = self._read_metadata(config.get("parameters", {}))
        self._output_names = [spec.name for spec in self.outputs]
        self.description = (
            f"triton {server.get('version', '?')} at {target.url}, "
            f"model {target.model} v{self.version}"
        )
        log.debug("model %s runs on %s", target.model, self.description)

    # -- set-up ----------------------------------------------------------------------------

    def _client(self) -> Any:
        """This thread's client (made on first use)."""
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._http.InferenceServerClient(
                url=self.target.url,
                connection_timeout=self._connect_timeout_s,
                network_timeout=max(self.target.timeout_s, self._connect_timeout_s),
            )
            self._local.client = client
        return client

    def _drop_client(self) -> None:
        """Forget this thread's client: its pooled connections may be dead after an outage."""
        client = getattr(self._local, "client", None)
        self._local.client = None
        if client is not None:
            try:
                client.close()
            except Exception as exc:  # closing a dead pool: nothing left to do
                log.debug("closing a triton client: %s", exc)

    def _check_model(self, client: Any) -> None:
        """One-line errors for a model name or version the server does not serve."""
        target = self.target
        if client.is_model_ready(target.model, target.version):
            return
        where = f"triton server {target.url}"
        try:  # the model under another version?
            versions = [str(v) for v in client.get_model_metadata(target.model)["versions"]]
        except Exception:
            versions = []
        if versions:
            raise EdgeimgError(
                f"{where}: expected model {target.model} version {target.version}, the server "
                f"has version{'s' if len(versions) > 1 else ''} {', '.join(versions)}"
            )
        try:  # PyTriton restricts the repository API: the names are not always there to list
            index = client.get_model_repository_index()
            names = sorted({m["name"] for m in index if m.get("state") == "READY"})
            has = f"the server has: {', '.join(names) or 'none'}"
        except Exception:
            has = "the server has no model of that name ready"
        raise EdgeimgError(f"{where}: expected a model named {target.model!r}, {has}")

    def _spec(self, tensor: Mapping[str, Any]) -> TensorSpec:
        shape = tuple(None if int(d) < 0 else int(d) for d in tensor.get("shape", []))
        datatype = str(tensor.get("datatype", ""))
        return TensorSpec(str(tensor["name"]), shape, TRITON_DTYPES.get(datatype, datatype))

    def _read_metadata(self, parameters: Mapping[str, Any]) -> dict[str, str]:
        """The served ONNX file's metadata_props, from the config parameter (empty if none)."""
        entry = parameters.get(METADATA_PARAMETER)
        if entry is None:
            return {}
        text = entry.get("string_value", "") if isinstance(entry, Mapping) else str(entry)
        try:
            values = json.loads(text)
        except ValueError:
            values = None
        if not isinstance(values, dict):
            raise EdgeimgError(
                f"triton model {self.target.model}: config parameter {METADATA_PARAMETER} is "
                f"not a JSON object: {text[:60]!r}"
            )
        return {str(k): str(v) for k, v in values.items()}

    # -- inference -------------------------------------------------------------------------

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.check_feeds(feeds)
        http = self._http
        inputs = []
        for spec in self.inputs:
            tensor = np.ascontiguousarray(feeds[spec.name])
            item = http.InferInput(spec.name, list(tensor.shape), NUMPY_TO_TRITON[spec.dtype])
            item.set_data_from_numpy(tensor, binary_data=True)
            inputs.append(item)
        wanted = [http.InferRequestedOutput(name, binary_data=True) for name in self._output_names]
        backoff = 0.05
        while True:
            try:
                result = self._client().infer(
                    self.target.model, inputs, model_version=self.target.version, outputs=wanted
                )
            except Exception as exc:
                if not _is_transient(exc):
                    raise EdgeimgError(
                        f"triton model {self.target.model}: inference failed: {first_line(exc)}"
                    ) from None
                self._drop_client()
                self._wait_or_give_up(exc, backoff)
                backoff = min(backoff * 2, 1.0)
                continue
            self._recovered()
            return {name: result.as_numpy(name) for name in self._output_names}

    def _wait_or_give_up(self, exc: BaseException, backoff: float) -> None:
        """Sleep ``backoff`` seconds before the next try, or raise BackendUnavailable when the
        outage has lasted ``timeout_s``."""
        now = time.monotonic()
        with self._lock:
            if self._outage_since is None:
                self._outage_since = now
                self.outages += 1
                log.warning(
                    "triton server %s: %s; retrying for up to %.0f s",
                    self.target.url,
                    _reason(exc),
                    self.target.timeout_s,
                )
            since = self._outage_since
            self.retries += 1
        if now - since >= self.target.timeout_s:
            raise BackendUnavailable(
                f"triton server {self.target.url}: no answer for {now - since:.1f} s "
                f"({_reason(exc)}; {self.retries} retries)"
            )
        time.sleep(min(backoff, max(0.0, since + self.target.timeout_s - now)))

    def _recovered(self) -> None:
        if self._outage_since is None:
            return
        with self._lock:
            since, self._outage_since = self._outage_since, None
        if since is not None:
            log.warning(
                "triton server %s: answering again after %.1f s", self.target.url,
                time.monotonic() - since,
            )  # fmt: skip
