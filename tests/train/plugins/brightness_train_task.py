"""A tiny train task defined outside edgeimg (docs/adding-a-task.md): ``brightness``.

``edgeimg train brightness FOLDER -o OUT.json`` "trains" the runtime plugin's brightness task:
it measures the mean pixel value of the folder's images and writes it as JSON. It needs no
TensorFlow; what it shows is the seam: a folder's parser and run, registered by name, mounted by
the generic ``edgeimg train`` without a change there.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from edgeimg.runtime.errors import EdgeimgError
from edgeimg.train.options import write_json
from edgeimg.train.tasks import TrainTask


def mean_brightness(folder: Path) -> float:
    """Mean pixel value (0..255) over the ``.png`` images of ``folder``."""
    files = sorted(Path(folder).glob("*.png"))
    if not files:
        raise EdgeimgError(f"{folder}: expected .png images, found none")
    return float(np.mean([cv2.imread(str(f), cv2.IMREAD_GRAYSCALE).mean() for f in files]))


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("brightness", help="mean brightness of a folder (test task)")
    parser.add_argument("data", help="folder of .png images")
    parser.add_argument("-o", "--output", required=True, metavar="OUT.json")
    return parser


def run(args: argparse.Namespace) -> int:
    value = mean_brightness(Path(args.data))
    write_json(args.output, {"task": "brightness", "mean": value})
    print(f"mean brightness {value:.1f}")
    return 0


TRAIN_TASK = TrainTask(
    name="brightness",
    add_parser=add_parser,
    run=run,
    description="mean brightness of a folder of images (the docs' tiny task)",
)
