"""Export of the upscale task: a luminance (or colour) output at ``scale`` times the input's size, the
Keras-vs-ONNX PSNR in the parity gate, quantized whole, Y-PSNR on held-out images (a colour
model's output scored on its BT.601 Y).

Parity: an image agrees when the PSNR between the two outputs (Y 0..255) is at least
:data:`PARITY_PSNR` dB (float32 noise is ~100 dB; a wrong pixel-shuffle order or a missing
clip is < 30 dB); the report names the worst image's PSNR and the largest pixel difference.
INT8: the model is small and convolutional, nothing is kept in float; the evaluator scores the
held-out pairs in Y-PSNR (dB, border = scale shaved, as the SR papers), so ``--max-drop 0.2``
is a 0.2 dB budget.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from edgeimg.export.evaluation import HeldOut, Infer
from edgeimg.export.tasks import register_export_task
from edgeimg.export.tasks.base import Agreement, ExportTask, Outputs, Shape, checked_kind
from edgeimg.runtime.contract import ColorOrder, Layout, ModelContract
from edgeimg.runtime.errors import EdgeimgError
from edgeimg.runtime.preprocess import check_frame
from edgeimg.runtime.tasks.upscale.image import luma_of_rgb, prepare_upscale, split_luma

PARITY_PSNR = 60.0


def check_outputs(shapes: Mapping[str, Shape], contract: ModelContract, source: str) -> None:
    """As many output channels as input channels (Keras models are channels-last: (H*s, W*s,
    1) luminance or (H*s, W*s, 3) colour)."""
    name = contract.output_names[0]
    shape = shapes.get(name)
    channels = contract.channels
    if shape is not None and (len(shape) != 3 or shape[-1] not in (None, channels)):
        raise EdgeimgError(
            f"{source}: output {name!r} has shape {shape}, expected (H, W, {channels}) "
            f"({'luminance' if channels == 1 else 'colour'}, as the contract's input)"
        )


def psnr(a: np.ndarray, b: np.ndarray, shave: int = 0, data_range: float = 255.0) -> float:
    """PSNR in dB of two same-shape arrays (inf when equal), ``shave`` border pixels removed
    from the last two spatial axes of (H, W) arrays."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if shave:
        a, b = a[shave:-shave, shave:-shave], b[shave:-shave, shave:-shave]
    mse = float(np.mean((a - b) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(data_range**2 / mse)


def psnr_agreement(got: Outputs, ref: Outputs, contract: ModelContract) -> Agreement:
    """Fraction of images whose ONNX output is within PARITY_PSNR dB of Keras's."""
    name = contract.output_names[0]
    a, b = np.asarray(got[name]), np.asarray(ref[name])
    if a.shape != b.shape:
        raise EdgeimgError(f"upscale parity: ONNX shape {a.shape} != Keras shape {b.shape}")
    scores = [psnr(x, y) for x, y in zip(a, b, strict=True)]
    worst = min(scores, default=math.inf)
    max_abs = float(np.abs(a.astype(np.float64) - b).max(initial=0.0))
    fraction = float(np.mean([s >= PARITY_PSNR for s in scores])) if scores else 1.0
    return Agreement(
        f"images with Keras-vs-ONNX PSNR >= {PARITY_PSNR:.0f} dB (worst {worst:.1f} dB, "
        f"max abs diff {max_abs:.3g})",
        fraction,
        len(scores),
    )


def target_y(target: np.ndarray) -> np.ndarray:
    """An HR target: (H, W) Y as is, or a uint8 BGR/gray image -> its BT.601 Y."""
    target = np.asarray(target)
    if target.dtype != np.uint8:
        if target.ndim != 2:
            raise EdgeimgError(f"upscale target: expected (H, W) Y, got shape {target.shape}")
        return target.astype(np.float64)
    return split_luma(check_frame(target, "upscale"))[0].astype(np.float64)


@dataclass
class PsnrEvaluator:
    """Mean Y-PSNR (dB) of the model's output against HR targets, ``scale`` border shaved.

    held_out: kind ``images``; images are LR frames (H, W, 3) uint8 BGR, targets their HR
    originals ((H*s, W*s) float Y, or uint8 BGR).
    """

    held_out: HeldOut
    contract: ModelContract
    progress: bool = False
    metric: str = "Y-PSNR dB"

    def __post_init__(self) -> None:
        checked_kind(
            self.held_out, "images", self.contract.task, "an HR image per LR image (upscale data)"
        )
        self.scale = int(self.contract.task_params.get("scale", 3))
        self._inputs = [prepare_upscale(image, self.contract)[0] for image in self.held_out.images]
        self._targets = [target_y(t) for t in self.held_out.targets]
        for tensor, target in zip(self._inputs, self._targets, strict=True):
            hw = tensor.shape[2:4] if self.contract.layout is Layout.NCHW else tensor.shape[1:3]
            want = (hw[0] * self.scale, hw[1] * self.scale)
            if target.shape != want:
                raise EdgeimgError(
                    f"upscale evaluation data: HR target {target.shape} is not x{self.scale} "
                    f"of its LR image {tuple(hw)}"
                )

    def __call__(self, infer: Infer) -> float:
        scores = []
        for tensor, target in zip(self._inputs, self._targets, strict=True):
            scores.append(psnr(self.luma(infer(tensor)[0]), target, shave=self.scale))
        return float(np.mean(scores))

    def luma(self, hr: np.ndarray) -> np.ndarray:
        """The model's (1, H, W, C) or (1, C, H, W) output -> its (H, W) Y, unrounded (a colour
        model's RGB through BT.601, as the papers score colour output)."""
        channels_last = hr.shape[3] == self.contract.channels
        if self.contract.channels == 1:
            return hr[0, :, :, 0] if channels_last else hr[0, 0]
        rgb = hr[0] if channels_last else hr[0].transpose(1, 2, 0)
        if self.contract.color_order is not ColorOrder.RGB:
            rgb = rgb[:, :, ::-1]
        return luma_of_rgb(rgb)


TASK = register_export_task(
    ExportTask(
        name="upscale",
        check_outputs=check_outputs,
        agreement=psnr_agreement,
        evaluator=PsnrEvaluator,
        output_range=255.0,
        description="Keras-vs-ONNX PSNR in parity, quantized whole, Y-PSNR on held-out images",
    )
)
