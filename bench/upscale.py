"""Super-resolution side by side: what a user would pick to enlarge frames, on the same images.

    python -m edgeimg.bench.upscale [--model x3.onnx] [--int8 x3.int8.onnx] [--set SR/CSet5]
                                    [--also rgb_x3.onnx] [--compare OUT_DIR]

Rows: OpenCV ``resize`` (bicubic, Lanczos), MATLAB-style bicubic (edgeimg's, the papers' baseline),
and the upscaler through edgeimg's runtime (``Model.predict``: Y through the model, chroma
bicubic) on onnxruntime FP32/INT8 and OpenCV dnn; with ``--keras`` the same model converted to
LiteRT FP32 and (``--calib DIR``) full-integer INT8. Quality: Y-PSNR and SSIM on the test set (LR
made by MATLAB bicubic, ``scale`` border shaved). Speed: one interleaved run, every row
enlarging the same 640x360 frame (to 1920x1080 at x3), p50/p90 in ms. OpenCV's ``dnn_superres``
reads the published ESPCN/FSRCNN ``.pb`` files, which cannot be fetched here: our ONNX model
through OpenCV dnn stands in for it.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edgeimg.bench.harness import RunPlan, measure_interleaved
from edgeimg.bench.machine import machine_lines, machine_report
from edgeimg.bench.stats import summarize
from edgeimg.runtime.errors import EdgeimgError

log = logging.getLogger(__name__)

Enlarge = Callable[[np.ndarray], np.ndarray]  # (h, w, 3) uint8 BGR -> (h*s, w*s, 3) uint8 BGR


@dataclass(frozen=True)
class UpscaleRow:
    """One contender: its Y-PSNR/SSIM on the set and its latency on the timing frame."""

    name: str
    psnr: float
    ssim: float
    p50_ms: float
    p90_ms: float


class Timed:
    """A workload for the interleaved harness: one enlargement of ``frame``."""

    def __init__(self, enlarge: Enlarge, frame: np.ndarray, threads: int) -> None:
        self.enlarge, self.frame, self.threads = enlarge, frame, threads

    def activate(self) -> None:
        cv2.setNumThreads(self.threads)  # OpenCV's count is process-wide

    def __call__(self) -> object:
        return self.enlarge(self.frame)


def contenders(
    scale: int, model: Path | None, int8: Path | None, threads: int, also: tuple[Path, ...] = ()
) -> dict[str, Enlarge]:
    """Name -> enlarge function, the classic resizes first, then the model on each backend,
    then the ``also`` models (e.g. an RGB variant) on onnxruntime."""
    from edgeimg.runtime.model import load_model
    from edgeimg.train.tasks.upscale.resize import imresize

    def opencv(interpolation: int) -> Enlarge:
        return lambda image: cv2.resize(
            image, None, fx=scale, fy=scale, interpolation=interpolation
        )

    def matlab(image: np.ndarray) -> np.ndarray:
        big = imresize(image.astype(np.float64), float(scale))
        return np.clip(np.round(big), 0, 255).astype(np.uint8)

    out: dict[str, Enlarge] = {
        "OpenCV bicubic": opencv(cv2.INTER_CUBIC),
        "OpenCV Lanczos": opencv(cv2.INTER_LANCZOS4),
        "MATLAB bicubic (numpy)": matlab,
    }
    runs = [
        (model, "onnxruntime", "FP32"),
        (model, "opencv", "FP32"),
        (int8, "onnxruntime", "INT8"),
        *((path, "onnxruntime", path.stem) for path in also),
    ]
    for path, backend, precision in runs:
        if path is None:
            continue
        try:
            runtime_model = load_model(path, backend=backend, threads=threads)
        except EdgeimgError as exc:
            log.warning("%s %s %s: %s", path.name, backend, precision, exc)
            continue
        found = int(runtime_model.contract.task_params.get("scale", 0))
        if runtime_model.contract.task != "upscale" or found != scale:
            raise EdgeimgError(f"{path}: expected an x{scale} upscale model, got {found or '?'}")
        out[f"edgeimg {backend} {precision}"] = lambda image, m=runtime_model: (
            m.predict(image).image
        )
    return out


def litert_contenders(
    keras_path: Path, scale: int, calibration: Path | None, threads: int
) -> dict[str, Enlarge]:
    """The same Keras upscaler converted to LiteRT (XNNPACK): FP32, and full-integer INT8
    calibrated on 32 random 64x64 Y crops of the ``calibration`` folder's images (never the
    test set). The frame goes through the runtime's own ``prepare_luma`` and ``ycbcr`` decoder
    (:func:`~edgeimg.bench.peers.litert.frame_engine`), so only the engine differs from the
    edgeimg rows; the interpreter is resized to each frame's size."""
    from dataclasses import replace

    from edgeimg.bench.peers.litert import convert, frame_engine
    from edgeimg.export.keras_file import load_keras
    from edgeimg.runtime.contract import Layout
    from edgeimg.runtime.tasks.upscale.image import prepare_luma, split_luma
    from edgeimg.runtime.tasks.upscale.ycbcr import YCbCrDecoder
    from edgeimg.train.tasks import import_keras_objects
    from edgeimg.train.tasks.upscale.data import list_images

    import_keras_objects()
    model, contract = load_keras(keras_path)
    contract = replace(contract, layout=Layout.NHWC)
    decoder = YCbCrDecoder(scale)
    crops = None
    if calibration is not None:
        rng = np.random.default_rng(0)
        ys = [split_luma(cv2.imread(str(p)))[0] for p in list_images(calibration)[:32]]
        picks = []
        for i in range(32):
            y = ys[i % len(ys)]
            top, left = (int(rng.integers(0, d - 64)) for d in y.shape[:2])
            picks.append(y[top : top + 64, left : left + 64, None])
        crops = np.stack(picks).astype(np.float32)

    def engine(flatbuffer: bytes) -> Enlarge:
        return frame_engine(
            flatbuffer,
            threads,
            lambda image: prepare_luma(image, contract),
            lambda outputs, transform: decoder(outputs, transform).image,
        )

    out = {"LiteRT FP32": engine(convert(model))}
    if crops is not None:
        out["LiteRT INT8"] = engine(convert(model, crops))
    return out


def quality(enlarge: Enlarge, folder: Path, scale: int) -> tuple[float, float]:
    """Mean Y-PSNR and SSIM (border ``scale`` shaved) over the images of ``folder``."""
    from edgeimg.train.tasks.upscale.color import rgb_to_y
    from edgeimg.train.tasks.upscale.data import held_out_frames
    from edgeimg.train.tasks.upscale.metrics import psnr, ssim

    frames, targets = held_out_frames(folder, scale)
    scores = []
    for lr, hr_y in zip(frames, targets, strict=True):
        big = cv2.cvtColor(enlarge(lr), cv2.COLOR_BGR2RGB).astype(np.float64)
        y = rgb_to_y(big)
        scores.append((psnr(y, hr_y, shave=scale), ssim(y, hr_y, shave=scale)))
    values = np.asarray(scores)
    return float(values[:, 0].mean()), float(values[:, 1].mean())


def write_comparisons(folder: Path, scale: int, model: Path, out: Path) -> list[Path]:
    """For each image of ``folder``: ``out/<name>.png`` = OpenCV bicubic | model | original,
    side by side at the original's size (the LR input made by MATLAB bicubic), each panel
    labelled with its Y-PSNR. Written atomically; returns the paths."""
    from edgeimg.runtime.atomic import atomic_output
    from edgeimg.runtime.model import load_model
    from edgeimg.train.tasks.upscale.color import rgb_to_y
    from edgeimg.train.tasks.upscale.data import held_out_frames, list_images, read_rgb
    from edgeimg.train.tasks.upscale.metrics import psnr
    from edgeimg.train.tasks.upscale.resize import modcrop

    runtime_model = load_model(model)
    out.mkdir(parents=True, exist_ok=True)
    frames, targets = held_out_frames(folder, scale)
    written = []
    for path, lr, hr_y in zip(list_images(folder), frames, targets, strict=True):
        original = cv2.cvtColor(modcrop(read_rgb(path), scale), cv2.COLOR_RGB2BGR)
        bicubic = cv2.resize(lr, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
        panels = []
        for name, image in (
            ("bicubic", bicubic),
            ("edgeimg", runtime_model.predict(lr).image),
            ("original", original),
        ):
            y = rgb_to_y(cv2.cvtColor(image, cv2.COLOR_BGR2RGB).astype(np.float64))
            label = name if name == "original" else f"{name} {psnr(y, hr_y, shave=scale):.2f} dB"
            panel = image.copy()
            for colour, width in (((0, 0, 0), 3), ((255, 255, 255), 1)):
                cv2.putText(panel, label, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, colour, width)
            panels.append(panel)
        target = out / f"{Path(path).stem}.png"
        with atomic_output(target, "comparison") as tmp:
            if not cv2.imwrite(str(tmp), np.hstack(panels)):
                raise EdgeimgError(f"cannot write {target}")
        written.append(target)
    return written


def bench_upscale(
    folder: Path,
    scale: int,
    model: Path | None,
    int8: Path | None,
    frame_hw: tuple[int, int] = (360, 640),
    threads: int = 1,
    plan: RunPlan | None = None,
    keras: Path | None = None,
    calibration: Path | None = None,
    also: tuple[Path, ...] = (),
) -> list[UpscaleRow]:
    plan = plan or RunPlan(warmup=3, iterations=30, rounds=5)
    rng = np.random.default_rng(0)
    frame = cv2.GaussianBlur(rng.integers(0, 256, (*frame_hw, 3), dtype=np.uint8), (5, 5), 0)
    named = contenders(scale, model, int8, threads, also)
    if keras is not None:
        named.update(litert_contenders(keras, scale, calibration, threads))
    scores = {name: quality(enlarge, folder, scale) for name, enlarge in named.items()}
    latencies = measure_interleaved([Timed(e, frame, threads) for e in named.values()], plan)
    rows = []
    for (name, (p, s)), seconds in zip(scores.items(), latencies, strict=True):
        stats = summarize(seconds)
        rows.append(UpscaleRow(name, p, s, stats.p50_ms, stats.p90_ms))
    return rows


def table(rows: list[UpscaleRow], folder: Path, scale: int, frame_hw: tuple[int, int]) -> str:
    height, width = frame_hw
    lines = [
        f"| x{scale} on {folder.name} (Y-PSNR dB / SSIM) and {width}x{height} -> "
        f"{width * scale}x{height * scale} | PSNR | SSIM | p50 ms | p90 ms |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {r.name} | {r.psnr:.2f} | {r.ssim:.4f} | {r.p50_ms:.1f} | {r.p90_ms:.1f} |"
        for r in rows
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from edgeimg.runtime.model import bundled_model_path

    parser = argparse.ArgumentParser(prog="python -m edgeimg.bench.upscale", description=__doc__)
    parser.add_argument("--model", type=Path, help="x3 upscaler ONNX (default: the bundled one)")
    parser.add_argument("--int8", type=Path, help="its INT8 file (edgeimg quantize)")
    parser.add_argument(
        "--keras", type=Path, help="its .keras file: adds LiteRT FP32 (and INT8 with --calib)"
    )
    parser.add_argument(
        "--calib", type=Path, help="images for LiteRT's INT8 calibration (not the test set)"
    )
    parser.add_argument(
        "--also",
        type=Path,
        nargs="+",
        default=[],
        metavar="M.onnx",
        help="more upscalers of the same scale through the runtime on onnxruntime (e.g. an "
        "RGB variant), one row each named after the file",
    )
    parser.add_argument("--set", type=Path, default=Path("../shared/data/SR/CSet5"))
    parser.add_argument("--scale", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument(
        "--compare",
        type=Path,
        metavar="OUT_DIR",
        help="also write bicubic | model | original PNGs of the set into OUT_DIR",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        model = args.model or bundled_model_path("upscale")
        plan = RunPlan(warmup=3, iterations=args.iterations, rounds=5)
        rows = bench_upscale(
            args.set,
            args.scale,
            model,
            args.int8,
            threads=args.threads,
            plan=plan,
            keras=args.keras,
            calibration=args.calib,
            also=tuple(args.also),
        )
    except EdgeimgError as exc:
        print(f"bench upscale: error: {exc}", file=sys.stderr)
        return 2
    print("\n".join(machine_lines(machine_report())))
    print(table(rows, args.set, args.scale, (360, 640)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
