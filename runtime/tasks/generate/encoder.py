"""A VAE's encoder as its own ONNX model: real images in, the posterior's mean out.

The encoder's contract is the generate task's with ``role: encoder`` (task_params
:class:`~edgeimg.runtime.tasks.generate.latent.GenerateParams`), decoder ``posterior``. Its one
input ``image`` is (N, H, W, C + K): the image resized to ``input_size`` exactly as training
prepared it (stretched, ``cv2.INTER_AREA``; grey or RGB as ``color_order`` says) and scaled to
-1..1 by the contract's mean and std (127.5), followed for a class-conditional model by the
one-hot of its class (K = the number of classes) as constant planes; K = 0 otherwise. Outputs
``mean`` and ``log_var``, (N, latent_dim) each: q(z | x [, y]) = N(mean, exp(log_var)).

::

    enc = load_encoder("cvae.encoder.onnx")
    gen = load_generator("cvae.onnx")
    z = enc.encode(images_bgr, labels)        # (N, latent_dim) posterior means
    pictures = gen.decode(z, labels)          # (N, H, W, C) uint8 reconstructions
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edgeimg.runtime.backends import Backend, Device
from edgeimg.runtime.contract import ColorOrder, ContractError, ModelContract
from edgeimg.runtime.decoder import Decoder, DecoderError, Shape, format_shape
from edgeimg.runtime.errors import EdgeimgError
from edgeimg.runtime.preprocess import Transform
from edgeimg.runtime.tasks import get_task
from edgeimg.runtime.tasks.generate.generator import Generator, open_generate_model
from edgeimg.runtime.tasks.generate.latent import ENCODER, GENERATOR, GenerateParams, class_index

log = logging.getLogger(__name__)


class PosteriorDecoder(Decoder):
    """``mean``, ``log_var`` (N, latent_dim) each -> the mean (N, latent_dim) float32: the
    point an image encodes to (the reparameterisation's noise is for training only)."""

    name = "posterior"
    default_output_names = ("mean", "log_var")

    @classmethod
    def from_contract(cls, contract: ModelContract) -> PosteriorDecoder:
        return cls()

    def check_output_shapes(self, shapes: Sequence[Shape]) -> None:
        self.check_ranks(shapes, (2, 2))
        if shapes[0][1] != shapes[1][1]:
            raise DecoderError(
                f"decoder {self.name}: mean and log_var expected the same width, got "
                f"{format_shape(shapes[0])} and {format_shape(shapes[1])}"
            )

    def __call__(
        self, outputs: Sequence[np.ndarray], transform: Transform | None = None
    ) -> np.ndarray:
        return np.asarray(outputs[0], np.float32)


def read_image(path: str | Path) -> np.ndarray:
    """An image file as (H, W, 3) uint8 BGR or (H, W) grey (alpha dropped); a one-line error
    for a missing or undecodable file."""
    path = Path(path)
    if not path.is_file():
        raise EdgeimgError(f"image not found: {path}")
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise EdgeimgError(f"{path}: cannot decode this image")
    if image.dtype != np.uint8:
        raise EdgeimgError(f"{path}: expected an 8-bit image, got {image.dtype}")
    if image.ndim == 3 and image.shape[2] == 4:
        image = image[:, :, :3]
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    return image


def to_model_pixels(image: np.ndarray, size_hw: tuple[int, int], gray: bool) -> np.ndarray:
    """(H, W) grey or (H, W, 3) BGR uint8 -> (h, w, 1) grey or (h, w, 3) RGB uint8 at
    ``size_hw``, as training reads an image folder: resize with INTER_AREA, then the colour."""
    if image.shape[:2] != tuple(size_hw):
        image = cv2.resize(image, (size_hw[1], size_hw[0]), interpolation=cv2.INTER_AREA)
    if gray:
        pixels = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
        return pixels[:, :, None]
    return image[:, :, ::-1] if image.ndim == 3 else np.repeat(image[:, :, None], 3, axis=2)


@dataclass(frozen=True)
class Reconstruction:
    """Images through the VAE: ``originals`` and ``images`` (N, H, W, C) uint8 at the model's
    size, in its colour order (C = 1 grey or 3 RGB, as the generator's outputs), the posterior means ``latents`` (N, latent_dim), the ``labels``
    (N,) used (-1: unconditional) and ``mae`` (N,) mean absolute pixel error (0..255)."""

    originals: np.ndarray
    images: np.ndarray
    latents: np.ndarray
    labels: np.ndarray
    mae: np.ndarray


class Encoder:
    """An ONNX VAE encoder with its contract. Build it with :func:`load_encoder`."""

    def __init__(self, path: Path, contract: ModelContract, backend: Backend) -> None:
        self.path = path
        self.contract = contract
        self.backend = backend
        self.params: GenerateParams = get_task("generate").params(contract)
        self.class_names = contract.class_names
        self.decoder = PosteriorDecoder.from_contract(contract)
        self.input_name = backend.inputs[0].name
        self.output_names = contract.output_names or self.decoder.default_output_names
        if contract.input_size is None:
            raise ContractError(f"model {path}: an encoder's contract needs input_size")
        self.size: tuple[int, int] = contract.input_size
        self.gray = contract.color_order is ColorOrder.GRAY
        self.planes = len(self.class_names) if self.params.conditional else 0
        expected = (*self.size, contract.channels + self.planes)
        declared = backend.inputs[0].shape
        if len(declared) != 4 or any(
            d is not None and d != e for d, e in zip(declared[1:], expected, strict=True)
        ):
            raise ContractError(
                f"model {path}: the contract expects input (N, {expected[0]}, {expected[1]}, "
                f"{expected[2]}), the model declares {backend.inputs[0].describe()}"
            )
        self.decoder.check_output_shapes(
            [spec.shape for spec in backend.outputs if spec.name in self.output_names]
        )

    def __repr__(self) -> str:
        kind = "conditional " if self.params.conditional else ""
        return f"Encoder({self.path.name}, {kind}{self.params.arch}, {self.backend.description})"

    @property
    def latent_dim(self) -> int:
        return self.params.latent_dim

    def labels(self, cls: str | int | None, count: int) -> np.ndarray | None:
        """(count,) indices of class ``cls`` for a conditional encoder (which needs it); None
        for an unconditional one (where ``cls`` is an error)."""
        if not self.params.conditional:
            if cls is not None:
                raise ContractError(f"--class: {self.path.name} is not class-conditional")
            return None
        if cls is None:
            valid = ", ".join(f"{i}={n}" for i, n in enumerate(self.class_names))
            raise ContractError(
                f"--class: {self.path.name} is class-conditional: give the class of the images "
                f"(valid: {valid})"
            )
        return np.full(count, class_index(cls, self.class_names), np.int64)

    def prepare(self, images: Sequence[np.ndarray], labels: np.ndarray | None) -> np.ndarray:
        """Images (H, W) grey or (H, W, 3) BGR uint8, any size, and (N,) class indices ->
        the model input (N, h, w, C + K) float32."""
        pixels = np.stack([to_model_pixels(im, self.size, self.gray) for im in images])
        mean = np.asarray(self.contract.mean, np.float32)
        std = np.asarray(self.contract.std, np.float32)
        x = (pixels.astype(np.float32) - mean) / std
        if not self.planes:
            return np.ascontiguousarray(x)
        if labels is None:
            self.labels(None, len(images))  # raises: the class is needed
        one_hot = np.eye(self.planes, dtype=np.float32)[np.asarray(labels, np.int64)]
        planes = np.broadcast_to(one_hot[:, None, None, :], (*x.shape[:3], self.planes))
        return np.ascontiguousarray(np.concatenate([x, planes], axis=3))

    def encode(
        self, images: Sequence[np.ndarray], labels: np.ndarray | None = None, batch: int = 64
    ) -> np.ndarray:
        """(N, latent_dim) float32 posterior means of ``images`` (see :meth:`prepare`)."""
        inputs = self.prepare(images, labels)
        chunks = []
        for start in range(0, len(inputs), batch):
            outputs = self.backend.run({self.input_name: inputs[start : start + batch]})
            chunks.append(self.decoder([outputs[name] for name in self.output_names]))
        return np.concatenate(chunks)

    def model_pixels(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """The images as the model sees them: (N, h, w, C) uint8 in the contract's colour
        order (grey or RGB, as the generator's outputs)."""
        return np.stack([to_model_pixels(im, self.size, self.gray) for im in images])


def check_pair(encoder: Encoder, generator: Generator) -> None:
    """Refuse an encoder and a generator that are not two halves of one VAE: latent size,
    conditioning, classes and image size must agree."""
    params = generator.params
    what = f"encoder {encoder.path.name} and generator {generator.path.name}"
    if params.latent_dim != encoder.params.latent_dim:
        raise ContractError(
            f"{what}: latent sizes differ ({encoder.params.latent_dim} vs {params.latent_dim}); "
            "use the two files of one training run"
        )
    if params.conditional != encoder.params.conditional or (
        params.conditional and generator.class_names != encoder.class_names
    ):
        raise ContractError(f"{what}: one is class-conditional or they have other classes")
    if params.image_size and tuple(params.image_size) != encoder.size:
        raise ContractError(
            f"{what}: image sizes differ ({encoder.size} vs {tuple(params.image_size)})"
        )


def reconstruct(
    encoder: Encoder,
    generator: Generator,
    images: Sequence[np.ndarray],
    labels: np.ndarray | None = None,
) -> Reconstruction:
    """``images`` (grey or BGR uint8, any size) through the encoder's posterior mean and the
    generator (the VAE's decoder); labels (N,) class indices, needed when conditional."""
    check_pair(encoder, generator)
    latents = encoder.encode(images, labels, generator.batch_size)
    decoded = generator.decode(latents, labels)
    originals = encoder.model_pixels(images)
    mae = np.abs(decoded.astype(np.float32) - originals).reshape(len(originals), -1).mean(axis=1)
    used = np.asarray(labels, np.int64) if labels is not None else np.full(len(images), -1)
    return Reconstruction(originals, decoded, latents, used, mae)


def load_encoder(
    path: str | Path,
    backend: str = "onnxruntime",
    device: Device | str = Device.CPU,
    threads: int | None = None,
) -> Encoder:
    """Load a VAE encoder exported by ``edgeimg export OUT.encoder.keras``; a one-line error
    for another model (a generator given as encoder says so)."""
    path, contract, runner = open_generate_model(path, ENCODER, backend, device, threads)
    encoder = Encoder(path, contract, runner)
    log.info("encoder %s runs on %s", path.name, runner.description)
    return encoder


__all__ = [
    "ENCODER",
    "GENERATOR",
    "Encoder",
    "PosteriorDecoder",
    "Reconstruction",
    "check_pair",
    "load_encoder",
    "read_image",
    "reconstruct",
    "to_model_pixels",
]
