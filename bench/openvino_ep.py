"""onnxruntime's OpenVINO execution provider against OpenVINO itself and onnxruntime's CPU
provider: the same ONNX files (FP32 and QDQ INT8), one thread, interleaved in one process.

``onnxruntime-openvino`` replaces the ``onnxruntime`` package (both install the module
``onnxruntime``), so it runs in a venv of its own::

    python3 -m venv /tmp/ovep && /tmp/ovep/bin/pip install onnxruntime-openvino "openvino==2026.4.*"
    /tmp/ovep/bin/python bench/openvino_ep.py time FP32.onnx INT8.onnx INPUT.npy
    /tmp/ovep/bin/python bench/openvino_ep.py rss ort_ov INT8.onnx INPUT.npy   # one engine, fresh process

INPUT.npy: one prepared input of the model (e.g. ``Model.preprocess`` of a real frame, saved with
``numpy.save``). ``time`` prints each engine's largest output difference to onnxruntime CPU FP32
and a Markdown table of p50/p90 latency and the ratio to onnxruntime CPU INT8; ``rss`` prints the
peak resident memory after loading and 20 runs. Imports only numpy, onnxruntime and openvino.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from collections.abc import Callable

import numpy as np


def ort_cpu(path: str, x: np.ndarray) -> Callable[[], np.ndarray]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = 1, 1
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda: session.run(None, {name: x})[0]


def ort_openvino(path: str, x: np.ndarray) -> Callable[[], np.ndarray]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    provider = (
        "OpenVINOExecutionProvider",
        {"device_type": "CPU", "num_of_threads": "1", "precision": "FP32"},
    )
    session = ort.InferenceSession(path, options, providers=[provider])
    if session.get_providers()[0] != "OpenVINOExecutionProvider":
        raise SystemExit(f"the OpenVINO provider did not start: {session.get_providers()}")
    name = session.get_inputs()[0].name
    return lambda: session.run(None, {name: x})[0]


def openvino_direct(path: str, x: np.ndarray) -> Callable[[], np.ndarray]:
    import openvino as ov

    from edgeimg.runtime.backends.openvino import shared_core

    config = {
        "INFERENCE_NUM_THREADS": 1,
        "PERFORMANCE_HINT": "LATENCY",
        "INFERENCE_PRECISION_HINT": "f32",
    }
    compiled = shared_core(ov).compile_model(path, "CPU", config)
    request = compiled.create_infer_request()
    return lambda: request.infer({0: x})[compiled.outputs[0]]


ENGINES = {"ort_cpu": ort_cpu, "ort_ov": ort_openvino, "openvino": openvino_direct}
LABELS = {
    "ort_cpu": "onnxruntime CPU EP",
    "ort_ov": "onnxruntime OpenVINO EP",
    "openvino": "openvino",
}


def main(argv: list[str]) -> int:
    if argv[:1] == ["rss"]:
        engine, path, data = argv[1:4]
        run = ENGINES[engine](path, np.load(data))
        for _ in range(20):
            run()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps({"engine": LABELS[engine], "model": path, "peak_rss_mb": round(peak, 1)}))
        return 0
    fp32, int8, data = argv[1:4]
    x = np.load(data)
    runs = {
        f"{LABELS[e]} {precision}": make(path, x)
        for precision, path in (("fp32", fp32), ("int8", int8))
        for e, make in ENGINES.items()
    }
    reference = runs["onnxruntime CPU EP fp32"]()
    for key, run in runs.items():
        print(
            f"{key}: largest output difference to onnxruntime CPU FP32 {np.abs(run() - reference).max():.4f}"
        )
    times: dict[str, list[float]] = {key: [] for key in runs}
    keys = list(runs)
    for key in keys:
        for _ in range(20):
            runs[key]()
    for turn in range(20):  # interleaved: each round starts with the next engine
        for key in keys[turn % len(keys) :] + keys[: turn % len(keys)]:
            for _ in range(20):
                start = time.perf_counter()
                runs[key]()
                times[key].append(time.perf_counter() - start)
    base = float(np.median(times["onnxruntime CPU EP int8"]))
    print("| engine | p50 ms | p90 ms | / onnxruntime CPU INT8 |\n| --- | ---: | ---: | ---: |")
    for key, values in times.items():
        p50, p90 = np.median(values) * 1e3, np.percentile(values, 90) * 1e3
        print(f"| {key} | {p50:.2f} | {p90:.2f} | {p50 / 1e3 / base:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
