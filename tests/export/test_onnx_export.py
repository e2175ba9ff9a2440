"""Keras -> ONNX: names, dynamic batch, contract in the metadata, parity, atomic writes."""

from __future__ import annotations

import shutil
import zipfile
from dataclasses import replace

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from edgeimg import __version__
from edgeimg.export.calibration import prepare_batch
from edgeimg.export.keras_file import attach_contract, load_keras, read_contract
from edgeimg.export.onnx_export import ExportOptions, export_keras, file_sha256
from edgeimg.export.parity import Tolerance, check_parity
from edgeimg.runtime.contract import Layout, ModelContract
from edgeimg.runtime.errors import EdgeimgError


def gate(frames, tolerance=None):
    """A verify step that runs the parity gate on real frames and keeps the report."""

    def verify(model, contract, path):
        report = check_parity(model, path, contract, prepare_batch(frames, contract), tolerance)
        if not report.passed:
            raise EdgeimgError(report.summary())
        return report

    return verify


@pytest.fixture(scope="module")
def detector_onnx(detector_keras, pets_frames, tmp_path_factory):
    path = tmp_path_factory.mktemp("det_onnx") / "detector.onnx"
    return export_keras(detector_keras, path, ExportOptions(layout="NCHW"), gate(pets_frames))


def test_detector_export_matches_keras_on_real_frames(detector_onnx):
    report = detector_onnx.parity
    assert report.passed, report.summary()
    assert report.images == 20
    assert [o.name for o in report.outputs] == ["heatmap", "boxes"]
    assert all(o.max_abs < 1e-4 for o in report.outputs)
    assert report.agreement.what == "boxes matched"
    assert report.agreement.items > 0, "the untrained detector still fires: boxes were compared"
    assert report.agreement.fraction >= 0.99
    assert report.agreement.score_diff is not None and report.agreement.score_diff <= 1e-3


def test_detector_graph_has_named_io_and_dynamic_batch(detector_onnx):
    session = ort.InferenceSession(str(detector_onnx.path), providers=["CPUExecutionProvider"])
    (inp,) = session.get_inputs()
    assert inp.name == "image"
    assert inp.shape[1:] == [3, 64, 96]
    assert not isinstance(inp.shape[0], int), "batch must be dynamic"
    assert [o.name for o in session.get_outputs()] == ["heatmap", "boxes"]
    heatmap, boxes = session.run(None, {"image": np.zeros((3, 3, 64, 96), np.float32)})
    assert heatmap.shape == (3, 16, 24, 1)
    assert boxes.shape == (3, 16, 24, 4)


def test_nearest_upsampling_becomes_one_resize_per_layer(detector_onnx):
    ops = dict(detector_onnx.stats.op_types)
    assert ops.get("Resize") == 3, "three top-down levels from stride 32 down to stride 4"
    assert "Tile" not in ops and "Unsqueeze" not in ops
    assert detector_onnx.stats.transposes == 1, "only the channel-last boxes output"


def test_contract_round_trips_through_onnxruntime_metadata(detector_onnx, detector_keras):
    session = ort.InferenceSession(str(detector_onnx.path), providers=["CPUExecutionProvider"])
    metadata = session.get_modelmeta().custom_metadata_map
    contract = ModelContract.from_metadata(metadata)
    assert contract == detector_onnx.contract
    assert contract.task == "detect"
    assert contract.layout is Layout.NCHW
    assert contract.edgeimg_version == __version__
    assert contract.source_sha256 == file_sha256(detector_keras)
    assert contract.decoder_params["stride"] == 4
    assert contract.class_names == read_contract(detector_keras).class_names


def test_export_passes_onnx_checker_with_inferred_shapes(detector_onnx):
    proto = onnx.load(str(detector_onnx.path))
    onnx.checker.check_model(proto, full_check=True)
    assert proto.opset_import[0].version == 17
    assert len(proto.graph.value_info) > 0, "shape inference annotates intermediate tensors"


def test_classifier_export_in_both_layouts(person_classifier, pets_frames, tmp_path):
    crops = person_classifier.calibration.images[:40]
    results = {
        layout: export_keras(
            person_classifier.keras_path,
            tmp_path / f"{layout}.onnx",
            ExportOptions(layout=layout),
            gate(crops),
        )
        for layout in ("NHWC", "NCHW")
    }
    for result in results.values():
        assert result.parity.passed
        agreement = result.parity.agreement
        assert agreement.what == "top-1 agreement" and agreement.items == 40
        assert agreement.fraction == 1.0, "top-1 agrees on every crop"
        assert agreement.score_diff is None, "classifiers are not gated on a score difference"
    # NHWC needs an input Transpose in front of the first Conv; NCHW folds it away. (Both keep
    # the one before Flatten, which flattens in Keras's channel-last order.)
    assert results["NCHW"].stats.transposes == results["NHWC"].stats.transposes - 1
    nhwc = ort.InferenceSession(str(results["NHWC"].path), providers=["CPUExecutionProvider"])
    assert nhwc.get_inputs()[0].shape[1:] == [32, 32, 3]


def test_parity_gate_catches_a_model_that_differs(detector_onnx, detector_keras, pets_frames):
    model, _ = load_keras(detector_keras)
    head = model.get_layer("heatmap")
    kernel, bias = head.get_weights()
    head.set_weights([kernel, bias + 0.05])  # Keras now scores every cell slightly higher
    contract = detector_onnx.contract
    report = check_parity(
        model, detector_onnx.path, contract, prepare_batch(pets_frames[:4], contract)
    )
    assert not report.passed
    heatmap = report.outputs[0]
    assert heatmap.name == "heatmap" and not heatmap.passed and heatmap.max_abs > 1e-3
    assert report.outputs[1].passed, "the boxes branch is unchanged"
    assert "OUT OF TOLERANCE" in report.summary()


def test_written_file_gets_the_usual_permissions(detector_onnx):
    import os
    import stat

    mask = os.umask(0o022)
    os.umask(mask)
    assert stat.S_IMODE(detector_onnx.path.stat().st_mode) == 0o666 & ~mask


def test_failed_gate_leaves_the_destination_untouched(detector_keras, pets_frames, tmp_path):
    destination = tmp_path / "model.onnx"
    destination.write_bytes(b"previous model")
    impossible = Tolerance(atol=0.0, rtol=0.0, min_agreement=1.0, max_score_diff=0.0)
    with pytest.raises(EdgeimgError):
        export_keras(
            detector_keras,
            destination,
            ExportOptions(simplify=False),
            gate([f + 1 for f in pets_frames[:2]], impossible),
        )
    assert destination.read_bytes() == b"previous model"
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"], "no temporary file left"


def test_truncated_keras_file_is_refused(detector_keras, tmp_path):
    broken = tmp_path / "broken.keras"
    broken.write_bytes(detector_keras.read_bytes()[:5000])
    with pytest.raises(EdgeimgError, match=r"not a \.keras archive"):
        export_keras(broken, tmp_path / "out.onnx")
    assert not (tmp_path / "out.onnx").exists()


def test_keras_file_without_contract_names_what_is_missing(detector_keras, tmp_path):
    plain = tmp_path / "plain.keras"
    with zipfile.ZipFile(detector_keras) as src, zipfile.ZipFile(plain, "w") as dst:
        for name in src.namelist():
            if name != "edgeimg.json":
                dst.writestr(name, src.read(name))
    with pytest.raises(EdgeimgError, match=r"not an edgeimg model.*edgeimg\.json"):
        export_keras(plain, tmp_path / "out.onnx")
    assert not (tmp_path / "out.onnx").exists()


def test_contract_that_does_not_fit_the_model_is_refused(tmp_path, save_keras):
    keras = pytest.importorskip("keras")
    inputs = keras.Input((32, 32, 3), name="image")
    outputs = keras.layers.Dense(3, activation="softmax", name="probs")(
        keras.layers.GlobalAveragePooling2D()(inputs)
    )
    wrong = ModelContract(
        task="classify",
        class_names=("a", "b"),  # the model has 3 outputs
        input_size=(32, 32),
        decoder="softmax",
        output_names=("probs",),
    )
    path = save_keras(keras.Model(inputs, outputs), tmp_path / "m.keras", wrong)
    with pytest.raises(EdgeimgError, match="'probs' has 3 channels, expected 2"):
        export_keras(path, tmp_path / "m.onnx")


def test_missing_output_folder_is_refused_before_any_work(tmp_path):
    with pytest.raises(EdgeimgError, match=r"output .*m\.onnx: folder .*missing does not exist"):
        export_keras(tmp_path / "absent.keras", tmp_path / "missing" / "m.onnx")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"opset": 12}, "opset: expected 13..18, got 12"),
        ({"opset": 19}, "opset: expected 13..18, got 19"),
        ({"layout": "NHCW"}, "layout: expected one of NHWC, NCHW, got 'NHCW'"),
        ({"opset": "17"}, "opset: expected an integer 13..18, got '17'"),
        ({"task_params": ["tracker"]}, "task_params: expected a mapping"),
    ],
)
def test_export_options_are_checked(options, message):
    with pytest.raises(EdgeimgError, match=message):
        ExportOptions(**options)


def test_layout_is_parsed_case_insensitively():
    assert ExportOptions(layout="nhwc").layout is Layout.NHWC
    assert ExportOptions(layout=Layout.NCHW).layout is Layout.NCHW


def test_tracker_settings_land_in_the_contracts_task_params(detector_keras, tmp_path):
    contract = read_contract(detector_keras)
    tuned = replace(contract, task_params={"tracker": {"track_thresh": 0.4, "match_thresh": 0.7}})
    path = tmp_path / "tuned.keras"
    shutil.copy(detector_keras, path)
    attach_contract(path, tuned)  # replaces the entry, through the atomic writer
    assert read_contract(path) == tuned
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tuned.keras"], "no temporary file"
    options = ExportOptions(simplify=False, task_params={"tracker": {"match_thresh": 0.9}})
    result = export_keras(path, tmp_path / "tuned.onnx", options)
    written = ModelContract.from_metadata(
        ort.InferenceSession(str(result.path)).get_modelmeta().custom_metadata_map
    )
    assert written.task_params == {"tracker": {"track_thresh": 0.4, "match_thresh": 0.9}}


def test_task_params_the_task_does_not_take_are_refused_before_any_work(
    person_classifier, tmp_path
):
    options = ExportOptions(task_params={"tracker": {"match_thresh": 0.9}})
    with pytest.raises(EdgeimgError, match="task classify has none, got tracker"):
        export_keras(person_classifier.keras_path, tmp_path / "c.onnx", options)
    assert not (tmp_path / "c.onnx").exists()
