"""`edgeimg info [MODEL.onnx]`: what this machine can run, and what a model needs."""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import platform
import sys

from edgeimg import __version__


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "info",
        help="versions, execution providers and video backends here; a model's contract",
        description="With no model: print the versions of edgeimg, Python, onnxruntime (with its "
        "execution providers), OpenCV (with its video I/O backends) and TensorFlow if installed. "
        "With a model: print its contract, inputs and outputs, and what can run it here.",
    )
    parser.add_argument(
        "model",
        nargs="?",
        help="an ONNX model exported by edgeimg, or an Ultralytics YOLO ONNX export",
    )
    parser.add_argument(
        "--contract",
        metavar="FILE",
        help="JSON/YAML model contract, for an ONNX model without edgeimg metadata",
    )
    parser.add_argument(
        "--no-probe",
        action="store_true",
        help="do not load and time the model on each backend and device",
    )
    parser.set_defaults(run=run)


def environment_report() -> list[tuple[str, str]]:
    """(name, value) rows describing this machine's inference stack. Never imports TensorFlow."""
    rows = [("edgeimg", __version__), ("python", f"{platform.python_version()} ({sys.executable})")]
    rows.append(("platform", f"{platform.system()} {platform.machine()}"))
    try:
        import numpy

        rows.append(("numpy", numpy.__version__))
    except ImportError:
        rows.append(("numpy", "not installed"))
    try:
        import onnxruntime as ort

        rows.append(("onnxruntime", f"{ort.__version__} (device {ort.get_device()})"))
        rows.append(("  providers", ", ".join(ort.get_available_providers())))
    except ImportError:
        rows.append(("onnxruntime", "not installed"))
    try:
        import cv2

        rows.append(("opencv", cv2.__version__))
        rows.append(("  video I/O", ", ".join(video_backends(cv2))))
        rows.append(("  cuda devices", str(cuda_device_count(cv2))))
    except ImportError:
        rows.append(("opencv", "not installed"))
    rows.append(("openvino", openvino_report()))
    rows.append(("tasks", tasks_report()))
    for dist in ("tensorflow", "tf2onnx", "onnx"):
        try:
            rows.append((dist, importlib.metadata.version(dist)))
        except importlib.metadata.PackageNotFoundError:
            rows.append((dist, "not installed (pip install 'edgeimg[train]')"))
    return rows


def tasks_report() -> str:
    """The registered tasks, each with its bundled default model (``predict --task NAME``)."""
    from edgeimg.runtime.tasks import get_task, task_names

    parts = []
    for name in task_names():
        bundled = get_task(name).bundled_model
        parts.append(f"{name} ({bundled})" if bundled else name)
    return ", ".join(parts)


def openvino_report() -> str:
    """OpenVINO's version and devices (``--backend openvino``), or how to install it."""
    try:
        version = importlib.metadata.version("openvino")
    except importlib.metadata.PackageNotFoundError:
        return "not installed (--backend openvino: pip install 'edgeimg[openvino]')"
    try:
        import openvino

        from edgeimg.runtime.backends.openvino import shared_core

        devices = ", ".join(shared_core(openvino).available_devices)
    except Exception as exc:  # an install that cannot start: say so, keep the report going
        return f"{version}, cannot start: {type(exc).__name__}: {str(exc).splitlines()[0][:120]}"
    return f"{version} (devices {devices})"


def video_backends(cv2) -> list[str]:
    """FFMPEG, GStreamer and V4L2 marked yes/no (what a Jetson user checks first), then the rest."""
    registry = cv2.videoio_registry
    wanted = {"FFMPEG": cv2.CAP_FFMPEG, "GStreamer": cv2.CAP_GSTREAMER, "V4L2": cv2.CAP_V4L2}
    rows = [f"{name} {'yes' if registry.hasBackend(api) else 'no'}" for name, api in wanted.items()]
    others = {registry.getBackendName(b) for b in registry.getBackends()} - {
        "FFMPEG",
        "GSTREAMER",
        "V4L2",
    }
    return rows + sorted(others)


def cuda_device_count(cv2) -> int:
    try:
        return int(cv2.cuda.getCudaEnabledDeviceCount())
    except (AttributeError, cv2.error):
        return 0


def model_report(path: str, contract_file: str | None, probe: bool) -> list[tuple[str, str]]:
    """(name, value) rows: file, contract, inputs/outputs, op counts, backends that run it here."""
    from pathlib import Path

    from edgeimg.runtime.backends import read_model_info
    from edgeimg.runtime.backends.choose import int8_sibling
    from edgeimg.runtime.backends.probe import probe_backends
    from edgeimg.runtime.contract import QUANTIZATION_KEY
    from edgeimg.runtime.errors import EdgeimgError
    from edgeimg.runtime.model import input_shape_for, recognise_model, resolve_contract
    from edgeimg.runtime.tasks import get_task

    info = read_model_info(path)
    size = Path(path).stat().st_size
    rows = [("model", f"{path} ({size / 1e6:.2f} MB)")]
    contract = None
    origin = "from " + (contract_file or "the model's metadata")
    try:
        contract = resolve_contract(
            Path(path), info.metadata, contract_file, info.inputs, info.outputs
        )
        if contract_file is None and not any(k.startswith("edgeimg.") for k in info.metadata):
            recognised = recognise_model(Path(path), info.metadata, info.inputs, info.outputs)
            origin = "built from its metadata: " + (recognised.summary if recognised else "?")
    except EdgeimgError as exc:
        rows.append(("contract", f"none usable: {exc}"))
    if contract is not None:
        rows.append(("contract", origin))
        for key, value in contract.to_dict().items():
            if value not in ("", [], {}):
                rows.append((f"  {key}", str(value)))
    rows += [("input", spec.describe()) for spec in info.inputs]
    rows += [("output", spec.describe()) for spec in info.outputs]
    other = {k: v for k, v in info.metadata.items() if not k.startswith("edgeimg.")}
    record = other.pop(QUANTIZATION_KEY, None)
    rows += [(f"metadata {k}", v[:80]) for k, v in sorted(other.items())]
    if record is not None:
        rows.append(("quantization", quantization_summary(record)))
    else:
        sibling = int8_sibling(path)
        rows.append(
            (
                "int8 file",
                f"{sibling.name}: accuracy gate passed, `--backend auto` measures it too"
                if sibling is not None
                else "none usable beside it (edgeimg quantize ... --eval DATA writes one)",
            )
        )
    rows.append(("ops", op_counts(path)))
    if probe and len(info.inputs) == 1:
        shape = input_shape_for(contract) if contract is not None else None
        if contract is not None and not get_task(contract.task).image_input:
            shape = tuple(1 if d is None else d for d in info.inputs[0].shape)  # a latent vector
        for result in probe_backends(path, info, shape):
            rows.append((f"{result.backend} {result.device}", result.describe()))
    return rows


def quantization_summary(text: str) -> str:
    """One line from an INT8 file's quantization record: scheme, source, the latency and
    accuracy gates."""
    try:
        record = json.loads(text)
        scheme = record["scheme"]
        parts = [
            f"{scheme['activation_type']} activations, {scheme['weight_type']} weights, "
            f"{record['method']} on {record['calibration_images']} calibration inputs"
        ]
    except (ValueError, KeyError, TypeError):
        return text[:80]
    if record.get("source_sha256"):
        parts.append(f"from FP32 {record['source_sha256'][:12]}")
    gate = record.get("gate")
    if isinstance(gate, dict) and isinstance(gate.get("latency_ratio"), float):
        # where INT8 was timed: quant_on (since --backend auto), else backend and threads
        where = gate.get("quant_on") or gate
        threads = f", {where['threads']} threads" if where.get("threads") else ""
        auto = " (picked by --backend auto when quantized)" if gate.get("backend") == "auto" else ""
        parts.append(
            f"INT8/FP32 latency {gate['latency_ratio']:.2f} on {where.get('backend')}"
            f"{threads}{auto}"
        )
    accuracy = record.get("accuracy")
    if isinstance(accuracy, dict):
        verdict = "passed" if accuracy.get("passed") else "FAILED"
        parts.append(
            f"{accuracy['metric']} {accuracy['float']:.2f} -> {accuracy['quantized']:.2f} "
            f"(budget {accuracy['budget_points']:g} points): {verdict}"
        )
    elif "accuracy" in record:
        parts.append("accuracy not measured")
    return "; ".join(parts)


def op_counts(path: str) -> str:
    """Node counts per op type of the main graph, when the onnx package is installed."""
    try:
        import onnx
    except ImportError:
        return "not counted (needs the onnx package: pip install 'edgeimg[train]')"
    from collections import Counter

    graph = onnx.load(path, load_external_data=False).graph
    counts = Counter(node.op_type for node in graph.node)
    listed = ", ".join(f"{op} {n}" for op, n in counts.most_common())
    return f"{len(graph.node)} nodes: {listed}"


def run(args: argparse.Namespace) -> int:
    if args.model:
        rows = model_report(args.model, args.contract, probe=not args.no_probe)
    else:
        rows = environment_report()
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    return 0
