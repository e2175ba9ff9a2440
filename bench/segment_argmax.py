"""Where should a segmenter's argmax run: in the ONNX graph or after it, in numpy?

    python -m edgeimg.bench.segment_argmax --model seg.onnx [--frame street.png] [--threads 2]

edgeimg's segmenters output per-pixel logits (1, C, H, W) at the input's resolution; the
runtime's ``argmax`` decoder takes the argmax in numpy and crops the letterbox. The other way
appends an ONNX ``ArgMax`` over the class axis to the graph (built here in memory with
``onnx.helper``), so the engine returns (1, 1, H, W) class ids and copies C times fewer bytes.
Both are timed end to end on the same prepared frame (inference plus everything up to the
label mask over the source frame), interleaved in one run, after checking they give the same
mask.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np

from edgeimg.bench.harness import RunPlan, measure_interleaved
from edgeimg.bench.machine import machine_lines, machine_report
from edgeimg.bench.stats import summarize
from edgeimg.runtime.errors import EdgeimgError

log = logging.getLogger(__name__)


def with_argmax(path: Path, classes: int) -> bytes:
    """The ONNX model at ``path`` with an ArgMax (keepdims) over the class axis (the one of
    ``classes`` channels) of its logits appended, as the model's only output ``ids`` (int64,
    (1, 1, H, W) or (1, H, W, 1))."""
    import onnx
    from onnx import helper

    proto = onnx.load(str(path))
    logits = proto.graph.output[0]
    dims = logits.type.tensor_type.shape.dim
    sizes = [d.dim_value if d.HasField("dim_value") else None for d in dims]
    if classes not in sizes[1:]:
        raise EdgeimgError(f"{path}: no axis of {classes} classes in logits {sizes}")
    axis = 1 if sizes[1] == classes else len(sizes) - 1
    node = helper.make_node("ArgMax", [logits.name], ["ids"], axis=axis, keepdims=1)
    proto.graph.node.append(node)
    del proto.graph.output[:]
    proto.graph.output.append(helper.make_tensor_value_info("ids", onnx.TensorProto.INT64, None))
    return proto.SerializeToString()


class Timed:
    def __init__(self, run) -> None:
        self.run = run

    def activate(self) -> None:
        """onnxruntime's threads are per session: nothing to set."""

    def __call__(self) -> object:
        return self.run()


def compare(model_path: Path, frame: np.ndarray, threads: int, plan: RunPlan) -> dict[str, float]:
    """p50 ms of logits + numpy argmax and of the in-graph ArgMax, end to end to the mask."""
    import onnxruntime as ort

    from edgeimg.runtime.backends.ort import session_options
    from edgeimg.runtime.model import load_model

    model = load_model(model_path, threads=threads)
    if model.contract.task != "segment":
        raise EdgeimgError(f"{model_path}: expected a segment model, got {model.contract.task}")
    feeds, transform = model.preprocess(frame)
    decoder = model.decoder
    options = session_options(threads)
    in_graph = ort.InferenceSession(
        with_argmax(model_path, len(model.contract.class_names)), options, ["CPUExecutionProvider"]
    )

    def numpy_argmax() -> np.ndarray:
        return model.decode(model.infer(feeds), transform).mask

    def graph_argmax() -> np.ndarray:
        (ids,) = in_graph.run(["ids"], feeds)  # (1, 1, H, W) or (1, H, W, 1)
        plane = ids[0, 0] if ids.shape[1] == 1 else ids[0, :, :, 0]
        return decoder.to_source(plane.astype(np.uint8), transform)

    same = float(np.mean(numpy_argmax() == graph_argmax()))
    if same < 0.999:
        raise EdgeimgError(f"in-graph ArgMax disagrees with numpy on {1 - same:.2%} of pixels")
    latencies = measure_interleaved([Timed(numpy_argmax), Timed(graph_argmax)], plan)
    numpy_ms, graph_ms = (summarize(s).p50_ms for s in latencies)
    return {"numpy argmax p50 ms": numpy_ms, "in-graph ArgMax p50 ms": graph_ms, "agree": same}


def main(argv: list[str] | None = None) -> int:
    import cv2

    from edgeimg.runtime.model import bundled_model_path

    parser = argparse.ArgumentParser(prog="python -m edgeimg.bench.segment_argmax")
    parser.add_argument("--model", type=Path, help="segment ONNX (default: the bundled one)")
    parser.add_argument("--frame", type=Path, help="an image (default: a 480x360 noise frame)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--iterations", type=int, default=300)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        if args.frame is not None:
            frame = cv2.imread(str(args.frame), cv2.IMREAD_COLOR)
            if frame is None:
                raise EdgeimgError(f"--frame: cannot read an image from {args.frame}")
        else:
            rng = np.random.default_rng(0)
            frame = rng.integers(0, 256, (360, 480, 3), dtype=np.uint8)
        plan = RunPlan(warmup=10, iterations=args.iterations, rounds=10)
        model = args.model or bundled_model_path("segment")
        result = compare(model, frame, args.threads, plan)
    except EdgeimgError as exc:
        print(f"bench segment_argmax: error: {exc}", file=sys.stderr)
        return 2
    print("\n".join(machine_lines(machine_report())))
    print(f"{model.name}, {frame.shape[1]}x{frame.shape[0]} frame, {args.threads} threads:")
    for name, value in result.items():
        print(f"  {name}: {value:.4g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
