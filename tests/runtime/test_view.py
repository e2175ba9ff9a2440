"""The live view (``--serve-view``, ``runtime/view.py``): its real HTTP server read with urllib
and raw sockets, the CLI option end to end, and the page in a real headless Chromium.

Loopback addresses only. Every wait is bounded; the only timing checks are generous bounds
that a blocked writer or a hung server would break. The browser test needs Debian's
``chromium`` and PyPI's ``playwright`` (``.ci/run`` installs both; no ``playwright install``):
it skips without them, and fails in CI.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from edgeimg.cli.main import main
from edgeimg.runtime.errors import EdgeimgError
from edgeimg.runtime.frame import Frame
from edgeimg.runtime.sinks import FrameResult
from edgeimg.runtime.tasks.detect.detections import Detections
from edgeimg.runtime.timing import Stage, StageTimer
from edgeimg.runtime.view import BOUNDARY, ViewSink, parse_address

CHROMIUM = Path("/usr/bin/chromium")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def get(url: str, timeout: float = 10.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        assert response.status == 200
        return response.read()


def stats(view: ViewSink | str) -> dict[str, Any]:
    base = view.url if isinstance(view, ViewSink) else view
    return json.loads(get(base + "stats.json"))


def read_part(stream: Any) -> bytes:
    """The next JPEG of a multipart/x-mixed-replace stream (after its boundary line)."""
    line = stream.readline()
    while line.strip() != f"--{BOUNDARY}".encode():
        if not line:
            raise EOFError("the stream ended")
        line = stream.readline()
    headers = {}
    while line := stream.readline().strip():
        key, _, value = line.decode().partition(":")
        headers[key.strip().lower()] = value.strip()
    if not headers:
        raise EOFError("the stream ended after a boundary")
    assert headers["content-type"] == "image/jpeg"
    return stream.read(int(headers["content-length"]))


def decode(jpeg: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, "not a JPEG OpenCV can read"
    return image


def wait_until(condition: Any, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def marked_image(value: int, size: tuple[int, int] = (160, 120), noise: bool = False) -> np.ndarray:
    """An image whose top-left 32x32 block is ``value`` (to tell frames apart after JPEG)."""
    width, height = size
    rng = np.random.default_rng(value)
    if noise:  # incompressible: large JPEGs, to fill a stalled client's socket
        image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    else:
        image = np.zeros((height, width, 3), np.uint8)
        cv2.circle(image, (width // 2, height // 2), height // 3, (40, 200, 90), -1)
    image[:32, :32] = value
    return image


def result(index: int, image: np.ndarray, tracks: list[int] | None = None) -> FrameResult:
    tracks = [3, -1, 7] if tracks is None else tracks
    n = len(tracks)
    detections = Detections(
        np.tile(np.float32([[10, 10, 40, 60]]), (n, 1)),
        np.full(n, 0.9, np.float32),
        np.zeros(n, np.int32),
        np.array(tracks, np.int64),
    )
    return FrameResult(Frame(image, index, index / 10.0), detections, image)


@pytest.fixture
def view():
    sink = ViewSink("127.0.0.1:0")
    with sink:
        yield sink


def test_address_forms_and_bad_addresses():
    assert parse_address("8080") == ("127.0.0.1", 8080)
    assert parse_address("127.0.0.1:0") == ("127.0.0.1", 0)
    assert parse_address("[::1]:8080") == ("::1", 8080)
    assert parse_address("localhost:9000") == ("localhost", 9000)
    for bad in ("", "abc", "127.0.0.1:", ":8080", "127.0.0.1:99999", "::1:8080", "[::1]8080"):
        with pytest.raises(EdgeimgError, match="expected HOST:PORT"):
            parse_address(bad)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(EdgeimgError, match="Address already in use"):
            ViewSink(f"127.0.0.1:{port}")
    # an address of no interface here (TEST-NET-1): refused at once, nothing bound
    with pytest.raises(EdgeimgError, match=r"192\.0\.2\.1:\d+: cannot listen there"):
        ViewSink("192.0.2.1:0")


def test_page_is_served_and_self_contained(view):
    with urllib.request.urlopen(view.url, timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/html")
        page = response.read().decode()
    assert '<img id="view" src="stream.mjpg"' in page
    assert "stats.json" in page and "<script>" in page and "<style>" in page
    # no CDN, no external script, style sheet, font or image: works with no internet
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page, re.I)
    assert "@import" not in page and "url(" not in page
    with pytest.raises(urllib.error.HTTPError) as missing:
        get(view.url + "nothing-here")
    assert missing.value.code == 404


def test_stats_json_parses_and_follows_the_frames(view):
    first = stats(view)
    assert first["frames"] == 0 and first["frame"] is None and first["running"] is True
    assert first["fps"] == 0.0 and first["viewers"] == 0
    for i in range(5):
        view.write(result(i, marked_image(i)))
        time.sleep(0.01)  # writes at distinct times: an FPS exists
    now = stats(view)
    assert now["frames"] == 5 and now["frame"] == 5  # 1-based, as the JSON lines
    assert now["tracks"] == 2 and now["detections"] == 3  # the boxes with a track ID
    assert now["size"] == [160, 120]
    assert now["fps"] > 0 and now["frame_ms"] > 0
    view.write(result(41, marked_image(41), tracks=[]))
    later = stats(view)
    assert later["frames"] == 6 and later["frame"] == 42 and later["tracks"] == 0
    assert later["elapsed_s"] >= now["elapsed_s"]
    # a detector run without tracking: boxes, no track count
    untracked = Detections(np.float32([[1, 1, 5, 5]]), np.float32([0.5]), np.int32([0]))
    image = marked_image(1)
    view.write(FrameResult(Frame(image, 42, 4.2), untracked, image))
    assert stats(view)["tracks"] is None and stats(view)["detections"] == 1


def test_stats_carry_stage_means_from_a_timer():
    timer = StageTimer()
    view = ViewSink("127.0.0.1:0")
    view.watch(timer)  # as run_pipeline does before the first frame
    with view:
        assert stats(view)["stages_ms"] is None
        timer.add(np.full(len(Stage), 0.002), 0.01)
        view.write(result(0, marked_image(0)))
        stages = stats(view)["stages_ms"]
    assert set(stages) == {stage.value for stage in Stage}
    assert stages["inference"] == pytest.approx(2.0)


def test_stream_parts_are_jpegs_of_the_newest_frame(view):
    view.write(result(0, marked_image(200)))
    with urllib.request.urlopen(view.url + "stream.mjpg", timeout=10) as stream:
        assert stream.headers["Content-Type"] == f"multipart/x-mixed-replace; boundary={BOUNDARY}"
        first = decode(read_part(stream))
        assert first.shape == (120, 160, 3)
        assert abs(float(first[8:24, 8:24].mean()) - 200) < 10
        wait_until(lambda: view.viewers == 1, "the viewer to be counted")
        view.write(result(1, marked_image(60)))
        second = decode(read_part(stream))
        assert abs(float(second[8:24, 8:24].mean()) - 60) < 10
        assert stats(view)["stream_frame"] == 2
    wait_until(lambda: view.viewers == 0, "the viewer to leave")


def test_two_clients_at_once(view):
    view.write(result(0, marked_image(10)))
    with (
        urllib.request.urlopen(view.url + "stream.mjpg", timeout=10) as one,
        urllib.request.urlopen(view.url + "stream.mjpg", timeout=10) as two,
    ):
        decode(read_part(one))
        decode(read_part(two))
        wait_until(lambda: stats(view)["viewers"] == 2, "two viewers")
        for i in range(1, 4):
            view.write(result(i, marked_image(10 + 40 * i)))
            a, b = decode(read_part(one)), decode(read_part(two))
            for image in (a, b):  # each client gets the newest frame
                assert abs(float(image[8:24, 8:24].mean()) - (10 + 40 * i)) < 10
    wait_until(lambda: view.viewers == 0, "both viewers to leave")


def test_a_stalled_client_does_not_block_the_writer_or_close():
    view = ViewSink("127.0.0.1:0")
    view.open()
    stalled = socket.socket()
    try:
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.settimeout(10)
        stalled.connect(("127.0.0.1", view.port))
        stalled.sendall(b"GET /stream.mjpg HTTP/1.1\r\nHost: localhost\r\n\r\n")  # never read
        wait_until(lambda: view.viewers == 1, "the stalled viewer to be counted")
        last = 100
        images = [marked_image(i, (1280, 720), noise=True) for i in range(last)]

        def writer() -> None:
            for i, image in enumerate(images):
                view.write(result(i, image))
                time.sleep(0.005)  # ~0.5 s in all: several JPEGs of ~2 MB for the stalled client

        thread = threading.Thread(target=writer, daemon=True)
        started = time.monotonic()
        thread.start()
        thread.join(timeout=60)
        assert not thread.is_alive(), "writing 100 frames blocked on a client that reads nothing"
        assert view.frames == last
        assert stats(view)["viewers"] == 1  # the stalled one is still connected
        # another client gets the newest frame (within a part or two: the encoder's pace)
        with urllib.request.urlopen(view.url + "stream.mjpg", timeout=10) as fresh:
            marks = []
            for _ in range(3):
                marks.append(float(decode(read_part(fresh))[8:24, 8:24].mean()))
                if abs(marks[-1] - (last - 1)) < 10:
                    break
            assert abs(marks[-1] - (last - 1)) < 10, marks
        closer = threading.Thread(target=view.close, daemon=True)
        closer.start()
        closer.join(timeout=30)
        assert not closer.is_alive(), "close() hung on a stalled client"
        assert time.monotonic() - started < 60
        assert view.viewers == 0
    finally:
        stalled.close()
        view.close()


def test_close_ends_the_streams_and_frees_the_port():
    view = ViewSink("127.0.0.1:0")
    port = view.port
    with view:
        view.write(result(0, marked_image(5)))
        stream = urllib.request.urlopen(view.url + "stream.mjpg", timeout=10)
        decode(read_part(stream))
    with stream, pytest.raises(EOFError):  # the stream ends with the run, promptly
        for _ in range(5):
            read_part(stream)
    with pytest.raises(urllib.error.URLError):
        get(f"http://127.0.0.1:{port}/stats.json", timeout=5)
    view.close()  # twice is fine
    with ViewSink(f"127.0.0.1:{port}") as again:  # the address is free again
        assert stats(again)["frames"] == 0


def test_track_serve_view_port_in_use_is_one_line_before_any_frame(tmp_path, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = main(
            [
                "track",
                "--source",
                "synthetic:frames=5",
                "--serve-view",
                f"127.0.0.1:{port}",
                "--jsonl",
                str(tmp_path / "out.jsonl"),
            ]
        )
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "Traceback" not in "\n".join(err)
    assert err[-1] == (
        f"edgeimg track: error: --serve-view 127.0.0.1:{port}: cannot listen there: Address "
        "already in use (another program uses the port? choose another)"
    )
    assert list(tmp_path.iterdir()) == []  # no output started
    assert main(["track", "--serve-view", "localhost:x", "--frames", "1"]) == 2
    assert "--serve-view: expected HOST:PORT" in capsys.readouterr().err


def test_track_serve_view_end_to_end(tmp_path):
    """The CLI serves the page, the stats and the stream while a live run goes on, and the run
    still ends normally with its outputs complete; the server goes with it."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "edgeimg.cli.main",
            "track",
            "--source",
            "synthetic:frames=60,fps=10",
            "--live",
            "--serve-view",
            f"127.0.0.1:{port}",
            "--jsonl",
            "out.jsonl",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}/"
    try:

        def frame_seen() -> bool:
            try:
                return (stats(base).get("frame") or 0) > 0
            except (urllib.error.URLError, ConnectionError):
                assert process.poll() is None, process.communicate()
                return False

        wait_until(frame_seen, "the first frame on the live view", timeout=90)
        assert b'id="view"' in get(base)
        with urllib.request.urlopen(base + "stream.mjpg", timeout=10) as stream:
            image = decode(read_part(stream))
        assert image.shape == (480, 640, 3)  # the synthetic scene's size
        # the pipeline hands the view its timer: per-stage means appear once frames are done
        wait_until(lambda: stats(base).get("stages_ms"), "stage means on the live view", 60)
        assert stats(base)["stages_ms"]["inference"] > 0
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert f"live view: {base}" in err
    frames = int(re.search(r"(\d+) frames in", out).group(1))
    lines = (tmp_path / "out.jsonl").read_text().splitlines()
    assert len(lines) == frames and all(json.loads(line)["frame"] for line in lines)
    assert not (tmp_path / "edgeimg_track.mp4").exists()  # --serve-view is an output
    with pytest.raises(urllib.error.URLError):
        get(base + "stats.json", timeout=5)


def test_track_serve_view_ctrl_c_with_a_viewer_connected(tmp_path):
    """Ctrl-C stops a run while a browser-like client streams: exit 130, the outputs are
    complete, the stream ends and the address is released."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "edgeimg.cli.main",
            "track",
            "--source",
            "synthetic:frames=3000,fps=10",
            "--live",
            "--serve-view",
            str(port),
            "--jsonl",
            "out.jsonl",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}/"
    try:

        def frame_seen() -> bool:
            try:
                return (stats(base).get("frame") or 0) > 0
            except (urllib.error.URLError, ConnectionError):
                assert process.poll() is None, process.communicate()
                return False

        wait_until(frame_seen, "the first frame on the live view", timeout=90)
        with urllib.request.urlopen(base + "stream.mjpg", timeout=10) as stream:
            decode(read_part(stream))
            process.send_signal(signal.SIGINT)
            out, err = process.communicate(timeout=60)
            with pytest.raises(EOFError):  # the stream ended with the run
                for _ in range(100):
                    read_part(stream)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130, err
    frames = int(re.search(r"(\d+) frames in", out).group(1))
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == frames
    with ViewSink(f"127.0.0.1:{port}"):  # released
        pass


# --- a real browser ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser_ready() -> None:
    missing = []
    if not CHROMIUM.is_file():
        missing.append(f"Debian's chromium ({CHROMIUM}: apt-get install chromium)")
    if importlib.util.find_spec("playwright") is None:
        missing.append("playwright (pip install playwright; its browser download is not used)")
    if missing:
        message = "the browser test needs " + " and ".join(missing)
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


class GatedLiveSource:
    """The synthetic scene read live (paced at its frame rate) until ``done`` is set: the run
    lasts as long as the browser needs, then ends as a source does (end of source)."""

    live = True

    def __init__(self, done: threading.Event) -> None:
        from edgeimg.runtime.sources import SourceConfig, open_source

        self.inner = open_source("synthetic:frames=3000,fps=15", SourceConfig(live=True))
        self.done = done
        self.name, self.fps, self.dropped = self.inner.name, self.inner.fps, 0

    def read(self) -> Frame | None:
        if self.done.is_set():
            return None
        frame = self.inner.read()
        self.dropped = self.inner.dropped
        return frame

    def close(self) -> None:
        self.inner.close()


def test_live_view_in_a_real_browser(browser_ready, tmp_path):
    from playwright.sync_api import sync_playwright

    from edgeimg.runtime.model import bundled_model_path, load_model
    from edgeimg.runtime.pipeline import PipelineConfig, run_pipeline
    from edgeimg.runtime.sinks import JsonLinesSink
    from edgeimg.runtime.tasks.detect.tracking import ByteTracker

    model = load_model(bundled_model_path("detect"), threads=1)
    view = ViewSink(f"127.0.0.1:{free_port()}")
    jsonl = JsonLinesSink(tmp_path / "tracks.jsonl", model.contract)
    done = threading.Event()
    source = GatedLiveSource(done)
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = run_pipeline(
                source,  # type: ignore[arg-type]
                model,
                [jsonl, view],
                stages=[ByteTracker.from_contract(model.contract)],
                annotator=model.task.annotator(model.contract),
                config=PipelineConfig(log_every_s=0),
            )
        except BaseException as exc:
            outcome["error"] = exc

    runner = threading.Thread(target=run, name="pipeline", daemon=True)
    runner.start()
    screenshot = tmp_path / "live_view.png"
    try:
        wait_until(lambda: view.frames > 0 or not runner.is_alive(), "the first frame", 60)
        assert runner.is_alive(), outcome
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, timeout=60_000
            )
            try:
                page = browser.new_page(viewport={"width": 1100, "height": 700})
                other = browser.new_page(viewport={"width": 800, "height": 600})
                for tab in (page, other):  # two viewers at once
                    tab.goto(view.url, timeout=30_000)
                for tab in (page, other):  # the first MJPEG part is decoded and laid out
                    tab.wait_for_function(
                        "() => document.getElementById('view').naturalWidth > 0", timeout=30_000
                    )
                assert page.evaluate("document.getElementById('view').naturalWidth") == 640
                wait_until(lambda: stats(view)["viewers"] == 2, "two browser viewers", 30)
                other.close()
                page.wait_for_function(
                    "() => document.getElementById('stats').innerText.includes('FPS')",
                    timeout=30_000,
                )
                before = page.inner_text("#stats")
                page.wait_for_function(
                    "(before) => document.getElementById('stats').innerText !== before",
                    arg=before,
                    timeout=30_000,
                )
                after = page.inner_text("#stats")
                assert before != after and "tracks" in after and "viewers" in after
                assert page.inner_text("#status") == "live"
                assert stats(view)["viewers"] >= 1
                page.screenshot(path=str(screenshot))
                box = page.locator("#view").bounding_box()
            finally:
                browser.close()
    finally:
        done.set()
        runner.join(timeout=60)
        source.close()
    assert not runner.is_alive(), "the run did not end after the source did"
    assert "error" not in outcome, outcome
    run_result = outcome["result"]
    assert not run_result.interrupted and run_result.stopped_by == "end of source"
    lines = (tmp_path / "tracks.jsonl").read_text().splitlines()
    assert len(lines) == run_result.frames == view.frames > 0
    with pytest.raises(urllib.error.URLError):  # the server went with the run
        get(view.url, timeout=5)

    data = screenshot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    shot = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert shot.shape[:2] == (700, 1100)
    assert box is not None and box["width"] >= 320
    x, y, w, h = (int(box[k]) for k in ("x", "y", "width", "height"))
    centre = shot[y + h // 4 : y + 3 * h // 4, x + w // 4 : x + 3 * w // 4]
    assert centre.size and float(centre.std()) > 5.0, "the painted frame is uniform"
