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
    _check_name_length(path, what)
    if path.is_dir():
        raise EdgeimgError(f"{what} {path}: expected a file name, got a folder")
    if not folder.is_dir():
        raise EdgeimgError(f"{what} {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise EdgeimgError(f"{what} {path}: folder {folder} is not writable")
    return path


def _name_max(folder: Path) -> int:
    """The longest file name (bytes) the folder's file system takes (255 when unknown)."""
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError):
        return 255


def _check_name_length(path: Path, what: str) -> None:
    """ENAMETOOLONG, as one line and before any work: the temporary name beside the
    destination (:func:`temporary_path`) is longer than the name, so it is the one checked."""
    limit = _name_max(path.parent)
    needed = len(os.fsencode(temporary_path(path).name))
    if needed > limit:
        extra = needed - len(os.fsencode(path.name))
        shown = path.name if len(path.name) <= 40 else f"{path.name[:24]}...{path.name[-12:]}"
        raise EdgeimgError(
            f"{what} {shown}: file name too long ({len(os.fsencode(path.name))} bytes; this "
            f"file system takes {limit}, and the temporary name adds {extra}): choose a shorter "
            "name"
        )
    if len(os.fsencode(str(path))) >= 4096:
        raise EdgeimgError(f"{what}: path too long ({len(os.fsencode(str(path)))} bytes)")


def temporary_path(path: Path) -> Path:
    """The hidden name beside ``path`` that a write goes to first (same suffix)."""
    return path.with_name(f".{path.stem}.partial-{os.getpid()}{path.suffix}")


def stale_partials(path: Path) -> list[Path]:
    """The temporary files of ``path`` (see :func:`temporary_path`) left by processes that no
    longer run, oldest name first; for a folder written file by file (``NAME.masks``), every
    temporary file inside it. Files of running processes (this one included) are kept."""
    if path.is_dir():
        folder, pattern = path, re.compile(r"\..+\.partial-(\d+)\.\w+")
    else:
        folder = path.parent
        pattern = re.compile(rf"\.{re.escape(path.stem)}\.partial-(\d+){re.escape(path.suffix)}")
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return []
    return [
        folder / name
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


def _same_file(a: Path, b: Path) -> bool:
    """Both name one file: the same resolved path, or (for existing files) the same inode."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one does not exist (yet): only the resolved paths can tell
        return False


def check_distinct(
    outputs: Iterable[tuple[str, str | os.PathLike[str] | None]],
    inputs: Iterable[tuple[str, str | os.PathLike[str] | int | None]] = (),
) -> None:
    """Refuse, before any work, an output that is one of the inputs (writing it would destroy
    the input) or two outputs on one file (they would overwrite each other).

    outputs, inputs: (label, path) pairs such as ``("--output", "in.mp4")``; None entries (an
    option not given) and non-path inputs (a camera index) are skipped. Paths are compared
    after ``~`` expansion and symlink resolution, and by inode when both exist (hard links).
    Raises EdgeimgError in one line naming both options.
    """
    given_outputs = [(label, Path(p).expanduser()) for label, p in outputs if p not in (None, "")]
    given_inputs = [
        (label, Path(p).expanduser())
        for label, p in inputs
        if p not in (None, "") and isinstance(p, (str, os.PathLike))
    ]
    for i, (label, path) in enumerate(given_outputs):
        for in_label, in_path in given_inputs:
            if _same_file(path, in_path):
                raise EdgeimgError(
                    f"{label} {path}: is the input {in_label} {in_path}; writing it would "
                    "destroy the input (choose another output name)"
                )
        for other_label, other in given_outputs[:i]:
            if _same_file(path, other):
                raise EdgeimgError(
                    f"{other_label} {other} and {label} {path} name the same file; "
                    "give each output its own path"
                )
