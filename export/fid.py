"""FID-FMNIST: the Fréchet distance of generated images to real ones in a classifier's features.

The FID of the GAN papers uses ImageNet Inception-v3 features, which cannot be downloaded here.
As MNIST-family papers do, edgeimg measures with a classifier trained on the same data
(``edgeimg train classify``, e.g. ``mobilenet`` on Fashion-MNIST, 0.93 test accuracy): its
penultimate activations (the input of its last Dense layer) give the features, its softmax the
class-conditional accuracy of generated images. Figures are comparable only between runs with
the same classifier file; report them beside the floor (train vs test images).

FID = |mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2)), with the trace of the matrix square
root taken from the eigenvalues of S_a^(1/2) S_b S_a^(1/2) (symmetric, so numpy's ``eigh``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from edgeimg.runtime.errors import EdgeimgError

if TYPE_CHECKING:
    import keras

BATCH = 500


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """FID between two feature sets (N, D) and (M, D) (N, M >= 2)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or min(len(a), len(b)) < 2:
        raise EdgeimgError(
            f"FID: expected two (N >= 2, D) feature sets, got {a.shape} and {b.shape}"
        )
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root_a = _sqrt_psd(cov_a)
    cross = np.linalg.eigvalsh(root_a @ cov_b @ root_a)
    trace_sqrt = float(np.sqrt(np.clip(cross, 0, None)).sum())
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_sqrt)


@dataclass
class Judge:
    """A trained classifier as the measure of generated images: features and class scores.

    Built from an edgeimg classifier ``.keras`` (:meth:`load`); images are (N, H, W, C) uint8
    at the classifier's input size.
    """

    model: keras.Model
    class_names: tuple[str, ...]
    path: Path

    @classmethod
    def load(cls, path: str | Path) -> Judge:
        import keras

        from edgeimg.export.keras_file import load_keras

        classifier, contract = load_keras(path)
        if contract.task != "classify":
            raise EdgeimgError(
                f"--judge {path}: expected a classifier (edgeimg train classify), got a "
                f"{contract.task} model"
            )
        dense = [layer for layer in classifier.layers if isinstance(layer, keras.layers.Dense)]
        if not dense:
            raise EdgeimgError(f"--judge {path}: the classifier has no Dense layer to read")
        both = keras.Model(classifier.inputs, [dense[-1].input, classifier.outputs[0]])
        return cls(both, contract.class_names, Path(path))

    def _run(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        want = tuple(int(d) for d in self.model.inputs[0].shape[1:])
        images = np.asarray(images)
        if images.ndim == 3:
            images = images[..., None]
        if tuple(images.shape[1:]) != want:
            raise EdgeimgError(
                f"judge {self.path.name}: expects images {want}, got {tuple(images.shape[1:])}"
            )
        features, probs = [], []
        for start in range(0, len(images), BATCH):
            f, p = self.model([images[start : start + BATCH].astype(np.float32)], training=False)
            features.append(np.asarray(f))
            probs.append(np.asarray(p))
        return np.concatenate(features), np.concatenate(probs)

    def features(self, images: np.ndarray) -> np.ndarray:
        """(N, D) penultimate activations."""
        return self._run(images)[0]

    def scores(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(features (N, D), class probabilities (N, C))."""
        return self._run(images)
