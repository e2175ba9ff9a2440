"""Images for super-resolution: folder readers, the training patch pipeline, test sets.

Every image becomes its MATLAB luminance Y (float32, 16..235, see ``color``), or for colour
models (``Color.RGB``) stays (H, W, 3) RGB float32 0..255. Low-resolution
(LR) images are made the papers' way: crop the high-resolution (HR) Y to a multiple of the
scale (``modcrop``) and shrink it with MATLAB's antialiased bicubic (``resize.downscale``).

Training pairs are made once per image (the whole frame is downscaled, so patches have no
border artefacts), then ``PatchSequence`` draws random aligned patches: an LR patch of
``patch // scale`` pixels and its HR patch of ``patch`` pixels, flipped and rotated by multiples
of 90 degrees. Flips and rotations commute with the separable symmetric resize on frames whose
sides are multiples of the scale, so augmenting the pair equals resizing the augmented HR.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import cv2
import keras
import numpy as np

from edgeimg.runtime.errors import EdgeimgError
from edgeimg.train.tasks.upscale.color import rgb_to_y
from edgeimg.train.tasks.upscale.resize import downscale, imresize, modcrop

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")


class Color(str, Enum):
    """What an upscaler sees: the luminance Y (the papers'; chroma enlarged bicubically) or RGB."""

    Y = "y"
    RGB = "rgb"

    @property
    def channels(self) -> int:
        return 1 if self is Color.Y else 3


def list_images(folder: str | Path) -> list[Path]:
    """Image files (png, jpg, jpeg, bmp) under ``folder``, recursively, sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        raise EdgeimgError(f"image folder: expected a directory, got {folder}")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise EdgeimgError(f"image folder {folder}: expected png/jpg images, found none")
    return files


def read_rgb(path: str | Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB of an 8-bit colour or gray image file."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise EdgeimgError(f"cannot read image {path}")
    return image[..., ::-1]


def read_y(path: str | Path) -> np.ndarray:
    """(H, W) float32 MATLAB luminance (16..235) of an image file."""
    return rgb_to_y(read_rgb(path)).astype(np.float32)


@dataclass(frozen=True)
class Pair:
    """One image at two resolutions: hr (H, W) and lr (H/scale, W/scale), float32 Y."""

    name: str
    hr: np.ndarray
    lr: np.ndarray


def make_pair(path: str | Path, scale: int, shrink: float = 1.0, color: Color = Color.Y) -> Pair:
    """The HR Y (or RGB) of an image cropped to a multiple of ``scale`` and its MATLAB-bicubic LR.

    shrink < 1 first reduces the whole image by that factor (MATLAB bicubic, antialiased): a
    common preparation of training photos that are soft or JPEG-compressed at full size (the
    reduced image is sharper per pixel and its artefacts are averaged away). Test sets use 1.
    """
    y = read_y(path) if color is Color.Y else read_rgb(path).astype(np.float32)
    if shrink != 1.0:
        if not 0 < shrink < 1:
            raise EdgeimgError(f"shrink: expected a factor in (0, 1], got {shrink}")
        y = imresize(y, shrink).astype(np.float32)
    hr = modcrop(y, scale)
    return Pair(Path(path).stem, hr, downscale(hr, scale).astype(np.float32))


def held_out_frames(folder: str | Path, scale: int, count: int = 0) -> tuple[list, list]:
    """(LR frames, HR targets) for the INT8 gate of an upscaler: each image of ``folder``
    (``count`` of them, 0: all) cropped to a multiple of ``scale``; the LR frame is its MATLAB
    bicubic downscale as uint8 BGR (what a user feeds), the target its HR Y (float64)."""
    import cv2

    from edgeimg.train.tasks.upscale.color import rgb_to_y

    paths = list_images(folder)
    if count:
        paths = paths[:count]
    if not paths:
        raise EdgeimgError(f"--eval {folder}: expected images for an upscaler, found none")
    frames, targets = [], []
    for path in paths:
        hr = modcrop(read_rgb(path).astype(np.float64), scale)
        lr = np.clip(np.round(downscale(hr, scale)), 0, 255).astype(np.uint8)
        frames.append(cv2.cvtColor(lr, cv2.COLOR_RGB2BGR))
        targets.append(rgb_to_y(hr).astype(np.float64))
    return frames, targets


def load_pairs(
    folders: tuple[str | Path, ...],
    scale: int,
    min_size: int = 0,
    shrink: float = 1.0,
    limit: int | None = None,
    color: Color = Color.Y,
) -> list[Pair]:
    """Pairs of every image in ``folders`` (recursive, sorted), at most ``limit`` of them;
    images with an LR side < min_size are skipped."""
    pairs: list[Pair] = []
    for folder in folders:
        for path in list_images(folder):
            if limit is not None and len(pairs) >= limit:
                return pairs
            pair = make_pair(path, scale, shrink, color)
            if min(pair.lr.shape[:2]) >= min_size:
                pairs.append(pair)
    if not pairs:
        raise EdgeimgError(f"no image of LR size >= {min_size} in {', '.join(map(str, folders))}")
    return pairs


def augment(lr: np.ndarray, hr: np.ndarray, code: int) -> tuple[np.ndarray, np.ndarray]:
    """One of the 8 dihedral transforms (code 0..7: rot90 ``code % 4`` times, flip if >= 4)
    applied to both (h, w[, C]) lr and (H, W[, C]) hr."""
    k = code % 4
    lr, hr = np.rot90(lr, k), np.rot90(hr, k)
    if code >= 4:
        lr, hr = lr[:, ::-1], hr[:, ::-1]
    return lr, hr


class PatchSequence(keras.utils.PyDataset):
    """Random aligned patches: batches of (N, p/s, p/s, C) LR and (N, p, p, C) HR, float32 Y
    (C = 1) or RGB (C = 3, pairs of (H, W, 3) images).

    Batch ``i`` of epoch ``e`` is a pure function of (seed, e, i), so runs are reproducible.
    ``steps`` batches make an epoch.
    """

    def __init__(
        self,
        pairs: list[Pair],
        scale: int,
        patch: int,
        batch_size: int,
        steps: int,
        seed: int = 0,
        augment: bool = True,
    ):
        super().__init__(workers=1, use_multiprocessing=False)
        if patch % scale:
            raise EdgeimgError(f"patch size: expected a multiple of scale {scale}, got {patch}")
        lr_patch = patch // scale
        small = [p.name for p in pairs if min(p.lr.shape[:2]) < lr_patch]
        if small:
            raise EdgeimgError(
                f"patch {patch}: expected images of at least {patch} px, got smaller: {small[:3]}"
            )
        self.pairs, self.scale, self.patch = pairs, scale, patch
        self.batch_size, self.steps, self.seed = batch_size, steps, seed
        self.augment = augment
        self.channels = 1 if pairs[0].hr.ndim == 2 else pairs[0].hr.shape[2]
        self.epoch = 0

    def __len__(self) -> int:
        return self.steps

    def on_epoch_end(self) -> None:
        self.epoch += 1

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng((self.seed, self.epoch, index))
        s, lp = self.scale, self.patch // self.scale
        c = self.channels
        lrs = np.empty((self.batch_size, lp, lp, c), np.float32)
        hrs = np.empty((self.batch_size, self.patch, self.patch, c), np.float32)
        picks = rng.integers(0, len(self.pairs), self.batch_size)
        codes = rng.integers(0, 8 if self.augment else 1, self.batch_size)
        for n, (pick, code) in enumerate(zip(picks, codes, strict=True)):
            pair = self.pairs[pick]
            y = int(rng.integers(0, pair.lr.shape[0] - lp + 1))
            x = int(rng.integers(0, pair.lr.shape[1] - lp + 1))
            lr = pair.lr[y : y + lp, x : x + lp]
            hr = pair.hr[y * s : (y + lp) * s, x * s : (x + lp) * s]
            lr, hr = augment(lr, hr, int(code))
            lrs[n], hrs[n] = lr.reshape(lp, lp, c), hr.reshape(self.patch, self.patch, c)
        return lrs, hrs
