"""The task registry of export: task name -> :class:`ExportTask`.

Built in: ``detect`` (``export/tasks/detect.py``) and ``classify`` (``export/tasks/classify.py``),
each giving the output check, the parity gate's agreement metric, the nodes INT8 keeps in float
and the held-out evaluator. A task added to the runtime (``edgeimg.runtime.tasks``) becomes
exportable with one module here ending in ``TASK = ExportTask(...)`` and its name in
the registry's built-in list, or, from another package, ``register_export_task`` / the entry point group
``edgeimg.export_tasks`` (an entry names an :class:`ExportTask`)::

    [project.entry-points."edgeimg.export_tasks"]
    depth = "mypkg.depth_export:TASK"
"""

from __future__ import annotations

from edgeimg.export.tasks.base import Agreement, ExportTask
from edgeimg.runtime.errors import EdgeimgError
from edgeimg.runtime.registry import Registry


def _no_export(message: str) -> EdgeimgError:
    return EdgeimgError(f"export: {message} (a task without export support)")


EXPORT_TASKS: Registry[ExportTask] = Registry(
    "task",
    group="edgeimg.export_tasks",
    builtin=(
        "edgeimg.export.tasks.detect",
        "edgeimg.export.tasks.classify",
        "edgeimg.export.tasks.segment",
        "edgeimg.export.tasks.upscale",
        "edgeimg.export.tasks.generate",
        "edgeimg.export.tasks.stylize",
    ),
    error=_no_export,
)


def register_export_task(task: ExportTask) -> ExportTask:
    """Add ``task`` to the registry (a name registered twice keeps the newest)."""
    return EXPORT_TASKS.register(task.name, task)


def get_export_task(name: str) -> ExportTask:
    """The export side of task ``name``, or a one-line error listing the exportable tasks."""
    return EXPORT_TASKS.get(name)


def export_task_names() -> tuple[str, ...]:
    return EXPORT_TASKS.names()


__all__ = [
    "Agreement",
    "ExportTask",
    "export_task_names",
    "get_export_task",
    "register_export_task",
]
