"""A real RTSP server on loopback for the stream tests (issue 15): serves a video file as
MJPEG over RTP (interleaved on the RTSP TCP connection) at ``rtsp://127.0.0.1:PORT/test``.

Runs under Debian's system ``/usr/bin/python3`` (the GObject bindings: python3-gi,
gir1.2-gst-rtsp-server-1.0; elements from gstreamer1.0-plugins-base/-good and
gstreamer1.0-libav), not in edgeimg's venv::

    /usr/bin/python3 tests/runtime/rtsp_server.py VIDEO PORT

Each client gets its own pipeline (the factory is not shared), so every (re)connection starts
at the clip's first frame, paced at the clip's frame rate by the pipeline clock; the clip is
not looped (PETS09-S2L1 plays 79.5 s, longer than the tests run). MJPEG makes every frame a
key frame, so a client decodes from its first packet. Prints ``READY rtsp://...`` on stdout
once the port listens (exit 2 when it cannot). ``--check`` only says whether every element
exists (exit 0) or names the missing ones (exit 3). Ends on SIGTERM or SIGINT; the tests end
it with SIGKILL, as a power cut would.
"""

from __future__ import annotations

import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402

# avidemux and avdec_msmpeg4 decode vtest.avi (AVI, MS-MPEG4 v3); decodebin picks them
ELEMENTS = (
    "filesrc",
    "decodebin",
    "avidemux",
    "avdec_msmpeg4",
    "videoconvert",
    "jpegenc",
    "rtpjpegpay",
)


def launch_line(video: str) -> str:
    location = video.replace("\\", "\\\\").replace('"', '\\"')
    return (
        f'( filesrc location="{location}" ! decodebin ! videoconvert ! '
        "video/x-raw,format=I420 ! jpegenc quality=85 ! rtpjpegpay name=pay0 pt=26 )"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", nargs="?")
    parser.add_argument("port", nargs="?", type=int)
    parser.add_argument("--check", action="store_true", help="check the elements and exit")
    args = parser.parse_args()
    Gst.init(None)
    missing = [name for name in ELEMENTS if Gst.ElementFactory.find(name) is None]
    if missing:
        print(f"MISSING GStreamer elements: {', '.join(missing)}", flush=True)
        return 3
    if args.check:
        print("OK", flush=True)
        return 0
    if args.video is None or args.port is None:
        parser.error("expected VIDEO and PORT")

    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch_line(args.video))
    factory.set_shared(False)
    # RTP interleaved on the RTSP connection (OpenCV's FFmpeg asks for TCP anyway): no UDP
    # ports, so nothing but 127.0.0.1:PORT is ever opened
    factory.set_protocols(GstRtsp.RTSPLowerTrans.TCP)
    server.get_mount_points().add_factory("/test", factory)
    if server.attach(None) == 0:
        print(f"ERROR: cannot listen on 127.0.0.1:{args.port}", flush=True)
        return 2

    loop = GLib.MainLoop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signum, loop.quit)
    print(f"READY rtsp://127.0.0.1:{args.port}/test", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
