"""Ctrl-C and SIGTERM end a run within about a second while a stream opens or is out
(issue 15): the waits for OpenCV run on worker threads and are watched in short slices.

The subprocess tests point ``edgeimg track`` at a TCP server on 127.0.0.1 that accepts the
connection and never answers (FFmpeg would wait for the whole ``--timeout``); the in-process
tests drop a fake stream and block its reconnect."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from edgeimg.runtime.errors import EdgeimgError
from edgeimg.runtime.signals import deferred_stop
from edgeimg.runtime.sources.base import SourceConfig, SourceKind
from edgeimg.runtime.sources.live import LiveSource, OpenAbandoned, open_interruptibly

BOUND_S = 8.0  # far below the 60 s the run would otherwise wait; no speed is measured


@pytest.fixture
def silent_server() -> Iterator[tuple[int, list[socket.socket]]]:
    """(port, accepted connections) of a loopback server that never sends a byte."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.2)
    accepted: list[socket.socket] = []
    done = threading.Event()

    def accept() -> None:
        deadline = time.monotonic() + 120
        while not done.is_set() and time.monotonic() < deadline:
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1], accepted
    done.set()
    thread.join(1.0)
    for connection in accepted:
        connection.close()
    server.close()


@pytest.mark.parametrize(
    ("scheme", "signum", "code"),
    [("rtsp", signal.SIGINT, 130), ("http", signal.SIGTERM, 143)],
)
def test_a_signal_while_a_stream_opens_ends_the_run_at_once(
    silent_server: tuple[int, list[socket.socket]],
    tmp_path: Path,
    scheme: str,
    signum: int,
    code: int,
) -> None:
    port, accepted = silent_server
    process = subprocess.Popen(
        [sys.executable, "-m", "edgeimg.cli.main", "track", "--source",
         f"{scheme}://127.0.0.1:{port}/stream", "--timeout", "60", "--jsonl", "o.jsonl"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not accepted:  # the stream is opening: FFmpeg connected and waits for an answer
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "edgeimg never connected"
            time.sleep(0.05)
        time.sleep(0.5)
        process.send_signal(signum)
        _, err = process.communicate(timeout=BOUND_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == code, err
    assert (
        err.strip().splitlines()[-1] == f"edgeimg track: stopped by {signal.Signals(signum).name}"
    )
    assert list(tmp_path.iterdir()) == []


class FakeCapture:
    """A capture that delivers ``frames`` frames, then fails like a dropped stream."""

    def __init__(self, frames: int) -> None:
        self.frames = frames
        self.released = False

    def get(self, prop: int) -> float:
        return 25.0

    def read(self) -> tuple[bool, np.ndarray | None]:
        if self.frames:
            self.frames -= 1
            return True, np.zeros((4, 6, 3), np.uint8)
        return False, None

    def release(self) -> None:
        self.released = True


def dropping_source(config: SourceConfig, block_s: float) -> LiveSource:
    """A stream that delivers one frame and drops; reopening it blocks ``block_s`` seconds."""
    calls = []

    def opener() -> FakeCapture:
        calls.append(1)
        if len(calls) > 1:
            time.sleep(block_s)  # like FFmpeg waiting for a server that does not answer
            raise EdgeimgError("stream did not open")
        return FakeCapture(1)

    return LiveSource(SourceKind.STREAM, "fake stream", opener, True, config)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "config",
    [
        SourceConfig(reconnect_delay_s=0.0),  # the stop comes while the reconnect blocks
        SourceConfig(reconnect_delay_s=60.0, reconnect_max_delay_s=60.0),  # ... while it waits
    ],
    ids=["blocked-open", "backoff-wait"],
)
def test_a_signal_during_an_outage_ends_the_read(config: SourceConfig) -> None:
    source = dropping_source(config, block_s=60.0)
    started = time.monotonic()
    try:
        with deferred_stop() as stop:
            assert source.read() is not None  # the one frame before the outage
            timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGTERM))
            timer.start()
            assert source.read() is None  # gave up waiting: the stop request was seen
            timer.join()
            assert stop.is_set() and stop.signum == signal.SIGTERM
    finally:
        source.close()
    assert time.monotonic() - started < BOUND_S


def test_open_interruptibly_returns_errors_and_gives_up_on_stop() -> None:
    capture = FakeCapture(0)
    assert open_interruptibly(lambda: capture, "fine") is capture  # type: ignore[arg-type,return-value]

    def refuses() -> FakeCapture:
        raise EdgeimgError("did not open")

    with pytest.raises(EdgeimgError, match="did not open"):
        open_interruptibly(refuses, "refused")  # type: ignore[arg-type]

    late = FakeCapture(0)
    release = threading.Event()

    def slow() -> FakeCapture:
        release.wait(10)
        return late

    stop = threading.Event()
    stop.set()
    with pytest.raises(OpenAbandoned):
        open_interruptibly(slow, "slow", stop)  # type: ignore[arg-type]
    release.set()
    deadline = time.monotonic() + 10
    while not late.released and time.monotonic() < deadline:
        time.sleep(0.01)
    assert late.released  # the abandoned opener released what it opened
