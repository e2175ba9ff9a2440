"""Keras models: classifiers (:func:`build_classifier`) and the centernet detector."""

from edgeimg.train.models.classifiers import Arch, build_classifier
from edgeimg.train.models.detector import DetectorConfig, build_detector, count_macs

__all__ = ["Arch", "DetectorConfig", "build_classifier", "build_detector", "count_macs"]
