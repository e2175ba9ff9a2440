"""The generate task: images from latent vectors (GAN generators, VAE decoders).

Unlike the other tasks a generator takes no image: its one input ``latent`` is (N, latent_dim)
z ~ N(0, I), followed by the one-hot of the class for a class-conditional model
(:mod:`~edgeimg.runtime.tasks.generate.latent`). Output ``image``: (N, H, W, C) in -1..1 (tanh);
decoder ``tanh`` maps it to uint8. Contract: ``task: generate``, ``resize: none``, channels and
colour order of the output image, ``task_params``: :class:`GenerateParams`. Run it with
:func:`load_generator` (``edgeimg generate``); ``load_model``/``edgeimg predict`` refuse it.

A VAE's encoder is the same task with ``role: encoder`` and decoder ``posterior`` (image in,
posterior mean out: :mod:`~edgeimg.runtime.tasks.generate.encoder`): with the VAE's decoder it
reconstructs real images and walks between them (``edgeimg generate --encoder``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgeimg.runtime.tasks import register_task
from edgeimg.runtime.tasks.base import TaskSpec
from edgeimg.runtime.tasks.generate.encoder import (
    Encoder,
    PosteriorDecoder,
    Reconstruction,
    load_encoder,
    read_image,
    reconstruct,
)
from edgeimg.runtime.tasks.generate.generator import Generator, load_generator
from edgeimg.runtime.tasks.generate.images import Generated, TanhDecoder, grid, to_uint8
from edgeimg.runtime.tasks.generate.latent import GenerateParams, sample_inputs

BUNDLED_MODEL = "generate_fmnist.onnx"


def generate_record(result: Generated, class_names: tuple[str, ...]) -> dict[str, Any]:
    """``{"count": 64, "labels": ["Sneaker", ...]}``."""
    labels = [class_names[i] if 0 <= i < len(class_names) else None for i in result.labels]
    return {"count": len(result), "labels": labels}


class GeneratedGrid:
    """The picture of a generated batch: its grid."""

    def update(self, image_bgr: np.ndarray, result: Generated) -> np.ndarray:
        return grid(result.images)

    def reset(self) -> None:
        """No state between batches."""


TASK = register_task(
    TaskSpec(
        name="generate",
        result_type=Generated,
        decoders={TanhDecoder.name: TanhDecoder, PosteriorDecoder.name: PosteriorDecoder},
        record=generate_record,
        annotator=lambda contract: GeneratedGrid(),
        has_classes=False,
        params_type=GenerateParams,
        description="image generation from latent vectors (GAN, VAE decoder; VAE encoder)",
        bundled_model=BUNDLED_MODEL,
        image_input=False,
    )
)

__all__ = [
    "TASK",
    "Encoder",
    "GenerateParams",
    "Generated",
    "Generator",
    "Reconstruction",
    "grid",
    "load_encoder",
    "load_generator",
    "read_image",
    "reconstruct",
    "sample_inputs",
    "to_uint8",
]
