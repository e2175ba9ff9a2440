"""What makes a detector fast on this CPU: quantization schemes, layouts, session options,
backends and smaller models, timed in one interleaved run beside LiteRT full-integer INT8.

    python -m edgeimg.bench.variants --model runs/pets/detector.keras --work out/variants \\
        --build --extra runs/bench/det_w0.5_s4.keras --threads 1

Step 1 (``--build``, once) writes the variants into ``--work``: INT8 QDQ models of the FP32
ONNX with each quantization scheme (through :func:`edgeimg.export.quantize_model`, calibrated
on PETS frames 1-600 exactly as ``edgeimg export --int8`` does) and an NHWC-input export
(:func:`edgeimg.export.export_model`, parity-checked). ``--extra`` Keras models (e.g. a
width-reduced detector) are exported to FP32 and INT8 beside them by the same call. Step 2 times every row on one input, interleaved, with AP@0.5 on frames 601-795.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edgeimg.bench.backends import Unsupported
from edgeimg.bench.peers.runners import EdgeimgRunner, OrtRunner, Runner
from edgeimg.runtime.errors import EdgeimgError

log = logging.getLogger("edgeimg.bench.variants")

# Latency rounds of the quantization report while building (the bench measures properly later).
BUILD_ROUNDS = 10


@dataclass(frozen=True)
class QuantVariant:
    """One INT8 scheme: file suffix and :class:`edgeimg.export.quantize.QuantizeOptions` fields."""

    name: str
    per_channel: bool = True
    reduce_range: bool | None = None  # None: edgeimg's default (7-bit weights without VNNI)
    keep_head_float: bool = True
    target: str = "cpu-x86"


QUANT_VARIANTS = (
    QuantVariant("u8s8_rr_pc"),  # edgeimg's default on this CPU
    QuantVariant("u8s8_pc", reduce_range=False),
    QuantVariant("u8s8_rr_pt", per_channel=False),
    QuantVariant("u8s8_rr_pc_all", keep_head_float=False),
    QuantVariant("s8s8_pc", target="cpu-arm"),
)


@dataclass(frozen=True)
class SessionVariant:
    """onnxruntime session settings of a row."""

    optimization: str = "all"  # disable, basic, extended, all
    spinning: bool = False
    io_binding: bool = True


def build(keras_path: Path, onnx_path: Path, work: Path, extras: list[Path], pets: Path) -> None:
    """Write every variant file into ``work`` (existing files are kept)."""
    from edgeimg.export.calibration import FrameSelection, sample_frames
    from edgeimg.export.flow import ExportPlan, QuantizePlan, export_model, quantize_model
    from edgeimg.export.onnx_export import ExportOptions
    from edgeimg.export.quantize import QuantizeOptions

    work.mkdir(parents=True, exist_ok=True)
    frames = sample_frames(pets, FrameSelection.parse("1-600", 100))

    def plan(variant: QuantVariant) -> QuantizePlan:
        # Kept whatever the gate says (force): the bench times every scheme itself.
        options = QuantizeOptions(
            target=variant.target,
            per_channel=variant.per_channel,
            reduce_range=variant.reduce_range,
            keep_head_float=variant.keep_head_float,
            debug_images=0,
        )
        return QuantizePlan(options=options, rounds=BUILD_ROUNDS, force=True)

    for variant in QUANT_VARIANTS:
        out = work / f"det_{variant.name}.onnx"
        if not out.is_file():
            log.info("quantizing %s -> %s", onnx_path.name, out.name)
            quantize_model(onnx_path, out, frames, plan(variant))
    nhwc = work / "det_nhwc.onnx"
    if not nhwc.is_file():
        export_model(
            keras_path, nhwc, ExportPlan(ExportOptions(layout="NHWC"), calibration=lambda: frames)
        )
    for extra in extras:
        fp32 = work / f"{extra.stem}.onnx"
        if not fp32.is_file():
            export_model(
                extra, fp32, ExportPlan(calibration=lambda: frames, int8=plan(QUANT_VARIANTS[0]))
            )
        elif not (work / f"{extra.stem}.int8.onnx").is_file():
            quantize_model(fp32, work / f"{extra.stem}.int8.onnx", frames, plan(QUANT_VARIANTS[0]))


def rows(
    onnx_path: Path, work: Path, extras: list[Path], threads: int
) -> tuple[list[Runner], list[str]]:
    """The timed configurations, and a line for each one that cannot run here."""
    makers: list[tuple[str, Callable[[], Runner]]] = []

    def ort(path: Path, label: str, session: SessionVariant = SessionVariant()) -> None:
        makers.append(
            (
                label,
                lambda: OrtRunner(
                    path,
                    threads,
                    label,
                    io_binding=session.io_binding,
                    engine="edgeimg/onnxruntime",
                    optimization=session.optimization,
                    spinning=session.spinning,
                ),
            )
        )

    def opencv(path: Path, label: str) -> None:
        makers.append((label, lambda: EdgeimgRunner(path, threads, label, backend="opencv")))

    default_int8 = work / f"det_{QUANT_VARIANTS[0].name}.onnx"
    ort(onnx_path, "fp32 NCHW")
    ort(onnx_path, "fp32 NCHW spinning", SessionVariant(spinning=True))
    ort(onnx_path, "fp32 NCHW opt=basic", SessionVariant(optimization="basic"))
    ort(onnx_path, "fp32 NCHW opt=extended", SessionVariant(optimization="extended"))
    ort(onnx_path, "fp32 NCHW session.run", SessionVariant(io_binding=False))
    ort(work / "det_nhwc.onnx", "fp32 NHWC")
    for variant in QUANT_VARIANTS:
        ort(work / f"det_{variant.name}.onnx", f"int8 {variant.name}")
    ort(default_int8, "int8 u8s8_rr_pc spinning", SessionVariant(spinning=True))
    opencv(onnx_path, "fp32 NCHW opencv")
    opencv(default_int8, "int8 opencv")
    for extra in extras:
        ort(work / f"{extra.stem}.onnx", f"{extra.stem} fp32")
        ort(work / f"{extra.stem}.int8.onnx", f"{extra.stem} int8")
        opencv(work / f"{extra.stem}.onnx", f"{extra.stem} fp32 opencv")
    runners, skipped = [], []
    for label, make in makers:
        try:
            runners.append(make())
        except (Unsupported, EdgeimgError) as exc:
            skipped.append(f"{label}: {exc}")
    return runners, skipped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m edgeimg.bench.variants", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--model", type=Path, required=True, help="the detector's .keras file")
    parser.add_argument("--onnx", type=Path, help="its FP32 ONNX export (default: MODEL.onnx)")
    parser.add_argument("--work", type=Path, required=True, help="folder for the variant files")
    parser.add_argument(
        "--extra", type=Path, action="append", default=[], help="more .keras detectors"
    )
    parser.add_argument("--build", action="store_true", help="write the variant files first")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--iterations", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for noisy in ("tensorflow", "tf2onnx", "absl", "h5py"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return run(args)
    except EdgeimgError as exc:
        print(f"edgeimg.bench.variants: error: {exc}", file=sys.stderr)
        return exc.exit_code


def run(args: argparse.Namespace) -> int:
    from edgeimg.bench.harness import RunPlan
    from edgeimg.bench.machine import machine_lines, machine_report
    from edgeimg.bench.peers.__main__ import default_pets, detection_data, load_keras
    from edgeimg.bench.peers.models import build_runners, run_peers
    from edgeimg.bench.peers.report import peers_payload, peers_table
    from edgeimg.bench.report import write_json
    from edgeimg.export.keras_file import read_contract

    onnx_path = args.onnx or args.model.with_suffix(".onnx")
    pets = default_pets()
    if args.build:
        build(args.model, onnx_path, args.work, args.extra, pets)
    contract = read_contract(args.model)
    machine = machine_report()
    print("\n".join(machine_lines(machine)))
    data_args = argparse.Namespace(
        data=None, frames="601-795", calibration_frames="1-600", calibration_count=100
    )
    data, calibration = detection_data(data_args, contract)
    model = load_keras(args.model, args.threads)
    from edgeimg.bench.peers.models import ModelFiles

    litert, skipped = build_runners(
        model, contract, ModelFiles(args.model), args.threads, calibration
    )
    runners = [r for r in litert if r.spec.engine == "litert"]
    variants, cannot = rows(onnx_path, args.work, args.extra, args.threads)
    runners += variants
    plan = RunPlan(warmup=args.warmup, iterations=args.iterations, rounds=args.rounds)
    result = run_peers(
        runners, [s for s in skipped if s.spec.engine == "litert"], data, contract, plan
    )
    print(f"\nvariants of {args.model.name}, {args.threads} thread(s): AP@0.5 on frames 601-795")
    print(peers_table(result, reference=("litert", "int8")))
    for line in cannot:
        print(f"skipped {line}")
    if args.json:
        write_json(
            args.json,
            {"machine": machine, "model": str(args.model), "peers": peers_payload(result)},
        )
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
