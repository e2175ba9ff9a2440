"""A generated street scene of walking people, with exact ground truth.

It is edgeimg's built-in demo source (``edgeimg track`` with no source, or ``--source synthetic:``)
and a data generator for tests and training: every frame comes with the box and identity of
every person in it, so detection and tracking can be scored without downloaded data.

The scene is deterministic for a seed: ``SyntheticScene(config).render(i)`` always returns the
same frame, in any order. People walk on straight lines at constant speed across a static
background, enter and leave at the borders, overlap (drawn far to near, so nearer people occlude
farther ones) and are smaller farther up the image, as seen from an elevated camera.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

# Clothing palettes in BGR: muted colours typical of street footage.
_SHIRTS = np.array(
    [[40, 40, 40], [200, 200, 200], [60, 60, 160], [150, 90, 40], [50, 120, 60], [30, 30, 110],
     [120, 120, 120], [170, 150, 120], [20, 60, 90], [90, 50, 120]],
    dtype=np.uint8,
)  # fmt: skip
_TROUSERS = np.array(
    [[30, 30, 30], [70, 50, 40], [110, 100, 90], [60, 60, 60], [40, 40, 80], [140, 130, 110]],
    dtype=np.uint8,
)  # fmt: skip
_SKIN = np.array([[140, 170, 210], [110, 140, 190], [70, 100, 140], [160, 190, 225]], np.uint8)


@dataclass(frozen=True)
class SceneConfig:
    """Size, length and crowd of a synthetic scene.

    width, height: frame size in pixels. frames: number of frames. fps: frame rate, so
    timestamps are ``index / fps``. people: how many people are in view on average.
    min_height, max_height: a person's height in pixels at the top and at the bottom of the
    image (perspective). seed: everything random derives from it.
    """

    width: int = 640
    height: int = 480
    frames: int = 300
    fps: float = 10.0
    people: int = 8
    min_height: int = 48
    max_height: int = 96
    seed: int = 0

    def __post_init__(self) -> None:
        if self.width < 64 or self.height < 64:
            raise ValueError(f"scene size: expected at least 64x64, got {self.width}x{self.height}")
        if self.frames < 1 or self.fps <= 0 or self.people < 0:
            raise ValueError(
                f"scene: expected frames >= 1, fps > 0, people >= 0, "
                f"got {self.frames}, {self.fps}, {self.people}"
            )
        if not 8 <= self.min_height <= self.max_height < self.height:
            raise ValueError(
                f"person height: expected 8 <= min <= max < {self.height}, "
                f"got {self.min_height}..{self.max_height}"
            )


@dataclass(frozen=True)
class Walkers:
    """Every person of a scene as parallel arrays (P = number of people).

    start: (P,) float64 time of entry in seconds. origin: (P, 2) float64 feet position (x, y)
    at entry. velocity: (P, 2) float64 pixels per second. duration: (P,) seconds in view.
    shirt, trousers, skin: (P, 3) uint8 BGR colours. stride_hz: (P,) leg-swing frequency.
    """

    start: np.ndarray
    origin: np.ndarray
    velocity: np.ndarray
    duration: np.ndarray
    shirt: np.ndarray
    trousers: np.ndarray
    skin: np.ndarray
    stride_hz: np.ndarray


class SyntheticScene:
    """Renders frame ``i`` of the scene and its ground truth, deterministically."""

    def __init__(self, config: SceneConfig | None = None) -> None:
        self.config = config or SceneConfig()
        rng = np.random.default_rng(self.config.seed)
        self.background = _background(self.config, rng)
        self.walkers = _walkers(self.config)
        shape = (4, 2, self.config.height, self.config.width, 1)
        self._noise = np.abs(rng.normal(0.0, 2.5, shape)).astype(np.uint8).repeat(3, axis=-1)

    def __len__(self) -> int:
        return self.config.frames

    def person_height(self, feet_y: np.ndarray) -> np.ndarray:
        """Height in pixels of a person whose feet are at ``feet_y`` (perspective)."""
        c = self.config
        t = np.clip(feet_y / c.height, 0.0, 1.0)
        return c.min_height + (c.max_height - c.min_height) * t

    def ground_truth(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Boxes and identities of the people visible in frame ``index``.

        Returns (xyxy (K, 4) float32 pixel corners clipped to the image, ids (K,) int64 starting
        at 1). A person counts when at least 60% of its box is inside the image.
        """
        feet, height, ids = self._people_at(index)
        boxes = _boxes(feet, height)
        c = self.config
        clipped = boxes.copy()
        clipped[:, [0, 2]] = clipped[:, [0, 2]].clip(0, c.width)
        clipped[:, [1, 3]] = clipped[:, [1, 3]].clip(0, c.height)
        area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        inside = (clipped[:, 2] - clipped[:, 0]) * (clipped[:, 3] - clipped[:, 1])
        keep = inside >= 0.6 * area
        return clipped[keep].astype(np.float32), ids[keep]

    def render(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Frame ``index`` as (image (H, W, 3) uint8 BGR, xyxy (K, 4) float32, ids (K,) int64)."""
        if not 0 <= index < self.config.frames:
            raise IndexError(f"frame index: expected 0..{self.config.frames - 1}, got {index}")
        image = self.background.copy()
        feet, height, ids = self._people_at(index)
        t = index / self.config.fps
        order = np.argsort(feet[:, 1])  # far (small y) first, so near people occlude them
        for k in order:
            p = ids[k] - 1
            phase = 2 * np.pi * self.walkers.stride_hz[p] * (t - self.walkers.start[p])
            _draw_person(image, feet[k], height[k], phase, self.walkers, p)
        # Sensor noise: one of a few fixed patterns, cheap to add and still deterministic.
        noise = self._noise[index % len(self._noise)]
        image = cv2.add(image, noise[0])
        image = cv2.subtract(image, noise[1])
        boxes, gt_ids = self.ground_truth(index)
        return image, boxes, gt_ids

    def _people_at(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(feet (K, 2), height (K,), ids (K,)) of the people in view at frame ``index``."""
        t = index / self.config.fps
        w = self.walkers
        elapsed = t - w.start
        visible = (elapsed >= 0) & (elapsed <= w.duration)
        feet = w.origin[visible] + w.velocity[visible] * elapsed[visible, None]
        return feet, self.person_height(feet[:, 1]), np.flatnonzero(visible) + 1


def write_mot_sequence(folder: str | Path, config: SceneConfig | None = None) -> Path:
    """Write a scene as a MOTChallenge sequence: ``img1/000001.jpg``…, ``gt/gt.txt``, ``seqinfo.ini``.

    Frame N of the files (1-based) is ``render(N - 1)``. Returns the sequence folder.
    """
    scene = SyntheticScene(config)
    c = scene.config
    folder = Path(folder)
    (folder / "img1").mkdir(parents=True, exist_ok=True)
    (folder / "gt").mkdir(exist_ok=True)
    rows = []
    for i in range(c.frames):
        image, boxes, ids = scene.render(i)
        cv2.imwrite(
            str(folder / "img1" / f"{i + 1:06d}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 92]
        )
        for (x1, y1, x2, y2), pid in zip(boxes, ids, strict=True):
            rows.append(f"{i + 1},{pid},{x1:.1f},{y1:.1f},{x2 - x1:.1f},{y2 - y1:.1f},1,1,1.0\n")
    tmp = folder / "gt" / "gt.txt.tmp"
    tmp.write_text("".join(rows))
    os.replace(tmp, folder / "gt" / "gt.txt")
    (folder / "seqinfo.ini").write_text(
        f"[Sequence]\nname={folder.name}\nimDir=img1\nframeRate={c.fps:g}\nseqLength={c.frames}\nimWidth={c.width}\nimHeight={c.height}\n"
        "imExt=.jpg\n"
    )
    return folder


def _walkers(c: SceneConfig) -> Walkers:
    """People entering at the left/right borders, walking through the scene.

    Arrivals are a Poisson process sized so that about ``people`` are in view at once. Person k
    draws everything from its own generator seeded with (seed, k), so a longer scene only adds
    people at its end: frame i is the same whatever ``frames`` is.
    """
    duration_s = c.frames / c.fps
    speed_range = (0.06 * c.width, 0.14 * c.width)  # pixels per second
    crossing = c.width / np.mean(speed_range)  # mean seconds to cross the frame
    people = []
    t = -crossing
    k = 0
    while c.people > 0:
        rng = np.random.default_rng([c.seed, k])
        t += rng.exponential(crossing / c.people)
        if t > duration_s:
            break
        people.append((t, rng.uniform(*speed_range), rng.random(), rng.random(), rng.random(),
                       rng.integers(0, 1 << 16, 3), rng.uniform(0.8, 1.3)))  # fmt: skip
        k += 1
    count = len(people)
    start = np.array([p[0] for p in people], np.float64)
    speed = np.array([p[1] for p in people], np.float64)
    from_left = np.array([p[2] < 0.5 for p in people], bool)
    top = 0.25 * c.height + c.max_height * 0.2
    feet_y0 = top + np.array([p[3] for p in people]) * (c.height * 0.98 - top)
    slope = -0.25 + 0.5 * np.array([p[4] for p in people])
    colours = np.array([p[5] for p in people], np.int64).reshape(count, 3)
    direction = np.where(from_left, 1.0, -1.0)
    velocity = np.stack([direction * speed, slope * speed], axis=1).reshape(count, 2)
    margin = c.max_height * 0.3
    x0 = np.where(from_left, -margin, c.width + margin)
    origin = np.stack([x0, feet_y0], axis=1).reshape(count, 2)
    # Time until the feet leave the image horizontally or vertically.
    t_x = (c.width + 2 * margin) / speed
    vy = velocity[:, 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        t_y = np.where(
            vy > 0, (c.height * 1.05 - feet_y0) / vy, np.where(vy < 0, (top - feet_y0) / vy, np.inf)
        )
    duration = np.minimum(t_x, t_y)
    return Walkers(
        start=start,
        origin=origin,
        velocity=velocity,
        duration=duration,
        shirt=_SHIRTS[colours[:, 0] % len(_SHIRTS)],
        trousers=_TROUSERS[colours[:, 1] % len(_TROUSERS)],
        skin=_SKIN[colours[:, 2] % len(_SKIN)],
        stride_hz=np.array([p[6] for p in people], np.float64),
    )


def _boxes(feet: np.ndarray, height: np.ndarray) -> np.ndarray:
    """(K, 4) float64 xyxy boxes of people standing at ``feet`` (K, 2) with ``height`` (K,)."""
    half_w = 0.19 * height
    return np.stack([feet[:, 0] - half_w, feet[:, 1] - height, feet[:, 0] + half_w, feet[:, 1]], 1)


def _background(c: SceneConfig, rng: np.random.Generator) -> np.ndarray:
    """A static paved square: grey gradient, paving lines, a lawn strip, some street furniture."""
    h, w = c.height, c.width
    y = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    base = np.array([118, 124, 128], np.float32) * (0.8 + 0.35 * y)
    image: np.ndarray = np.broadcast_to(base, (h, w, 3)).copy()
    texture = cv2.resize(rng.normal(0, 9, (h // 8 + 1, w // 8 + 1)).astype(np.float32), (w, h))
    image += texture[..., None]
    horizon = int(0.22 * h)
    image[:horizon] = np.array([70, 110, 80], np.float32) + texture[:horizon, :, None]  # lawn/trees
    image = image.clip(0, 255).astype(np.uint8)
    for k in range(1, 12):  # paving lines converging with perspective
        yk = int(horizon + (h - horizon) * (k / 12) ** 1.6)
        cv2.line(image, (0, yk), (w, yk), (100, 104, 108), 1, cv2.LINE_AA)
    for k in range(-6, 7):
        cv2.line(
            image,
            (w // 2 + k * w // 14, horizon),
            (w // 2 + k * w // 4, h),
            (100, 104, 108),
            1,
            cv2.LINE_AA,
        )
    for _ in range(4):  # posts and bins
        x = int(rng.uniform(0.05, 0.95) * w)
        yb = int(rng.uniform(0.3, 0.95) * h)
        size = int(0.25 * c.min_height + 0.5 * (c.max_height - c.min_height) * yb / h)
        cv2.rectangle(image, (x, yb - size), (x + max(3, size // 6), yb), (55, 60, 65), -1)
    return image


def _draw_person(
    image: np.ndarray, feet: np.ndarray, height: float, phase: float, w: Walkers, p: int
) -> None:
    """Draw one walking person (legs, torso, arms, head, shadow) with its feet at ``feet``."""
    x, y = float(feet[0]), float(feet[1])
    s = height
    shirt = tuple(int(v) for v in w.shirt[p])
    trousers = tuple(int(v) for v in w.trousers[p])
    skin = tuple(int(v) for v in w.skin[p])
    swing = np.sin(phase) * 0.09 * s
    lw = max(2, int(0.07 * s))

    def pt(dx: float, dy: float) -> tuple[int, int]:
        return round(x + dx), round(y - dy)

    cv2.ellipse(
        image,
        pt(0.04 * s, 0),
        (int(0.2 * s), max(1, int(0.035 * s))),
        0,
        0,
        360,
        (80, 84, 88),
        -1,
        cv2.LINE_AA,
    )
    hip = pt(0, 0.5 * s)
    cv2.line(image, hip, pt(swing, 0.02 * s), trousers, lw, cv2.LINE_AA)
    cv2.line(image, hip, pt(-swing, 0.02 * s), trousers, lw, cv2.LINE_AA)
    torso = np.array(
        [
            pt(-0.12 * s, 0.48 * s),
            pt(0.12 * s, 0.48 * s),
            pt(0.13 * s, 0.82 * s),
            pt(-0.13 * s, 0.82 * s),
        ]
    )
    cv2.fillConvexPoly(image, torso, shirt, cv2.LINE_AA)
    shoulder_l, shoulder_r = pt(-0.13 * s, 0.8 * s), pt(0.13 * s, 0.8 * s)
    aw = max(1, int(0.05 * s))
    cv2.line(image, shoulder_l, pt(-0.16 * s - 0.6 * swing, 0.5 * s), shirt, aw, cv2.LINE_AA)
    cv2.line(image, shoulder_r, pt(0.16 * s + 0.6 * swing, 0.5 * s), shirt, aw, cv2.LINE_AA)
    cv2.circle(image, pt(0, 0.9 * s), max(2, int(0.085 * s)), skin, -1, cv2.LINE_AA)
    cv2.ellipse(
        image,
        pt(0, 0.93 * s),
        (max(2, int(0.085 * s)), max(1, int(0.05 * s))),
        0,
        180,
        360,
        (30, 35, 45),
        -1,
        cv2.LINE_AA,
    )
