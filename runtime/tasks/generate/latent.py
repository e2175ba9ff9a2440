"""The generator's input: latent vectors, with the requested class appended as a one-hot.

A generator takes one input ``latent`` of shape (N, latent_dim + C): N draws of z ~ N(0, I)
(``latent_dim`` values), followed for a class-conditional model (``conditional``) by the one-hot
of the requested class among the contract's ``class_names`` (C of them; C = 0 otherwise). One
input keeps the graph a plain feed-forward net that every backend and INT8 quantizer takes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edgeimg.runtime.errors import EdgeimgError

GENERATOR, ENCODER = "generator", "encoder"
ROLES = (GENERATOR, ENCODER)


@dataclass(frozen=True)
class GenerateParams:
    """The contract's ``task_params`` of a generator.

    latent_dim: size of z. conditional: the input ends with a one-hot of the class.
    arch: the family it was trained as (``dcgan``, ``vae``), for ``edgeimg info``.
    image_size: (height, width) of the images it makes (informative; the output says).
    role: ``generator`` (latent in, image out: a GAN generator or a VAE decoder) or
    ``encoder`` (a VAE's encoder: image in, the posterior's ``mean`` and ``log_var`` out; see
    :mod:`~edgeimg.runtime.tasks.generate.encoder`). A contract without it is a generator.
    """

    latent_dim: int = 100
    conditional: bool = False
    arch: str = "dcgan"
    image_size: tuple[int, ...] = ()
    role: str = GENERATOR

    def __post_init__(self) -> None:
        if isinstance(self.latent_dim, bool) or not isinstance(self.latent_dim, int):
            raise EdgeimgError(f"generate latent_dim: expected an integer, got {self.latent_dim!r}")
        if not 1 <= self.latent_dim <= 4096:
            raise EdgeimgError(f"generate latent_dim: expected 1..4096, got {self.latent_dim}")
        size = self.image_size
        if not isinstance(size, (list, tuple)) or any(
            isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in size
        ):
            raise EdgeimgError(f"generate image_size: expected [height, width], got {size!r}")
        object.__setattr__(self, "image_size", tuple(size))
        if self.role not in ROLES:
            raise EdgeimgError(
                f"generate role: expected one of {', '.join(ROLES)}, got {self.role!r}"
            )
        if self.role == ENCODER and len(size) != 2:
            raise EdgeimgError(
                f"generate image_size: an encoder needs [height, width], got {size!r}"
            )
        if not isinstance(self.conditional, bool):
            raise EdgeimgError(
                f"generate conditional: expected true/false, got {self.conditional!r}"
            )

    def input_dim(self, num_classes: int) -> int:
        """Width of the model's input: z, then the one-hot when conditional."""
        return self.latent_dim + (num_classes if self.conditional else 0)


def class_index(name: str | int, class_names: Sequence[str]) -> int:
    """A class by name (case-insensitive, also without spaces/punctuation) or by index."""
    if isinstance(name, int) or str(name).strip().isdigit():
        index = int(name)
        if 0 <= index < len(class_names):
            return index
    else:

        def key(text: str) -> str:
            return "".join(ch for ch in text.lower() if ch.isalnum())

        wanted = key(str(name))
        for i, known in enumerate(class_names):
            if key(known) == wanted or key(known).rstrip("s") == wanted.rstrip("s"):
                return i
    valid = ", ".join(f"{i}={n}" for i, n in enumerate(class_names)) or "none"
    raise EdgeimgError(f"--class: this model has no class {name!r}; valid: {valid}")


def sample_z(count: int, latent_dim: int, seed: int | None) -> np.ndarray:
    """(count, latent_dim) float32 draws of N(0, I) (the same seed gives the same draws)."""
    if count < 1:
        raise EdgeimgError(f"count: expected >= 1 images, got {count}")
    return np.random.default_rng(seed).standard_normal((count, latent_dim), dtype=np.float32)


def model_input(
    z: np.ndarray, labels: np.ndarray | None, params: GenerateParams, num_classes: int
) -> np.ndarray:
    """(N, latent_dim) z and (N,) class indices -> (N, input_dim) float32 model input.

    labels are needed exactly when the model is conditional.
    """
    z = np.asarray(z, np.float32)
    if z.ndim != 2 or z.shape[1] != params.latent_dim:
        raise EdgeimgError(
            f"latent vectors: expected (N, {params.latent_dim}), got shape {tuple(z.shape)}"
        )
    if not params.conditional:
        if labels is not None:
            raise EdgeimgError("--class: this generator is not class-conditional")
        return np.ascontiguousarray(z)
    if labels is None:
        raise EdgeimgError("labels: a class-conditional generator needs a class per image")
    labels = np.asarray(labels, np.int64).reshape(-1)
    if len(labels) != len(z) or labels.min(initial=0) < 0 or labels.max(initial=0) >= num_classes:
        raise EdgeimgError(
            f"labels: expected {len(z)} class indices in 0..{num_classes - 1}, got {labels[:8]}"
        )
    one_hot = np.eye(num_classes, dtype=np.float32)[labels]
    return np.concatenate([z, one_hot], axis=1)


def sample_inputs(
    params: GenerateParams, num_classes: int, count: int, seed: int | None = 0
) -> np.ndarray:
    """``count`` model inputs: z ~ N(0, I), classes cycling 0..C-1 when conditional (the
    parity gate's and INT8 calibration's inputs)."""
    z = sample_z(count, params.latent_dim, seed)
    labels = np.arange(count) % num_classes if params.conditional else None
    return model_input(z, labels, params, num_classes)


def slerp(a: np.ndarray, b: np.ndarray, steps: int) -> np.ndarray:
    """(steps, D) points on the great circle from ``a`` to ``b`` (spherical interpolation keeps
    Gaussian draws at a typical norm, where a straight line would pass near the origin)."""
    if steps < 2:
        raise EdgeimgError(f"--frames: expected >= 2, got {steps}")
    t = np.linspace(0.0, 1.0, steps, dtype=np.float64)[:, None]
    a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
    cos = float(np.dot(a64, b64) / (np.linalg.norm(a64) * np.linalg.norm(b64) + 1e-12))
    omega = float(np.arccos(np.clip(cos, -1.0, 1.0)))
    out: np.ndarray
    if omega < 1e-6:
        out = (1 - t) * a64 + t * b64
    else:
        out = (np.sin((1 - t) * omega) * a64 + np.sin(t * omega) * b64) / np.sin(omega)
    return out.astype(np.float32)
