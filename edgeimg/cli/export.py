"""`edgeimg export MODEL.keras -o MODEL.onnx`: Keras -> ONNX with the contract and a parity gate."""

from __future__ import annotations

import argparse
from pathlib import Path

from edgeimg.cli.quantize import add_quantize_options, calibration_images, run_quantize
from edgeimg.runtime.errors import EdgeimgError

PARITY_IMAGES = 32
DEFAULT_PARITY_SOURCE = "synthetic:"


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "export",
        help="Keras model -> ONNX carrying its contract, checked against Keras",
        description="Convert an edgeimg .keras model to ONNX with tf2onnx (dynamic batch, input "
        "'image', outputs named per the model's contract), write the contract into the file's "
        "metadata, check and optionally simplify the graph, then run Keras and onnxruntime on "
        "the same real frames and refuse to write the file unless they agree (--no-verify "
        "skips the check). Optionally quantize to INT8 (--int8, see 'edgeimg quantize') and "
        "convert to FP16 for GPUs (--fp16). Needs the [train] extra.",
        epilog="example: edgeimg export runs/pets/detector.keras -o runs/pets/detector.onnx "
        "--calib ../shared/data/PETS09-S2L1 --calib-frames 1-600 --int8",
    )
    parser.add_argument("model", help="a .keras file written by `edgeimg train`")
    parser.add_argument(
        "-o",
        "--output",
        metavar="MODEL.onnx",
        help="where to write (required unless --compare-layouts)",
    )
    parser.add_argument(
        "--compare-layouts",
        action="store_true",
        help="instead of writing a model: export NHWC and NCHW, count their Transposes and "
        "time both side by side on a frame of --calib (or the synthetic scene)",
    )
    parser.add_argument(
        "--layout",
        choices=("nchw", "nhwc"),
        default="nchw",
        help="input layout of the ONNX graph (default nchw: one Transpose fewer, same speed "
        "on onnxruntime CPU, native for OpenCV dnn and TensorRT)",
    )
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset, 13..18 (default 17)")
    parser.add_argument(
        "--no-simplify", action="store_true", help="keep tf2onnx's graph (no onnxslim pass)"
    )
    parser.add_argument(
        "--no-verify", action="store_true", help="skip the Keras vs onnxruntime parity gate"
    )
    parser.add_argument(
        "--tracker-config",
        metavar="YAML",
        help="ByteTrack settings tuned for this model's scores, stored in its contract; "
        "`edgeimg track` starts from them",
    )
    parser.add_argument(
        "--calib",
        metavar="DATA",
        help="real images for the parity gate and --int8 calibration: a video, an image "
        "folder, a MOT sequence folder or a classification dataset (default for parity: "
        "the built-in synthetic street scene)",
    )
    parser.add_argument(
        "--atol", type=float, default=1e-4, help="parity: absolute tolerance (default 1e-4)"
    )
    parser.add_argument(
        "--rtol", type=float, default=1e-3, help="parity: relative tolerance (default 1e-3)"
    )
    parser.add_argument(
        "--int8",
        action="store_true",
        help="also write MODEL.int8.onnx (needs --calib; see 'edgeimg quantize --help')",
    )
    parser.add_argument(
        "--fp16", action="store_true", help="also write MODEL.fp16.onnx (float32 inputs/outputs)"
    )
    add_quantize_options(parser)
    parser.set_defaults(run=run)


def sibling(path: Path, tag: str) -> Path:
    """``model.onnx`` -> ``model.<tag>.onnx``."""
    return path.with_name(f"{path.stem}.{tag}{path.suffix or '.onnx'}")


def run(args: argparse.Namespace) -> int:
    from edgeimg.cli.quantize import quantize_options
    from edgeimg.export.atomic import check_destination
    from edgeimg.export.calibration import prepare_batch
    from edgeimg.export.keras_file import read_contract
    from edgeimg.export.onnx_export import ExportOptions, export_keras
    from edgeimg.export.parity import Tolerance, check_parity

    if args.compare_layouts:
        return compare(args)
    if not args.output:
        raise EdgeimgError("-o/--output MODEL.onnx is required (or --compare-layouts)")
    tracker_params = {}
    if args.tracker_config:
        from edgeimg.runtime.tracking.config import settings_from_yaml

        tracker_params = settings_from_yaml(args.tracker_config)
    options = ExportOptions(
        layout=args.layout,
        opset=args.opset,
        simplify=not args.no_simplify,
        tracker_params=tracker_params,
    )
    tolerance = Tolerance(atol=args.atol, rtol=args.rtol)
    output = check_destination(args.output)
    if args.int8:
        if not args.calib:
            raise EdgeimgError("--int8 needs --calib DATA (images to calibrate on)")
        quantize_options(args)  # checked before the export's work
    contract = read_contract(args.model)
    images = None
    if args.calib:
        images = calibration_images(args.calib, contract, args.calib_frames, args.calib_count)

    def verify(model, exported, path):
        parity_images = images[:PARITY_IMAGES] if images else synthetic_images()
        report = check_parity(
            model, path, exported, prepare_batch(parity_images, exported), tolerance
        )
        print(report.summary())
        if not report.passed:
            from edgeimg.export.parity import ParityError

            raise ParityError(
                f"Keras and ONNX disagree ({failed_items(report)}); {output} not written "
                "(see the report above; --no-verify skips the check)"
            )
        return report

    print(f"exporting {args.model} ({contract.task.value}, {len(contract.class_names)} classes)...")
    result = export_keras(args.model, output, options, None if args.no_verify else verify)
    print(
        f"wrote {output}: {result.stats.nodes} nodes, {result.stats.transposes} Transpose, "
        f"opset {options.opset}, input {result.contract.layout.value}"
        + (", simplified" if result.simplified else "")
    )
    if args.fp16:
        from edgeimg.export.evaluation import session_infer
        from edgeimg.export.quantize import convert_fp16

        half = convert_fp16(output, sibling(output, "fp16"))
        names = result.contract.output_names
        batch = prepare_batch(
            images[:PARITY_IMAGES] if images else synthetic_images(), result.contract
        )
        full, low = session_infer(output, names)(batch), session_infer(half, names)(batch)
        diffs = ", ".join(
            f"{name} {float(abs(a - b).max()):.3g}"
            for name, a, b in zip(names, full, low, strict=True)
        )
        print(f"wrote {half}: max abs diff to FP32 on {len(batch)} images: {diffs}")
    if args.int8:
        report = run_quantize(args, output, sibling(output, "int8"), images)
        return 0 if report.passed else 1
    return 0


def compare(args: argparse.Namespace) -> int:
    """--compare-layouts: both layouts' Transposes and latency, printed."""
    from edgeimg.export.calibration import FrameSelection, sample_frames
    from edgeimg.export.keras_file import read_contract
    from edgeimg.export.layout import compare_layouts

    contract = read_contract(args.model)
    if args.calib:
        frame = calibration_images(args.calib, contract, args.calib_frames, 1)[0]
    else:
        frame = sample_frames(DEFAULT_PARITY_SOURCE, FrameSelection(1))[0]
    nhwc, nchw = compare_layouts(args.model, frame, args.rounds, args.threads, args.opset)
    for r in (nhwc, nchw):
        print(
            f"{r.layout.value}: {r.nodes} nodes, {r.transposes} Transpose, latency median "
            f"{r.latency.median_ms:.2f} ms, p90 {r.latency.p90_ms:.2f} ms ({r.latency.runs} runs)"
        )
    print(f"NCHW/NHWC median latency: {nchw.latency.median_ms / nhwc.latency.median_ms:.3f}")
    return 0


def synthetic_images() -> list:
    """Frames of the built-in synthetic street scene (people walking), when no --calib is given."""
    from edgeimg.export.calibration import FrameSelection, sample_frames

    return sample_frames(DEFAULT_PARITY_SOURCE, FrameSelection(PARITY_IMAGES))


def failed_items(report) -> str:
    bad = [o.name for o in report.outputs if not o.passed]
    if report.agreement < report.tolerance.min_agreement:
        bad.append(f"agreement {report.agreement:.1%}")
    if report.score_diff > report.tolerance.max_score_diff:
        bad.append(f"score diff {report.score_diff:.3g}")
    return ", ".join(bad)
