"""Stop signals: Ctrl-C (SIGINT), SIGTERM (systemd, Docker) and SIGHUP (a closed terminal) all
end a run the same way, with the outputs finished.

Two layers:

* :func:`raise_on_stop_signals` (the CLI, for a whole command): any stop signal raises
  :class:`Interrupted` at once, so ``with``/``finally`` blocks remove temporary files and the
  command exits with ``128 + signal`` (130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP).
* :func:`deferred_stop` (the pipeline, while frames flow): the first signal only asks the loop
  to stop after the current frame, so every sink gets the same frames; a second one raises
  :class:`Interrupted` at once (the sinks are still closed). Code that waits for a frame
  (a live source through a stream outage) polls :func:`stop_requested` in short slices and
  gives up, so a signal ends the run within a fraction of a second.

SIGKILL cannot be caught: temporary files then stay behind under their hidden
``.NAME.partial-PID.EXT`` names and the next run removes them
(:func:`edgeimg.runtime.atomic.remove_stale_partials`).
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

log = logging.getLogger(__name__)

STOP_SIGNALS: tuple[signal.Signals, ...] = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)


class Interrupted(KeyboardInterrupt):
    """A stop signal ended the work. signum: the signal (SIGINT for a plain KeyboardInterrupt)."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(signal_name(signum))
        self.signum = int(signum)

    @property
    def exit_code(self) -> int:
        return exit_code(self.signum)


def signal_name(signum: int) -> str:
    """``SIGTERM`` for 15 (the number as text for a signal Python does not name)."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def exit_code(signum: int) -> int:
    """The shell's exit status of a process ended by ``signum``: 128 + the signal number."""
    return 128 + int(signum)


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextmanager
def _handlers(handler: Callable[[int, FrameType | None], None]) -> Iterator[None]:
    previous = {signum: signal.signal(signum, handler) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


@contextmanager
def raise_on_stop_signals() -> Iterator[None]:
    """Within the block, SIGINT, SIGTERM and SIGHUP raise :class:`Interrupted` (with the signal).

    Outside the main thread signals cannot be handled and the block runs unchanged.
    """
    if not _in_main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        raise Interrupted(signum)

    with _handlers(handler):
        yield


class StopRequest:
    """Set by the first stop signal: ``signum`` is that signal, ``is_set()`` tells the loop to
    stop between frames."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.signum: int | None = None

    def is_set(self) -> bool:
        return self._event.is_set()

    def set(self, signum: int) -> None:
        self.signum = int(signum)
        self._event.set()


_active: list[StopRequest] = []  # the requests of the deferred_stop blocks now open


def stop_requested() -> bool:
    """A stop signal came during a :func:`deferred_stop` block: code that waits (a live
    source waiting for a frame through an outage, a stream that opens) should give up
    waiting. Callable from any thread."""
    return any(request.is_set() for request in _active)


@contextmanager
def deferred_stop() -> Iterator[StopRequest]:
    """A :class:`StopRequest` set by the first stop signal (the loop stops after the current
    frame); a second signal raises :class:`Interrupted` at once. Outside the main thread
    signals cannot be handled: the request is never set and signals behave as before."""
    request = StopRequest()
    if not _in_main_thread():
        yield request
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        if request.is_set():
            raise Interrupted(signum)
        request.set(signum)
        if signum == signal.SIGINT:  # someone at a terminal: say at once that it was heard
            log.warning("Ctrl-C: stopping after this frame (press again to stop at once)")

    _active.append(request)
    try:
        with _handlers(handler):
            yield request
    finally:
        _active.remove(request)
