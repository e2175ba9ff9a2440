"""How to train, as typed values: :class:`FitConfig` and the ``tf.distribute`` strategy kinds.

Kept apart from :mod:`edgeimg.train.fit` so that building the command line needs no Keras.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from edgeimg.runtime.errors import EdgeimgError, parse_enum


class StrategyKind(str, Enum):
    DEFAULT = "default"
    ONE_DEVICE = "one_device"
    MIRRORED = "mirrored"
    MULTI_WORKER = "multi_worker"


@dataclass(frozen=True)
class FitConfig:
    """How to train (the model and the data are chosen elsewhere).

    learning_rate: peak of a cosine schedule after ``warmup_epochs`` of linear warm-up.
    patience: epochs without a better validation loss before stopping (0: never).
    checkpoint_dir: where last.keras, best.keras, state.json and log.jsonl go.
    resume: continue from ``checkpoint_dir/last.keras`` at the epoch in state.json.
    verbose: Keras' progress output (1: a bar per epoch, 2: one line per epoch, 0: none).
    """

    epochs: int = 10
    batch_size: int = 32
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    warmup_epochs: float = 0.0
    patience: int = 0
    seed: int = 0
    strategy: StrategyKind = StrategyKind.DEFAULT
    checkpoint_dir: Path = Path("checkpoints")
    resume: bool = False
    verbose: int = 1

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise EdgeimgError(f"{name}: expected >= 1, got {getattr(self, name)}")
        if self.learning_rate <= 0:
            raise EdgeimgError(f"learning rate: expected > 0, got {self.learning_rate}")
        object.__setattr__(self, "checkpoint_dir", Path(self.checkpoint_dir))
        object.__setattr__(self, "strategy", parse_enum(StrategyKind, self.strategy, "strategy"))
