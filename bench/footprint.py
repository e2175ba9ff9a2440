"""Start-up time and memory: edgeimg's runtime against the same model through TensorFlow.

Each measurement runs in a fresh interpreter (``python -m edgeimg.bench.footprint --child``),
alternating the contenders, and reports medians over the repeats: time to import, to load the
model, to the first result, and peak RSS after tracking ``frames`` frames (predict + ByteTrack).
A baseline row (the child process with numpy only) shows what the interpreter costs.
"""

from __future__ import annotations

import argparse
import itertools
import json
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CHILD_KINDS = ("python", "edgeimg", "tensorflow")


@dataclass(frozen=True)
class FootprintRow:
    contender: str
    import_s: float
    load_s: float
    first_result_s: float
    total_s: float  # process start to the first result, measured by the parent
    peak_rss_mb: float
    frames: int
    note: str = ""

    def to_dict(self) -> dict[str, object]:
        return dict(vars(self))


def _frames(video: Path | None, count: int, size_hw: tuple[int, int]) -> Iterator[np.ndarray]:
    """Up to ``count`` BGR frames of the clip, or random frames when there is no clip, decoded
    one at a time (as a video is read: holding them all would be measured as the model's)."""
    if video is None:
        rng = np.random.default_rng(0)
        for _ in range(count):
            yield rng.integers(0, 256, (*size_hw, 3), dtype=np.uint8)
        return
    import cv2

    capture = cv2.VideoCapture(str(video))
    try:
        for _ in range(count):
            ok, image = capture.read()
            if not ok:
                break
            yield image
    finally:
        capture.release()


def child(kind: str, model: Path, video: Path | None, frames: int) -> dict[str, float]:
    """Runs in the fresh process: import, load, first result, then track ``frames`` frames."""
    t0 = time.perf_counter()
    if kind == "python":
        return {"import_s": 0.0, "load_s": 0.0, "first_result_s": 0.0, "frames": 0}
    if kind == "edgeimg":
        from edgeimg.runtime.model import load_model
        from edgeimg.runtime.tasks.detect.tracking import ByteTracker

        t1 = time.perf_counter()
        runtime_model = load_model(model)
        contract = runtime_model.contract
        t2 = time.perf_counter()

        step = runtime_model.predict

    else:
        import keras  # noqa: F401  (TensorFlow backend; imported as a user would)
        import tensorflow  # noqa: F401

        from edgeimg.runtime.preprocess import prepare
        from edgeimg.runtime.tasks import get_task
        from edgeimg.runtime.tasks.detect.tracking import ByteTracker

        t1 = time.perf_counter()
        from edgeimg.bench.peers.runners import KerasRunner
        from edgeimg.export.keras_file import load_keras

        keras_model, contract = load_keras(model)
        decoder = get_task(contract.task).decoder_type(contract).from_contract(contract)
        runner = KerasRunner(keras_model, contract.output_names, threads=0)
        t2 = time.perf_counter()

        def step(image: np.ndarray) -> object:
            tensor, transform = prepare(image, contract)
            return decoder(runner.infer(tensor), transform)

    images = _frames(video, max(frames, 1), contract.input_size)
    image = next(images, None)
    if image is None:
        raise SystemExit(f"footprint: no frame could be read from {video}")
    first = step(image)
    t3 = time.perf_counter()
    tracker = ByteTracker.from_contract(contract)
    detect = contract.task == "detect"
    done = 0
    for i, result in enumerate(itertools.chain([first], map(step, images))):
        if detect:
            tracker.update(result, i / 10.0)
        done += 1
    return {
        "import_s": t1 - t0,
        "load_s": t2 - t1,
        "first_result_s": t3 - t2,
        "frames": done,
    }


def measure(kind: str, model: Path, video: Path | None, frames: int) -> dict[str, float]:
    cmd = [sys.executable, "-m", "edgeimg.bench.footprint", "--child", kind, "--model", str(model)]
    cmd += ["--frames", str(frames)] + (["--video", str(video)] if video else [])
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"{kind} child failed: {tail[0]}")
    values = json.loads(done.stdout.strip().splitlines()[-1])
    values["wall_s"] = wall
    values["peak_rss_mb"] = values.pop("peak_rss_kb") / 1024.0
    return values


def compare_footprint(
    keras_model: Path,
    onnx_model: Path,
    video_dir: Path | None,
    frames: int = 100,
    repeats: int = 3,
    contenders: tuple[str, ...] = CHILD_KINDS,
) -> list[FootprintRow]:
    """Medians over ``repeats`` fresh processes per contender, alternating between them."""
    video = video_dir / "vtest.avi" if video_dir is not None else None
    models = {"python": onnx_model, "edgeimg": onnx_model, "tensorflow": keras_model}
    runs: dict[str, list[dict[str, float]]] = {k: [] for k in contenders}
    errors: dict[str, str] = {}
    for _ in range(repeats):
        for kind in contenders:
            if kind in errors:
                continue
            try:
                runs[kind].append(measure(kind, models[kind], video, frames))
            except RuntimeError as exc:
                errors[kind] = str(exc)
    rows = []
    labels = {
        "python": "python + numpy (baseline)",
        "edgeimg": "edgeimg runtime (ONNX)",
        "tensorflow": "Keras/TensorFlow",
    }
    for kind in contenders:
        if kind in errors:
            rows.append(FootprintRow(labels[kind], *(float("nan"),) * 5, 0, errors[kind]))
            continue
        med = {k: float(np.median([r[k] for r in runs[kind]])) for k in runs[kind][0]}
        # the whole process's wall clock minus its tracking loop: start-up to first result
        total = med["wall_s"] - med["after_first_s"]
        rows.append(
            FootprintRow(
                labels[kind],
                med["import_s"],
                med["load_s"],
                med["first_result_s"],
                total,
                med["peak_rss_mb"],
                int(med["frames"]),
            )
        )
    return rows


def footprint_table(rows: list[FootprintRow]) -> str:
    from edgeimg.bench.report import format_table

    headers = (
        "contender",
        "import s",
        "load s",
        "first result s",
        "start to result s",
        "peak RSS MB",
        "frames",
        "note",
    )
    return format_table(
        headers,
        [
            (
                r.contender,
                r.import_s,
                r.load_s,
                r.first_result_s,
                r.total_s,
                r.peak_rss_mb,
                r.frames,
                r.note,
            )
            for r in rows
        ],
    )


def peak_rss_kb() -> float:
    """This process's peak RSS in KiB: Linux's VmHWM (``ru_maxrss`` survives ``exec`` on Linux,
    so a child forked from a big parent would report the parent's peak), else ``ru_maxrss``."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return float(line.split()[1])
    except OSError:
        pass
    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m edgeimg.bench.footprint", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--child", choices=CHILD_KINDS, required=True)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--video", type=Path)
    parser.add_argument("--frames", type=int, default=100)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    values = child(args.child, args.model, args.video, args.frames)
    values["after_first_s"] = (
        time.perf_counter()
        - start
        - values["import_s"]
        - values["load_s"]
        - values["first_result_s"]
    )
    values["peak_rss_kb"] = peak_rss_kb()
    print(json.dumps(values))
    return 0


if __name__ == "__main__":
    sys.exit(main())
