"""The 3-D loops: convolution and pooling over volumes ``(N, D, H, W, C)`` (CT scans, videos).

Each function is a sum over the window's offsets ``(a, b, e)`` (27 of them for a 3x3x3 kernel):
for one offset, the cells every output position reads form one strided slice of the padded input,
``xpad[:, a*dd : ... : sd, b*dh : ... : sh, e*dw : ... : sw, :]``, of the output's own shape
``(N, OD, OH, OW, C)``. A convolution multiplies that slice by the kernel's ``(C, F)`` matrix at the
offset; a pooling takes the maximum or the sum of the slices. The backward passes read the same
slices in the other direction. These are NumPy references with no Numba twin: the ``numba``
backend runs them as they are.
"""

from __future__ import annotations

import itertools

import numpy as np


def offset_slices(offset, strides, dilation, out_shape) -> tuple[slice, ...]:
    """The ``(N, D, H, W, C)`` index of the cells that the window's ``offset`` reads, one per output
    position: along each axis ``start = offset*dilation``, every ``stride``-th cell, ``out`` of them."""
    spatial = tuple(slice(o * d, o * d + (n - 1) * s + 1, s)
                    for o, s, d, n in zip(offset, strides, dilation, out_shape, strict=True))
    return (slice(None), *spatial, slice(None))


def offsets(window) -> itertools.product:
    """Every offset ``(a, b, e)`` of a ``(KD, KH, KW)`` window, in row-major order."""
    return itertools.product(*(range(k) for k in window))


def _grouped_matmul(patch, matrix, groups: int):
    """``patch @ matrix`` with the channels cut into ``groups``: ``patch`` ``(..., C)``, ``matrix``
    ``(C/G, F)``; group ``g`` multiplies channels ``g*C/G ...`` by the filters ``g*F/G ...``."""
    if groups == 1:
        return patch @ matrix  # (..., F)
    cg, filters = matrix.shape
    p = patch.reshape(*patch.shape[:-1], groups, cg)  # (..., G, C/G)
    m = matrix.reshape(cg, groups, filters // groups)  # (C/G, G, F/G)
    return np.einsum("...gc,cgf->...gf", p, m).reshape(*patch.shape[:-1], filters)  # (..., F)


def conv3d_forward(xpad, kernel, strides, dilation, out_shape, groups: int = 1):
    """``z[n, i, j, k, f] = sum_{a, b, e, c} xpad[n, i*sd + a*dd, j*sh + b*dh, k*sw + e*dw, c] *
    kernel[a, b, e, c, f]`` (per group): ``(N, Dp, Hp, Wp, C)`` -> ``(N, OD, OH, OW, F)``."""
    n, filters = xpad.shape[0], kernel.shape[-1]
    z = np.zeros((n, *out_shape, filters), dtype=np.result_type(xpad, kernel))
    for offset in offsets(kernel.shape[:3]):
        patch = xpad[offset_slices(offset, strides, dilation, out_shape)]  # (N, OD, OH, OW, C)
        z += _grouped_matmul(patch, kernel[offset], groups)
    return z


def conv3d_backward_kernel(xpad, dz, window, strides, dilation, groups: int = 1):
    """``dL/dkernel[a, b, e, c, f] = sum_{n, i, j, k} xpad[n, i*sd + a*dd, ..., c] * dz[n, i, j, k, f]``
    (per group): ``(KD, KH, KW, C/G, F)``."""
    out_shape = dz.shape[1:4]
    channels, filters = xpad.shape[-1], dz.shape[-1]
    cg, fg = channels // groups, filters // groups
    grad = np.zeros((*window, cg, filters), dtype=np.result_type(xpad, dz))
    dz_rows = dz.reshape(-1, groups, fg)  # (N*OD*OH*OW, G, F/G)
    for offset in offsets(window):
        patch = xpad[offset_slices(offset, strides, dilation, out_shape)]  # (N, OD, OH, OW, C)
        rows = patch.reshape(-1, groups, cg)  # (N*OD*OH*OW, G, C/G)
        if groups == 1:
            grad[offset] = rows[:, 0].T @ dz_rows[:, 0]  # (C, F)
        else:
            grad[offset] = np.einsum("rgc,rgf->cgf", rows, dz_rows).reshape(cg, filters)
    return grad


def conv3d_backward_input(dz, kernel, strides, dilation, padded_shape, groups: int = 1):
    """``dL/dxpad``: each ``dz[n, i, j, k] @ kernel[a, b, e]^T`` (per group) added back onto the cell
    that offset ``(a, b, e)`` read; ``(N, OD, OH, OW, F)`` -> ``(N, Dp, Hp, Wp, C)``."""
    out_shape = dz.shape[1:4]
    cg, filters = kernel.shape[-2:]
    dxpad = np.zeros((dz.shape[0], *padded_shape, cg * groups), dtype=np.result_type(dz, kernel))
    fg = filters // groups
    for offset in offsets(kernel.shape[:3]):
        if groups == 1:
            back = dz @ kernel[offset].T  # (N, OD, OH, OW, C)
        else:
            d = dz.reshape(*dz.shape[:-1], groups, fg)  # (N, OD, OH, OW, G, F/G)
            m = kernel[offset].reshape(cg, groups, fg)  # (C/G, G, F/G)
            back = np.einsum("...gf,cgf->...gc", d, m).reshape(*dz.shape[:-1], groups * cg)
        dxpad[offset_slices(offset, strides, dilation, out_shape)] += back
    return dxpad


def maxpool3d_forward(xpad, window, strides, out_shape):
    """``y[n, i, j, k, c] = max_{a, b, e} xpad[n, i*sd + a, j*sh + b, k*sw + e, c]``."""
    y = None
    for offset in offsets(window):
        patch = xpad[offset_slices(offset, strides, (1, 1, 1), out_shape)]  # (N, OD, OH, OW, C)
        y = patch.copy() if y is None else np.maximum(y, patch)
    return y


# TensorFlow's CPU MaxPool3DGrad (tensorflow/core/kernels/pooling_ops_3d.cc) counts a cell as a
# window's maximum when |x - max| < 1e-5, an absolute tolerance, not only when it equals it.
MAXPOOL3D_TIE = 1e-5


def maxpool3d_backward(xpad, y, dy, window, strides):
    """TensorFlow's MaxPool3D gradient: ``dy[n, i, j, k, c]`` goes, whole, to *every* cell of the
    window within ``1e-5`` of its maximum, ``|x - y| < 1e-5`` (so exact ties each get all of it, and
    so does a value 0.134 beside a maximum of 0.13401); overlapping windows add up."""
    dxpad = np.zeros(xpad.shape, dtype=dy.dtype)
    tie = xpad.dtype.type(MAXPOOL3D_TIE)
    for offset in offsets(window):
        index = offset_slices(offset, strides, (1, 1, 1), y.shape[1:4])
        dxpad[index] += np.where(np.abs(xpad[index] - y) < tie, dy, 0)
    return dxpad


def sumpool3d_forward(xpad, window, strides, out_shape):
    """``sum_{a, b, e} xpad[n, i*sd + a, j*sh + b, k*sw + e, c]``: each window's sum."""
    total = np.zeros((xpad.shape[0], *out_shape, xpad.shape[-1]), dtype=xpad.dtype)
    for offset in offsets(window):
        total += xpad[offset_slices(offset, strides, (1, 1, 1), out_shape)]
    return total


def sumpool3d_backward(dy, window, strides, padded_shape):
    """Each window's ``dy`` added to every cell of the window: ``(N, Dp, Hp, Wp, C)``."""
    dxpad = np.zeros((dy.shape[0], *padded_shape, dy.shape[-1]), dtype=dy.dtype)
    for offset in offsets(window):
        dxpad[offset_slices(offset, strides, (1, 1, 1), dy.shape[1:4])] += dy
    return dxpad
