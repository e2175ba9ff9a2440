"""The batched Kalman filter and the assignment solver against textbook, one-at-a-time versions."""

from __future__ import annotations

import numpy as np
import pytest

from edgeimg.runtime.tasks.detect.boxes import iou_matrix
from edgeimg.runtime.tasks.detect.tracking import assignment, kalman


def random_tracks(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    xyah = np.column_stack(
        [
            rng.uniform(0, 600, n),
            rng.uniform(0, 400, n),
            rng.uniform(0.3, 0.6, n),
            rng.uniform(40, 120, n),
        ]
    )
    mean, cov = kalman.initiate(xyah)
    mean[:, 4:] = rng.normal(0, 3, (n, 4))
    return mean, cov


def textbook_predict(mean, cov, dt):
    """One track: x' = F x, P' = F P F^T + dt Q, with ByteTrack's per-frame Q."""
    f = np.eye(8)
    f[:4, 4:] = dt * np.eye(4)
    h = mean[3]
    std = [h / 20, h / 20, 1e-2, h / 20, h / 160, h / 160, 1e-5, h / 160]
    return f @ mean, f @ cov @ f.T + dt * np.diag(np.square(std))


def textbook_update(mean, cov, z):
    """One track: K = P H^T (H P H^T + R)^-1, with ByteTrack's R."""
    hmat = np.eye(4, 8)
    h = mean[3]
    r = np.diag(np.square([h / 20, h / 20, 1e-1, h / 20]))
    s = hmat @ cov @ hmat.T + r
    k = cov @ hmat.T @ np.linalg.inv(s)
    return mean + k @ (z - hmat @ mean), (np.eye(8) - k @ hmat) @ cov


@pytest.mark.parametrize("dt", [0.0, 1.0, 2.5])
def test_batched_predict_equals_the_textbook_filter_track_by_track(dt):
    mean, cov = random_tracks(6)
    new_mean, new_cov = kalman.predict(mean, cov, dt)
    for i in range(6):
        m, p = textbook_predict(mean[i], cov[i], dt)
        np.testing.assert_allclose(new_mean[i], m, rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(new_cov[i], p, rtol=1e-12, atol=1e-9)


def test_batched_update_equals_the_textbook_filter_track_by_track():
    mean, cov = random_tracks(5, seed=1)
    mean, cov = kalman.predict(mean, cov, 1.0)
    z = mean[:, :4] + np.random.default_rng(2).normal(0, 2, (5, 4))
    new_mean, new_cov = kalman.update(mean, cov, z)
    for i in range(5):
        m, p = textbook_update(mean[i], cov[i], z[i])
        np.testing.assert_allclose(new_mean[i], m, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(new_cov[i], p, rtol=1e-9, atol=1e-9)


def test_update_with_a_full_covariance_equals_the_textbook_filter():
    # Not one this filter produces (its position block stays diagonal): the general path.
    rng = np.random.default_rng(4)
    mean, _ = random_tracks(3, seed=4)
    root = rng.normal(0, 3, (3, 8, 8))
    cov = root @ root.transpose(0, 2, 1) + 0.5 * np.eye(8)
    z = mean[:, :4] + rng.normal(0, 2, (3, 4))
    new_mean, new_cov = kalman.update(mean, cov, z)
    for i in range(3):
        m, p = textbook_update(mean[i], cov[i], z[i])
        np.testing.assert_allclose(new_mean[i], m, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(new_cov[i], p, rtol=1e-9, atol=1e-9)


def test_filter_functions_leave_their_inputs_untouched():
    mean, cov = random_tracks(3)
    saved = mean.copy(), cov.copy()
    kalman.predict(mean, cov, 2.0)
    kalman.update(mean, cov, mean[:, :4] + 1)
    np.testing.assert_array_equal(mean, saved[0])
    np.testing.assert_array_equal(cov, saved[1])


def test_a_long_step_moves_as_far_as_several_short_ones_and_is_less_certain():
    mean, cov = random_tracks(4)
    one_mean, one_cov = kalman.predict(mean, cov, 3.0)
    step_mean, step_cov = mean, cov
    for _ in range(3):
        step_mean, step_cov = kalman.predict(step_mean, step_cov, 1.0)
    np.testing.assert_allclose(one_mean, step_mean)
    assert (np.diagonal(one_cov, axis1=1, axis2=2) > np.diagonal(cov, axis1=1, axis2=2)).all()


def test_box_conversions_round_trip():
    xyxy = np.array([[10.0, 20.0, 50.0, 100.0], [0.0, 0.0, 8.0, 4.0]])
    xyah = kalman.xyxy_to_xyah(xyxy)
    np.testing.assert_allclose(xyah, [[30, 60, 0.5, 80], [4, 2, 2.0, 4]])
    np.testing.assert_allclose(kalman.xyah_to_xyxy(xyah), xyxy)


def test_empty_batches_pass_through():
    mean, cov = kalman.initiate(np.zeros((0, 4)))
    assert mean.shape == (0, 8) and cov.shape == (0, 8, 8)
    assert kalman.predict(mean, cov, 1.0)[0].shape == (0, 8)
    assert kalman.update(mean, cov, np.zeros((0, 4)))[1].shape == (0, 8, 8)


def test_assignment_keeps_only_pairs_within_the_threshold():
    cost = np.array([[0.1, 0.9, 0.95], [0.85, 0.2, 0.9]])
    matches, rows, cols = assignment.linear_assignment(cost, 0.5)
    assert matches.tolist() == [[0, 0], [1, 1]]
    assert rows.tolist() == [] and cols.tolist() == [2]
    matches, rows, cols = assignment.linear_assignment(cost, 0.15)
    assert matches.tolist() == [[0, 0]] and rows.tolist() == [1] and cols.tolist() == [1, 2]


def test_assignment_prefers_two_matches_to_one_cheaper_one():
    # Greedy would take (0, 0) at 0.1 and leave row 1 unmatched; the optimum pairs both.
    cost = np.array([[0.1, 0.3], [0.2, 0.9]])
    matches, _, _ = assignment.linear_assignment(cost, 0.5)
    assert matches.tolist() == [[0, 1], [1, 0]]


def brute_force_weight(cost: np.ndarray, threshold: float) -> float:
    """The best sum of (threshold - cost) over every partial matching (small matrices only)."""
    rows, cols = cost.shape

    def best(row: int, used: frozenset) -> float:
        if row == rows:
            return 0.0
        options = [best(row + 1, used)]
        for col in range(cols):
            if col not in used and cost[row, col] <= threshold:
                options.append(threshold - cost[row, col] + best(row + 1, used | {col}))
        return max(options)

    return best(0, frozenset())


@pytest.mark.parametrize("solver", ["lap", "scipy"])
@pytest.mark.parametrize("seed", range(12))
def test_assignment_is_optimal_with_either_solver(monkeypatch, solver, seed):
    if solver == "scipy":
        pytest.importorskip("scipy")  # not in the runtime-only install
        monkeypatch.setattr(assignment, "lap", None)
    rng = np.random.default_rng(seed)
    cost = rng.uniform(0, 1, (rng.integers(1, 6), rng.integers(1, 6)))
    if seed % 2:
        cost[:, 0] *= 0.2  # every row prefers column 0: the solver, not the shortcut, decides
    matches, free_rows, free_cols = assignment.linear_assignment(cost, 0.6)
    weight = sum(0.6 - cost[r, c] for r, c in matches)
    assert weight == pytest.approx(brute_force_weight(cost, 0.6))
    assert (cost[matches[:, 0], matches[:, 1]] <= 0.6).all()
    assert sorted([*matches[:, 0], *free_rows]) == list(range(cost.shape[0]))
    assert sorted([*matches[:, 1], *free_cols]) == list(range(cost.shape[1]))


def test_pairwise_iou_matches_the_shared_box_geometry():
    rng = np.random.default_rng(3)
    a = rng.uniform(0, 50, (5, 4))
    b = rng.uniform(0, 50, (7, 4))
    a[:, 2:] += a[:, :2]
    b[:, 2:] += b[:, :2]
    np.testing.assert_allclose(assignment.pairwise_iou(a, b), iou_matrix(a, b), rtol=1e-5)
    touching = np.array([[0.0, 0, 10, 10]]), np.array([[10.0, 0, 20, 10], [5, 0, 15, 10]])
    np.testing.assert_allclose(assignment.pairwise_iou(*touching), [[0.0, 1 / 3]])
