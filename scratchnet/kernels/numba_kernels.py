"""Numba twins of :mod:`scratchnet.kernels.conv` and :mod:`scratchnet.kernels.pooling`.

Every public function here has the *same name, signature and result* as its NumPy reference; the
backend switch in ``kernels/__init__.py`` swaps one for the other. The formulas are in the
reference docstrings; this file only says how the work is arranged to run fast on a CPU:

- Convolutions stay "im2col + one matrix product", as in the reference, because the product runs
  in NumPy's BLAS (tens of GFLOP/s, multi-threaded) and no hand loop comes close. What Numba
  replaces is the gathering (``_im2col``) and the scattering back (``_col2im``): one parallel pass
  each, instead of ``KH * KW`` strided NumPy copies.
- The batch goes through in chunks of images whose ``cols`` matrix fits a fixed budget
  (``COLS_BUDGET_BYTES``), so the matrix stays in cache and memory does not grow with the batch;
  the chunk buffers are kept and reused from one call (one training step) to the next.
- The bias gradient (a sum over batch, rows and columns) is one parallel pass with a partial sum
  per chunk of rows; NumPy's ``sum(axis=(0, 1, 2))`` over a short last axis is many times slower.
- Max-pooling is one pass over the windows (forward) and one scatter (backward), ``prange`` over
  the batch; each iteration writes only its own images, so there are no races.

Threads: ``numba.set_num_threads`` (or ``NUMBA_NUM_THREADS``) for the loops here, and NumPy's BLAS
threads (``OPENBLAS_NUM_THREADS``, or ``threadpoolctl``) for the matrix products.

Compiled functions are cached on disk (``cache=True``, in ``__pycache__`` beside this file), so
only the first run on a machine pays the compile time. ``NUMBA_DISABLE_JIT=1`` runs the loops as
plain Python, which a debugger can step through (slowly).
"""

from __future__ import annotations

import ctypes
import functools
import os
import sys
import threading

import numba
import numpy as np
from numba import njit, prange

COLS_BUDGET_BYTES = 4 * 2**20  # the im2col chunk: a few MiB, so it stays in cache
_scratch = threading.local()  # per thread, so two threads never share a buffer

# Numba's "omp" layer (its default without TBB) keeps its threads spinning after each parallel
# loop, and they fight OpenBLAS' threads (the matrix products) for the cores: on a 2-core machine
# a training step ran 10x slower. The "workqueue" layer parks its threads instead. It must not be
# entered by two Python threads at once, so every public kernel takes ``_launch`` first.
if "NUMBA_THREADING_LAYER" not in os.environ:
    numba.config.THREADING_LAYER = "workqueue"
_launch = threading.Lock()


def _one_at_a_time(kernel):
    @functools.wraps(kernel)
    def locked(*args):
        with _launch:
            return kernel(*args)
    return locked


def _buffer(role: str, shape: tuple[int, ...], dtype) -> np.ndarray:
    """A scratch array for ``role``, reused across calls (its contents are not preserved)."""
    buffers = _scratch.__dict__.setdefault("buffers", {})
    key = (role, shape, np.dtype(dtype))
    if key not in buffers:
        buffers[key] = np.empty(shape, dtype=dtype)
    return buffers[key]


def _chunk_images(n: int, rows_per_image: int, cols_per_row: int, itemsize: int) -> int:
    """How many images go through ``im2col`` at once: as many as fit ``COLS_BUDGET_BYTES``."""
    return max(1, min(n, COLS_BUDGET_BYTES // (rows_per_image * cols_per_row * itemsize)))


# --------------------------------------------------------------------------------------- conv2d


@njit(parallel=True, cache=True)
def _im2col(xpad, kh, kw, sh, sw, dh, dw, oh, ow, first, cols):
    """``cols[((s - first)*OH + i)*OW + j, (a*KW + b)*C + c] = xpad[s, i*sh + a*dh, j*sw + b*dw, c]``
    for the images ``first <= s < first + len(cols) // (OH*OW)``."""
    c = xpad.shape[3]
    for r in prange(cols.shape[0] // ow):  # one output row of one image per iteration
        s, i = first + r // oh, r % oh
        for j in range(ow):
            row = r * ow + j
            for a in range(kh):
                for b in range(kw):
                    col = (a * kw + b) * c
                    for ch in range(c):
                        cols[row, col + ch] = xpad[s, i * sh + a * dh, j * sw + b * dw, ch]


@njit(parallel=True, cache=True)
def _col2im(dcols, kh, kw, sh, sw, dh, dw, oh, ow, first, dxpad):
    """The transpose of ``_im2col``: add each ``dcols`` entry into the ``dxpad`` cell it came from."""
    c = dxpad.shape[3]
    for t in prange(dcols.shape[0] // (oh * ow)):  # windows overlap: one image per iteration
        s = first + t
        for i in range(oh):
            for j in range(ow):
                row = (t * oh + i) * ow + j
                for a in range(kh):
                    for b in range(kw):
                        col = (a * kw + b) * c
                        for ch in range(c):
                            dxpad[s, i * sh + a * dh, j * sw + b * dw, ch] += dcols[row, col + ch]


@_one_at_a_time
def conv2d_forward(xpad, kernel, strides, dilation, out_hw):
    """``(N, Hp, Wp, C)`` padded input, ``(KH, KW, C, F)`` kernel -> ``(N, OH, OW, F)`` (no bias)."""
    return _conv2d_chunks(xpad, kernel, None, strides, dilation, out_hw)


@_one_at_a_time
def conv2d_bias_relu_forward(xpad, kernel, bias, strides, dilation, out_hw):
    """``z = conv2d_forward(...) + bias`` and ``a = max(z, 0)``, added to each chunk of ``z``
    while it is still in cache. Returns ``(z, a)``, both ``(N, OH, OW, F)``."""
    return _conv2d_chunks(xpad, kernel, bias, strides, dilation, out_hw)


def _conv2d_chunks(xpad, kernel, bias, strides, dilation, out_hw):
    """The forward convolution, chunk by chunk: ``im2col``, one matrix product, and (with a
    ``bias``) bias + ReLU on the chunk just computed."""
    xpad = np.ascontiguousarray(xpad)
    kh, kw, c, f = kernel.shape
    (sh, sw), (dh, dw), (oh, ow) = strides, dilation, out_hw
    n, rows = xpad.shape[0], oh * ow
    kernel2d = np.ascontiguousarray(kernel).reshape(kh * kw * c, f)  # (KH*KW*C, F)
    z = np.empty((n * rows, f), dtype=np.result_type(xpad, kernel))  # (N*OH*OW, F)
    a = None if bias is None else np.empty_like(z)
    chunk = _chunk_images(n, rows, kh * kw * c, xpad.itemsize)
    cols = _buffer("cols", (chunk * rows, kh * kw * c), xpad.dtype)
    for first in range(0, n, chunk):
        m = (min(n, first + chunk) - first) * rows
        part = slice(first * rows, first * rows + m)
        _im2col(xpad, kh, kw, sh, sw, dh, dw, oh, ow, first, cols[:m])
        np.matmul(cols[:m], kernel2d, out=z[part])
        if bias is not None:
            _bias_relu(z[part], bias.astype(z.dtype, copy=False), a[part])
    if bias is None:
        return z.reshape(n, oh, ow, f)
    return z.reshape(n, oh, ow, f), a.reshape(n, oh, ow, f)


@njit(parallel=True, cache=True)
def _bias_relu(z2d, bias, a2d):
    """``z += bias`` in place and ``a = max(z, 0)``, one pass."""
    for r in prange(z2d.shape[0]):
        for o in range(z2d.shape[1]):
            v = z2d[r, o] + bias[o]
            z2d[r, o] = v
            a2d[r, o] = 0 if v < 0 else v  # NaN passes through, as in np.maximum


@_one_at_a_time
def conv2d_backward_kernel(xpad, dy, kernel_hw, strides, dilation):
    """``dL/dK[a, b, c, o] = sum_{n, i, j} xpad[n, i*sh + a*dh, j*sw + b*dw, c] * dy[n, i, j, o]``."""
    xpad = np.ascontiguousarray(xpad)
    n, oh, ow, f = dy.shape
    c = xpad.shape[3]
    (kh, kw), (sh, sw), (dh, dw) = kernel_hw, strides, dilation
    rows = oh * ow
    dy2d = dy.reshape(n * rows, f)  # (N*OH*OW, F)
    dk = np.zeros((kh * kw * c, f), dtype=dy.dtype)  # (KH*KW*C, F)
    chunk = _chunk_images(n, rows, kh * kw * c, xpad.itemsize)
    cols = _buffer("cols", (chunk * rows, kh * kw * c), xpad.dtype)
    for first in range(0, n, chunk):
        m = (min(n, first + chunk) - first) * rows
        _im2col(xpad, kh, kw, sh, sw, dh, dw, oh, ow, first, cols[:m])
        dk += cols[:m].T @ dy2d[first * rows:first * rows + m]
    return dk.reshape(kh, kw, c, f)


@_one_at_a_time
def conv2d_backward_input(dy, kernel, strides, dilation, padded_hw):
    """``dL/dxpad``: each output cell sends ``dy[n, i, j, :] @ K[a, b].T`` back to the cell it read."""
    n, oh, ow, f = dy.shape
    kh, kw, c, _ = kernel.shape
    (sh, sw), (dh, dw), (hp, wp) = strides, dilation, padded_hw
    rows = oh * ow
    dy2d = dy.reshape(n * rows, f)  # (N*OH*OW, F)
    kernel2d_t = kernel.reshape(kh * kw * c, f).T  # (F, KH*KW*C)
    dxpad = np.zeros((n, hp, wp, c), dtype=dy.dtype)  # (N, Hp, Wp, C)
    chunk = _chunk_images(n, rows, kh * kw * c, dy.itemsize)
    dcols = _buffer("cols", (chunk * rows, kh * kw * c), dy.dtype)
    for first in range(0, n, chunk):
        m = (min(n, first + chunk) - first) * rows
        np.matmul(dy2d[first * rows:first * rows + m], kernel2d_t, out=dcols[:m])
        _col2im(dcols[:m], kh, kw, sh, sw, dh, dw, oh, ow, first, dxpad)
    return dxpad


# ------------------------------------------------------------------------------------ max-pool


@njit(parallel=True, cache=True)
def _maxpool2d_forward(xpad, ph, pw, sh, sw, oh, ow):
    n, c = xpad.shape[0], xpad.shape[3]
    y = np.empty((n, oh, ow, c), dtype=xpad.dtype)
    argmax = np.empty((n, oh, ow, c), dtype=np.int32)
    for r in prange(n * oh):  # one output row of one image per iteration
        s, i = r // oh, r % oh
        for j in range(ow):
            y[s, i, j, :] = -np.inf
            argmax[s, i, j, :] = 0
            for a in range(ph):
                for b in range(pw):
                    for ch in range(c):  # channels innermost: contiguous, vectorised
                        v = xpad[s, i * sh + a, j * sw + b, ch]
                        if v > y[s, i, j, ch]:  # strict: an equal later value does not win
                            y[s, i, j, ch] = v
                            argmax[s, i, j, ch] = a * pw + b
    return y, argmax


@_one_at_a_time
def maxpool2d_forward(xpad, pool_size, strides, out_hw):
    """``(N, Hp, Wp, C)`` -> ``y (N, OH, OW, C)`` and ``argmax (N, OH, OW, C)`` (``a * PW + b``)."""
    (ph, pw), (sh, sw), (oh, ow) = pool_size, strides, out_hw
    return _maxpool2d_forward(np.ascontiguousarray(xpad), ph, pw, sh, sw, oh, ow)


@njit(parallel=True, cache=True)
def _maxpool2d_backward(dy, argmax, pw, sh, sw, hp, wp):
    n, oh, ow, c = dy.shape
    dxpad = np.zeros((n, hp, wp, c), dtype=dy.dtype)
    for s in prange(n):  # windows may overlap: one image per iteration
        for i in range(oh):
            for j in range(ow):
                for ch in range(c):
                    k = argmax[s, i, j, ch]
                    dxpad[s, i * sh + k // pw, j * sw + k % pw, ch] += dy[s, i, j, ch]
    return dxpad


@_one_at_a_time
def maxpool2d_backward(dy, argmax, pool_size, strides, padded_hw):
    """Route ``dy (N, OH, OW, C)`` to the winning cell of each window -> ``dxpad (N, Hp, Wp, C)``."""
    (_, pw), (sh, sw), (hp, wp) = pool_size, strides, padded_hw
    return _maxpool2d_backward(np.ascontiguousarray(dy), np.ascontiguousarray(argmax), pw, sh, sw,
                               hp, wp)


# ------------------------------------------------------------------------------------ bias


@njit(parallel=True, cache=True)
def _bias_grad(dz2d, chunks):
    rows, f = dz2d.shape
    partial = np.zeros((chunks, f), dtype=dz2d.dtype)  # one partial sum per chunk of rows
    for t in prange(chunks):
        for r in range(t * rows // chunks, (t + 1) * rows // chunks):
            for o in range(f):
                partial[t, o] += dz2d[r, o]
    db = partial[0].copy()
    for t in range(1, chunks):
        db += partial[t]
    return db


@_one_at_a_time
def bias_grad(dz):
    """``dL/dbias[o] = sum of dz[..., o]`` over every axis but the last."""
    dz2d = np.ascontiguousarray(dz).reshape(-1, dz.shape[-1])  # (N*..., F)
    chunks = max(1, min(dz2d.shape[0] // 1024, 8 * numba.get_num_threads()))
    return _bias_grad(dz2d, chunks)


# ------------------------------------------------------------------------------ memory reuse


def keep_freed_memory() -> bool:
    """Ask glibc's ``malloc`` to keep freed memory for the next allocation (Linux only).

    Every training step frees and re-allocates arrays of the same sizes (activations, gradients).
    By default glibc hands blocks over 128 KiB back to the operating system, and the next step
    pays a page fault for every 4 KiB it touches again, which on a virtual machine can cost
    more than the arithmetic. Raising the mmap and trim thresholds (what the environment
    variables ``MALLOC_MMAP_THRESHOLD_`` and ``MALLOC_TRIM_THRESHOLD_`` do at start-up) keeps
    those pages in the process: the peak memory is unchanged, it is only not returned between
    steps. Returns whether the settings were applied.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (e.g. musl)
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # from glibc's <malloc.h>
    return bool(libc.mallopt(m_mmap_threshold, 32 * 2**20)) \
        and bool(libc.mallopt(m_trim_threshold, 1024 * 2**20))
