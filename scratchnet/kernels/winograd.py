"""Winograd F(2x2, 3x3) convolution, NumPy reference: the same numbers as the direct convolution
(:mod:`scratchnet.kernels.conv`) with 16 multiplications per 2x2 outputs instead of 36.

Only for 3x3 kernels with stride 1 and dilation 1 (every convolution of the talk's models). The
output is cut into 2x2 tiles; tile ``(ti, tj)`` reads the 4x4 input tile ``d`` at rows
``2*ti .. 2*ti + 3`` and columns ``2*tj .. 2*tj + 3`` (tiles overlap by two rows and columns).
For one input channel ``c`` and one filter ``o``, with ``g = K[:, :, c, o]`` (3x3)::

    V = B^T d B                      input transform, 4x4 (additions only)
    U = G g G^T                      filter transform, 4x4 (once per call)
    M[p] = sum_c V[p, c] * U[p, c, o]  for each of the 16 positions p = (row, column) of the 4x4 tile
    Y = A^T M A                      output transform, 2x2 = y[2*ti:2*ti + 2, 2*tj:2*tj + 2, o]

with the constant matrices (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks",
2016)::

    B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]
    G   = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]]
    A^T = [[1, 1, 1, 0], [0, 1, -1, -1]]

The sum over channels at each tile position is a matrix product ``(tiles, C) @ (C, F)``: 16 of
them, one per position, and that is where the time goes. The direct convolution does
``(N*OH*OW, 9*C) @ (9*C, F)``: 36 multiplications per 2x2 outputs and channel pair, against 16.

Backward: the three steps are linear, so the gradients are their transposes, in reverse order
(``dY`` is the 2x2 tile of ``dL/dy``, zero where a tile hangs over the output's edge)::

    dM = A dY A^T                    4x4, for each tile and filter
    dU[p] = sum_tiles V[p]^T dM[p]   (C, F) for each position p: a product over all tiles
    dL/dK[:, :, c, o] = G^T dU G     3x3
    dV[p] = dM[p] U[p]^T             (tiles, C) for each position p
    dL/dd = B dV B^T                 4x4, added into the input cells the tile read (overlaps add)

Odd output sizes: the input is padded with zeros to whole tiles and the extra outputs dropped.
Row 3 of a tile reaches only output row 1 (``V``'s last row is ``d1 - d3`` and only ``A^T``'s
second row reads it), so the padding never touches an output that is kept.

Numerics, measured (``tests/test_winograd.py`` checks them): against the direct im2col product,
on talk_cnn's four convolution shapes (150x150x3 -> 64 at N=2; 74x74x64 -> 64, 36x36x64 -> 128,
17x17x128 -> 128 at N=4; normal inputs and output gradients, glorot-scaled kernels), the largest
difference, and that divided by the largest value of the result (forward / dL/dx / dL/dK):

- float32: max abs 9.5e-7-5.2e-6 / 3.1e-6-4.8e-6 / 1.2e-4-5.5e-4 (results of size 3-9 / 8-11 /
  150-750), relative 3.0e-7-5.6e-7 / 3.6e-7-5.1e-7 / 6.7e-7-8.2e-7. Against the exact result
  (float64) Winograd is off by 1.8e-7-8.1e-7 of the largest value, the direct product by
  2.0e-7-5.7e-7: about the same rounding, far inside the parity tolerances (1e-5 forward, 1e-4
  gradients). F(4x4, 3x3) (Lavin's matrices, entries up to 8 and down to 1/24) measured 7.9e-6
  and 8.7e-6 of the largest forward output on 74x74x64 -> 64 and 18x18x128 -> 128, against the
  exact result: 15-20x worse, too close to the 1e-5 forward tolerance, so this module stays at
  F(2x2, 3x3).
- float64: relative 5.6e-16-1.4e-15 (max abs 1.8e-15-9.2e-13).

The NumPy backend keeps the direct im2col path; this module is the readable definition that the
Numba twin (``numba_kernels.winograd_*``) is tested against, and which a learner can step into.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from scratchnet.kernels import pooling

B_T = np.array([[1, 0, -1, 0],
                [0, 1, 1, 0],
                [0, -1, 1, 0],
                [0, 1, 0, -1]], dtype=np.float64)
G = np.array([[1, 0, 0],
              [0.5, 0.5, 0.5],
              [0.5, -0.5, 0.5],
              [0, 0, 1]], dtype=np.float64)
A_T = np.array([[1, 1, 1, 0],
                [0, 1, -1, -1]], dtype=np.float64)


def supports(kernel_shape, strides, dilation) -> bool:
    """True for the shapes this algorithm computes: a 3x3 kernel, stride 1, dilation 1."""
    return tuple(kernel_shape[:2]) == (3, 3) and tuple(strides) == (1, 1) and tuple(dilation) == (1, 1)


def _check(where: str, kernel_shape, strides, dilation) -> None:
    if not supports(kernel_shape, strides, dilation):
        raise ValueError(
            f"{where}: Winograd F(2x2, 3x3) needs a 3x3 kernel with strides (1, 1) and dilation "
            f"(1, 1); received kernel {tuple(kernel_shape[:2])}, strides {tuple(strides)}, "
            f"dilation {tuple(dilation)}")


def tile_counts(out_hw) -> tuple[int, int]:
    """2x2 output tiles per column and per row: ``(ceil(OH / 2), ceil(OW / 2))``."""
    oh, ow = out_hw
    return -(-oh // 2), -(-ow // 2)


def filter_transform(kernel: np.ndarray) -> np.ndarray:
    """``U = G g G^T`` for every (channel, filter): ``(3, 3, C, F)`` -> ``(16, C, F)``."""
    g = kernel.transpose(2, 3, 0, 1)  # (C, F, 3, 3)
    Gm = G.astype(kernel.dtype)
    U = Gm @ g @ Gm.T  # (C, F, 4, 4)
    c, f = g.shape[:2]
    return U.reshape(c, f, 16).transpose(2, 0, 1)  # (16, C, F): one (C, F) matrix per position


def filter_gradient(dU: np.ndarray) -> np.ndarray:
    """``dL/dg = G^T dU G``, the transpose of :func:`filter_transform`: ``(16, C, F)`` -> ``(3, 3, C, F)``."""
    _, c, f = dU.shape
    dU = dU.transpose(1, 2, 0).reshape(c, f, 4, 4)  # (C, F, 4, 4)
    Gm = G.astype(dU.dtype)
    dg = Gm.T @ dU @ Gm  # (C, F, 3, 3)
    return dg.transpose(2, 3, 0, 1)  # (3, 3, C, F)


def input_transform(xpad: np.ndarray, out_hw) -> np.ndarray:
    """``V = B^T d B`` for every 4x4 input tile ``d``: ``(N, Hp, Wp, C)`` -> ``(16, N*TH*TW, C)``."""
    n, hp, wp, c = xpad.shape
    th, tw = tile_counts(out_hw)
    need_h, need_w = 2 * th + 2, 2 * tw + 2
    if hp < need_h or wp < need_w:  # odd output: zeros to whole tiles
        xpad = np.pad(xpad, ((0, 0), (0, max(0, need_h - hp)), (0, max(0, need_w - wp)), (0, 0)))
    d = sliding_window_view(xpad, (4, 4), axis=(1, 2))[:, :2 * th:2, :2 * tw:2]  # (N, TH, TW, C, 4, 4)
    Bt = B_T.astype(xpad.dtype)
    V = Bt @ d @ Bt.T  # (N, TH, TW, C, 4, 4)
    return V.reshape(n * th * tw, c, 16).transpose(2, 0, 1)  # (16, N*TH*TW, C)


def input_gradient(dV: np.ndarray, n: int, out_hw, padded_hw) -> np.ndarray:
    """``dL/dd = B dV B^T`` per tile, added into the cells each tile read: ``(16, N*TH*TW, C)`` ->
    ``(N, Hp, Wp, C)`` (the transpose of :func:`input_transform`)."""
    th, tw = tile_counts(out_hw)
    c = dV.shape[2]
    dV = dV.transpose(1, 2, 0).reshape(n, th, tw, c, 4, 4)  # (N, TH, TW, C, 4, 4)
    Bt = B_T.astype(dV.dtype)
    dd = Bt.T @ dV @ Bt  # (N, TH, TW, C, 4, 4)
    hp, wp = padded_hw
    dxpad = np.zeros((n, max(hp, 2 * th + 2), max(wp, 2 * tw + 2), c), dtype=dV.dtype)
    for a in range(4):
        for b in range(4):  # tile cell (a, b) of every tile at once; tiles overlap, so add
            dxpad[:, a:a + 2 * th:2, b:b + 2 * tw:2, :] += dd[:, :, :, :, a, b]
    return dxpad[:, :hp, :wp, :]  # (N, Hp, Wp, C)


def output_transform(M: np.ndarray, n: int, out_hw) -> np.ndarray:
    """``Y = A^T M A`` for every tile: ``(16, N*TH*TW, F)`` -> ``(N, OH, OW, F)``."""
    th, tw = tile_counts(out_hw)
    f = M.shape[2]
    M = M.transpose(1, 2, 0).reshape(n, th, tw, f, 4, 4)  # (N, TH, TW, F, 4, 4)
    At = A_T.astype(M.dtype)
    Y = At @ M @ At.T  # (N, TH, TW, F, 2, 2)
    y = Y.transpose(0, 1, 4, 2, 5, 3).reshape(n, 2 * th, 2 * tw, f)  # (N, 2*TH, 2*TW, F)
    oh, ow = out_hw
    return y[:, :oh, :ow]


def output_gradient(dy: np.ndarray) -> np.ndarray:
    """``dM = A dY A^T`` for every 2x2 tile of ``dy`` (zeros past the edge): ``(N, OH, OW, F)`` ->
    ``(16, N*TH*TW, F)`` (the transpose of :func:`output_transform`)."""
    n, oh, ow, f = dy.shape
    th, tw = tile_counts((oh, ow))
    dy = np.pad(dy, ((0, 0), (0, 2 * th - oh), (0, 2 * tw - ow), (0, 0)))  # (N, 2*TH, 2*TW, F)
    dY = dy.reshape(n, th, 2, tw, 2, f).transpose(0, 1, 3, 5, 2, 4)  # (N, TH, TW, F, 2, 2)
    At = A_T.astype(dy.dtype)
    dM = At.T @ dY @ At  # (N, TH, TW, F, 4, 4)
    return dM.reshape(n * th * tw, f, 16).transpose(2, 0, 1)  # (16, N*TH*TW, F)


def winograd_conv2d_forward(xpad, kernel, strides, dilation, out_hw):
    """``(N, Hp, Wp, C)`` padded input, ``(3, 3, C, F)`` kernel -> ``(N, OH, OW, F)`` (no bias);
    the same result as ``conv2d_forward``, computed tile by tile as ``A^T [U . V] A``."""
    _check("winograd_conv2d_forward", kernel.shape, strides, dilation)
    V = input_transform(xpad, out_hw)  # (16, T, C)
    U = filter_transform(kernel.astype(xpad.dtype, copy=False))  # (16, C, F)
    M = V @ U  # (16, T, F): one matrix product per tile position
    return output_transform(M, xpad.shape[0], out_hw)


def winograd_conv2d_bias_relu_forward(xpad, kernel, bias, strides, dilation, out_hw):
    """``z = winograd_conv2d_forward(...) + bias`` and ``a = max(z, 0)``; returns ``(z, a)``."""
    z = winograd_conv2d_forward(xpad, kernel, strides, dilation, out_hw)
    z += bias  # in place: z is a fresh array
    return z, np.maximum(z, 0)


def winograd_conv2d_bias_relu(xpad, kernel, bias, strides, dilation, out_hw):
    """``a = max(winograd_conv2d_forward(...) + bias, 0)`` only (no ``z`` array kept)."""
    z = winograd_conv2d_forward(xpad, kernel, strides, dilation, out_hw)
    z += bias  # in place: z is a fresh array
    return np.maximum(z, 0, out=z)


def winograd_conv2d_bias_relu_maxpool2x2(xpad, kernel, bias, strides, dilation, out_hw, pool_out_hw,
                                         with_argmax):
    """Conv2D(relu) then MaxPooling2D((2, 2)): ``y = maxpool2d(winograd_conv2d_bias_relu(...))``,
    2x2 windows with stride 2, and (``with_argmax``) each window's ``argmax``; ``(y, argmax)``, both
    ``(N, PH, PW, F)``, ``argmax`` None otherwise. A 2x2 output tile is exactly one pooling window:
    the Numba twin pools each tile as it leaves the output transform, never storing the activation.
    Here the two steps one after the other."""
    a = winograd_conv2d_bias_relu(xpad, kernel, bias, strides, dilation, out_hw)  # (N, OH, OW, F)
    if with_argmax:
        return pooling.maxpool2d_forward(a, (2, 2), (2, 2), pool_out_hw)
    return pooling.maxpool2d_values(a, (2, 2), (2, 2), pool_out_hw), None


def winograd_conv2d_backward_kernel(xpad, dy, kernel_hw, strides, dilation):
    """``dL/dK = G^T [sum_tiles V^T dM] G`` with ``V = B^T d B`` and ``dM = A dY A^T``; the same
    result as ``conv2d_backward_kernel``: ``(3, 3, C, F)``."""
    _check("winograd_conv2d_backward_kernel", kernel_hw, strides, dilation)
    out_hw = dy.shape[1:3]
    V = input_transform(xpad, out_hw)  # (16, T, C)
    dM = output_gradient(dy.astype(xpad.dtype, copy=False))  # (16, T, F)
    dU = V.transpose(0, 2, 1) @ dM  # (16, C, F): one matrix product per tile position
    return filter_gradient(dU)


def winograd_conv2d_backward_input(dy, kernel, strides, dilation, padded_hw):
    """``dL/dxpad``: ``B [dM U^T] B^T`` per tile with ``dM = A dY A^T``, added into the cells each
    tile read; the same result as ``conv2d_backward_input``: ``(N, Hp, Wp, C)``."""
    _check("winograd_conv2d_backward_input", kernel.shape, strides, dilation)
    dM = output_gradient(dy)  # (16, T, F)
    U = filter_transform(kernel.astype(dy.dtype, copy=False))  # (16, C, F)
    dV = dM @ U.transpose(0, 2, 1)  # (16, T, C): one matrix product per tile position
    return input_gradient(dV, dy.shape[0], dy.shape[1:3], padded_hw)
