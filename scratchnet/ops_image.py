"""``keras.ops.image`` (``sn.ops.image``): image functions on ``(H, W, C)`` images or
``(N, H, W, C)`` batches (``data_format="channels_first"`` moves the channels last and back).

The formulas are the layers' where scratchnet has them: the colour conversions of
:mod:`scratchnet.layers.augmentation_color`, the projective sampling of
:mod:`scratchnet.kernels.image_transform` (RandomRotation's, RandomPerspective's homography), the
resize matrices of :mod:`scratchnet.layers.image_preprocessing`, the Gaussian kernel of
RandomGaussianBlur. ``extract_patches`` is Keras' own definition, a convolution with an identity
kernel; ``ssim`` Keras' Gaussian-window SSIM; ``sobel_edges`` TensorFlow's (reflect padding,
``[dy, dx]`` on a new last axis); ``map_coordinates`` Keras' order 0/1 interpolation.

``scale_and_translate`` is ``jax.image.scale_and_translate`` as Keras writes it: one weight matrix
per resized axis (a triangle, Keys cubic or Lanczos kernel, wider when shrinking with
``antialias``), applied with ``tensordot``.

``elastic_transform`` follows Keras' steps (one normal field, blurred, scaled, then
``map_coordinates``); its random field is drawn with :mod:`scratchnet.random` (NumPy), so the
values differ from Keras' (TensorFlow's Philox) as ``sn.random``'s do.
"""

from __future__ import annotations

import itertools

import numpy as np

import scratchnet.ops as o
from scratchnet.kernels import image_transform as it
from scratchnet.layers import augmentation_color as colour
from scratchnet.layers import image_preprocessing as prep
from scratchnet.layers.augmentation_more import homography


def _batched(images, data_format, what: str):
    """``images`` as a channels-last batch, and how to undo that on a result."""
    images = o._array(images)
    if images.ndim not in (3, 4):
        raise ValueError("Invalid images rank: expected rank 3 (single image) or rank 4 (batch of images). "
                         f"Received: images.shape={images.shape} ({what})")
    single = images.ndim == 3
    x = images[None] if single else images
    first = data_format == "channels_first"
    x = o.moveaxis(x, 1, -1) if first else x

    def back(y):
        y = o.moveaxis(y, -1, 1) if first and y.ndim == 4 else y
        return y[0] if single else y
    return x, back


def rgb_to_grayscale(images, data_format=None):
    """``0.2989 r + 0.5870 g + 0.1140 b`` (TensorFlow's weights), one channel."""
    x, back = _batched(images, data_format, "rgb_to_grayscale")
    return back(np.sum(o._floating(x) * colour.GRAY_WEIGHTS, axis=-1, keepdims=True))


def _values_only(what: str, *inputs):
    for x in inputs:
        if isinstance(x, o.Traced):
            raise TypeError(f"{x.tape.where}: ops.image.{what} has no gradient in scratchnet; compute it "
                            "outside the differentiated function")


def rgb_to_hsv(images, data_format=None):
    """Hue, saturation and value, as TensorFlow's kernel (``augmentation_color.rgb_to_hsv``). No
    gradient."""
    _values_only("rgb_to_hsv", images)
    x, back = _batched(images, data_format, "rgb_to_hsv")
    return back(colour.rgb_to_hsv(o._plain(o._floating(x))))


def hsv_to_rgb(images, data_format=None):
    """The inverse of :func:`rgb_to_hsv` (``augmentation_color.hsv_to_rgb``). No gradient."""
    _values_only("hsv_to_rgb", images)
    x, back = _batched(images, data_format, "hsv_to_rgb")
    return back(colour.hsv_to_rgb(o._plain(o._floating(x))))


def resize(images, size, interpolation="bilinear", antialias=False, crop_to_aspect_ratio=False,
           pad_to_aspect_ratio=False, fill_mode="constant", fill_value=0.0, data_format=None):
    """``images`` resized to ``size = (height, width)`` as the Resizing layer does (bilinear or
    nearest, half-pixel centres, optionally a centred crop or padding to the target's aspect
    ratio first). Plain bilinear or nearest resizing is two matrix products, ``A_h x A_w^T``, so its
    gradient follows on the tape."""
    if antialias:
        raise ValueError("sn.ops.image.resize: antialias=True is not supported (TensorFlow's "
                         "anti-aliasing kernel is not reproduced); received antialias=True")
    x, back = _batched(images, data_format, "resize")
    x = o._floating(x)
    height, width = (int(s) for s in size)
    if not (crop_to_aspect_ratio or pad_to_aspect_ratio) and interpolation in ("bilinear", "nearest"):
        matrix = prep._bilinear_matrix if interpolation == "bilinear" else prep._nearest_matrix
        a_h, a_w = matrix(x.shape[1], height), matrix(x.shape[2], width)
        return back(_resized(x, a_h, a_w))
    _values_only(f"resize with interpolation={interpolation!r}, crop_to_aspect_ratio or "
                 "pad_to_aspect_ratio", images)
    layer = prep.Resizing(height, width, interpolation=interpolation,
                          crop_to_aspect_ratio=crop_to_aspect_ratio, pad_to_aspect_ratio=pad_to_aspect_ratio,
                          fill_mode=fill_mode, fill_value=fill_value)
    return back(layer(o._plain(x)))


def _resized(x, a_h, a_w):
    """``A_h x A_w^T`` per image and channel, as einsums (traceable): rows, then columns."""
    rows = np.einsum("ih,nhwc->niwc", a_h.astype(x.dtype), x)
    return np.einsum("jw,niwc->nijc", a_w.astype(x.dtype), rows)


def affine_transform(images, transform, interpolation="bilinear", fill_mode="constant", fill_value=0,
                     data_format=None):
    """Each output pixel ``(x, y)`` read from input ``((a0 x + a1 y + a2) / k, (b0 x + b1 y + b2) / k)``,
    ``k = c0 x + c1 y + 1``, for ``transform = [a0, a1, a2, b0, b1, b2, c0, c1]`` (one per image or
    one for all): TensorFlow's ``ImageProjectiveTransformV3``, as
    :mod:`scratchnet.kernels.image_transform` computes it. Gradient: the transpose of the sampling
    (each tap's weight times ``dy`` back to its source pixel)."""
    if interpolation not in it.INTERPOLATIONS:
        raise ValueError("Invalid value for argument `interpolation`. Expected of one "
                         f"{it.INTERPOLATIONS}. Received: interpolation={interpolation}")
    if fill_mode not in it.FILL_MODES:
        raise ValueError(f"Invalid value for argument `fill_mode`. Expected of one {it.FILL_MODES}. "
                         f"Received: fill_mode={fill_mode}")
    x, back = _batched(images, data_format, "affine_transform")
    x = o._floating(x)
    value = o._plain(x)
    transform = np.asarray(o._plain(transform), dtype=np.float32)
    transform = np.broadcast_to(transform.reshape(-1, 8), (value.shape[0], 8))
    plan = it.sampling(transform, value.shape, interpolation, fill_mode)
    out = it.sample(value, plan, fill_value).astype(value.dtype, copy=False)
    # the output is linear in the image: its gradient is the sampling's transpose (the layers' backward)
    return back(o._recorded(out, (x, lambda dy: it.sample_backward(dy, plan).astype(value.dtype))))


def perspective_transform(images, start_points, end_points, interpolation="bilinear", fill_value=0,
                          data_format=None):
    """The projective warp that moves the 4 ``start_points`` to ``end_points`` (each ``(4, 2)``,
    ``(x, y)``, or one set per image): the homography from ``end`` back to ``start``
    (RandomPerspective's), sampled with constant fill."""
    x, back = _batched(images, data_format, "perspective_transform")
    start = np.asarray(o._plain(start_points), np.float32).reshape(-1, 4, 2)
    end = np.asarray(o._plain(end_points), np.float32).reshape(-1, 4, 2)
    transforms = np.broadcast_to(homography(start, end), (x.shape[0], 8))
    return affine_transform(back(x), transforms if x.shape[0] > 1 else transforms[0], interpolation,
                            "constant", fill_value, data_format)


def _sides(first, second, target, size, names):
    given = [first, second, target]
    if given.count(None) != 1:
        raise ValueError(f"Must specify exactly two of {names[0]}, {names[1]}, {names[2]}. Received: "
                         f"{names[0]}={first}, {names[1]}={second}, {names[2]}={target}")
    for value, name in zip(given, names, strict=True):
        if value is not None and value < 0:
            raise ValueError(f"{name} must be >= 0. Received: {name}={value}")
    return first, second, target


def crop_images(images, top_cropping=None, left_cropping=None, bottom_cropping=None, right_cropping=None,
                target_height=None, target_width=None, data_format=None):
    """The ``target_height x target_width`` window from ``(top_cropping, left_cropping)``; of
    the three numbers per axis two are given, the third follows from the image's size."""
    x, back = _batched(images, data_format, "crop_images")
    height, width = x.shape[1], x.shape[2]
    top, bottom, target_h = _sides(top_cropping, bottom_cropping, target_height, height,
                                   ("top_cropping", "bottom_cropping", "target_height"))
    left, right, target_w = _sides(left_cropping, right_cropping, target_width, width,
                                   ("left_cropping", "right_cropping", "target_width"))
    top = height - target_h - bottom if top is None else top
    target_h = height - bottom - top if target_h is None else target_h
    left = width - target_w - right if left is None else left
    target_w = width - right - left if target_w is None else target_w
    if min(top, left, target_h, target_w) < 0:
        raise ValueError(f"crop_images: the crop does not fit the {height} x {width} image: top={top}, "
                         f"left={left}, target_height={target_h}, target_width={target_w}")
    return back(x[:, top:top + target_h, left:left + target_w, :])


def pad_images(images, top_padding=None, left_padding=None, bottom_padding=None, right_padding=None,
               target_height=None, target_width=None, data_format=None):
    """Zeros around the image to ``target_height x target_width``; of the three numbers per axis
    two are given, the third follows."""
    x, back = _batched(images, data_format, "pad_images")
    height, width = x.shape[1], x.shape[2]
    top, bottom, target_h = _sides(top_padding, bottom_padding, target_height, height,
                                   ("top_padding", "bottom_padding", "target_height"))
    left, right, target_w = _sides(left_padding, right_padding, target_width, width,
                                   ("left_padding", "right_padding", "target_width"))
    top = target_h - bottom - height if top is None else top
    bottom = target_h - top - height if bottom is None else bottom
    left = target_w - right - width if left is None else left
    right = target_w - left - width if right is None else right
    for value, name in ((top, "top_padding"), (left, "left_padding"), (right, "right_padding"),
                        (bottom, "bottom_padding")):
        if value < 0:
            raise ValueError(f"{name} must be >= 0. Received: {name}={value}")
    return back(np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0))))


def _patches(x, size, strides, dilation_rate, padding, data_format, rank):
    x = o._floating(x)
    size = (size,) * rank if isinstance(size, int) else tuple(size)
    strides = size if not strides else strides
    channels = x.shape[1] if data_format == "channels_first" else x.shape[-1]
    out_dim = int(np.prod(size)) * channels
    kernel = np.eye(out_dim, dtype=x.dtype).reshape(size + (channels, out_dim))  # each tap to its own channel
    return o.conv(x, kernel, strides=strides, padding=padding, data_format=data_format,
                  dilation_rate=dilation_rate)


def extract_patches(images, size, strides=None, dilation_rate=1, padding="valid", data_format=None):
    """Each ``size`` patch (every ``strides``, ``size`` when None) flattened into the channels,
    ``(N, H', W', kh * kw * C)`` in ``(row, column, channel)`` order: a convolution with an
    identity kernel (Keras' definition). A 3-tuple ``size`` gives :func:`extract_patches_3d`."""
    if not isinstance(size, int) and len(size) == 3:
        return extract_patches_3d(images, size, strides, dilation_rate, padding, data_format)
    if not isinstance(size, int) and len(size) != 2:
        raise ValueError(f"Invalid `size` argument. Expected a tuple of length 2 or 3. Received: size={size} "
                         f"with length {len(size)}")
    x = o._array(images)
    single = x.ndim == 3
    out = _patches(x[None] if single else x, size, strides, dilation_rate, padding, data_format, 2)
    return out[0] if single else out


def extract_patches_3d(volumes, size, strides=None, dilation_rate=1, padding="valid", data_format=None):
    """:func:`extract_patches` of ``(N, D, H, W, C)`` volumes."""
    if not isinstance(size, int) and len(size) != 3:
        raise TypeError("Invalid `size` argument. Expected an int or a tuple of length 3. Received: "
                        f"size={size}")
    x = o._array(volumes)
    single = x.ndim == 4
    out = _patches(x[None] if single else x, size, strides, dilation_rate, padding, data_format, 3)
    return out[0] if single else out


def _one_d_gaussian(size: int, sigma, dtype):
    x = np.arange(size, dtype=dtype) - np.asarray((size - 1) / 2, dtype)
    k = np.exp(np.asarray(-0.5, dtype) * (x / np.asarray(sigma, dtype)) ** 2)
    return k / k.sum()


def gaussian_blur(images, kernel_size=(3, 3), sigma=(1.0, 1.0), data_format=None):
    """Each channel convolved ('same', zero padding) with Keras' Gaussian kernel: the outer product
    ``g_y g_x^T`` of the 1-D kernels (``exp(-(i - (k-1)/2)^2 / (2 sigma^2))``, summed to 1) read as
    a ``kernel_size[0] x kernel_size[1]`` array (RandomGaussianBlur's ``gaussian_kernel``)."""
    x, back = _batched(images, data_format, "gaussian_blur")
    x = o._floating(x)
    kh, kw = (int(k) for k in kernel_size)
    kernel = np.multiply.outer(_one_d_gaussian(kw, sigma[1], x.dtype),
                               _one_d_gaussian(kh, sigma[0], x.dtype)).reshape(kh, kw)
    depthwise = np.broadcast_to(kernel[:, :, None, None], (kh, kw, x.shape[-1], 1))
    return back(o.depthwise_conv(x, depthwise, padding="same"))


def sobel_edges(images, data_format=None):
    """TensorFlow's ``image.sobel_edges``: the image reflect-padded by 1, then the 3x3 Sobel
    kernels ``[[-1,-2,-1],[0,0,0],[1,2,1]]`` (dy) and its transpose (dx); ``(N, H, W, C, 2)``."""
    x = o._floating(images)
    first = data_format == "channels_first"
    x = o.moveaxis(x, 1, -1) if first else x
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
    dy = np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], x.dtype)
    kernels = np.stack([dy, dy.T], axis=-1)  # (3, 3, 2)
    windows = o._windows(padded, (3, 3), (1, 1), (1, 1), "valid")  # (N, H, W, 3, 3, C)
    edges = np.einsum("nhwabc,abk->nhwck", windows, kernels)
    return o.moveaxis(edges, 3, 1) if first else edges


def ssim(image1, image2, max_val=1.0, filter_size=11, filter_sigma=1.5, k1=0.01, k2=0.03,
         data_format=None):
    """The structural similarity of each image pair, Keras' way: per channel, Gaussian-weighted
    ('valid') means ``mu``, variances and covariance, ``((2 mu1 mu2 + c1)(2 s12 + c2)) /
    ((mu1^2 + mu2^2 + c1)(s1^2 + s2^2 + c2))`` with ``c = (k max_val)^2``, averaged over pixels
    and channels."""
    x1, back = _batched(image1, data_format, "ssim")
    x2, _ = _batched(image2, data_format, "ssim")
    x1, x2 = o._floating(x1), o._floating(x2)
    g = np.exp(-((np.arange(filter_size, dtype=x1.dtype) - (filter_size - 1) / 2.0) ** 2)
               / (2.0 * filter_sigma ** 2)).astype(x1.dtype)
    g = g / g.sum()
    kernel = np.broadcast_to(np.outer(g, g)[:, :, None, None], (filter_size, filter_size, x1.shape[-1], 1))

    def blur(v):
        return o.depthwise_conv(v, kernel, padding="valid")
    c1, c2 = (k1 * max_val) ** 2, (k2 * max_val) ** 2
    mu1, mu2 = blur(x1), blur(x2)
    s1, s2, s12 = blur(x1 * x1) - mu1 * mu1, blur(x2 * x2) - mu2 * mu2, blur(x1 * x2) - mu1 * mu2
    ssim_map = ((2.0 * mu1 * mu2 + c1) * (2.0 * s12 + c2)) / ((mu1 * mu1 + mu2 * mu2 + c1) * (s1 + s2 + c2))
    per_image = np.mean(ssim_map, axis=(1, 2, 3))
    return per_image[0] if o._array(image1).ndim == 3 else per_image


__all__ = ["affine_transform", "crop_images", "elastic_transform", "extract_patches", "extract_patches_3d",
           "gaussian_blur", "hsv_to_rgb", "map_coordinates", "pad_images", "perspective_transform", "resize",
           "rgb_to_grayscale", "rgb_to_hsv", "scale_and_translate", "sobel_edges", "ssim"]
_KERNELS = {
    "linear": lambda x: np.maximum(0.0, 1 - np.abs(x)),
    "cubic": lambda x: np.where(x >= 2.0, 0.0, np.where(x >= 1.0, ((-0.5 * x + 2.5) * x - 4.0) * x + 2.0,
                                                        ((1.5 * x - 2.5) * x) * x + 1.0)),
    "lanczos3": lambda x: _lanczos(3.0, x),
    "lanczos5": lambda x: _lanczos(5.0, x),
}
_METHODS = {"linear": "linear", "bilinear": "linear", "trilinear": "linear", "cubic": "cubic",
            "bicubic": "cubic", "tricubic": "cubic", "lanczos3": "lanczos3", "lanczos5": "lanczos5"}


def _lanczos(radius: float, x):
    """``r sin(pi x) sin(pi x / r) / (pi x)^2`` (1 near 0), 0 beyond the radius."""
    y = radius * np.sin(np.pi * x) * np.sin(np.pi * x / radius)
    out = np.where(x > 1e-3, y / np.where(x != 0, np.pi ** 2 * x ** 2, 1), 1)
    return np.where(x > radius, 0.0, out)


def _resample_matrix(input_size: int, output_size: int, scale, translation, kernel, antialias, dtype):
    """``W[i, o]``: the weight of input ``i`` in output ``o``, which samples input position
    ``(o + 0.5) / scale - translation / scale - 0.5``; each column summed to 1 (0 if nearly empty),
    0 for samples outside ``[-0.5, input_size - 0.5]``."""
    inv_scale = 1.0 / scale
    kernel_scale = max(inv_scale, 1.0) if antialias else 1.0
    sample = (np.arange(output_size, dtype=dtype) + 0.5) * inv_scale - translation * inv_scale - 0.5
    weights = kernel(np.abs(sample[None, :] - np.arange(input_size, dtype=dtype)[:, None]) / kernel_scale)
    total = np.sum(weights, axis=0, keepdims=True)
    weights = np.where(np.abs(total) > 1000.0 * float(np.finfo(np.float32).eps),
                       weights / np.where(total != 0, total, 1), 0)
    inside = (sample >= -0.5) & (sample <= input_size - 0.5)
    return np.where(inside[None, :], weights, 0).astype(dtype)


def scale_and_translate(images, output_shape, scale, translation, spatial_dims, method, antialias=True):
    """Resample each axis in ``spatial_dims`` to ``output_shape[axis]``: output ``o`` reads input
    position ``(o + 0.5 - translation) / scale - 0.5`` through the ``method`` kernel (linear,
    cubic, lanczos3/5), as ``jax.image.scale_and_translate``. Integer images are rounded and clipped
    to their range."""
    if method not in _METHODS:
        raise ValueError(f"Invalid value for argument `method`. Expected of one {set(_METHODS)}. "
                         f"Received: method={method}")
    kernel = _KERNELS[_METHODS[method]]
    x = o._array(images)
    scale, translation = np.asarray(o._plain(scale)), np.asarray(o._plain(translation))
    dtype = np.result_type(scale.dtype, translation.dtype)
    dtype = dtype if dtype.kind == "f" else np.dtype("float32")
    integer = x.dtype.kind in "iu"
    out = x.astype(np.float32) if integer else x
    for i, d in enumerate(spatial_dims):
        d %= x.ndim
        w = _resample_matrix(x.shape[d], int(output_shape[d]), dtype.type(scale[i]),
                             dtype.type(translation[i]), kernel, antialias, dtype)
        out = o.moveaxis(o.tensordot(out, w.astype(out.dtype), axes=([d], [0])), -1, d)
    if integer:
        plain = o._plain(x)
        return np.clip(np.round(o._plain(out)), plain.min(), plain.max()).astype(x.dtype)
    return out


def _elastic_field(batch: int, height: int, width: int, sigma: float, seed, dtype) -> np.ndarray:
    """Keras' displacement field: ``N(0, 1) * sigma`` of shape ``(N, H, W)``, blurred by a Gaussian
    of size ``6 int(sigma) | 1`` and ``sigma``. Keras draws the x and y fields with one seed, so
    they are the same field; this returns it once."""
    from scratchnet import random as sn_random

    field = sn_random.normal((batch, height, width), dtype=dtype, seed=seed) * np.asarray(sigma, dtype)
    size = 6 * int(sigma) | 1
    return gaussian_blur(field[..., None], kernel_size=(size, size), sigma=(sigma, sigma))[..., 0]


def elastic_transform(images, alpha=20.0, sigma=5.0, interpolation="bilinear", fill_mode="reflect",
                      fill_value=0.0, seed=None, data_format=None):
    """Each pixel ``(y, x)`` read from ``(y + alpha d, x + alpha d)`` with ``d`` a smooth random
    field (:func:`_elastic_field`; Keras uses the same field for both axes), through
    :func:`map_coordinates` (``interpolation`` ``"nearest"``/``"bilinear"`` as order 0/1)."""
    if interpolation not in it.INTERPOLATIONS:
        raise ValueError("Invalid value for argument `interpolation`. Expected of one "
                         f"{it.INTERPOLATIONS}. Received: interpolation={interpolation}")
    if fill_mode not in it.FILL_MODES:
        raise ValueError(f"Invalid value for argument `fill_mode`. Expected of one {it.FILL_MODES}. "
                         f"Received: fill_mode={fill_mode}")
    x, back = _batched(images, data_format, "elastic_transform")
    x = o._floating(x)
    n, h, w, c = x.shape
    d = _elastic_field(n, h, w, sigma, seed, x.dtype)
    cols, rows = np.meshgrid(np.arange(w, dtype=x.dtype), np.arange(h, dtype=x.dtype), indexing="xy")
    alpha = np.asarray(alpha, x.dtype)
    order = it.INTERPOLATIONS.index(interpolation)
    images_out = [np.stack([map_coordinates(x[b, :, :, k], [rows + alpha * d[b], cols + alpha * d[b]],
                                            order, fill_mode=fill_mode, fill_value=fill_value)
                            for b in range(n)])
                  for k in range(c)]
    return back(np.stack(images_out, axis=-1).astype(x.dtype))


_MAP_FILL_MODES = ("constant", "nearest", "wrap", "mirror", "reflect")


def map_coordinates(inputs, coordinates, order, fill_mode="constant", fill_value=0):
    """``inputs`` read at fractional ``coordinates`` (one array per axis of ``inputs``): ``order``
    0 the nearest cell (rounded half to even), 1 linear between the two on each axis; outside
    the array as ``fill_mode``, as Keras' implementation (``scipy.ndimage.map_coordinates``'
    conventions)."""
    x = o._array(inputs)
    coords = np.asarray(o._plain(coordinates))
    if coords.shape[0] != x.ndim:
        raise ValueError("First dim of `coordinates` must be the same as the rank of `inputs`. Received "
                         f"inputs with shape: {x.shape} and coordinate leading dim of {coords.shape[0]}")
    if coords.ndim < 2:
        raise ValueError(f"Invalid coordinates rank: expected at least rank 2. Received input with shape: "
                         f"{coords.shape}")
    if fill_mode not in _MAP_FILL_MODES:
        raise ValueError(f"Invalid value for argument `fill_mode`. Expected one of {set(_MAP_FILL_MODES)}. "
                         f"Received: fill_mode={fill_mode}")
    if order not in (0, 1):
        raise NotImplementedError("map_coordinates currently requires order<=1")
    dtype = coords.dtype if coords.dtype.kind == "f" else np.dtype("float32")

    def nodes(c):
        if order == 0:
            return [(np.round(c).astype(np.int64), np.ones_like(c, dtype=dtype))]
        lower = np.floor(c)
        upper_weight = (c - lower).astype(dtype)
        return [(lower.astype(np.int64), 1 - upper_weight), (lower.astype(np.int64) + 1, upper_weight)]

    def place(index, size):
        if fill_mode == "constant":
            return np.clip(index, 0, size - 1), (index >= 0) & (index < size)
        if fill_mode == "nearest":
            return np.clip(index, 0, size - 1), np.ones(index.shape, bool)
        if fill_mode == "wrap":
            return np.mod(index, size), np.ones(index.shape, bool)
        if fill_mode == "mirror":  # period 2 (size - 1), the end cells not repeated (scipy's "mirror")
            s = max(size - 1, 1)
            return np.abs(np.mod(index + s, 2 * s) - s), np.ones(index.shape, bool)
        # Keras' "reflect": |index| folded at size, the end cell repeated past the far end
        doubled = np.mod(np.abs(index), 2 * size)
        return np.where(doubled < size, doubled, 2 * size - doubled - 1), np.ones(index.shape, bool)

    per_axis = [[(*place(i, n), w) for i, w in nodes(c)] for c, n in zip(coords, x.shape, strict=True)]
    result = 0
    for combination in itertools.product(*per_axis):
        indices, valid, weights = zip(*combination, strict=True)
        gathered = x[tuple(indices)]
        gathered = gathered.astype(dtype) if not isinstance(gathered, o.Traced) else gathered
        if fill_mode == "constant":
            gathered = np.where(np.all(valid, axis=0), gathered, np.asarray(fill_value, dtype))
        result = result + np.prod(weights, axis=0) * gathered
    if x.dtype.kind in "iu":
        return np.round(o._plain(result)).astype(x.dtype)
    return result.astype(x.dtype) if not isinstance(result, o.Traced) else result
