"""`edgeimg triton-repo MODEL.onnx DIR`: a Triton Inference Server model repository.

Thin: the flags become a :class:`~edgeimg.export.triton.TritonConfig` and one call of
:func:`~edgeimg.export.triton.write_triton_repo`. Reading the model's tensors needs ``onnx``
(the ``[triton]`` or ``[train]`` extra), not TensorFlow.
"""

from __future__ import annotations

import argparse
import importlib.util
from typing import TYPE_CHECKING

from edgeimg.runtime.errors import EdgeimgError

if TYPE_CHECKING:
    from edgeimg.export.triton import TritonConfig


class MissingExtra(EdgeimgError):
    """``onnx`` is not installed (exit code 3, like a missing extra)."""

    exit_code = 3


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "triton-repo",
        help="a Triton Inference Server model repository (onnxruntime backend) of a model",
        description="Write DIR/NAME/1/model.onnx (the ONNX file copied as is: its edgeimg "
        "contract stays in the metadata) and DIR/NAME/config.pbtxt for Triton's onnxruntime "
        "backend: inputs and outputs with their data types and dims read from the model, "
        "max_batch_size with dynamic batching, the instance group, and TensorRT (FP16) on GPU "
        "when asked. A model without a dynamic first (batch) dimension on every input and "
        "output gets max_batch_size 0 and its full shapes. An existing DIR/NAME with the same "
        "content is left as is; different content is refused unless --force.",
        epilog="example: edgeimg triton-repo runs/pets/detector.onnx models --name detector "
        "--kind gpu --tensorrt --fp16 && tritonserver --model-repository models",
    )
    parser.add_argument("model", help="ONNX model (exported by edgeimg or any other)")
    parser.add_argument("repo", metavar="DIR", help="the model repository (created if missing)")
    parser.add_argument(
        "--name", help="model name in the repository (default: the ONNX file's stem)"
    )
    parser.add_argument(
        "--max-batch",
        type=int,
        default=16,
        metavar="N",
        help="max_batch_size: largest batch Triton forms (0: no batching; default 16)",
    )
    parser.add_argument(
        "--queue-delay-us",
        type=int,
        default=2000,
        metavar="US",
        help="dynamic batching: microseconds a request may wait for others (default 2000)",
    )
    parser.add_argument(
        "--instances",
        type=int,
        default=1,
        metavar="N",
        help="model instances per device (instance_group count; default 1)",
    )
    parser.add_argument(
        "--kind",
        choices=("cpu", "gpu"),
        help="where the instances run (default: gpu with --tensorrt, else cpu)",
    )
    parser.add_argument(
        "--tensorrt",
        action="store_true",
        help="run through onnxruntime's TensorRT execution provider (GPU instances)",
    )
    parser.add_argument("--fp16", action="store_true", help="TensorRT in FP16 (with --tensorrt)")
    parser.add_argument(
        "--force",
        action="store_true",
        help="replace config.pbtxt and 1/model.onnx of an existing DIR/NAME with other content",
    )
    parser.set_defaults(run=run)


def triton_config(args: argparse.Namespace) -> TritonConfig:
    """The typed config of the flags; raises (one line, naming the flag) when they are invalid."""
    from edgeimg.export.triton import TritonConfig, check_model_name

    if args.max_batch < 0:
        raise EdgeimgError(f"--max-batch: expected >= 0, got {args.max_batch}")
    if args.queue_delay_us < 0:
        raise EdgeimgError(f"--queue-delay-us: expected >= 0, got {args.queue_delay_us}")
    if args.instances < 1:
        raise EdgeimgError(f"--instances: expected >= 1, got {args.instances}")
    if args.tensorrt and args.kind == "cpu":
        raise EdgeimgError("--tensorrt: needs GPU instances (--kind gpu)")
    if args.fp16 and not args.tensorrt:
        raise EdgeimgError("--fp16: is TensorRT's precision mode; add --tensorrt")
    if args.name is not None:
        try:
            check_model_name(args.name)
        except EdgeimgError as exc:
            raise EdgeimgError(f"--name: {exc}") from None
    return TritonConfig(
        name=args.name,
        max_batch=args.max_batch,
        queue_delay_us=args.queue_delay_us,
        instances=args.instances,
        kind=args.kind or ("gpu" if args.tensorrt else "cpu"),
        tensorrt=args.tensorrt,
        fp16=args.fp16,
        force=args.force,
    )


def run(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("onnx") is None:
        raise MissingExtra(
            "needs onnx to read the model's inputs and outputs: pip install 'edgeimg[triton]' "
            "(the workstation extra [train] has it too)"
        )
    from edgeimg.export.triton import write_triton_repo

    config = triton_config(args)
    try:
        result = write_triton_repo(args.model, args.repo, config)
    except EdgeimgError as exc:
        if config.name is None and str(exc).startswith("model name "):
            raise EdgeimgError(f"{exc}; give one with --name") from None
        raise
    if result.batching_off:
        print(f"note: max_batch_size 0 (no batching): {result.batching_off}")
    if result.unchanged:
        print(f"{result.path}: already up to date, nothing written")
    else:
        print(f"wrote {result.config_path} and {result.model_path}")
        if result.kept:
            print(f"kept in {result.path}: {', '.join(result.kept)}")
    if not args.quiet:
        print(f"serve it: tritonserver --model-repository {result.path.parent}")
    return 0
