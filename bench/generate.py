"""Image generation measured: FID-FMNIST and class accuracy of generators, and their speed on
every engine a user would pick, side by side.

    python -m edgeimg.bench.generate --judge judge.keras --data /usr/share/datasets/fashion-mnist \\
        --model cgan.onnx [--model cgan.int8.onnx --model cvae.onnx ...] \\
        [--speed cgan.keras --onnx cgan.onnx --int8 cgan.int8.onnx] [--json out.json]

Quality (:mod:`edgeimg.export.fid`): each ``--model`` makes ``--count`` images from fixed
latents (seed 1234; conditional models cycle the classes); their FID-FMNIST against the test
split beside the floor (as many train images against the test split), and for a conditional
model the judge's accuracy on each requested class. Speed (``--speed KERAS``): the Keras
generator, LiteRT FP32/INT8 (converted from it), onnxruntime FP32/INT8/FP16 and OpenCV dnn,
timed in one interleaved run at batch 1 and batch 64 (engines that take one image per call
are timed at batch 1 only), images per second = batch / p50.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgeimg.bench.harness import RunPlan, measure_interleaved
from edgeimg.bench.machine import machine_lines, machine_report
from edgeimg.bench.stats import summarize
from edgeimg.runtime.errors import EdgeimgError

log = logging.getLogger(__name__)

SEED = 1234


@dataclass(frozen=True)
class QualityRow:
    """One generator file: FID-FMNIST (and per-class accuracy of a conditional model)."""

    name: str
    arch: str
    conditional: bool
    fid: float
    class_accuracy: float | None = None
    per_class: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class SpeedRow:
    engine: str
    precision: str
    batch: int
    p50_ms: float | None
    images_per_s: float | None
    note: str = ""


def generated_images(path: Path, count: int) -> tuple[np.ndarray, np.ndarray, Any]:
    """``count`` images of the ONNX generator from seed SEED, their requested classes (-1 for
    an unconditional model), and the loaded generator."""
    from edgeimg.runtime.tasks.generate import load_generator

    generator = load_generator(path, threads=None)
    batch = generator.generate(count, None, SEED)
    return batch.images, batch.labels, generator


def quality(
    models: list[Path], judge_path: Path, data: Path, count: int
) -> tuple[float, list[QualityRow]]:
    """(floor FID: train vs test images, a row per generator)."""
    from edgeimg.export.fid import Judge, frechet_distance
    from edgeimg.train.tasks.classify.data import load_classification

    judge = Judge.load(judge_path)
    dataset = load_classification(data)
    real = judge.features(dataset.x_test[:count])
    floor = frechet_distance(judge.features(dataset.x_train[:count]), real)
    log.info("floor (train vs test, %d images each): FID-FMNIST %.3f", count, floor)
    rows = []
    for path in models:
        images, labels, generator = generated_images(path, count)
        features, probs = judge.scores(images)
        fid = frechet_distance(features, real)
        accuracy, per_class = None, {}
        if generator.params.conditional:
            hits = probs.argmax(axis=1) == labels
            accuracy = float(hits.mean())
            per_class = {
                name: float(hits[labels == i].mean())
                for i, name in enumerate(generator.class_names)
            }
        rows.append(
            QualityRow(
                path.name,
                generator.params.arch,
                generator.params.conditional,
                fid,
                accuracy,
                per_class,
            )
        )
        log.info("%s: FID-FMNIST %.3f (%.1fx the floor)", path.name, fid, fid / floor)
    return floor, rows


def speed(
    keras_path: Path,
    onnx: Path,
    int8: Path | None,
    fp16: Path | None,
    threads: int,
    plan: RunPlan,
    batches: tuple[int, ...] = (1, 64),
) -> list[SpeedRow]:
    """Every engine at each batch size in one interleaved run."""
    from edgeimg.bench.backends import Unsupported
    from edgeimg.bench.peers.litert import convert, signature_names
    from edgeimg.bench.peers.runners import (
        KerasRunner,
        LiteRTRunner,
        OpenCVRunner,
        OrtRunner,
        Runner,
        TimedCall,
    )
    from edgeimg.export.keras_file import load_keras
    from edgeimg.export.tasks.generate import params_of
    from edgeimg.runtime.tasks.generate.latent import sample_inputs

    model, contract = load_keras(keras_path)
    params = params_of(contract)
    classes = len(contract.class_names)
    calibration = sample_inputs(params, classes, 256, 1)
    names = contract.output_names
    # Not bench.peers.build_runners: it also times OpenCV dnn on the INT8 file, which takes
    # 13.5 s per generator call here (measured), and edgeimg's Model, which refuses generators.
    makers: list[tuple[str, str, Any]] = [
        ("keras/tensorflow", "fp32", lambda: KerasRunner(model, names, threads)),
        (
            "litert",
            "fp32",
            lambda: LiteRTRunner(
                convert(model), signature_names(model, contract), names, threads, "fp32"
            ),
        ),
        (
            "litert",
            "int8",
            lambda: LiteRTRunner(
                convert(model, calibration),
                signature_names(model, contract),
                names,
                threads,
                "int8",
            ),
        ),
        ("onnxruntime", "fp32", lambda: OrtRunner(onnx, threads, "fp32")),
        ("opencv dnn", "fp32", lambda: OpenCVRunner(onnx, threads, "fp32", names)),
    ]
    for path, precision in ((int8, "int8"), (fp16, "fp16")):
        if path is not None:
            makers.append(
                ("onnxruntime", precision, lambda p=path, q=precision: OrtRunner(p, threads, q))
            )
    runners: list[Runner] = []
    rows: list[SpeedRow] = []
    for engine, precision, make in makers:
        try:
            runners.append(make())
        except (Unsupported, ModuleNotFoundError) as exc:
            rows.append(SpeedRow(engine, precision, 1, None, None, f"skipped: {exc}"))
    calls, keys = [], []
    for batch in batches:
        inputs = sample_inputs(params, classes, batch, SEED)
        for runner in runners:
            if runner.max_batch is not None and batch > runner.max_batch:
                continue
            calls.append(TimedCall(runner, runner.prepare(inputs)))
            keys.append((runner, batch))
    log.info("timing %d engine x batch rows interleaved, %d rounds", len(calls), plan.rounds)
    for (runner, batch), latencies in zip(keys, measure_interleaved(calls, plan), strict=True):
        p50 = summarize(latencies, batch).p50_ms
        note = runner.spec.note if batch == 1 else ""
        rows.append(
            SpeedRow(runner.spec.engine, runner.spec.precision, batch, p50, batch / p50 * 1e3, note)
        )
    return rows


def quality_table(floor: float, rows: list[QualityRow], count: int) -> str:
    lines = [
        f"| generator ({count} images vs {count} test images) | FID-FMNIST | x floor "
        "| class accuracy |",
        "| --- | ---: | ---: | ---: |",
        f"| floor: {count} train images | {floor:.3f} | 1.0 | - |",
    ]
    for r in rows:
        accuracy = "-" if r.class_accuracy is None else f"{r.class_accuracy:.3f}"
        lines.append(f"| {r.name} ({r.arch}) | {r.fid:.3f} | {r.fid / floor:.1f} | {accuracy} |")
    return "\n".join(lines)


def speed_table(rows: list[SpeedRow]) -> str:
    lines = [
        "| engine | precision | batch | p50 ms | images/s | note |",
        "| --- | --- | ---: | ---: | ---: | --- |",
    ]
    for r in rows:
        if r.p50_ms is None:
            lines.append(f"| {r.engine} | {r.precision} | - | - | - | {r.note} |")
        else:
            lines.append(
                f"| {r.engine} | {r.precision} | {r.batch} | {r.p50_ms:.3f} | "
                f"{r.images_per_s:,.0f} | {r.note} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edgeimg.bench.generate", description=__doc__)
    parser.add_argument("--model", type=Path, action="append", default=[], help="generator ONNX")
    parser.add_argument("--judge", type=Path, help="classifier .keras for FID-FMNIST")
    parser.add_argument("--data", type=Path, default=Path("/usr/share/datasets/fashion-mnist"))
    parser.add_argument("--count", type=int, default=10_000, help="images per FID (10000)")
    parser.add_argument("--speed", type=Path, metavar="KERAS", help="time this generator")
    parser.add_argument("--onnx", type=Path, help="its ONNX export (with --speed)")
    parser.add_argument("--int8", type=Path, help="its INT8 file")
    parser.add_argument("--fp16", type=Path, help="its FP16 file")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    report: dict[str, Any] = {"machine": machine_report()}
    out = []
    try:
        if args.model:
            if args.judge is None:
                raise EdgeimgError("--model needs --judge CLASSIFIER.keras")
            floor, rows = quality(args.model, args.judge, args.data, args.count)
            report["quality"] = {"floor": floor, "rows": [asdict(r) for r in rows]}
            out.append(quality_table(floor, rows, args.count))
        if args.speed:
            if args.onnx is None:
                raise EdgeimgError("--speed needs --onnx (its export)")
            plan = RunPlan(warmup=10, iterations=args.iterations, rounds=10)
            rows_s = speed(args.speed, args.onnx, args.int8, args.fp16, args.threads, plan)
            report["speed"] = {"threads": args.threads, "rows": [asdict(r) for r in rows_s]}
            out.append(speed_table(rows_s))
    except EdgeimgError as exc:
        print(f"bench generate: error: {exc}", file=sys.stderr)
        return 2
    print("\n".join(machine_lines(report["machine"])))
    print("\n\n".join(out))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
