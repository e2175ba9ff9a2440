"""Export of the generate task: a latent-vector input, parity on fixed latents, FID-FMNIST as
the INT8 gate's metric.

Input: ``latent`` (N, latent_dim [+ classes]) instead of an image (``sample_inputs`` draws the
parity and calibration inputs: z ~ N(0, I) with seeds 0 and 1, classes cycling). Parity: an
image agrees when its largest pixel difference (0..255 after the tanh decoder) is at most
:data:`PARITY_PIXELS`. INT8: the evaluator generates images from fixed latents and scores their
FID-FMNIST against held-out real images (:mod:`edgeimg.export.fid`; lower is better, so the
gate's budget is in FID units).

A VAE's encoder (``role: encoder`` in the contract's task_params) is the same task the other
way round: input ``image`` (N, H, W, C + classes), the image in -1..1 with the class one-hot as
planes; outputs ``mean`` and ``log_var``. Its parity inputs are fixed smooth random images
(seed 0, classes cycling) and an image agrees when its mean is within :data:`PARITY_LATENT` of
Keras's. It has no quality metric for INT8 (its evaluator refuses).
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
from edgeimg.runtime.tasks.generate.latent import ENCODER, GenerateParams, sample_inputs

PARITY_PIXELS = 2  # of 255
PARITY_LATENT = 1e-3  # largest difference of a posterior mean, in latent units
EVAL_IMAGES = 10_000
EVAL_SEED = 1234


def params_of(contract: ModelContract) -> GenerateParams:
    params: GenerateParams = get_task("generate").params(contract)
    return params


def is_encoder(contract: ModelContract) -> bool:
    return params_of(contract).role == ENCODER


def check_outputs(shapes: Mapping[str, Shape], contract: ModelContract, source: str) -> None:
    """One image output (H, W, C) with the contract's channel count; an encoder: ``mean`` and
    ``log_var`` of latent_dim each."""
    if is_encoder(contract):
        latent = params_of(contract).latent_dim
        for name in contract.output_names:
            shape = shapes.get(name)
            if shape is not None and shape != (latent,):
                raise EdgeimgError(
                    f"{source}: output {name!r} has shape {shape}, expected ({latent},) "
                    "(the contract's latent_dim)"
                )
        return
    name = contract.output_names[0]
    shape = shapes.get(name)
    if shape is not None and (len(shape) != 3 or shape[-1] not in (None, contract.channels)):
        raise EdgeimgError(
            f"{source}: output {name!r} has shape {shape}, expected (H, W, {contract.channels})"
        )


def planes(contract: ModelContract) -> int:
    """Class planes after an encoder's image channels (0 for an unconditional model)."""
    return len(contract.class_names) if params_of(contract).conditional else 0


def input_shape(contract: ModelContract) -> tuple[int, ...]:
    """The model input without its batch axis: (latent_dim [+ classes],); an encoder's
    (H, W, C [+ classes])."""
    if is_encoder(contract):
        height, width = contract.input_size or params_of(contract).image_size
        return (height, width, contract.channels + planes(contract))
    return (params_of(contract).input_dim(len(contract.class_names)),)


def encoder_inputs(contract: ModelContract, count: int, seed: int) -> np.ndarray:
    """``count`` fixed encoder inputs: smooth random images in -1..1 (noise at a quarter of
    the size, enlarged: shapes rather than pixel noise), the classes cycling as planes."""
    height, width, channels = input_shape(contract)
    rng = np.random.default_rng(seed)
    small = rng.uniform(-1.0, 1.0, (count, max(1, height // 4), max(1, width // 4), 1))
    images = np.repeat(np.repeat(small, 4, axis=1), 4, axis=2)[:, :height, :width]
    pad = ((0, 0), (0, height - images.shape[1]), (0, width - images.shape[2]), (0, 0))
    images = np.pad(images, pad, mode="edge")
    image_channels = channels - planes(contract)
    x = np.repeat(images, image_channels, axis=3).astype(np.float32)
    if planes(contract):
        one_hot = np.eye(planes(contract), dtype=np.float32)[np.arange(count) % planes(contract)]
        x = np.concatenate(
            [
                x,
                np.broadcast_to(
                    one_hot[:, None, None, :], (count, height, width, planes(contract))
                ),
            ],
            axis=3,
        )
    return np.ascontiguousarray(x)


def model_inputs(contract: ModelContract, count: int, seed: int) -> np.ndarray:
    if is_encoder(contract):
        return encoder_inputs(contract, count, seed)
    return sample_inputs(params_of(contract), len(contract.class_names), count, seed)


def agreement(got: Outputs, ref: Outputs, contract: ModelContract) -> Agreement:
    """A generator's :func:`pixel_agreement`; an encoder's :func:`latent_agreement`."""
    if is_encoder(contract):
        return latent_agreement(got, ref, contract)
    return pixel_agreement(got, ref, contract)


def latent_agreement(got: Outputs, ref: Outputs, contract: ModelContract) -> Agreement:
    """Fraction of images whose posterior mean differs from Keras's by at most PARITY_LATENT
    in every dimension."""
    name = contract.output_names[0]
    diff = np.abs(got[name].astype(np.float64) - ref[name].astype(np.float64))
    worst = diff.reshape(len(diff), -1).max(axis=1) if len(diff) else np.zeros(0)
    return Agreement(
        f"posterior means within {PARITY_LATENT:g} (worst {float(worst.max(initial=0)):.2g})",
        float(np.mean(worst <= PARITY_LATENT)) if len(worst) else 1.0,
        len(worst),
    )


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
        if is_encoder(self.contract):
            raise EdgeimgError(
                "generate evaluation: a VAE encoder has no FID (it makes no images); "
                "quantize it without --eval"
            )
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
        agreement=agreement,
        evaluator=FidEvaluator,
        input_shape=input_shape,
        model_inputs=model_inputs,
        description="latent-vector input, pixel parity on fixed latents, FID-FMNIST gate; "
        "a VAE encoder: posterior-mean parity on fixed images",
    )
)
