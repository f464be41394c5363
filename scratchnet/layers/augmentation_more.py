"""Keras 3.15's RandomShear, RandomPerspective, RandomGaussianBlur and Equalization.

Split as the other augmentation layers (:mod:`scratchnet.layers.augmentation`):
``get_random_transformation(images)`` draws with Keras' keys, ``transform_images(images,
transformation)`` applies the draw; active in training only, the input unchanged at inference.
RandomShear and RandomPerspective sample each image through a projective transform with the NumPy
of :mod:`scratchnet.kernels.image_transform` (the one RandomRotation uses; backward: its
transpose). Data is channels-last ``(N, H, W, C)``.
"""

from __future__ import annotations

import numbers

import numpy as np

from scratchnet.kernels import image_transform as it
from scratchnet.layers import augmentation as aug
from scratchnet.layers import augmentation_boxes as boxes
from scratchnet.layers.augmentation import _AffineLayer, _base_factor, _is_number, _RandomImageLayer
from scratchnet.layers.augmentation_color import _no_gradient, _sorted_value_range


def _shear_factor(factor, arg: str, where: str) -> tuple:
    """RandomShear's ``x_factor`` / ``y_factor``: a number ``f`` in ``[0, 1]`` becomes ``(-f, f)``;
    a pair is sorted. Keras 3.15.1 wants a pair in ``[0, 1]``, so it cannot rebuild a layer from
    its own config when a number was given (``(-f, f)``); scratchnet takes a pair in ``[-1, 1]``,
    which reads its own files and Keras' alike."""
    error = ValueError(f"{where}: expected {arg} to be a number in [0, 1] or a pair of numbers "
                       f"in [-1, 1], received {factor!r}")
    if isinstance(factor, tuple | list):
        if len(factor) != 2 or not all(_is_number(v) and -1 <= v <= 1 for v in factor):
            raise error
        return tuple(sorted(factor))
    if not _is_number(factor) or not 0 <= factor <= 1:
        raise error
    return (-factor, factor)


class RandomShear(_AffineLayer):
    """Shear each image, as ``keras.layers.RandomShear``.

    ``x_factor``, ``y_factor`` (default 0.0): a number ``f`` in ``[0, 1]`` means ``(-f, f)``, a
    pair is used as given (sorted; Keras wants it in ``[0, 1]`` and so cannot reload its own
    ``(-f, f)`` from a file: scratchnet takes ``[-1, 1]``). Each image draws a sign (``-1``
    where ``u > 0.5``), then
    ``sy ~ U[y_lower, y_upper)``, then ``sx ~ U[x_lower, x_upper)`` (all images' ``u`` first, then
    their ``sy``, then their ``sx``); Keras' transformation is ``{"shear_factor": sign · [sx, sy]}``
    ``(N, 2)``. The output pixel ``(x, y)`` reads the input at ``(x + sx · y, sy · x + y)`` (no
    centring: the top-left corner stays), then ``fill_mode`` ("reflect" by default) with
    ``fill_value`` and ``interpolation`` ("bilinear" by default). Backward: the transpose of the
    sampling.
    """

    def __init__(self, x_factor=0.0, y_factor=0.0, interpolation: str = "bilinear",
                 fill_mode: str = "reflect", fill_value: float = 0.0,
                 data_format: str | None = None, seed: int | None = None,
                 name: str | None = None, **kwargs):
        super().__init__(fill_mode=fill_mode, interpolation=interpolation, seed=seed,
                         fill_value=fill_value, data_format=data_format, name=name, **kwargs)
        self.x_factor = _shear_factor(x_factor, "x_factor", self.where)
        self.y_factor = _shear_factor(y_factor, "y_factor", self.where)

    def get_random_transformation(self, images, training=True):
        n = len(images)
        u = self.rng.random((n, 1)).astype(np.float32)
        sign = np.where(u > 0.5, np.float32(-1), np.float32(1))
        shear_y = self.rng.uniform(self.y_factor[0], self.y_factor[1], (n, 1)).astype(np.float32)
        shear_x = self.rng.uniform(self.x_factor[0], self.x_factor[1], (n, 1)).astype(np.float32)
        return {"shear_factor": np.concatenate([shear_x, shear_y], axis=1) * sign}

    def affine_transforms(self, transformation, images):
        shear = np.asarray(transformation["shear_factor"], dtype=np.float32)  # (N, 2): [sx, sy]
        ones, zeros = np.ones(len(shear), np.float32), np.zeros(len(shear), np.float32)
        return np.stack([ones, shear[:, 0], zeros, shear[:, 1], ones, zeros, zeros, zeros], axis=1)

    def transform_bounding_boxes(self, bounding_boxes, transformation, training=True):
        """Keras' sheared edges (:func:`~scratchnet.layers.augmentation_boxes.shear_boxes`)."""
        if not training or transformation is None:
            return bounding_boxes
        return boxes.shear_boxes(bounding_boxes, transformation["shear_factor"],
                                 self.bounding_box_format, *self.box_image_size(transformation))

    def get_config(self):
        return {**super().get_config(), "x_factor": self.x_factor, "y_factor": self.y_factor}


def homography(start_points: np.ndarray, end_points: np.ndarray) -> np.ndarray:
    """Keras' ``compute_homography_matrix``: the ``(N, 8)`` projective transforms that map each
    of the 4 ``end_points`` to its ``start_points`` (output pixel -> where it reads), from the 8x8
    linear system Keras solves::

        [ex, ey, 1, 0, 0, 0, -sx·ex, -sx·ey] · t = sx
        [0, 0, 0, ex, ey, 1, -sy·ex, -sy·ey] · t = sy     (for each of the 4 points)
    """
    s = np.asarray(start_points, dtype=np.float64)
    e = np.asarray(end_points, dtype=np.float64)
    n = len(s)
    a = np.zeros((n, 8, 8))
    b = np.zeros((n, 8))
    for k in range(4):
        ex, ey, sx, sy = e[:, k, 0], e[:, k, 1], s[:, k, 0], s[:, k, 1]
        a[:, 2 * k, 0], a[:, 2 * k, 1], a[:, 2 * k, 2] = ex, ey, 1
        a[:, 2 * k, 6], a[:, 2 * k, 7] = -sx * ex, -sx * ey
        a[:, 2 * k + 1, 3], a[:, 2 * k + 1, 4], a[:, 2 * k + 1, 5] = ex, ey, 1
        a[:, 2 * k + 1, 6], a[:, 2 * k + 1, 7] = -sy * ex, -sy * ey
        b[:, 2 * k], b[:, 2 * k + 1] = sx, sy
    return np.linalg.solve(a, b[..., None])[..., 0].astype(np.float32)


class RandomPerspective(_RandomImageLayer):
    """Move each image's corners at random, as ``keras.layers.RandomPerspective``.

    The draws, in Keras' order: ``p ~ U[lower, upper)`` and ``t ~ U[0, 1)`` per image (``factor``
    in ``[0, 1]``, default 1.0, a number ``f`` means ``(0, f)``; the image changes where
    ``t < p``), then ``d ~ U[-scale/2, scale/2)`` of shape ``(N, 4, 2)`` (``scale`` in ``[0, 1]``,
    default 1.0). The corners ``start = [(0, 0), (W-1, 0), (0, H-1), (W-1, H-1)]`` move to
    ``end = start + start · d`` (so the top-left corner never moves). Keras' transformation:
    ``{"apply_perspective", "start_points", "end_points"}``. The image is sampled through the
    homography that maps ``end`` back to ``start`` (:func:`homography`), bilinear or nearest
    (``interpolation``), constant fill ``fill_value`` (default 0).
    Backward: the transpose of the sampling where applied, ``dy`` elsewhere.
    """

    def __init__(self, factor=1.0, scale=1.0, interpolation: str = "bilinear",
                 fill_value: float = 0.0, seed: int | None = None, data_format: str | None = None,
                 name: str | None = None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, name=name, **kwargs)
        self.factor = _base_factor(factor, (0, 1), "factor", self.where)
        if not _is_number(scale) or not 0 <= scale <= 1:
            raise ValueError(f"{self.where}: expected scale to be a number in [0, 1], "
                             f"received {scale!r}")
        if interpolation not in it.INTERPOLATIONS:
            raise ValueError(f"{self.where}: expected interpolation to be one of "
                             f"{it.INTERPOLATIONS}, received {interpolation!r}")
        if not _is_number(fill_value):
            raise ValueError(f"{self.where}: expected fill_value to be a number, "
                             f"received {fill_value!r}")
        self.scale = scale
        self.interpolation = interpolation
        self.fill_value = fill_value
        self.plan: it.Sampling | None = None

    def get_random_transformation(self, images, training=True):
        n, h, w, _ = images.shape
        p = self.rng.uniform(self.factor[0], self.factor[1], n).astype(np.float32)
        t = self.rng.random(n).astype(np.float32)
        d = self.rng.uniform(-0.5 * self.scale, 0.5 * self.scale, (n, 4, 2)).astype(np.float32)
        start = np.array([[0, 0], [w - 1, 0], [0, h - 1], [w - 1, h - 1]], dtype=np.float32)
        start = np.repeat(start[None], n, axis=0)
        return {"apply_perspective": t < p, "start_points": start, "end_points": start + start * d}

    def _applied(self):
        return np.asarray(self.transformation["apply_perspective"], dtype=bool)[:, None, None, None]

    def transform_images(self, images, transformation, training=True):
        self.transformation = transformation if training else None
        if self.transformation is None:
            return images
        transforms = homography(transformation["start_points"], transformation["end_points"])
        self.plan = it.sampling(transforms, images.shape, self.interpolation, "constant")
        warped = it.sample(images, self.plan, self.fill_value).astype(images.dtype, copy=False)
        return np.where(self._applied(), warped, images)

    def backward_images(self, dy):
        warped = it.sample_backward(np.where(self._applied(), dy, 0).astype(dy.dtype), self.plan)
        return np.where(self._applied(), 0, dy) + warped

    def transform_segmentation_masks(self, segmentation_masks, transformation, training=True):
        """The image's warp, sampled with "nearest" (Keras' default for masks)."""
        if not training or transformation is None:
            return segmentation_masks
        masks = np.asarray(segmentation_masks)
        transforms = homography(transformation["start_points"], transformation["end_points"])
        plan = it.sampling(transforms, masks.shape, "nearest", "constant")
        warped = it.sample(masks.astype(np.float32), plan, self.fill_value).astype(masks.dtype)
        applied = np.asarray(transformation["apply_perspective"], dtype=bool)[:, None, None, None]
        return np.where(applied, warped, masks)

    def transform_bounding_boxes(self, bounding_boxes, transformation, training=True):
        """The corners through the inverse homography
        (:func:`~scratchnet.layers.augmentation_boxes.perspective_boxes`)."""
        if not training or transformation is None:
            return bounding_boxes
        return boxes.perspective_boxes(bounding_boxes, transformation, self.bounding_box_format,
                                       *self.box_image_size(transformation))

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "scale": self.scale,
                "interpolation": self.interpolation, "fill_value": self.fill_value}


def _kernel_pair(value, where: str) -> tuple:
    """RandomGaussianBlur's ``kernel_size``: an odd number ``k`` becomes ``(k, k)``; a pair of odd
    numbers is kept as given."""
    error = ValueError(f"{where}: expected kernel_size to be an odd integer or a pair of odd "
                       f"integers, received {value!r}")
    if isinstance(value, tuple | list):
        if len(value) != 2 or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool)
                                      and v > 0 and v % 2 == 1 for v in value):
            raise error
        return tuple(int(v) for v in value)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0 or value % 2 == 0:
        raise error
    return (int(value), int(value))


def gaussian_kernel(kernel_size: tuple[int, int], sigma: np.ndarray, dtype) -> np.ndarray:
    """Keras' ``gaussian_blur`` kernel: ``g_x`` from ``kernel_size[0]`` and ``sigma[0]``, ``g_y``
    from ``kernel_size[1]`` and ``sigma[1]``, each ``exp(-(i - (k-1)/2)² / (2 σ²))`` normalised to
    sum 1, the outer product ``g_y ⊗ g_x`` read as a ``kernel_size[0] x kernel_size[1]`` kernel
    (rows x columns: Keras reshapes, so unequal sizes come out transposed and reshuffled)."""
    t = np.dtype(dtype).type

    def one_d(size, s):
        x = np.arange(size, dtype=dtype) - t((size - 1) / 2)
        k = np.exp(t(-0.5) * (x / t(s)) ** 2)
        return k / k.sum()

    kx, ky = kernel_size
    return np.multiply.outer(one_d(ky, sigma[1]), one_d(kx, sigma[0])).reshape(kx, ky)


def _depthwise_same(images: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """One 2-D kernel on every channel, zero 'same' padding (odd sizes)."""
    n, h, w, c = images.shape
    kh, kw = kernel.shape
    ph, pw = kh // 2, kw // 2
    padded = np.zeros((n, h + 2 * ph, w + 2 * pw, c), dtype=images.dtype)
    padded[:, ph:ph + h, pw:pw + w, :] = images
    out = np.zeros_like(images)
    for i in range(kh):
        for j in range(kw):
            out += kernel[i, j] * padded[:, i:i + h, j:j + w, :]
    return out


class RandomGaussianBlur(_RandomImageLayer):
    """Blur some images with a Gaussian kernel, as ``keras.layers.RandomGaussianBlur``.

    The draws, in Keras' order: ``p ~ U[lower, upper)`` and ``t ~ U[0, 1)`` per image (``factor``
    in ``[0, 1]``, default 1.0, a number ``f`` means ``(0, f)``; blurred where ``t < p``), then one
    ``(σx, σy) ~ U[sigma[0], sigma[1]) + 1e-6`` for the whole batch (``sigma`` in ``[0, 1]``,
    default 1.0, a number ``s`` means ``(0, s)``). Keras' transformation
    ``{"should_apply_blur": (N,), "blur_factor": (2,)}``. The blur is a depthwise convolution with
    zero 'same' padding (the border darkens) and the kernel of :func:`gaussian_kernel`
    (``kernel_size``: an odd number or a pair, default 3); then every image, blurred or not, is
    clipped to ``value_range`` (as given, default ``(0, 255)``).

    Backward: ``dy`` through the clip, then the kernel's transpose where blurred.
    """

    def __init__(self, factor=1.0, kernel_size=3, sigma=1.0, value_range=(0, 255),
                 data_format: str | None = None, seed: int | None = None,
                 name: str | None = None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, name=name, **kwargs)
        self.factor = _base_factor(factor, (0, 1), "factor", self.where)
        self.kernel_size = _kernel_pair(kernel_size, self.where)
        self.sigma = _base_factor(sigma, (0, 1), "sigma", self.where)
        aug._check_value_range(value_range, self.where)
        self.value_range = aug._as_given(value_range)
        self.passed: np.ndarray | None = None

    def get_random_transformation(self, images, training=True):
        n = len(images)
        p = self.rng.uniform(self.factor[0], self.factor[1], n).astype(np.float32)
        t = self.rng.random(n).astype(np.float32)
        sigma = self.rng.uniform(self.sigma[0], self.sigma[1], 2).astype(np.float32)
        return {"should_apply_blur": t < p, "blur_factor": sigma + np.float32(1e-6)}

    def _kernel(self, dtype):
        return gaussian_kernel(self.kernel_size, np.asarray(self.transformation["blur_factor"]),
                               dtype)

    def _applied(self):
        return np.asarray(self.transformation["should_apply_blur"], dtype=bool)[:, None, None, None]

    def transform_images(self, images, transformation, training=True):
        self.transformation = transformation if training else None
        if self.transformation is None:
            return images
        blurred = _depthwise_same(images, self._kernel(images.dtype))
        z = np.where(self._applied(), blurred, images)
        lo, hi = self.value_range
        self.passed = (z >= lo) & (z <= hi)
        return np.clip(z, lo, hi).astype(images.dtype, copy=False)

    def backward_images(self, dy):
        g = dy * self.passed
        kernel = self._kernel(dy.dtype)[::-1, ::-1]  # the transpose of a 'same' convolution
        return np.where(self._applied(), _depthwise_same(g, kernel), g)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "kernel_size": self.kernel_size,
                "sigma": self.sigma, "value_range": self.value_range}


class Equalization(_RandomImageLayer):
    """Histogram equalization, per channel, as ``keras.layers.Equalization``.

    Keras 3.15.1 equalizes each channel over the **whole batch** (one histogram of all images'
    values of that channel), not image by image. Per channel, in the 0..255 scale
    (``value_range``, sorted, default ``(0, 255)``; ``bins``, default 256)::

        hist = counts of clip(int(x255 · (bins - 1) / 255), 0, bins - 1)
        cdf = cumulative hist;  m = the first non-zero cdf value;  d = cdf[-1] - m (1 if 0)
        lut = clip(round((cdf - m) · 255 / d), 0, 255)        (round half to even)
        y255 = lut[int(clip(x255 / 255 · (bins - 1), 0, bins - 1))]

    and ``y255 = x255`` for a channel whose values fall in one bin. Nothing is random; applied in
    training only, the input unchanged at inference, as Keras. No backward (the output is
    piecewise constant in the input).
    """

    def __init__(self, value_range=(0, 255), bins: int = 256, data_format: str | None = None,
                 name: str | None = None, **kwargs):
        super().__init__(seed=None, data_format=data_format, name=name, **kwargs)
        self.value_range = _sorted_value_range(value_range, self.where)
        if isinstance(bins, bool) or not isinstance(bins, numbers.Integral) or bins < 2:
            raise ValueError(f"{self.where}: expected bins to be an integer >= 2, "
                             f"received {bins!r}")
        self.bins = int(bins)

    def get_random_transformation(self, images, training=True):
        return None

    def forward(self, x, training=False):
        if not training:
            self.transformation = None
            return x
        return super().forward(x, training=True)

    def transform_images(self, images, transformation=None, training=True):
        if not training:
            return images
        self.transformation = {}  # applied (nothing random to keep): backward refuses
        out = np.stack([self._equalize(images[..., c]) for c in range(images.shape[-1])], axis=-1)
        return out.astype(images.dtype if np.issubdtype(images.dtype, np.floating) else np.float32)

    def _equalize(self, channel: np.ndarray) -> np.ndarray:
        lo, hi = self.value_range
        x = channel * ((255 - 0) / (hi - lo)) + (0 - lo * (255 / (hi - lo)))  # Keras' _scale_values
        x = x.astype(channel.dtype if np.issubdtype(channel.dtype, np.floating) else np.float32)
        scaled = (x.astype(np.float32) - np.float32(0)) * np.float32(self.bins - 1) / np.float32(255)
        index = np.clip(scaled.astype(np.int32), 0, self.bins - 1)
        hist = np.bincount(index.ravel(), minlength=self.bins)
        if np.count_nonzero(hist) <= 1:
            equalized = x
        else:
            cdf = np.cumsum(hist)
            cdf_min = cdf[np.nonzero(cdf)[0][0]]
            denominator = cdf[-1] - cdf_min
            denominator = 1 if denominator == 0 else denominator
            lut = np.clip(np.round((cdf - cdf_min) * 255 / denominator), 0, 255)
            where = np.clip(x / 255.0 * (self.bins - 1), 0, self.bins - 1).astype(np.int32)
            equalized = lut[where]
        return equalized * ((hi - lo) / 255) + lo  # back to value_range

    def backward_images(self, dy):
        return _no_gradient(self, "not implemented: the output is piecewise constant in the input")

    def get_config(self):
        config = {**super().get_config(), "bins": self.bins, "value_range": self.value_range}
        del config["seed"]  # Keras' Equalization takes no seed
        return config


class ContrastLimitedAdaptiveHistogramEqualization(_RandomImageLayer):
    """CLAHE, as ``keras.layers.ContrastLimitedAdaptiveHistogramEqualization(value_range=(0, 255),
    clip_limit=4.0, tile_grid_size=(8, 8))``: histogram equalization done tile by tile, with each
    tile's histogram clipped so that flat regions are not blown up into noise, and the tiles'
    mappings blended so that no tile edge shows.

    Per image and channel, in the 0..255 scale (``value_range`` mapped onto it):

    1. Pad the image (mirror, ``symmetric``) to ``grid_h x grid_w`` tiles of ``tile_h x tile_w``
       pixels (``tile = ceil(size / grid)``).
    2. Per tile, the histogram of ``clip(int(x), 0, 255)`` over 256 bins. With ``clip_limit > 0``,
       cap each bin at ``clip_limit * tile_h * tile_w / 256`` and spread the excess evenly over all
       256 bins.
    3. ``cdf = cumsum(hist)``; the tile's mapping is
       ``lut = clip((cdf - min(cdf)) * 255 / (tile_h * tile_w - min(cdf)), 0, 255)``
       (a denominator of 0 taken as 1).
    4. Each pixel ``(i, j)`` of value ``v`` reads ``lut[v]`` of the four tiles around it and mixes
       them bilinearly: tile coordinates ``(i - tile_h/2) / tile_h`` (the tile centres), the border
       tiles repeated beyond the edge.

    Nothing is random, and (unlike Equalization) Keras applies it at inference too. Output in
    ``value_range``, float32. No backward pass: the output is piecewise constant in the input.
    """

    def __init__(self, value_range=(0, 255), clip_limit: float = 4.0, tile_grid_size=(8, 8),
                 data_format: str | None = None, name: str | None = None, **kwargs):
        super().__init__(seed=None, data_format=data_format, name=name, **kwargs)
        aug._check_value_range(value_range, self.where)
        if value_range[0] == value_range[1]:
            raise ValueError(f"{self.where}: value_range {value_range!r} is empty (low == high): no "
                             "scale to map onto 0..255")
        self.value_range = list(value_range)
        if isinstance(clip_limit, bool) or not _is_number(clip_limit):
            raise ValueError(f"{self.where}: expected clip_limit to be a number, received {clip_limit!r}")
        self.clip_limit = float(clip_limit)
        if (not isinstance(tile_grid_size, tuple | list) or len(tile_grid_size) != 2
                or any(isinstance(g, bool) or not isinstance(g, numbers.Integral) or g < 1
                       for g in tile_grid_size)):
            raise ValueError(f"{self.where}: expected tile_grid_size to be 2 positive integers "
                             f"(height, width), received {tile_grid_size!r}")
        self.tile_grid_size = (int(tile_grid_size[0]), int(tile_grid_size[1]))
        # as given, which Keras' get_config writes back (a pair as a tuple, see aug._as_given)
        self._config_ranges = {"value_range": aug._as_given(value_range),
                               "tile_grid_size": aug._as_given(tile_grid_size)}

    def get_random_transformation(self, images, training=True):
        return None

    def forward(self, x, training=False):
        return super().forward(x, training=True)  # applied at inference too, as Keras does

    def transform_images(self, images, transformation=None, training=True):
        self.transformation = {}  # applied: backward refuses
        lo, hi = (np.float32(v) for v in self.value_range)
        x = images.astype(np.float32)
        if (lo, hi) != (0, 255):  # Keras' _transform_value_range, to 0..255 and back
            x = (x - lo) / (hi - lo) * np.float32(255)
        y = self._clahe(x)
        if (lo, hi) != (0, 255):
            y = (y - np.float32(0)) / np.float32(255) * (hi - lo) + lo
        return y.astype(np.float32)

    def _clahe(self, images: np.ndarray) -> np.ndarray:
        n, h, w, c = images.shape
        grid_h, grid_w = self.tile_grid_size
        tile_h, tile_w = -(-h // grid_h), -(-w // grid_w)
        padded = np.pad(images, [(0, 0), (0, tile_h * grid_h - h), (0, tile_w * grid_w - w), (0, 0)],
                        mode="symmetric")
        # (N, grid_h, grid_w, C, tile pixels): each tile's values, as ints 0..255
        tiles = padded.reshape(n, grid_h, tile_h, grid_w, tile_w, c).transpose(0, 1, 3, 5, 2, 4)
        values = np.clip(tiles.reshape(n, grid_h, grid_w, c, tile_h * tile_w).astype(np.int32), 0, 255)
        # counts per bin (Keras sums a one-hot of the values): one bincount per tile and channel
        per_tile = values.reshape(-1, tile_h * tile_w)
        flat = per_tile + 256 * np.arange(per_tile.shape[0])[:, None]
        hists = np.bincount(flat.ravel(), minlength=flat.shape[0] * 256).astype(np.float32)
        hists = hists.reshape(n, grid_h, grid_w, c, 256)
        if self.clip_limit > 0:
            limit = np.float32(self.clip_limit * (tile_h * tile_w) / 256.0)
            clipped = np.clip(hists, 0, limit)
            excess = np.sum(hists - clipped, axis=-1, keepdims=True)
            hists = clipped + excess / np.float32(256)
        cdf = np.cumsum(hists, axis=-1, dtype=np.float32)
        cdf_min = cdf.min(axis=-1, keepdims=True)
        denominator = np.float32(tile_h * tile_w) - cdf_min
        denominator = np.where(denominator == 0, np.float32(1), denominator)
        lut = np.clip((cdf - cdf_min) * np.float32(255) / denominator, 0, 255)
        # border tiles repeated: tile index t of the padded grid is tile t - 1 of the image
        lut = np.concatenate([lut[:, :1], lut, lut[:, -1:]], axis=1)
        lut = np.concatenate([lut[:, :, :1], lut, lut[:, :, -1:]], axis=2)
        # each pixel row/column's place between tile centres, and its weight towards the next
        def centres(size, tile):  # in tile units, +1 for the repeated border tile
            return (np.arange(size, dtype=np.float32) - np.float32(tile / 2.0)) / np.float32(tile) + 1

        ys, xs = centres(tile_h * grid_h, tile_h), centres(tile_w * grid_w, tile_w)
        y0, x0 = np.floor(ys), np.floor(xs)
        wy, wx = (ys - y0)[None, :, None, None], (xs - x0)[None, None, :, None]
        y0i, y1i = (np.clip(v, 0, grid_h + 1).astype(np.int64) for v in (y0, y0 + 1))
        x0i, x1i = (np.clip(v, 0, grid_w + 1).astype(np.int64) for v in (x0, x0 + 1))
        pixels = np.clip(padded, 0, 255).astype(np.int32)
        b = np.arange(n)[:, None, None, None]
        ch = np.arange(c)[None, None, None, :]

        def read(ty, tx):  # lut[image, tile row, tile column, channel, pixel value]
            return lut[b, ty[None, :, None, None], tx[None, None, :, None], ch, pixels]

        top = read(y0i, x0i) * (1 - wx) + read(y0i, x1i) * wx
        bottom = read(y1i, x0i) * (1 - wx) + read(y1i, x1i) * wx
        return (top * (1 - wy) + bottom * wy)[:, :h, :w, :]

    def backward_images(self, dy):
        return _no_gradient(self, "not implemented: the output is piecewise constant in the input")

    def get_config(self):
        config = {**super().get_config(), "value_range": self._config_ranges["value_range"],
                  "clip_limit": self.clip_limit,
                  "tile_grid_size": self._config_ranges["tile_grid_size"]}
        del config["seed"]  # Keras' CLAHE takes no seed
        return config


class RandomElasticTransform(_RandomImageLayer):
    """``keras.layers.RandomElasticTransform(factor=1.0, scale=1.0, interpolation="bilinear",
    fill_mode="reflect", fill_value=0.0, value_range=(0, 255), seed=None)``: a rubber-sheet warp,
    each pixel read from a point moved by a smooth random field (``sn.ops.image.elastic_transform``:
    Gaussian-blurred noise, one field for both axes as Keras draws it).

    Per batch, in training: each image is warped with probability ``p ~ U(factor)`` (``u < p``,
    ``u ~ U[0, 1)``), and one distortion ``s ~ U(scale)`` sets the warp's strength and smoothness
    for the batch: ``alpha = 0.1 s max(H, W)`` pixels, ``sigma = 0.05 s min(H, W)``. The batch is
    then clipped to ``value_range`` (the images left alone too, as Keras clips them). Identity at
    inference, or when ``factor`` or ``scale`` is 0. The draws are scratchnet's own (Keras'
    generator cannot be reproduced); the warp given a field is Keras' (parity_tests). No backward
    pass: put it before the first layer with weights.
    """

    def __init__(self, factor=1.0, scale=1.0, interpolation: str = "bilinear", fill_mode: str = "reflect",
                 fill_value: float = 0.0, value_range=(0, 255), seed: int | None = None,
                 data_format: str | None = None, name: str | None = None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, name=name, **kwargs)
        self.factor = _base_factor(factor, (0, 1), "factor", self.where)
        self.scale = _base_factor(scale, (0, 1), "scale", self.where)
        if interpolation not in ("nearest", "bilinear"):
            raise NotImplementedError(f"Unknown `interpolation` {interpolation}. Expected of one "
                                      "('nearest', 'bilinear').")
        if fill_mode not in ("constant", "nearest", "wrap", "mirror", "reflect"):
            raise NotImplementedError(f"Unknown `fill_mode` {fill_mode}. Expected of one "
                                      "{'constant', 'nearest', 'wrap', 'mirror', 'reflect'}.")
        if not _is_number(fill_value):
            raise ValueError(f"{self.where}: expected fill_value to be a number, received {fill_value!r}")
        aug._check_value_range(value_range, self.where)
        self.interpolation, self.fill_mode, self.fill_value = interpolation, fill_mode, float(fill_value)
        self.value_range = list(value_range)
        self._value_range_arg = aug._as_given(value_range)  # as given: Keras' get_config writes it

    def get_random_transformation(self, images, training=True):
        if not training or self.scale[1] == 0 or self.factor[1] == 0:
            return None
        n = len(images)
        probability = self.rng.uniform(self.factor[0], self.factor[1], n)
        apply = self.rng.uniform(0.0, 1.0, n) < probability
        distortion = float(self.rng.uniform(self.scale[0], self.scale[1]))
        return {"apply": apply, "distortion": distortion, "field_seed": int(self.rng.integers(2**31))}

    @staticmethod
    def elastic_params(height: int, width: int, distortion: float) -> tuple[float, float]:
        """Keras' ``get_elastic_transform_params``: ``(alpha, sigma)`` for a distortion."""
        return max(height, width) * 0.1 * distortion, min(height, width) * 0.05 * distortion

    def transform_images(self, images, transformation=None, training=True):
        self.transformation = transformation
        return self._warp(images, transformation, self.interpolation)

    def transform_segmentation_masks(self, segmentation_masks, transformation, training=True):
        """The image's displacement field (the same ``field_seed``), sampled with "nearest"
        (Keras' default for masks), then clipped to ``value_range`` as Keras does."""
        if not training or transformation is None:
            return segmentation_masks
        masks = np.asarray(segmentation_masks)
        return self._warp(masks.astype(np.float32), transformation, "nearest").astype(masks.dtype)

    def transform_bounding_boxes(self, bounding_boxes, transformation, training=True):
        """Keras 3.15.1 moves no boxes through an elastic warp (its layer raises too)."""
        raise NotImplementedError(f"{self.where}: bounding boxes cannot follow an elastic warp "
                                  "(keras.layers.RandomElasticTransform does not transform them "
                                  "either); leave 'bounding_boxes' out of the dict")

    def _warp(self, images, transformation, interpolation: str):
        from scratchnet.ops_image import elastic_transform

        if transformation is None:
            return images
        _, h, w, _ = images.shape
        alpha, sigma = self.elastic_params(h, w, transformation["distortion"])
        warped = elastic_transform(images, alpha=alpha, sigma=sigma, interpolation=interpolation,
                                   fill_mode=self.fill_mode, fill_value=self.fill_value,
                                   seed=transformation["field_seed"])
        out = np.where(transformation["apply"][:, None, None, None], warped, images)
        return np.clip(out, self.value_range[0], self.value_range[1]).astype(images.dtype, copy=False)

    def backward_images(self, dy):
        return _no_gradient(self, "not implemented for the random warp")

    def get_config(self):
        # Keras' factor and scale are (lower, upper) tuples (BaseImagePreprocessingLayer._set_factor)
        return {**super().get_config(), "factor": tuple(self.factor), "scale": tuple(self.scale),
                "interpolation": self.interpolation, "fill_mode": self.fill_mode,
                "fill_value": self.fill_value, "value_range": self._value_range_arg}
