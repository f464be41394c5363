"""Rock, paper, scissors: a procedural generator of hand images (no download).

Each image is one hand drawn with NumPy from a few simple shapes, in a hand-local frame where the
palm is about one unit tall and the fingers point up (+y):

* **rock** (label 0): a fist, the palm ellipse with four fingers curled into knuckle bumps and the
  thumb folded across;
* **paper** (label 1): an open palm with five long fingers spread out;
* **scissors** (label 2): a fist with the index and middle fingers extended in a V.

Every part is a *capsule* (a segment with a radius) or an ellipse, so the whole hand is a few
distance computations on a pixel grid, rendered directly at the requested size with soft
(anti-aliased) edges. Each sample draws its own pose: rotation (up to 30 degrees either way),
left or right hand, scale, position, finger lengths and spread, skin tone, a cluttered
background (gradient and blobs), lighting (brightness, a directional gradient, a colour cast)
and pixel noise. Because the hand may be anywhere, at any size and tilt, a dense network that
sees pixels at fixed positions does clearly worse than a small convnet, which looks for the
same local patterns (finger edges, knuckles) everywhere.

Determinism: sample ``i`` of a split comes from its own random stream
``SeedSequence(seed, spawn_key=(split, i))``; the train and test streams never meet, so the same
seed gives the same images and the two splits share none. Labels cycle 0, 1, 2, 0, ... so any
prefix of a split is balanced; ``fit(shuffle=True)`` mixes them.

Generated arrays are cached as ``.npz`` files (see :func:`cache_dir`), keyed by the arguments and
:data:`GENERATOR_VERSION`; bump the version whenever the drawing changes.
"""

from __future__ import annotations

import hashlib
import numbers
import os
from pathlib import Path

import numpy as np

from scratchnet import config

GENERATOR_VERSION = 1
CLASS_NAMES = ("rock", "paper", "scissors")
SPLIT_SIZES = {"train": 2520, "test": 372}  # as in the public rock-paper-scissors set
MAX_IMAGE_SIZE = 150
MIN_IMAGE_SIZE = 16
_SPLIT_KEYS = {"train": 0, "test": 1}


def load_rps(split: str = "train", image_size: int = 64, seed: int = 0,
             num_samples: int | None = None, cache: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Procedural rock-paper-scissors images.

    Args:
        split: ``"train"`` (2,520 images by default) or ``"test"`` (372).
        image_size: height and width in pixels, from 16 to 150.
        seed: the same seed gives the same images; train and test never share one.
        num_samples: how many images (default: the split's size). Sample ``i`` does not depend
            on ``num_samples``, so a smaller set is a prefix of the larger one.
        cache: read and write the generated arrays under :func:`cache_dir`.

    Returns:
        ``x (N, image_size, image_size, 3)`` float in [0, 1] (``config.floatx()``) and
        ``y (N,)`` int64 labels: 0 rock, 1 paper, 2 scissors.
    """
    if split not in SPLIT_SIZES:
        raise ValueError(f"load_rps: expected split 'train' or 'test', received {split!r}")
    if isinstance(image_size, bool) or not isinstance(image_size, numbers.Integral) \
            or not MIN_IMAGE_SIZE <= image_size <= MAX_IMAGE_SIZE:
        raise ValueError(f"load_rps: expected image_size to be an integer from {MIN_IMAGE_SIZE} to "
                         f"{MAX_IMAGE_SIZE}, received {image_size!r}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"load_rps: expected seed to be an integer >= 0, received {seed!r}")
    if num_samples is None:
        num_samples = SPLIT_SIZES[split]
    if isinstance(num_samples, bool) or not isinstance(num_samples, numbers.Integral) \
            or num_samples <= 0:
        raise ValueError(f"load_rps: expected num_samples to be a positive integer, "
                         f"received {num_samples!r}")
    image_size, seed, num_samples = int(image_size), int(seed), int(num_samples)

    path = _cache_path(split, image_size, seed, num_samples) if cache else None
    if path is not None and path.exists():
        try:
            with np.load(path) as data:
                return data["x"].astype(config.floatx()), data["y"].astype(np.int64)
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache file: draw again and overwrite it
    x, y = generate(split, image_size, seed, num_samples)
    if path is not None:
        _write_cache(path, x, y)
    return x.astype(config.floatx()), y


def cache_dir() -> Path:
    """Where generated arrays are kept: ``$SCRATCHNET_CACHE_DIR``, else ``~/.cache/scratchnet``."""
    override = os.environ.get("SCRATCHNET_CACHE_DIR")
    if override:
        return Path(override)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "scratchnet"


def _cache_path(split: str, image_size: int, seed: int, num_samples: int) -> Path:
    key = f"rps-v{GENERATOR_VERSION}-{split}-{image_size}px-seed{seed}-n{num_samples}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:8]
    return cache_dir() / f"{key}-{digest}.npz"


def _write_cache(path: Path, x: np.ndarray, y: np.ndarray) -> None:
    """Best effort: a read-only or full disk only costs the next call a fresh generation."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
        np.savez(tmp, x=x, y=y)
        os.replace(tmp, path)
    except OSError:
        pass


# ---------------------------------------------------------------------------------------- drawing
def generate(split: str, image_size: int, seed: int, num_samples: int,
             first: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Draw samples ``first .. first + num_samples - 1`` of a split: images (float32) and labels,
    no caching (sample ``i`` is the same whatever the range it is drawn in)."""
    labels = np.arange(first, first + num_samples, dtype=np.int64) % 3
    poses = [_draw_pose(np.random.default_rng(np.random.SeedSequence(
        seed, spawn_key=(_SPLIT_KEYS[split], first + i))), int(labels[i])) for i in range(num_samples)]
    x = np.empty((num_samples, image_size, image_size, 3), dtype=np.float32)
    chunk = max(1, 2 ** 19 // (image_size * image_size))  # keeps each (chunk, S, S) array small
    for start in range(0, num_samples, chunk):
        batch = poses[start:start + chunk]
        stacked = {k: np.stack([p[k] for p in batch]) for k in batch[0]}
        x[start:start + len(batch)] = _render(stacked, image_size)
    return x, labels


# Finger layout in the hand-local frame: base points on the top of the palm (index to little) and
# the direction each points when spread, in degrees from +y (negative leans towards the thumb).
_FINGER_BASE_X = np.array([-0.27, -0.09, 0.09, 0.27])
_FINGER_BASE_Y = np.array([0.36, 0.42, 0.40, 0.32])
_FINGER_LENGTH = np.array([0.80, 0.90, 0.84, 0.66])
# Difficulty, tuned by measurement (see tests/test_rps_data.py): at 32x32 pixels the default
# rps_cnn reaches about 98% test accuracy in the main job's 20 epochs, while a dense-only network
# stays near 70%, mostly because the hand can be anywhere in the frame.
_ROTATION_DEG = 30.0  # rotation in [-30, 30] degrees from fingers-up
_SCALE = (0.65, 0.8)  # palm height in half-image units
_SHIFT = 0.25  # hand centre offset, in half-image units, on each axis
_HAND_MIDDLE = 0.45  # local y halfway between wrist and fingertips: what the offset moves
_MIN_CONTRAST = 0.6  # smallest RGB distance between skin and background colours
_MIN_LUMA_CONTRAST = 0.2  # smallest brightness difference between them, where there is room
_LUMA = np.array([0.299, 0.587, 0.114])  # brightness of an RGB colour (ITU-R BT.601)
_BLOB_ALPHA = 0.3  # opacity of background clutter blobs, at most
_LIGHT = 0.2  # brightness in [1 - L, 1 + L/2], directional gradient slope up to L
_NOISE = 0.03  # pixel noise standard deviation, at most
_SKIN_LIGHT = np.array([0.98, 0.84, 0.72])
_SKIN_DARK = np.array([0.36, 0.22, 0.14])


def _draw_pose(rng: np.random.Generator, label: int) -> dict[str, np.ndarray]:
    """Every random choice for one image, as a dict of small arrays (stacked later per chunk)."""
    # Fingers 0-3 (index to little) and the thumb: a capsule from ``start`` to ``end``, local units.
    starts = np.zeros((5, 2))
    ends = np.zeros((5, 2))
    radius = rng.uniform(0.12, 0.145) * np.array([1.0, 1.05, 1.0, 0.9, 1.15])
    spread = rng.uniform(1.0, 1.35)
    extended = {0: [False] * 4, 1: [True] * 4, 2: [True, True, False, False]}[label]
    angles = np.radians(np.array([-22.0, -7.0, 8.0, 24.0]) * spread + rng.normal(0, 4, 4))
    if label == 2:  # scissors: a V between index and middle finger
        v = np.radians(rng.uniform(24, 48))
        tilt = np.radians(rng.normal(0, 8))
        angles[:2] = tilt - v / 2, tilt + v / 2
    for f in range(4):
        base = np.array([_FINGER_BASE_X[f], _FINGER_BASE_Y[f]])
        starts[f] = base - [0, 0.12]
        if extended[f]:
            length = _FINGER_LENGTH[f] * rng.uniform(0.85, 1.12)
            ends[f] = base + length * np.array([np.sin(angles[f]), np.cos(angles[f])])
        else:  # curled: a short knuckle bump, folded down over the palm
            ends[f] = base + [rng.normal(0, 0.02), rng.uniform(0.02, 0.1)]
            starts[f] = base - [rng.normal(0, 0.02), rng.uniform(0.28, 0.4)]
    if label == 1:  # paper: the thumb sticks out sideways
        thumb_angle = np.radians(rng.uniform(-75, -40))
        starts[4] = [-0.3, -0.22]
        length = rng.uniform(0.55, 0.7)
        ends[4] = starts[4] + length * np.array([np.sin(thumb_angle), np.cos(thumb_angle)])
    else:  # folded across the palm (rock, scissors)
        starts[4] = [-0.42, -0.12]
        ends[4] = [rng.uniform(-0.05, 0.15), rng.uniform(0.0, 0.14)]
    skin = _SKIN_LIGHT + rng.uniform(0, 1) * (_SKIN_DARK - _SKIN_LIGHT) + rng.normal(0, 0.03, 3)
    bg = rng.uniform(0, 1, (2, 3))
    for k in range(2):  # push each background colour at least _MIN_CONTRAST away from the skin
        gap = bg[k] - skin
        dist = np.linalg.norm(gap)
        if dist < _MIN_CONTRAST:
            bg[k] = skin + (gap / max(dist, 1e-6)) * _MIN_CONTRAST if dist > 1e-6 else 1 - skin
        # ... and lighter or darker than the skin by _MIN_LUMA_CONTRAST (adding c to every channel
        # adds c to the brightness, as the _LUMA weights sum to 1)
        luma_gap = _LUMA @ (bg[k] - skin)
        if abs(luma_gap) < _MIN_LUMA_CONTRAST:
            skin_luma = _LUMA @ skin
            room_below = skin_luma > _MIN_LUMA_CONTRAST + 0.05
            darker = (luma_gap < 0 and room_below) or skin_luma > 0.95 - _MIN_LUMA_CONTRAST
            bg[k] += (-1.0 if darker else 1.0) * _MIN_LUMA_CONTRAST - luma_gap
    return {
        "angle": np.array(rng.uniform(-1, 1) * np.radians(_ROTATION_DEG)),
        "mirror": np.array(rng.choice([-1.0, 1.0])),
        "scale": np.array(rng.uniform(*_SCALE)),  # palm height, in half-image units
        "center": rng.uniform(-_SHIFT, _SHIFT, 2),
        "palm": np.array([rng.uniform(0.38, 0.46), rng.uniform(0.46, 0.54)]),
        "starts": starts,
        "ends": ends,
        "radius": radius,
        "wrist": np.array(rng.uniform(0.3, 0.38)),
        "skin": np.clip(skin, 0.05, 1.0),
        "bg": np.clip(bg, 0, 1),
        "bg_angle": np.array(rng.uniform(0, 2 * np.pi)),
        "blob_center": rng.uniform(-1, 1, (4, 2)),
        "blob_radius": rng.uniform(0.1, 0.45, (4, 2)),
        "blob_color": rng.uniform(0, 1, (4, 3)),
        "blob_alpha": rng.uniform(0.0, _BLOB_ALPHA, 4),
        "light": np.array([rng.uniform(1 - _LIGHT, 1 + _LIGHT / 2), rng.uniform(0.0, _LIGHT),
                           rng.uniform(0, 2 * np.pi)]),  # brightness, slope, direction
        "cast": rng.normal(1.0, 0.04, 3),
        "noise_sigma": np.array(rng.uniform(0.005, _NOISE)),
        "noise_seed": np.array(rng.integers(2 ** 31)),
    }


def _render(p: dict[str, np.ndarray], size: int) -> np.ndarray:
    """Render a chunk of poses at ``size`` x ``size``; every array below is ``(B, S, S)``."""
    n = len(p["angle"])
    coords = (np.arange(size) + 0.5) / size * 2 - 1  # pixel centres in [-1, 1]
    u = coords[None, None, :]  # (1, 1, S) image x, to the right
    v = -coords[None, :, None]  # (1, S, 1) image y, upwards

    def col(a):  # (B,) -> (B, 1, 1) for broadcasting against the pixel grid
        return a[:, None, None]

    # Image -> hand-local coordinates: translate, rotate by -angle, scale, mirror.
    cos, sin = col(np.cos(p["angle"])), col(np.sin(p["angle"]))
    du, dv = u - col(p["center"][:, 0]), v - col(p["center"][:, 1])
    scale = col(p["scale"])
    hx = (cos * du + sin * dv) / scale * col(p["mirror"])  # (B, S, S)
    hy = (-sin * du + cos * dv) / scale + _HAND_MIDDLE  # the hand, wrist to fingertips, is centred
    pixel = 2.0 / size / scale  # one pixel, in local units: the width of the soft edge

    def coverage(dist):  # signed distance (negative inside) -> soft 0..1 coverage
        return np.clip(0.5 - dist / pixel, 0.0, 1.0)

    def rim(dist, width=0.07):  # a dark line just inside a part's outline
        return np.clip(1.0 + dist / width, 0.0, 1.0) * coverage(dist)

    palm_ax, palm_ay = col(p["palm"][:, 0]), col(p["palm"][:, 1])
    palm_d = (np.sqrt((hx / palm_ax) ** 2 + (hy / palm_ay) ** 2) - 1.0) * np.minimum(palm_ax, palm_ay)
    wrist_d = _capsule(hx, hy, 0.0, -0.2, 0.0, -4.0, col(p["wrist"]))
    hand = np.maximum(coverage(palm_d), coverage(wrist_d))
    shade = 0.25 * rim(np.minimum(palm_d, wrist_d))
    for f in range(5):  # fingers drawn over the palm, each with its own outline
        d = _capsule(hx, hy, col(p["starts"][:, f, 0]), col(p["starts"][:, f, 1]),
                     col(p["ends"][:, f, 0]), col(p["ends"][:, f, 1]), col(p["radius"][:, f]))
        c = coverage(d)
        shade = shade * (1 - c) + 0.3 * rim(d) * c
        hand = np.maximum(hand, c)

    # Background: a two-colour gradient with a few translucent blobs of clutter.
    t = np.clip(0.5 + 0.5 * (col(np.cos(p["bg_angle"])) * u + col(np.sin(p["bg_angle"])) * v), 0, 1)
    image = p["bg"][:, None, None, 0] * (1 - t[..., None]) + p["bg"][:, None, None, 1] * t[..., None]
    for k in range(p["blob_center"].shape[1]):
        bx = (u - col(p["blob_center"][:, k, 0])) / col(p["blob_radius"][:, k, 0])
        by = (v - col(p["blob_center"][:, k, 1])) / col(p["blob_radius"][:, k, 1])
        a = np.clip(1.5 - 1.5 * np.sqrt(bx ** 2 + by ** 2), 0, 1) * col(p["blob_alpha"][:, k])
        image = image * (1 - a[..., None]) + p["blob_color"][:, None, None, k] * a[..., None]

    skin = p["skin"][:, None, None, :] * (1 - shade[..., None])  # (B, S, S, 3)
    image = image * (1 - hand[..., None]) + skin * hand[..., None]

    # Lighting: brightness, a directional gradient, a colour cast; then sensor noise.
    bright, slope, direction = (col(p["light"][:, i]) for i in range(3))
    light = bright * (1 + slope * (np.cos(direction) * u + np.sin(direction) * v))
    image = image * light[..., None] * p["cast"][:, None, None, :]
    for i in range(n):
        noise_rng = np.random.default_rng(int(p["noise_seed"][i]))
        image[i] += noise_rng.normal(0.0, p["noise_sigma"][i], image[i].shape)
    return np.clip(image, 0.0, 1.0).astype(np.float32)


def _capsule(x, y, ax, ay, bx, by, r):
    """Signed distance from ``(x, y)`` to the capsule of radius ``r`` around segment a-b."""
    px, py = x - ax, y - ay
    ex, ey = bx - ax, by - ay
    h = np.clip((px * ex + py * ey) / (ex * ex + ey * ey), 0.0, 1.0)
    return np.sqrt((px - h * ex) ** 2 + (py - h * ey) ** 2) - r
