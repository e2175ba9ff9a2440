"""`edgeimg train TASK`: one sub-command per registered train task (``edgeimg.train.tasks``).

Each task's folder gives its sub-commands (parser and run: parse -> typed config -> one
library call); this module only mounts them, so a new task needs no change here.
"""

from __future__ import annotations

import argparse
import sys

from edgeimg.train.tasks import train_commands, train_task_names


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "train",
        help="train a model for a registered task (Keras 3, tf.data, tf.distribute)",
        description=f"Train a model for one of the registered tasks ({', '.join(train_task_names())}) "
        "on your data, and write a .keras file that carries its contract (class names, input "
        "size, decoder) for `edgeimg export`. Needs the [train] extra.",
    )
    tasks = parser.add_subparsers(dest="task", metavar="TASK")
    parser.set_defaults(run=lambda args: _missing_task(parser))
    for command in train_commands():
        command.add_parser(tasks).set_defaults(run=command.run)


def _missing_task(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2
