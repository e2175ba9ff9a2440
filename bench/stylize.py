"""Style transfer side by side: the same stylizer on every engine a user would pick, timed on a
real frame in one interleaved run per frame size and thread count.

    python -m edgeimg.bench.stylize --model starry.onnx [--int8 starry.int8.onnx]
        [--fp16 starry.fp16.onnx] [--keras starry.keras --calib DIR] [--frame IMG]
        [--sizes 480x360,640x480] [--threads 1,2] [--rounds 50] [--json out.json]
        [--gatys-steps 300 --style IMG --content IMG]

Rows, per frame size (W x H) and thread count: edgeimg's runtime end to end
(``load_model(path, backend, threads).predict(frame)``: pad to 8, inference, crop/clip/BGR
decode) on onnxruntime FP32, FP16 and INT8 (the files given) and OpenCV dnn FP32; with
``--keras`` the same Keras model converted to LiteRT FP32 and full-integer INT8 (XNNPACK;
INT8 calibrated on ``--calib`` photos, never the timing frame) and Keras itself as a reference,
both through the runtime's own ``prepare_stylize`` and ``image`` decoder, so only the engine
differs. Every table is one interleaved run (``--rounds`` rounds, one call of each row per
round): p50/p90 ms, FPS (1000 / p50), the speed-up against LiteRT INT8 (its p50 / the row's:
above 1 is faster) and the mean absolute pixel difference of the row's picture from edgeimg
onnxruntime FP32's on the timing frame (a broken engine shows there). A row that cannot run
(no ai_edge_litert, a converter or backend refusal) is a skipped row with its reason.

The timing frame: ``--frame``, else ``--content``, else the first CamVid val image
(``$EDGEIMG_DATA`` or ``../shared/data``), else the last ``--calib`` photo (then left out of
the calibration); cropped to each size's aspect ratio and resized to it.

``--gatys-steps N --style IMG --content IMG``: also Gatys et al.'s optimisation of the content
image at the first size, in the loss network the model's contract names (``task_params``
``loss_net``, ``loss_seed``): seconds per image beside the feed-forward milliseconds.
TensorFlow (Keras, LiteRT conversion, Gatys) runs on the first ``--threads`` count: its thread
count is fixed per process, so the Keras row appears in that count's tables only.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edgeimg.bench.harness import RunPlan, measure_interleaved
from edgeimg.bench.machine import machine_lines, machine_report
from edgeimg.bench.stats import summarize
from edgeimg.bench.upscale import Timed
from edgeimg.runtime.errors import EdgeimgError, first_line

log = logging.getLogger(__name__)

Stylize = Callable[[np.ndarray], np.ndarray]  # (H, W, 3) uint8 BGR -> (H, W, 3) uint8 BGR
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
CALIBRATION_PHOTOS = 16  # LiteRT INT8: photos picked evenly from --calib
REFERENCE = "edgeimg onnxruntime FP32"  # the quality column's reference row
LITERT_INT8 = "LiteRT INT8"  # the speed goal's reference row
KERAS = "Keras FP32 (reference)"
ORDER = (
    REFERENCE,
    "edgeimg onnxruntime FP16",
    "edgeimg onnxruntime INT8",
    "edgeimg opencv FP32",
    "LiteRT FP32",
    LITERT_INT8,
    KERAS,
)


@dataclass(frozen=True)
class Files:
    """The stylizer's files: the ONNX export and, where given, its variants and Keras source."""

    model: Path
    int8: Path | None = None
    fp16: Path | None = None
    keras: Path | None = None
    calib: Path | None = None


@dataclass(frozen=True)
class Row:
    """One engine in one table; ``p50_ms`` None and a ``note`` when it was skipped."""

    name: str
    p50_ms: float | None = None
    p90_ms: float | None = None
    fps: float | None = None
    vs_litert_int8: float | None = None  # LiteRT INT8's p50 / this row's (> 1: faster)
    mean_abs_diff: float | None = None  # vs edgeimg onnxruntime FP32's picture, 0..255
    note: str = ""


@dataclass(frozen=True)
class Table:
    """One interleaved run: every engine on the same (width, height) frame, ``threads``."""

    width: int
    height: int
    threads: int
    rows: list[Row] = field(default_factory=list)

    def row(self, name: str) -> Row | None:
        return next((r for r in self.rows if r.name == name), None)


@dataclass(frozen=True)
class GatysRow:
    """Gatys's optimisation of one image at (width, height): seconds, and its losses."""

    width: int
    height: int
    steps: int
    loss_net: str
    seconds: float
    losses: dict[str, float]


@dataclass(frozen=True)
class Engines:
    """The contenders at one thread count: name -> stylize function, and skipped rows."""

    threads: int
    run: dict[str, Stylize]
    skipped: dict[str, str]


def parse_sizes(text: str) -> list[tuple[int, int]]:
    """``480x360,640x480`` -> [(480, 360), (640, 480)] (width, height), each side >= 8."""
    sizes = []
    for part in text.split(","):
        w, sep, h = part.strip().lower().partition("x")
        if not (sep and w.isdigit() and h.isdigit()) or min(int(w), int(h)) < 8:
            raise EdgeimgError(f"--sizes: expected WxH[,WxH...] of at least 8x8, got {text!r}")
        sizes.append((int(w), int(h)))
    return sizes


def parse_threads(text: str) -> list[int]:
    """``1,2`` -> [1, 2]."""
    parts = [p.strip() for p in text.split(",")]
    if not all(p.isdigit() and int(p) >= 1 for p in parts):
        raise EdgeimgError(f"--threads: expected counts >= 1 like 1,2, got {text!r}")
    return [int(p) for p in parts]


def list_images(folder: Path) -> list[Path]:
    """Image files under ``folder`` (recursively, sorted), or a one-line error."""
    if not folder.is_dir():
        raise EdgeimgError(f"--calib: expected a folder of photos, got {folder}")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise EdgeimgError(f"--calib {folder}: expected png/jpg photos, found none")
    return files


def read_bgr(path: Path, what: str) -> np.ndarray:
    """(H, W, 3) uint8 BGR of an image file, or a one-line error naming the option."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR) if Path(path).is_file() else None
    if image is None:
        raise EdgeimgError(f"{what}: expected an image file OpenCV can decode, got {path}")
    return image


def fit(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """The centre of ``image`` cropped to width:height and resized to exactly that size."""
    h, w = image.shape[:2]
    scale = max(width / w, height / h)
    crop_w, crop_h = min(w, round(width / scale)), min(h, round(height / scale))
    top, left = (h - crop_h) // 2, (w - crop_w) // 2
    crop = image[top : top + crop_h, left : left + crop_w]
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    return np.ascontiguousarray(cv2.resize(crop, (width, height), interpolation=interp))


def camvid_frame() -> Path | None:
    """The first CamVid val image under ``$EDGEIMG_DATA``, else ``../shared/data`` (from the
    working folder, then from the repository), if there is one."""
    repo_data = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    for data in (os.environ.get("EDGEIMG_DATA"), "../shared/data", repo_data):
        folder = Path(data) / "CamVid" / "val" if data else None
        files = sorted(folder.glob("*.png")) if folder is not None and folder.is_dir() else []
        if files:
            return files[0]
    return None


def pick_frame(frame: Path | None, content: Path | None, calib: Path | None) -> Path:
    """The timing frame's file (see the module docstring for the order)."""
    path = frame or content or camvid_frame()
    if path is None and calib is not None:
        path = list_images(calib)[-1]
    if path is None:
        raise EdgeimgError("no timing frame: give --frame IMG (or --content, or --calib DIR)")
    return path


def check_files(files: Files) -> Any:
    """One-line errors for missing files and models of another task, before any work; returns
    the stylizer's contract (from the ONNX file)."""
    from edgeimg.runtime.model import load_model

    for option, path in (("--model", files.model), ("--int8", files.int8), ("--fp16", files.fp16)):
        if path is not None and not path.is_file():
            raise EdgeimgError(f"{option}: no such model file: {path}")
    contract = load_model(files.model, threads=1).contract
    if contract.task != "stylize":
        raise EdgeimgError(f"--model {files.model}: expected a stylize model, got {contract.task}")
    if files.keras is not None:
        from edgeimg.export.keras_file import read_contract

        task = read_contract(files.keras).task
        if task != "stylize":
            raise EdgeimgError(f"--keras {files.keras}: expected a stylize model, got {task}")
    return contract


def runtime_engines(files: Files, threads: int) -> tuple[dict[str, Stylize], dict[str, str]]:
    """edgeimg's runtime on each backend and file: name -> ``predict(frame).image``. The FP32
    file on onnxruntime must load (a one-line error otherwise); other rows that fail to load
    are skipped with the reason. A file of another task is an error."""
    from edgeimg.runtime.model import load_model

    runs: dict[str, Stylize] = {}
    skipped: dict[str, str] = {}
    plan = [
        (REFERENCE, files.model, "onnxruntime"),
        ("edgeimg onnxruntime FP16", files.fp16, "onnxruntime"),
        ("edgeimg onnxruntime INT8", files.int8, "onnxruntime"),
        ("edgeimg opencv FP32", files.model, "opencv"),
    ]
    for name, path, backend in plan:
        if path is None:
            continue
        try:
            model = load_model(path, backend=backend, threads=threads)
        except EdgeimgError as exc:
            if name == REFERENCE:
                raise
            skipped[name] = f"skipped: {first_line(exc)}"
            continue
        if model.contract.task != "stylize":
            raise EdgeimgError(f"{path}: expected a stylize model, got {model.contract.task}")
        runs[name] = lambda frame, m=model: m.predict(frame).image
    return runs, skipped


def tensorflow_threads(threads: int) -> None:
    """Limit TensorFlow to ``threads`` intra-op threads before it runs anything (a no-op with
    a warning once it has)."""
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # TensorFlow already ran something in this process
        log.warning("TensorFlow was initialised before the bench: its thread count is unchanged")


class KerasParts:
    """The Keras stylizer (loaded once, TensorFlow on ``tf_threads``), the runtime's prepare and
    decoder around it, and its LiteRT flatbuffers (FP32, INT8 when calibrated)."""

    def __init__(self, files: Files, tf_threads: int, calibration: list[np.ndarray]) -> None:
        from edgeimg.export.keras_file import load_keras
        from edgeimg.runtime.contract import Layout
        from edgeimg.runtime.tasks.stylize import ImageDecoder, prepare_stylize
        from edgeimg.train.tasks import import_keras_objects

        assert files.keras is not None
        tensorflow_threads(tf_threads)
        import_keras_objects()
        self.tf_threads = tf_threads
        self.model, contract = load_keras(files.keras)
        self.contract = replace(contract, layout=Layout.NHWC)
        self.decoder = ImageDecoder.from_contract(self.contract)
        self.prepare = lambda frame: prepare_stylize(frame, self.contract)
        self.flatbuffers: dict[str, bytes] = {}
        self.skipped: dict[str, str] = {}
        self._convert(calibration)

    def _convert(self, calibration: list[np.ndarray]) -> None:
        try:
            import ai_edge_litert  # noqa: F401

            from edgeimg.bench.backends import Unsupported
            from edgeimg.bench.peers.litert import convert
        except ModuleNotFoundError as exc:
            for name in ("LiteRT FP32", LITERT_INT8):
                self.skipped[name] = f"skipped: {exc}"
            return
        tensors = None
        if calibration:
            tensors = np.concatenate([self.prepare(photo)[0] for photo in calibration])
        for name, data in (("LiteRT FP32", None), (LITERT_INT8, tensors)):
            if name == LITERT_INT8 and data is None:
                self.skipped[name] = "skipped: LiteRT INT8 needs --calib photos to calibrate on"
                continue
            try:
                self.flatbuffers[name] = convert(self.model, data)
            except Unsupported as exc:
                self.skipped[name] = f"skipped: {exc}"

    def decode(self, outputs: list[np.ndarray], transform: Any) -> np.ndarray:
        image: np.ndarray = self.decoder(outputs, transform).image
        return image

    def keras(self, frame: np.ndarray) -> np.ndarray:
        tensor, transform = self.prepare(frame)
        return self.decode([np.asarray(self.model(tensor, training=False))], transform)

    def engines(self, threads: int) -> tuple[dict[str, Stylize], dict[str, str]]:
        from edgeimg.bench.peers.litert import frame_engine

        runs: dict[str, Stylize] = {}
        skipped = dict(self.skipped)
        for name, flatbuffer in self.flatbuffers.items():
            try:
                runs[name] = frame_engine(flatbuffer, threads, self.prepare, self.decode)
            except (ValueError, RuntimeError) as exc:  # the interpreter refuses the model
                skipped[name] = f"skipped: {type(exc).__name__}: {first_line(exc)}"
        if threads == self.tf_threads:
            runs[KERAS] = self.keras
        else:
            skipped[KERAS] = (
                "skipped: TensorFlow's thread count is fixed per process: timed with "
                f"{self.tf_threads}"
            )
        return runs, skipped


def calibration_photos(folder: Path | None, frame: Path, size: tuple[int, int]) -> list[np.ndarray]:
    """Up to CALIBRATION_PHOTOS photos picked evenly from ``folder`` (the timing frame's file
    left out), each fitted to ``size`` (width, height; the first ``--sizes``): LiteRT INT8's
    calibration data."""
    if folder is None:
        return []
    files = [p for p in list_images(folder) if p.resolve() != frame.resolve()]
    if not files:
        raise EdgeimgError(f"--calib {folder}: no photo left besides the timing frame")
    pick = np.unique(np.linspace(0, len(files) - 1, min(CALIBRATION_PHOTOS, len(files))).round())
    return [fit(read_bgr(files[int(i)], "--calib"), *size) for i in pick]


def time_table(engines: Engines, frame: np.ndarray, rounds: int) -> Table:
    """One interleaved run of every engine on ``frame``: each one is first run once untimed
    (its picture for the quality column; an engine that fails there becomes a skipped row),
    then ``rounds`` rounds of one call each."""
    height, width = frame.shape[:2]
    cv2.setNumThreads(engines.threads)
    pictures: dict[str, np.ndarray] = {}
    skipped = dict(engines.skipped)
    for name, stylize in engines.run.items():
        try:
            picture = stylize(frame)
        except Exception as exc:  # an engine that cannot run this frame: a row, not a crash
            if name == REFERENCE:
                raise EdgeimgError(
                    f"{name} on a {width}x{height} frame: {first_line(exc)}"
                ) from None
            skipped[name] = f"skipped: {type(exc).__name__}: {first_line(exc)}"
            continue
        if picture.shape != frame.shape:
            skipped[name] = f"skipped: picture {picture.shape}, expected {frame.shape}"
            continue
        pictures[name] = picture
    timed = [name for name in engines.run if name in pictures]
    plan = RunPlan(warmup=1, iterations=rounds, rounds=rounds)
    workloads = [Timed(engines.run[name], frame, engines.threads) for name in timed]
    latencies = dict(zip(timed, measure_interleaved(workloads, plan), strict=True))
    p50 = {name: summarize(seconds).p50_ms for name, seconds in latencies.items()}
    reference = pictures.get(REFERENCE)
    rows = []
    for name in sorted({*engines.run, *engines.skipped}, key=ORDER.index):
        if name not in latencies:
            rows.append(Row(name, note=skipped.get(name, "skipped")))
            continue
        stats = summarize(latencies[name])
        diff = None
        if reference is not None:
            diff = float(np.abs(pictures[name].astype(np.int16) - reference).mean())
        rows.append(
            Row(
                name,
                stats.p50_ms,
                stats.p90_ms,
                1e3 / stats.p50_ms,
                p50[LITERT_INT8] / stats.p50_ms if LITERT_INT8 in p50 else None,
                diff,
            )
        )
    return Table(width, height, engines.threads, rows)


def time_gatys(contract: Any, style: Path, content: np.ndarray, steps: int) -> GatysRow:
    """Gatys's optimisation of ``content`` ((H, W, 3) uint8 BGR) in the loss network the
    stylizer's contract names, against the ``style`` image."""
    import keras

    from edgeimg.export.perceptual import PerceptualLoss, loss_network
    from edgeimg.runtime.tasks.stylize.image import stylize_params
    from edgeimg.train.tasks.stylize.gatys import optimize

    params = stylize_params(contract)
    seed = params.loss_seed
    painting = read_bgr(style, "--style")[..., ::-1]
    keras.utils.set_random_seed(seed)
    loss = PerceptualLoss(loss_network(params.loss_net, seed), painting)
    height, width = content.shape[:2]
    log.info("Gatys: %dx%d, %d steps in %s...", width, height, steps, params.loss_net)
    result = optimize(loss, content[..., ::-1].astype(np.float32), steps)
    return GatysRow(width, height, steps, params.loss_net, result.seconds, asdict(result.losses))


def bench_stylize(
    files: Files,
    sizes: list[tuple[int, int]],
    threads: list[int],
    rounds: int,
    frame_path: Path,
    gatys: tuple[int, Path, Path] | None = None,
) -> tuple[list[Table], GatysRow | None]:
    """Every (size, threads) table, then Gatys at the first size when ``gatys`` = (steps,
    style, content) is given."""
    contract = check_files(files)
    if rounds < 1:
        raise EdgeimgError(f"--rounds: expected >= 1, got {rounds}")
    photo = read_bgr(frame_path, "timing frame")
    frames = {size: fit(photo, *size) for size in sizes}
    parts = None
    if files.keras is not None:
        calibration = calibration_photos(files.calib, frame_path, sizes[0])
        try:
            parts = KerasParts(files, threads[0], calibration)
        except ModuleNotFoundError as exc:  # no TensorFlow: no Keras or LiteRT rows
            log.warning("--keras: %s", exc)
    engines = []
    for count in threads:
        runs, skipped = runtime_engines(files, count)
        if parts is not None:
            more, more_skipped = parts.engines(count)
            runs.update(more)
            skipped.update(more_skipped)
        elif files.keras is not None:
            skipped.update({n: "skipped: no TensorFlow" for n in ("LiteRT FP32", LITERT_INT8)})
        engines.append(Engines(count, runs, skipped))
    tables = []
    for size in sizes:
        for engine_set in engines:
            log.info("timing %dx%d, %d thread(s), %d rounds...", *size, engine_set.threads, rounds)
            tables.append(time_table(engine_set, frames[size], rounds))
    gatys_row = None
    if gatys is not None:
        steps, style, content = gatys
        tensorflow_threads(threads[0])
        gatys_row = time_gatys(
            contract, style, fit(read_bgr(content, "--content"), *sizes[0]), steps
        )
    return tables, gatys_row


def _ms(value: float | None, digits: int = 1) -> str:
    """``-`` for a skipped row; two decimals below 10 (small frames), else ``digits``."""
    if value is None:
        return "-"
    return f"{value:.{max(digits, 2) if value < 10 else digits}f}"


def table_text(table: Table) -> str:
    threads = f"{table.threads} thread{'s' if table.threads > 1 else ''}"
    lines = [
        f"| {table.width}x{table.height}, {threads} | p50 ms | p90 ms | FPS | x LiteRT INT8 "
        "| mean abs diff | note |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in table.rows:
        ratio = "-" if r.vs_litert_int8 is None else f"{r.vs_litert_int8:.2f}x"
        lines.append(
            f"| {r.name} | {_ms(r.p50_ms)} | {_ms(r.p90_ms)} | {_ms(r.fps)} | {ratio} "
            f"| {_ms(r.mean_abs_diff, 2)} | {r.note} |"
        )
    goal = goal_line(table)
    return "\n".join(lines + ([goal] if goal else []))


def goal_line(table: Table) -> str:
    """edgeimg's fastest row against LiteRT INT8 (the project's goal: faster than it)."""
    litert = table.row(LITERT_INT8)
    ours = [r for r in table.rows if r.name.startswith("edgeimg") and r.p50_ms is not None]
    if litert is None or litert.p50_ms is None or not ours:
        return ""
    best = min(ours, key=lambda r: r.p50_ms or 0.0)
    assert best.p50_ms is not None
    ratio = litert.p50_ms / best.p50_ms
    verdict = "faster than" if ratio > 1 else "slower than"
    name = best.name.removeprefix("edgeimg ")
    return (
        f"edgeimg's fastest, {name} at {_ms(best.p50_ms)} ms, is {ratio:.2f}x LiteRT INT8's "
        f"speed ({_ms(litert.p50_ms)} ms): {verdict} LiteRT INT8"
    )


def gatys_text(row: GatysRow, tables: list[Table]) -> str:
    first = next(t for t in tables if (t.width, t.height) == (row.width, row.height))
    timed = [r for r in first.rows if r.p50_ms is not None]
    fastest = min(timed, key=lambda r: r.p50_ms or 0.0)
    assert fastest.p50_ms is not None
    return (
        f"Gatys optimisation ({row.steps} steps, loss network {row.loss_net}, TensorFlow "
        f"{first.threads} thread(s)) of one {row.width}x{row.height} image: {row.seconds:.1f} s "
        f"({row.seconds / row.steps * 1e3:.0f} ms/step with graph tracing, loss "
        f"{row.losses['total']:.4f}) vs "
        f"{_ms(fastest.p50_ms)} ms feed-forward ({fastest.name}): "
        f"{row.seconds * 1e3 / fastest.p50_ms:,.0f}x"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edgeimg.bench.stylize", description=__doc__)
    parser.add_argument("--model", type=Path, required=True, help="the stylizer's ONNX export")
    parser.add_argument("--int8", type=Path, help="its INT8 file")
    parser.add_argument("--fp16", type=Path, help="its FP16 file")
    parser.add_argument(
        "--keras", type=Path, help="its .keras file: adds LiteRT FP32/INT8 and Keras rows"
    )
    parser.add_argument("--calib", type=Path, help="photos for LiteRT INT8's calibration")
    parser.add_argument("--frame", type=Path, help="the timing frame's image file")
    parser.add_argument("--sizes", default="480x360,640x480", help="WxH[,WxH...] (480x360,640x480)")
    parser.add_argument("--threads", default="1,2", help="thread counts (1,2)")
    parser.add_argument("--rounds", type=int, default=50, help="interleaved rounds (50)")
    parser.add_argument("--gatys-steps", type=int, help="also time Gatys with this many steps")
    parser.add_argument("--style", type=Path, help="the style image (with --gatys-steps)")
    parser.add_argument("--content", type=Path, help="the content image (with --gatys-steps)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    report: dict[str, Any] = {"machine": machine_report()}
    try:
        sizes, threads = parse_sizes(args.sizes), parse_threads(args.threads)
        gatys = None
        if args.gatys_steps is not None:
            if args.style is None or args.content is None:
                raise EdgeimgError("--gatys-steps needs --style IMG and --content IMG")
            if args.gatys_steps < 1:
                raise EdgeimgError(f"--gatys-steps: expected >= 1, got {args.gatys_steps}")
            gatys = (args.gatys_steps, args.style, args.content)
        files = Files(args.model, args.int8, args.fp16, args.keras, args.calib)
        check_files(files)
        frame = pick_frame(args.frame, args.content, args.calib)
        tables, gatys_row = bench_stylize(files, sizes, threads, args.rounds, frame, gatys)
    except EdgeimgError as exc:
        print(f"bench stylize: error: {exc}", file=sys.stderr)
        return 2
    print("\n".join(machine_lines(report["machine"])))
    print(f"model {args.model}, timing frame {frame} (fitted to each size), {args.rounds} rounds")
    print("\n\n".join(table_text(t) for t in tables))
    if gatys_row is not None:
        print(gatys_text(gatys_row, tables))
    if args.json:
        from edgeimg.bench.report import write_json

        report.update(
            model=str(args.model),
            frame=str(frame),
            rounds=args.rounds,
            tables=[asdict(t) for t in tables],
            gatys=None if gatys_row is None else asdict(gatys_row),
        )
        write_json(args.json, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
