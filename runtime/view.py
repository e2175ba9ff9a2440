"""A live view in the browser: the annotated stream as MJPEG over HTTP, with the run's numbers.

:class:`ViewSink` is a sink like the others (``edgeimg track --serve-view 127.0.0.1:8080``).
It serves, with the standard library's ``ThreadingHTTPServer`` on daemon threads:

- ``/``: one self-contained page (inline HTML, CSS and JavaScript: no internet needed);
- ``/stream.mjpg``: the annotated frames as ``multipart/x-mixed-replace`` JPEGs;
- ``/stats.json``: frame number, frames, FPS over the last seconds, detections and tracks,
  viewers, the view's own encode time, and per-stage means when given the pipeline's timer.

The pipeline is never slowed by viewers: ``write`` only keeps a reference to the newest image
and its numbers under a lock. An encoder thread turns the newest image into a JPEG (at most
``max_fps`` a second, and only while someone watches; frames that arrive meanwhile are
skipped), and each viewer's thread sends the newest JPEG when its client is ready: frames for
viewers are dropped, never queued, so a slow or stalled client only misses frames.

The address is bound when the sink is built (before any frame: a port in use or an unknown
host is one :class:`EdgeimgError`), served from ``open`` and released by ``close``, which
also ends every stream.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import select
import socket
import socketserver
import threading
import time
from collections import deque
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import cv2
import numpy as np

from edgeimg.runtime.errors import EdgeimgError
from edgeimg.runtime.sinks import FrameResult, Sink
from edgeimg.runtime.timing import Stage, StageTimer

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
WILDCARD_HOSTS = ("0.0.0.0", "::", "")
BOUNDARY = "edgeimg-frame"
FPS_WINDOW_S = 3.0  # FPS over the frames of the last seconds


def parse_address(text: str, name: str = "live view") -> tuple[str, int]:
    """``HOST:PORT``, ``[IPv6]:PORT`` or ``PORT`` (on 127.0.0.1) -> (host, port); port 0 picks
    a free port. EdgeimgError for anything else."""
    text = text.strip()
    host, port = DEFAULT_HOST, text
    if text.startswith("["):
        inside, sep, rest = text[1:].partition("]")
        if not sep or not rest.startswith(":"):
            host, port = "", ""
        else:
            host, port = inside, rest[1:]
    elif ":" in text:
        host, _, port = text.rpartition(":")
        if ":" in host:  # a bare IPv6 address needs brackets to tell its port apart
            host, port = "", ""
    if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise EdgeimgError(
            f"{name}: expected HOST:PORT such as 127.0.0.1:8080 (or PORT, on "
            f"127.0.0.1; [::1]:8080 for IPv6), got {text!r}"
        )
    return host, int(port)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    sink: ViewSink

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks the host's name up (socket.getfqdn): a DNS query that
        # can hang on a machine without a resolver; the name is only used in CGI variables
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("live view: error serving %s", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = 30.0  # a client that takes no data for this long is dropped
    server_version = "edgeimg-view"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("live view: %s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        sink = self.server.sink
        try:
            if path in ("/", "/index.html"):
                self._send(PAGE.encode("utf-8"), "text/html; charset=utf-8")
            elif path == "/stats.json":
                self._send(json.dumps(sink.stats()).encode("utf-8"), "application/json")
            elif path == "/stream.mjpg":
                self._stream(sink)
            else:
                self.send_error(404, "not found: try / for the live view")
        except (ConnectionError, TimeoutError, OSError) as exc:  # the client went away
            log.debug("live view: %s: %s", self.address_string(), exc)
            self.close_connection = True

    def _send(self, body: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _stream(self, sink: ViewSink) -> None:
        self.send_response(200)
        self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        # the boundary closes each part at once, so a browser shows a frame when it arrives
        # (not when the next one starts)
        self.wfile.write(f"--{BOUNDARY}\r\n".encode())
        for jpeg in sink.jpegs(self.connection):
            if jpeg is None:  # no new frame for a while: stop if the client has gone
                if _client_gone(self.connection):
                    return
                continue
            head = f"Content-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
            self.wfile.write(head.encode() + jpeg + f"\r\n--{BOUNDARY}\r\n".encode())


def _client_gone(connection: socket.socket) -> bool:
    """The client closed its end (a browser tab closed while no frame came)."""
    try:
        readable, _, _ = select.select([connection], [], [], 0)
        return bool(readable) and connection.recv(1, socket.MSG_PEEK) == b""
    except (BlockingIOError, InterruptedError):
        return False
    except (OSError, ValueError):
        return True


class ViewSink(Sink):
    """Serves the annotated frames and the run's numbers over HTTP (see the module's text).

    address: ``HOST:PORT`` (``127.0.0.1:8080``; port 0: a free port, see ``url``) or a
    (host, port) pair. Binding every interface (``0.0.0.0``, ``::``) is logged as a warning:
    anyone on the network can watch, there is no password. max_fps: JPEGs a second for the
    viewers at most. quality: JPEG quality, 1-100. name: how errors name the address. The
    pipeline hands its :class:`StageTimer` to :meth:`watch`: per-stage means in the stats.
    """

    needs_image = True

    def __init__(
        self,
        address: str | tuple[str, int] = f"{DEFAULT_HOST}:8080",
        max_fps: float = 15.0,
        quality: int = 80,
        name: str = "live view",
    ) -> None:
        super().__init__()
        host, port = parse_address(address, name) if isinstance(address, str) else address
        if not max_fps > 0:
            raise EdgeimgError(f"{name}: max_fps: expected > 0, got {max_fps}")
        if not 1 <= quality <= 100:
            raise EdgeimgError(f"{name}: JPEG quality: expected 1..100, got {quality}")
        self.max_fps = float(max_fps)
        self.quality = int(quality)
        self.timer: StageTimer | None = None
        self._server = _bind(host, port, name)
        self._server.sink = self
        self.host = host
        self.port = int(self._server.server_address[1])
        if host in WILDCARD_HOSTS:
            log.warning(
                "%s: serving on every network interface (%s): anyone who can reach this "
                "machine can watch (no password); use 127.0.0.1 to keep it local",
                name,
                host or "*",
            )
        self._lock = threading.Lock()
        self._new_image = threading.Condition(self._lock)  # the encoder waits on this
        self._new_jpeg = threading.Condition(self._lock)  # the viewers wait on this
        self._pending: np.ndarray | None = None  # the newest image not yet encoded
        self._jpeg: bytes | None = None
        self._jpeg_seq = 0
        self._jpeg_frame = 0
        self._viewers = 0
        self._connections: set[socket.socket] = set()
        self._stopping = False
        self._serving = False
        self._closed = False
        self._times: deque[float] = deque(maxlen=1024)  # write times, for the FPS
        self._encode_s: deque[float] = deque(maxlen=30)
        self._started = time.monotonic()
        self._info: dict[str, Any] = {"frame": None, "size": None}
        self._stages: dict[str, float] | None = None
        self._next_stages = 0.0
        self._encoder: threading.Thread | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The page's address (for a wildcard host: on this machine)."""
        host = self.host
        if host in WILDCARD_HOSTS:
            host = "127.0.0.1" if ":" not in self._server.server_address[0] else "::1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}/"

    def open(self) -> None:
        if self._serving or self._closed:
            return
        self._serving = True
        self._started = time.monotonic()
        self._encoder = threading.Thread(target=self._encode_loop, name="view-encode", daemon=True)
        self._encoder.start()
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"view-http {self.port}",
            daemon=True,
        )
        self._thread.start()

    def write(self, result: FrameResult) -> None:
        """Keep the newest image and its numbers (no copy, no encoding on this thread)."""
        image = result.annotated if result.annotated is not None else result.frame.image
        now = time.monotonic()
        info: dict[str, Any] = {
            "frame": result.frame.index + 1,
            "size": [int(image.shape[1]), int(image.shape[0])],
        }
        detections = getattr(result.result, "tracker_id", False)
        if detections is not False:  # a detector's result: Detections
            info["detections"] = len(result.result)
            info["tracks"] = None if detections is None else int(np.count_nonzero(detections >= 0))
        stages = self._stage_means(now)
        with self._lock:
            self._pending = image
            self._times.append(now)
            self._info = info
            if stages is not None:
                self._stages = stages
            self.frames += 1
            if self._viewers:
                self._new_image.notify()

    def watch(self, timer: StageTimer) -> None:
        self.timer = timer

    def _stage_means(self, now: float) -> dict[str, float] | None:
        """Mean milliseconds per stage over the timer's last frames, at most twice a second."""
        if self.timer is None or now < self._next_stages or not len(self.timer):
            return None
        self._next_stages = now + 0.5
        recent = self.timer.durations()[-100:]
        means = recent.mean(axis=0) * 1000.0
        return {stage.value: round(float(ms), 3) for stage, ms in zip(Stage, means, strict=True)}

    def stats(self) -> dict[str, Any]:
        """The numbers ``/stats.json`` serves (JSON-ready)."""
        with self._lock:
            times = list(self._times)
            stats: dict[str, Any] = {
                **self._info,
                "frames": self.frames,
                "viewers": self._viewers,
                "running": self._serving and not self._stopping,
                "stream_frame": self._jpeg_frame or None,
                "encode_ms": round(1000.0 * float(np.mean(self._encode_s)), 3)
                if self._encode_s
                else None,
                "stages_ms": self._stages,
            }
        now = time.monotonic()
        recent = [t for t in times if t >= now - FPS_WINDOW_S]
        fps = 0.0
        if len(recent) >= 2 and recent[-1] > recent[0]:
            fps = (len(recent) - 1) / (recent[-1] - recent[0])
        stats["fps"] = round(fps, 2)
        stats["frame_ms"] = round(1000.0 / fps, 3) if fps else None
        stats["elapsed_s"] = round(now - self._started, 3)
        return stats

    def _encode_loop(self) -> None:
        """The encoder thread: the newest image as a JPEG, at most ``max_fps`` a second."""
        interval = 1.0 / self.max_fps
        params = [int(cv2.IMWRITE_JPEG_QUALITY), self.quality]
        while True:
            with self._lock:
                self._new_image.wait_for(
                    lambda: self._stopping or (self._viewers > 0 and self._pending is not None)
                )
                if self._stopping:
                    return
                image, self._pending = self._pending, None
                assert image is not None
                frame = self._info.get("frame") or 0
            started = time.monotonic()
            ok, encoded = cv2.imencode(".jpg", image, params)
            took = time.monotonic() - started
            with self._lock:
                if ok:
                    self._jpeg = encoded.tobytes()
                    self._jpeg_seq += 1
                    self._jpeg_frame = int(frame)
                    self._encode_s.append(took)
                    self._new_jpeg.notify_all()
                # skip the frames of the rest of this interval (the newest one waits)
                self._new_image.wait_for(lambda: self._stopping, timeout=max(0.0, interval - took))

    def jpegs(
        self, connection: socket.socket | None = None, idle_s: float = 0.5
    ) -> Iterator[bytes | None]:
        """The newest JPEG each time there is a new one, until ``close``: one viewer's stream
        (counted in ``viewers`` while it runs); None after ``idle_s`` seconds without one.
        ``connection`` is shut down by ``close``."""
        with self._lock:
            if self._stopping:
                return
            self._viewers += 1
            if connection is not None:
                self._connections.add(connection)
            if self._pending is not None:
                self._new_image.notify()
        seen = 0
        try:
            while True:
                with self._lock:
                    if self._jpeg_seq == seen and not self._stopping:
                        self._new_jpeg.wait(timeout=idle_s)
                    if self._stopping:
                        return
                    jpeg: bytes | None = None
                    if self._jpeg is not None and self._jpeg_seq != seen:
                        jpeg, seen = self._jpeg, self._jpeg_seq
                yield jpeg
        finally:
            with self._lock:
                self._viewers -= 1
                if connection is not None:
                    self._connections.discard(connection)
                self._new_jpeg.notify_all()

    @property
    def viewers(self) -> int:
        with self._lock:
            return self._viewers

    def close(self) -> None:
        """Stop serving: end every stream, release the address. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        with self._lock:
            self._stopping = True
            self._new_image.notify_all()
            self._new_jpeg.notify_all()
            connections = list(self._connections)
        if self._thread is not None:
            self._server.shutdown()  # ends serve_forever (within its poll interval)
            self._thread.join(timeout=5.0)
        self._server.server_close()
        for connection in connections:  # a viewer blocked on a slow client gets an error now
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        if self._encoder is not None:
            self._encoder.join(timeout=5.0)
        with self._lock:  # the viewers' threads see _stopping within moments
            self._new_jpeg.wait_for(lambda: self._viewers == 0, timeout=2.0)
        self._serving = False


def _bind(host: str, port: int, name: str) -> _Server:
    """A server listening on (host, port), not yet serving; EdgeimgError when it cannot."""
    where = f"{host}:{port}" if ":" not in host else f"[{host}]:{port}"
    try:
        infos = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
        family = infos[0][0]

        class Server(_Server):
            address_family = family

        return Server((str(infos[0][4][0]), port), _Handler)
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        hint = " (another program uses the port? choose another)" if _in_use(exc) else ""
        raise EdgeimgError(f"{name} {where}: cannot listen there: {reason}{hint}") from None


def _in_use(exc: OSError) -> bool:
    return exc.errno == errno.EADDRINUSE


PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>edgeimg live view</title>
<style>
  body { margin: 0; background: #111; color: #ddd; font: 14px/1.4 system-ui, sans-serif; }
  header { padding: 8px 14px; background: #1d1d1d; display: flex; gap: 16px; align-items: baseline; }
  header h1 { font-size: 16px; margin: 0; color: #fff; }
  #status { color: #8c8; }
  #status.ended { color: #e88; }
  main { display: flex; flex-wrap: wrap; gap: 14px; padding: 14px; align-items: flex-start; }
  #view { max-width: 100%; height: auto; background: #000; min-width: 320px; min-height: 240px; }
  table { border-collapse: collapse; min-width: 220px; }
  td { padding: 2px 8px; border-bottom: 1px solid #2a2a2a; }
  td:last-child { text-align: right; font-variant-numeric: tabular-nums; color: #fff; }
  th { text-align: left; padding: 8px 8px 2px; color: #999; font-weight: normal; }
</style>
</head>
<body>
<header><h1>edgeimg live view</h1><span id="status">connecting</span></header>
<main>
  <img id="view" src="stream.mjpg" alt="annotated stream">
  <table id="stats"><tbody id="rows"><tr><td>waiting for the first frame</td></tr></tbody></table>
</main>
<script>
"use strict";
const rows = document.getElementById("rows");
const status = document.getElementById("status");
const view = document.getElementById("view");
const NAMES = [
  ["frame", "frame"], ["frames", "frames done"], ["fps", "FPS"], ["frame_ms", "ms / frame"],
  ["tracks", "tracks"], ["detections", "detections"], ["viewers", "viewers"],
  ["stream_frame", "frame on view"], ["encode_ms", "view JPEG ms"], ["elapsed_s", "seconds"]];
function row(name, value) {
  const tr = document.createElement("tr");
  for (const text of [name, value]) {
    const td = document.createElement("td");
    td.textContent = text;
    tr.appendChild(td);
  }
  return tr;
}
function render(s) {
  const out = [];
  for (const [key, name] of NAMES) {
    if (s[key] !== undefined && s[key] !== null) out.push(row(name, String(s[key])));
  }
  if (s.size) out.push(row("size", s.size[0] + "x" + s.size[1]));
  if (s.stages_ms) {
    const th = document.createElement("tr");
    th.innerHTML = "<th colspan=2>stage means, ms</th>";
    out.push(th);
    for (const [stage, ms] of Object.entries(s.stages_ms)) out.push(row(stage, ms.toFixed(2)));
  }
  rows.replaceChildren(...out);
}
let failures = 0;
async function poll() {
  try {
    const response = await fetch("stats.json", {cache: "no-store"});
    if (!response.ok) throw new Error(response.status);
    render(await response.json());
    status.textContent = "live";
    status.className = "";
    failures = 0;
  } catch (err) {
    failures += 1;
    status.textContent = "run ended (or the server is unreachable)";
    status.className = "ended";
  }
  setTimeout(poll, failures ? 2000 : 500);
}
view.addEventListener("error", () => {
  status.textContent = "stream ended";
  status.className = "ended";
});
poll();
</script>
</body>
</html>
"""
