"""Export of the segment task: per-pixel logits, argmax agreement in the parity gate, the head
(classifier and its upsampling) kept in float for INT8, mean IoU on held-out label masks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from edgeimg.export.evaluation import HeldOut, Infer
from edgeimg.export.tasks import register_export_task
from edgeimg.export.tasks.base import (
    Agreement,
    ExportTask,
    Outputs,
    Shape,
    check_channels,
    checked_kind,
)
from edgeimg.export.tasks.detect import head_nodes
from edgeimg.runtime.contract import ModelContract
from edgeimg.runtime.errors import EdgeimgError
from edgeimg.runtime.tasks import get_task
from edgeimg.runtime.tasks.segment.metrics import confusion_matrix, mean_iou

# An image agrees when at least this fraction of its pixels has the same argmax class.
PIXEL_AGREEMENT = 0.999


def check_outputs(shapes: Mapping[str, Shape], contract: ModelContract, source: str) -> None:
    """A logit channel per class (Keras models are channels-last)."""
    check_channels(shapes, {contract.output_names[0]: len(contract.class_names)}, contract, source)


def class_axis(logits: np.ndarray, contract: ModelContract) -> int:
    """The class axis of a (N, H, W, C) or (N, C, H, W) batch of logits."""
    classes = len(contract.class_names)
    if logits.shape[-1] == classes:
        return -1
    if logits.ndim == 4 and logits.shape[1] == classes:
        return 1
    raise EdgeimgError(f"segment logits: no axis of {classes} classes in shape {logits.shape}")


def pixel_agreement(got: Outputs, ref: Outputs, contract: ModelContract) -> Agreement:
    """Fraction of images whose argmax masks agree on >= 99.9 % of their pixels."""
    name = contract.output_names[0]
    a, b = np.asarray(got[name]), np.asarray(ref[name])
    same = a.argmax(axis=class_axis(a, contract)) == b.argmax(axis=class_axis(b, contract))
    per_image = same.reshape(len(same), -1).mean(axis=1) if len(same) else np.ones(0)
    fraction = float(np.mean(per_image >= PIXEL_AGREEMENT)) if len(per_image) else 1.0
    return Agreement(
        f"images with >= {PIXEL_AGREEMENT:.1%} argmax pixels agreeing "
        f"(worst {float(per_image.min()) if len(per_image) else 1.0:.4%})",
        fraction,
        len(per_image),
    )


@dataclass
class MeanIouEvaluator:
    """Mean IoU (percent) of the decoded masks, at each frame's own size, against label masks
    (uint8 class ids, 255 = void, left out)."""

    held_out: HeldOut
    contract: ModelContract
    progress: bool = False
    metric: str = "mIoU %"

    def __post_init__(self) -> None:
        checked_kind(
            self.held_out, "masks", self.contract.task, "a label mask per image (segmentation)"
        )
        spec = get_task(self.contract.task)
        self._decode = spec.decoder_type(self.contract).from_contract(self.contract)
        self._prepared = [spec.prepare(image, self.contract) for image in self.held_out.images]
        for image, mask in zip(self.held_out.images, self.held_out.targets, strict=True):
            if np.shape(mask) != image.shape[:2]:
                raise EdgeimgError(
                    f"segmentation evaluation data: a mask of {np.shape(mask)} for an image of "
                    f"{image.shape[:2]}"
                )

    def __call__(self, infer: Infer) -> float:
        classes = len(self.contract.class_names)
        confusion = np.zeros((classes, classes), np.int64)
        prepared: Sequence = self._prepared
        if self.progress:
            from tqdm import tqdm

            prepared = tqdm(prepared, desc="evaluating", unit="img", leave=False)
        for (tensor, transform), truth in zip(prepared, self.held_out.targets, strict=True):
            outputs = infer(tensor)
            self._decode.check_output_shapes([tuple(outputs[0].shape)])  # NHWC or NCHW
            mask = self._decode(outputs, transform).mask
            confusion += confusion_matrix(np.asarray(truth), mask, classes)
        return 100.0 * mean_iou(confusion)


TASK = register_export_task(
    ExportTask(
        name="segment",
        check_outputs=check_outputs,
        agreement=pixel_agreement,
        evaluator=MeanIouEvaluator,
        float_nodes=head_nodes,
        description="argmax pixel agreement in parity, the head kept in float, mean IoU",
    )
)
