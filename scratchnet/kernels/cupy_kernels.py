"""Conv2D, max-pool and bias kernels on an NVIDIA GPU, with CuPy.

The same signatures and the same formulas as the NumPy reference (``kernels/conv.py``,
``kernels/pooling.py``, ``kernels/bias.py``), on ``cupy.ndarray`` arguments; imported only when
``sn.set_backend("cupy")`` selects them. The plan is the reference's, with each Python loop over
kernel taps replaced by one GPU kernel launch:

- conv forward: ``im2col`` gathers every receptive field into a row (one launch), then one cuBLAS
  matrix product ``cols @ K``;
- conv backward (kernel): the same gather, then ``cols.T @ dy``;
- conv backward (input): ``dcols = dy @ K.T`` (cuBLAS), then ``col2im``, where each padded input
  cell *gathers* the ``dcols`` entries that read it, adding them in the reference's ``(a, b)``
  order: no atomics, deterministic, and the same sums as the NumPy ``+=`` loop;
- max-pool forward and backward: one thread per output (forward) or input (backward) cell, first
  maximum in row-major order wins, as in the reference;
- bias gradient: column sums in two passes (blocks of rows, then the block sums), because CuPy's
  generic ``sum(axis=0)`` gives a ``(rows, F)`` array with few columns only a couple of blocks.

Float32 matrix products follow CuPy's setting: strict float32 unless the environment variable
``CUPY_TF32=1`` is set before the first float32 product (TF32 tensor cores: about 3 significant
digits).
"""

from __future__ import annotations

import functools

import cupy as cp
import numpy as np

_THREADS = (32, 8)  # x: 32 lanes along a row's entries, y: 8 rows per block

_IM2COL_SOURCE = r"""
extern "C" __global__ void im2col(const T* __restrict__ x, const int* __restrict__ tap_offset,
                                  T* __restrict__ cols, long long rows, int k, int oh, int ow,
                                  long long step_n, long long step_i, long long step_j) {
    // cols[r, col] = x[window(r) + tap_offset[col]], r = (n*OH + i)*OW + j, col = (a*KW + b)*C + c
    for (long long r = (long long)blockIdx.x * blockDim.y + threadIdx.y; r < rows;
         r += (long long)gridDim.x * blockDim.y) {
        long long j = r % ow;
        long long i = (r / ow) % oh;
        long long n = r / ((long long)ow * oh);
        const T* window = x + n * step_n + i * step_i + j * step_j;
        T* out = cols + r * k;
        for (int col = threadIdx.x; col < k; col += blockDim.x) {
            out[col] = window[tap_offset[col]];
        }
    }
}
"""

_BIAS_PARTIAL_SOURCE = r"""
extern "C" __global__ void bias_partial(const T* __restrict__ dz, T* __restrict__ partial,
                                        long long rows, int f, long long rows_per_block) {
    // partial[block, o] = sum of dz[r, o] over this block's rows; lanes along o read coalesced
    __shared__ T lane_sums[8][32];
    long long first = (long long)blockIdx.x * rows_per_block;
    long long last = min(rows, first + rows_per_block);
    for (int o0 = 0; o0 < f; o0 += 32) {
        int o = o0 + threadIdx.x;
        T acc = 0;
        if (o < f) {
            for (long long r = first + threadIdx.y; r < last; r += blockDim.y) {
                acc += dz[r * f + o];
            }
        }
        lane_sums[threadIdx.y][threadIdx.x] = acc;
        __syncthreads();
        if (threadIdx.y == 0 && o < f) {
            T total = 0;
            for (int q = 0; q < 8; ++q) {
                total += lane_sums[q][threadIdx.x];
            }
            partial[blockIdx.x * f + o] = total;
        }
        __syncthreads();
    }
}
"""

# The three kernels below index every cell of a tensor; their shapes and strides are compiled in
# as constants (one build per layer shape, cached), so the index arithmetic is multiplications
# by constants instead of integer divisions, which a GPU does slowly.

_COL2IM_SOURCE = r"""
extern "C" __global__ void col2im(const T* __restrict__ dcols, T* __restrict__ dxpad) {
    // dxpad[n, y, x, c] = sum over taps (a, b) of the output cells (i, j) that read it, (a, b) order
    for (INDEX cell = (INDEX)blockIdx.x * blockDim.x + threadIdx.x; cell < TOTAL;
         cell += (INDEX)gridDim.x * blockDim.x) {
        const int ch = cell % C;
        const int px = (cell / C) % WP;
        const int py = (cell / (C * WP)) % HP;
        const INDEX n = cell / ((INDEX)C * WP * HP);
        T acc = 0;
        #pragma unroll
        for (int a = 0; a < KH; ++a) {
            const int ys = py - a * DH;
            if (ys < 0 || ys % SH != 0 || ys / SH >= OH) continue;
            #pragma unroll
            for (int b = 0; b < KW; ++b) {
                const int xs = px - b * DW;
                if (xs < 0 || xs % SW != 0 || xs / SW >= OW) continue;
                const INDEX row = (n * OH + ys / SH) * OW + xs / SW;
                acc += dcols[(row * (KH * KW) + a * KW + b) * C + ch];
            }
        }
        dxpad[cell] = acc;
    }
}
"""

_MAXPOOL_FORWARD_SOURCE = r"""
extern "C" __global__ void maxpool_forward(const T* __restrict__ xpad, T* __restrict__ y,
                                           int* __restrict__ argmax) {
    // y = the window's maximum, at least FLOOR (the type's lowest finite value, where TensorFlow
    // starts a window); argmax = a*PW + b of its first maximum (strict >, from -inf)
    for (INDEX cell = (INDEX)blockIdx.x * blockDim.x + threadIdx.x; cell < TOTAL;
         cell += (INDEX)gridDim.x * blockDim.x) {
        const int ch = cell % C;
        const int oj = (cell / C) % OW;
        const int oi = (cell / (C * OW)) % OH;
        const INDEX n = cell / ((INDEX)C * OW * OH);
        const T* window = xpad + ((n * HP + oi * SH) * WP + oj * SW) * C + ch;
        T best = LOWEST;
        int best_tap = 0;
        #pragma unroll
        for (int a = 0; a < PH; ++a) {
            #pragma unroll
            for (int b = 0; b < PW; ++b) {
                const T v = window[(a * WP + b) * C];
                if (v > best) {
                    best = v;
                    best_tap = a * PW + b;
                }
            }
        }
        y[cell] = best > FLOOR ? best : FLOOR;
        argmax[cell] = best_tap;
    }
}
"""

_MAXPOOL_BACKWARD_SOURCE = r"""
extern "C" __global__ void maxpool_backward(const T* __restrict__ dy, const int* __restrict__ argmax,
                                            T* __restrict__ dxpad) {
    // dxpad[n, y, x, c] = sum of dy over the windows whose first maximum is this cell, (a, b) order
    for (INDEX cell = (INDEX)blockIdx.x * blockDim.x + threadIdx.x; cell < TOTAL;
         cell += (INDEX)gridDim.x * blockDim.x) {
        const int ch = cell % C;
        const int px = (cell / C) % WP;
        const int py = (cell / (C * WP)) % HP;
        const INDEX n = cell / ((INDEX)C * WP * HP);
        T acc = 0;
        #pragma unroll
        for (int a = 0; a < PH; ++a) {
            const int ys = py - a;
            if (ys < 0 || ys % SH != 0 || ys / SH >= OH) continue;
            #pragma unroll
            for (int b = 0; b < PW; ++b) {
                const int xs = px - b;
                if (xs < 0 || xs % SW != 0 || xs / SW >= OW) continue;
                const INDEX o = ((n * OH + ys / SH) * OW + xs / SW) * C + ch;
                if (argmax[o] == a * PW + b) acc += dy[o];
            }
        }
        dxpad[cell] = acc;
    }
}
"""

_LOWEST = {"f": "(-__int_as_float(0x7f800000))", "d": "(-__longlong_as_double(0x7ff0000000000000LL))"}
# -FLT_MAX and -DBL_MAX, by their bit patterns as above: a max-pooling window's smallest result
_FLOOR = {"f": "(-__int_as_float(0x7f7fffff))", "d": "(-__longlong_as_double(0x7fefffffffffffffLL))"}


@functools.cache
def _shaped_kernel(source: str, name: str, dtype_char: str, constants: tuple) -> cp.RawKernel:
    """Compile ``source`` with ``T`` the float type and each ``(NAME, value)`` a ``#define``."""
    ctype = {"f": "float", "d": "double"}[dtype_char]
    defines = "".join(f"#define {key} {value}\n" for key, value in constants)
    return cp.RawKernel(f"typedef {ctype} T;\n#define LOWEST {_LOWEST[dtype_char]}\n"
                        f"#define FLOOR {_FLOOR[dtype_char]}\n{defines}{source}", name)


def _launch_cells(source, name, dtype, total: int, largest: int, args, **shape) -> None:
    """Run a one-thread-per-cell kernel over ``total`` cells (``largest``: the biggest array it
    touches, which decides between 32- and 64-bit indices)."""
    index = "unsigned int" if largest < 2**31 else "unsigned long long"
    constants = (("INDEX", index), ("TOTAL", f"(({index}){total})")) + tuple(sorted(shape.items()))
    kernel = _shaped_kernel(source, name, dtype.char, constants)
    blocks = int(min(-(-total // 256), 65535 * 8))
    if total:
        kernel((blocks,), (256,), args)


@functools.cache
def _raw_kernel(source: str, name: str, dtype_char: str) -> cp.RawKernel:
    """Compile ``source`` once per float type (``T`` is ``float`` or ``double``)."""
    ctype = {"f": "float", "d": "double"}[dtype_char]
    return cp.RawKernel(f"typedef {ctype} T;\n{source}", name)


@functools.lru_cache(maxsize=64)
def _tap_offsets(kernel_hw, dilation, padded_w: int, c: int) -> cp.ndarray:
    """``offset[(a*KW + b)*C + c] = (a*dh*Wp + b*dw)*C + c``: where each column of a row reads."""
    (kh, kw), (dh, dw) = kernel_hw, dilation
    a, b, ch = np.meshgrid(np.arange(kh), np.arange(kw), np.arange(c), indexing="ij")
    offsets = (a * dh * padded_w + b * dw) * c + ch  # (KH, KW, C)
    return cp.asarray(offsets.reshape(-1).astype(np.int32))


def _blocks(rows: int) -> int:
    return int(min(-(-rows // _THREADS[1]), 65535 * 16))


def im2col(xpad, kernel_hw, strides, dilation, out_hw):
    """``cols[(n*OH + i)*OW + j, (a*KW + b)*C + c] = xpad[n, i*sh + a*dh, j*sw + b*dw, c]``."""
    xpad = cp.ascontiguousarray(xpad)
    n, _, wp, c = xpad.shape
    kh, kw = kernel_hw
    (sh, sw), (oh, ow) = strides, out_hw
    rows, k = n * oh * ow, kh * kw * c
    cols = cp.empty((rows, k), dtype=xpad.dtype)  # (N*OH*OW, KH*KW*C)
    if rows == 0:
        return cols
    kernel = _raw_kernel(_IM2COL_SOURCE, "im2col", xpad.dtype.char)
    offsets = _tap_offsets(tuple(kernel_hw), tuple(dilation), int(wp), int(c))
    step_n, step_i, step_j = xpad.shape[1] * wp * c, sh * wp * c, sw * c
    kernel((_blocks(rows),), _THREADS,
           (xpad, offsets, cols, np.int64(rows), np.int32(k), np.int32(oh), np.int32(ow),
            np.int64(step_n), np.int64(step_i), np.int64(step_j)))
    return cols


def conv2d_forward(xpad, kernel, strides, dilation, out_hw):
    """``(N, Hp, Wp, C)`` padded input, ``(KH, KW, C, F)`` kernel -> ``(N, OH, OW, F)`` (no bias)."""
    kh, kw, c, f = kernel.shape
    n = xpad.shape[0]
    oh, ow = out_hw
    cols = im2col(xpad, (kh, kw), strides, dilation, out_hw)  # (N*OH*OW, KH*KW*C)
    y = cols @ kernel.reshape(kh * kw * c, f)  # (N*OH*OW, F)
    return y.reshape(n, oh, ow, f)


def conv2d_backward_kernel(xpad, dy, kernel_hw, strides, dilation):
    """``dL/dK[a, b, c, o] = sum_{n, i, j} xpad[n, i*sh + a*dh, j*sw + b*dw, c] * dy[n, i, j, o]``."""
    n, oh, ow, f = dy.shape
    kh, kw = kernel_hw
    c = xpad.shape[3]
    cols = im2col(xpad, kernel_hw, strides, dilation, (oh, ow))  # (N*OH*OW, KH*KW*C)
    dk = cols.T @ cp.ascontiguousarray(dy).reshape(n * oh * ow, f)  # (KH*KW*C, F)
    return dk.reshape(kh, kw, c, f)


def conv2d_backward_input(dy, kernel, strides, dilation, padded_hw):
    """``dL/dxpad``: each padded input cell sums ``dy[n, i, j, :] @ K[a, b].T`` over the (i, j, a, b)
    that read it."""
    n, oh, ow, f = dy.shape
    kh, kw, c, _ = kernel.shape
    (sh, sw), (dh, dw) = strides, dilation
    hp, wp = padded_hw
    dcols = cp.ascontiguousarray(dy).reshape(n * oh * ow, f) @ kernel.reshape(kh * kw * c, f).T
    dxpad = cp.empty((n, hp, wp, c), dtype=dy.dtype)  # (N, Hp, Wp, C)
    _launch_cells(_COL2IM_SOURCE, "col2im", dy.dtype, dxpad.size, max(dxpad.size, dcols.size),
                  (dcols, dxpad), C=c, HP=hp, WP=wp, OH=oh, OW=ow, KH=kh, KW=kw, SH=sh, SW=sw,
                  DH=dh, DW=dw)
    return dxpad


def maxpool2d_forward(xpad, pool_size, strides, out_hw):
    """``(N, Hp, Wp, C)`` -> ``y (N, OH, OW, C)`` and ``argmax (N, OH, OW, C)`` (``a * PW + b``)."""
    xpad = cp.ascontiguousarray(xpad)
    (ph, pw), (sh, sw), (oh, ow) = pool_size, strides, out_hw
    n, hp, wp, c = xpad.shape
    y = cp.empty((n, oh, ow, c), dtype=xpad.dtype)
    argmax = cp.empty((n, oh, ow, c), dtype=np.int32)
    _launch_cells(_MAXPOOL_FORWARD_SOURCE, "maxpool_forward", xpad.dtype, y.size,
                  max(xpad.size, y.size), (xpad, y, argmax), C=c, HP=hp, WP=wp, OH=oh, OW=ow,
                  PH=ph, PW=pw, SH=sh, SW=sw)
    return y, argmax


def maxpool2d_backward(dy, argmax, pool_size, strides, padded_hw):
    """Route ``dy (N, OH, OW, C)`` to the winning cell of each window -> ``dxpad (N, Hp, Wp, C)``."""
    (ph, pw), (sh, sw) = pool_size, strides
    n, oh, ow, c = dy.shape
    hp, wp = padded_hw
    dxpad = cp.empty((n, hp, wp, c), dtype=dy.dtype)
    _launch_cells(_MAXPOOL_BACKWARD_SOURCE, "maxpool_backward", dy.dtype, dxpad.size,
                  max(dxpad.size, dy.size), (cp.ascontiguousarray(dy),
                                             cp.ascontiguousarray(argmax), dxpad),
                  C=c, HP=hp, WP=wp, OH=oh, OW=ow, PH=ph, PW=pw, SH=sh, SW=sw)
    return dxpad


def bias_grad(dz):
    """``dL/dbias[o] = sum of dz[..., o]`` over every axis but the last: ``(N, ..., F)`` -> ``(F,)``."""
    f = dz.shape[-1]
    dz2 = cp.ascontiguousarray(dz).reshape(-1, f)  # (rows, F)
    rows = dz2.shape[0]
    if rows <= 4096:
        return dz2.sum(axis=0)
    blocks = min(1024, -(-rows // 256))
    rows_per_block = -(-rows // blocks)
    partial = cp.empty((blocks, f), dtype=dz.dtype)  # (blocks, F)
    kernel = _raw_kernel(_BIAS_PARTIAL_SOURCE, "bias_partial", dz.dtype.char)
    kernel((blocks,), _THREADS,
           (dz2, partial, np.int64(rows), np.int32(f), np.int64(rows_per_block)))
    return partial.sum(axis=0)


def relu_backward_bias_grad(da, z):
    """``dz = da * (z > 0)`` and ``db = bias_grad(dz)``: the same contract as the NumPy reference."""
    dz = da * (z > 0)
    return dz, bias_grad(dz)


def conv2d_bias_relu_forward(xpad, kernel, bias, strides, dilation, out_hw):
    """``z = conv + bias`` and ``a = max(z, 0)``: the same contract as the NumPy reference."""
    z = conv2d_forward(xpad, kernel, strides, dilation, out_hw)
    z += bias
    return z, cp.maximum(z, 0)


def matmul(a, b):
    """``a @ b`` on cuBLAS."""
    return a @ b
