"""Constant-velocity Kalman filter on boxes, batched over all tracks (pure functions).

State of one track, 8 values (ByteTrack's / DeepSORT's layout)::

    (cx, cy, a, h, vcx, vcy, va, vh)

centre x and y in pixels, aspect ratio a = width / height, height h in pixels, then their
velocities in units per *nominal frame period*, the period the noise levels were tuned for
(the tracker uses 1/30 s, ByteTrack's). A time step ``dt`` is a float number of such periods:
1.0 for the next frame of a 30 fps video, 3.0 when two of its frames were dropped, 4.3 for
the next frame of a 7 fps video.

Every function takes T tracks at once: ``mean`` (T, 8) float64 and ``cov`` (T, 8, 8) float64,
and returns new arrays (the inputs are left untouched). The noise levels follow ByteTrack
(``yolox/tracker/kalman_filter.py``): standard deviations proportional to the box height, with
the process noise variance growing linearly with ``dt`` (a random walk), so a gap of k frames
adds the same uncertainty as k single steps.
"""

from __future__ import annotations

import numpy as np

STD_WEIGHT_POSITION = 1.0 / 20
STD_WEIGHT_VELOCITY = 1.0 / 160

# Standard deviations are h * weight + constant, per state value (the aspect ratio's are fixed).
_W_POS, _W_VEL = STD_WEIGHT_POSITION, STD_WEIGHT_VELOCITY
_INIT_STD_H = np.array(
    [2 * _W_POS, 2 * _W_POS, 0, 2 * _W_POS, 10 * _W_VEL, 10 * _W_VEL, 0, 10 * _W_VEL]
)
_INIT_STD_C = np.array([0, 0, 1e-2, 0, 0, 0, 1e-5, 0])
_PROCESS_VAR_H = np.square([_W_POS, _W_POS, 0, _W_POS, _W_VEL, _W_VEL, 0, _W_VEL])
_PROCESS_VAR_C = np.square([0, 0, 1e-2, 0, 0, 0, 1e-5, 0])
_MEASURE_VAR_H = np.square([_W_POS, _W_POS, 0, _W_POS])
_MEASURE_VAR_C = np.square([0, 0, 1e-1, 0])
_DIAG8 = np.arange(8)
_DIAG4 = np.arange(4)
_EYE8 = np.eye(8)
_SHIFT = np.eye(8, k=4)  # F = I + dt * _SHIFT moves each position by dt times its velocity


def xyxy_to_xyah(xyxy: np.ndarray) -> np.ndarray:
    """(N, 4) corners -> (N, 4) float64 (cx, cy, a = w / h, h). Zero heights are kept > 0."""
    boxes = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    out = np.empty_like(boxes)
    wh = boxes[:, 2:] - boxes[:, :2]
    out[:, :2] = boxes[:, :2] + 0.5 * wh
    out[:, 3] = np.maximum(wh[:, 1], 1e-6)
    out[:, 2] = wh[:, 0] / out[:, 3]
    return out


def xyah_to_xyxy(xyah: np.ndarray) -> np.ndarray:
    """(N, >=4) (cx, cy, a, h, ...) -> (N, 4) float64 corners (only the first 4 columns are read)."""
    xyah = np.asarray(xyah, dtype=np.float64)
    half = xyah[:, 2:4] * (0.5 * xyah[:, 3:4])  # (w / 2, h^2 / 2); the second is fixed next
    half[:, 1] = 0.5 * xyah[:, 3]
    return np.concatenate([xyah[:, :2] - half, xyah[:, :2] + half], axis=1)


def initiate(measurement: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """New tracks from (T, 4) measurements (cx, cy, a, h) -> mean (T, 8), cov (T, 8, 8).

    Velocities start at 0 with a large uncertainty (10x the per-frame process noise).
    """
    z = np.asarray(measurement, dtype=np.float64).reshape(-1, 4)
    n = len(z)
    mean = np.zeros((n, 8))
    mean[:, :4] = z
    cov = np.zeros((n, 8, 8))
    cov[:, _DIAG8, _DIAG8] = np.square(z[:, 3:4] * _INIT_STD_H + _INIT_STD_C)
    return mean, cov


def predict(mean: np.ndarray, cov: np.ndarray, dt: float) -> tuple[np.ndarray, np.ndarray]:
    """Advance T tracks by ``dt`` nominal frame periods -> new (mean (T, 8), cov (T, 8, 8)).

    x' = F x with F = [[I, dt I], [0, I]];  P' = F P F^T + dt * Q(h), where Q is ByteTrack's
    per-frame process noise (std 1/20 h on positions, 1/160 h on velocities). ``dt = 0`` returns
    copies of the inputs.
    """
    if dt < 0:
        raise ValueError(f"predict: expected dt >= 0, got {dt}")
    mean = np.array(mean, dtype=np.float64)
    cov = np.asarray(cov, dtype=np.float64)
    transition = _EYE8 + dt * _SHIFT
    out = transition @ cov @ transition.T
    h2 = np.square(mean[:, 3:4])
    out[:, _DIAG8, _DIAG8] += dt * (h2 * _PROCESS_VAR_H + _PROCESS_VAR_C)
    mean[:, :4] += dt * mean[:, 4:]
    return mean, out


def update(
    mean: np.ndarray, cov: np.ndarray, measurement: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Correct T tracks with (T, 4) measurements (cx, cy, a, h) -> new (mean, cov).

    The measurement matrix H picks the first four state values; the measurement noise R has
    std 1/20 of the predicted height on cx, cy, h and 0.1 on the aspect ratio (ByteTrack).
    """
    mean = np.asarray(mean, dtype=np.float64)
    cov = np.asarray(cov, dtype=np.float64)
    z = np.asarray(measurement, dtype=np.float64).reshape(-1, 4)
    if len(z) != len(mean):
        raise ValueError(f"update: expected {len(mean)} measurements, got {len(z)}")
    hp = cov[:, :4, :]  # H P, (T, 4, 8)
    s = cov[:, :4, :4] + 0.0  # H P H^T + R, (T, 4, 4)
    s[:, _DIAG4, _DIAG4] += np.square(mean[:, 3:4]) * _MEASURE_VAR_H + _MEASURE_VAR_C
    # K^T = S^-1 H P (S and P are symmetric), (T, 4, 8). With this filter's noise the position
    # block of P, hence S, stays diagonal (each coordinate only couples with its own velocity):
    # then S^-1 is 1 / diagonal, exactly, and much cheaper than a batched inverse.
    if np.count_nonzero(s) == 4 * len(s):
        gain = hp / s[:, _DIAG4, _DIAG4][:, :, None]
    else:
        gain = np.linalg.inv(s) @ hp
    innovation = z - mean[:, :4]
    new_mean = mean + (innovation[:, None, :] @ gain)[:, 0, :]
    new_cov = cov - gain.transpose(0, 2, 1) @ hp
    return new_mean, new_cov
