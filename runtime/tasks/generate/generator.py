"""A loaded generator: latent vectors in, images out, on any registered backend.

::

    gen = load_generator()                       # the bundled Fashion-MNIST generator
    batch = gen.generate(16, cls="sneaker", seed=0)   # Generated: (16, 28, 28, 1) uint8
    walk = gen.interpolate(seed_a=1, seed_b=2, frames=60, cls="dress")
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from edgeimg.runtime.backends import Backend, Device, create_backend
from edgeimg.runtime.backends.base import check_model_file
from edgeimg.runtime.contract import ContractError, ModelContract
from edgeimg.runtime.tasks import get_task
from edgeimg.runtime.tasks.generate.images import Generated, TanhDecoder
from edgeimg.runtime.tasks.generate.latent import (
    ENCODER,
    GENERATOR,
    GenerateParams,
    class_index,
    model_input,
    sample_z,
    slerp,
)

log = logging.getLogger(__name__)

DEFAULT_BATCH = 64


class Generator:
    """An ONNX generator with its contract. Build it with :func:`load_generator`."""

    def __init__(self, path: Path, contract: ModelContract, backend: Backend) -> None:
        self.path = path
        self.contract = contract
        self.backend = backend
        self.params: GenerateParams = get_task("generate").params(contract)
        self.class_names = contract.class_names
        self.decoder = TanhDecoder.from_contract(contract)
        self.input_name = backend.inputs[0].name
        self.output_name = (contract.output_names or self.decoder.default_output_names)[0]
        self.batch_size = DEFAULT_BATCH
        width = backend.inputs[0].shape[-1]
        expected = self.params.input_dim(len(self.class_names))
        if len(backend.inputs[0].shape) != 2 or width not in (None, expected):
            raise ContractError(
                f"model {path}: the contract (latent_dim {self.params.latent_dim}, "
                f"{len(self.class_names) if self.params.conditional else 0} classes) expects "
                f"input (N, {expected}), the model declares {backend.inputs[0].describe()}"
            )

    def __repr__(self) -> str:
        kind = "conditional " if self.params.conditional else ""
        return f"Generator({self.path.name}, {kind}{self.params.arch}, {self.backend.description})"

    def labels(self, cls: str | int | None, count: int) -> np.ndarray | None:
        """Class per image: ``cls`` for all, or cycling through the classes (conditional models);
        None for an unconditional model (where ``cls`` is an error)."""
        if not self.params.conditional:
            if cls is not None:
                raise ContractError(
                    f"--class: {self.path.name} is not class-conditional (it draws any class)"
                )
            return None
        if cls is None:
            return np.arange(count) % len(self.class_names)
        return np.full(count, class_index(cls, self.class_names))

    def run(self, inputs: np.ndarray) -> np.ndarray:
        """(N, input_dim) float32 -> (N, H, W, C) uint8, in batches of ``batch_size``."""
        chunks = [
            self.decoder(
                [
                    self.backend.run({self.input_name: inputs[i : i + self.batch_size]})[
                        self.output_name
                    ]
                ]
            )
            for i in range(0, len(inputs), self.batch_size)
        ]
        return np.concatenate(chunks)

    def generate(
        self, count: int, cls: str | int | None = None, seed: int | None = None
    ) -> Generated:
        """``count`` images from z ~ N(0, I) drawn with ``seed`` (of class ``cls``)."""
        z = sample_z(count, self.params.latent_dim, seed)
        labels = self.labels(cls, count)
        images = self.run(model_input(z, labels, self.params, len(self.class_names)))
        return Generated(images, labels if labels is not None else np.full(count, -1), z)

    def decode(self, z: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
        """Given latents (N, latent_dim) (an encoder's posterior means) and, for a conditional
        model, (N,) class indices -> (N, H, W, C) uint8 images."""
        return self.run(model_input(z, labels, self.params, len(self.class_names)))

    def interpolate(
        self,
        seed_a: int,
        seed_b: int,
        frames: int,
        cls: str | int | None = None,
        cls_b: str | int | None = None,
    ) -> Iterator[np.ndarray]:
        """The images along the spherical path from z(seed_a) to z(seed_b), one (H, W, C) uint8
        image at a time; conditional models also blend the one-hot from ``cls`` to ``cls_b``."""
        a = sample_z(1, self.params.latent_dim, seed_a)[0]
        b = sample_z(1, self.params.latent_dim, seed_b)[0]
        return self.walk(a, b, frames, cls, cls_b)

    def walk(
        self,
        a: np.ndarray,
        b: np.ndarray,
        frames: int,
        cls: str | int | None = None,
        cls_b: str | int | None = None,
    ) -> Iterator[np.ndarray]:
        """The images along the spherical path from latent ``a`` to ``b`` (latent_dim,) each
        (two seeds' draws, or two real images' posterior means), one (H, W, C) uint8 image at
        a time; conditional models also blend the one-hot from ``cls`` to ``cls_b``."""
        z = slerp(a, b, frames)
        if self.params.conditional:
            start, end = self.labels(cls, 1), self.labels(cls if cls_b is None else cls_b, 1)
            assert start is not None and end is not None
            eye = np.eye(len(self.class_names), dtype=np.float32)
            t = np.linspace(0.0, 1.0, frames, dtype=np.float32)[:, None]
            inputs = np.concatenate([z, (1 - t) * eye[start[0]] + t * eye[end[0]]], axis=1)
        else:
            inputs = model_input(z, None, self.params, 0)
        for start_row in range(0, frames, self.batch_size):
            yield from self.run(inputs[start_row : start_row + self.batch_size])


# What a model of another task or the other VAE half is told, per role asked for.
WRONG_MODEL = {
    GENERATOR: (
        "a {task} model, not a generator; run it with `edgeimg predict` (generate takes models "
        "whose task is generate)",
        "a VAE {role} (image in, latent out), not a generator; pass it as --encoder beside the "
        "generator (the VAE's decoder)",
    ),
    ENCODER: (
        "a {task} model, not a VAE encoder (expected the OUT.encoder.keras of `edgeimg train "
        "generate --arch vae`, exported)",
        "a {role} (latent in, image out), not an encoder; pass it as MODEL and the exported "
        "OUT.encoder.keras as --encoder",
    ),
}


def open_generate_model(
    path: str | Path, role: str, backend: str, device: Device | str, threads: int | None
) -> tuple[Path, ModelContract, Backend]:
    """The file, contract and backend of a generate-task model in ``role`` (a generator or a
    VAE encoder); a one-line error for a model of another task or the other role."""
    from edgeimg.runtime.model import resolve_contract

    path = check_model_file(path)
    runner = create_backend(path, backend, device, threads)
    contract = resolve_contract(path, runner.metadata, None, runner.inputs, runner.outputs)
    other_task, other_role = WRONG_MODEL[role]
    if contract.task != "generate":
        raise ContractError(f"model {path}: " + other_task.format(task=contract.task))
    spec = get_task("generate")
    spec.check_contract(contract)
    found = spec.params(contract).role
    if found != role:
        raise ContractError(f"model {path}: " + other_role.format(role=found))
    return path, contract, runner


def load_generator(
    path: str | Path | None = None,
    backend: str = "onnxruntime",
    device: Device | str = Device.CPU,
    threads: int | None = None,
) -> Generator:
    """Load a generator (the bundled one when ``path`` is None); a one-line error for a model
    of another task, naming the command that runs it."""
    from edgeimg.runtime.model import bundled_model_path

    where = path if path is not None else bundled_model_path("generate")
    path, contract, runner = open_generate_model(where, GENERATOR, backend, device, threads)
    generator = Generator(path, contract, runner)
    log.info("generator %s runs on %s", path.name, runner.description)
    return generator
