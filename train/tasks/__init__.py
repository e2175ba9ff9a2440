"""The task registry of training: task name -> :class:`TrainTask`.

Each task lives in one folder, ``train/tasks/<task>/``, with its readers, augmentation, model
families, losses, targets, evaluation and the contract it writes; its ``__init__.py`` ends with
``register_train_task(TrainTask(...))``, and its name goes into :data:`BUILTIN` (the one line a
new task adds here). ``edgeimg train`` builds one sub-command per registered task (plus the
extra commands a task owns, such as detect's ``evaluate``) and never branches on a task name.

The task's name is the runtime's (``edgeimg.runtime.tasks``): it is the ``task`` its contracts
carry. Another package adds a task through the entry point group ``edgeimg.train_tasks``; each
entry names a module (registered on import) or a :class:`TrainTask`::

    [project.entry-points."edgeimg.train_tasks"]
    depth = "mypkg.depth_train:TRAIN_TASK"

Importing this package and loading the registry is cheap (no TensorFlow, no Keras): a task's
``__init__`` imports only its argparse module; the heavy imports happen when a command runs.
"""

from __future__ import annotations

import argparse
import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from edgeimg.runtime.errors import EdgeimgError
from edgeimg.runtime.registry import Registry

log = logging.getLogger(__name__)

BUILTIN = ("classify", "detect", "segment", "upscale", "generate", "stylize")
ENTRY_POINT_GROUP = "edgeimg.train_tasks"

#: ``argparse``'s sub-parsers object (``parser.add_subparsers()``), what ``add_parser`` takes.
SubParsers = Any
AddParser = Callable[[SubParsers], argparse.ArgumentParser]
Run = Callable[[argparse.Namespace], int]


@dataclass(frozen=True)
class TrainCommand:
    """One sub-command of ``edgeimg train``.

    name: the sub-command. add_parser(subparsers): adds the parser named ``name`` and returns
    it (its arguments, help and examples). run(args): parses the namespace into the task's
    typed config, makes one library call, prints the figures; returns the exit code.
    """

    name: str
    add_parser: AddParser
    run: Run


@dataclass(frozen=True)
class TrainTask:
    """What a task gives ``edgeimg train``.

    name: the registered task name (the runtime's, the contract's ``task``) and the
    sub-command ``edgeimg train <name>``. add_parser / run: that sub-command
    (see :class:`TrainCommand`). extra_commands: further sub-commands the task owns (detect:
    ``evaluate``). keras_modules: modules that register the task's custom Keras objects
    (losses, layers), imported before a ``.keras`` file is loaded. description: one line.
    """

    name: str
    add_parser: AddParser
    run: Run
    extra_commands: tuple[TrainCommand, ...] = ()
    keras_modules: tuple[str, ...] = ()
    description: str = ""

    def __post_init__(self) -> None:
        if not self.name or not self.name.replace("_", "").isalnum():
            raise EdgeimgError(
                f"train task name: expected a word such as 'detect', got {self.name!r}"
            )

    @property
    def commands(self) -> tuple[TrainCommand, ...]:
        """The task's own sub-command first, then its extra ones."""
        return (TrainCommand(self.name, self.add_parser, self.run), *self.extra_commands)


TRAIN_TASKS: Registry[TrainTask] = Registry(
    "train task",
    group=ENTRY_POINT_GROUP,
    builtin=tuple(f"{__name__}.{name}" for name in BUILTIN),
)


def register_train_task(task: TrainTask) -> TrainTask:
    """Add ``task`` to the registry (a task registered twice keeps the newest)."""
    return TRAIN_TASKS.register(task.name, task)


def get_train_task(name: str) -> TrainTask:
    """The registered train task ``name``, or a one-line error listing the registered ones."""
    return TRAIN_TASKS.get(name)


def train_task_names() -> tuple[str, ...]:
    """The registered train tasks: the built-in ones first."""
    return TRAIN_TASKS.names()


def train_commands() -> tuple[TrainCommand, ...]:
    """Every sub-command of ``edgeimg train``, task by task.

    A sub-command name already taken by an earlier task (the built-in ones come first) is left
    out with a warning (a plug-in must not break the command line of the others).
    """
    owners: dict[str, str] = {}
    commands = []
    builtin_first = sorted(TRAIN_TASKS.values(), key=lambda task: task.name not in BUILTIN)
    for task in builtin_first:
        for command in task.commands:
            if command.name in owners:
                log.warning(
                    "train task %s: sub-command %r left out, task %s already has it",
                    task.name,
                    command.name,
                    owners[command.name],
                )
                continue
            owners[command.name] = task.name
            commands.append(command)
    return tuple(commands)


def import_keras_objects() -> None:
    """Import every registered task's ``keras_modules`` (custom losses and layers), so that
    ``keras.models.load_model(..., safe_mode=True)`` finds them."""
    for task in TRAIN_TASKS.values():
        for module in task.keras_modules:
            importlib.import_module(module)


__all__ = [
    "BUILTIN",
    "ENTRY_POINT_GROUP",
    "TRAIN_TASKS",
    "TrainCommand",
    "TrainTask",
    "get_train_task",
    "import_keras_objects",
    "register_train_task",
    "train_commands",
    "train_task_names",
]
