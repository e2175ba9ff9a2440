"""The guard behind ``--num-classes`` and ``--classes``: refuse data with other classes."""

from __future__ import annotations

from collections.abc import Sequence

from edgeimg.runtime.errors import EdgeimgError


def check_class_names(
    data_names: Sequence[str],
    num_classes: int | None = None,
    class_names: Sequence[str] | None = None,
) -> None:
    """One-line error when the data's class names differ from the expected count or names."""
    data_names = tuple(data_names)
    listed = ", ".join(data_names)
    if num_classes is not None and num_classes != len(data_names):
        raise EdgeimgError(
            f"class count: expected {num_classes}, the data has {len(data_names)} ({listed})"
        )
    if class_names is not None and tuple(class_names) != data_names:
        raise EdgeimgError(f"class names: expected {', '.join(class_names)}, the data has {listed}")
