"""Write a file so that the destination holds either the complete new file or nothing new.

The work happens in a temporary file beside the destination (same folder, so the final
``os.replace`` is an atomic rename on one file system); any error removes the temporary file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from edgeimg.runtime.errors import EdgeimgError


def check_destination(path: str | Path) -> Path:
    """The destination as a Path, or an error when its folder does not exist or it is a folder."""
    path = Path(path)
    if not path.parent.is_dir():
        raise EdgeimgError(f"output folder {path.parent} does not exist (output {path})")
    if path.is_dir():
        raise EdgeimgError(f"output {path} is a folder, expected a file path")
    return path


@contextlib.contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success move it onto ``path``.

    The caller writes the complete file to the yielded path. When the block raises, the
    temporary file is removed and ``path`` is left as it was.
    """
    path = check_destination(path)
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; give it a normal mode
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
