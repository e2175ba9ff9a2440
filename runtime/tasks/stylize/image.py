"""The stylize task's result, its contract parameters and its ``prepare``.

A feed-forward stylizer (Johnson et al. 2016) is fully convolutional and downsamples its input
``multiple`` times (8: three stride-2 stages), so it takes any frame whose height and width are
multiples of ``multiple``. ``prepare`` pads the frame bottom/right to the next multiple by
reflection (``cv2.BORDER_REFLECT_101``: no hard edge for the network to paint a seam on), then
feeds it as the contract says (RGB float32 0..255, the model normalises inside its graph). The
:class:`StylizeTransform` it returns carries the frame itself, so the decoder can crop the
output back to the frame's size and mix the original back in (``blend``), with no state in the
decoder.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edgeimg.runtime.contract import ModelContract
from edgeimg.runtime.errors import EdgeimgError, typed_params
from edgeimg.runtime.preprocess import Transform, check_frame, prepare


@dataclass(frozen=True)
class StylizeParams:
    """The contract's ``task_params`` of a stylizer.

    style: the style's name (``starry_night``), shown by ``edgeimg info`` and in the records.
    multiple: the network takes heights and widths that are multiples of this (1..64).
    loss_net, loss_seed: the perceptual-loss network the model was trained and is judged with
    (the runtime only carries them).
    """

    style: str = ""
    multiple: int = 8
    loss_net: str = "camvid-seg"
    loss_seed: int = 0

    def __post_init__(self) -> None:
        for name in ("style", "loss_net"):
            if not isinstance(getattr(self, name), str):
                raise EdgeimgError(f"stylize {name}: expected text, got {getattr(self, name)!r}")
        for name in ("multiple", "loss_seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise EdgeimgError(f"stylize {name}: expected an integer, got {value!r}")
        if not 1 <= self.multiple <= 64:
            raise EdgeimgError(f"stylize multiple: expected 1..64, got {self.multiple}")


def stylize_params(contract: ModelContract) -> StylizeParams:
    params: StylizeParams = typed_params(
        StylizeParams, contract.task_params, "contract task_params"
    )
    return params


@dataclass(frozen=True, eq=False)
class Stylized:
    """One stylized frame: ``image`` (H, W, 3) uint8 BGR at the source frame's size, and the
    name of the ``style`` (the contract's, "" when it names none)."""

    image: np.ndarray
    style: str

    @property
    def size_hw(self) -> tuple[int, int]:
        return (int(self.image.shape[0]), int(self.image.shape[1]))


@dataclass(frozen=True, eq=False)
class StylizeTransform(Transform):
    """The identity Transform of a frame fed at its own size (``input_hw``: padded to the
    network's multiple), plus the ``frame`` itself ((H, W, 3) uint8 BGR, not copied) for the
    decoder's ``blend``."""

    frame: np.ndarray | None = None


def pad_to_multiple(image_bgr: np.ndarray, multiple: int) -> np.ndarray:
    """(H, W, C) -> (H', W', C), H' and W' the next multiples of ``multiple``, padded bottom and
    right by reflection (``BORDER_REFLECT_101``); the image itself when nothing is missing.
    Needs H, W >= ``multiple`` (the reflection of a short side would run out of pixels)."""
    height, width = image_bgr.shape[:2]
    bottom, right = -height % multiple, -width % multiple
    if not (bottom or right):
        return image_bgr
    padded: np.ndarray = cv2.copyMakeBorder(image_bgr, 0, bottom, 0, right, cv2.BORDER_REFLECT_101)
    return padded


def prepare_stylize(image_bgr: np.ndarray, contract: ModelContract) -> tuple[np.ndarray, Transform]:
    """The stylize task's ``prepare``: a frame -> the model's input and a
    :class:`StylizeTransform` holding the frame.

    image_bgr: (H, W, 3) uint8 BGR or (H, W[, 1]) gray, H and W at least the contract's
    ``multiple``. Returns (1, 3, H', W') float32 for NCHW or (1, H', W', 3) for NHWC, (H', W')
    padded up to multiples of ``multiple``, in the contract's colour order, 0..255 (then
    ``(x - mean) / std`` when the contract normalises).
    """
    image = check_frame(image_bgr, "stylize")
    multiple = stylize_params(contract).multiple
    height, width = image.shape[:2]
    if height < multiple or width < multiple:
        raise EdgeimgError(
            f"stylize: expected an image at least {multiple}x{multiple} pixels (the network "
            f"downsamples {multiple}x), got {height}x{width}"
        )
    padded = pad_to_multiple(image, multiple)
    tensor, _ = prepare(padded, contract)  # colour order, dtype, mean/std, layout
    transform = StylizeTransform(
        1.0, 1.0, 0.0, 0.0, (height, width), (int(padded.shape[0]), int(padded.shape[1])), image
    )
    return tensor, transform
