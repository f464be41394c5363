"""More of ``keras.ops.nn`` for :mod:`scratchnet.ops`: the transposed and separable convolutions,
adaptive pooling, PSNR, and ``unfold``/``fold`` (im2col and col2im).

The formulas are the layers' (``Conv*DTranspose`` in :mod:`scratchnet.layers.conv`, the adaptive
pooling windows of :mod:`scratchnet.layers.adaptive_pooling`), written with indexing, ``einsum``
and products of 0/1 placement matrices, so the gradient tape follows them. ``unfold`` and ``fold``
use one placement matrix ``S`` (which padded pixel each window cell reads): ``unfold`` reads with
``S``, ``fold`` writes back with its transpose, and adds where windows overlap.
"""

from __future__ import annotations

import numpy as np

import scratchnet.ops as o
from scratchnet.layers._args import output_size_and_pads
from scratchnet.layers.adaptive_pooling import adaptive_windows


def _placement(n_in: int, k: int, s: int, d: int, n_out: int) -> np.ndarray:
    """``P[i, a, p] = 1`` where input cell ``i`` through kernel tap ``a`` lands on output ``p``
    (``p = i * s + a * d``) of a transposed convolution along one axis."""
    p = np.zeros((n_in, k, n_out))
    i, a = np.meshgrid(np.arange(n_in), np.arange(k), indexing="ij")
    target = i * s + a * d
    inside = target < n_out
    p[i[inside], a[inside], target[inside]] = 1.0
    return p


def _transpose_length(n, k, s, d, padding, output_padding):
    """Keras' output length of a transposed convolution (``Conv*DTranspose._output_size``)."""
    e = (k - 1) * d + 1
    if padding == "valid":
        return (n - 1) * s + e + (max(e, s) - e if output_padding is None else output_padding)
    return n * s if output_padding is None else (n - 1) * s + k % 2 + output_padding


def conv_transpose(inputs, kernel, strides=1, padding="valid", output_padding=None, data_format=None,
                   dilation_rate=1):
    """The transposed convolution (the input gradient of ``conv``): each input cell paints
    ``kernel[a] @ x[i]`` onto output ``i * stride + a * dilation - before``, overlaps adding;
    kernel ``(K..., C_out, C_in)``. Output size and ``before`` as the Conv*DTranspose layers."""
    x = o._channels_last(o._floating(inputs), data_format)
    kernel = o._floating(kernel)
    d = x.ndim - 2
    if kernel.ndim != d + 2 or kernel.shape[-1] != x.shape[-1]:
        raise ValueError(f"The number of input channels must match the last dimension of the kernel; "
                         f"received inputs of shape {x.shape} and a kernel of shape {kernel.shape}")
    strides = o._tuple(strides, d, "strides")
    dilation = o._tuple(dilation_rate, d, "dilation_rate")
    pads = (None,) * d if output_padding is None else o._tuple(output_padding, d, "output_padding")
    ins, taps, outs = "ijk"[:d], "abc"[:d], "opq"[:d]
    contributions = np.einsum(f"n{ins}c,{taps}fc->n{ins}{taps}f", x, kernel)  # each cell through each tap
    placements, crops = [], []
    for axis in range(d):
        n, k = x.shape[1 + axis], kernel.shape[axis]
        n_out = _transpose_length(n, k, strides[axis], dilation[axis], padding, pads[axis])
        _, before, after = output_size_and_pads(n_out, k, strides[axis], dilation[axis], padding)
        placement = _placement(n, k, strides[axis], dilation[axis], n_out + before + after)
        placements.append(placement.astype(x.dtype))
        crops.append(slice(before, before + n_out))
    subscripts = ",".join(f"{i}{a}{p}" for i, a, p in zip(ins, taps, outs, strict=True))
    padded = np.einsum(f"n{ins}{taps}f,{subscripts}->n{outs}f", contributions, *placements)
    return o._channels_back(padded[(slice(None), *crops)], data_format)


def separable_conv(inputs, depthwise_kernel, pointwise_kernel, strides=1, padding="valid", data_format=None,
                   dilation_rate=1):
    """``depthwise_conv`` then a 1x1 ``conv`` with ``pointwise_kernel`` ``(1..., C * M, F)``
    (1 or 2 spatial axes, as Keras)."""
    if np.ndim(inputs) - 2 > 2:
        raise ValueError("`num_spatial_dims` must be 1 or 2. Received: "
                         f"num_spatial_dims={np.ndim(inputs) - 2}.")
    depthwise = o.depthwise_conv(inputs, depthwise_kernel, strides=strides, padding=padding,
                                 data_format=data_format, dilation_rate=dilation_rate)
    return o.conv(depthwise, pointwise_kernel, strides=1, padding="valid", data_format=data_format)


def psnr(x1, x2, max_val):
    """The peak signal-to-noise ratio ``20 log10(max_val) - 10 log10(mean((x1 - x2)^2))`` in dB."""
    x1, x2 = o._floating(x1), o._floating(x2)
    if x1.shape != x2.shape:
        raise ValueError(f"Input shapes {x1.shape} and {x2.shape} must match for PSNR calculation. ")
    mse = np.mean((x1 - x2) * (x1 - x2))
    return 20 * np.log10(np.asarray(max_val, x2.dtype)) - 10 * o.log10(mse)


def _adaptive_pool(inputs, output_size, data_format, reduce, what):
    x = o._channels_last(o._floating(inputs), data_format)
    d = x.ndim - 2
    if d not in (1, 2, 3):
        raise ValueError(f"ops.{what}: expected inputs of rank 3, 4 or 5 (batch, spatial..., channels), "
                         f"received shape {x.shape}")
    sizes = o._tuple(output_size, d, "output_size")
    for axis, n in enumerate(sizes):  # one axis after the other, as Keras and the layers pool
        windows = adaptive_windows(x.shape[1 + axis], int(n))
        lead = (slice(None),) * (1 + axis)
        cells = [reduce(x[lead + (slice(lo, hi),)], axis=1 + axis) for lo, hi in windows]
        x = np.stack(cells, axis=1 + axis)
    return o._channels_back(x, data_format)


def adaptive_average_pool(inputs, output_size, data_format=None):
    """The mean over each adaptive window (cell ``i`` of ``n`` over ``L`` positions covers
    ``floor(i L / n)`` to ``ceil((i + 1) L / n)``), axis by axis."""
    return _adaptive_pool(inputs, output_size, data_format, np.mean, "adaptive_average_pool")


def adaptive_max_pool(inputs, output_size, data_format=None):
    """The maximum over each adaptive window."""
    return _adaptive_pool(inputs, output_size, data_format, np.max, "adaptive_max_pool")


def _pair(value):
    return (value, value) if isinstance(value, int) else tuple(value)


def _window_matrix(h, w, k, d, p, s):
    """``S[(a, b, l), (r, c)] = 1`` where window ``l``'s tap ``(a, b)`` reads padded pixel ``(r, c)``:
    ``(kH * kW * L, Hp * Wp)``, with ``L = nH * nW`` windows."""
    hp, wp = h + 2 * p[0], w + 2 * p[1]
    nh = (hp - d[0] * (k[0] - 1) - 1) // s[0] + 1
    nw = (wp - d[1] * (k[1] - 1) - 1) // s[1] + 1
    a, b, i, j = np.meshgrid(np.arange(k[0]), np.arange(k[1]), np.arange(nh), np.arange(nw), indexing="ij")
    rows = (i * s[0] + a * d[0]) * wp + (j * s[1] + b * d[1])
    matrix = np.zeros((k[0] * k[1] * nh * nw, hp * wp))
    matrix[np.arange(matrix.shape[0]), rows.reshape(-1)] = 1.0
    return matrix, nh * nw


def unfold(x, kernel_size, dilation=1, padding=0, stride=1):
    """im2col of an NCHW batch (as ``torch.nn.functional.unfold``, Keras' layout for this op):
    ``(N, C, H, W) -> (N, C * kH * kW, L)``, column ``l`` the ``l``-th window (row-major), row
    ``c * kH * kW + a * kW + b`` its tap ``(a, b)`` of channel ``c``."""
    x = o._floating(x)
    if x.ndim != 4:
        raise ValueError(f"ops.unfold: expected a 4-D (N, C, H, W) input, received shape {x.shape}")
    k, d, p, s = _pair(kernel_size), _pair(dilation), _pair(padding), _pair(stride)
    n, c, h, w = x.shape
    matrix, windows = _window_matrix(h, w, k, d, p, s)
    padded = np.pad(x, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])))
    read = np.matmul(np.reshape(padded, (n, c, -1)), matrix.T.astype(x.dtype))  # (N, C, kH*kW*L)
    return np.reshape(read, (n, c * k[0] * k[1], windows))


def fold(x, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """col2im, the transpose of :func:`unfold`: ``(N, C * kH * kW, L) -> (N, C, oH, oW)``, each
    window's cells added back at the pixels they were read from (overlaps summed), the padding
    cut off."""
    x = o._floating(x)
    if x.ndim != 3:
        raise ValueError(f"ops.fold: expected a 3-D (N, C * kH * kW, L) input, received shape {x.shape}")
    k, d, p, s, size = _pair(kernel_size), _pair(dilation), _pair(padding), _pair(stride), _pair(output_size)
    n = x.shape[0]
    c = x.shape[1] // (k[0] * k[1])
    matrix, windows = _window_matrix(size[0], size[1], k, d, p, s)
    if x.shape[2] != windows:
        raise ValueError(f"ops.fold: expected {windows} windows for output_size={size}, received "
                         f"{x.shape[2]}")
    written = np.matmul(np.reshape(x, (n, c, -1)), matrix.astype(x.dtype))  # (N, C, Hp*Wp)
    hp, wp = size[0] + 2 * p[0], size[1] + 2 * p[1]
    padded = np.reshape(written, (n, c, hp, wp))
    return padded[:, :, p[0]:p[0] + size[0], p[1]:p[1] + size[1]]
