"""The pipeline end to end with real parts: a video decoded by OpenCV, an ONNX detector run by
onnxruntime, the ByteTrack tracker, the annotator and the file sinks, timed on every frame."""

from __future__ import annotations

import json
import logging
import signal
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeimg.runtime.contract import ModelContract
from edgeimg.runtime.errors import EdgeimgError
from edgeimg.runtime.pipeline import Balance, PipelineConfig, run_pipeline
from edgeimg.runtime.sinks import FrameResult, JsonLinesSink, Sink, VideoSink
from edgeimg.runtime.sources import SourceConfig, open_source
from edgeimg.runtime.tasks.detect.annotate import Annotator
from edgeimg.runtime.tasks.detect.mot import read_mot
from edgeimg.runtime.tasks.detect.sinks import MotSink
from edgeimg.runtime.tasks.detect.tracking import ByteTrackConfig, ByteTracker
from edgeimg.runtime.timing import Stage, StageTimer

WIDTH, HEIGHT = 192, 128  # source frames; the model sees them letterboxed to 96x64 (scale 0.5)
FRAMES = 12
BLOB_CONTRACT = {
    "task": "detect",
    "class_names": ["blob"],
    "input_size": [64, 96],
    "decoder": "centernet",
    "decoder_params": {"stride": 4, "score_threshold": 0.1, "nms_iou": 0.6},
    "output_names": ["heatmap", "boxes"],
}


def blob_detector(path: Path) -> Path:
    """A real ONNX detector of bright blobs: heatmap = sigmoid(12 * (mean 4x4 brightness - 0.35))
    at stride 4, and a fixed 16x16-pixel box (2 strides each side) around every cell centre."""
    onnx = pytest.importorskip("onnx")
    helper, tp = onnx.helper, onnx.TensorProto
    init = {
        "gain": np.array(12 / 255, np.float32),
        "offset": np.array(-12 * 0.35, np.float32),
        "w": np.zeros((4, 1, 1, 1), np.float32),
        "b": np.full(4, 2.0, np.float32),
    }
    nodes = [
        helper.make_node("Transpose", ["image"], ["nchw"], perm=[0, 3, 1, 2]),
        helper.make_node("ReduceMean", ["nchw"], ["grey"], axes=[1], keepdims=1),
        helper.make_node("AveragePool", ["grey"], ["cells"], kernel_shape=[4, 4], strides=[4, 4]),
        helper.make_node("Mul", ["cells", "gain"], ["scaled"]),
        helper.make_node("Add", ["scaled", "offset"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], ["heat"]),
        helper.make_node("Transpose", ["heat"], ["heatmap"], perm=[0, 2, 3, 1]),
        helper.make_node("Conv", ["cells", "w", "b"], ["ltrb"], kernel_shape=[1, 1]),
        helper.make_node("Transpose", ["ltrb"], ["boxes"], perm=[0, 2, 3, 1]),
    ]
    graph = helper.make_graph(
        nodes,
        "blobs",
        [helper.make_tensor_value_info("image", tp.FLOAT, [1, 64, 96, 3])],
        [
            helper.make_tensor_value_info("heatmap", tp.FLOAT, [1, 16, 24, 1]),
            helper.make_tensor_value_info("boxes", tp.FLOAT, [1, 16, 24, 4]),
        ],
        [onnx.numpy_helper.from_array(v, k) for k, v in init.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    helper.set_model_props(model, ModelContract.from_dict(BLOB_CONTRACT).to_metadata())
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(path))
    return path


def blob_centres(i: int) -> np.ndarray:
    """(2, 2) source-pixel centres of the two blobs in frame i: one moves right, one left,
    one 8-pixel cell (one model stride) per frame."""
    return np.array([[36 + 8 * i, 36], [156 - 8 * i, 92]], dtype=np.float64)


def blob_image(i: int, width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width]
    image = np.zeros((height, width), np.float64)
    for cx, cy in blob_centres(i) * [width / WIDTH, height / HEIGHT]:
        sigma = 6.0 * width / WIDTH
        image = np.maximum(image, np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sigma**2)))
    return cv2.cvtColor((image * 255).astype(np.uint8), cv2.COLOR_GRAY2BGR)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    from edgeimg.runtime.model import load_model

    return load_model(blob_detector(tmp_path_factory.mktemp("model") / "blobs.onnx"))


@pytest.fixture()
def blob_video(tmp_path) -> Path:
    path = tmp_path / "blobs.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (WIDTH, HEIGHT))
    for i in range(FRAMES):
        writer.write(blob_image(i))
    writer.release()
    return path


def count_frames(path: Path) -> tuple[int, tuple[int, int]]:
    capture = cv2.VideoCapture(str(path))
    size = (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    count = 0
    while capture.read()[0]:
        count += 1
    capture.release()
    return count, size


@pytest.mark.parametrize(
    ("workers", "preprocess_on"), [(1, "balance"), (3, "balance"), (1, "reader"), (2, "worker")]
)
def test_pipeline_tracks_two_blobs_and_writes_every_output(
    model, blob_video, tmp_path, workers, preprocess_on, monkeypatch
):
    """The same frames, results and track IDs in frame order, whatever number of frames is in
    inference at once and wherever preprocessing runs."""
    if preprocess_on != "balance":
        where = property(lambda self: preprocess_on == "reader" and self.means is not None)
        monkeypatch.setattr(Balance, "on_reader", where)
    out = tmp_path / "out"
    out.mkdir()
    sinks = [
        VideoSink(out / "tracked.mp4"),
        JsonLinesSink(out / "tracked.jsonl"),
        MotSink(out / "tracked.txt"),
    ]
    with open_source(blob_video) as source:
        for sink in sinks:
            sink.configure(source.fps, model.contract)
        result = run_pipeline(
            source,
            model,
            sinks,
            stages=[ByteTracker(ByteTrackConfig(frame_rate=source.fps))],
            annotator=Annotator(model.contract.class_names),
            config=PipelineConfig(workers=workers),
        )
    assert (result.frames, result.stopped_by, result.interrupted) == (
        FRAMES,
        "end of source",
        False,
    )

    records = [json.loads(line) for line in (out / "tracked.jsonl").read_text().splitlines()]
    assert [r["frame"] for r in records] == list(range(1, FRAMES + 1))
    assert [r["timestamp"] for r in records] == pytest.approx([i / 10 for i in range(FRAMES)])
    for i, record in enumerate(records):
        found = sorted(record["detections"], key=lambda d: d["box"][1])  # upper blob first
        assert len(found) == 2 and all(d["class"] == "blob" for d in found)
        centres = np.array(
            [[(d["box"][0] + d["box"][2]) / 2, (d["box"][1] + d["box"][3]) / 2] for d in found]
        )
        np.testing.assert_allclose(centres, blob_centres(i), atol=4.0)
        ids = [d["track_id"] for d in found]
        if i == 0:
            first_ids = ids
        assert ids == first_ids and None not in ids and ids[0] != ids[1]

    mot = read_mot(out / "tracked.txt")
    assert len(mot) == 2 * FRAMES and set(mot.frame.tolist()) == set(range(1, FRAMES + 1))
    assert set(mot.track_id.tolist()) == set(first_ids)
    np.testing.assert_allclose(mot.xywh[:, 2:], 32.0, atol=0.5)  # 16 px at the model = 32 px here

    assert count_frames(out / "tracked.mp4") == (FRAMES, (WIDTH, HEIGHT))
    assert sorted(p.name for p in out.iterdir()) == ["tracked.jsonl", "tracked.mp4", "tracked.txt"]

    timing = result.timing
    assert timing.frames == FRAMES and timing.dropped == 0 and timing.fps > 0
    assert set(timing.stages) == set(Stage)
    assert timing.stages[Stage.INFERENCE].p50 > 0 and timing.stages[Stage.DRAW].p50 > 0
    assert timing.frame_age.p50 > 0 and 0 < timing.inference_share < 1
    assert 0 < timing.inference_busy <= 1.0
    assert "inference" in timing.format() and "FPS" in timing.format()


def test_workers_call_a_backend_that_cannot_run_twice_at_once_one_at_a_time(
    model, blob_video, tmp_path
):
    """OpenCV dnn's net and OpenVINO's infer request hold one call: the workers take turns."""
    import threading

    class OneAtATime:
        concurrent_run = False

        def __init__(self) -> None:
            self.inside, self.most, self.lock = 0, 0, threading.Lock()

    backend = OneAtATime()

    class Guarded:
        def __init__(self) -> None:
            self.backend = backend
            self.preprocess, self.decode = model.preprocess, model.decode

        def infer(self, feeds):
            with backend.lock:
                backend.inside += 1
                backend.most = max(backend.most, backend.inside)
            time.sleep(0.002)  # long enough for another worker to come in, were it let
            try:
                return model.infer(feeds)
            finally:
                with backend.lock:
                    backend.inside -= 1

    with open_source(blob_video) as source:
        sink = JsonLinesSink(tmp_path / "out.jsonl")
        sink.configure(source.fps, model.contract)
        result = run_pipeline(source, Guarded(), [sink], config=PipelineConfig(workers=3))
    assert result.frames == FRAMES and backend.most == 1
    records = (tmp_path / "out.jsonl").read_text().splitlines()
    assert [json.loads(r)["frame"] for r in records] == list(range(1, FRAMES + 1))


def test_preprocessing_goes_to_the_side_it_makes_faster():
    """Per frame: reader = read + stages + draw + write, work = inference + decode; the workers
    share theirs."""
    balance = Balance(workers=1)
    assert not balance.on_reader  # nothing measured yet: on the workers
    balance.update(reader_s=0.004, preprocess_s=0.001, work_s=0.002)
    assert not balance.on_reader  # max(5, 2) ms on the reader vs max(4, 3) on the workers
    balance.update(reader_s=0.001, preprocess_s=0.001, work_s=0.005)  # running means move
    np.testing.assert_allclose(balance.means, [0.0037, 0.001, 0.0023])
    balance.reset()
    balance.update(reader_s=0.0013, preprocess_s=0.00085, work_s=0.002)  # PETS, OpenVINO INT8
    assert balance.on_reader  # max(2.15, 2.0) < max(1.3, 2.85)
    shared = Balance(workers=4)
    shared.update(reader_s=0.001, preprocess_s=0.001, work_s=0.005)
    assert not shared.on_reader  # max(2, 1.25) > max(1, 1.5): four workers absorb it


@pytest.mark.parametrize(("slow", "expected"), [("inference", "reader"), ("writing", "worker")])
def test_a_real_run_moves_preprocessing_off_the_slower_side(model, blob_video, slow, expected):
    """The balance in a run: with a model that takes 20 ms a frame, preprocessing moves to the
    reading thread after the first frames; with a sink that takes 20 ms, it stays on the
    worker."""
    import threading

    where: list[str] = []

    class Timed:
        decode = model.decode

        def preprocess(self, image):
            where.append(
                "worker" if threading.current_thread().name.startswith("edgeimg") else "reader"
            )
            return model.preprocess(image)

        def infer(self, feeds):
            if slow == "inference":
                time.sleep(0.02)
            return model.infer(feeds)

    class Slow(Sink):
        def write(self, result: FrameResult) -> None:
            if slow == "writing":
                time.sleep(0.02)

    with open_source(blob_video) as source:
        result = run_pipeline(source, Timed(), [Slow()])
    assert result.frames == FRAMES and len(where) == FRAMES
    assert where[0] == "worker"  # nothing measured yet
    assert where[-4:] == [expected] * 4, where


def test_a_worker_error_ends_the_run_with_the_outputs_closed(model, blob_video, tmp_path):
    class Failing:
        def __init__(self) -> None:
            self.calls = 0
            self.preprocess, self.decode = model.preprocess, model.decode

        def infer(self, feeds):
            self.calls += 1
            if self.calls == 5:
                raise EdgeimgError("inference failed: out of memory")
            return model.infer(feeds)

    with open_source(blob_video) as source:
        sink = MotSink(tmp_path / "mot.txt")
        sink.configure(source.fps, model.contract)
        with pytest.raises(EdgeimgError, match="out of memory"):
            run_pipeline(source, Failing(), [sink], config=PipelineConfig(workers=2))
    assert (tmp_path / "mot.txt").is_file()  # closed: the frames before the failure are kept
    assert not list(tmp_path.glob(".*partial*"))


def test_max_frames_stops_early_and_closes_the_outputs(model, blob_video, tmp_path):
    with open_source(blob_video) as source:
        result = run_pipeline(
            source, model, [MotSink(tmp_path / "mot.txt")], config=PipelineConfig(max_frames=3)
        )
    assert (result.frames, result.stopped_by) == (3, "max frames")
    # Untracked detections are written with id -1, frames 1-based.
    mot = read_mot(tmp_path / "mot.txt")
    assert sorted(set(mot.frame.tolist())) == [1, 2, 3] and set(mot.track_id.tolist()) == {-1}


class Interrupter(Sink):
    """Sends this process a real SIGINT (what Ctrl-C does) while writing frame ``at``."""

    def __init__(self, at: int) -> None:
        super().__init__()
        self.at = at

    def write(self, result: FrameResult) -> None:
        if result.frame.index == self.at:
            signal.raise_signal(signal.SIGINT)


def test_ctrl_c_ends_the_run_cleanly_with_complete_outputs(model, blob_video, tmp_path):
    video, jsonl = tmp_path / "partial.avi", tmp_path / "partial.jsonl"
    with open_source(blob_video) as source:
        result = run_pipeline(
            source,
            model,
            [VideoSink(video), JsonLinesSink(jsonl, model.contract), Interrupter(at=4)],
            annotator=Annotator(),
        )
    assert result.interrupted and result.stopped_by == "interrupted"
    assert count_frames(video)[0] == 5  # frames 0..4 were written before the interrupt
    assert len(jsonl.read_text().splitlines()) == 5
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


class Failing(Sink):
    def write(self, result: FrameResult) -> None:
        if result.frame.index == 6:
            raise RuntimeError("disk on fire")


def test_an_error_mid_run_propagates_after_the_outputs_are_finished(model, blob_video, tmp_path):
    video = tmp_path / "upto6.mp4"
    with open_source(blob_video) as source, pytest.raises(RuntimeError, match="disk on fire"):
        run_pipeline(source, model, [VideoSink(video), Failing()], annotator=Annotator())
    assert count_frames(video)[0] == 7
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_a_frame_of_another_size_mid_stream_is_handled(model, tmp_path, caplog):
    folder = tmp_path / "frames"
    folder.mkdir()
    sizes = [(WIDTH, HEIGHT), (WIDTH, HEIGHT), (WIDTH * 2, HEIGHT * 2), (WIDTH, HEIGHT)]
    for i, (w, h) in enumerate(sizes):
        cv2.imwrite(str(folder / f"{i:03d}.png"), blob_image(i, w, h))
    jsonl = tmp_path / "sizes.jsonl"
    with caplog.at_level(logging.WARNING), open_source(folder) as source:
        result = run_pipeline(
            source,
            model,
            [VideoSink(tmp_path / "sizes.avi"), JsonLinesSink(jsonl, model.contract)],
            annotator=Annotator(),
        )
    assert result.frames == 4
    assert count_frames(tmp_path / "sizes.avi") == (4, (WIDTH, HEIGHT))
    assert "frame 2 is 384x256, the video is 192x128; resizing" in caplog.text
    big = json.loads(jsonl.read_text().splitlines()[2])["detections"]
    centres = sorted(
        ((d["box"][0] + d["box"][2]) / 2, (d["box"][1] + d["box"][3]) / 2) for d in big
    )
    expected = sorted(map(tuple, blob_centres(2) * 2))
    np.testing.assert_allclose(centres, expected, atol=8.0)  # boxes in that frame's own pixels


def test_live_source_reports_frame_age_since_capture_and_drops(model, blob_video, tmp_path):
    class Slow(Sink):
        def write(self, result: FrameResult) -> None:
            time.sleep(0.25)

    with open_source(blob_video, SourceConfig(live=True)) as source:
        result = run_pipeline(source, model, [Slow()])
    assert result.timing.dropped > 0 and result.frames + result.timing.dropped == FRAMES
    assert result.timing.frame_age.p50 >= 0.25  # includes the slow write


def test_timing_summary_gives_percentiles_per_stage_and_the_inference_share():
    timer = StageTimer()
    for i in range(1, 101):  # inference 1..100 ms, write 1 ms, frame age 10..1000 ms
        timer.add(np.array([0, 0, i / 1000, 0, 0, 0, 0.001]), age=i / 100)
    summary = timer.summary(wall_s=4.0, dropped=3)
    inference = summary.stages[Stage.INFERENCE]
    assert (inference.p50, inference.mean) == pytest.approx((50.5, 50.5))
    assert inference.p99 == pytest.approx(99.01)
    assert summary.stages[Stage.WRITE].p90 == pytest.approx(1.0)
    assert summary.frame_time.p50 == pytest.approx(51.5)
    assert summary.frame_age.p50 == pytest.approx(505.0)
    assert (summary.frames, summary.fps, summary.dropped) == (100, 25.0, 3)
    assert summary.inference_share == pytest.approx(5.05 / 5.15)
    assert summary.to_dict()["stages_ms"]["inference"]["p50"] == 50.5
    with pytest.raises(ValueError, match="expected 7 values"):
        timer.add(np.zeros(3), age=0.0)


def test_timer_memory_is_bounded_and_whole_run_figures_stay_exact():
    timer = StageTimer(window=1000)
    pattern = np.array([0.001, 0.002, 0.004, 0.0005, 0.00025, 0.0, 0.003])
    for i in range(200_000):
        timer.add(pattern * (1 + i % 4), age=0.01 * (1 + i % 4))  # factors 1..4, mean 2.5
    assert len(timer) == 200_000
    kept = timer.durations()
    assert kept.shape == (1000, 7) and timer.ages().shape == (1000,)
    assert timer._rows.nbytes + timer._ages.nbytes <= 1000 * 8 * 8  # storage never grew
    summary = timer.summary(wall_s=100.0)
    assert summary.frames == 200_000 and summary.fps == 2000.0
    assert summary.stages[Stage.INFERENCE].mean == pytest.approx(4.0 * 2.5, rel=1e-9)
    assert summary.frame_time.mean == pytest.approx(pattern.sum() * 2500.0, rel=1e-9)
    assert summary.frame_age.mean == pytest.approx(25.0, rel=1e-9)
    assert summary.stages[Stage.INFERENCE].p50 == pytest.approx(10.0)  # window: factors 1..4
    assert summary.inference_share == pytest.approx(0.004 / pattern.sum())


def test_timer_window_keeps_the_latest_frames_in_order():
    timer = StageTimer(window=3)
    for i in range(5):
        timer.add(np.full(7, float(i)), age=float(i))
    assert timer.durations()[:, 0].tolist() == [2.0, 3.0, 4.0]
    assert timer.ages().tolist() == [2.0, 3.0, 4.0]
    summary = timer.summary(wall_s=1.0)
    assert summary.frames == 5 and summary.frame_age.mean == pytest.approx(2000.0)
    assert summary.frame_age.p50 == pytest.approx(3000.0)
    with pytest.raises(ValueError, match="window"):
        StageTimer(window=0)
