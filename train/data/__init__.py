"""Training data: readers per format, box-preserving augmentation, targets, ``tf.data`` pipelines.

The readers need no TensorFlow; :mod:`edgeimg.train.data.pipeline` does.
"""

from edgeimg.train.data.classification import (
    ClassificationData,
    ClassificationFormat,
    load_classification,
)
from edgeimg.train.data.detection import (
    DetectionDataset,
    DetectionFormat,
    DetectionSample,
    FrameRange,
    load_detection,
)

__all__ = [
    "ClassificationData",
    "ClassificationFormat",
    "DetectionDataset",
    "DetectionFormat",
    "DetectionSample",
    "FrameRange",
    "load_classification",
    "load_detection",
]
