"""Write a file so that the destination holds either the complete new file or nothing new.

Every writer in edgeimg goes through here: the work happens in a temporary file beside the
destination (same folder, so the final ``os.replace`` is an atomic rename on one file system),
named ``.<stem>.partial-<pid><suffix>`` so that writers that pick a format by suffix (video,
``.keras``) still see it; any error removes the temporary file. A process killed outright
(SIGKILL, power loss) cannot remove its own: :func:`remove_stale_partials` removes those of
processes that no longer run, and writers call it before they start.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from edgeimg.runtime.errors import EdgeimgError

log = logging.getLogger(__name__)


def check_destination(path: str | os.PathLike[str], what: str = "output") -> Path:
    """The absolute destination path, after checking that a file can be created there."""
    path = Path(path).expanduser().absolute()
    folder = path.parent
    if path.is_dir():
        raise EdgeimgError(f"{what} {path}: expected a file name, got a folder")
    if not folder.is_dir():
        raise EdgeimgError(f"{what} {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise EdgeimgError(f"{what} {path}: folder {folder} is not writable")
    return path


def temporary_path(path: Path) -> Path:
    """The hidden name beside ``path`` that a write goes to first (same suffix)."""
    return path.with_name(f".{path.stem}.partial-{os.getpid()}{path.suffix}")


def stale_partials(path: Path) -> list[Path]:
    """The temporary files of ``path`` (see :func:`temporary_path`) left by processes that no
    longer run, oldest name first. Files of running processes (this one included) are kept."""
    pattern = re.compile(rf"\.{re.escape(path.stem)}\.partial-(\d+){re.escape(path.suffix)}")
    try:
        names = sorted(os.listdir(path.parent))
    except OSError:
        return []
    return [
        path.parent / name
        for name in names
        if (match := pattern.fullmatch(name)) and not _process_alive(int(match.group(1)))
    ]


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)  # signal 0: only checks that the process exists
    except (ProcessLookupError, OverflowError):  # no such process (or not a possible pid)
        return False
    except PermissionError:  # it runs, as another user
        return True
    return True


def remove_stale_partials(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Remove the temporary files that killed runs left beside ``paths`` (their destinations)
    and say so in one log line; returns the files removed."""
    removed: list[Path] = []
    for destination in dict.fromkeys(Path(p).expanduser().absolute() for p in paths):
        for stale in stale_partials(destination):
            try:
                stale.unlink()
            except FileNotFoundError:  # another run cleaned it first
                continue
            except OSError as exc:
                log.warning("cannot remove stale temporary file %s: %s", stale, exc.strerror)
                continue
            removed.append(stale)
    if removed:
        log.warning(
            "removed %d temporary file%s left by stopped runs: %s",
            len(removed),
            "" if len(removed) == 1 else "s",
            ", ".join(str(p) for p in removed),
        )
    return removed


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str], what: str = "output") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success move it onto ``path``.

    The caller writes the complete file to the yielded path. When the block raises, the
    temporary file is removed and ``path`` is left as it was.
    """
    final = check_destination(path, what)
    remove_stale_partials([final])
    tmp = temporary_path(final)
    try:
        yield tmp
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: str | os.PathLike[str], text: str, what: str = "output") -> Path:
    """Write ``text`` to ``path`` atomically; returns the absolute path."""
    with atomic_output(path, what) as tmp:
        tmp.write_text(text)
    return Path(path).expanduser().absolute()
