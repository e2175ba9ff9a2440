"""Multi-object tracking: ByteTrack on batched Kalman-filtered boxes.

``ByteTracker(ByteTrackConfig()).update(detections, timestamp)`` returns a new ``Detections``
with ``tracker_id``; ``ByteTrackConfig.from_yaml(path)`` reads thresholds from a file.
"""

from edgeimg.runtime.tasks.detect.tracking.bytetrack import ByteTracker
from edgeimg.runtime.tasks.detect.tracking.config import ByteTrackConfig, OutputBoxes

__all__ = ["ByteTrackConfig", "ByteTracker", "OutputBoxes"]
