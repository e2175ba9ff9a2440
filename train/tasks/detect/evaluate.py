"""Detection evaluation: COCO-style AP (pycocotools) of :class:`Detections` against ground truth.

:func:`detection_ap` scores any detector's :class:`Detections` against ground truth, so export
and bench use it for ONNX models too; :func:`predict_detections` runs a Keras detector through
the runtime's own letterbox and centernet decoder, so the figures are the runtime's.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from edgeimg.runtime.contract import ModelContract
from edgeimg.runtime.errors import EdgeimgError
from edgeimg.runtime.preprocess import prepare
from edgeimg.runtime.tasks.detect.centernet import CenterNetDecoder
from edgeimg.runtime.tasks.detect.detections import Detections

log = logging.getLogger(__name__)

# Score threshold for AP: low, so the precision-recall curve reaches high recall.
AP_SCORE_THRESHOLD = 0.01


@dataclass(frozen=True)
class DetectionMetrics:
    """COCO bbox metrics (maxDets 100): AP@0.5:0.95, AP@0.5, AP@0.75, AR@100, and counts."""

    ap: float
    ap50: float
    ap75: float
    ar100: float
    images: int
    ground_truth: int
    detections: int

    def as_dict(self) -> dict[str, float]:
        return dataclasses.asdict(self)


def detection_ap(
    predictions: Sequence[Detections],
    ground_truth: Sequence[tuple[np.ndarray, np.ndarray]],
    num_classes: int | None = None,
) -> DetectionMetrics:
    """COCO-style AP of per-image ``predictions`` against ``ground_truth``.

    predictions[i]: the Detections of image i (xyxy pixels, confidence, class_id).
    ground_truth[i]: (xyxy (K, 4) pixels, class_id (K,)) of image i.
    Computed by pycocotools' COCOeval (iouType bbox, all areas, 100 detections per image).
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    if len(predictions) != len(ground_truth):
        raise EdgeimgError(
            f"detection_ap: expected one prediction per image ({len(ground_truth)}), "
            f"got {len(predictions)}"
        )
    classes = num_classes or 1 + max(
        [int(np.max(c, initial=0)) for _, c in ground_truth]
        + [int(np.max(d.class_id, initial=0)) for d in predictions]
    )
    images, annotations, results = [], [], []
    for image_id, ((xyxy, class_id), dets) in enumerate(
        zip(ground_truth, predictions, strict=True)
    ):
        images.append({"id": image_id, "width": 1, "height": 1})
        xyxy = np.asarray(xyxy, np.float64).reshape(-1, 4)
        for box, cls in zip(xyxy, np.asarray(class_id).reshape(-1), strict=True):
            w, h = box[2] - box[0], box[3] - box[1]
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": int(cls),
                    "bbox": [float(box[0]), float(box[1]), float(w), float(h)],
                    "area": float(w * h),
                    "iscrowd": 0,
                }
            )
        for box, score, cls in zip(dets.xyxy, dets.confidence, dets.class_id, strict=True):
            results.append(
                {
                    "image_id": image_id,
                    "category_id": int(cls),
                    "bbox": [
                        float(box[0]),
                        float(box[1]),
                        float(box[2] - box[0]),
                        float(box[3] - box[1]),
                    ],
                    "score": float(score),
                }
            )
    counts = (len(images), len(annotations), len(results))
    if not annotations or not results:
        return DetectionMetrics(0.0, 0.0, 0.0, 0.0, *counts)
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
        gt = COCO()
        gt.dataset = {
            "images": images,
            "annotations": annotations,
            "categories": [{"id": c} for c in range(classes)],
        }
        gt.createIndex()
        dt = gt.loadRes(results)
        evaluator = COCOeval(gt, dt, iouType="bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    stats = [max(0.0, float(v)) for v in evaluator.stats]  # -1 means "no such objects"
    return DetectionMetrics(stats[0], stats[1], stats[2], stats[8], *counts)


def predict_detections(
    model,
    images_bgr: Sequence[np.ndarray],
    contract: ModelContract,
    batch_size: int = 8,
    score_threshold: float = AP_SCORE_THRESHOLD,
) -> list[Detections]:
    """Run a Keras centernet detector over BGR frames the way the runtime would.

    Each frame goes through :func:`edgeimg.runtime.preprocess.prepare` (letterbox, RGB) and the
    runtime's :class:`CenterNetDecoder` (with ``score_threshold``); boxes come back in frame
    pixels.
    """
    params = {**contract.decoder_params, "score_threshold": score_threshold}
    decoder = CenterNetDecoder.from_contract(dataclasses.replace(contract, decoder_params=params))
    out: list[Detections] = []
    starts = range(0, len(images_bgr), batch_size)
    for start in tqdm(starts, desc="evaluating", unit="batch", disable=None, leave=False):
        prepared = [prepare(image, contract) for image in images_bgr[start : start + batch_size]]
        batch = np.concatenate([tensor for tensor, _ in prepared])
        outputs = model.predict_on_batch(batch)
        heatmap, boxes = np.asarray(outputs["heatmap"]), np.asarray(outputs["boxes"])
        for i, (_, transform) in enumerate(prepared):
            out.append(decoder([heatmap[i : i + 1], boxes[i : i + 1]], transform))
    return out
