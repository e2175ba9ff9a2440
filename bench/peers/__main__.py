"""``python -m edgeimg.bench.peers``: edgeimg against the runtimes a user would pick instead.

    python -m edgeimg.bench.peers --model runs/pets/detector.keras --tracker --footprint
    python -m edgeimg.bench.peers --model runs/fmnist/classifier.keras --data /usr/share/datasets/fashion-mnist
    python -m edgeimg.bench.peers --model runs/camvid/seg.keras

The ONNX files default to MODEL.onnx and MODEL.int8.onnx beside the Keras file. Detectors are
scored on PETS09-S2L1 frames 601-795 (AP@0.5) and calibrated on frames 1-600; classifiers on
the test split of --data (top-1), calibrated on its training split; segmenters on the label
folder --data (default CamVid/val: mean IoU at each frame's full size), calibrated on --calib
(default: the ``train`` folder beside it).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

import numpy as np

from edgeimg.runtime.errors import EdgeimgError

log = logging.getLogger("edgeimg.bench.peers")

REPO = Path(__file__).resolve().parents[2]


def data_root() -> Path:
    return Path(os.environ.get("EDGEIMG_DATA", REPO.parent / "shared" / "data"))


def default_pets() -> Path:
    return data_root() / "PETS09-S2L1"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m edgeimg.bench.peers", description=__doc__.split("\n\n")[0]
    )
    p.add_argument(
        "--model", type=Path, required=True, help="edgeimg .keras model (with its contract)"
    )
    p.add_argument("--onnx", type=Path, help="FP32 ONNX export (default: MODEL.onnx)")
    p.add_argument("--int8", type=Path, help="INT8 ONNX export (default: MODEL.int8.onnx)")
    p.add_argument(
        "--data",
        type=Path,
        help="held-out data: classification folder, MOT sequence, or segmentation image folder",
    )
    p.add_argument(
        "--calib",
        type=Path,
        help="segmenters: image folder for LiteRT's INT8 calibration (default: train beside --data)",
    )
    p.add_argument(
        "--frames", default="601-795", help="detector held-out frames (default: %(default)s)"
    )
    p.add_argument(
        "--samples", type=int, default=2000, help="classifier held-out images, evenly spaced"
    )
    p.add_argument("--calibration-frames", default="1-600", help="detector calibration frames")
    p.add_argument("--calibration-count", type=int, default=100, help="calibration tensors")
    p.add_argument("--threads", type=int, default=1, help="threads for every engine (default: 1)")
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--iterations", type=int, default=300, help="timed calls per row")
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--tracker", action="store_true", help="also compare trackers (detectors only)")
    p.add_argument(
        "--tracker-config",
        type=Path,
        help="--tracker: also compare with this tuned ByteTrack YAML (and analogous trackers settings)",
    )
    p.add_argument(
        "--footprint", action="store_true", help="also compare start-up time and peak RSS"
    )
    p.add_argument("--json", type=Path, help="write all results as JSON")
    p.add_argument("--plot", type=Path, help="write a PNG of the latency distributions")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s")
    for noisy in ("tensorflow", "tf2onnx", "absl", "h5py", "matplotlib", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return run(args)
    except EdgeimgError as exc:
        print(f"edgeimg.bench.peers: error: {exc}", file=sys.stderr)
        return exc.exit_code


def run(args: argparse.Namespace) -> int:
    from edgeimg.bench.harness import RunPlan
    from edgeimg.bench.machine import machine_lines, machine_report
    from edgeimg.bench.peers.report import peers_payload, peers_table
    from edgeimg.bench.report import plot_distributions, write_json
    from edgeimg.export.keras_file import read_contract

    contract = read_contract(args.model)  # checks the file before TensorFlow starts
    onnx = args.onnx or args.model.with_suffix(".onnx")
    int8 = args.int8 or args.model.with_name(args.model.stem + ".int8.onnx")
    files = _files(args.model, onnx, int8)
    plan = RunPlan(warmup=args.warmup, iterations=args.iterations, rounds=args.rounds)
    machine = machine_report()
    print("\n".join(machine_lines(machine)))
    readers = {
        "classify": classification_data,
        "detect": detection_data,
        "segment": segmentation_data,
    }
    if contract.task not in readers:
        raise EdgeimgError(
            f"{args.model}: peers compares {', '.join(readers)} models, got task {contract.task}"
        )
    data, calibration = readers[contract.task](args, contract)
    model = load_keras(args.model, args.threads)
    from edgeimg.bench.peers.models import build_runners, run_peers

    runners, skipped = build_runners(model, contract, files, args.threads, calibration)
    result = run_peers(runners, skipped, data, contract, plan)
    print(
        f"\n{args.model.name}: {result.metric} on {result.samples} held-out images, latency ms at batch 1"
    )
    print(peers_table(result))
    payload: dict[str, object] = {
        "machine": machine,
        "model": str(args.model),
        "peers": peers_payload(result),
    }
    if args.tracker and contract.task == "detect":
        from edgeimg.bench.peers.trackers import (
            DEFAULTS,
            compare_trackers,
            trackers_table,
            tuned_settings,
        )

        settings = [DEFAULTS]
        if args.tracker_config is not None:
            settings.append(tuned_settings(args.tracker_config))
        tracking = compare_trackers(
            files.onnx or onnx, data_dir(args), args.frames, settings=settings
        )
        print("\n" + trackers_table(tracking))
        payload["trackers"] = [r.to_dict() for r in tracking]
    if args.footprint:
        from edgeimg.bench.footprint import compare_footprint, footprint_table

        footprint = compare_footprint(
            args.model, files.onnx or onnx, data_dir(args) if contract.task == "detect" else None
        )
        print("\n" + footprint_table(footprint))
        payload["footprint"] = [r.to_dict() for r in footprint]
    if args.json:
        write_json(args.json, payload)
        print(f"wrote {args.json}")
    if args.plot:
        series = [
            (r.spec.label + (" iobind" if "IOBinding" in r.spec.note else ""), r.latencies_s * 1e3)
            for r in result.rows
            if r.latencies_s is not None
        ]
        plot_distributions(series, args.plot, f"{args.model.name}: peers, batch 1")
        print(f"wrote {args.plot}")
    return 0


def _files(keras: Path, onnx: Path, int8: Path):
    from edgeimg.bench.peers.models import ModelFiles

    if not keras.is_file():
        raise EdgeimgError(f"--model: no such Keras file: {keras}")
    return ModelFiles(keras, onnx if onnx.is_file() else None, int8 if int8.is_file() else None)


def load_keras(path: Path, threads: int):
    """The Keras model, with TensorFlow limited to ``threads`` before it runs anything."""
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # TensorFlow already ran something in this process
        log.warning("TensorFlow was initialised before the bench: its thread count is unchanged")
    from edgeimg.export.keras_file import load_keras as load

    model, _ = load(path)
    return model


def data_dir(args: argparse.Namespace) -> Path:
    return args.data or default_pets()


def classification_data(args: argparse.Namespace, contract):
    from edgeimg.bench.peers.accuracy import HeldOut, prepare_images
    from edgeimg.train.tasks.classify.data import load_classification

    if args.data is None:
        raise EdgeimgError(
            "--data: a classifier needs its held-out data folder (e.g. /usr/share/datasets/fashion-mnist)"
        )
    data = load_classification(args.data, contract.input_size)
    pick = np.linspace(0, len(data.x_test) - 1, min(args.samples, len(data.x_test))).astype(int)
    tensors, _ = prepare_images(list(data.x_test[pick]), contract)
    calib_pick = np.linspace(
        0, len(data.x_train) - 1, min(args.calibration_count, len(data.x_train))
    ).astype(int)
    calibration, _ = prepare_images(list(data.x_train[calib_pick]), contract)
    return HeldOut(tensors, labels=data.y_test[pick]), calibration


def detection_data(args: argparse.Namespace, contract):
    from edgeimg.bench.peers.accuracy import HeldOut, prepare_images
    from edgeimg.export.calibration import FrameSelection, sample_frames
    from edgeimg.train.tasks.detect.data import load_detection

    root = data_dir(args)
    held = load_detection(root, args.frames)
    images = [s.image for s in held.samples]
    tensors, transforms = prepare_images(images, contract)
    frames = sample_frames(
        root, FrameSelection.parse(args.calibration_frames, args.calibration_count)
    )
    calibration, _ = prepare_images(frames, contract)
    return (
        HeldOut(
            tensors,
            transforms=transforms,
            boxes=[s.xyxy for s in held.samples],
            box_classes=[s.class_id for s in held.samples],
        ),
        calibration,
    )


def segmentation_data(args: argparse.Namespace, contract):
    """Frames and label masks of --data (default CamVid/val), calibration frames of --calib."""
    from edgeimg.bench.peers.accuracy import HeldOut, prepare_images
    from edgeimg.export.calibration import FrameSelection, sample_frames
    from edgeimg.train.tasks.segment.evaluate import held_out_masks

    root = args.data or data_root() / "CamVid" / "val"
    calib = args.calib or root.parent / "train"
    if not root.is_dir() or not calib.is_dir():
        missing = root if not root.is_dir() else calib
        raise EdgeimgError(f"segmentation data: no such folder: {missing} (--data, --calib)")
    held = held_out_masks(str(root), args.samples)
    tensors, transforms = prepare_images(list(held.images), contract)
    calibration, _ = prepare_images(
        sample_frames(calib, FrameSelection(args.calibration_count)), contract
    )
    return HeldOut(tensors, transforms=transforms, masks=list(held.targets)), calibration


if __name__ == "__main__":
    sys.exit(main())
