"""Export of the stylize task: an RGB image at the input's size, the Keras-vs-ONNX PSNR in the
parity gate (as upscale's), the perceptual loss as the INT8 gate's metric.

INT8: the evaluator stylizes held-out content photos with the model and measures the weighted
perceptual loss (:mod:`edgeimg.export.perceptual`: content, style, total variation) in the loss
network the contract names (``task_params.loss_net``, ``loss_seed``) or the one given as the
held-out data's ``reference``, against the style image given as every photo's target. Lower is
better, so ``--budget 0.05`` lets the INT8 model's loss rise by 0.05.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeimg.export.evaluation import HeldOut, Infer
from edgeimg.export.tasks import register_export_task
from edgeimg.export.tasks.base import ExportTask, checked_kind
from edgeimg.export.tasks.upscale import check_outputs, psnr_agreement
from edgeimg.runtime.contract import ModelContract
from edgeimg.runtime.preprocess import check_frame
from edgeimg.runtime.tasks.stylize import prepare_stylize


def rgb_output(output: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """A (1, H', W', 3) or (1, 3, H', W') model output -> (H, W, 3) float32 RGB of the
    source's (height, width), clipped to 0..255."""
    image = output[0] if output.shape[-1] == 3 else output[0].transpose(1, 2, 0)
    return np.clip(image[: hw[0], : hw[1]], 0.0, 255.0).astype(np.float32)


@dataclass
class PerceptualEvaluator:
    """Mean weighted perceptual loss of the model's stylizations of held-out photos.

    held_out: kind ``images``; images are content photos (H, W, 3) uint8 BGR, each target the
    style image (uint8 BGR). held_out.reference: a loss network file (default: the contract's).
    """

    held_out: HeldOut
    contract: ModelContract
    progress: bool = False
    metric: str = "perceptual loss"
    lower_is_better: bool = True

    def __post_init__(self) -> None:
        from edgeimg.export.perceptual import PerceptualLoss, loss_network

        checked_kind(self.held_out, "images", self.contract.task, "a style image per photo")
        params = self.contract.task_params
        spec = str(self.held_out.reference or params.get("loss_net", "camvid-seg"))
        network = loss_network(spec, int(params.get("loss_seed", 0)))
        style = check_frame(np.asarray(self.held_out.targets[0]), "stylize")[..., ::-1]
        self.loss = PerceptualLoss(network, style)
        self._inputs = [prepare_stylize(image, self.contract)[0] for image in self.held_out.images]
        self._contents = [
            check_frame(image, "stylize")[..., ::-1].astype(np.float32)
            for image in self.held_out.images
        ]

    def __call__(self, infer: Infer) -> float:
        totals = []
        for tensor, content in zip(self._inputs, self._contents, strict=True):
            out = rgb_output(infer(tensor)[0], content.shape[:2])
            totals.append(self.loss.measure(out[None], content[None]).total)
        return float(np.mean(totals))


TASK = register_export_task(
    ExportTask(
        name="stylize",
        check_outputs=check_outputs,
        agreement=psnr_agreement,
        evaluator=PerceptualEvaluator,
        output_range=255.0,
        description="Keras-vs-ONNX PSNR in parity, quantized whole, perceptual loss on held-out "
        "photos",
    )
)
