"""What a task gives the generic runtime: :class:`TaskSpec`, and the protocols of its parts.

The runtime's generic code (model loading, the pipeline, sinks, the CLI) never branches on a
task name: it asks the task's spec for its decoders, how to draw and record a result, the
stages that follow decoding (the tracker for detect) and the extra file formats it writes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from edgeimg.runtime.decoder import Decoder
from edgeimg.runtime.errors import EdgeimgError, typed_params
from edgeimg.runtime.preprocess import Transform, prepare

if TYPE_CHECKING:
    from edgeimg.runtime.contract import ModelContract
    from edgeimg.runtime.sinks import Sink


class Annotator(Protocol):
    """Draws a task's result on its frame; may keep state between frames (trails)."""

    def update(self, image_bgr: np.ndarray, result: Any) -> np.ndarray:
        """A new (H, W, 3) uint8 BGR image showing ``result`` on ``image_bgr``."""

    def reset(self) -> None: ...


class Stage(Protocol):
    """A step after decoding that turns one result into the next (the tracker)."""

    def update(self, result: Any, timestamp: float) -> Any: ...

    def reset(self) -> None: ...


Prepare = Callable[[np.ndarray, "ModelContract"], tuple[np.ndarray, Transform]]


def no_stages(contract: ModelContract) -> list[Stage]:
    return []


@dataclass(frozen=True)
class TaskSpec:
    """One task as the runtime knows it.

    name: the contract's ``task``. result_type: what ``Model.predict`` returns.
    decoders: decoder name -> Decoder class; the first is the default.
    record: (result, class_names) -> the JSON-ready fields of one frame's result (the
        JSON-lines sink adds ``frame`` and ``timestamp``).
    annotator: contract -> a fresh Annotator for a run.
    has_classes: the contract must list class names.
    params_type: typed dataclass of the contract's ``task_params`` (None: the task has none).
    stages: contract -> the stages run after decoding (``edgeimg predict``; ``track`` builds the
        detect task's tracker with the user's overrides).
    sinks: extra output formats by file suffix (``.txt`` -> MOTChallenge for detect, ``.csv`` ->
        top-k table for classify): (path, contract) -> Sink.
    prepare: (image, contract) -> (input tensor, Transform); the default resizes and normalises
        an image as the contract says.
    bundled_model: file name of the task's default model in ``runtime/assets/`` ("" if none).
    image_input: the model takes a frame (False: generators, whose input is a latent vector;
        ``load_model`` and ``edgeimg predict`` refuse them, the task runs them its own way).
    """

    name: str
    result_type: type
    decoders: Mapping[str, type[Decoder]]
    record: Callable[[Any, tuple[str, ...]], dict[str, Any]]
    annotator: Callable[[ModelContract], Annotator]
    has_classes: bool = True
    params_type: type | None = None
    stages: Callable[[ModelContract], list[Stage]] = no_stages
    sinks: Mapping[str, Callable[[Path, ModelContract], Sink]] = field(default_factory=dict)
    prepare: Prepare = prepare
    description: str = ""
    bundled_model: str = ""
    image_input: bool = True

    @property
    def default_decoder(self) -> str:
        return next(iter(self.decoders))

    def params(self, contract: ModelContract) -> Any:
        """The contract's task_params as ``params_type`` (defaults for missing keys)."""
        if self.params_type is None:
            if contract.task_params:
                raise EdgeimgError(
                    f"contract task_params: task {self.name} has none, "
                    f"got {', '.join(map(str, contract.task_params))}"
                )
            return None
        return typed_params(self.params_type, contract.task_params, "contract task_params")

    def decoder_type(self, contract: ModelContract) -> type[Decoder]:
        name = contract.decoder or self.default_decoder
        try:
            return self.decoders[name]
        except KeyError:
            raise EdgeimgError(
                f"contract decoder: task {self.name} expects one of "
                f"{', '.join(self.decoders)}, got {name!r}"
            ) from None

    def check_contract(self, contract: ModelContract) -> None:
        """Raise a one-line error unless the contract's task-specific parts are valid."""
        from edgeimg.runtime.contract import ContractError

        try:
            if self.has_classes and not contract.class_names:
                raise EdgeimgError(
                    f"contract class_names: task {self.name} expects at least one, got none"
                )
            self.decoder_type(contract).from_contract(contract)
            self.params(contract)
        except ContractError:
            raise
        except EdgeimgError as exc:
            raise ContractError(str(exc)) from None
