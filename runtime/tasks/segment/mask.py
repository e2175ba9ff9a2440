"""The segment task's result: a label mask over the source frame, and its typed params."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeimg.runtime.errors import EdgeimgError

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class SegmentParams:
    """The contract's ``task_params`` of a segmentation model.

    palette: one RGB colour per class (class order), for overlays and palette views; empty:
    a generated palette. alpha: opacity of the colour overlay (0..1).
    """

    palette: tuple[RGB, ...] = ()
    alpha: float = 0.5

    def __post_init__(self) -> None:
        colours = []
        for index, colour in enumerate(self.palette):
            values = tuple(colour) if isinstance(colour, (list, tuple)) else ()
            if len(values) != 3 or not all(
                isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255 for v in values
            ):
                raise EdgeimgError(
                    f"contract task_params palette[{index}]: expected [r, g, b] with 0..255 "
                    f"integers, got {colour!r}"
                )
            colours.append((int(values[0]), int(values[1]), int(values[2])))
        object.__setattr__(self, "palette", tuple(colours))
        try:
            alpha = float(self.alpha)
        except (TypeError, ValueError, OverflowError):
            raise EdgeimgError(
                f"contract task_params alpha: expected a number in 0..1, got {self.alpha!r}"
            ) from None
        if not 0.0 <= alpha <= 1.0:
            raise EdgeimgError(f"contract task_params alpha: expected 0..1, got {self.alpha}")


def voc_palette(count: int = 256) -> tuple[RGB, ...]:
    """The Pascal VOC colour map (RGB): id bits spread over the high bits of R, G and B
    (id 0, background, is black)."""
    colours = []
    for index in range(count):
        r = g = b = 0
        c = index
        for shift in range(7, -1, -1):
            r |= (c & 1) << shift
            g |= ((c >> 1) & 1) << shift
            b |= ((c >> 2) & 1) << shift
            c >>= 3
        colours.append((r, g, b))
    return tuple(colours)


def default_palette(count: int) -> tuple[RGB, ...]:
    """Distinct colours for ``count`` classes: the VOC colour map from id 1 on (no black)."""
    return voc_palette(count + 1)[1:]


def class_palette(params: SegmentParams | None, count: int) -> tuple[RGB, ...]:
    """The contract's palette, completed by generated colours up to ``count`` classes."""
    given = params.palette if params is not None else ()
    return tuple(given[:count]) + default_palette(count)[len(given) :]


@dataclass(frozen=True, eq=False)
class SegmentMask:
    """mask: (H, W) uint8 class ids over the source frame. num_classes: the model's classes."""

    mask: np.ndarray
    num_classes: int

    def areas(self) -> np.ndarray:
        """(num_classes,) float64: the fraction of the frame's pixels of each class."""
        counts = np.bincount(self.mask.ravel(), minlength=self.num_classes)[: self.num_classes]
        fractions: np.ndarray = counts / max(1, self.mask.size)
        return fractions
