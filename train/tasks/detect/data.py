"""Detection data readers: MOTChallenge, YOLO, COCO JSON, Pascal VOC, and the synthetic scene.

Every reader returns a :class:`DetectionDataset`: decoded images (BGR uint8, OpenCV's order,
as the runtime's frames are) with their boxes in pixel corners and class indices.
:func:`load_detection` picks the reader from the spec; ``frames`` selects a 1-based inclusive
range (MOT frame numbers; for the other formats, positions in file-name order), so a user can
train on one part of a sequence and evaluate on another.
"""

from __future__ import annotations

import json
import logging
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, fields
from enum import Enum
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from edgeimg.runtime.errors import EdgeimgError
from edgeimg.runtime.sources import IMAGE_SUFFIXES

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".avi", ".mp4", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg")


class DetectionFormat(str, Enum):
    MOT = "mot"  # a video or img1/ + gt/gt.txt
    YOLO = "yolo"  # images/ + labels/*.txt (class cx cy w h, normalised)
    COCO = "coco"  # instances JSON + images
    VOC = "voc"  # Annotations/*.xml + JPEGImages/
    SYNTHETIC = "synthetic"  # edgeimg.runtime.synthetic, "synthetic:" or "synthetic:frames=300"


@dataclass(frozen=True)
class FrameRange:
    """1-based inclusive range of frames; ``last`` None means to the end."""

    first: int = 1
    last: int | None = None

    @classmethod
    def parse(cls, text: str) -> FrameRange:
        """``"1-600"``, ``"601-"``, ``"42"``."""
        match = re.fullmatch(r"\s*(\d+)\s*(?:(-)\s*(\d*))?\s*", text or "")
        if not match:
            raise EdgeimgError(f"frame range: expected FIRST-LAST such as 1-600, got {text!r}")
        first = int(match.group(1))
        last = first if match.group(2) is None else int(match.group(3)) if match.group(3) else None
        if first < 1 or (last is not None and last < first):
            raise EdgeimgError(f"frame range: expected 1 <= FIRST <= LAST, got {text!r}")
        return cls(first, last)

    def __contains__(self, frame: int) -> bool:
        return frame >= self.first and (self.last is None or frame <= self.last)

    def __str__(self) -> str:
        return f"{self.first}-{'' if self.last is None else self.last}"


@dataclass(frozen=True)
class DetectionSample:
    """One annotated image.

    image: (H, W, 3) uint8 BGR. xyxy: (K, 4) float32 pixel corners inside the image.
    class_id: (K,) int32 indices into the dataset's class names. name: where it came from
    (file name or frame number).
    """

    image: np.ndarray
    xyxy: np.ndarray
    class_id: np.ndarray
    name: str


@dataclass(frozen=True)
class DetectionDataset:
    samples: list[DetectionSample]
    class_names: tuple[str, ...]
    format: DetectionFormat
    source: str

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def num_boxes(self) -> int:
        return sum(len(s.xyxy) for s in self.samples)


def detect_format(spec: str) -> DetectionFormat:
    """Which reader fits ``spec`` (a path, or ``synthetic:``)."""
    if spec.startswith("synthetic:"):
        return DetectionFormat.SYNTHETIC
    path = Path(spec)
    if not path.exists():
        raise EdgeimgError(f"no such detection data: {path}")
    if path.is_file():
        if path.suffix.lower() in VIDEO_SUFFIXES:
            return DetectionFormat.MOT
        if path.suffix.lower() == ".json":
            return DetectionFormat.COCO
        raise EdgeimgError(
            f"{path}: expected a video ({', '.join(VIDEO_SUFFIXES)}), a COCO .json file or a "
            "dataset folder"
        )
    if (path / "gt" / "gt.txt").is_file():
        return DetectionFormat.MOT
    if (path / "images").is_dir() and (path / "labels").is_dir():
        return DetectionFormat.YOLO
    if (path / "Annotations").is_dir():
        return DetectionFormat.VOC
    if (path / "annotations").is_dir() and any((path / "annotations").glob("*.json")):
        return DetectionFormat.COCO
    raise EdgeimgError(
        f"{path}: unknown detection data; expected a MOTChallenge sequence (a video or img1/, "
        "with gt/gt.txt), YOLO (images/ + labels/), COCO (a .json file or annotations/*.json) "
        "or Pascal VOC (Annotations/ + JPEGImages/)"
    )


def load_detection(spec: str | Path, frames: FrameRange | str | None = None) -> DetectionDataset:
    """Read a detection dataset, auto-detecting its format; ``frames`` selects a 1-based range."""
    spec = str(spec)
    if isinstance(frames, str):
        frames = FrameRange.parse(frames)
    frames = frames or FrameRange()
    fmt = detect_format(spec)
    reader = {
        DetectionFormat.MOT: read_mot,
        DetectionFormat.YOLO: read_yolo,
        DetectionFormat.COCO: read_coco,
        DetectionFormat.VOC: read_voc,
        DetectionFormat.SYNTHETIC: read_synthetic,
    }[fmt]
    data = reader(spec, frames)
    if not data.samples:
        raise EdgeimgError(f"{spec}: no images in frames {frames}")
    log.info(
        "%s data from %s (frames %s): %d images, %d boxes, classes %s",
        fmt.value,
        spec,
        frames,
        len(data),
        data.num_boxes,
        ", ".join(data.class_names),
    )
    return data


def parse_class_selection(text: str) -> tuple[tuple[str, int | None], ...]:
    """``"person=0,car"`` -> (("person", 0), ("car", None)): the classes to train on."""
    selection = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, eq, index = (part.strip() for part in item.partition("="))
        if not name or (eq and not index.isdigit()):
            raise EdgeimgError(
                f"class selection: expected NAME or NAME=ID such as person=0, got {item!r}"
            )
        selection.append((name, int(index) if eq else None))
    if not selection:
        raise EdgeimgError(f"class selection: expected NAME[=ID],..., got {text!r}")
    return tuple(selection)


def select_classes(
    data: DetectionDataset, selection: tuple[tuple[str, int | None], ...]
) -> DetectionDataset:
    """Only the boxes of the ``selection`` classes, renumbered in its order and named by it.

    A selected class is the data's class of that name, or else the data's class ``ID`` (for
    data whose files name no classes, such as a YOLO folder without ``data.yaml``). Images left
    without boxes stay: they are background the detector learns to leave alone.
    """
    source = []
    for name, index in selection:
        if name in data.class_names:
            source.append(data.class_names.index(name))
        elif index is not None and index < len(data.class_names):
            source.append(index)
        else:
            raise EdgeimgError(
                f"{data.source}: no class {name!r} (classes: {', '.join(data.class_names)}); "
                f"name it by id as {name}=ID"
            )
    lookup = np.full(len(data.class_names), -1, np.int32)
    lookup[source] = np.arange(len(source), dtype=np.int32)
    samples = []
    for s in data.samples:
        new = lookup[s.class_id]
        keep = new >= 0
        samples.append(DetectionSample(s.image, s.xyxy[keep], new[keep], s.name))
    names = tuple(name for name, _ in selection)
    return DetectionDataset(samples, names, data.format, data.source)


def check_boxes(xyxy: np.ndarray, size_hw: tuple[int, int], where: str) -> np.ndarray:
    """Clip (K, 4) corner boxes to the image; an error names ``where`` for a box that is empty
    or lies wholly outside the image (a sign of wrong units or a wrong image)."""
    xyxy = np.asarray(xyxy, np.float32).reshape(-1, 4)
    height, width = size_hw
    for i, (x1, y1, x2, y2) in enumerate(xyxy):
        if not (x2 > x1 and y2 > y1):
            raise EdgeimgError(f"{where}: box {i + 1} ({x1:g}, {y1:g}, {x2:g}, {y2:g}) is empty")
        if x2 <= 0 or y2 <= 0 or x1 >= width or y1 >= height:
            raise EdgeimgError(
                f"{where}: box {i + 1} ({x1:g}, {y1:g}, {x2:g}, {y2:g}) lies outside the "
                f"{width}x{height} image"
            )
    out = xyxy.copy()
    out[:, 0::2] = out[:, 0::2].clip(0, width)
    out[:, 1::2] = out[:, 1::2].clip(0, height)
    return out


def _read_image(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise EdgeimgError(f"{path}: not a readable image")
    return image


def _parse_float_row(line: str, count: int, where: str) -> list[float]:
    parts = [p for p in re.split(r"[,\s]+", line.strip()) if p]
    if len(parts) < count:
        raise EdgeimgError(f"{where}: expected at least {count} values, got {len(parts)}: {line!r}")
    try:
        return [float(p) for p in parts]
    except ValueError:
        raise EdgeimgError(f"{where}: expected numbers, got {line.strip()!r}") from None


# -- MOTChallenge ------------------------------------------------------------------------------
def read_mot(spec: str, frames: FrameRange) -> DetectionDataset:
    """A MOTChallenge sequence: ``gt/gt.txt`` (frame,id,left,top,width,height,conf,...) with
    ``img1/NNNNNN.jpg`` or a video (frame N of the video, 1-based, is frame N of gt.txt).

    Only rows with conf == 1 (the boxes MOTChallenge counts) are used; one class, ``person``.
    Frames without a box are kept (they teach the detector what background looks like).
    """
    path = Path(spec)
    root = path.parent if path.is_file() else path
    gt_file = root / "gt" / "gt.txt"
    if not gt_file.is_file():
        raise EdgeimgError(f"{root}: a MOTChallenge sequence needs gt/gt.txt, not found")
    boxes: dict[int, list[list[float]]] = {}
    for number, line in enumerate(gt_file.read_text().splitlines(), 1):
        if not line.strip():
            continue
        row = _parse_float_row(line, 7, f"{gt_file}:{number}")
        frame, conf = int(row[0]), row[6]
        if conf != 1 or frame not in frames:
            continue
        left, top, width, height = row[2:6]
        if width <= 0 or height <= 0:
            raise EdgeimgError(f"{gt_file}:{number}: box width and height must be > 0: {line!r}")
        boxes.setdefault(frame, []).append([left, top, left + width, top + height])
    samples = []
    progress = tqdm(_mot_frames(path, root, frames), desc="decoding", unit="frame", disable=None)
    for frame, image in progress:
        where = f"{gt_file} frame {frame}"
        xyxy = check_boxes(np.array(boxes.get(frame, []), np.float32), image.shape[:2], where)
        samples.append(DetectionSample(image, xyxy, np.zeros(len(xyxy), np.int32), str(frame)))
    return DetectionDataset(samples, ("person",), DetectionFormat.MOT, spec)


def _mot_frames(path: Path, root: Path, frames: FrameRange):
    """(frame number, BGR image) for the frames in range, from img1/ or a video."""
    if path.is_file():
        video = path
    elif (root / "img1").is_dir():
        files = sorted(f for f in (root / "img1").iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        for file in files:
            if file.stem.isdigit() and int(file.stem) in frames:
                yield int(file.stem), _read_image(file)
        return
    else:
        videos = sorted(f for f in root.iterdir() if f.suffix.lower() in VIDEO_SUFFIXES)
        if len(videos) != 1:
            raise EdgeimgError(
                f"{root}: expected img1/ or exactly one video beside gt/, found {len(videos)} videos"
            )
        video = videos[0]
    capture = cv2.VideoCapture(str(video))
    try:
        if not capture.isOpened():
            raise EdgeimgError(f"{video}: cannot open the video")
        frame = 0
        while frames.last is None or frame < frames.last:
            ok, image = capture.read()
            if not ok:
                break
            frame += 1
            if frame in frames:
                yield frame, image
    finally:
        capture.release()


# -- YOLO --------------------------------------------------------------------------------------
def read_yolo(spec: str, frames: FrameRange) -> DetectionDataset:
    """``images/*.jpg`` + ``labels/*.txt`` (one ``class cx cy w h`` line per box, normalised to
    0..1; sub-folders such as train/ are followed). Class names from ``classes.txt`` or the
    ``names`` of ``data.yaml``; otherwise ``class_0``..."""
    root = Path(spec)
    images = sorted(f for f in (root / "images").rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES)
    selected = [f for i, f in enumerate(images, 1) if i in frames]
    samples = []
    max_class = -1
    for file in selected:
        image = _read_image(file)
        height, width = image.shape[:2]
        label = (root / "labels" / file.relative_to(root / "images")).with_suffix(".txt")
        rows = []
        if label.is_file():
            for number, line in enumerate(label.read_text().splitlines(), 1):
                if not line.strip():
                    continue
                where = f"{label}:{number}"
                row = _parse_float_row(line, 5, where)
                if len(row) != 5 or row[0] != int(row[0]) or row[0] < 0:
                    raise EdgeimgError(f"{where}: expected 'class cx cy w h', got {line.strip()!r}")
                cx, cy, w, h = row[1:]
                if not (0 <= cx <= 1 and 0 <= cy <= 1 and 0 < w <= 1 and 0 < h <= 1):
                    raise EdgeimgError(
                        f"{where}: box outside the image: expected cx, cy, w, h in 0..1 "
                        f"(normalised), got {line.strip()!r}"
                    )
                rows.append([row[0], (cx - w / 2) * width, (cy - h / 2) * height,
                             (cx + w / 2) * width, (cy + h / 2) * height])  # fmt: skip
        arr = np.array(rows, np.float32).reshape(-1, 5)
        xyxy = check_boxes(arr[:, 1:], (height, width), str(label))
        class_id = arr[:, 0].astype(np.int32)
        max_class = max(max_class, int(class_id.max(initial=-1)))
        samples.append(DetectionSample(image, xyxy, class_id, file.name))
    names = _yolo_names(root) or tuple(f"class_{i}" for i in range(max_class + 1)) or ("object",)
    if max_class >= len(names):
        raise EdgeimgError(
            f"{root}: labels use class {max_class}, but only {len(names)} names are given"
        )
    return DetectionDataset(samples, names, DetectionFormat.YOLO, spec)


def _yolo_names(root: Path) -> tuple[str, ...] | None:
    classes = root / "classes.txt"
    if classes.is_file():
        return tuple(x.strip() for x in classes.read_text().splitlines() if x.strip())
    for name in ("data.yaml", "dataset.yaml"):
        if (root / name).is_file():
            import yaml

            values = yaml.safe_load((root / name).read_text()) or {}
            names = values.get("names")
            if isinstance(names, dict):
                return tuple(str(names[k]) for k in sorted(names))
            if isinstance(names, list):
                return tuple(str(n) for n in names)
    return None


# -- COCO --------------------------------------------------------------------------------------
def read_coco(spec: str, frames: FrameRange) -> DetectionDataset:
    """COCO instances JSON (``images``, ``annotations`` with ``bbox`` = [x, y, w, h] pixels,
    ``categories``). Images are found beside the JSON, in ``images/`` or ``../images/``.
    Crowd annotations are skipped; class indices follow the categories sorted by id."""
    path = Path(spec)
    if path.is_dir():
        files = sorted((path / "annotations").glob("*.json"))
        if len(files) != 1:
            raise EdgeimgError(f"{path}/annotations: expected one .json file, got {len(files)}")
        path = files[0]
    try:
        values = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise EdgeimgError(f"{path}: not a COCO JSON file: {exc}") from None
    for key in ("images", "annotations", "categories"):
        if not isinstance(values.get(key), list):
            raise EdgeimgError(f"{path}: expected a list under {key!r} (COCO instances format)")
    categories = sorted(values["categories"], key=lambda c: c["id"])
    index = {c["id"]: i for i, c in enumerate(categories)}
    by_image: dict[int, list[dict]] = {}
    for number, ann in enumerate(values["annotations"], 1):
        if ann.get("category_id") not in index:
            raise EdgeimgError(
                f"{path}: annotation {number} has unknown category_id {ann.get('category_id')!r}"
            )
        by_image.setdefault(ann["image_id"], []).append(ann)
    bases = [path.parent, path.parent / "images", path.parent.parent / "images"]
    images = sorted(values["images"], key=lambda im: im["file_name"])
    samples = []
    for position, info in enumerate(images, 1):
        if position not in frames:
            continue
        file = next(
            (b / info["file_name"] for b in bases if (b / info["file_name"]).is_file()), None
        )
        if file is None:
            raise EdgeimgError(f"{path}: image {info['file_name']!r} not found beside the JSON")
        image = _read_image(file)
        anns = [a for a in by_image.get(info["id"], []) if not a.get("iscrowd", 0)]
        xywh = np.array([a["bbox"] for a in anns], np.float32).reshape(-1, 4)
        xyxy = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
        xyxy = check_boxes(xyxy, image.shape[:2], f"{path} image {info['file_name']}")
        class_id = np.array([index[a["category_id"]] for a in anns], np.int32)
        samples.append(DetectionSample(image, xyxy, class_id, info["file_name"]))
    names = tuple(str(c["name"]) for c in categories)
    return DetectionDataset(samples, names, DetectionFormat.COCO, spec)


# -- Pascal VOC --------------------------------------------------------------------------------
def read_voc(spec: str, frames: FrameRange) -> DetectionDataset:
    """``Annotations/*.xml`` (``object/name``, ``object/bndbox`` xmin..ymax, 1-based pixels) with
    images in ``JPEGImages/``. Class names: sorted names found, or ``classes.txt``."""
    root = Path(spec)
    files = sorted((root / "Annotations").glob("*.xml"))
    parsed = []
    for position, file in enumerate(files, 1):
        if position not in frames:
            continue
        try:
            tree = ET.parse(file).getroot()
        except ET.ParseError as exc:
            raise EdgeimgError(f"{file}: not valid XML: {exc}") from None
        objects = []
        for number, obj in enumerate(tree.iter("object"), 1):
            name = (obj.findtext("name") or "").strip()
            box = obj.find("bndbox")
            try:
                coords = [float(box.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax")]
            except (AttributeError, TypeError, ValueError):
                raise EdgeimgError(
                    f"{file}: object {number} needs a name and bndbox xmin, ymin, xmax, ymax"
                ) from None
            if not name:
                raise EdgeimgError(f"{file}: object {number} has no name")
            # VOC pixels are 1-based inclusive: xmin=1 is the first pixel's left edge.
            objects.append((name, [coords[0] - 1, coords[1] - 1, coords[2], coords[3]]))
        filename = tree.findtext("filename") or f"{file.stem}.jpg"
        parsed.append((file, root / "JPEGImages" / filename, objects))
    names = _yolo_names(root) or tuple(sorted({n for _, _, objs in parsed for n, _ in objs}))
    index = {n: i for i, n in enumerate(names)}
    samples = []
    for file, image_file, objects in parsed:
        unknown = sorted({n for n, _ in objects} - set(index))
        if unknown:
            raise EdgeimgError(f"{file}: classes {', '.join(unknown)} are not in classes.txt")
        image = _read_image(image_file)
        xyxy = check_boxes(
            np.array([c for _, c in objects], np.float32), image.shape[:2], str(file)
        )
        class_id = np.array([index[n] for n, _ in objects], np.int32)
        samples.append(DetectionSample(image, xyxy, class_id, image_file.name))
    return DetectionDataset(samples, names or ("object",), DetectionFormat.VOC, spec)


# -- synthetic scene ---------------------------------------------------------------------------
def read_synthetic(spec: str, frames: FrameRange) -> DetectionDataset:
    """``synthetic:`` or ``synthetic:frames=300,seed=1,width=640``: edgeimg's generated scene of
    walking people (options are :class:`SceneConfig` fields). One class, ``person``."""
    from edgeimg.runtime.synthetic import SceneConfig, SyntheticScene

    options = {}
    known = {f.name: f.type for f in fields(SceneConfig)}
    for item in filter(None, spec[len("synthetic:") :].split(",")):
        key, _, value = item.partition("=")
        if key.strip() not in known or not value:
            raise EdgeimgError(
                f"synthetic spec {spec!r}: expected key=value with keys {', '.join(known)}"
            )
        try:
            options[key.strip()] = float(value) if key.strip() == "fps" else int(value)
        except ValueError:
            raise EdgeimgError(f"synthetic spec {spec!r}: {key} must be a number") from None
    try:
        scene = SyntheticScene(SceneConfig(**options))
    except ValueError as exc:
        raise EdgeimgError(f"synthetic spec {spec!r}: {exc}") from None
    samples = []
    for frame in range(1, len(scene) + 1):
        if frame in frames:
            image, xyxy, _ = scene.render(frame - 1)
            xyxy = check_boxes(xyxy, image.shape[:2], f"{spec} frame {frame}")
            samples.append(DetectionSample(image, xyxy, np.zeros(len(xyxy), np.int32), str(frame)))
    return DetectionDataset(samples, ("person",), DetectionFormat.SYNTHETIC, spec)
