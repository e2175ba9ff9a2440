"""Export of the generate task: a latent-vector input, parity on fixed latents, FID-FMNIST as
the INT8 gate's metric.

Input: ``latent`` (N, latent_dim [+ classes]) instead of an image (``sample_inputs`` draws the
parity and calibration inputs: z ~ N(0, I) with seeds 0 and 1, classes cycling). Parity: an
image agrees when its largest pixel difference (0..255 after the tanh decoder) is at most
:data:`PARITY_PIXELS`. INT8: the evaluator generates images from fixed latents and scores their
FID-FMNIST against held-out real images (:mod:`edgeimg.export.fid`; lower is better, so the
gate's budget is in FID units).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from edgeimg.export.evaluation import HeldOut, Infer
from edgeimg.export.fid import Judge, frechet_distance
from edgeimg.export.tasks import register_export_task
from edgeimg.export.tasks.base import Agreement, ExportTask, Outputs, Shape
from edgeimg.runtime.contract import ModelContract
from edgeimg.runtime.errors import EdgeimgError
from edgeimg.runtime.tasks import get_task
from edgeimg.runtime.tasks.generate.images import to_uint8
from edgeimg.runtime.tasks.generate.latent import GenerateParams, sample_inputs

PARITY_PIXELS = 2  # of 255
EVAL_IMAGES = 10_000
EVAL_SEED = 1234


def params_of(contract: ModelContract) -> GenerateParams:
    params: GenerateParams = get_task("generate").params(contract)
    return params


def check_outputs(shapes: Mapping[str, Shape], contract: ModelContract, source: str) -> None:
    """One image output (H, W, C) with the contract's channel count."""
    name = contract.output_names[0]
    shape = shapes.get(name)
    if shape is not None and (len(shape) != 3 or shape[-1] not in (None, contract.channels)):
        raise EdgeimgError(
            f"{source}: output {name!r} has shape {shape}, expected (H, W, {contract.channels})"
        )


def input_shape(contract: ModelContract) -> tuple[int, ...]:
    """The model input without its batch axis: (latent_dim [+ classes],)."""
    return (params_of(contract).input_dim(len(contract.class_names)),)


def model_inputs(contract: ModelContract, count: int, seed: int) -> np.ndarray:
    return sample_inputs(params_of(contract), len(contract.class_names), count, seed)


def pixel_agreement(got: Outputs, ref: Outputs, contract: ModelContract) -> Agreement:
    """Fraction of images whose decoded pixels differ by at most PARITY_PIXELS."""
    name = contract.output_names[0]
    a, b = to_uint8(got[name]).astype(np.int16), to_uint8(ref[name]).astype(np.int16)
    worst = np.abs(a - b).reshape(len(a), -1).max(axis=1) if len(a) else np.zeros(0)
    return Agreement(
        f"images within {PARITY_PIXELS}/255 per pixel (worst {int(worst.max(initial=0))})",
        float(np.mean(worst <= PARITY_PIXELS)) if len(worst) else 1.0,
        len(worst),
    )


@dataclass
class FidEvaluator:
    """FID-FMNIST of EVAL_IMAGES generated images (fixed latents) against the held-out real
    images, in the features of the judge classifier (``held_out.reference``)."""

    held_out: HeldOut
    contract: ModelContract
    progress: bool = False
    metric: str = "FID-FMNIST"
    lower_is_better: bool = True

    def __post_init__(self) -> None:
        if self.held_out.reference is None:
            raise EdgeimgError(
                "generate evaluation: FID needs a judge classifier (--judge CLASSIFIER.keras)"
            )
        self.judge = Judge.load(self.held_out.reference)
        self.real = self.judge.features(np.stack(list(self.held_out.images)))
        self.inputs = model_inputs(self.contract, EVAL_IMAGES, EVAL_SEED)

    def __call__(self, infer: Infer) -> float:
        images = np.concatenate(
            [to_uint8(infer(self.inputs[i : i + 500])[0]) for i in range(0, len(self.inputs), 500)]
        )
        return frechet_distance(self.judge.features(images), self.real)


TASK = register_export_task(
    ExportTask(
        name="generate",
        check_outputs=check_outputs,
        agreement=pixel_agreement,
        evaluator=FidEvaluator,
        input_shape=input_shape,
        model_inputs=model_inputs,
        description="latent-vector input, pixel parity on fixed latents, FID-FMNIST gate",
    )
)
