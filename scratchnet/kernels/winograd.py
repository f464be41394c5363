"""Winograd F(2x2, 3x3) and F(4x4, 3x3) convolutions, NumPy reference: the same numbers as the
direct convolution (:mod:`scratchnet.kernels.conv`) with 16 multiplications per 2x2 outputs (or 36
per 4x4 outputs) instead of 36 (or 144).

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
  gradients).
- float64: relative 5.6e-16-1.4e-15 (max abs 1.8e-15-9.2e-13).

F(4x4, 3x3) (``winograd4_*``, forward and both gradients). The same three steps and their
transposes with 6x6 input tiles starting every 4 rows and columns, ``B4_T`` (6x6), ``G4`` (6x3)
and ``A4_T`` (4x6) below, and 36 products per chunk of tiles: 36 multiplications per 16 outputs,
1.78x fewer than F(2x2, 3x3), paid for with transforms that are no longer additions only and with
more rounding. The matrices are Toom-Cook's for the points 0, 1, -1, 1/2, -2 and infinity.
Measured in float32 against the exact result, on talk_cnn's shapes, as a fraction of the largest
output: 1.7e-6-3.3e-6 (F(2x2, 3x3) 1.6e-7-4.4e-7; the direct im2col product 1.9e-7-5.9e-7);
Lavin's points 0, +-1, +-2 measured 6.9e-6-8.5e-6, and 0, +-1, +-1/2 6.9e-6-1.5e-5 (2026-12-04, 2
images a shape): 3-10x inside the 1e-5 forward tolerance of the parity tests, where Lavin's points
would leave 1.2x. float64: up
to 7.8e-15 (max abs 6e-14). Its gradients, the same measurement (4 images a shape, 2 for the
first): dL/dx 1.6e-6-2.7e-6 (F(2x2) 3.6e-7-5.2e-7, im2col 2.1e-7-3.0e-7), dL/dK 2.7e-6-4.3e-6 on
the three 64+ channel layers and 8.1e-6 on the 3-channel first one (F(2x2) 6.8e-7-9.5e-7, im2col
4.1e-7-5.4e-7): 12-37x inside the parity tests' 1e-4 for gradients. float64: up to 1.4e-14.
On 32-channel shapes (14x14x32 -> 64 as in rps_cnn, 31x31x32 -> 32; 32 images): forward
1.8e-6-2.3e-6, dL/dx 1.3e-6-1.8e-6, dL/dK 2.6e-6-3.3e-6 (im2col up to 7.0e-7).

Output sizes that are not a multiple of 4 pad the input with zeros to whole tiles, and the extra
outputs are dropped (here too, kept outputs never read a padded row through a nonzero
coefficient in exact arithmetic; in floating point the zeros add nothing).

The NumPy backend keeps the direct im2col path; this module is the readable definition that the
Numba twins (``numba_kernels.winograd_*``, ``winograd4_*``) are tested against, and which a learner
can step into.
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

# F(4x4, 3x3): 6x6 input tiles, 4x4 output tiles, 36 multiplications per 16 outputs (2.25 an
# output, against 4 for F(2x2, 3x3) and 9 for the direct sum). Toom-Cook matrices for the points
# 0, 1, -1, 1/2, -2 and infinity. Lavin's points (0, +-1, +-2) measured 2.4-3.2x the error of these
# (see "Numerics" above); every entry of B4_T and A4_T is exact in binary floating point.
B4_T = np.array([[1, -3 / 2, -2, 3 / 2, 1, 0],
                 [0, -1, 1 / 2, 5 / 2, 1, 0],
                 [0, 1, -5 / 2, 1 / 2, 1, 0],
                 [0, -2, -1, 2, 1, 0],
                 [0, 1 / 2, -1, -1 / 2, 1, 0],
                 [0, 1, -3 / 2, -2, 3 / 2, 1]], dtype=np.float64)
G4 = np.array([[1, 0, 0],
               [1 / 3, 1 / 3, 1 / 3],
               [-1 / 3, 1 / 3, -1 / 3],
               [-16 / 15, -8 / 15, -4 / 15],
               [1 / 15, -2 / 15, 4 / 15],
               [0, 0, 1]], dtype=np.float64)
A4_T = np.array([[1, 1, 1, 1, 1, 0],
                 [0, 1, -1, 1 / 2, -2, 0],
                 [0, 1, 1, 1 / 4, 4, 0],
                 [0, 1, -1, 1 / 8, -8, 1]], dtype=np.float64)

TILE_MATRICES = {2: (B_T, G, A_T), 4: (B4_T, G4, A4_T)}  # output tile size m -> (B^T, G, A^T)


def supports(kernel_shape, strides, dilation) -> bool:
    """True for the shapes this algorithm computes: a 3x3 kernel, stride 1, dilation 1."""
    return tuple(kernel_shape[:2]) == (3, 3) and tuple(strides) == (1, 1) and tuple(dilation) == (1, 1)


def _check(where: str, kernel_shape, strides, dilation, m: int = 2) -> None:
    if not supports(kernel_shape, strides, dilation):
        raise ValueError(
            f"{where}: Winograd F({m}x{m}, 3x3) needs a 3x3 kernel with strides (1, 1) and dilation "
            f"(1, 1); received kernel {tuple(kernel_shape[:2])}, strides {tuple(strides)}, "
            f"dilation {tuple(dilation)}")


def tile_counts(out_hw, m: int = 2) -> tuple[int, int]:
    """``m x m`` output tiles per column and per row: ``(ceil(OH / m), ceil(OW / m))``."""
    oh, ow = out_hw
    return -(-oh // m), -(-ow // m)


def filter_transform(kernel: np.ndarray, m: int = 2) -> np.ndarray:
    """``U = G g G^T`` for every (channel, filter): ``(3, 3, C, F)`` -> ``((m + 2)**2, C, F)``.

    F(2x2, 3x3) computes it in the kernel's type (G holds 0, 1 and 1/2: few roundings);
    F(4x4, 3x3) in float64, rounded once to the kernel's type (G4 holds 1/3 and 1/15, which
    float32 cannot hold exactly).

    The C*F little 3x3 kernels ride along as columns: ``G @ g`` over the kernel's row axis is one
    matrix product ``(m + 2, 3) @ (3, 3*C*F)``, and ``(G g) G^T`` over its column axis is ``m + 2``
    products ``(m + 2, 3) @ (3, C*F)``. (Written as C*F separate 3x3 products, the same sums took
    0.26 ms for rps_cnn's 3x3x32x64 kernel in F(4x4, 3x3), against 0.06 ms this way.)"""
    _, Gm, _ = TILE_MATRICES[m]
    _, _, c, f = kernel.shape
    g = kernel if m == 2 else kernel.astype(np.float64)
    Gm = Gm.astype(g.dtype)
    Gg = (Gm @ g.reshape(3, 3 * c * f)).reshape(m + 2, 3, c * f)  # [a, j] = sum_i G[a, i] g[i, j]
    U = Gm @ Gg  # (m + 2, m + 2, C*F): [a, b] = sum_j G[b, j] (G g)[a, j]
    return U.reshape((m + 2) ** 2, c, f).astype(kernel.dtype, copy=False)  # one (C, F) per position


def filter_gradient(dU: np.ndarray, m: int = 2) -> np.ndarray:
    """``dL/dg = G^T dU G``, the transpose of :func:`filter_transform`: ``((m + 2)**2, C, F)`` ->
    ``(3, 3, C, F)`` (F(4x4, 3x3) in float64 rounded once, as :func:`filter_transform`; the same
    two matrix products with ``G^T`` in place of ``G``)."""
    _, Gm, _ = TILE_MATRICES[m]
    _, c, f = dU.shape
    du = dU if m == 2 else dU.astype(np.float64)
    Gm = Gm.astype(du.dtype)
    Gtdu = (Gm.T @ du.reshape(m + 2, (m + 2) * c * f)).reshape(3, m + 2, c * f)  # G^T dU
    dg = Gm.T @ Gtdu  # (3, 3, C*F): [i, j] = sum_b (G^T dU)[i, b] G[b, j]
    return dg.reshape(3, 3, c, f).astype(dU.dtype, copy=False)


def input_transform(xpad: np.ndarray, out_hw, m: int = 2) -> np.ndarray:
    """``V = B^T d B`` for every ``(m + 2) x (m + 2)`` input tile ``d`` (tile ``(ti, tj)`` starts at
    row ``m*ti``, column ``m*tj``): ``(N, Hp, Wp, C)`` -> ``((m + 2)**2, N*TH*TW, C)``."""
    n, hp, wp, c = xpad.shape
    th, tw = tile_counts(out_hw, m)
    need_h, need_w = m * th + 2, m * tw + 2
    if hp < need_h or wp < need_w:  # output not a whole number of tiles: zeros to whole tiles
        xpad = np.pad(xpad, ((0, 0), (0, max(0, need_h - hp)), (0, max(0, need_w - wp)), (0, 0)))
    # (N, TH, TW, C, m + 2, m + 2): tile (ti, tj) starts at row m*ti, column m*tj
    d = sliding_window_view(xpad, (m + 2, m + 2), axis=(1, 2))[:, :m * th:m, :m * tw:m]
    Bt = TILE_MATRICES[m][0].astype(xpad.dtype)
    V = Bt @ d @ Bt.T  # (N, TH, TW, C, m + 2, m + 2)
    return V.reshape(n * th * tw, c, (m + 2) ** 2).transpose(2, 0, 1)  # ((m+2)**2, N*TH*TW, C)


def input_gradient(dV: np.ndarray, n: int, out_hw, padded_hw, m: int = 2) -> np.ndarray:
    """``dL/dd = B dV B^T`` per tile, added into the cells each tile read: ``((m + 2)**2, N*TH*TW,
    C)`` -> ``(N, Hp, Wp, C)`` (the transpose of :func:`input_transform`)."""
    th, tw = tile_counts(out_hw, m)
    c, k = dV.shape[2], m + 2
    dV = dV.transpose(1, 2, 0).reshape(n, th, tw, c, k, k)  # (N, TH, TW, C, m + 2, m + 2)
    Bt = TILE_MATRICES[m][0].astype(dV.dtype)
    dd = Bt.T @ dV @ Bt  # (N, TH, TW, C, m + 2, m + 2)
    hp, wp = padded_hw
    dxpad = np.zeros((n, max(hp, m * th + 2), max(wp, m * tw + 2), c), dtype=dV.dtype)
    for a in range(k):
        for b in range(k):  # tile cell (a, b) of every tile at once; tiles overlap, so add
            dxpad[:, a:a + m * th:m, b:b + m * tw:m, :] += dd[:, :, :, :, a, b]
    return dxpad[:, :hp, :wp, :]  # (N, Hp, Wp, C)


def output_transform(M: np.ndarray, n: int, out_hw, m: int = 2) -> np.ndarray:
    """``Y = A^T M A`` for every tile: ``((m + 2)**2, N*TH*TW, F)`` -> ``(N, OH, OW, F)``."""
    th, tw = tile_counts(out_hw, m)
    f = M.shape[2]
    M = M.transpose(1, 2, 0).reshape(n, th, tw, f, m + 2, m + 2)  # (N, TH, TW, F, m+2, m+2)
    At = TILE_MATRICES[m][2].astype(M.dtype)
    Y = At @ M @ At.T  # (N, TH, TW, F, m, m)
    y = Y.transpose(0, 1, 4, 2, 5, 3).reshape(n, m * th, m * tw, f)  # (N, m*TH, m*TW, F)
    oh, ow = out_hw
    return y[:, :oh, :ow]


def output_gradient(dy: np.ndarray, m: int = 2) -> np.ndarray:
    """``dM = A dY A^T`` for every ``m x m`` tile of ``dy`` (zeros past the edge): ``(N, OH, OW,
    F)`` -> ``((m + 2)**2, N*TH*TW, F)`` (the transpose of :func:`output_transform`)."""
    n, oh, ow, f = dy.shape
    th, tw = tile_counts((oh, ow), m)
    dy = np.pad(dy, ((0, 0), (0, m * th - oh), (0, m * tw - ow), (0, 0)))  # (N, m*TH, m*TW, F)
    dY = dy.reshape(n, th, m, tw, m, f).transpose(0, 1, 3, 5, 2, 4)  # (N, TH, TW, F, m, m)
    At = TILE_MATRICES[m][2].astype(dy.dtype)
    dM = At.T @ dY @ At  # (N, TH, TW, F, m + 2, m + 2)
    return dM.reshape(n * th * tw, f, (m + 2) ** 2).transpose(2, 0, 1)  # ((m+2)**2, N*TH*TW, F)


def _forward(where, xpad, kernel, strides, dilation, out_hw, m):
    """``A^T [U . V] A`` with ``m x m`` output tiles: ``(N, OH, OW, F)``."""
    _check(where, kernel.shape, strides, dilation, m)
    V = input_transform(xpad, out_hw, m)  # ((m+2)**2, T, C)
    U = filter_transform(kernel.astype(xpad.dtype, copy=False), m)  # ((m+2)**2, C, F)
    M = V @ U  # ((m+2)**2, T, F): one matrix product per tile position
    return output_transform(M, xpad.shape[0], out_hw, m)


def _bias_relu_forward(where, xpad, kernel, bias, strides, dilation, out_hw, m):
    """``z = conv + bias`` and ``a = max(z, 0)``: ``(z, a)``."""
    z = _forward(where, xpad, kernel, strides, dilation, out_hw, m)
    z += bias  # in place: z is a fresh array
    return z, np.maximum(z, 0)


def _bias_relu(where, xpad, kernel, bias, strides, dilation, out_hw, m):
    """``z = conv + bias``, then ``max(z, 0)`` written over it: ``a`` only."""
    z = _forward(where, xpad, kernel, strides, dilation, out_hw, m)
    z += bias  # in place: z is a fresh array
    return np.maximum(z, 0, out=z)


def _bias_relu_maxpool2x2(where, xpad, kernel, bias, strides, dilation, out_hw, pool_out_hw,
                          with_argmax, m):
    a = _bias_relu(where, xpad, kernel, bias, strides, dilation, out_hw, m)  # (N, OH, OW, F)
    if with_argmax:
        return pooling.maxpool2d_forward(a, (2, 2), (2, 2), pool_out_hw)
    return pooling.maxpool2d_values(a, (2, 2), (2, 2), pool_out_hw), None


def winograd_conv2d_forward(xpad, kernel, strides, dilation, out_hw):
    """``(N, Hp, Wp, C)`` padded input, ``(3, 3, C, F)`` kernel -> ``(N, OH, OW, F)`` (no bias);
    the same result as ``conv2d_forward``, computed tile by tile as ``A^T [U . V] A``."""
    return _forward("winograd_conv2d_forward", xpad, kernel, strides, dilation, out_hw, 2)


def winograd_conv2d_bias_relu_forward(xpad, kernel, bias, strides, dilation, out_hw):
    """``z = winograd_conv2d_forward(...) + bias`` and ``a = max(z, 0)``; returns ``(z, a)``."""
    return _bias_relu_forward("winograd_conv2d_forward", xpad, kernel, bias, strides, dilation,
                              out_hw, 2)


def winograd_conv2d_bias_relu(xpad, kernel, bias, strides, dilation, out_hw):
    """``a = max(winograd_conv2d_forward(...) + bias, 0)`` only (no ``z`` array kept)."""
    return _bias_relu("winograd_conv2d_forward", xpad, kernel, bias, strides, dilation, out_hw, 2)


def winograd_conv2d_bias_relu_maxpool2x2(xpad, kernel, bias, strides, dilation, out_hw, pool_out_hw,
                                         with_argmax):
    """Conv2D(relu) then MaxPooling2D((2, 2)): ``y = maxpool2d(winograd_conv2d_bias_relu(...))``,
    2x2 windows with stride 2, and (``with_argmax``) each window's ``argmax``; ``(y, argmax)``, both
    ``(N, PH, PW, F)``, ``argmax`` None otherwise. A 2x2 output tile is exactly one pooling window:
    the Numba twin pools each tile as it leaves the output transform, never storing the activation.
    Here the two steps one after the other."""
    return _bias_relu_maxpool2x2("winograd_conv2d_forward", xpad, kernel, bias, strides, dilation,
                                 out_hw, pool_out_hw, with_argmax, 2)


def _backward_kernel(where, xpad, dy, kernel_hw, strides, dilation, m):
    """``dL/dK = G^T [sum_tiles V^T dM] G`` with ``m x m`` output tiles: ``(3, 3, C, F)``."""
    _check(where, kernel_hw, strides, dilation, m)
    out_hw = dy.shape[1:3]
    V = input_transform(xpad, out_hw, m)  # ((m+2)**2, T, C)
    dM = output_gradient(dy.astype(xpad.dtype, copy=False), m)  # ((m+2)**2, T, F)
    dU = V.transpose(0, 2, 1) @ dM  # ((m+2)**2, C, F): one matrix product per tile position
    return filter_gradient(dU, m)


def _backward_input(where, dy, kernel, strides, dilation, padded_hw, m):
    """``dL/dxpad = B [dM U^T] B^T`` per tile, added into the cells each tile read: ``(N, Hp, Wp, C)``."""
    _check(where, kernel.shape, strides, dilation, m)
    dM = output_gradient(dy, m)  # ((m+2)**2, T, F)
    U = filter_transform(kernel.astype(dy.dtype, copy=False), m)  # ((m+2)**2, C, F)
    dV = dM @ U.transpose(0, 2, 1)  # ((m+2)**2, T, C): one matrix product per tile position
    return input_gradient(dV, dy.shape[0], dy.shape[1:3], padded_hw, m)


def winograd_conv2d_backward_kernel(xpad, dy, kernel_hw, strides, dilation):
    """``dL/dK = G^T [sum_tiles V^T dM] G`` with ``V = B^T d B`` and ``dM = A dY A^T``; the same
    result as ``conv2d_backward_kernel``: ``(3, 3, C, F)``."""
    return _backward_kernel("winograd_conv2d_backward_kernel", xpad, dy, kernel_hw, strides, dilation, 2)


def winograd_conv2d_backward_input(dy, kernel, strides, dilation, padded_hw):
    """``dL/dxpad``: ``B [dM U^T] B^T`` per tile with ``dM = A dY A^T``, added into the cells each
    tile read; the same result as ``conv2d_backward_input``: ``(N, Hp, Wp, C)``."""
    return _backward_input("winograd_conv2d_backward_input", dy, kernel, strides, dilation, padded_hw, 2)


# ------------------------------------------------------------------------------- F(4x4, 3x3)
# The same steps with 4x4 output tiles (B4_T, G4, A4_T): fewer multiplications, more rounding (see
# "Numerics" above).


def winograd4_conv2d_forward(xpad, kernel, strides, dilation, out_hw):
    """:func:`winograd_conv2d_forward` with F(4x4, 3x3): ``(N, OH, OW, F)``."""
    return _forward("winograd4_conv2d_forward", xpad, kernel, strides, dilation, out_hw, 4)


def winograd4_conv2d_bias_relu_forward(xpad, kernel, bias, strides, dilation, out_hw):
    """:func:`winograd_conv2d_bias_relu_forward` with F(4x4, 3x3): ``(z, a)``."""
    return _bias_relu_forward("winograd4_conv2d_forward", xpad, kernel, bias, strides, dilation,
                              out_hw, 4)


def winograd4_conv2d_bias_relu(xpad, kernel, bias, strides, dilation, out_hw):
    """:func:`winograd_conv2d_bias_relu` with F(4x4, 3x3): ``a`` only."""
    return _bias_relu("winograd4_conv2d_forward", xpad, kernel, bias, strides, dilation, out_hw, 4)


def winograd4_conv2d_bias_relu_maxpool2x2(xpad, kernel, bias, strides, dilation, out_hw, pool_out_hw,
                                          with_argmax):
    """:func:`winograd_conv2d_bias_relu_maxpool2x2` with F(4x4, 3x3): ``(y, argmax)`` (a 4x4
    output tile holds four whole pooling windows; the Numba twin pools them inside its loops)."""
    return _bias_relu_maxpool2x2("winograd4_conv2d_forward", xpad, kernel, bias, strides, dilation,
                                 out_hw, pool_out_hw, with_argmax, 4)


def winograd4_conv2d_backward_kernel(xpad, dy, kernel_hw, strides, dilation):
    """:func:`winograd_conv2d_backward_kernel` with F(4x4, 3x3): ``(3, 3, C, F)``."""
    return _backward_kernel("winograd4_conv2d_backward_kernel", xpad, dy, kernel_hw, strides, dilation, 4)


def winograd4_conv2d_backward_input(dy, kernel, strides, dilation, padded_hw):
    """:func:`winograd_conv2d_backward_input` with F(4x4, 3x3): ``(N, Hp, Wp, C)``."""
    return _backward_input("winograd4_conv2d_backward_input", dy, kernel, strides, dilation, padded_hw, 4)
