"""Keeping only some classes of a detector (``--classes person,car``), before tracking."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from edgeimg.runtime.errors import EdgeimgError
from edgeimg.runtime.tasks.detect.detections import Detections


def class_ids(selection: Iterable[str | int], class_names: Sequence[str]) -> tuple[int, ...]:
    """Class names or ids (``["person", "2"]``, ``[0, 2]``) -> sorted unique ids of
    ``class_names``. A name matches exactly, else ignoring case; a whole number is an id.

    Raises a one-line EdgeimgError naming the unknown entry and listing the valid ones.
    """
    lowered = {name.lower(): i for i, name in reversed(list(enumerate(class_names)))}
    ids: set[int] = set()
    for item in selection:
        text = str(item).strip()
        if not text:
            continue
        if text in class_names:
            ids.add(class_names.index(text))
        elif text.lower() in lowered:
            ids.add(lowered[text.lower()])
        elif text.isdigit() and int(text) < len(class_names):
            ids.add(int(text))
        else:
            valid = ", ".join(f"{i} {name}" for i, name in enumerate(class_names))
            raise EdgeimgError(
                f"--classes: the model has no class {text!r}; valid (id name): {valid}"
            )
    if not ids:
        raise EdgeimgError("--classes: expected at least one class name or id, got none")
    return tuple(sorted(ids))


def parse_classes(text: str, class_names: Sequence[str]) -> tuple[int, ...]:
    """``"person,car"`` or ``"0,2"`` -> class ids (see :func:`class_ids`)."""
    return class_ids(text.split(","), class_names)


class ClassFilter:
    """A stage that keeps the detections of some classes: ``update(detections, t)`` returns a
    new ``Detections`` with only the rows whose ``class_id`` is in ``ids``; the input is
    untouched. Stateless (``reset`` does nothing)."""

    def __init__(self, ids: Iterable[int]) -> None:
        self.ids = np.asarray(sorted(set(int(i) for i in ids)), np.int32)

    @classmethod
    def from_names(cls, selection: Iterable[str | int], class_names: Sequence[str]) -> ClassFilter:
        return cls(class_ids(selection, class_names))

    def update(self, detections: Detections, timestamp: float) -> Detections:
        return detections[np.isin(detections.class_id, self.ids)]

    def reset(self) -> None:
        pass
