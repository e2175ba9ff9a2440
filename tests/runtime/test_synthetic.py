"""The built-in synthetic scene: deterministic frames whose ground truth matches what is drawn."""

from __future__ import annotations

import numpy as np
import pytest

from edgeimg.runtime.synthetic import SceneConfig, SyntheticScene, write_mot_sequence


def test_frames_are_deterministic_and_independent_of_order():
    a, b = SyntheticScene(SceneConfig(seed=3)), SyntheticScene(SceneConfig(seed=3))
    late_first = b.render(40)
    for i in range(0, 41, 20):
        a.render(i)
    image, boxes, ids = a.render(40)
    np.testing.assert_array_equal(image, late_first[0])
    np.testing.assert_array_equal(boxes, late_first[1])
    np.testing.assert_array_equal(ids, late_first[2])
    other = SyntheticScene(SceneConfig(seed=4)).render(40)[0]
    assert np.abs(other.astype(int) - image.astype(int)).mean() > 1.0


def test_ground_truth_boxes_cover_drawn_people():
    scene = SyntheticScene(SceneConfig(people=6, seed=1))
    image, boxes, ids = scene.render(100)
    assert image.shape == (480, 640, 3) and image.dtype == np.uint8
    assert len(boxes) == len(ids) >= 3
    assert len(set(ids.tolist())) == len(ids)
    assert (boxes[:, 0] >= 0).all() and (boxes[:, 2] <= 640).all()
    assert (boxes[:, 1] >= 0).all() and (boxes[:, 3] <= 480).all()
    diff = np.abs(image.astype(int) - scene.background.astype(int)).sum(axis=2) > 40
    inside = np.zeros_like(diff)
    for x1, y1, x2, y2 in boxes.astype(int):
        inside[y1:y2, x1:x2] = True
        assert diff[y1:y2, x1:x2].mean() > 0.15, "a ground-truth box holds no drawn person"
    # Nearly everything that differs from the background is inside some box (shadows are wider).
    assert diff[~inside].mean() < 0.01


def test_people_move_between_frames_with_stable_ids():
    scene = SyntheticScene(SceneConfig(seed=2))
    b0, id0 = scene.ground_truth(50)
    b1, id1 = scene.ground_truth(51)
    common = np.intersect1d(id0, id1)
    assert len(common) >= 3
    for pid in common:
        c0, c1 = b0[id0 == pid][0], b1[id1 == pid][0]
        step = np.abs((c1[:2] + c1[2:]) / 2 - (c0[:2] + c0[2:]) / 2).max()
        assert 0.5 < step < 20, f"person {pid} moved {step:.1f} px in one frame"


def test_write_mot_sequence(tmp_path):
    seq = write_mot_sequence(tmp_path / "demo", SceneConfig(frames=5, seed=0))
    assert sorted(p.name for p in (seq / "img1").iterdir()) == [f"{i:06d}.jpg" for i in range(1, 6)]
    rows = np.loadtxt(seq / "gt" / "gt.txt", delimiter=",", ndmin=2)
    assert set(rows[:, 0].astype(int)) == {1, 2, 3, 4, 5}
    boxes, ids = SyntheticScene(SceneConfig(frames=5, seed=0)).ground_truth(2)
    frame3 = rows[rows[:, 0] == 3]
    np.testing.assert_allclose(frame3[:, 2:4], boxes[:, :2], atol=0.06)
    np.testing.assert_array_equal(frame3[:, 1].astype(int), ids)
    assert "seqLength=5" in (seq / "seqinfo.ini").read_text()


def test_bad_config_is_refused():
    with pytest.raises(ValueError, match="at least 64x64"):
        SceneConfig(width=10)
    with pytest.raises(IndexError, match=r"expected 0\.\.9"):
        SyntheticScene(SceneConfig(frames=10)).render(10)


def test_scene_length_does_not_change_its_frames():
    short, long = SyntheticScene(SceneConfig(frames=50)), SyntheticScene(SceneConfig(frames=400))
    for i in (0, 25, 49):
        np.testing.assert_array_equal(short.render(i)[0], long.render(i)[0])
        np.testing.assert_array_equal(short.ground_truth(i)[1], long.ground_truth(i)[1])
