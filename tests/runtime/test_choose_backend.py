"""``--backend auto``: every candidate measured for real, the fastest chosen, the measurement
cached per (model, machine, versions, device, candidates) and ignored when any of them differs.

Timings vary from run to run: these tests assert the structure of a choice (every candidate
measured, sorted, the best one first, said in one line), never which backend wins.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
import weakref
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeimg.runtime.backends import (
    BACKENDS,
    ModelInfo,
    OrtBackend,
    TensorSpec,
    create_backend,
    register_backend,
)
from edgeimg.runtime.backends import choose as choose_module
from edgeimg.runtime.backends.choose import (
    CACHE_VERSION,
    TIE_MARGIN,
    Candidate,
    Measurement,
    candidates,
    choose_backend,
    default_threads,
    effective_device,
    measure,
    random_feeds,
    ranked,
    remember_loop,
)
from edgeimg.runtime.errors import EdgeimgError

BUDGET_S = 0.02  # short: the tests check what is measured and kept, not how fast it is
TWO = ("onnxruntime", "opencv")
LINE = re.compile(
    r"^(onnxruntime|opencv) FP32, 1 thread: \d+\.\d+ ms, chosen over (onnxruntime|opencv) FP32 "
    r"\d+\.\d+ ms \((measured now|cached \d{4}-\d\d-\d\dT\d\d:\d\d)\)$"
)


def choose(path: Path, cache: Path, **options):
    backends = options.pop("backends", TWO)
    threads = options.pop("threads", [1])
    return choose_backend(
        path, "cpu", backends, threads, budget_s=BUDGET_S, cache_dir=cache, **options
    )


def test_every_candidate_is_measured_and_the_fastest_is_chosen(detector_path, tmp_path):
    choice = choose(detector_path, tmp_path)
    assert {m.candidate for m in choice.measurements} == {
        Candidate("onnxruntime", 1),
        Candidate("opencv", 1),
    }
    times = [m.milliseconds for m in choice.measurements]
    assert all(t is not None and t > 0 for t in times)
    assert times[0] <= min(times) * (1 + TIE_MARGIN)  # the fastest, or a tie with it
    assert all(m.runs >= 5 for m in choice.measurements)  # at least one run per round
    assert (choice.backend, choice.threads) == (
        choice.measurements[0].candidate.backend,
        choice.measurements[0].candidate.threads,
    )
    assert not choice.cached
    assert LINE.match(choice.describe()), choice.describe()
    # the chosen configuration is an ordinary backend
    backend = create_backend(detector_path, choice.backend, "cpu", choice.threads)
    assert backend.outputs[0].name == "heatmap"


def test_the_measurement_is_cached_and_re_measured_on_request(detector_path, tmp_path):
    first = choose(detector_path, tmp_path)
    files = list(tmp_path.glob("*.json"))
    assert files == [first.path]
    stored = json.loads(first.path.read_text())
    sha = hashlib.sha256(detector_path.read_bytes()).hexdigest()
    assert stored["key"]["model_sha256"] == sha
    assert stored["key"]["device"] == "cpu"
    assert {"cpu", "cpu_flags_sha256", "versions", "candidates"} <= set(stored["key"])
    assert stored["key"]["versions"]["onnxruntime"]
    assert stored["key"]["input_shape"] == [1, 64, 96, 3]  # what it was timed on

    again = choose(detector_path, tmp_path)
    assert again.cached and again.measurements == first.measurements
    assert "(cached " in again.describe()

    fresh = choose(detector_path, tmp_path, remeasure=True)
    assert not fresh.cached and fresh.path == first.path

    remembered = remember_loop(fresh, 50.0)  # a loop much slower than the model
    assert json.loads(fresh.path.read_text())["loop_ms"] == 50.0
    again = choose(detector_path, tmp_path)
    assert again.cached and again.loop_ms == 50.0
    assert again.measurements == remembered.measurements
    assert "ranked beside the loop's 50.0 ms of other work per frame" in again.describe()
    remeasured = choose(detector_path, tmp_path, remeasure=True)  # the loop's cost is kept
    assert not remeasured.cached and remeasured.loop_ms == 50.0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("model_sha256", "0" * 64),
        ("cpu", "Another CPU @ 1.0GHz"),
        ("cpu_flags_sha256", "f" * 64),
        ("versions", {"onnxruntime": "0.1.0"}),
        ("device", "cuda"),
        ("input_shape", [1, 8, 8, 3]),
    ],
)
def test_an_entry_for_another_model_machine_or_versions_is_ignored(
    detector_path, tmp_path, field, value
):
    first = choose(detector_path, tmp_path)
    stored = json.loads(first.path.read_text())
    stored["key"][field] = value
    stored["measurements"][0]["milliseconds"] = 0.001  # a figure that must not be believed
    first.path.write_text(json.dumps(stored))
    again = choose(detector_path, tmp_path)
    assert not again.cached
    assert again.measurements[0].milliseconds != 0.001
    assert json.loads(first.path.read_text())["key"] == first.key.to_dict()  # rewritten


def test_another_model_candidates_or_machine_get_their_own_entry(
    detector_path, make_detector, tmp_path, monkeypatch
):
    first = choose(detector_path, tmp_path)
    other_model = choose(make_detector("other.onnx", seed=7), tmp_path)
    other_threads = choose(detector_path, tmp_path, threads=[1, 2])
    monkeypatch.setattr(choose_module, "cpu_signature", lambda: ("Other CPU", "0" * 64))
    other_machine = choose(detector_path, tmp_path)
    paths = {c.path for c in (first, other_model, other_threads, other_machine)}
    assert len(paths) == 4
    assert not any(c.cached for c in (other_model, other_threads, other_machine))
    assert len(other_threads.measurements) == 4


def test_an_unreadable_cache_entry_is_ignored(detector_path, tmp_path):
    first = choose(detector_path, tmp_path)
    first.path.write_text("{ not json")
    again = choose(detector_path, tmp_path)
    assert not again.cached
    assert json.loads(first.path.read_text())["version"] == CACHE_VERSION


def test_a_backend_that_fails_is_listed_with_its_reason_and_never_chosen(detector_path, tmp_path):
    def broken(path, device, threads, tensorrt):
        raise EdgeimgError("broken cannot load it")

    register_backend("broken", broken)
    try:
        choice = choose(detector_path, tmp_path, backends=("broken", "onnxruntime"))
        assert choice.backend == "onnxruntime"
        assert choice.measurements[-1].candidate.backend == "broken"
        assert choice.measurements[-1].milliseconds is None
        assert choice.measurements[-1].error == "broken cannot load it"
        assert choice.describe().startswith("onnxruntime FP32, 1 thread: ")
        assert "broken FP32 failed" in choice.describe()
        with pytest.raises(EdgeimgError, match=r"--backend auto: no backend runs .*broken"):
            choose(detector_path, tmp_path, backends=("broken",))
    finally:
        BACKENDS.unregister("broken")


def test_only_the_contenders_are_ever_loaded_side_by_side(detector_path):
    """Each candidate is first timed alone and released; only those near the best are then
    loaded together for the interleaved measurement. A backend 25 ms slower per run is timed
    once, alone, and keeps that figure."""
    made: list[float] = []
    live = [0, 0]  # now, most at once

    def released() -> None:
        live[0] -= 1

    class Delayed(OrtBackend):
        def __init__(self, path, device, threads, delay_s):
            super().__init__(path, device, threads)
            self.delay_s = delay_s
            made.append(delay_s)
            live[0] += 1
            live[1] = max(live)
            weakref.finalize(self, released)

        def run(self, feeds):
            time.sleep(self.delay_s)
            return super().run(feeds)

    delays = {"quick": 0.002, "quick_too": 0.002, "sluggish": 0.025}
    for name, delay in delays.items():
        register_backend(name, lambda p, d, t, trt, delay=delay: Delayed(p, d, t, delay))
    try:
        options = [Candidate(name, 1) for name in delays]
        measured = measure(detector_path, options, "cpu", budget_s=0.05)
        # three timed alone, then the two contenders loaded again, side by side
        assert made == [0.002, 0.002, 0.025, 0.002, 0.002]
        assert live[1] == 2
        assert {m.candidate.backend for m in measured[:2]} == {"quick", "quick_too"}
        assert measured[-1].candidate.backend == "sluggish"
        assert measured[-1].milliseconds > 25 and measured[-1].runs == 1  # alone, once
        assert all(m.runs > 1 for m in measured[:2])
    finally:
        for name in delays:
            BACKENDS.unregister(name)


def test_contenders_are_near_the_best_alone_or_in_cpu_time():
    measured = [
        Measurement(Candidate("openvino", 2, "INT8"), 1.5, 10),
        Measurement(Candidate("openvino", 1, "INT8"), 2.1, 10),  # least CPU time: 2.1
        Measurement(Candidate("onnxruntime", 2, "INT8"), 1.9, 10),  # 1.27x the fastest
        Measurement(Candidate("onnxruntime", 1), 2.7, 10),  # CPU time 1.29x the least
        Measurement(Candidate("onnxruntime", 2), 5.0, 10),
        Measurement(Candidate("opencv", 1), 9.0, 10),
        Measurement(Candidate("broken", 1), None, 0, "cannot load"),
    ]
    assert [(c.backend, c.threads) for c in choose_module.contenders(measured)] == [
        ("openvino", 2),
        ("openvino", 1),
        ("onnxruntime", 2),
        ("onnxruntime", 1),
    ]
    assert choose_module.contenders(measured[-1:]) == []


def test_opencv_thread_count_is_restored_after_measuring(detector_path):
    before = cv2.getNumThreads()
    measure(detector_path, [Candidate("opencv", 1), Candidate("opencv", 2)], "cpu", budget_s=0.01)
    assert cv2.getNumThreads() == before


def test_default_candidates_are_installed_backends_times_one_half_and_all_cpus():
    assert default_threads(1) == (1,)
    assert default_threads(2) == (1, 2)
    assert default_threads(8) == (1, 4, 8)
    assert default_threads(16) == (1, 8, 16)
    assert candidates(["onnxruntime", "opencv"], [1, 4]) == (
        Candidate("onnxruntime", 1),
        Candidate("onnxruntime", 4),
        Candidate("opencv", 1),
        Candidate("opencv", 4),
    )
    assert {c.backend for c in candidates()} >= {"onnxruntime", "opencv"}
    with pytest.raises(EdgeimgError, match=r"^backend: expected one of onnxruntime, .*got 'tvm'$"):
        candidates(["tvm"], [1])
    with pytest.raises(EdgeimgError, match="threads: expected counts >= 1, got 0"):
        candidates(["onnxruntime"], [0])
    assert effective_device("cpu").value == "cpu"
    assert effective_device("auto").value in ("cpu", "cuda")


def test_random_feeds_follow_the_declared_inputs():
    info = ModelInfo(
        (TensorSpec("image", (None, 3, None, 64), "float32"), TensorSpec("k", (1,), "int64")),
        (),
        {},
    )
    feeds = random_feeds(info, (1, 3, 32, None))
    assert feeds["image"].shape == (1, 3, 32, 64) and feeds["image"].dtype == np.float32
    assert feeds["image"].min() >= 0 and feeds["image"].max() <= 255
    assert feeds["k"].shape == (1,) and feeds["k"].dtype == np.int64


def test_cli_auto_says_its_choice_in_one_line_and_bench_choose_re_measures(
    detector_path, tmp_path, monkeypatch, capsys, caplog
):
    from edgeimg.cli.main import main

    monkeypatch.setenv("EDGEIMG_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    args = ["bench", str(detector_path), "--choose", "--backends", "onnxruntime", "--threads", "1"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert re.search(
        r"^backend auto: onnxruntime FP32, 1 thread: \d+\.\d+ ms \(measured now\)$", out, re.M
    )
    assert "cached in " in out
    assert list((tmp_path / "cache" / "choice").glob("*.json"))

    track = ["track", "--model", str(detector_path), "--frames", "2", "--no-track"]
    with caplog.at_level(logging.INFO, logger="edgeimg.runtime.model"):
        assert main([*track, "--backend", "auto", "--threads", "1"]) == 0
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("backend auto:")]
    assert len(lines) == 1 and " 1 thread: " in lines[0]


def test_a_tie_goes_to_fp32_then_the_registry_order_then_fewer_threads():
    """Within TIE_MARGIN of the fastest the order is a preference, not the noise of a short
    measurement; beyond it, the faster wins."""
    options = candidates(["onnxruntime", "opencv"], [1, 2], ("FP32", "INT8"))
    ort1, ort2, ort8_1, ort8_2, cv1, _, _, cv8_2 = options
    assert (ort8_2.backend, ort8_2.precision, ort8_2.threads) == ("onnxruntime", "INT8", 2)

    def order(times):
        return [m.candidate for m in ranked([Measurement(c, t) for c, t in times], options)]

    assert order([(cv8_2, 10.0), (ort2, 10.3), (ort1, 10.4), (ort8_1, 10.1)])[:3] == [
        ort1,  # FP32, onnxruntime, 1 thread: 4 % slower than the fastest is a tie
        ort2,
        ort8_1,
    ]
    assert order([(cv8_2, 10.0), (ort2, 10.7), (ort1, 10.6)]) == [cv8_2, ort1, ort2]
    assert order([(cv1, 5.0), (ort1, 5.2)]) == [ort1, cv1]
    assert order([(ort8_1, 3.0), (ort1, 6.0)]) == [ort8_1, ort1]
    assert ranked([], options) == []

    # the choice so far stays through a tie, and only through a tie
    times = [(cv8_2, 10.0), (ort2, 10.3), (ort1, 10.4)]
    measured = [Measurement(c, t) for c, t in times]
    assert ranked(measured, options, keep=ort2)[0].candidate == ort2
    assert ranked(measured, options, keep=cv1)[0].candidate == ort1  # cv1 not measured
    slower = [Measurement(c, t) for c, t in [(cv8_2, 10.0), (ort2, 10.6)]]
    assert ranked(slower, options, keep=ort2)[0].candidate == cv8_2


def test_beside_the_loops_other_work_fewer_threads_can_be_faster():
    """Per frame = max(ms, (loop_ms + threads x ms) / cpus): the figures of the bundled
    detector on a 2-CPU Xeon (OpenVINO INT8 2.1 / 1.5 ms, onnxruntime FP32 9.2 / 5.3 ms, the
    loop's other stages 2.2 ms a frame), where 1 thread ran 305-313 FPS against 266-313 for
    OpenVINO, and 2 threads 133-136 FPS against 99-104 for onnxruntime."""
    ov = candidates(["openvino"], [1, 2], ("INT8",))
    ort = candidates(["onnxruntime"], [1, 2])

    def first(options, times, loop_ms):
        measured = [Measurement(c, t) for c, t in zip(options, times, strict=True)]
        return ranked(measured, options, loop_ms, cpus=2)[0].candidate.threads

    assert first(ov, [2.1, 1.5], 0.0) == 2  # alone, two threads are faster
    assert first(ov, [2.1, 1.5], 2.2) == 1  # beside the loop, one: 2.15 vs 2.6 ms a frame
    assert first(ort, [9.2, 5.3], 2.2) == 2  # a slower model still gains from both: 9.2 vs 6.4
    failed = Measurement(Candidate("opencv", 1), None, 0, "broken")
    assert ranked([failed], ov, 2.2) == [failed]


def test_the_cli_default_is_auto_and_edgeimg_backend_sets_another(
    detector_path, tmp_path, monkeypatch, caplog, capsys
):
    from edgeimg.cli.main import main

    monkeypatch.setenv("EDGEIMG_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("EDGEIMG_BACKEND", raising=False)
    track = [
        "track",
        "--model",
        str(detector_path),
        "--frames",
        "2",
        "--no-track",
        "--threads",
        "1",
    ]
    with caplog.at_level(logging.INFO, logger="edgeimg.runtime.model"):
        assert main([*track, "--mot", str(tmp_path / "a.txt")]) == 0
    said = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("backend auto: ") for m in said), said
    (entry,) = (tmp_path / "cache" / "choice").glob("*.json")
    assert json.loads(entry.read_text())["loop_ms"] == 0.0  # 2 frames: too few to remember

    # a run long enough leaves the loop's other work per frame beside the measurement, and the
    # next run ranks the candidates with it (the last --frames counts)
    assert main([*track, "--frames", "40", "--mot", str(tmp_path / "a.txt")]) == 0
    assert json.loads(entry.read_text())["loop_ms"] > 0
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="edgeimg.runtime.model"):
        assert main([*track, "--mot", str(tmp_path / "a.txt")]) == 0
    said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("backend auto")]
    assert len(said) == 1 and "ranked beside the loop's " in said[0], said

    caplog.clear()
    monkeypatch.setenv("EDGEIMG_BACKEND", "opencv")
    with caplog.at_level(logging.INFO, logger="edgeimg.runtime.model"):
        assert main([*track, "--mot", str(tmp_path / "b.txt")]) == 0
    said = [r.getMessage() for r in caplog.records]
    assert not any(m.startswith("backend auto: ") for m in said)
    assert any(m.startswith("model detector.onnx runs on opencv") for m in said), said

    monkeypatch.setenv("EDGEIMG_BACKEND", "tvm")
    assert main([*track, "--mot", str(tmp_path / "c.txt")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].endswith(
        "error: EDGEIMG_BACKEND: expected one of onnxruntime, opencv, "
        "openvino, auto or triton://..., got 'tvm'"
    )
    assert not (tmp_path / "c.txt").exists()
