"""`edgeimg export MODEL.keras -o MODEL.onnx`: Keras -> ONNX with the contract and a parity gate.

Thin: the flags become an :class:`~edgeimg.export.flow.ExportPlan` and one call of
:func:`~edgeimg.export.flow.export_model`; this module prints what it returns.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from edgeimg.cli.quantize import (
    add_quantize_options,
    calibration_source,
    draws_own_inputs,
    print_int8,
    quantize_plan,
)
from edgeimg.runtime.errors import EdgeimgError

if TYPE_CHECKING:
    from edgeimg.export.flow import ExportPlan


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


def export_plan(args: argparse.Namespace) -> ExportPlan:
    """The typed plan of the flags; raises before any work when they are invalid."""
    from edgeimg.export.flow import ExportPlan
    from edgeimg.export.onnx_export import ExportOptions
    from edgeimg.export.parity import Tolerance

    task_params = {}
    if args.tracker_config:
        from edgeimg.runtime.tasks.detect.tracking.config import settings_from_yaml

        task_params = {"tracker": settings_from_yaml(args.tracker_config)}
    options = ExportOptions(
        layout=args.layout,
        opset=args.opset,
        simplify=not args.no_simplify,
        task_params=task_params,
    )
    if args.int8 and not args.calib and not draws_own_inputs(args.model):
        raise EdgeimgError("--int8 needs --calib DATA (images to calibrate on)")
    return ExportPlan(
        options=options,
        verify=not args.no_verify,
        tolerance=Tolerance(atol=args.atol, rtol=args.rtol),
        calibration=(
            calibration_source(args.calib, args.calib_frames, args.calib_count)
            if args.calib
            else None
        ),
        fp16=args.fp16,
        int8=quantize_plan(args) if args.int8 else None,
    )


def check_paths(args: argparse.Namespace) -> None:
    """No output (the model, its fp16/int8 siblings, the report) is an input or another output."""
    from edgeimg.export.flow import sibling
    from edgeimg.runtime.atomic import check_distinct

    output = Path(args.output)
    check_distinct(
        [
            ("-o/--output", output),
            ("the fp16 model", sibling(output, "fp16") if args.fp16 else None),
            ("the int8 model", sibling(output, "int8") if args.int8 else None),
            ("--report", args.report),
        ],
        [
            ("MODEL", args.model),
            ("--calib", args.calib),
            ("--eval", args.eval),
            ("--tracker-config", args.tracker_config),
        ],
    )


def run(args: argparse.Namespace) -> int:
    from edgeimg.export.flow import export_model
    from edgeimg.export.keras_file import read_contract
    from edgeimg.export.parity import ParityError

    if args.compare_layouts:
        return compare(args)
    if not args.output:
        raise EdgeimgError("-o/--output MODEL.onnx is required (or --compare-layouts)")
    check_paths(args)
    plan = export_plan(args)
    contract = read_contract(args.model)
    from edgeimg.train.tasks import import_keras_objects

    import_keras_objects()  # the tasks' custom layers (upscale's PixelShuffle) before loading
    classes = f", {len(contract.class_names)} classes" if contract.class_names else ""
    print(f"exporting {args.model} ({contract.task}{classes})...")
    try:
        result = export_model(args.model, args.output, plan)
    except ParityError as exc:
        if exc.report is not None:
            print(exc.report.summary())
        raise ParityError(
            f"{exc} (see the report above; --no-verify skips the check)", exc.report
        ) from None
    if result.parity is not None:
        print(result.parity.summary())
    print(
        f"wrote {result.path}: {result.stats.nodes} nodes, {result.stats.transposes} Transpose, "
        f"opset {plan.options.opset}, input {result.contract.layout.value}"
        + (", simplified" if result.simplified else "")
    )
    if result.fp16 is not None:
        diffs = ", ".join(f"{name} {diff:.3g}" for name, diff in result.fp16.max_abs_diff)
        print(
            f"wrote {result.fp16.path}: max abs diff to FP32 on {result.fp16.images} images: "
            f"{diffs}"
        )
    if result.int8 is not None:
        print_int8(result.int8)
        return 0 if result.int8.report.passed else 1
    return 0


def compare(args: argparse.Namespace) -> int:
    """--compare-layouts: both layouts' Transposes and latency, printed."""
    from edgeimg.export.flow import synthetic_images
    from edgeimg.export.layout import compare_layouts

    if args.calib:
        frame = calibration_source(args.calib, args.calib_frames, 1)()[0]
    else:
        frame = synthetic_images(1)[0]
    nhwc, nchw = compare_layouts(args.model, frame, args.rounds, args.threads, args.opset)
    for r in (nhwc, nchw):
        print(
            f"{r.layout.value}: {r.nodes} nodes, {r.transposes} Transpose, latency median "
            f"{r.latency.median_ms:.2f} ms, p90 {r.latency.p90_ms:.2f} ms ({r.latency.runs} runs)"
        )
    print(f"NCHW/NHWC median latency: {nchw.latency.median_ms / nhwc.latency.median_ms:.3f}")
    return 0
