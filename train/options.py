"""Command-line options every ``edgeimg train <task>`` shares, and their typed values.

A task's ``cli`` module adds :func:`add_fit_arguments` to its parser and turns the namespace into
a :class:`~edgeimg.train.config.FitConfig` with :func:`fit_config`; the library below never sees
the namespace. No Keras here: building the command line stays cheap.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from edgeimg.runtime.atomic import write_text
from edgeimg.runtime.errors import EdgeimgError
from edgeimg.train.config import FitConfig, StrategyKind


def add_fit_arguments(parser: argparse.ArgumentParser, epochs: int, batch: int, lr: float) -> None:
    """``-o OUT.keras`` and the training options, with the task's defaults for epochs, batch
    size and learning rate."""
    parser.add_argument("-o", "--output", required=True, metavar="OUT.keras", help="model file")
    fit = parser.add_argument_group("training")
    fit.add_argument("--epochs", type=int, default=epochs, help=f"epochs (default {epochs})")
    fit.add_argument("--batch-size", type=int, default=batch, help=f"default {batch}")
    fit.add_argument("--lr", type=float, default=lr, help=f"peak learning rate (default {lr})")
    fit.add_argument(
        "--width", type=float, default=1.0, help="channel width multiplier (default 1.0)"
    )
    fit.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    fit.add_argument(
        "--patience",
        type=int,
        default=0,
        help="stop after this many epochs without a better validation loss (default 0: never)",
    )
    fit.add_argument(
        "--strategy",
        choices=[kind.value for kind in StrategyKind],
        default=StrategyKind.DEFAULT.value,
        help="tf.distribute strategy: one_device, mirrored (all GPUs here), multi_worker "
        "(hosts listed in TF_CONFIG; run the same command on each) (default: TensorFlow's)",
    )
    fit.add_argument(
        "--checkpoints",
        metavar="DIR",
        help="checkpoint folder: last.keras, best.keras, state.json, log.jsonl "
        "(default: OUT_checkpoints beside the output)",
    )
    fit.add_argument(
        "--resume", action="store_true", help="continue from the checkpoint folder's last.keras"
    )
    fit.add_argument("--num-classes", type=int, help="refuse data with another class count")
    fit.add_argument(
        "--classes", metavar="A,B,...", help="refuse data with other class names (in order)"
    )
    fit.add_argument(
        "--json", metavar="FILE", help="also write the final figures to this JSON file"
    )


def fit_config(args: argparse.Namespace, warmup: float, weight_decay: float) -> FitConfig:
    """The :class:`FitConfig` of :func:`add_fit_arguments`' options (checkpoints default to
    ``OUT_checkpoints`` beside the output; a bar per epoch on a terminal, a line otherwise)."""
    output = Path(args.output)
    checkpoints = Path(args.checkpoints or output.with_name(output.stem + "_checkpoints"))
    return FitConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        weight_decay=weight_decay,
        warmup_epochs=warmup,
        patience=args.patience,
        seed=args.seed,
        strategy=args.strategy,
        checkpoint_dir=checkpoints,
        resume=args.resume,
        verbose=1 if sys.stdout.isatty() else 2,
    )


def class_names(args: argparse.Namespace) -> tuple[str, ...] | None:
    """``--classes A,B`` as a tuple of names, or None."""
    return tuple(c.strip() for c in args.classes.split(",")) if args.classes else None


def parse_size(text: str, what: str = "input size") -> tuple[int, int]:
    """``"288x384"`` -> (288, 384): height, width."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX,]\s*(\d+)\s*", text or "")
    if not match:
        raise EdgeimgError(f"{what}: expected HEIGHTxWIDTH such as 288x384, got {text!r}")
    return int(match.group(1)), int(match.group(2))


def quiet_tensorflow() -> None:
    """Keep TensorFlow's C++ start-up chatter off the terminal (unless the user set a level)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def write_json(path: str | None, values: Mapping[str, Any]) -> None:
    """``--json FILE``: the figures as indented JSON, written atomically; nothing without a path."""
    if path:
        write_text(path, json.dumps(values, indent=2), "--json")
