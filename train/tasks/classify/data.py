"""Classification data readers: CIFAR-10 python batches, MNIST-style idx files, image folders.

Every reader returns a :class:`ClassificationData`: uint8 NHWC arrays (RGB for colour data,
one channel for grayscale) and the class names. :func:`load_classification` picks the reader
from what the folder holds and says what it expected when nothing matches.
"""

from __future__ import annotations

import codecs
import gzip
import io
import logging
import pickle
import struct
from collections import Counter
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import cv2
import numpy as np

from edgeimg.runtime.errors import EdgeimgError
from edgeimg.runtime.sources import IMAGE_SUFFIXES

log = logging.getLogger(__name__)


FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
CIFAR_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))


class ClassificationFormat(str, Enum):
    CIFAR = "cifar"  # cifar-10-batches-py: data_batch_1..5, test_batch, batches.meta
    IDX = "idx"  # MNIST / Fashion-MNIST: train-images-idx3-ubyte[.gz] ...
    FOLDER = "folder"  # one sub-folder per class (optionally under train/ and test/)


@dataclass(frozen=True)
class ClassificationData:
    """A labelled image set split into train and test.

    x_train, x_test: (N, H, W, C) uint8, C = 1 (grayscale) or 3 (RGB).
    y_train, y_test: (N,) int32 class indices into ``class_names``. The test split may be empty
    (an image folder without a ``test/`` sub-folder); training then validates on a split.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    format: ClassificationFormat

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(int(v) for v in self.x_train.shape[1:])  # type: ignore[return-value]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def detect_format(path: str | Path) -> ClassificationFormat:
    """Which reader fits ``path``; a one-line error listing the expected layouts otherwise."""
    root = Path(path)
    if not root.exists():
        raise EdgeimgError(f"no such dataset folder: {root}")
    if not root.is_dir():
        raise EdgeimgError(f"expected a dataset folder, got a file: {root}")
    names = {p.name for p in root.iterdir()}
    if "data_batch_1" in names and "test_batch" in names:
        return ClassificationFormat.CIFAR
    if _idx_file(root, "train", "images") is not None:
        return ClassificationFormat.IDX
    if _class_folders(root) or _class_folders(root / "train"):
        return ClassificationFormat.FOLDER
    raise EdgeimgError(
        f"{root}: unknown classification data; expected a CIFAR-10 python folder "
        "(data_batch_1..5, test_batch), MNIST-style idx files (train-images-idx3-ubyte[.gz]) "
        f"or one sub-folder of images per class; found {', '.join(sorted(names)[:6]) or 'nothing'}"
    )


def load_classification(
    path: str | Path, image_size: tuple[int, int] | None = None
) -> ClassificationData:
    """Read a classification dataset, auto-detecting its format.

    image_size: (height, width) that image-folder images are resized to (stretch); default:
    the most common size in the folder. CIFAR and idx data keep their own size.
    """
    fmt = detect_format(path)
    root = Path(path)
    if fmt is ClassificationFormat.CIFAR:
        data = read_cifar(root)
    elif fmt is ClassificationFormat.IDX:
        data = read_idx_folder(root)
    else:
        data = read_image_folder(root, image_size)
    log.info(
        "%s data from %s: %d train, %d test images of %s, %d classes",
        fmt.value,
        root,
        len(data.x_train),
        len(data.x_test),
        "x".join(str(v) for v in data.input_shape),
        data.num_classes,
    )
    return data


# -- CIFAR-10 python batches -------------------------------------------------------------------
def read_cifar(root: Path) -> ClassificationData:
    """``cifar-10-batches-py``: pickled batches of 10,000 32x32 RGB images each.

    The batches are read with :class:`RestrictedUnpickler`, which builds only plain data
    (dicts, lists, bytes, numbers, numpy arrays): a file that asks pickle to call anything else
    (``os.system`` ...) is refused before it can run.
    """
    xs, ys = [], []
    for name in CIFAR_BATCHES:
        if (root / name).is_file():
            x, y = _cifar_batch(root / name)
            xs.append(x)
            ys.append(y)
    x_test, y_test = _cifar_batch(root / "test_batch")
    names = tuple(f"class_{i}" for i in range(int(max(y_test.max(), *(y.max() for y in ys))) + 1))
    meta = root / "batches.meta"
    if meta.is_file():
        values = _unpickle(meta)
        labels = values.get(b"label_names") or values.get("label_names")
        if labels:
            names = tuple(v.decode() if isinstance(v, bytes) else str(v) for v in labels)
    return ClassificationData(
        np.concatenate(xs),
        np.concatenate(ys),
        x_test,
        y_test,
        names,
        ClassificationFormat.CIFAR,
    )


class RefusedPickle(pickle.UnpicklingError):
    """The pickle names something other than plain data (see :class:`RestrictedUnpickler`)."""


def _numpy_function(name: str) -> object:
    """numpy's pickle helpers, from ``numpy._core`` (numpy 2) or ``numpy.core`` (numpy 1)."""
    import importlib

    module, _, attr = name.rpartition(".")
    for package in ("numpy._core", "numpy.core"):
        try:
            return getattr(importlib.import_module(f"{package}.{module}"), attr)
        except (ImportError, AttributeError):
            continue
    raise pickle.UnpicklingError(f"numpy has no {name}")


def _latin1_encode(text: str, encoding: str = "utf-8") -> bytes:
    """``_codecs.encode`` as protocol-2 pickles of bytes use it: text codecs only."""
    if codecs.lookup(encoding).name not in ("latin-1", "iso8859-1", "utf-8", "ascii"):
        raise RefusedPickle(f"codec {encoding!r} is not allowed")
    return codecs.encode(text, encoding)


def _safe_dtype(*args: object) -> np.dtype:
    dtype = np.dtype(*args)  # type: ignore[call-overload]
    if dtype.hasobject:
        raise RefusedPickle("arrays of Python objects are not allowed")
    return dtype


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that builds only data: dicts, lists, tuples, bytes/str, ints/floats, and
    numpy arrays and scalars of plain dtypes (numpy's reconstruct functions and ``dtype``).

    Any other global a pickle names (``os.system``, ``builtins.eval``, a class ...) raises
    :class:`RefusedPickle` (a ``pickle.UnpicklingError``) before it is called, so a crafted file cannot run code.
    """

    ALLOWED: dict[tuple[str, str], str] = {
        **{
            (f"{package}.multiarray", name): f"multiarray.{name}"
            for package in ("numpy.core", "numpy._core")
            for name in ("_reconstruct", "scalar")
        },
        ("numpy.core.numeric", "_frombuffer"): "numeric._frombuffer",
        ("numpy._core.numeric", "_frombuffer"): "numeric._frombuffer",
    }

    def find_class(self, module: str, name: str) -> object:
        if (module, name) == ("numpy", "ndarray"):
            return np.ndarray
        if (module, name) == ("numpy", "dtype"):
            return _safe_dtype
        if (module, name) == ("_codecs", "encode"):
            return _latin1_encode
        if (module, name) in self.ALLOWED:
            return _numpy_function(self.ALLOWED[module, name])
        raise RefusedPickle(f"it names {module}.{name}, which is not plain data")


def restricted_load(data: bytes) -> object:
    """Unpickle ``data`` with :class:`RestrictedUnpickler` (bytes stay bytes, as in CIFAR-10's
    Python 2 pickles)."""
    return RestrictedUnpickler(io.BytesIO(data), encoding="bytes").load()


def _unpickle(path: Path) -> dict:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise EdgeimgError(f"{path}: cannot read CIFAR-10 batch: {exc.strerror}") from None
    try:
        values = restricted_load(raw)
    except RefusedPickle as exc:
        raise EdgeimgError(
            f"{path}: refused as a CIFAR-10 python batch: {exc} (only dicts, lists, bytes, "
            "numbers and numpy arrays are read)"
        ) from None
    except Exception as exc:  # a malformed pickle fails in many ways (EOF, bad opcode, ...)
        raise EdgeimgError(
            f"{path}: not a CIFAR-10 python batch: {type(exc).__name__}: {exc}"
        ) from None
    if not isinstance(values, dict):
        raise EdgeimgError(f"{path}: expected a pickled dict, got {type(values).__name__}")
    return values


def _cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    values = _unpickle(path)
    data = values.get(b"data")
    labels = values.get(b"labels")
    if data is None or labels is None:
        raise EdgeimgError(f"{path}: expected keys b'data' and b'labels' in a CIFAR batch")
    data = np.asarray(data, dtype=np.uint8)
    if data.ndim != 2 or data.shape[1] != 3072 or len(data) != len(labels):
        raise EdgeimgError(
            f"{path}: expected data of shape (N, 3072) and N labels, "
            f"got {data.shape} and {len(labels)}"
        )
    x = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)  # planes R, G, B -> NHWC RGB
    return np.ascontiguousarray(x), np.asarray(labels, dtype=np.int32)


# -- MNIST-style idx files ---------------------------------------------------------------------
def _idx_file(root: Path, split: str, kind: str) -> Path | None:
    """train-images-idx3-ubyte[.gz] / t10k-labels-idx1-ubyte[.gz] (also with '.' for '-')."""
    prefix = "train" if split == "train" else "t10k"
    dims = "idx3" if kind == "images" else "idx1"
    for stem in (f"{prefix}-{kind}-{dims}-ubyte", f"{prefix}-{kind}.{dims}-ubyte"):
        for suffix in ("", ".gz"):
            candidate = root / (stem + suffix)
            if candidate.is_file():
                return candidate
    return None


def read_idx(path: Path) -> np.ndarray:
    """One idx file (gzipped or not) -> uint8 array of the shape its header states."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as exc:
        raise EdgeimgError(f"{path}: cannot read idx file: {exc}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise EdgeimgError(f"{path}: not an unsigned-byte idx file (bad magic number)")
    ndim = raw[3]
    shape = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    body = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise EdgeimgError(
            f"{path}: header says {shape} ({int(np.prod(shape))} bytes), file holds {body.size}"
        )
    return body.reshape(shape)


def read_idx_folder(root: Path) -> ClassificationData:
    """MNIST / Fashion-MNIST: images (N, 28, 28) -> (N, 28, 28, 1) uint8 grayscale.

    Class names: ``classes.txt`` (one per line) when present; Fashion-MNIST's names when the
    folder name says fashion; otherwise the digits.
    """
    parts = {}
    for split in ("train", "test"):
        for kind in ("images", "labels"):
            found = _idx_file(root, split, kind)
            if found is None:
                raise EdgeimgError(
                    f"{root}: idx data needs train and t10k images and labels; "
                    f"missing the {split} {kind} file"
                )
            parts[split, kind] = read_idx(found)
    for split in ("train", "test"):
        images, labels = parts[split, "images"], parts[split, "labels"]
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise EdgeimgError(
                f"{root}: {split} images {images.shape} and labels {labels.shape} do not match"
            )
    num_classes = int(max(parts["train", "labels"].max(), parts["test", "labels"].max())) + 1
    names = _names_file(root)
    if names is None:
        fashion = "fashion" in str(root).lower() and num_classes == 10
        names = FASHION_MNIST_CLASSES if fashion else tuple(str(i) for i in range(num_classes))
    return ClassificationData(
        parts["train", "images"][..., None].copy(),
        parts["train", "labels"].astype(np.int32),
        parts["test", "images"][..., None].copy(),
        parts["test", "labels"].astype(np.int32),
        names,
        ClassificationFormat.IDX,
    )


def _names_file(root: Path) -> tuple[str, ...] | None:
    path = root / "classes.txt"
    if not path.is_file():
        return None
    names = tuple(line.strip() for line in path.read_text().splitlines() if line.strip())
    return names or None


# -- image folder ------------------------------------------------------------------------------
def _class_folders(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    return sorted(
        d
        for d in root.iterdir()
        if d.is_dir()
        and not d.name.startswith(".")
        and any(f.suffix.lower() in IMAGE_SUFFIXES for f in d.iterdir())
    )


def read_image_folder(root: Path, image_size: tuple[int, int] | None = None) -> ClassificationData:
    """``root/<class>/*.png`` (or ``root/train/<class>`` + ``root/test/<class>``).

    Images are resized (stretch) to ``image_size`` or the most common size; colour images are
    returned RGB, and the set is grayscale (C = 1) only when every image is.
    """
    split = (root / "train").is_dir() and bool(_class_folders(root / "train"))
    train_root = root / "train" if split else root
    classes = [d.name for d in _class_folders(train_root)]
    if not classes:
        raise EdgeimgError(f"{train_root}: expected one sub-folder of images per class, found none")
    test_root = root / "test"
    if split and test_root.is_dir():
        extra = sorted({d.name for d in _class_folders(test_root)} - set(classes))
        if extra:
            raise EdgeimgError(
                f"{test_root}: classes {', '.join(extra)} are not in {train_root} "
                f"(which has {', '.join(classes)})"
            )
    train_files = _listing(train_root, classes)
    test_files = _listing(test_root, classes) if split and test_root.is_dir() else []
    images = [_read_image(p) for p, _ in train_files + test_files]
    gray = all(img.ndim == 2 for img in images)
    if image_size is None:
        image_size = Counter(img.shape[:2] for img in images).most_common(1)[0][0]
    height, width = image_size
    stack = np.empty((len(images), height, width, 1 if gray else 3), np.uint8)
    for i, img in enumerate(images):
        if img.shape[:2] != (height, width):
            img = cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA)
        if gray:
            stack[i, :, :, 0] = img
        else:
            code = cv2.COLOR_GRAY2RGB if img.ndim == 2 else cv2.COLOR_BGR2RGB
            stack[i] = cv2.cvtColor(img, code)
    labels = np.array([c for _, c in train_files + test_files], dtype=np.int32)
    n = len(train_files)
    return ClassificationData(
        stack[:n], labels[:n], stack[n:], labels[n:], tuple(classes), ClassificationFormat.FOLDER
    )


def _listing(root: Path, classes: list[str]) -> list[tuple[Path, int]]:
    out = []
    for index, name in enumerate(classes):
        folder = root / name
        if folder.is_dir():
            files = sorted(f for f in folder.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
            out.extend((f, index) for f in files)
    return out


def _read_image(path: Path) -> np.ndarray:
    """(H, W) gray or (H, W, 3) BGR uint8."""
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise EdgeimgError(f"{path}: not a readable image")
    if image.dtype != np.uint8:
        image = cv2.convertScaleAbs(image, alpha=255.0 / max(1, int(image.max())))
    if image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    return image
