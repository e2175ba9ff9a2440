"""The peers run end to end on tiny real models: every engine a row, or a skip with a reason."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from edgeimg.bench.peers.__main__ import main as peers_main
from edgeimg.runtime.tasks.detect.mot import read_mot


def test_peers_time_every_engine_with_accuracy_beside_each_row(tiny_models, tmp_path, capsys):
    out = tmp_path / "peers.json"
    argv = [
        "--model",
        str(tiny_models.keras),
        "--onnx",
        str(tiny_models.fp32),
        "--int8",
        str(tiny_models.int8),
    ]
    argv += ["--data", str(tiny_models.data), "--iterations", "3", "--warmup", "1", "--rounds", "1"]
    argv += ["--json", str(out), "--plot", str(tmp_path / "peers.png")]
    assert peers_main(argv) == 0
    assert "x edgeimg best" in capsys.readouterr().out
    rows = {
        (r["engine"], r["precision"], r["note"]): r
        for r in json.loads(out.read_text())["peers"]["rows"]
    }
    engines = {engine for engine, _, _ in rows}
    assert {"keras/tensorflow", "litert", "onnxruntime", "edgeimg runtime", "opencv dnn"} <= engines
    assert any("backend openvino" in note for _, _, note in rows)  # timed, or why not
    timed = [r for r in rows.values() if "skipped" not in r]
    for r in timed:
        assert r["p50_ms"] > 0 and 0.0 <= r["top-1"] <= 1.0
    # the same FP32 model gives the same answers whatever runs it
    fp32 = {r["top-1"] for r in timed if r["precision"] == "fp32"}
    assert len(fp32) == 1 and fp32.pop() > 0.9
    # edgeimg's best configuration is the reference of the ratios
    assert (
        min(r["x_edgeimg_best"] for r in timed if r["engine"] in ("onnxruntime", "edgeimg runtime"))
        == 1.0
    )
    for r in rows.values():
        if "skipped" in r:
            assert r["skipped"]  # a reason, e.g. the op OpenCV cannot import
            assert not r["skipped"].startswith("failed"), r  # a peer that broke is a bug
    assert (tmp_path / "peers.png").read_bytes()[:4] == b"\x89PNG"


def test_peers_refuse_a_keras_file_without_contract(tmp_path, capsys):
    bad = tmp_path / "plain.keras"
    bad.write_bytes(b"PK\x05\x06" + b"\0" * 18)  # an empty zip archive
    assert peers_main(["--model", str(bad)]) == 2
    assert "edgeimg.json" in capsys.readouterr().err


def test_trackers_compare_on_identical_detections(pets_dir):
    pytest.importorskip("trackers")
    from edgeimg.bench.peers.trackers import TrackedSequence, compare_sequence, trackers_table

    gt = read_mot(pets_dir / "gt" / "gt.txt").frames(601, 630)
    rng = np.random.default_rng(0)
    frames = list(range(601, 631))
    detections = []
    for frame in frames:
        d = gt.detections(frame)
        noisy = d.xyxy + rng.normal(0, 2, d.xyxy.shape).astype(np.float32)
        scores = rng.uniform(0.3, 1.0, len(d)).astype(np.float32)
        detections.append(type(d)(noisy, scores, d.class_id))
    sequence = TrackedSequence(frames, [(f - 1) / 7.0 for f in frames], detections, 7.0)
    rows = compare_sequence(sequence, gt, repeats=2)
    names = [r.name for r in rows]
    assert names[:2] == ["edgeimg ByteTracker", "roboflow trackers ByteTrack"]
    for row in rows[:2]:
        assert row.per_frame.count == 2 * len(frames)
        assert 0.5 < row.metrics["mota"] <= 1.0 and 0.0 < row.metrics["hota"] <= 1.0
    supervision = rows[2]  # supervision >= 0.27 has no ByteTrack: a row with the reason
    assert supervision.metrics is not None or "ByteTrack" in supervision.skipped
    assert "MOTA" in trackers_table(rows)


def test_trackers_compare_defaults_and_tuned_thresholds_side_by_side(pets_dir, tmp_path):
    pytest.importorskip("trackers")
    from edgeimg.bench.peers.trackers import (
        DEFAULTS,
        TrackedSequence,
        compare_sequence,
        tuned_settings,
    )

    config = tmp_path / "tuned.yaml"
    config.write_text("track_thresh: 0.4\nnew_track_thresh: 0.45\nfuse_score: false\n")
    tuned = tuned_settings(config)
    assert tuned.high_conf_det_threshold == 0.35 and tuned.track_activation_threshold == 0.45
    gt = read_mot(pets_dir / "gt" / "gt.txt").frames(601, 615)
    frames = list(range(601, 616))
    detections = [gt.detections(f) for f in frames]
    detections = [
        type(d)(d.xyxy, np.full(len(d), 0.47, np.float32), d.class_id) for d in detections
    ]
    sequence = TrackedSequence(frames, [(f - 1) / 7.0 for f in frames], detections, 7.0)
    rows = [r for r in compare_sequence(sequence, gt, 1, (DEFAULTS, tuned)) if r.metrics]
    assert len(rows) == 4 and "tuned" in rows[2].note and "tuned" in rows[3].note
    # every detection scores 0.47: below the default thresholds, above the tuned ones
    assert rows[0].metrics["mota"] == 0.0 and rows[2].metrics["mota"] > 0.8


DATA = Path(
    os.environ.get("EDGEIMG_DATA", Path(__file__).resolve().parents[2].parent / "shared" / "data")
)


def _camvid_subset(folder, data_dir, split: str, count: int):
    """``count`` CamVid frames of ``split`` with their label folder, as a user's copy would be."""
    import shutil

    source = data_dir / "CamVid"
    if not (source / split).is_dir():
        message = f"real data missing: {source / split} (set EDGEIMG_DATA)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    (folder / split).mkdir(parents=True)
    (folder / f"{split}annot").mkdir()
    for path in sorted((source / split).glob("*.png"))[:count]:
        shutil.copy(path, folder / split / path.name)
        shutil.copy(source / f"{split}annot" / path.name, folder / f"{split}annot" / path.name)
    return folder / split


@pytest.fixture(scope="module")
def tiny_segmenter(tmp_path_factory):
    """An edgenet_seg (width 0.25, 96x128 input) with its CamVid contract, exported to ONNX,
    and 3 val + 3 train CamVid frames with labels."""
    keras = pytest.importorskip("keras")
    from edgeimg.export.onnx_export import export_keras
    from edgeimg.train.fit import save_keras
    from edgeimg.train.tasks.segment.contract import segmenter_contract
    from edgeimg.train.tasks.segment.data import CAMVID_CLASSES, CAMVID_PALETTE
    from edgeimg.train.tasks.segment.models import build_segmenter

    folder = tmp_path_factory.mktemp("tiny_segmenter")
    val = _camvid_subset(folder, DATA, "val", 3)
    _camvid_subset(folder, DATA, "train", 3)
    keras.utils.set_random_seed(0)
    contract = segmenter_contract(CAMVID_CLASSES, CAMVID_PALETTE, (96, 128))
    path = save_keras(build_segmenter(11, (96, 128), width=0.25), folder / "seg.keras", contract)
    export_keras(path, folder / "seg.onnx")
    return path, val


def test_peers_score_a_segmenter_by_mean_iou_on_every_engine(tiny_segmenter, tmp_path, capsys):
    keras_path, val = tiny_segmenter
    out = tmp_path / "peers.json"
    argv = ["--model", str(keras_path), "--data", str(val), "--calibration-count", "3"]
    argv += ["--iterations", "3", "--warmup", "1", "--rounds", "1", "--json", str(out)]
    assert peers_main(argv) == 0
    assert "mIoU on 3 held-out images" in capsys.readouterr().out
    rows = json.loads(out.read_text())["peers"]["rows"]
    timed = [r for r in rows if "skipped" not in r]
    assert {"keras/tensorflow", "litert", "onnxruntime"} <= {r["engine"] for r in timed}
    fp32 = [r["mIoU"] for r in timed if r["precision"] == "fp32"]
    assert all(0.0 <= m <= 1.0 for m in fp32)
    assert max(fp32) - min(fp32) < 1e-3  # the same model's masks, whatever runs it


def test_segmentation_miou_maps_masks_back_to_each_frame(tiny_segmenter):
    """A runner whose logits are the letterboxed truth scores 1.0; shifted classes score ~0."""
    from dataclasses import replace

    import cv2

    from edgeimg.bench.peers.accuracy import HeldOut, prepare_images, segmentation_miou
    from edgeimg.bench.peers.runners import PeerSpec, Runner
    from edgeimg.export.keras_file import read_contract
    from edgeimg.train.tasks.segment.evaluate import held_out_masks

    keras_path, val = tiny_segmenter
    contract = replace(read_contract(keras_path), input_size=(368, 480))  # 4 rows of padding
    held = held_out_masks(str(val))
    tensors, transforms = prepare_images(list(held.images), contract)
    truth = [np.where(m == 255, 0, m) for m in held.targets]

    class Oracle(Runner):
        def __init__(self, shift: int) -> None:
            self.spec, self.shift, self.calls = PeerSpec("oracle", "fp32", 1), shift, 0

        def infer(self, native):
            logits = []
            for mask in truth[self.calls : self.calls + len(native)]:
                boxed = cv2.copyMakeBorder(mask, 4, 4, 0, 0, cv2.BORDER_CONSTANT, value=0)
                logits.append(np.eye(11, dtype=np.float32)[(boxed + self.shift) % 11])
            self.calls += len(native)
            return [np.stack(logits)]

    data = HeldOut(tensors, transforms=transforms, masks=list(held.targets))
    assert segmentation_miou(Oracle(0), data, contract) > 0.99
    assert segmentation_miou(Oracle(1), data, contract) < 0.1
