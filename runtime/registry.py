"""One registry type for every layer's tasks (and anything else chosen by name).

``Registry("task", "edgeimg.tasks", builtin=("edgeimg.runtime.tasks.detect", ...))`` imports its
built-in modules (which call ``register``) and the entry points of its group on first use, so a
package outside edgeimg adds an entry with ``pip install`` alone.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Iterator
from importlib.metadata import entry_points
from typing import Generic, TypeVar

from edgeimg.runtime.errors import EdgeimgError

log = logging.getLogger(__name__)

T = TypeVar("T")


class Registry(Generic[T]):
    """Name -> entry. what: the noun in errors (``task``). group: the entry point group; each
    entry point names an entry (registered under the entry point's name) or a module that
    registers on import. builtin: modules imported first. error: the exception for an unknown
    name (an EdgeimgError subclass: a one-line error listing the registered names)."""

    def __init__(
        self,
        what: str,
        group: str | None = None,
        builtin: tuple[str, ...] = (),
        error: Callable[[str], EdgeimgError] = EdgeimgError,
    ) -> None:
        self.what = what
        self.group = group
        self.builtin = builtin
        self.error = error
        self._entries: dict[str, T] = {}
        self._loaded = False

    def register(self, name: str, entry: T) -> T:
        """Add ``entry`` under ``name`` (registering a name again keeps the newest entry). The
        built-in entries load first, so they keep their place at the front."""
        self._load()
        self._entries[name] = entry
        return entry

    def unregister(self, name: str) -> None:
        self._entries.pop(name, None)

    def values(self) -> tuple[T, ...]:
        """The entries in the order of :meth:`names`."""
        self._load()
        return tuple(self._entries[name] for name in sorted(self._entries))

    def get(self, name: str) -> T:
        """The entry ``name``, or a one-line error listing the registered names."""
        self._load()
        try:
            return self._entries[name]
        except KeyError:
            raise self.error(
                f"{self.what}: expected one of {', '.join(self.names())}, got {name!r}"
            ) from None

    def names(self) -> tuple[str, ...]:
        """The registered names, sorted (whatever order the modules were imported in)."""
        self._load()
        return tuple(sorted(self._entries))

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        for module in self.builtin:
            importlib.import_module(module)
        if self.group is None:
            return
        for entry in entry_points(group=self.group):
            try:
                loaded = entry.load()
            except Exception as exc:  # a broken plug-in must not stop the built-in entries
                log.warning(
                    "%s plug-in %s (%s) failed to load: %s", self.what, entry.name, entry.value, exc
                )
                continue
            if not hasattr(loaded, "__file__"):  # an entry, not a module that registered itself
                self.register(entry.name, loaded)
