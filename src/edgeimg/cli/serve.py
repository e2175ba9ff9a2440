"""`edgeimg serve [MODEL.onnx]`: a model on a real Triton Inference Server on this machine.

Thin: the flags become a :class:`~edgeimg.runtime.serve.ServeConfig` and one call of
:func:`~edgeimg.runtime.serve.serve_model`, which blocks until Ctrl-C or SIGTERM (exit 130 /
143 like every command). Needs the ``[serve]`` extra (PyTriton) in a Python with a shared
libpython (README: Serving on Triton).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edgeimg.runtime.errors import EdgeimgError


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "serve",
        help="serve a model on a Triton Inference Server here (PyTriton; [serve] extra)",
        description="Start Triton Inference Server (the binary PyTriton bundles) with the ONNX "
        "model run by onnxruntime on this CPU, batched by Triton's dynamic batcher. Clients "
        "use HTTP/gRPC, e.g. `edgeimg track --backend triton://127.0.0.1:8000/NAME`; the "
        "model's edgeimg contract is in its config (parameter edgeimg.metadata). Needs a "
        "Python with a shared libpython (Debian's /usr/bin/python3; see the README).",
        epilog="example: edgeimg serve runs/pets/detector.onnx --name detector --port 8000",
    )
    parser.add_argument(
        "model", nargs="?", help="ONNX model (default: the bundled person detector)"
    )
    parser.add_argument(
        "--name", help="model name for clients (default: the ONNX file's stem; bundled: detector)"
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default 127.0.0.1: this machine only; 0.0.0.0: every network)",
    )
    parser.add_argument("--port", type=int, default=8000, help="HTTP port (default 8000)")
    parser.add_argument("--grpc-port", type=int, default=8001, help="gRPC port (default 8001)")
    parser.add_argument(
        "--metrics-port", type=int, default=8002, help="Prometheus metrics port (default 8002)"
    )
    parser.add_argument(
        "--max-batch",
        type=int,
        default=16,
        metavar="N",
        help="largest batch the dynamic batcher forms (0: no batching; default 16)",
    )
    parser.add_argument(
        "--queue-delay-us",
        type=int,
        default=2000,
        metavar="US",
        help="microseconds a request may wait for others to batch with (default 2000)",
    )
    parser.add_argument(
        "--instances", type=int, default=1, metavar="N", help="model instances (default 1)"
    )
    parser.add_argument("--threads", type=int, metavar="N", help="onnxruntime threads per instance")
    parser.add_argument(
        "--version", type=int, default=1, dest="model_version", help="model version (default 1)"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import logging

    from edgeimg.runtime.model import bundled_model_path
    from edgeimg.runtime.serve import ServeConfig, check_interpreter, serve_model

    check_interpreter()  # before anything else: one line when this Python cannot host Triton
    if args.model:
        path = Path(args.model)
        if not path.is_file():
            raise EdgeimgError(f"model file not found: {path}")
        name = args.name or path.stem
    else:
        path = bundled_model_path("detect")
        name = args.name or "detector"
    config = ServeConfig(
        name=name,
        host=args.host,
        http_port=args.port,
        grpc_port=args.grpc_port,
        metrics_port=args.metrics_port,
        max_batch=args.max_batch,
        queue_delay_us=args.queue_delay_us,
        instances=args.instances,
        threads=args.threads,
        version=args.model_version,
    )
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        logging.getLogger("edgeimg").warning(
            "serving on %s: reachable from other machines, with no authentication", args.host
        )
    serve_model(
        path,
        config,
        on_ready=lambda line: print(line, file=sys.stderr, flush=True),
        verbose=args.verbose > 1,
    )
    return 0
