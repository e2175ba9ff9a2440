"""Export of the detect task: box outputs, boxes matched in the parity gate, the head kept in
float for INT8, AP@0.5 on held-out boxes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

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
    first_items,
)
from edgeimg.runtime.contract import ModelContract
from edgeimg.runtime.decoder import Decoder
from edgeimg.runtime.errors import EdgeimgError
from edgeimg.runtime.preprocess import Transform
from edgeimg.runtime.tasks import get_task
from edgeimg.runtime.tasks.detect.boxes import iou_matrix
from edgeimg.runtime.tasks.detect.detections import Detections

if TYPE_CHECKING:
    import onnx

MATCH_IOU = 0.5
# Parity compares boxes down to this score (below the runtime's usual 0.1), so that even a
# barely trained model has boxes to match.
PARITY_SCORE_THRESHOLD = 0.05
# AP needs the low-score detections too (the PR curve's tail), as `edgeimg train` scores it
# (edgeimg.train.tasks.detect.evaluate.AP_SCORE_THRESHOLD).
EVAL_SCORE_THRESHOLD = 0.01
HEAD_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")


def check_outputs(shapes: Mapping[str, Shape], contract: ModelContract, source: str) -> None:
    """A heatmap channel per class and four box distances."""
    check_channels(shapes, {"heatmap": len(contract.class_names), "boxes": 4}, contract, source)


def decoder(contract: ModelContract, score_threshold: float) -> Decoder:
    """The runtime's decoder for ``contract``, keeping boxes down to ``score_threshold``."""
    params = {**contract.decoder_params, "score_threshold": score_threshold}
    contract = replace(contract, decoder_params=params)
    return get_task(contract.task).decoder_type(contract).from_contract(contract)


def match_detections(got: Detections, ref: Detections) -> tuple[int, int, float]:
    """(matched, total, max score diff): greedy same-class matching at IoU >= 0.5.

    total is the larger of the two counts, so a box found by one model only counts against
    agreement either way.
    """
    total = max(len(got), len(ref))
    if not len(got) or not len(ref):
        return 0, total, 0.0
    iou = iou_matrix(ref.xyxy, got.xyxy)
    iou[ref.class_id[:, None] != got.class_id[None, :]] = 0.0
    matched, worst = 0, 0.0
    for i in np.argsort(-ref.confidence):
        j = int(iou[i].argmax())
        if iou[i, j] >= MATCH_IOU:
            matched += 1
            worst = max(worst, abs(float(got.confidence[j]) - float(ref.confidence[i])))
            iou[:, j] = 0.0
    return matched, total, worst


def boxes_matched(got: Outputs, ref: Outputs, contract: ModelContract) -> Agreement:
    """Both models' outputs decoded by the runtime's decoder (scores down to 0.05), boxes
    matched per image (same class, IoU >= 0.5)."""
    decode = decoder(contract, PARITY_SCORE_THRESHOLD)
    names = contract.output_names
    if contract.input_size is None:
        raise EdgeimgError("parity of a detector: expected the contract's input_size, got none")
    identity = Transform.identity(contract.input_size)
    matched = boxes = 0
    score_diff = 0.0
    for i in range(len(ref[names[0]])):
        one = decode(first_items(got, names, i), identity)
        reference = decode(first_items(ref, names, i), identity)
        m, total, worst = match_detections(one, reference)
        matched, boxes, score_diff = matched + m, boxes + total, max(score_diff, worst)
    return Agreement("boxes matched", matched / boxes if boxes else 1.0, boxes, score_diff)


def head_nodes(proto: onnx.ModelProto) -> list[str]:
    """Names of a detector's head nodes: from each output back to and including the first
    convolution (the head's last layer, its activation, reshapes and transposes).

    INT8 steps there cost accuracy (a sigmoid heatmap's low scores, box distances) and save
    almost no time, so quantization keeps them in float by default.
    """
    producer = {out: node for node in proto.graph.node for out in node.output}
    names: list[str] = []
    for output in proto.graph.output:
        node = producer.get(output.name)
        while node is not None and node.name not in names:
            names.append(node.name)
            if node.op_type in HEAD_OPS:
                break
            activations = [i for i in node.input if i in producer]
            node = producer[activations[0]] if len(activations) == 1 else None
    return names


@dataclass
class DetectionEvaluator:
    """AP@0.5 (percent) of decoded detections against ground-truth boxes in source pixels.

    held_out: ``boxes`` targets and the AP function (``score``). progress: show a bar.
    """

    held_out: HeldOut
    contract: ModelContract
    progress: bool = False
    metric: str = "AP@0.5 %"

    def __post_init__(self) -> None:
        checked_kind(self.held_out, "boxes", self.contract.task, "boxes per image (detection data)")
        if self.held_out.score is None:
            raise EdgeimgError(
                "detection evaluation data: expected a score function (AP), got none"
            )
        self._decode = decoder(self.contract, EVAL_SCORE_THRESHOLD)
        prepare = get_task(self.contract.task).prepare
        self._prepared = [prepare(image, self.contract) for image in self.held_out.images]

    def __call__(self, infer: Infer) -> float:
        prepared: Sequence = self._prepared
        if self.progress:
            from tqdm import tqdm

            prepared = tqdm(prepared, desc="evaluating", unit="img", leave=False)
        predictions = [self._decode(infer(tensor), transform) for tensor, transform in prepared]
        score = self.held_out.score
        classes = len(self.contract.class_names)
        return 100.0 * float(score(predictions, self.held_out.targets, classes))


TASK = register_export_task(
    ExportTask(
        name="detect",
        check_outputs=check_outputs,
        agreement=boxes_matched,
        evaluator=DetectionEvaluator,
        float_nodes=head_nodes,
        description="boxes matched in parity, the head kept in float, AP@0.5",
    )
)
