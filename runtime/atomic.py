"""Write a file so that the destination holds either the complete new file or nothing new.

Every writer in edgeimg goes through here: the work happens in a temporary file beside the
destination (same folder, so the final ``os.replace`` is an atomic rename on one file system),
named ``.<stem>.partial-<pid><suffix>`` so that writers that pick a format by suffix (video,
``.keras``) still see it; any error removes the temporary file.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from edgeimg.runtime.errors import EdgeimgError


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


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str], what: str = "output") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success move it onto ``path``.

    The caller writes the complete file to the yielded path. When the block raises, the
    temporary file is removed and ``path`` is left as it was.
    """
    final = check_destination(path, what)
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
