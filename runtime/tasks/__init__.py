"""The task registry of the runtime: task name -> :class:`TaskSpec`.

Built in: ``detect``, ``classify``, ``segment``, ``upscale``, ``generate`` and ``stylize``
(``runtime/tasks/<name>/``).
A task lives in one folder that ends with ``register_task(TaskSpec(...))``. Another package can
add a task without touching edgeimg through the entry point group ``edgeimg.tasks``; each entry
names a module (registered on import) or a TaskSpec::

    [project.entry-points."edgeimg.tasks"]
    depth = "mypkg.depth:TASK"
"""

from __future__ import annotations

from edgeimg.runtime.contract import ContractError, ModelContract
from edgeimg.runtime.decoder import Decoder
from edgeimg.runtime.registry import Registry
from edgeimg.runtime.tasks.base import Annotator, Stage, TaskSpec

TASKS: Registry[TaskSpec] = Registry(
    "contract task",
    group="edgeimg.tasks",
    builtin=(
        "edgeimg.runtime.tasks.detect",
        "edgeimg.runtime.tasks.classify",
        "edgeimg.runtime.tasks.segment",
        "edgeimg.runtime.tasks.upscale",
        "edgeimg.runtime.tasks.generate",
        "edgeimg.runtime.tasks.stylize",
    ),
    error=ContractError,
)


def register_task(spec: TaskSpec) -> TaskSpec:
    """Add ``spec`` to the registry under its name (a task registered twice keeps the newest)."""
    return TASKS.register(spec.name, spec)


def get_task(name: str) -> TaskSpec:
    """The registered task ``name``, or a one-line ContractError listing the registered ones."""
    return TASKS.get(name)


def create_decoder(contract: ModelContract) -> Decoder:
    """The decoder the contract names (or its task's default), configured by decoder_params."""
    return get_task(contract.task).decoder_type(contract).from_contract(contract)


def task_names() -> tuple[str, ...]:
    return TASKS.names()


__all__ = [
    "TASKS",
    "Annotator",
    "Stage",
    "TaskSpec",
    "create_decoder",
    "get_task",
    "register_task",
    "task_names",
]
