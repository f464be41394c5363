"""The geometric image transform behind RandomRotation, RandomZoom and RandomTranslation.

Keras 3.15 (TensorFlow backend) calls ``keras.ops.image.affine_transform``, which runs
TensorFlow's ``ImageProjectiveTransformV3`` kernel (``tensorflow/core/kernels/image/image_ops.h``).
This module is that kernel in readable NumPy, in three steps:

1. **Inverse mapping.** Each *output* pixel ``(x, y)`` (column, row; pixel centres at integers)
   asks where it comes from in the input, through the 8 numbers ``[a0, a1, a2, b0, b1, b2, c0,
   c1]`` of its sample's transform::

       k    = c0 * x + c1 * y + 1
       x_in = (a0 * x + a1 * y + a2) / k
       y_in = (b0 * x + b1 * y + b2) / k

2. **Fill mode.** A source coordinate outside ``[0, len - 1]`` is mapped back inside
   (:func:`map_coordinate`); in ``"constant"`` mode it stays outside, and every neighbour that
   lies outside the image reads ``fill_value``.
3. **Interpolation.** ``"bilinear"`` mixes the 4 neighbours of ``(x_in, y_in)`` with weights
   ``(x1 - x_in)`` / ``(x_in - x0)`` (``x0 = floor(x_in)``, ``x1 = x0 + 1``) and the same along
   rows; ``"nearest"`` reads the pixel at ``round(x_in), round(y_in)`` (halves away from zero).

Steps 1-3 give a :class:`Sampling`: for every output pixel a few source pixels ("taps") and their
weights. Applying it is a weighted gather (:func:`sample`), and because the output is linear in
the image, the gradient is the transpose: a scatter-add of ``dy`` with the same weights
(:func:`sample_backward`). Coordinates and weights are float32, as TensorFlow computes them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FILL_MODES = ("reflect", "wrap", "constant", "nearest")
INTERPOLATIONS = ("nearest", "bilinear")
F32 = np.float32


# ------------------------------------------------------------------ the transforms (N, 8)
def rotation_transforms(angles: np.ndarray, height: int, width: int) -> np.ndarray:
    """Rotation by ``angles`` degrees (``(N,)``) about the image centre, as Keras'
    ``_compute_affine_matrix`` builds it (float32)::

        cx = 0.5 * (width - 1),  cy = 0.5 * (height - 1),  θ = angle * π / 180
        x_in = cos θ · (x - cx) - sin θ · (y - cy) + cx
        y_in = sin θ · (x - cx) + cos θ · (y - cy) + cy

    With rows pointing down, a positive angle turns the picture counter-clockwise.
    """
    theta = np.asarray(angles, dtype=F32) * F32(np.pi / 180.0)
    cos, sin = np.cos(theta), np.sin(theta)
    cx = F32(0.5) * (F32(width) - F32(1))
    cy = F32(0.5) * (F32(height) - F32(1))
    a2 = (cx - cx * cos) + cy * sin  # Keras: tx + cx - cx * a0 - cy * a1, with a1 = -sin
    b2 = (cy - cx * sin) - cy * cos  # Keras: ty + cy - cx * b0 - cy * b1
    zeros = np.zeros_like(cos)
    return np.stack([cos, -sin, a2, sin, cos, b2, zeros, zeros], axis=1)  # (N, 8)


def zoom_transforms(zooms: np.ndarray, height: int, width: int) -> np.ndarray:
    """Zoom about the image centre, ``zooms`` ``(N, 2)`` holding ``[zx, zy]`` (Keras'
    ``RandomZoom._get_zoom_matrix``)::

        x_in = zx * x + (width - 1) / 2 * (1 - zx)       (rows alike with zy)

    ``z > 1`` reads a larger window into the output: the picture shrinks ("zooms out").
    """
    zooms = np.asarray(zooms, dtype=F32)
    zx, zy = zooms[:, 0], zooms[:, 1]
    x_offset = (F32(width) - F32(1)) / F32(2) * (F32(1) - zx)
    y_offset = (F32(height) - F32(1)) / F32(2) * (F32(1) - zy)
    zeros = np.zeros_like(zx)
    return np.stack([zx, zeros, x_offset, zeros, zy, y_offset, zeros, zeros], axis=1)


def translation_transforms(translations: np.ndarray) -> np.ndarray:
    """Shift by ``translations`` ``(N, 2)`` holding ``[dx, dy]`` pixels (Keras'
    ``RandomTranslation._get_translation_matrix``): ``x_in = x - dx``, ``y_in = y - dy``, so a
    positive ``dx`` moves the picture right."""
    translations = np.asarray(translations, dtype=F32)
    ones = np.ones(len(translations), dtype=F32)
    zeros = np.zeros(len(translations), dtype=F32)
    return np.stack([ones, zeros, -translations[:, 0], zeros, ones, -translations[:, 1],
                     zeros, zeros], axis=1)


# ------------------------------------------------------------------ step 2: fill modes
def map_coordinate(coord: np.ndarray, length: int, fill_mode: str) -> np.ndarray:
    """A source coordinate outside ``[0, length - 1]`` brought inside, as TensorFlow's
    ``MapCoordinate`` does (float32; ``trunc`` is C++'s cast to an integer):

    - ``"reflect"`` (``dcba|abcd|dcba``): below 0, ``c ← 2L·trunc(-c / 2L) + c``, then
      ``c ← c + 2L`` if ``c < -L`` else ``-c - 1``; above ``L - 1``, ``c ← c - 2L·trunc(c / 2L)``,
      then ``c ← 2L - c - 1`` if ``c >= L``.
    - ``"wrap"``: below 0, ``c ← c + L·(trunc(-c / (L - 1)) + 1)``; above ``L - 1``,
      ``c ← c - L·trunc(c / (L - 1))``. (Not periodic for shifts of ``L - 1`` or more:
      TensorFlow divides by ``L - 1``, not ``L``. Kept, since it is what Keras computes.)
    - ``"nearest"``: no change here, the clamp below does it.
    - ``"constant"``: returned unchanged; neighbours outside the image read ``fill_value``.

    Every mode but "constant" then clamps to ``[0, L - 1]`` (a coordinate in ``(L - 1, L)``
    stays there after reflecting, and would round to ``L``).
    """
    c = np.asarray(coord, dtype=F32).copy()
    if fill_mode == "constant":
        return c
    n = F32(length)
    if length <= 1:
        return np.zeros_like(c)
    below = c < 0
    above = c > n - F32(1)
    if fill_mode == "reflect":
        sz2 = 2 * length
        cb = F32(sz2) * np.trunc(-c / F32(sz2)) + c
        cb = np.where(cb < -n, cb + F32(sz2), -cb - F32(1))
        ca = c - F32(sz2) * np.trunc(c / F32(sz2))
        ca = np.where(ca >= n, (F32(sz2) - ca) - F32(1), ca)
        c = np.where(below, cb, np.where(above, ca, c))
    elif fill_mode == "wrap":
        sz = F32(length - 1)
        cb = c + n * (np.trunc(-c / sz) + F32(1))
        ca = c - n * np.trunc(c / sz)
        c = np.where(below, cb, np.where(above, ca, c))
    return np.clip(c, F32(0), n - F32(1)).astype(F32)


def round_half_away(c: np.ndarray) -> np.ndarray:
    """C++'s ``std::round``: halves away from zero (-0.5 -> -1, 2.5 -> 3), where NumPy's
    ``round`` goes to the even neighbour (2.5 -> 2)."""
    magnitude = np.abs(c)
    lower = np.floor(magnitude)
    rounded = lower + (magnitude - lower >= F32(0.5))
    return (np.sign(c) * rounded).astype(np.int64)


# ------------------------------------------------------------------ steps 1-3: the sampling
@dataclass
class Sampling:
    """Where each output pixel reads from.

    ``taps`` is a list of ``(index, weight)``, each ``(N, H, W)``: ``index`` a flat pixel index
    ``(n * H + row) * W + col`` into the input, ``weight`` its float32 weight (0 for a neighbour
    outside the image, whose index is clamped inside). ``fill_weight`` ``(N, H, W)`` is the total
    weight of the neighbours outside the image: they read ``fill_value``.
    """

    taps: list[tuple[np.ndarray, np.ndarray]]
    fill_weight: np.ndarray
    input_shape: tuple[int, int, int, int]


def sampling(transforms: np.ndarray, input_shape: tuple[int, int, int, int],
             interpolation: str, fill_mode: str) -> Sampling:
    """Steps 1-3 of the module docstring for images of ``input_shape`` ``(N, H, W, C)`` and
    ``transforms`` ``(N, 8)`` (output size = input size, as in Keras' layers).

    A neighbour outside the image reads ``fill_value`` (TensorFlow's ``read_with_fill_value``).
    After "reflect", "wrap" or "nearest" that happens only with weight 0 (``x_in = W - 1`` exactly,
    neighbour ``W``); in "constant" mode a pixel near the border mixes image and fill value.
    """
    n, h, w, _ = input_shape
    t = np.asarray(transforms, dtype=F32)[:, :, None, None]  # (N, 8, 1, 1)
    y, x = np.meshgrid(np.arange(h, dtype=F32), np.arange(w, dtype=F32), indexing="ij")  # (H, W)
    # 1. Inverse mapping: output pixel (x, y) reads the input at (x_in, y_in).
    k = t[:, 6] * x + t[:, 7] * y + F32(1)  # (N, H, W)
    at_infinity = k == 0  # TensorFlow fills these (never the case for rotation, zoom, shift)
    k = np.where(at_infinity, F32(1), k)
    x_in = (t[:, 0] * x + t[:, 1] * y + t[:, 2]) / k
    y_in = (t[:, 3] * x + t[:, 4] * y + t[:, 5]) / k
    # 2. Fill mode: back inside the image (all modes but "constant").
    x_in = map_coordinate(x_in, w, fill_mode)
    y_in = map_coordinate(y_in, h, fill_mode)
    batch = np.arange(n)[:, None, None]  # (N, 1, 1)

    def tap(rows, cols, weight):
        """One neighbour: its flat index (clamped inside) and its weight (0 if outside)."""
        inside = (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w) & ~at_infinity
        index = (batch * h + np.clip(rows, 0, h - 1)) * w + np.clip(cols, 0, w - 1)
        return index, np.where(inside, weight, F32(0)), np.where(inside, F32(0), weight)

    # 3. Interpolation.
    if interpolation == "nearest":
        neighbours = [(round_half_away(y_in), round_half_away(x_in), np.ones_like(x_in))]
    else:
        x0 = np.floor(x_in)
        y0 = np.floor(y_in)
        x1 = x0 + F32(1)
        y1 = y0 + F32(1)
        wx0, wx1 = x1 - x_in, x_in - x0  # weights of columns x0 and x1
        wy0, wy1 = y1 - y_in, y_in - y0  # weights of rows y0 and y1
        c0, c1, r0, r1 = (v.astype(np.int64) for v in (x0, x1, y0, y1))
        neighbours = [(r0, c0, wy0 * wx0), (r0, c1, wy0 * wx1),
                      (r1, c0, wy1 * wx0), (r1, c1, wy1 * wx1)]
    taps, fill_weight = [], np.zeros_like(x_in)
    for rows, cols, weight in neighbours:
        index, inside_weight, outside_weight = tap(rows, cols, weight)
        taps.append((index, inside_weight))
        fill_weight = fill_weight + outside_weight
    return Sampling(taps, fill_weight, tuple(input_shape))


def sample(images: np.ndarray, plan: Sampling, fill_value: float) -> np.ndarray:
    """``y[n, i, j] = Σ_taps weight · x[source pixel] + fill_weight · fill_value``.

    ``images`` ``(N, H, W, C)``; the output has the same shape and dtype.
    """
    n, h, w, c = images.shape
    pixels = images.reshape(n * h * w, c)  # (N*H*W, C)
    out = plan.fill_weight.astype(images.dtype)[..., None] * images.dtype.type(fill_value)
    for index, weight in plan.taps:
        out = out + weight.astype(images.dtype)[..., None] * pixels[index]  # (N, H, W, C)
    return np.broadcast_to(out, images.shape).astype(images.dtype, copy=False)


def sample_backward(dy: np.ndarray, plan: Sampling) -> np.ndarray:
    """The transpose of :func:`sample`: ``dx[source pixel] += weight · dy[n, i, j]`` for every
    tap (the fill value is a constant: nothing goes back for it). ``dy``, ``dx`` ``(N, H, W, C)``."""
    n, h, w, c = plan.input_shape
    dx = np.zeros((n * h * w, c), dtype=dy.dtype)  # (N*H*W, C)
    for index, weight in plan.taps:
        np.add.at(dx, index.ravel(), (weight.astype(dy.dtype)[..., None] * dy).reshape(-1, c))
    return dx.reshape(n, h, w, c)


def affine_transform(images: np.ndarray, transforms: np.ndarray, interpolation: str = "bilinear",
                     fill_mode: str = "constant", fill_value: float = 0.0) -> np.ndarray:
    """``keras.ops.image.affine_transform`` for channels-last ``images`` ``(N, H, W, C)`` and
    ``transforms`` ``(N, 8)``: :func:`sampling` then :func:`sample`."""
    plan = sampling(transforms, images.shape, interpolation, fill_mode)
    return sample(images, plan, fill_value)
