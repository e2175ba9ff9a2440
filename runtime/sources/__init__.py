"""Frame sources: a camera, a video file, an image folder, a stream URL, a GStreamer pipeline or
the built-in synthetic scene, all behind one small interface.

``open_source(spec)`` picks the source from the spec (jetson-utils style URIs):

===========================================  ===========================================
spec                                         source
===========================================  ===========================================
``0``, ``/dev/video0``                       camera (V4L2 on Linux)
``clip.mp4``                                 video file, every frame in order
``frames/`` (or one image file)              image folder, sorted, images only
``rtsp://…``, ``http(s)://…``, ``rtmp://…``  network stream (open/read timeouts, reconnects)
``csi://0``                                  Jetson CSI camera (a GStreamer pipeline)
``v4l2src ! … ! appsink``                    GStreamer pipeline (any spec with ``!``)
``synthetic:`` / ``synthetic:seed=3,…``      edgeimg's generated scene of walking people
===========================================  ===========================================

Files, folders and the synthetic scene are read in order and never drop a frame; their
timestamps are positions in the file (index / fps). Live sources (cameras, streams, pipelines)
are read on a capture thread that keeps only the newest frame, so a slow model never falls
behind: frames it overwrites are counted in ``Source.dropped``, and their timestamps are
``time.monotonic()`` at capture. A failure on the capture thread is re-raised by ``read()``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import urlsplit

from edgeimg.runtime.errors import EdgeimgError
from edgeimg.runtime.sources.base import (
    IMAGE_SUFFIXES,
    STREAM_SCHEMES,
    Source,
    SourceConfig,
    SourceKind,
)
from edgeimg.runtime.sources.files import ImageFolderSource, SyntheticSource, VideoFileSource
from edgeimg.runtime.sources.live import (
    LatestFrameReader,
    LiveSource,
    PacedSource,
    camera_opener,
    csi_pipeline,
    gstreamer_opener,
    redact,
    stream_opener,
)


def open_source(spec: str | int | os.PathLike[str], config: SourceConfig | None = None) -> Source:
    """Open the source a spec names (see the module docstring for the forms).

    Raises EdgeimgError naming the spec when it matches no form or cannot be opened.
    """
    config = config or SourceConfig()
    kind, target = parse_spec(spec)
    if kind is SourceKind.CAMERA:
        return LiveSource(
            kind, f"camera {target}", camera_opener(int(target), config), True, config
        )
    if kind is SourceKind.STREAM:
        return LiveSource(kind, redact(target), stream_opener(target, config), True, config)
    if kind is SourceKind.GSTREAMER:
        return LiveSource(kind, "GStreamer pipeline", gstreamer_opener(target), False, config)
    if kind is SourceKind.SYNTHETIC:
        source: Source = SyntheticSource(target, config)
    elif kind is SourceKind.FOLDER:
        source = ImageFolderSource(Path(target), config)
    else:
        source = VideoFileSource(Path(target), config)
    if config.live:
        return PacedSource(source)
    return source


def parse_spec(spec: str | int | os.PathLike[str]) -> tuple[SourceKind, str]:
    """(kind, target) for a source spec; raises EdgeimgError when the spec matches nothing.

    The target is the camera index as text, the path, the URL, the GStreamer pipeline, or the
    synthetic scene's options (``key=value,...``).
    """
    if isinstance(spec, bool):
        raise EdgeimgError(f"source: expected a camera index, path, URL or pipeline, got {spec!r}")
    if isinstance(spec, int):
        return SourceKind.CAMERA, str(spec)
    text = os.fspath(spec).strip()
    if not text:
        raise EdgeimgError(
            "source: empty; expected a camera index, video file, image folder, URL, "
            "GStreamer pipeline or synthetic:"
        )
    if re.fullmatch(r"\d+", text):
        return SourceKind.CAMERA, text
    if text == "synthetic" or text.startswith("synthetic:"):
        return SourceKind.SYNTHETIC, text.partition(":")[2]
    match = re.fullmatch(r"/dev/video(\d+)", text)
    if match:
        return SourceKind.CAMERA, match.group(1)
    match = re.fullmatch(r"csi://(\d+)", text)
    if match:
        return SourceKind.GSTREAMER, csi_pipeline(int(match.group(1)))
    if "!" in text:
        return SourceKind.GSTREAMER, text
    scheme = urlsplit(text).scheme.lower()
    if scheme == "file":
        text = urlsplit(text).path
    elif scheme in STREAM_SCHEMES:
        return SourceKind.STREAM, text
    path = Path(text).expanduser()
    if path.is_dir():
        return SourceKind.FOLDER, str(path)
    if path.is_file():
        kind = SourceKind.FOLDER if path.suffix.lower() in IMAGE_SUFFIXES else SourceKind.VIDEO
        return kind, str(path)
    if path.suffix:
        raise EdgeimgError(f"source file not found: {path}")
    raise EdgeimgError(
        f"source {text!r}: expected a camera index, an existing video file or image folder, "
        f"a URL ({', '.join(s + '://' for s in STREAM_SCHEMES[:4])}...), csi://N, a GStreamer "
        "pipeline (with '!') or synthetic:"
    )


__all__ = [
    "ImageFolderSource",
    "LatestFrameReader",
    "LiveSource",
    "PacedSource",
    "Source",
    "SourceConfig",
    "SourceKind",
    "SyntheticSource",
    "VideoFileSource",
    "open_source",
    "parse_spec",
    "redact",
]
