"""Tracking metrics: py-motmetrics' own TUD-Campus case, and HOTA on hand-computed cases."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgeimg.bench.tracking_metrics import box_iou_xywh, evaluate
from edgeimg.cli.main import main
from edgeimg.runtime.errors import EdgeimgError
from edgeimg.runtime.tasks.detect.mot import MotRecords, read_mot

motmetrics = pytest.importorskip("motmetrics")
pytest.importorskip("trackeval")

TUD_CAMPUS = Path(motmetrics.__file__).parent / "data" / "TUD-Campus"


def records(rows: list[tuple[int, int, float, float, float, float]]) -> MotRecords:
    table = np.array(rows, dtype=np.float64).reshape(-1, 6)
    return MotRecords(table[:, 0], table[:, 1], table[:, 2:], np.ones(len(table)))


def test_tud_campus_gives_motmetrics_documented_scores():
    # py-motmetrics' test_motchallenge_files: IDF1 0.557659, MOTA 0.526462, MOTP 0.277201
    # (a distance: mean IoU 0.722799), FP 13, misses 150, switches 7, fragmentations 7.
    s = evaluate(read_mot(TUD_CAMPUS / "gt.txt"), read_mot(TUD_CAMPUS / "test.txt"))
    assert s.idf1 == pytest.approx(0.557659, abs=1e-6)
    assert s.mota == pytest.approx(0.526462, abs=1e-6)
    assert s.motp == pytest.approx(1 - 0.277201, abs=1e-6)
    assert (s.idp, s.idr) == (pytest.approx(0.729730, abs=1e-6), pytest.approx(0.451253, abs=1e-6))
    assert (s.false_positives, s.misses, s.id_switches, s.fragmentations) == (13, 150, 7, 7)
    assert (s.mostly_tracked, s.partially_tracked, s.mostly_lost) == (1, 6, 1)
    assert (s.gt_ids, s.frames) == (8, 71)
    assert 0 < s.assa < 1 and 0 < s.deta < 1
    assert s.hota == pytest.approx(np.sqrt(s.deta * s.assa), abs=0.02)


def test_hota_of_a_perfect_tracker_is_1():
    gt = records([(1, 1, 0, 0, 10, 20), (2, 1, 1, 0, 10, 20), (2, 2, 50, 50, 10, 10)])
    pred = records([(1, 7, 0, 0, 10, 20), (2, 7, 1, 0, 10, 20), (2, 9, 50, 50, 10, 10)])
    s = evaluate(gt, pred)
    assert (s.hota, s.deta, s.assa, s.loca, s.mota, s.idf1) == (1.0, 1.0, 1.0, 1.0, 1.0, 1.0)


def test_hota_of_an_identity_switch_by_hand():
    # One object, two frames, perfect boxes, but the tracker changes ID on frame 2.
    # Every alpha: TP = 2, DetA = 1. Each TP's ID pair agrees on 1 frame of the GT's 2:
    # A = 1 / (1 + 1 + 0) = 0.5, so AssA = 0.5 and HOTA = sqrt(1 * 0.5).
    gt = records([(1, 1, 0, 0, 10, 10), (2, 1, 0, 0, 10, 10)])
    pred = records([(1, 5, 0, 0, 10, 10), (2, 6, 0, 0, 10, 10)])
    s = evaluate(gt, pred)
    assert s.deta == pytest.approx(1.0)
    assert s.assa == pytest.approx(0.5)
    assert s.hota == pytest.approx(np.sqrt(0.5))
    assert s.id_switches == 1


def test_hota_with_imperfect_boxes_by_hand():
    # IoU 0.62 on every frame: a match for the 12 alphas 0.05..0.60 of TrackEval's 19,
    # none for 0.65..0.95. HOTA_alpha is 1 or 0, so HOTA = DetA = 12/19. LocA is 0.62 where
    # there are matches and, by TrackEval's convention, 1 where there are none.
    w = 10 * 0.62  # same top-left and height, width 6.2 of 10: IoU 0.62
    gt = records([(f, 1, 0, 0, 10, 10) for f in (1, 2, 3)])
    pred = records([(f, 3, 0, 0, w, 10) for f in (1, 2, 3)])
    s = evaluate(gt, pred)
    assert s.hota == pytest.approx(12 / 19)
    assert s.deta == pytest.approx(12 / 19)
    assert s.loca == pytest.approx((12 * 0.62 + 7) / 19)
    assert s.mota == pytest.approx(1.0)  # IoU 0.62 >= 0.5: a CLEAR MOT match


def test_misses_and_false_positives_by_hand():
    # Frame 1 matched; frame 2 the GT box is missed and a far-away box is a false positive.
    # MOTA = 1 - (1 FN + 1 FP + 0 IDSW) / 2 GT = 0.
    gt = records([(1, 1, 0, 0, 10, 10), (2, 1, 0, 0, 10, 10)])
    pred = records([(1, 4, 0, 0, 10, 10), (2, 4, 90, 90, 10, 10)])
    s = evaluate(gt, pred)
    assert (s.misses, s.false_positives, s.mota) == (1, 1, 0.0)
    # HOTA: TP 1, FN 1, FP 1 -> DetA 1/3; the one TP's IDs agree on 1 of 2 and 2 -> AssA 1/3.
    assert s.deta == pytest.approx(1 / 3)
    assert s.hota == pytest.approx(1 / 3)


def test_frame_range_and_ignored_ground_truth():
    gt = MotRecords(
        frame=[1, 2, 3, 3],
        track_id=[1, 1, 1, 2],
        xywh=[[0, 0, 10, 10]] * 3 + [[50, 50, 10, 10]],
        confidence=[1, 1, 1, 0],  # the second object on frame 3 is not counted
    )
    pred = records([(2, 8, 0, 0, 10, 10), (3, 8, 0, 0, 10, 10)])
    s = evaluate(gt, pred, frames=(2, 3))
    assert (s.frames, s.gt_boxes, s.mota) == (2, 2, 1.0)
    with pytest.raises(EdgeimgError, match="no ground-truth boxes in frames 10-20"):
        evaluate(gt, pred, frames=(10, 20))


def test_iou_is_motchallenges_without_plus_one():
    iou = box_iou_xywh(np.array([[0, 0, 10, 10]]), np.array([[5, 0, 10, 10], [10, 0, 5, 5]]))
    np.testing.assert_allclose(iou, [[1 / 3, 0.0]])


def test_evaluate_command_prints_and_writes_json(tmp_path, capsys):
    out = tmp_path / "scores.json"
    code = main(
        [
            "evaluate",
            "--gt",
            str(TUD_CAMPUS / "gt.txt"),
            "--pred",
            str(TUD_CAMPUS / "test.txt"),
            "--frames",
            "1-71",
            "--json",
            str(out),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "MOTA                   0.5265" in printed
    assert "IDF1                   0.5577" in printed
    assert "HOTA" in printed
    record = json.loads(out.read_text())
    assert record["frame_range"] == [1, 71]
    assert record["mota"] == pytest.approx(0.526462, abs=1e-6)
    assert set(record) >= {"hota", "deta", "assa", "idf1", "id_switches"}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--pred", "absent.txt"], "MOTChallenge file not found"),
        (["--frames", "300-400"], "no ground-truth boxes in frames 300-400"),
        (["--json", "no/such/folder/s.json"], "folder no/such/folder does not exist"),
    ],
)
def test_evaluate_command_errors_are_one_line(tmp_path, capsys, monkeypatch, extra, message):
    monkeypatch.chdir(tmp_path)
    args = ["evaluate", "--gt", str(TUD_CAMPUS / "gt.txt"), "--pred", str(TUD_CAMPUS / "test.txt")]
    assert main([*args, *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("edgeimg evaluate: error:") and message in err
    assert "\n" not in err
