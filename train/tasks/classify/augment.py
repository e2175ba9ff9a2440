"""Augmentation for classification: flips, shifts and colour, chosen to suit the data."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ClassifyAugment:
    """Augmentation for classification: flip (left-right), shift (largest, in pixels, random
    translation with edge fill) and color (brightness/contrast strength, RGB data only)."""

    flip: bool = True
    shift: int = 2
    color: float = 0.0

    @classmethod
    def for_data(cls, channels: int, class_names: tuple[str, ...], size: int) -> ClassifyAugment:
        """Flips unless the classes are digits (a mirrored 2 is no 2), shifts of 1/10 of the
        size, colour for RGB data only."""
        digits = all(name.isdigit() for name in class_names)
        return cls(flip=not digits, shift=max(1, size // 10), color=0.2 if channels == 3 else 0.0)
