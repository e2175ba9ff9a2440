"""Sources: every spec form opens the right reader, files lose no frame, live readers keep the
newest frame, count drops and hand their errors to the consumer, bad specs fail in one line."""

from __future__ import annotations

import functools
import socket
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeimg.runtime.errors import EdgeimgError
from edgeimg.runtime.sources import (
    LatestFrameReader,
    SourceConfig,
    SourceKind,
    open_source,
    parse_spec,
    redact,
)

SIZE = (96, 64)  # (width, height)


def level(i: int) -> int:
    """Grey level of test frame i: 24 apart, so lossy codecs cannot confuse neighbours."""
    return 16 + 24 * i


def write_video(path: Path, frames: int, fps: float = 25.0, codec: str = "MJPG") -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), fps, SIZE)
    assert writer.isOpened()
    for i in range(frames):
        writer.write(np.full((SIZE[1], SIZE[0], 3), level(i), np.uint8))
    writer.release()
    return path


def frame_number(image: np.ndarray) -> int:
    """Which test frame an image is, from its mean grey level."""
    return round((float(image.mean()) - 16) / 24)


# -- specs -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "kind"),
    [
        (0, SourceKind.CAMERA),
        ("2", SourceKind.CAMERA),
        ("/dev/video1", SourceKind.CAMERA),
        ("rtsp://cam.local:554/live", SourceKind.STREAM),
        ("http://cam.local/mjpg", SourceKind.STREAM),
        ("csi://0", SourceKind.GSTREAMER),
        ("videotestsrc ! videoconvert ! appsink", SourceKind.GSTREAMER),
        ("synthetic:", SourceKind.SYNTHETIC),
        ("synthetic:seed=3,frames=10", SourceKind.SYNTHETIC),
    ],
)
def test_spec_forms_name_their_source_kind(spec, kind):
    assert parse_spec(spec)[0] is kind


def test_files_and_folders_are_recognised_by_what_exists(tmp_path):
    video = write_video(tmp_path / "clip.avi", 2)
    image = tmp_path / "one.png"
    cv2.imwrite(str(image), np.zeros((8, 8, 3), np.uint8))
    assert parse_spec(str(video)) == (SourceKind.VIDEO, str(video))
    assert parse_spec(f"file://{video}") == (SourceKind.VIDEO, str(video))
    assert parse_spec(tmp_path)[0] is SourceKind.FOLDER
    assert parse_spec(str(image))[0] is SourceKind.FOLDER


def test_csi_spec_becomes_an_argus_pipeline():
    _, pipeline = parse_spec("csi://1")
    assert "nvarguscamerasrc sensor-id=1" in pipeline and pipeline.endswith("max-buffers=1")


def test_passwords_are_redacted_from_stream_names():
    assert redact("rtsp://admin:secret@10.0.0.5:554/h264") == "rtsp://admin:***@10.0.0.5:554/h264"
    assert redact("http://cam.local/x") == "http://cam.local/x"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("missing.mp4", "source file not found: missing.mp4"),
        ("no-such-thing", "expected a camera index, an existing video file"),
        ("synthetic:colour=red", "expected key=value with key one of"),
        ("synthetic:frames=many", "expected a number, got 'many'"),
        ("synthetic:width=10", "expected at least 64x64"),
    ],
)
def test_bad_specs_fail_with_a_message_naming_them(spec, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(EdgeimgError, match=message.replace("(", r"\(")):
        open_source(spec)


# -- video files -----------------------------------------------------------------------------


def test_video_file_delivers_every_frame_in_order_with_file_timestamps(tmp_path):
    path = write_video(tmp_path / "clip.avi", 8, fps=20.0)
    with open_source(path) as source:
        assert source.kind is SourceKind.VIDEO and not source.live and source.fps == 20.0
        frames = list(source)
    assert [f.index for f in frames] == list(range(8))
    assert [frame_number(f.image) for f in frames] == list(range(8))
    assert [f.timestamp for f in frames] == pytest.approx([i / 20.0 for i in range(8)])
    assert frames[0].image.shape == (SIZE[1], SIZE[0], 3) and frames[0].image.dtype == np.uint8
    assert source.dropped == 0


def test_video_file_start_skips_frames_but_keeps_file_positions(tmp_path):
    path = write_video(tmp_path / "clip.mp4", 6, fps=10.0, codec="mp4v")
    with open_source(path, SourceConfig(start=4, fps=5.0)) as source:
        frames = list(source)
    assert [f.index for f in frames] == [4, 5]
    assert [frame_number(f.image) for f in frames] == [4, 5]
    assert [f.timestamp for f in frames] == pytest.approx([0.8, 1.0])


def test_starting_past_the_end_of_a_video_is_an_error(tmp_path):
    path = write_video(tmp_path / "clip.avi", 3)
    with pytest.raises(EdgeimgError, match="has 3 frames; cannot start at frame 5"):
        open_source(path, SourceConfig(start=5))


def test_undecodable_video_is_an_error_naming_the_file(tmp_path):
    path = tmp_path / "broken.mp4"
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    with pytest.raises(EdgeimgError, match=r"cannot decode video .*broken\.mp4"):
        open_source(path)


def test_real_pets_clip_reads_from_a_chosen_frame(pets_dir):
    with open_source(pets_dir / "vtest.avi", SourceConfig(start=600)) as source:
        first, second = source.read(), source.read()
    assert (first.index, second.index) == (600, 601)
    assert first.image.shape == (576, 768, 3)
    assert second.timestamp - first.timestamp == pytest.approx(1 / source.fps)
    assert not np.array_equal(first.image, second.image)  # people walk


# -- image folders ---------------------------------------------------------------------------


def test_image_folder_reads_images_only_in_natural_order(tmp_path):
    for position, number in enumerate((1, 2, 10)):  # plain sorting would put img10 second
        cv2.imwrite(
            str(tmp_path / f"img{number}.png"), np.full((16, 16, 3), level(position), np.uint8)
        )
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "seqinfo.ini").write_text("[Sequence]\nframeRate=7\n")
    with open_source(tmp_path) as source:
        frames = list(source)
    assert [frame_number(f.image) for f in frames] == [0, 1, 2]
    assert [f.index for f in frames] == [0, 1, 2]
    assert source.fps == 7.0 and frames[2].timestamp == pytest.approx(2 / 7)


def test_undecodable_image_in_a_folder_is_skipped_and_counted(tmp_path):
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((8, 8, 3), np.uint8))
    (tmp_path / "b.png").write_bytes(b"not a png")
    cv2.imwrite(str(tmp_path / "c.png"), np.zeros((8, 8, 3), np.uint8))
    with open_source(tmp_path) as source:
        assert [f.index for f in source] == [0, 2]
        assert source.dropped == 1


def test_empty_folder_is_an_error_naming_the_folder(tmp_path):
    (tmp_path / "readme.txt").write_text("no images here")
    with pytest.raises(EdgeimgError, match=f"image folder {tmp_path} has no images"):
        open_source(tmp_path)


# -- synthetic scene -------------------------------------------------------------------------


def test_synthetic_source_renders_the_scene_in_order():
    with open_source("synthetic:frames=4,width=160,height=120,min_height=20,max_height=40") as s:
        frames = list(s)
        expected = s.scene.render(3)[0]
    assert [f.index for f in frames] == [0, 1, 2, 3]
    assert frames[0].image.shape == (120, 160, 3)
    assert np.array_equal(frames[3].image, expected)
    assert frames[3].timestamp == pytest.approx(3 / s.fps)


# -- cameras, streams, pipelines -------------------------------------------------------------


def test_camera_that_does_not_open_is_an_error_naming_it():
    index = next(i for i in range(40, 64) if not Path(f"/dev/video{i}").exists())
    with pytest.raises(EdgeimgError, match=f"cannot open camera {index}"):
        open_source(index)


@pytest.mark.skipif(
    cv2.videoio_registry.hasBackend(cv2.CAP_GSTREAMER), reason="this OpenCV has GStreamer"
)
def test_gstreamer_pipeline_without_gstreamer_says_so():
    with pytest.raises(EdgeimgError, match="need an OpenCV built with GStreamer"):
        open_source("videotestsrc ! videoconvert ! appsink")


def test_stream_that_never_answers_times_out(tmp_path):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)  # accepts connections, never answers
    url = f"http://127.0.0.1:{server.getsockname()[1]}/live.mjpg"
    started = time.monotonic()
    try:
        with pytest.raises(EdgeimgError, match=r"did not open within 0\.5 s"):
            open_source(url, SourceConfig(open_timeout_s=0.5, read_timeout_s=0.5))
    finally:
        server.close()
    assert time.monotonic() - started < 5


@pytest.fixture()
def http_server(tmp_path):
    """Serves tmp_path over HTTP; yields (base URL, server)."""

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=tmp_path))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", server
    server.shutdown()
    server.server_close()


def test_stream_reconnects_when_it_drops_and_fails_when_it_stays_down(tmp_path, http_server):
    write_video(tmp_path / "cam.avi", 6)
    base, server = http_server
    config = SourceConfig(
        open_timeout_s=2, read_timeout_s=2, reconnect_attempts=2, reconnect_delay_s=0.05
    )
    indices = []
    with open_source(f"{base}/cam.avi", config) as source:
        assert source.live and source.kind is SourceKind.STREAM
        with pytest.raises(EdgeimgError, match="did not come back after 2 reconnect attempts"):
            for frame in source:
                indices.append(frame.index)
                time.sleep(0.005)
                if source.reconnects >= 1:  # the stream ended once and came back: now kill it
                    server.shutdown()
                    server.server_close()
    assert source.reconnects >= 1
    assert indices == sorted(indices) and len(indices) >= 2


# -- the newest-frame reader -----------------------------------------------------------------


def test_live_replay_keeps_the_newest_frame_and_counts_the_drops(tmp_path):
    path = write_video(tmp_path / "clip.avi", 10, fps=50.0)
    with open_source(path, SourceConfig(live=True)) as source:
        assert source.live
        frames = []
        for frame in source:
            frames.append(frame)
            time.sleep(0.06)  # a model three frames slow
    indices = [f.index for f in frames]
    assert indices == sorted(set(indices)) and indices[-1] >= 8
    assert [frame_number(f.image) for f in frames] == indices
    assert source.dropped == 10 - len(frames) > 0
    stamps = [f.timestamp for f in frames]
    assert stamps == sorted(stamps) and stamps[-1] <= time.monotonic()


def consume(reader: LatestFrameReader, outcome: list) -> None:
    try:
        while reader.get() is not None:
            pass
        outcome.append("ended")
    except Exception as exc:  # recorded for the test to inspect
        outcome.append(exc)


def test_reader_hands_a_worker_error_to_the_consumer_without_hanging():
    count = iter(range(1000))

    def read() -> np.ndarray:
        if next(count) == 3:
            raise RuntimeError("sensor unplugged")
        return np.zeros((4, 4, 3), np.uint8)

    reader = LatestFrameReader(read, "flaky")
    reader.start()
    outcome: list = []
    consumer = threading.Thread(target=consume, args=(reader, outcome))
    consumer.start()
    consumer.join(timeout=5)
    assert not consumer.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], RuntimeError)
    assert str(outcome[0]) == "sensor unplugged"
    reader.stop()


def test_reader_ends_when_read_returns_none_and_stops_on_request():
    frames = iter([np.zeros((2, 2, 3), np.uint8)])
    reader = LatestFrameReader(lambda: next(frames, None), "short")
    reader.start()
    first = reader.get()
    assert first is not None and first[1] == 0
    assert reader.get() is None

    cleaned = threading.Event()
    endless = LatestFrameReader(
        lambda: np.zeros((2, 2, 3), np.uint8), "endless", cleanup=cleaned.set
    )
    endless.start()
    assert endless.get() is not None
    endless.stop(timeout=5)
    assert cleaned.is_set()
    assert endless.dropped > 0
