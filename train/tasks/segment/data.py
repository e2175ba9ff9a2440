"""Segmentation readers: an image folder and a label-PNG folder, matched by file name.

Label formats (``LabelFormat``):

- ``camvid``: single-channel PNGs of class ids 0..10, 11 = void (the SegNet 11-class CamVid);
  the labels of ``CamVid/train`` are in ``CamVid/trainannot``.
- ``cityscapes``: single-channel ``*_gtFine_labelTrainIds.png`` (19 classes, 255 = ignore)
  beside ``*_leftImg8bit.png`` frames.
- ``voc``: Pascal VOC ``SegmentationClass`` PNGs, colour-coded with the VOC palette
  (21 classes, the cream border (224, 224, 192) = ignore), beside ``JPEGImages``.

Every label comes out as a uint8 (H, W) array of class ids with :data:`IGNORE` for void. Bad
input is a one-line :class:`EdgeimgError` naming the file: a label whose size differs from its
image, an id outside the class list, an image without a label (or the reverse), a colour that
is not in the palette.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import cv2
import numpy as np

from edgeimg.runtime.errors import EdgeimgError, parse_enum
from edgeimg.runtime.tasks.segment.mask import voc_palette

IGNORE = 255
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")

CAMVID_CLASSES = (
    "Sky",
    "Building",
    "Pole",
    "Road",
    "Pavement",
    "Tree",
    "SignSymbol",
    "Fence",
    "Car",
    "Pedestrian",
    "Bicyclist",
)
# The SegNet tutorial's CamVid colours (RGB).
CAMVID_PALETTE = (
    (128, 128, 128),
    (128, 0, 0),
    (192, 192, 128),
    (128, 64, 128),
    (60, 40, 222),
    (128, 128, 0),
    (192, 128, 128),
    (64, 64, 128),
    (64, 0, 128),
    (64, 64, 0),
    (0, 128, 192),
)
CITYSCAPES_CLASSES = (
    "road",
    "sidewalk",
    "building",
    "wall",
    "fence",
    "pole",
    "traffic light",
    "traffic sign",
    "vegetation",
    "terrain",
    "sky",
    "person",
    "rider",
    "car",
    "truck",
    "bus",
    "train",
    "motorcycle",
    "bicycle",
)
CITYSCAPES_PALETTE = (
    (128, 64, 128),
    (244, 35, 232),
    (70, 70, 70),
    (102, 102, 156),
    (190, 153, 153),
    (153, 153, 153),
    (250, 170, 30),
    (220, 220, 0),
    (107, 142, 35),
    (152, 251, 152),
    (70, 130, 180),
    (220, 20, 60),
    (255, 0, 0),
    (0, 0, 142),
    (0, 0, 70),
    (0, 60, 100),
    (0, 80, 100),
    (0, 0, 230),
    (119, 11, 32),
)
VOC_CLASSES = (
    "background",
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
)


VOC_PALETTE = voc_palette(len(VOC_CLASSES))
VOC_VOID_RGB = (224, 224, 192)


class LabelFormat(str, Enum):
    CAMVID = "camvid"
    CITYSCAPES = "cityscapes"
    VOC = "voc"


@dataclass(frozen=True)
class LabelSpec:
    """Class names, their RGB colours and the ids that mean void in the files."""

    class_names: tuple[str, ...]
    palette: tuple[tuple[int, int, int], ...]
    void_ids: tuple[int, ...]


SPECS = {
    LabelFormat.CAMVID: LabelSpec(CAMVID_CLASSES, CAMVID_PALETTE, (11,)),
    LabelFormat.CITYSCAPES: LabelSpec(CITYSCAPES_CLASSES, CITYSCAPES_PALETTE, (255,)),
    LabelFormat.VOC: LabelSpec(VOC_CLASSES, VOC_PALETTE, (255,)),
}


@dataclass(frozen=True)
class SegmentationData:
    """images: (N, H, W, 3) uint8 RGB; labels: (N, H, W) uint8 ids, IGNORE for void."""

    images: np.ndarray
    labels: np.ndarray
    names: tuple[str, ...]
    spec: LabelSpec
    format: LabelFormat

    def __len__(self) -> int:
        return len(self.names)

    @property
    def num_classes(self) -> int:
        return len(self.spec.class_names)

    def subset(self, index: np.ndarray | slice) -> SegmentationData:
        names = np.asarray(self.names, dtype=object)[index]
        return SegmentationData(
            self.images[index], self.labels[index], tuple(names), self.spec, self.format
        )


def _stem(path: Path, fmt: LabelFormat) -> str:
    stem = path.stem
    if fmt is LabelFormat.CITYSCAPES:
        for suffix in ("_leftImg8bit", "_gtFine_labelTrainIds"):
            stem = stem.removesuffix(suffix)
    return stem


def label_folder(images: Path) -> Path:
    """The label folder beside an image folder: ``X/trainannot`` for CamVid's ``X/train``,
    ``SegmentationClass`` beside VOC's ``JPEGImages``, ``gtFine/...`` for ``leftImg8bit/...``."""
    if images.name == "JPEGImages":
        return images.with_name("SegmentationClass")
    parts = images.parts
    if "leftImg8bit" in parts:
        return Path(*[("gtFine" if p == "leftImg8bit" else p) for p in parts])
    return images.with_name(images.name + "annot")


def detect_format(labels: Path) -> LabelFormat:
    """The label format from the folder: VOC's ``SegmentationClass``, Cityscapes' trainIds
    files, else CamVid-style ids."""
    if labels.name.startswith("SegmentationClass"):
        return LabelFormat.VOC
    if any(labels.glob("*_gtFine_labelTrainIds.png")):
        return LabelFormat.CITYSCAPES
    return LabelFormat.CAMVID


def _files(folder: Path, what: str, fmt: LabelFormat, pattern: str = "") -> dict[str, Path]:
    if not folder.is_dir():
        raise EdgeimgError(f"{what}: {folder} is not a folder")
    files = {}
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in IMAGE_SUFFIXES or (pattern and pattern not in path.name):
            continue
        files[_stem(path, fmt)] = path
    if not files:
        raise EdgeimgError(f"{what}: no images in {folder}")
    return files


def read_label(path: Path, fmt: LabelFormat, spec: LabelSpec) -> np.ndarray:
    """One label PNG -> (H, W) uint8 class ids, IGNORE for void; one-line errors name the file."""
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise EdgeimgError(f"{path}: not a readable image")
    if fmt is LabelFormat.VOC and raw.ndim == 3:
        return _palette_to_ids(raw[..., 2::-1], spec.palette, VOC_VOID_RGB, path)
    if raw.ndim != 2 or raw.dtype != np.uint8:
        raise EdgeimgError(
            f"{path}: expected a single-channel 8-bit label PNG of class ids, got "
            f"{raw.dtype} with shape {raw.shape}"
        )
    labels = raw.copy()
    void = np.isin(labels, spec.void_ids)
    bad = (labels >= len(spec.class_names)) & ~void
    if bad.any():
        value = int(labels[bad][0])
        raise EdgeimgError(
            f"{path}: class id {value} outside the {len(spec.class_names)} classes "
            f"(0..{len(spec.class_names) - 1}, void {', '.join(map(str, spec.void_ids))})"
        )
    labels[void] = IGNORE
    return labels


def _palette_to_ids(
    rgb: np.ndarray, palette: tuple[tuple[int, int, int], ...], void: tuple[int, int, int], path
) -> np.ndarray:
    code = (rgb[..., 0].astype(np.int32) << 16) | (rgb[..., 1].astype(np.int32) << 8) | rgb[..., 2]
    keys = np.array([(r << 16) | (g << 8) | b for r, g, b in palette], np.int32)
    order = np.argsort(keys)
    position = np.clip(np.searchsorted(keys[order], code), 0, len(keys) - 1)
    ids = order[position].astype(np.uint8)
    found = keys[order][position] == code
    void_code = (void[0] << 16) | (void[1] << 8) | void[2]
    is_void = code == void_code
    unknown = ~found & ~is_void
    if unknown.any():
        y, x = np.argwhere(unknown)[0]
        raise EdgeimgError(
            f"{path}: colour {tuple(int(v) for v in rgb[y, x])} at ({x}, {y}) is not in the "
            "VOC palette (expected a SegmentationClass PNG)"
        )
    ids[is_void] = IGNORE
    return ids


def load_segmentation(
    images: Path,
    labels: Path | None = None,
    fmt: LabelFormat | str | None = None,
    limit: int | None = None,
) -> SegmentationData:
    """Read every image of ``images`` with its label from ``labels`` (default: the folder
    beside it, see :func:`label_folder`). All images must share one size."""
    images = Path(images)
    labels = Path(labels) if labels else label_folder(images)
    fmt = parse_enum(LabelFormat, fmt, "label format") if fmt else detect_format(labels)
    spec = SPECS[fmt]
    image_files = _files(images, "images", fmt)
    label_files = _files(
        labels, "labels", fmt, "_gtFine_labelTrainIds" if fmt is LabelFormat.CITYSCAPES else ""
    )
    missing = sorted(set(image_files) - set(label_files))
    if missing:
        raise EdgeimgError(
            f"{image_files[missing[0]]}: no label for it in {labels} "
            f"({len(missing)} image(s) without a label)"
        )
    extra = sorted(set(label_files) - set(image_files))
    if extra:
        raise EdgeimgError(
            f"{label_files[extra[0]]}: a label without an image in {images} "
            f"({len(extra)} label(s) without an image)"
        )
    names = sorted(image_files)[:limit] if limit else sorted(image_files)
    pixels, masks = [], []
    for name in names:
        bgr = cv2.imread(str(image_files[name]), cv2.IMREAD_COLOR)
        if bgr is None:
            raise EdgeimgError(f"{image_files[name]}: not a readable image")
        label = read_label(label_files[name], fmt, spec)
        if label.shape != bgr.shape[:2]:
            raise EdgeimgError(
                f"{label_files[name]}: label is {label.shape[1]}x{label.shape[0]}, its image "
                f"{image_files[name].name} is {bgr.shape[1]}x{bgr.shape[0]}"
            )
        if pixels and bgr.shape != pixels[0].shape:
            raise EdgeimgError(
                f"{image_files[name]}: {bgr.shape[1]}x{bgr.shape[0]}, the first image is "
                f"{pixels[0].shape[1]}x{pixels[0].shape[0]}; expected one size"
            )
        pixels.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        masks.append(label)
    return SegmentationData(np.stack(pixels), np.stack(masks), tuple(names), spec, fmt)


def class_weights(labels: np.ndarray, num_classes: int, c: float = 1.02) -> np.ndarray:
    """ENet's class weights ``1 / ln(c + p_class)`` from the pixel frequencies ``p`` (void left
    out), scaled so the average weight per labelled pixel is 1."""
    counts = np.bincount(labels[labels != IGNORE].ravel(), minlength=num_classes)[:num_classes]
    freq = counts / max(1, counts.sum())
    weights = 1.0 / np.log(c + freq)
    return (weights / max(1e-12, float((weights * freq).sum()))).astype(np.float32)


def is_segmentation_folder(path: str | Path) -> bool:
    """True for an image folder with a label folder beside it (:func:`label_folder`)."""
    folder = Path(path)
    if not folder.is_dir():
        return False
    labels = label_folder(folder)
    return labels.is_dir() and labels != folder
