"""Numba twins of :mod:`scratchnet.kernels.conv`, :mod:`~scratchnet.kernels.pooling` and
:mod:`~scratchnet.kernels.bias`.

Every public function here has the *same name, signature and result* as its NumPy reference; the
backend switch in ``kernels/__init__.py`` swaps one for the other. The formulas are in the
reference docstrings; this file only says how the work is arranged to run fast on a CPU:

- Convolutions with many channels stay "im2col + matrix product", as in the reference: there a
  BLAS product (tens of GFLOP/s) beats a hand loop. The batch is cut into chunks of images and
  ``prange`` hands the chunks to the threads; each thread gathers its chunk's receptive fields
  (``_im2col``), multiplies them with ``np.dot`` (one BLAS call on that thread) and, for Conv2D's
  usual forward, adds the bias and applies ReLU while the chunk is still in cache. The backward
  passes do the same with the product transposed, and ``_col2im`` scatters back into the chunk's
  own images (no races).
- The kernel gradient sums one partial product per chunk, in chunk order. Chunks are a fixed
  number of images (not one per thread), so the result does not depend on the thread count.
  Within a chunk it gathers and multiplies cache-sized blocks (whole images, or bands of rows of
  a large image) and adds the block products in order.
- Winograd F(2x2, 3x3) twins (``winograd_*``, near the bottom) for 3x3 stride-1 layers with
  many channels: the same chunks-in-cache plan over tile rows, 16 BLAS products per chunk; and
  F(4x4, 3x3) forward twins (``winograd4_*``): 36 products per chunk of 4x4 tiles.
- Direct twins (``direct_*``, bottom of the file) for 3x3 stride-1 layers with few channels or
  16, 32 or 64 filters, where BLAS' products are too thin to run fast: loops over output pixels with the
  filter count compiled in and the sums kept in vector registers (forward up to 1.8x, dL/dK up
  to 4.3x im2col with OpenBLAS' AVX-512 kernels, benchmarks/CONV_ALGORITHMS.md; the RGB first
  layers have loops of their own, ``_rgb_*``). A first layer's backward after its max-pooling
  makes each ``dz`` value inside its loops (``direct_conv2d_backward_kernel_relu_maxpool2x2``).
- Conv2D(relu) -> MaxPooling2D((2, 2)) after a Winograd or direct convolution is pooled inside
  the convolution's loops (``*_conv2d_bias_relu_maxpool2x2``): each window's four outputs are
  pooled as they are computed, and the activation is never written (talk_cnn's whole predict at
  batch 256 went from 717 to 404 ms against pooling each chunk after the convolution, 2026-12-03).
- Max-pooling is one pass over the windows (forward) and one scatter (backward); the bias
  gradient (alone, or with ReLU's gradient) is one pass on one thread with float64 sums.
  NumPy's versions make several passes.
- The usual shapes (a 3x3 kernel with stride 1, 2x2 pooling) are compiled with their sizes as
  constants: the compiler then unrolls the small loops and keeps values in registers. Loops whose
  sizes are only known at run time, over arrays the compiler cannot prove distinct, stay one value
  at a time, and so do short loops it unrolls completely (the direct section says how its loops
  avoid both).

Threads: one pool, Numba's (``numba.set_num_threads`` or ``NUMBA_NUM_THREADS``), on its OpenMP
layer (see the comment where it is chosen, below). The BLAS that
Numba's ``np.dot`` calls (SciPy's) is set to one thread, because each of our threads calls it on its
own chunk; two pools on the same cores (Numba's threads, BLAS' threads) make each other wait,
badly so on a busy machine. For the same reason the Dense layers' products (``matmul``) go
through that single-threaded BLAS too, and NumPy's own multi-threaded BLAS stays asleep, except
the products big enough to be cut into row pieces: those go to the NumPy reference, whose pieces
run on threads of their own with NumPy's BLAS held at one thread (see ``matmul``).

On Intel's AVX-512 processors the loops are compiled for the full 512-bit registers, which LLVM's
tuning for those CPUs does not choose by itself, and with LLVM's SLP vectorizer, which Numba
leaves off (see ``_configure_code_generator``).

Compiled functions are cached on disk (``cache=True``, in ``__pycache__`` beside this file), so
only the first run on a machine pays the compile time. ``NUMBA_DISABLE_JIT=1`` runs the loops as
plain Python, which a debugger can step through (slowly).
"""

from __future__ import annotations

import functools
import os
import threading

import numba
import numpy as np
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic, overload

from scratchnet.kernels import conv as _conv_reference
from scratchnet.kernels import dense as _dense_reference
from scratchnet.kernels import optimizer_steps as _optimizer_reference
from scratchnet.kernels.pooling import argmax_dtype

COLS_BUDGET_BYTES = 2 * 2**20  # at most this much im2col matrix per chunk, so it stays in cache
MIN_CHUNKS = 8  # and at least this many chunks per batch (of 8+ images), so all threads get work
# The kernel gradient's chunks each end in a BLAS product with a long inner dimension (the chunk's
# rows) and a small result; two threads calling BLAS at once on short products wait on each other,
# so it takes fewer, longer chunks (measured on the benchmark shapes: 4 beat 8 by up to 25%).
MIN_KERNEL_GRAD_CHUNKS = 4
# Within a chunk, the kernel gradient's product goes block by block, each block's gathered rows and
# dy rows within this size (in cache): one product over a chunk of large images (talk_cnn's first
# layer: 22k rows of 27 and of 64) ran at a sixth of the forward product's speed.
KERNEL_GRAD_BLOCK_BYTES = 1 * 2**20

# Threads: Numba's OpenMP layer ("omp") starts a parallel loop in about 25 microseconds; its
# "workqueue" layer, the fallback, takes about 130, and a training step launches a dozen loops
# (measured: small_cnn trained twice as fast with omp on the 2-core benchmark machine). By default
# GNU OpenMP keeps its threads spinning a while after each loop, which on a busy machine steals the
# cores the work needs: next to one other busy process a small_cnn step took 1.5x as long as with
# "passive" (threads parked at once), and 10x with a longer spin (GOMP_SPINCOUNT=100000). Passive
# was the fastest setting under load and within 20% of spinning on an idle machine.
# Re-measured 2026-12-03 with today's kernels (ms per small_cnn step at batch 32, train / predict
# of 4 batches): idle machine, passive 2.5 / 3.5, OMP_WAIT_POLICY=active 1.7 / 2.5 (1.4-1.5x faster:
# each of a step's ~20 parallel loops then starts without waking a thread); next to one busy
# process, passive 2.9 / 4.9, GOMP_SPINCOUNT=10000 8.2 / 10.0 (2-3x slower). On a machine you have
# to yourself, OMP_WAIT_POLICY=active is the faster choice for small models; passive stays the
# default because it is never far off and never collapses.
# Both only where the user has not chosen: NUMBA_THREADING_LAYER and OMP_WAIT_POLICY win.
# GNU OpenMP is not fork-safe: a process that ran these kernels must not fork() and run them again
# in the child (multiprocessing's "spawn" and "forkserver" start methods are fine).
# The priority goes through the environment too: Numba's config.reload_config() (which
# _configure_code_generator below calls) reads it back from there, and had put "tbb" first again.
if "NUMBA_THREADING_LAYER" not in os.environ:
    os.environ.setdefault("NUMBA_THREADING_LAYER_PRIORITY", "omp tbb workqueue")
    numba.config.THREADING_LAYER_PRIORITY = os.environ["NUMBA_THREADING_LAYER_PRIORITY"].split()
    os.environ.setdefault("OMP_WAIT_POLICY", "passive")  # read when OpenMP loads, at the first loop
# Kernels run one at a time, whatever the layer (the workqueue layer must not be entered by two
# Python threads at once; the mirrored strategy's replicas are Python threads).
_launch = threading.Lock()


def _one_at_a_time(kernel):
    @functools.wraps(kernel)
    def locked(*args):
        with _launch:
            return kernel(*args)
    return locked


def _numba_blas_on_one_thread() -> None:
    """Set the BLAS that Numba's ``np.dot`` calls (SciPy's copy of OpenBLAS) to one thread."""
    try:
        import threadpoolctl
    except ImportError:
        return
    before = {lib.filepath for lib in threadpoolctl.ThreadpoolController().lib_controllers}
    import scipy.linalg.cython_blas  # noqa: F401  (loads the library Numba calls)

    for lib in threadpoolctl.ThreadpoolController().lib_controllers:
        if lib.user_api == "blas" and lib.filepath not in before:  # SciPy's, not NumPy's
            lib.set_num_threads(1)


_numba_blas_on_one_thread()


# Vector width. On Intel's AVX-512 processors (Skylake-X, Ice Lake, Sapphire Rapids: LLVM's CPU names
# skylake-avx512, icelake-server, sapphirerapids, ...) LLVM's tuning asks the vectorizer for 256-bit
# vectors ("prefer-256-bit", against the clock slow-down 512-bit instructions caused on the first of
# those chips), so every loop Numba compiles there does half the work per instruction the hardware
# can; OpenBLAS and TensorFlow's oneDNN use the full 512 bits on the same machine. For AMD's AVX-512
# processors (znver4, znver5) LLVM already chooses 512 bits. Measured on a 2-core Ice Lake Xeon VM
# (2026-12-04, `python -m benchmarks.conv_algorithms --models small_cnn rps_cnn`, batch 32, ms per
# call, 256 -> 512 bits): rps_cnn conv1 dL/dK 2.94 -> 0.94, conv2 forward 3.72 -> 2.04, conv2 dL/dK
# 3.40 -> 1.90, small_cnn conv2 forward 1.04 -> 0.61; loops that end in BLAS products unchanged
# (benchmarks/CONV_ALGORITHMS.md). So where the CPU has AVX-512, Numba's code generator is made
# without that preference. The arithmetic is the same (the loops are vectorized across independent
# outputs; no sum is reordered), only more of it per instruction. Numba fixes its code generator's
# features when it makes it (at the first @njit, below), from NUMBA_CPU_FEATURES: the variable is
# set for that moment only, so processes started from this one detect their own CPU. Only where the
# user has not chosen (NUMBA_CPU_NAME / NUMBA_CPU_FEATURES win). It applies to every function Numba
# compiles in this process, and Numba's on-disk cache keys on it. A program that compiled Numba code
# before importing this module keeps its width (:func:`vector_bits` tells).
#
# SLP vectorizer. Numba runs LLVM's loop vectorizer but leaves the SLP ("superword") vectorizer
# off (NUMBA_SLP_VECTORIZE=0, its default). A loop of 16 steps over the channels, with 16 as a
# compile-time constant, is unrolled into 16 scalar multiply-adds before the loop vectorizer sees
# it, and only the SLP vectorizer makes those one 512-bit instruction again: the loops that sum
# over the windows' winners (_direct_backward_from_winners) ran 6-14x slower without it (a loop of
# 9 x 16 multiply-adds into a stack array: 42 ns against 3 ns). It packs side-by-side operations of
# the same kind and never reorders a sum, so every other kernel keeps its bits (the test suite's
# bit-for-bit twin checks pass with it). Numba reads the setting each time it compiles, so it is
# set in the environment (where config.reload_config() finds it again) unless the user set it.
# Numba's on-disk cache does not key on it: after changing NUMBA_SLP_VECTORIZE by hand, delete
# scratchnet/kernels/__pycache__ to recompile.
def _configure_code_generator() -> None:
    """The SLP vectorizer on, and (AVX-512 CPUs) 512-bit vectors, each unless the user chose."""
    from numba.core import codegen, config, registry

    os.environ.setdefault("NUMBA_SLP_VECTORIZE", "1")
    config.SLP_VECTORIZE = int(os.environ["NUMBA_SLP_VECTORIZE"])
    if os.environ.get("NUMBA_CPU_NAME") or os.environ.get("NUMBA_CPU_FEATURES"):
        return
    if "_toplevel_target_context" in vars(registry.cpu_target):  # Numba already generating code
        return
    features = codegen.get_host_cpu_features()  # honours NUMBA_ENABLE_AVX=0
    if "+avx512f" not in features.split(","):
        return
    os.environ["NUMBA_CPU_FEATURES"] = features + ",-prefer-256-bit"
    try:
        config.reload_config()
        registry.cpu_target.target_context  # noqa: B018  (makes the code generator now)
    finally:
        del os.environ["NUMBA_CPU_FEATURES"]
        config.reload_config()


_configure_code_generator()


@functools.cache
def has_512_bit_vectors() -> bool:
    """Whether the CPU has AVX-512, so that Numba's loops here use 512-bit vectors (see
    ``_configure_code_generator``): read from the CPU features Numba compiles for (the user's
    ``NUMBA_CPU_FEATURES`` when set), no compiling. The direct loops size their blocks of sums by it
    (``FI_PX16``, ``RGB_PX16``): as many as fit in the vector registers."""
    from numba.core import codegen

    features = os.environ.get("NUMBA_CPU_FEATURES") or codegen.get_host_cpu_features()
    return "+avx512f" in features.split(",")


def vector_bits() -> int:
    """The widest vector registers Numba's vectorizer uses in this process (512, 256 or 128): read
    from the machine code of a small loop compiled for the purpose (not cached, about 0.2 s).
    0 when nothing is compiled (``NUMBA_DISABLE_JIT=1``)."""
    import re

    if numba.config.DISABLE_JIT:
        return 0

    def axpy(a, x, y):
        for i in range(x.shape[0]):
            y[i] += a * x[i]

    compiled = njit(fastmath={"contract"})(axpy)
    v = np.ones(64, np.float32)
    compiled(np.float32(1), v, v.copy())
    asm = "".join(compiled.inspect_asm().values())
    for bits, register in ((512, "zmm"), (256, "ymm"), (128, "xmm")):
        if re.search(rf"%{register}\d", asm):
            return bits
    return 0


def _images_per_chunk(n: int, rows_per_image: int, cols_per_row: int, itemsize: int,
                      min_chunks: int = MIN_CHUNKS) -> int:
    """Images per chunk: within ``COLS_BUDGET_BYTES``, and at least ``min_chunks`` chunks."""
    budget = COLS_BUDGET_BYTES // (rows_per_image * cols_per_row * itemsize)
    return max(1, min(budget, -(-n // min_chunks)))


@njit(cache=True)
def _sum_in_order(partial):
    """``partial[0] + partial[1] + ...`` in index order: the same sum whatever the thread count.
    A function of its own, compiled without ``parallel``: written inside a parallel kernel, each
    ``total += partial[k]`` became a parallel loop of its own (measured: 256 of them, one per
    image, cost 13 ms, ten times the kernel's own work)."""
    total = partial[0].copy()
    for k in range(1, partial.shape[0]):
        total += partial[k]
    return total


# --------------------------------------------------------------------------------------- conv2d


@njit(cache=True, inline="always")
def _gather(xpad, kh, kw, sh, sw, dh, dw, c, i0, oh, ow, first, last, cols):
    for s in range(first, last):
        for i in range(oh):
            for j in range(ow):
                row = ((s - first) * oh + i) * ow + j
                for a in range(kh):
                    for b in range(kw):
                        col = (a * kw + b) * c
                        for ch in range(c):
                            cols[row, col + ch] = xpad[s, (i0 + i) * sh + a * dh, j * sw + b * dw, ch]


@njit(cache=True, inline="always")
def _scatter(dcols, kh, kw, sh, sw, dh, dw, c, oh, ow, first, last, dxpad):
    for s in range(first, last):
        for i in range(oh):
            for j in range(ow):
                row = ((s - first) * oh + i) * ow + j
                for a in range(kh):
                    for b in range(kw):
                        col = (a * kw + b) * c
                        for ch in range(c):
                            dxpad[s, i * sh + a * dh, j * sw + b * dw, ch] += dcols[row, col + ch]


# _im2col and _col2im call the loops above with the sizes as compile-time constants for the usual
# 3x3 kernel with stride 1 (and, on RGB or grey images, the channel count too): the compiler then
# unrolls the kernel window and moves the values in vectors. Measured against the same loops with
# the sizes known at run time: the gather 4-6x faster on 3 channels, ~10x on 1, 1.0-1.4x on 16-64;
# the scatter 1.5x.

@njit(cache=True)
def _im2col(xpad, kh, kw, sh, sw, dh, dw, i0, oh, ow, first, last, cols):
    """``cols[((s - first)*OH + i)*OW + j, (a*KW + b)*C + c] = xpad[s, (i0 + i)*sh + a*dh, j*sw + b*dw, c]``
    for the images ``first <= s < last`` and ``OH`` output rows from row ``i0``."""
    c = xpad.shape[3]
    if kh == 3 and kw == 3 and sh == 1 and sw == 1 and dh == 1 and dw == 1:
        if c == 3:
            _gather(xpad, 3, 3, 1, 1, 1, 1, 3, i0, oh, ow, first, last, cols)
        elif c == 1:
            _gather(xpad, 3, 3, 1, 1, 1, 1, 1, i0, oh, ow, first, last, cols)
        else:
            _gather(xpad, 3, 3, 1, 1, 1, 1, c, i0, oh, ow, first, last, cols)
    else:
        _gather(xpad, kh, kw, sh, sw, dh, dw, c, i0, oh, ow, first, last, cols)


@njit(cache=True)
def _col2im(dcols, kh, kw, sh, sw, dh, dw, oh, ow, first, last, dxpad):
    """The transpose of ``_im2col``: add each ``dcols`` entry into the ``dxpad`` cell it came from."""
    c = dxpad.shape[3]
    if kh == 3 and kw == 3 and sh == 1 and sw == 1 and dh == 1 and dw == 1:
        _scatter(dcols, 3, 3, 1, 1, 1, 1, c, oh, ow, first, last, dxpad)
    else:
        _scatter(dcols, kh, kw, sh, sw, dh, dw, c, oh, ow, first, last, dxpad)


@njit(parallel=True, cache=True)
def _conv2d_forward(xpad, kernel2d, bias, relu, kh, kw, sh, sw, dh, dw, oh, ow, chunk, z, a):
    """``z = im2col(xpad) @ kernel2d`` chunk by chunk; with ``relu``: ``z += bias``, ``a = max(z, 0)``."""
    n, rows = xpad.shape[0], oh * ow
    for t in prange(-(-n // chunk)):  # one chunk of images per iteration
        first, last = t * chunk, min(n, (t + 1) * chunk)
        top, bottom = first * rows, last * rows
        cols = np.empty((bottom - top, kernel2d.shape[0]), dtype=xpad.dtype)
        _im2col(xpad, kh, kw, sh, sw, dh, dw, 0, oh, ow, first, last, cols)
        np.dot(cols, kernel2d, z[top:bottom])
        if relu:
            for r in range(top, bottom):
                for o in range(z.shape[1]):
                    v = z[r, o] + bias[o]
                    z[r, o] = v
                    a[r, o] = 0 if v < 0 else v  # NaN passes through, as in np.maximum


def _conv2d(xpad, kernel, bias, strides, dilation, out_hw, keep_z=True):
    xpad = np.ascontiguousarray(xpad)
    kh, kw, c, f = kernel.shape
    (sh, sw), (dh, dw), (oh, ow) = strides, dilation, out_hw
    n = xpad.shape[0]
    kernel2d = np.ascontiguousarray(kernel, dtype=xpad.dtype).reshape(kh * kw * c, f)
    z = np.empty((n * oh * ow, f), dtype=xpad.dtype)  # (N*OH*OW, F)
    relu = bias is not None
    # keep_z=False: a is z, so each value is overwritten by its ReLU (one activation-sized array)
    a = (np.empty_like(z) if keep_z else z) if relu else z[:0]
    bias = np.ascontiguousarray(bias if relu else np.zeros(f), dtype=xpad.dtype)
    chunk = _images_per_chunk(n, oh * ow, kh * kw * c, xpad.itemsize)
    _conv2d_forward(xpad, kernel2d, bias, relu, kh, kw, sh, sw, dh, dw, oh, ow, chunk, z, a)
    if not relu:
        return z.reshape(n, oh, ow, f)
    return z.reshape(n, oh, ow, f), a.reshape(n, oh, ow, f)


@_one_at_a_time
def conv2d_forward(xpad, kernel, strides, dilation, out_hw):
    """``(N, Hp, Wp, C)`` padded input, ``(KH, KW, C, F)`` kernel -> ``(N, OH, OW, F)`` (no bias)."""
    return _conv2d(xpad, kernel, None, strides, dilation, out_hw)


@_one_at_a_time
def conv2d_bias_relu_forward(xpad, kernel, bias, strides, dilation, out_hw):
    """``z = conv2d_forward(...) + bias`` and ``a = max(z, 0)``, computed on each chunk of ``z``
    while it is still in cache. Returns ``(z, a)``, both ``(N, OH, OW, F)``."""
    return _conv2d(xpad, kernel, bias, strides, dilation, out_hw)


@_one_at_a_time
def conv2d_bias_relu(xpad, kernel, bias, strides, dilation, out_hw):
    """``a = max(conv2d_forward(...) + bias, 0)`` only, ``(N, OH, OW, F)``: the same pass as
    :func:`conv2d_bias_relu_forward` writing each ReLU over its ``z`` (no ``z`` array kept)."""
    return _conv2d(xpad, kernel, bias, strides, dilation, out_hw, keep_z=False)[1]


@njit(parallel=True, cache=True)
def _conv2d_backward_kernel(xpad, dy2d, kh, kw, sh, sw, dh, dw, oh, ow, chunk, block_images, band):
    """Per chunk of images, blocks of ``block_images`` images (or, for large images, bands of
    ``band`` output rows of one image) are gathered and multiplied while in cache, and the block
    products added up in order."""
    n, f = xpad.shape[0], dy2d.shape[1]
    chunks = -(-n // chunk)
    k = kh * kw * xpad.shape[3]
    partial = np.zeros((chunks, k, f), dtype=dy2d.dtype)  # one sum per chunk
    for t in prange(chunks):
        first, last = t * chunk, min(n, (t + 1) * chunk)
        cols = np.empty((block_images * band * ow, k), dtype=xpad.dtype)
        product = np.empty((k, f), dtype=dy2d.dtype)
        for s0 in range(first, last, block_images):
            s1 = min(last, s0 + block_images)
            for i0 in range(0, oh, band):
                i1 = min(oh, i0 + band)
                m = (s1 - s0) * (i1 - i0) * ow
                top = (s0 * oh + i0) * ow  # whole images, or a band of one image: contiguous rows
                _im2col(xpad, kh, kw, sh, sw, dh, dw, i0, i1 - i0, ow, s0, s1, cols[:m])
                np.dot(cols[:m].T, dy2d[top:top + m], product)
                partial[t] += product
    return _sum_in_order(partial)  # in chunk order: the same sum whatever the thread count


@_one_at_a_time
def conv2d_backward_kernel(xpad, dy, kernel_hw, strides, dilation):
    """``dL/dK[a, b, c, o] = sum_{n, i, j} xpad[n, i*sh + a*dh, j*sw + b*dw, c] * dy[n, i, j, o]``."""
    xpad = np.ascontiguousarray(xpad)
    n, oh, ow, f = dy.shape
    c = xpad.shape[3]
    (kh, kw), (sh, sw), (dh, dw) = kernel_hw, strides, dilation
    dy2d = np.ascontiguousarray(dy, dtype=xpad.dtype).reshape(n * oh * ow, f)  # (N*OH*OW, F)
    chunk = _images_per_chunk(n, oh * ow, kh * kw * c, xpad.itemsize, MIN_KERNEL_GRAD_CHUNKS)
    # Blocks of the gathered matrix and dy within KERNEL_GRAD_BLOCK_BYTES: whole images if one
    # fits, else bands of output rows of one image.
    row_bytes = (kh * kw * c + f) * xpad.itemsize
    rows_fit = max(1, KERNEL_GRAD_BLOCK_BYTES // row_bytes)
    if rows_fit >= oh * ow:
        block_images, band = min(chunk, rows_fit // (oh * ow)), oh
    else:
        block_images, band = 1, max(1, rows_fit // ow)
    dk = _conv2d_backward_kernel(xpad, dy2d, kh, kw, sh, sw, dh, dw, oh, ow, chunk, block_images, band)
    return dk.reshape(kh, kw, c, f)


@njit(parallel=True, cache=True)
def _conv2d_backward_input(dy2d, kernel2d_t, kh, kw, sh, sw, dh, dw, oh, ow, chunk, dxpad):
    n, rows = dxpad.shape[0], oh * ow
    for t in prange(-(-n // chunk)):  # each chunk scatters into its own images only
        first, last = t * chunk, min(n, (t + 1) * chunk)
        dcols = np.empty(((last - first) * rows, kernel2d_t.shape[1]), dtype=dy2d.dtype)
        np.dot(dy2d[first * rows:last * rows], kernel2d_t, dcols)
        dxpad[first:last] = 0  # this chunk's images, zeroed here by this thread, then still in cache
        _col2im(dcols, kh, kw, sh, sw, dh, dw, oh, ow, first, last, dxpad)


@_one_at_a_time
def conv2d_backward_input(dy, kernel, strides, dilation, padded_hw):
    """``dL/dxpad``: each output cell sends ``dy[n, i, j, :] @ K[a, b].T`` back to the cell it read."""
    n, oh, ow, f = dy.shape
    kh, kw, c, _ = kernel.shape
    (sh, sw), (dh, dw), (hp, wp) = strides, dilation, padded_hw
    dy2d = np.ascontiguousarray(dy).reshape(n * oh * ow, f)  # (N*OH*OW, F)
    kernel2d_t = np.ascontiguousarray(kernel.reshape(kh * kw * c, f).T, dtype=dy.dtype)  # (F, K)
    dxpad = np.empty((n, hp, wp, c), dtype=dy.dtype)  # (N, Hp, Wp, C): each chunk zeroes its images
    chunk = _images_per_chunk(n, oh * ow, kh * kw * c, dy.itemsize)
    _conv2d_backward_input(dy2d, kernel2d_t, kh, kw, sh, sw, dh, dw, oh, ow, chunk, dxpad)
    return dxpad


# ------------------------------------------------------------------------------------ max-pool


@njit(cache=True, inline="always")
def _window_step(v, k, best, best_k):
    """One cell of a max-pooling window, the cells taken in row-major order from ``best = -inf``,
    ``best_k = 0``: ``v`` wins if strictly larger (an equal later value does not; NaN never does).
    Returns the new ``(best, best_k)``; selects, not branches, so the compiler keeps it in registers."""
    better = v > best
    return (v if better else best), (k if better else best_k)


@njit(cache=True, inline="always")
def _window_value(best, floor):
    """The pooled value of a window whose :func:`_window_step` scan ended at ``best``: at least
    ``floor``, the output type's lowest finite value, where TensorFlow starts a window
    (``pooling.lowest``); a window of NaN or ``-inf`` ends at ``-inf`` and pools to ``floor``.
    (``floor`` comes from the output's type: the scan's ``best`` is a float64, ``-inf`` its start.)"""
    return best if best > floor else floor


@njit(cache=True, inline="always")
def _maxpool2d_row(xpad, s, i, ph, pw, sh, sw, y, argmax, with_argmax):
    """One output row of one image: ``y (OW, C)`` and (``with_argmax``) ``argmax (OW, C)``. The
    running maximum lives in two local variables and each window cell *selects* rather than
    branches, so with the window size known when compiling (see the caller) it all stays in
    registers."""
    ow, c = y.shape
    floor = np.finfo(y.dtype).min
    for j in range(ow):
        for ch in range(c):
            best, k = -np.inf, 0
            for a in range(ph):
                for b in range(pw):
                    best, k = _window_step(xpad[s, i * sh + a, j * sw + b, ch], a * pw + b, best, k)
            y[j, ch] = _window_value(best, floor)
            if with_argmax:
                argmax[j, ch] = k


@njit(parallel=True, cache=True)
def _maxpool2d_forward(xpad, ph, pw, sh, sw, y, argmax, with_argmax):
    """Fills ``y (N, OH, OW, C)`` and, ``with_argmax``, ``argmax`` (same shape, any integer type)."""
    n, oh, ow, c = y.shape
    floor = np.finfo(y.dtype).min
    for r in prange(n * oh):  # one output row of one image per iteration
        s, i = r // oh, r % oh
        if ph == 2 and pw == 2 and sh == 2 and sw == 2:
            # Keras' default pooling, with the sizes as constants: the compiler unrolls the
            # 2x2 window (3-4x faster than the general loop below, measured).
            _maxpool2d_row(xpad, s, i, 2, 2, 2, 2, y[s, i], argmax[s, i], with_argmax)
            continue
        # Other windows: _maxpool2d_row with the sizes known only at run time measured 20-40%
        # slower than this loop (3x3 windows), so they keep it.
        for j in range(ow):
            y[s, i, j, :] = -np.inf
            if with_argmax:
                argmax[s, i, j, :] = 0
            for a in range(ph):
                for b in range(pw):
                    for ch in range(c):  # channels innermost: contiguous
                        v = xpad[s, i * sh + a, j * sw + b, ch]
                        if v > y[s, i, j, ch]:  # strict: an equal later value does not win
                            y[s, i, j, ch] = v
                            if with_argmax:
                                argmax[s, i, j, ch] = a * pw + b
            for ch in range(c):
                y[s, i, j, ch] = _window_value(y[s, i, j, ch], floor)


def _maxpool2d(xpad, pool_size, strides, out_hw, with_argmax):
    (ph, pw), (sh, sw), (oh, ow) = pool_size, strides, out_hw
    n, c = xpad.shape[0], xpad.shape[3]
    y = np.empty((n, oh, ow, c), dtype=xpad.dtype)
    # without argmax: a stand-in (N, OH, 1, 1) the loops index but never write
    argmax = np.empty((n, oh, ow, c) if with_argmax else (n, oh, 1, 1), dtype=argmax_dtype(pool_size))
    _maxpool2d_forward(np.ascontiguousarray(xpad), ph, pw, sh, sw, y, argmax, with_argmax)
    return y, argmax


@_one_at_a_time
def maxpool2d_forward(xpad, pool_size, strides, out_hw):
    """``(N, Hp, Wp, C)`` -> ``y (N, OH, OW, C)`` and ``argmax (N, OH, OW, C)`` (``a * PW + b``)."""
    return _maxpool2d(xpad, pool_size, strides, out_hw, True)


@_one_at_a_time
def maxpool2d_values(xpad, pool_size, strides, out_hw):
    """``y`` of :func:`maxpool2d_forward` alone (inference: no ``argmax`` written)."""
    return _maxpool2d(xpad, pool_size, strides, out_hw, False)[0]


@njit(parallel=True, cache=True)
def _maxpool2d_backward(dy, argmax, ph, pw, sh, sw, hp, wp):
    n, oh, ow, c = dy.shape
    tiled = sh == ph and sw == pw  # windows side by side: every cell gets at most one dy
    dxpad = np.empty((n, hp, wp, c), dtype=dy.dtype) if tiled else np.zeros((n, hp, wp, c), dy.dtype)
    for s in prange(n):  # windows may overlap: one image per iteration
        if tiled:
            dxpad[s, oh * ph:] = 0  # cells no window covers
            dxpad[s, :oh * ph, ow * pw:] = 0
            for i in range(oh):
                for a in range(ph):
                    for j in range(ow):
                        for b in range(pw):
                            k = a * pw + b
                            for ch in range(c):
                                g = dy[s, i, j, ch] + 0  # + 0: -0.0 becomes 0.0, as 0 + dy does
                                dxpad[s, i * ph + a, j * pw + b, ch] = g if argmax[s, i, j, ch] == k else 0
        else:
            for i in range(oh):
                for j in range(ow):
                    for ch in range(c):
                        k = argmax[s, i, j, ch]
                        dxpad[s, i * sh + k // pw, j * sw + k % pw, ch] += dy[s, i, j, ch]
    return dxpad


@_one_at_a_time
def maxpool2d_backward(dy, argmax, pool_size, strides, padded_hw):
    """Route ``dy (N, OH, OW, C)`` to the winning cell of each window -> ``dxpad (N, Hp, Wp, C)``."""
    (ph, pw), (sh, sw), (hp, wp) = pool_size, strides, padded_hw
    return _maxpool2d_backward(np.ascontiguousarray(dy), np.ascontiguousarray(argmax), ph, pw, sh, sw,
                               hp, wp)


@njit(cache=True, inline="always")
def _pooled_gradient_row(dy, y, argmax, s, i, zero, dzrow):
    """``dzrow``: row ``i`` of ReLU -> max-pooling's gradient ``dz`` for image ``s``, from the
    pooled arrays, 2x2 windows: ``dy`` at each window's winning cell where ``y > 0``, ``zero``
    elsewhere (and on an odd last row or column, which no window covers). ``dzrow``: ``(WZ, F)``."""
    ph, pw, f = y.shape[1], y.shape[2], y.shape[3]
    pi, a = i >> 1, i & 1
    if pi >= ph:  # an odd last row
        dzrow[:] = zero
        return
    for pj in range(pw):
        for b in range(2):  # selects, not branches: the compiler vectorizes them
            k = a * 2 + b
            for o in range(f):
                g = dy[s, pi, pj, o] if y[s, pi, pj, o] > 0 else zero
                dzrow[2 * pj + b, o] = g if argmax[s, pi, pj, o] == k else zero
    dzrow[2 * pw:] = zero  # an odd last column (no window)


@njit(cache=True, inline="always")
def _pooled_gradient_image(dy, y, argmax, s, zero, pad, dz):
    """``dz[s]``: ReLU -> max-pooling's gradient for image ``s``, row by row
    (:func:`_pooled_gradient_row`). ``pad > 0``: ``dz`` has a border of ``pad`` zeros around the
    ``(HZ, WZ)`` gradient (written here too), ready for the forward loops that compute dL/dx from
    it (:func:`direct_conv2d_backward_relu_maxpool2x2`). A first layer's backward makes the same
    values band by band instead (:func:`_rgb_pooled_kernel_gradient_band`,
    :func:`_direct_backward_kernel_filters_inner_pooled`)."""
    hz, wz = dz.shape[1] - 2 * pad, dz.shape[2] - 2 * pad
    dz[s, :pad] = zero  # the top border (none when pad is 0)
    for i in range(hz):
        dzrow = dz[s, pad + i]
        dzrow[:pad] = zero
        _pooled_gradient_row(dy, y, argmax, s, i, zero, dzrow[pad:pad + wz])
        dzrow[pad + wz:] = zero  # the right border
    dz[s, pad + hz:] = zero  # the bottom border


@njit(parallel=True, cache=True)
def _relu_maxpool2x2_backward_bias_grad(dy, y, argmax, hz, wz, pad):
    """``(dz, dL/dbias)``; ``dz`` is ``(N, HZ + 2*pad, WZ + 2*pad, F)``, zeros around the gradient."""
    n, f = dy.shape[0], dy.shape[3]
    dz = np.empty((n, hz + 2 * pad, wz + 2 * pad, f), dtype=dy.dtype)
    partial = np.zeros((n, f), dtype=np.float64)  # one bias-grad partial per image
    columns = np.empty((n, dy.shape[2] * f), dtype=np.float64)  # and its column sums
    zero = np.zeros(1, dtype=dy.dtype)[0]
    for s in prange(n):
        _pooled_gradient_image(dy, y, argmax, s, zero, pad, dz)
        _pooled_bias_partial(dy, y, s, columns[s], partial[s])
    return dz, _sum_in_order(partial).astype(dy.dtype)  # in image order


@njit(cache=True, inline="always")
def _pooled_bias_partial(dy, y, s, columns, partial):
    """``partial[o] += sum_{i, j} dy[s, i, j, o]`` where ``y > 0``: image ``s``'s share of the bias
    gradient after ReLU -> max-pooling (each window's ``dy`` reaches one ``dz`` cell, where
    ``y > 0``), in float64. First down the rows into ``columns`` (``PW*F`` sums, the caller's
    scratch: one long loop over a row's ``PW*F`` side-by-side values, which the compiler
    vectorizes), then across the columns. Summing each row's ``F`` channels straight into
    ``partial`` was a loop of 16-64 steps, shorter than the compiler's vector loop: it ran one
    value at a time (the first layer's whole backward 1.03-1.15x faster this way with 16
    filters, measured; level with 32)."""
    w = dy.shape[2] * dy.shape[3]  # a row's PW*F values
    for q in range(w):
        columns[q] = 0.0
    for i in range(dy.shape[1]):
        d, v = dy[s, i].reshape(w), y[s, i].reshape(w)
        for q in range(w):
            columns[q] += d[q] if v[q] > 0 else 0.0  # + 0.0 leaves a sum as it was
    f = dy.shape[3]
    for j in range(dy.shape[2]):
        for o in range(f):
            partial[o] += columns[j * f + o]


@_one_at_a_time
def relu_maxpool2d_backward_bias_grad(dy, y, argmax, pool_size, strides, conv_out_hw):
    """Twin of :func:`scratchnet.kernels.pooling.relu_maxpool2d_backward_bias_grad` (formula
    there): one pass for 2x2 windows with stride 2; other windows run the reference's formula on
    the Numba kernels."""
    if tuple(pool_size) == (2, 2) and tuple(strides) == (2, 2):
        return _relu_maxpool2x2_backward_bias_grad(
            np.ascontiguousarray(dy), np.ascontiguousarray(y), np.ascontiguousarray(argmax),
            conv_out_hw[0], conv_out_hw[1], 0)
    # the unlocked kernels: this call already holds the lock that maxpool2d_backward takes
    (ph, pw), (sh, sw), (hz, wz) = pool_size, strides, conv_out_hw
    routed = np.where(y > 0, dy, 0).astype(dy.dtype)  # (N, OH, OW, F): dy * (y > 0)
    dz = _maxpool2d_backward(routed, np.ascontiguousarray(argmax), ph, pw, sh, sw, hz, wz)
    return dz, _bias_grad(dz.reshape(-1, dz.shape[-1]))


# ------------------------------------------------------------------------------------ dense


@njit(cache=True)
def _matmul(a2d, b):
    return np.dot(a2d, b)


@_one_at_a_time
def matmul(a, b):
    """``a @ b``: ``(..., K) @ (K, M) -> (..., M)``, on this thread's single-threaded BLAS, so that
    NumPy's BLAS threads never wake up to compete with Numba's. A product that the NumPy reference
    would cut into several row pieces (``dense.row_pieces``) is the reference's: its pieces use
    every core (talk_cnn's 6272 -> 512 Dense at batch 256: forward 15.1 -> 6.9 ms, dL/dW 12.0 -> 6.0,
    dL/dx 11.6 -> 7.0; a talk_cnn training step at batch 32 217.6 -> 207.9 ms). Smaller ones stay
    here: one call, without the pieces' set-up (the digits MLP's whole step is 0.2 ms)."""
    if len(_dense_reference.row_pieces(a.size // max(1, a.shape[-1]), a.shape[-1], b.shape[-1])) > 1:
        return _dense_reference.matmul(a, b)
    dtype = np.result_type(a, b)
    a2d = a.reshape(-1, a.shape[-1])  # (N*..., K)
    if not (a2d.flags.c_contiguous or a2d.flags.f_contiguous):
        a2d = np.ascontiguousarray(a2d)
    if not (b.flags.c_contiguous or b.flags.f_contiguous):
        b = np.ascontiguousarray(b)
    out = _matmul(a2d.astype(dtype, copy=False), b.astype(dtype, copy=False))
    return out.reshape(a.shape[:-1] + (b.shape[1],))


# ------------------------------------------------------------------------------------ bias


@njit(cache=True)
def _bias_grad(dz2d):
    rows, f = dz2d.shape
    acc = np.zeros(f, dtype=np.float64)  # float64 sums: closer to exact than NumPy's float32 ones
    for r in range(rows):
        for o in range(f):
            acc[o] += dz2d[r, o]
    return acc.astype(dz2d.dtype)


@_one_at_a_time
def bias_grad(dz):
    """``dL/dbias[o] = sum of dz[..., o]`` over every axis but the last.

    One thread: a single pass over memory takes a fraction of a millisecond, less than waking a
    second thread costs on a busy machine (and the sum cannot depend on the thread count).
    """
    return _bias_grad(np.ascontiguousarray(dz).reshape(-1, dz.shape[-1]))  # (N*..., F)


# Large activations (talk_cnn's first conv: 45 M values at batch 32, ~90 ms on one core) are cut
# into this many blocks of rows, one thread each; each block sums its own float64 partial bias
# gradient and the partials are added in block order, so the result does not depend on the
# thread count. Smaller ones stay on one thread (see bias_grad's docstring).
RELU_GRAD_BLOCKS = 8
RELU_GRAD_PARALLEL_VALUES = 2**20


@njit(cache=True, inline="always")
def _relu_grad_rows(da2d, z2d, first, last, dz, acc):
    f = da2d.shape[1]
    for r in range(first, last):
        for o in range(f):
            v = da2d[r, o] if z2d[r, o] > 0 else da2d[r, o] * 0  # da * 0: NaN and -0.0 as NumPy
            dz[r, o] = v
            acc[o] += v


@njit(cache=True)
def _relu_backward_bias_grad(da2d, z2d):
    f = da2d.shape[1]
    dz = np.empty_like(da2d)
    acc = np.zeros(f, dtype=np.float64)
    _relu_grad_rows(da2d, z2d, 0, da2d.shape[0], dz, acc)
    return dz, acc.astype(da2d.dtype)


@njit(parallel=True, cache=True)
def _relu_backward_bias_grad_blocks(da2d, z2d, blocks):
    rows, f = da2d.shape
    dz = np.empty_like(da2d)
    partial = np.zeros((blocks, f), dtype=np.float64)
    per_block = -(-rows // blocks)
    for k in prange(blocks):
        _relu_grad_rows(da2d, z2d, k * per_block, min(rows, (k + 1) * per_block), dz, partial[k])
    return dz, _sum_in_order(partial).astype(da2d.dtype)  # in block order


@_one_at_a_time
def relu_backward_bias_grad(da, z):
    """``dz = da * (z > 0)`` and ``db = bias_grad(dz)`` in one pass (blocks of rows on the threads
    for large arrays, one thread for small ones)."""
    f = da.shape[-1]
    da2d = np.ascontiguousarray(da).reshape(-1, f)  # (N*..., F)
    z2d = np.ascontiguousarray(z).reshape(-1, f)
    if da2d.size >= RELU_GRAD_PARALLEL_VALUES:
        dz, db = _relu_backward_bias_grad_blocks(da2d, z2d, RELU_GRAD_BLOCKS)
    else:
        dz, db = _relu_backward_bias_grad(da2d, z2d)
    return dz.reshape(da.shape), db


# ------------------------------------------------------------------------------ memory reuse


# ------------------------------------------------------------------------- winograd F(2x2, 3x3)
# Twins of scratchnet.kernels.winograd (formulas there). Work is cut into chunks of tile rows
# (a tile row: the TW tiles of output rows 2*ti, 2*ti + 1 of one image); each chunk transforms its
# input tiles into V (16, T, C) while they are in cache, does the 16 products (T, C) @ (C, F) on
# its thread's BLAS, and transforms M (16, T, F) back into its outputs (with bias and ReLU).
# The transforms (additions only) run in two stages, rows then columns, through a small (4, 4, C)
# scratch array, each stage a loop over the contiguous channel axis with a few loads and stores:
# the compiler turns those into vector instructions (measured: 6.6x faster than one loop that
# does all 16 loads and 16 stores at once, which it leaves scalar). The tiny filter transforms
# (U = G g G^T, dL/dg = G^T dU G) are the reference's NumPy.

WINOGRAD_BUDGET_BYTES = 1 * 2**20  # V and M of one chunk (16 * T * (C + F) values) stay below this


@njit(cache=True, inline="always")
def _winograd_input_tiles(xpad, r0, r1, th, tw, v):
    """``v[:, t, :] = B^T d B`` for the tiles of tile rows ``r0 <= r < r1`` (global over images)."""
    hp, wp, c = xpad.shape[1], xpad.shape[2], xpad.shape[3]
    rows = np.empty((4, 4, c), dtype=xpad.dtype)  # B^T d of one tile: (row a, column j, channel)
    for r in range(r0, r1):
        s, ti = r // th, r % th
        y0 = 2 * ti
        y3 = min(y0 + 3, hp - 1)  # past the edge any finite row does: it reaches no kept output
        for tj in range(tw):
            t = (r - r0) * tw + tj
            for j in range(4):  # B^T d: rows d0 - d2, d1 + d2, d2 - d1, d1 - d3
                x = min(2 * tj + j, wp - 1)
                d0, d1, d2, d3 = xpad[s, y0, x], xpad[s, y0 + 1, x], xpad[s, y0 + 2, x], xpad[s, y3, x]
                q0, q1, q2, q3 = rows[0, j], rows[1, j], rows[2, j], rows[3, j]
                for ch in range(c):
                    q0[ch] = d0[ch] - d2[ch]
                    q1[ch] = d1[ch] + d2[ch]
                    q2[ch] = d2[ch] - d1[ch]
                    q3[ch] = d1[ch] - d3[ch]
            for a in range(4):  # (B^T d) B: columns q0 - q2, q1 + q2, q2 - q1, q1 - q3
                q0, q1, q2, q3 = rows[a, 0], rows[a, 1], rows[a, 2], rows[a, 3]
                v0, v1, v2, v3 = v[4 * a, t], v[4 * a + 1, t], v[4 * a + 2, t], v[4 * a + 3, t]
                for ch in range(c):
                    v0[ch] = q0[ch] - q2[ch]
                    v1[ch] = q1[ch] + q2[ch]
                    v2[ch] = q2[ch] - q1[ch]
                    v3[ch] = q1[ch] - q3[ch]


@njit(cache=True, inline="always")
def _winograd_output_gradient(dy, r0, r1, th, tw, dm):
    """``dm[:, t, :] = A dY A^T`` for the tiles of tile rows ``r0 <= r < r1`` (zeros past the edge)."""
    oh, ow, f = dy.shape[1], dy.shape[2], dy.shape[3]
    zeros = np.zeros(f, dtype=dy.dtype)
    for r in range(r0, r1):
        s, ti = r // th, r % th
        i0, i1 = 2 * ti, 2 * ti + 1
        for tj in range(tw):
            t = (r - r0) * tw + tj
            j0, j1 = 2 * tj, 2 * tj + 1
            e00 = dy[s, i0, j0]
            e01 = dy[s, i0, j1] if j1 < ow else zeros
            e10 = dy[s, i1, j0] if i1 < oh else zeros
            e11 = dy[s, i1, j1] if i1 < oh and j1 < ow else zeros
            # rows of A dY: (p, q) = e0, e0 + e1, e0 - e1, -e1; each row -> p, p + q, p - q, -q
            for a in range(4):
                m0, m1, m2, m3 = dm[4 * a, t], dm[4 * a + 1, t], dm[4 * a + 2, t], dm[4 * a + 3, t]
                for o in range(f):
                    if a == 0:
                        p, q = e00[o], e01[o]
                    elif a == 1:
                        p, q = e00[o] + e10[o], e01[o] + e11[o]
                    elif a == 2:
                        p, q = e00[o] - e10[o], e01[o] - e11[o]
                    else:
                        p, q = -e10[o], -e11[o]
                    m0[o] = p
                    m1[o] = p + q
                    m2[o] = p - q
                    m3[o] = -q


@njit(cache=True, inline="always")
def _winograd_tile_products(xpad, u, r0, r1, th, tw):
    """``M = [U . V]`` of the tiles of tile rows ``r0 <= r < r1``: their input transforms ``V (16, T,
    C)`` while they are in cache, then the 16 products ``V[p] @ U[p]`` on this thread's BLAS."""
    tiles = (r1 - r0) * tw
    v = np.empty((16, tiles, xpad.shape[3]), dtype=xpad.dtype)
    m = np.empty((16, tiles, u.shape[2]), dtype=xpad.dtype)
    _winograd_input_tiles(xpad, r0, r1, th, tw, v)
    for p in range(16):
        np.dot(v[p], u[p], m[p])
    return m


@njit(cache=True, inline="always")
def _winograd_output_rows(m, t, cols):
    """``cols = A^T M`` of tile ``t`` (rows ``m0 + m1 + m2`` and ``m1 - m2 - m3``): ``(2, 4, F)``,
    (row, column b, filter); the output transform's first half, column b of the 4x4 tile at a time."""
    f = m.shape[2]
    for b in range(4):
        m0, m1, m2, m3 = m[b, t], m[4 + b, t], m[8 + b, t], m[12 + b, t]
        w0, w1 = cols[0, b], cols[1, b]
        for o in range(f):
            w0[o] = m0[o] + m1[o] + m2[o]
            w1[o] = m1[o] - m2[o] - m3[o]


@njit(parallel=True, cache=True)
def _winograd_forward(xpad, u, bias, relu, th, tw, oh, ow, rows_per_chunk, z, a):
    n, f = xpad.shape[0], u.shape[2]
    total = n * th
    for k in prange(-(-total // rows_per_chunk)):
        r0, r1 = k * rows_per_chunk, min(total, (k + 1) * rows_per_chunk)
        m = _winograd_tile_products(xpad, u, r0, r1, th, tw)  # (16, T, F)
        cols = np.empty((2, 4, f), dtype=xpad.dtype)  # A^T M of one tile: (row, column b, filter)
        for r in range(r0, r1):  # Y = A^T M A, then + bias and ReLU, into the kept outputs
            s, ti = r // th, r % th
            i0, i1 = 2 * ti, 2 * ti + 1
            for tj in range(tw):
                t = (r - r0) * tw + tj
                j0, j1 = 2 * tj, 2 * tj + 1
                _winograd_output_rows(m, t, cols)  # A^T M
                for i in range(2):  # (A^T M) A: columns q0 + q1 + q2, q1 - q2 - q3
                    if 2 * ti + i >= oh:
                        break
                    q0, q1, q2, q3 = cols[i, 0], cols[i, 1], cols[i, 2], cols[i, 3]
                    y = i0 if i == 0 else i1
                    z0, z1 = z[s, y, j0], z[s, y, min(j1, ow - 1)]
                    keep1 = j1 < ow
                    if relu:
                        a0, a1 = a[s, y, j0], a[s, y, min(j1, ow - 1)]
                        for o in range(f):
                            y0 = q0[o] + q1[o] + q2[o] + bias[o]
                            z0[o] = y0
                            a0[o] = 0 if y0 < 0 else y0  # NaN passes through, as in np.maximum
                        if keep1:
                            for o in range(f):
                                y1 = q1[o] - q2[o] - q3[o] + bias[o]
                                z1[o] = y1
                                a1[o] = 0 if y1 < 0 else y1
                    else:
                        for o in range(f):
                            z0[o] = q0[o] + q1[o] + q2[o]
                        if keep1:
                            for o in range(f):
                                z1[o] = q1[o] - q2[o] - q3[o]


@njit(cache=True, inline="always")
def _relu_max2x2(v0, v1, v2, v3):
    """A 2x2 max-pooling window over ReLU outputs: ``a = max(v, 0)`` for its four cells (row-major
    order) as the ReLU kernels write it (NaN passes through), then :func:`_maxpool2d_row`'s steps.
    Returns ``(maximum, its offset)``: the bits and the argmax of the two passes (a window of NaN
    pools to the type's lowest finite value, :func:`_window_value`)."""
    # Every constant in the cells' own type: float64 ones (0, -inf) made the compiler convert each
    # cell to float64; without, the pooled loops measured 1.0-1.3x faster (same bits).
    t = type(v0)
    zero, lowest = t(0), t(np.finfo(t).min)
    best, k = _window_step(zero if v0 < zero else v0, 0, t(-np.inf), 0)
    best, k = _window_step(zero if v1 < zero else v1, 1, best, k)
    best, k = _window_step(zero if v2 < zero else v2, 2, best, k)
    best, k = _window_step(zero if v3 < zero else v3, 3, best, k)
    return _window_value(best, lowest), k


@njit(parallel=True, cache=True)
def _winograd_forward_maxpool2x2(xpad, u, bias, th, tw, ph, pw, rows_per_chunk, y, argmax, with_argmax):
    """Conv2D(relu) -> MaxPooling2D((2, 2)) in one pass: an F(2x2, 3x3) output tile *is* a 2x2
    pooling window, so each tile's four outputs (+ bias, ReLU) are pooled as they come out of the
    output transform and never stored. The tiles and chunks are :func:`_winograd_forward`'s (the
    same matrix products, so the same bits); a last tile row or column that "valid" pooling drops
    (odd output size) is not transformed back."""
    n, f = xpad.shape[0], u.shape[2]
    total = n * th
    for k in prange(-(-total // rows_per_chunk)):
        r0, r1 = k * rows_per_chunk, min(total, (k + 1) * rows_per_chunk)
        m = _winograd_tile_products(xpad, u, r0, r1, th, tw)  # (16, T, F)
        cols = np.empty((2, 4, f), dtype=xpad.dtype)  # A^T M of one tile: (row, column b, filter)
        for r in range(r0, r1):
            s, ti = r // th, r % th
            if ti >= ph:
                continue
            for tj in range(pw):
                t = (r - r0) * tw + tj
                _winograd_output_rows(m, t, cols)  # A^T M
                p0, p1, p2, p3 = cols[0, 0], cols[0, 1], cols[0, 2], cols[0, 3]
                q0, q1, q2, q3 = cols[1, 0], cols[1, 1], cols[1, 2], cols[1, 3]
                for o in range(f):  # (A^T M) A + bias: the window's cells in row-major order
                    best, kk = _relu_max2x2(p0[o] + p1[o] + p2[o] + bias[o], p1[o] - p2[o] - p3[o] + bias[o],
                                            q0[o] + q1[o] + q2[o] + bias[o], q1[o] - q2[o] - q3[o] + bias[o])
                    y[s, ti, tj, o] = best
                    if with_argmax:
                        argmax[s, ti, tj, o] = kk


def _winograd_rows_per_chunk(n: int, th: int, tw: int, width: int, itemsize: int,
                             positions: int = 16, budget_bytes: int | None = None) -> int:
    """Tile rows per chunk: ``positions * T * width`` values within ``budget_bytes``
    (``WINOGRAD_BUDGET_BYTES`` unless given), and at least ``MIN_CHUNKS`` chunks."""
    budget_bytes = WINOGRAD_BUDGET_BYTES if budget_bytes is None else budget_bytes
    budget = budget_bytes // (positions * tw * width * itemsize)
    return max(1, min(budget, -(-n * th // MIN_CHUNKS)))


@_one_at_a_time
def winograd_conv2d_forward(xpad, kernel, strides, dilation, out_hw):
    """``(N, Hp, Wp, C)`` padded input, ``(3, 3, C, F)`` kernel -> ``(N, OH, OW, F)`` (no bias)."""
    return _winograd_conv2d(2, xpad, kernel, None, strides, dilation, out_hw)


@_one_at_a_time
def winograd_conv2d_bias_relu_forward(xpad, kernel, bias, strides, dilation, out_hw):
    """``z = winograd_conv2d_forward(...) + bias`` and ``a = max(z, 0)``, computed on each chunk of
    tiles while it is in cache. Returns ``(z, a)``, both ``(N, OH, OW, F)``."""
    return _winograd_conv2d(2, xpad, kernel, bias, strides, dilation, out_hw)


@_one_at_a_time
def winograd_conv2d_bias_relu(xpad, kernel, bias, strides, dilation, out_hw):
    """``a = max(winograd_conv2d_forward(...) + bias, 0)`` only: :func:`winograd_conv2d_bias_relu_forward`
    writing each ReLU over its ``z`` (no ``z`` array kept)."""
    return _winograd_conv2d(2, xpad, kernel, bias, strides, dilation, out_hw, keep_z=False)[1]


@_one_at_a_time
def winograd_conv2d_bias_relu_maxpool2x2(xpad, kernel, bias, strides, dilation, out_hw, pool_out_hw,
                                         with_argmax):
    """``maxpool2d(max(winograd_conv2d_forward(...) + bias, 0))`` with 2x2 windows, stride 2:
    ``(y, argmax)`` of :func:`maxpool2d_forward` on :func:`winograd_conv2d_bias_relu`'s output
    (the same bits), in one pass that never stores the ``(N, OH, OW, F)`` activation;
    ``argmax`` is None unless ``with_argmax``."""
    return _winograd_conv2d_maxpool2x2(2, xpad, kernel, bias, strides, dilation, out_hw, pool_out_hw,
                                       with_argmax)


@_one_at_a_time
def winograd_conv2d_backward_kernel(xpad, dy, kernel_hw, strides, dilation):
    """``dL/dK = G^T [sum_tiles V^T dM] G``: ``(3, 3, C, F)``."""
    return _winograd_kernel_grad("winograd_conv2d_backward_kernel", 2, xpad, dy, kernel_hw, strides, dilation)


@njit(cache=True, inline="always")
def _winograd_add_input_tiles(dv, r0, r1, th, tw, dxpad):
    """``dd = B dV B^T`` of the tiles of tile rows ``r0 <= r < r1``, added into the input cells
    each tile read (none past the edge)."""
    hp, wp, c = dxpad.shape[1], dxpad.shape[2], dxpad.shape[3]
    rows = np.empty((4, 4, c), dtype=dv.dtype)  # B dV of one tile: (row i, column b, channel)
    for r in range(r0, r1):
        s, ti = r // th, r % th
        y0 = 2 * ti
        for tj in range(tw):
            t = (r - r0) * tw + tj
            x0 = 2 * tj
            for b in range(4):  # B dV, column b: v0, v1 - v2 + v3, -v0 + v1 + v2, -v3
                v0, v1, v2, v3 = dv[b, t], dv[4 + b, t], dv[8 + b, t], dv[12 + b, t]
                q0, q1, q2, q3 = rows[0, b], rows[1, b], rows[2, b], rows[3, b]
                for ch in range(c):
                    q0[ch] = v0[ch]
                    q1[ch] = v1[ch] - v2[ch] + v3[ch]
                    q2[ch] = -v0[ch] + v1[ch] + v2[ch]
                    q3[ch] = -v3[ch]
            for i in range(4):  # (B dV) B^T, row i, added in; past the edge it is exactly 0
                if y0 + i >= hp:
                    break
                q0, q1, q2, q3 = rows[i, 0], rows[i, 1], rows[i, 2], rows[i, 3]
                d0, d1, d2 = dxpad[s, y0 + i, x0], dxpad[s, y0 + i, x0 + 1], dxpad[s, y0 + i, x0 + 2]
                for ch in range(c):
                    d0[ch] += q0[ch]
                    d1[ch] += q1[ch] - q2[ch] + q3[ch]
                    d2[ch] += -q0[ch] + q1[ch] + q2[ch]
                if x0 + 3 < wp:
                    d3 = dxpad[s, y0 + i, x0 + 3]
                    for ch in range(c):
                        d3[ch] -= q3[ch]


@_one_at_a_time
def winograd_conv2d_backward_input(dy, kernel, strides, dilation, padded_hw):
    """``dL/dxpad``: ``B [dM U^T] B^T`` per tile with ``dM = A dY A^T``, added into the cells each
    tile read: ``(N, Hp, Wp, C)``."""
    return _winograd_input_grad("winograd_conv2d_backward_input", 2, dy, kernel, strides, dilation, padded_hw)


# ------------------------------------------------------------------- winograd F(4x4, 3x3), forward
# Twins of the reference's winograd4_* (kernels/winograd.py: B4_T, G4, A4_T). The plan of the
# F(2x2, 3x3) forward above with 6x6 input tiles and 4x4 output tiles: a tile row is the TW tiles
# of output rows 4*ti .. 4*ti + 3 of one image; per chunk, 36 products (T, C) @ (C, F). Input rows
# and columns past the edge (an output size that is not a multiple of 4) read as zeros, as the
# reference pads them. The transforms' coefficients (1/2, 3/2, 5/2, 2; 1/4, 1/8, 4, 8) come in
# the data's own type in ``coef``, so a float32 layer computes in float32, and each row is
# written term by term in B4_T's / A4_T's column order (the reference's order of the sum).

# V and M of one chunk (36 * T * (C + F) values) stay below this. Larger than F(2x2, 3x3)'s: its
# 36 products per chunk are each a quarter as tall for the same tiles, and thin products run below
# BLAS' speed. Measured (talk_cnn's three Winograd layers, batch 32, 7 interleaved repeats, fused
# forward ms at 0.5 / 1 / 1.5 / 2 / 3 MiB): 74x74x64 -> 64 38.0 / 36.4 / 35.7 / 35.9 / 36.4,
# 36x36x64 -> 128 16.6 / 15.4 / 13.9 / 13.6 / 14.3, 17x17x128 -> 128 10.1 / 9.5 / 8.7 / 8.8 / 10.8.
WINOGRAD4_BUDGET_BYTES = 3 * 2**19


@njit(cache=True, inline="always")
def _b4t_into(w, k, d0, d1, d2, d3, d4, d5, h, c15, c25, two):
    """``w[:] = (B4^T [d0 .. d5])[k]``, over the channel axis: one output vector per loop (one
    store and five or six loads, few enough pointers for the compiler to vectorize the loop after
    checking they do not overlap; all six outputs in one loop stayed scalar)."""
    if k == 0:
        for ch in range(w.shape[0]):
            w[ch] = d0[ch] - c15 * d1[ch] - two * d2[ch] + c15 * d3[ch] + d4[ch]
    elif k == 1:
        for ch in range(w.shape[0]):
            w[ch] = -d1[ch] + h * d2[ch] + c25 * d3[ch] + d4[ch]
    elif k == 2:
        for ch in range(w.shape[0]):
            w[ch] = d1[ch] - c25 * d2[ch] + h * d3[ch] + d4[ch]
    elif k == 3:
        for ch in range(w.shape[0]):
            w[ch] = -two * d1[ch] - d2[ch] + two * d3[ch] + d4[ch]
    elif k == 4:
        for ch in range(w.shape[0]):
            w[ch] = h * d1[ch] - d2[ch] - h * d3[ch] + d4[ch]
    else:
        for ch in range(w.shape[0]):
            w[ch] = d1[ch] - c15 * d2[ch] - two * d3[ch] + c15 * d4[ch] + d5[ch]


@njit(cache=True, inline="always")
def _winograd4_input_tiles(xpad, coef, r0, r1, th, tw, v):
    """``v[:, t, :] = B4^T d B4`` for the tiles of tile rows ``r0 <= r < r1`` (global over images)."""
    hp, wp, c = xpad.shape[1], xpad.shape[2], xpad.shape[3]
    h, c15, c25, two = coef[0], coef[1], coef[2], coef[3]
    zeros = np.zeros(c, dtype=xpad.dtype)
    rows = np.empty((6, 6, c), dtype=xpad.dtype)  # B4^T d of one tile: (row a, column j, channel)
    for r in range(r0, r1):
        s, ti = r // th, r % th
        y0 = 4 * ti
        for tj in range(tw):
            t = (r - r0) * tw + tj
            for j in range(6):  # B4^T d, column j
                x = 4 * tj + j
                inside = x < wp
                e0 = xpad[s, y0, x] if inside else zeros
                e1 = xpad[s, y0 + 1, x] if inside else zeros
                e2 = xpad[s, y0 + 2, x] if inside else zeros
                e3 = xpad[s, y0 + 3, x] if inside and y0 + 3 < hp else zeros
                e4 = xpad[s, y0 + 4, x] if inside and y0 + 4 < hp else zeros
                e5 = xpad[s, y0 + 5, x] if inside and y0 + 5 < hp else zeros
                for a in range(6):
                    _b4t_into(rows[a, j], a, e0, e1, e2, e3, e4, e5, h, c15, c25, two)
            for a in range(6):  # (B4^T d) B4, row a
                p0, p1, p2 = rows[a, 0], rows[a, 1], rows[a, 2]
                p3, p4, p5 = rows[a, 3], rows[a, 4], rows[a, 5]
                for b in range(6):
                    _b4t_into(v[6 * a + b, t], b, p0, p1, p2, p3, p4, p5, h, c15, c25, two)


@njit(cache=True, inline="always")
def _winograd4_tile_products(xpad, u, coef, r0, r1, th, tw):
    """``M = [U . V]`` of the tiles of tile rows ``r0 <= r < r1``: ``(36, T, F)``."""
    tiles = (r1 - r0) * tw
    v = np.empty((36, tiles, xpad.shape[3]), dtype=xpad.dtype)
    m = np.empty((36, tiles, u.shape[2]), dtype=xpad.dtype)
    _winograd4_input_tiles(xpad, coef, r0, r1, th, tw, v)
    for p in range(36):
        np.dot(v[p], u[p], m[p])
    return m


@njit(cache=True, inline="always")
def _a4t_into(w, i, m0, m1, m2, m3, m4, m5, h, two, quarter, four, eighth, eight):
    """``w[:] = (A4^T [m0 .. m5])[i]`` over the filter axis, one output vector per loop (as
    :func:`_b4t_into`)."""
    if i == 0:
        for o in range(w.shape[0]):
            w[o] = m0[o] + m1[o] + m2[o] + m3[o] + m4[o]
    elif i == 1:
        for o in range(w.shape[0]):
            w[o] = m1[o] - m2[o] + h * m3[o] - two * m4[o]
    elif i == 2:
        for o in range(w.shape[0]):
            w[o] = m1[o] + m2[o] + quarter * m3[o] + four * m4[o]
    else:
        for o in range(w.shape[0]):
            w[o] = m1[o] - m2[o] + eighth * m3[o] - eight * m4[o] + m5[o]


@njit(cache=True, inline="always")
def _winograd4_output_tile(m, coef, t, cols, tile):
    """``tile = A4^T M A4`` of tile ``t``: ``(4, 4, F)`` (row, column, filter), through
    ``cols = A4^T M`` ``(4, 6, F)``, one output vector per loop (:func:`_a4t_into`)."""
    h, two, quarter, four, eighth, eight = coef[0], coef[3], coef[4], coef[5], coef[6], coef[7]
    for b in range(6):
        m0, m1, m2, m3, m4, m5 = m[b, t], m[6 + b, t], m[12 + b, t], m[18 + b, t], m[24 + b, t], m[30 + b, t]
        for i in range(4):
            _a4t_into(cols[i, b], i, m0, m1, m2, m3, m4, m5, h, two, quarter, four, eighth, eight)
    for i in range(4):
        c0, c1, c2, c3, c4, c5 = cols[i, 0], cols[i, 1], cols[i, 2], cols[i, 3], cols[i, 4], cols[i, 5]
        for j in range(4):
            _a4t_into(tile[i, j], j, c0, c1, c2, c3, c4, c5, h, two, quarter, four, eighth, eight)


@njit(parallel=True, cache=True)
def _winograd4_forward(xpad, u, coef, bias, relu, th, tw, oh, ow, rows_per_chunk, z, a):
    n, f = xpad.shape[0], u.shape[2]
    total = n * th
    for k in prange(-(-total // rows_per_chunk)):
        r0, r1 = k * rows_per_chunk, min(total, (k + 1) * rows_per_chunk)
        m = _winograd4_tile_products(xpad, u, coef, r0, r1, th, tw)  # (36, T, F)
        cols = np.empty((4, 6, f), dtype=xpad.dtype)  # A4^T M of one tile
        tile = np.empty((4, 4, f), dtype=xpad.dtype)  # A4^T M A4: the tile's outputs
        for r in range(r0, r1):
            s, ti = r // th, r % th
            for tj in range(tw):
                _winograd4_output_tile(m, coef, (r - r0) * tw + tj, cols, tile)
                for i in range(min(4, oh - 4 * ti)):  # the kept outputs (+ bias, ReLU)
                    for j in range(min(4, ow - 4 * tj)):
                        zz, out = z[s, 4 * ti + i, 4 * tj + j], tile[i, j]
                        if relu:
                            aa = a[s, 4 * ti + i, 4 * tj + j]
                            for o in range(f):
                                val = out[o] + bias[o]
                                zz[o] = val
                                aa[o] = 0 if val < 0 else val  # NaN passes through, as in np.maximum
                        else:
                            for o in range(f):
                                zz[o] = out[o]


@njit(parallel=True, cache=True)
def _winograd4_forward_maxpool2x2(xpad, u, coef, bias, th, tw, ph, pw, rows_per_chunk, y, argmax,
                                  with_argmax):
    """Conv2D(relu) -> MaxPooling2D((2, 2)) in one pass: a 4x4 output tile holds four whole 2x2
    windows, pooled as they come out of the output transform (the products and sums of
    :func:`_winograd4_forward`, so the same bits); outputs that "valid" pooling drops are not
    pooled."""
    n, f = xpad.shape[0], u.shape[2]
    total = n * th
    for k in prange(-(-total // rows_per_chunk)):
        r0, r1 = k * rows_per_chunk, min(total, (k + 1) * rows_per_chunk)
        m = _winograd4_tile_products(xpad, u, coef, r0, r1, th, tw)  # (36, T, F)
        cols = np.empty((4, 6, f), dtype=xpad.dtype)
        tile = np.empty((4, 4, f), dtype=xpad.dtype)
        for r in range(r0, r1):
            s, ti = r // th, r % th
            if 2 * ti >= ph:
                continue
            for tj in range(min(tw, -(-pw // 2))):
                _winograd4_output_tile(m, coef, (r - r0) * tw + tj, cols, tile)
                for wi in range(min(2, ph - 2 * ti)):  # the tile's windows (wi, wj)
                    for wj in range(min(2, pw - 2 * tj)):
                        v0, v1 = tile[2 * wi, 2 * wj], tile[2 * wi, 2 * wj + 1]
                        v2, v3 = tile[2 * wi + 1, 2 * wj], tile[2 * wi + 1, 2 * wj + 1]
                        yy = y[s, 2 * ti + wi, 2 * tj + wj]
                        arg = argmax[s, 2 * ti + wi, 2 * tj + wj] if with_argmax else argmax[0, 0, 0]
                        for o in range(f):
                            best, kk = _relu_max2x2(v0[o] + bias[o], v1[o] + bias[o],
                                                    v2[o] + bias[o], v3[o] + bias[o])
                            yy[o] = best
                            if with_argmax:
                                arg[o] = kk


def _winograd4_coefficients(dtype):
    """The F(4x4, 3x3) transforms' coefficients in the data's type: 1/2, 3/2, 5/2, 2, 1/4, 4, 1/8, 8."""
    return np.array([0.5, 1.5, 2.5, 2, 0.25, 4, 0.125, 8], dtype=dtype)


def _filter_transform(kernel, m):
    """:func:`scratchnet.kernels.winograd.filter_transform` with NumPy's BLAS held at one thread:
    for talk_cnn's 128-channel kernels its product is big enough for OpenBLAS to use two threads,
    which then spin on the cores the next Numba loops need (a talk_cnn step at batch 32 took 256 ms
    that way, 201 ms this way)."""
    from scratchnet.kernels import winograd as ref

    with _conv_reference.blas_on_one_thread():
        return np.ascontiguousarray(ref.filter_transform(kernel, m))  # ((m + 2)**2, C, F)


def _filter_gradient(du, m):
    """:func:`scratchnet.kernels.winograd.filter_gradient`, BLAS on one thread (see
    :func:`_filter_transform`)."""
    from scratchnet.kernels import winograd as ref

    with _conv_reference.blas_on_one_thread():
        return ref.filter_gradient(du, m)  # (3, 3, C, F)


def _winograd_setup(m, xpad, kernel, strides, dilation, out_hw):
    """What every Winograd forward needs, for ``m x m`` output tiles (2 or 4): the shape check, the
    contiguous input, U, the F(4x4, 3x3) coefficients in the data's type (F(2x2, 3x3) reads none),
    the tile counts and the tile rows per chunk."""
    from scratchnet.kernels import winograd as ref

    ref._check(f"winograd{'' if m == 2 else m}_conv2d_forward", kernel.shape, strides, dilation, m)
    xpad = np.ascontiguousarray(xpad)
    u = _filter_transform(kernel.astype(xpad.dtype, copy=False), m)  # ((m + 2)**2, C, F)
    coef = _winograd4_coefficients(xpad.dtype)
    th, tw = ref.tile_counts(out_hw, m)
    budget = WINOGRAD_BUDGET_BYTES if m == 2 else WINOGRAD4_BUDGET_BYTES
    rows = _winograd_rows_per_chunk(xpad.shape[0], th, tw, xpad.shape[3] + kernel.shape[3],
                                    xpad.itemsize, (m + 2) ** 2, budget)
    return xpad, u, coef, th, tw, rows


def _winograd_conv2d(m, xpad, kernel, bias, strides, dilation, out_hw, keep_z=True):
    """The Winograd forwards with ``m x m`` output tiles: ``z`` without a bias, else ``(z, a)``
    (``keep_z=False``: ``a`` written over ``z``)."""
    xpad, u, coef, th, tw, rows = _winograd_setup(m, xpad, kernel, strides, dilation, out_hw)
    n, f = xpad.shape[0], kernel.shape[3]
    oh, ow = out_hw
    z = np.empty((n, oh, ow, f), dtype=xpad.dtype)  # (N, OH, OW, F)
    relu = bias is not None
    a = (np.empty_like(z) if keep_z else z) if relu else z[:0]  # keep_z=False: ReLU over z
    bias = np.ascontiguousarray(bias if relu else np.zeros(f), dtype=xpad.dtype)
    if m == 2:
        _winograd_forward(xpad, u, bias, relu, th, tw, oh, ow, rows, z, a)
    else:
        _winograd4_forward(xpad, u, coef, bias, relu, th, tw, oh, ow, rows, z, a)
    return (z, a) if relu else z


def _winograd_conv2d_maxpool2x2(m, xpad, kernel, bias, strides, dilation, out_hw, pool_out_hw,
                                with_argmax):
    """Conv2D(relu) -> MaxPooling2D((2, 2)) in one pass with ``m x m`` output tiles: ``(y, argmax)``."""
    xpad, u, coef, th, tw, rows = _winograd_setup(m, xpad, kernel, strides, dilation, out_hw)
    n, f = xpad.shape[0], kernel.shape[3]
    ph, pw = pool_out_hw
    bias = np.ascontiguousarray(bias, dtype=xpad.dtype)
    y = np.empty((n, ph, pw, f), dtype=xpad.dtype)  # (N, PH, PW, F)
    argmax = np.empty(y.shape if with_argmax else (1, 1, 1, 1), dtype=argmax_dtype((2, 2)))
    if m == 2:
        _winograd_forward_maxpool2x2(xpad, u, bias, th, tw, ph, pw, rows, y, argmax, with_argmax)
    else:
        _winograd4_forward_maxpool2x2(xpad, u, coef, bias, th, tw, ph, pw, rows, y, argmax, with_argmax)
    return y, (argmax if with_argmax else None)


@_one_at_a_time
def winograd4_conv2d_forward(xpad, kernel, strides, dilation, out_hw):
    """``(N, Hp, Wp, C)`` padded input, ``(3, 3, C, F)`` kernel -> ``(N, OH, OW, F)`` (no bias)."""
    return _winograd_conv2d(4, xpad, kernel, None, strides, dilation, out_hw)


@_one_at_a_time
def winograd4_conv2d_bias_relu_forward(xpad, kernel, bias, strides, dilation, out_hw):
    """``z = winograd4_conv2d_forward(...) + bias`` and ``a = max(z, 0)``: ``(z, a)``."""
    return _winograd_conv2d(4, xpad, kernel, bias, strides, dilation, out_hw)


@_one_at_a_time
def winograd4_conv2d_bias_relu(xpad, kernel, bias, strides, dilation, out_hw):
    """``a`` of :func:`winograd4_conv2d_bias_relu_forward` only, written over ``z``."""
    return _winograd_conv2d(4, xpad, kernel, bias, strides, dilation, out_hw, keep_z=False)[1]


@_one_at_a_time
def winograd4_conv2d_bias_relu_maxpool2x2(xpad, kernel, bias, strides, dilation, out_hw, pool_out_hw,
                                          with_argmax):
    """``maxpool2d(max(winograd4_conv2d_forward(...) + bias, 0))``, 2x2 windows, stride 2:
    ``(y, argmax)`` (the bits of :func:`winograd4_conv2d_bias_relu` then max-pooling), one pass."""
    return _winograd_conv2d_maxpool2x2(4, xpad, kernel, bias, strides, dilation, out_hw, pool_out_hw,
                                       with_argmax)


# ------------------------------------------------------------------ winograd F(4x4, 3x3), backward
# The transposes of the forward's steps, as F(2x2, 3x3)'s backward above: dM = A4 dY A4^T from each
# 4x4 tile of dL/dy (zeros past the edge), then dL/dK = G4^T [sum_tiles V^T dM] G4 or
# dL/dd = B4 [dM U^T] B4^T added into the 6x6 input cells the tile read. A4 and B4 are A4_T's and
# B4_T's transposes: each output vector below is one column of A4_T or B4_T (the reference's
# matrices), written one output vector per loop as the forward's transforms.


# dL/dK's chunks: twice the forward's budget. Its 36 products (C, T) @ (T, F) sum over the chunk's
# T tiles into a (C, F) matrix added to the running total, so taller chunks mean fewer such
# additions and longer inner sums for BLAS. Measured (batch 32, ms, three runs of 5-7 interleaved
# repeats, 3 MiB's figure from the last) at 0.5 / 1.5 / 2 / 3 / 4 / 6 / 12 MiB: 74x74x64 -> 64
# 55.4 / 29.9 / 27.8 / 25.7 / 26.4 / 32.2 / 35.1; 36x36x64 -> 128 28.7 / 16.9 / 14.8 / 14.0 / 16.4
# / 15.3 / 15.3; 17x17x128 -> 128 17.4 / 11.0 / 10.5 / 10.8 / 10.7 / 10.3 / 9.8. dL/dx measured
# the same at 0.5, 1.5 and 3 MiB and keeps the forward's.
WINOGRAD4_KERNEL_GRAD_BUDGET_BYTES = 3 * 2**20


@njit(cache=True, inline="always")
def _a4_into(w, k, e0, e1, e2, e3, h, quarter, eighth, two, four, eight):
    """``w[:] = (A4 [e0 .. e3])[k]``, column ``k`` of A4_T, over the filter axis."""
    if k == 0:
        for o in range(w.shape[0]):
            w[o] = e0[o]
    elif k == 1:
        for o in range(w.shape[0]):
            w[o] = e0[o] + e1[o] + e2[o] + e3[o]
    elif k == 2:
        for o in range(w.shape[0]):
            w[o] = e0[o] - e1[o] + e2[o] - e3[o]
    elif k == 3:
        for o in range(w.shape[0]):
            w[o] = e0[o] + h * e1[o] + quarter * e2[o] + eighth * e3[o]
    elif k == 4:
        for o in range(w.shape[0]):
            w[o] = e0[o] - two * e1[o] + four * e2[o] - eight * e3[o]
    else:
        for o in range(w.shape[0]):
            w[o] = e3[o]


@njit(cache=True, inline="always")
def _winograd4_output_gradient(dy, coef, r0, r1, th, tw, dm):
    """``dm[:, t, :] = A4 dY A4^T`` for the tiles of tile rows ``r0 <= r < r1`` (zeros past the edge)."""
    oh, ow, f = dy.shape[1], dy.shape[2], dy.shape[3]
    h, two, quarter, four, eighth, eight = coef[0], coef[3], coef[4], coef[5], coef[6], coef[7]
    zeros = np.zeros(f, dtype=dy.dtype)
    rows = np.empty((6, 4, f), dtype=dy.dtype)  # A4 dY of one tile: (row k, column j, filter)
    for r in range(r0, r1):
        s, ti = r // th, r % th
        y0 = 4 * ti
        for tj in range(tw):
            t = (r - r0) * tw + tj
            for j in range(4):  # A4 dY, column j
                x = 4 * tj + j
                inside = x < ow
                e0 = dy[s, y0, x] if inside else zeros
                e1 = dy[s, y0 + 1, x] if inside and y0 + 1 < oh else zeros
                e2 = dy[s, y0 + 2, x] if inside and y0 + 2 < oh else zeros
                e3 = dy[s, y0 + 3, x] if inside and y0 + 3 < oh else zeros
                for k in range(6):
                    _a4_into(rows[k, j], k, e0, e1, e2, e3, h, quarter, eighth, two, four, eight)
            for k in range(6):  # (A4 dY) A4^T, row k
                q0, q1, q2, q3 = rows[k, 0], rows[k, 1], rows[k, 2], rows[k, 3]
                for b in range(6):
                    _a4_into(dm[6 * k + b, t], b, q0, q1, q2, q3, h, quarter, eighth, two, four, eight)


@njit(cache=True, inline="always")
def _b4_into(w, a, v0, v1, v2, v3, v4, v5, h, c15, c25, two):
    """``w[:] = (B4 [v0 .. v5])[a]``, column ``a`` of B4_T, over the channel axis."""
    if a == 0:
        for ch in range(w.shape[0]):
            w[ch] = v0[ch]
    elif a == 1:
        for ch in range(w.shape[0]):
            w[ch] = -c15 * v0[ch] - v1[ch] + v2[ch] - two * v3[ch] + h * v4[ch] + v5[ch]
    elif a == 2:
        for ch in range(w.shape[0]):
            w[ch] = -two * v0[ch] + h * v1[ch] - c25 * v2[ch] - v3[ch] - v4[ch] - c15 * v5[ch]
    elif a == 3:
        for ch in range(w.shape[0]):
            w[ch] = c15 * v0[ch] + c25 * v1[ch] + h * v2[ch] + two * v3[ch] - h * v4[ch] - two * v5[ch]
    elif a == 4:
        for ch in range(w.shape[0]):
            w[ch] = v0[ch] + v1[ch] + v2[ch] + v3[ch] + v4[ch] + c15 * v5[ch]
    else:
        for ch in range(w.shape[0]):
            w[ch] = v5[ch]


@njit(parallel=True, cache=True)
def _winograd_backward_kernel(xpad, dy, coef, m, th, tw, groups, rows_per_chunk):
    """``dU = sum_tiles V^T dM``, ``((m + 2)**2, C, F)``, for ``m x m`` output tiles (2 or 4; ``coef``
    is read by F(4x4, 3x3) only): ``groups`` runs of tile rows in parallel, each in chunks, in order,
    on one thread."""
    n, c, f = xpad.shape[0], xpad.shape[3], dy.shape[3]
    positions = (m + 2) ** 2
    total = n * th
    per_group = -(-total // groups)
    partial = np.zeros((groups, positions, c, f), dtype=dy.dtype)  # one dU per group of tile rows
    for g in prange(groups):
        first, last = g * per_group, min(total, (g + 1) * per_group)
        v = np.empty((positions, rows_per_chunk * tw, c), dtype=xpad.dtype)
        dm = np.empty((positions, rows_per_chunk * tw, f), dtype=dy.dtype)
        product = np.empty((c, f), dtype=dy.dtype)
        for r0 in range(first, last, rows_per_chunk):  # in order, on one thread
            r1 = min(last, r0 + rows_per_chunk)
            tiles = (r1 - r0) * tw
            if m == 2:
                _winograd_input_tiles(xpad, r0, r1, th, tw, v)
                _winograd_output_gradient(dy, r0, r1, th, tw, dm)
            else:
                _winograd4_input_tiles(xpad, coef, r0, r1, th, tw, v)
                _winograd4_output_gradient(dy, coef, r0, r1, th, tw, dm)
            for p in range(positions):
                np.dot(v[p, :tiles].T, dm[p, :tiles], product)
                partial[g, p] += product
    return _sum_in_order(partial)  # in group order: the same sum whatever the thread count


def _winograd_kernel_grad(where, m, xpad, dy, kernel_hw, strides, dilation):
    """``dL/dK = G^T [sum_tiles V^T dM] G`` with ``m x m`` output tiles: ``(3, 3, C, F)``."""
    from scratchnet.kernels import winograd as ref

    ref._check(where, kernel_hw, strides, dilation, m)
    xpad = np.ascontiguousarray(xpad)
    dy = np.ascontiguousarray(dy, dtype=xpad.dtype)
    n, oh, ow, f = dy.shape
    th, tw = ref.tile_counts((oh, ow), m)
    budget = WINOGRAD_BUDGET_BYTES if m == 2 else WINOGRAD4_KERNEL_GRAD_BUDGET_BYTES
    rows = _winograd_rows_per_chunk(n, th, tw, xpad.shape[3] + f, xpad.itemsize, (m + 2) ** 2, budget)
    groups = min(MIN_KERNEL_GRAD_CHUNKS, -(-n * th // rows))
    du = _winograd_backward_kernel(xpad, dy, _winograd4_coefficients(xpad.dtype), m, th, tw, groups, rows)
    return _filter_gradient(du, m)


@_one_at_a_time
def winograd4_conv2d_backward_kernel(xpad, dy, kernel_hw, strides, dilation):
    """``dL/dK = G4^T [sum_tiles V^T dM] G4``: ``(3, 3, C, F)``."""
    return _winograd_kernel_grad("winograd4_conv2d_backward_kernel", 4, xpad, dy, kernel_hw, strides,
                                 dilation)


@njit(cache=True, inline="always")
def _winograd4_add_input_tiles(dv, coef, r0, r1, th, tw, dxpad):
    """``dd = B4 dV B4^T`` of the tiles of tile rows ``r0 <= r < r1``, added into the input cells
    each tile read (none past the edge)."""
    hp, wp, c = dxpad.shape[1], dxpad.shape[2], dxpad.shape[3]
    h, c15, c25, two = coef[0], coef[1], coef[2], coef[3]
    rows = np.empty((6, 6, c), dtype=dv.dtype)  # B4 dV of one tile: (row a, column b, channel)
    out = np.empty((6, c), dtype=dv.dtype)  # one row of B4 dV B4^T
    for r in range(r0, r1):
        s, ti = r // th, r % th
        y0 = 4 * ti
        for tj in range(tw):
            t = (r - r0) * tw + tj
            x0 = 4 * tj
            for b in range(6):  # B4 dV, column b
                v0, v1, v2 = dv[b, t], dv[6 + b, t], dv[12 + b, t]
                v3, v4, v5 = dv[18 + b, t], dv[24 + b, t], dv[30 + b, t]
                for a in range(6):
                    _b4_into(rows[a, b], a, v0, v1, v2, v3, v4, v5, h, c15, c25, two)
            for a in range(min(6, hp - y0)):  # (B4 dV) B4^T, row a, added in (none past the edge)
                p0, p1, p2 = rows[a, 0], rows[a, 1], rows[a, 2]
                p3, p4, p5 = rows[a, 3], rows[a, 4], rows[a, 5]
                for b in range(min(6, wp - x0)):
                    _b4_into(out[b], b, p0, p1, p2, p3, p4, p5, h, c15, c25, two)
                    d, o = dxpad[s, y0 + a, x0 + b], out[b]
                    for ch in range(c):
                        d[ch] += o[ch]


@njit(parallel=True, cache=True)
def _winograd_backward_input(dy, ut, coef, m, th, tw, rows_per_chunk, parity, dxpad):
    """``dL/dxpad`` for ``m x m`` output tiles (2 or 4; ``coef`` is read by F(4x4, 3x3) only),
    chunks ``parity, parity + 2, ...`` of tile rows: those never add into the same input cells (a
    tile row covers ``m + 2`` input rows; the next chunk of the same parity starts two tile rows,
    ``2 * m`` input rows, further on)."""
    n, f, c = dy.shape[0], dy.shape[3], dxpad.shape[3]
    positions = (m + 2) ** 2
    total = n * th
    chunks = -(-total // rows_per_chunk)
    for half in prange((chunks - parity + 1) // 2):
        k = 2 * half + parity
        r0, r1 = k * rows_per_chunk, min(total, (k + 1) * rows_per_chunk)
        tiles = (r1 - r0) * tw
        dm = np.empty((positions, tiles, f), dtype=dy.dtype)
        dv = np.empty((positions, tiles, c), dtype=dy.dtype)
        if m == 2:
            _winograd_output_gradient(dy, r0, r1, th, tw, dm)
        else:
            _winograd4_output_gradient(dy, coef, r0, r1, th, tw, dm)
        for p in range(positions):
            np.dot(dm[p], ut[p], dv[p])
        if m == 2:
            _winograd_add_input_tiles(dv, r0, r1, th, tw, dxpad)
        else:
            _winograd4_add_input_tiles(dv, coef, r0, r1, th, tw, dxpad)


def _winograd_input_grad(where, m, dy, kernel, strides, dilation, padded_hw):
    """``dL/dxpad = B [dM U^T] B^T`` per ``m x m`` output tile, added into the cells each tile read."""
    from scratchnet.kernels import winograd as ref

    ref._check(where, kernel.shape, strides, dilation, m)
    dy = np.ascontiguousarray(dy)
    n, oh, ow, f = dy.shape
    c = kernel.shape[2]
    th, tw = ref.tile_counts((oh, ow), m)
    u = _filter_transform(kernel.astype(dy.dtype, copy=False), m)  # ((m + 2)**2, C, F)
    ut = np.ascontiguousarray(u.transpose(0, 2, 1))  # ((m + 2)**2, F, C)
    dxpad = np.zeros((n, padded_hw[0], padded_hw[1], c), dtype=dy.dtype)  # (N, Hp, Wp, C)
    budget = WINOGRAD_BUDGET_BYTES if m == 2 else WINOGRAD4_BUDGET_BYTES
    rows = _winograd_rows_per_chunk(n, th, tw, c + f, dy.itemsize, (m + 2) ** 2, budget)
    coef = _winograd4_coefficients(dy.dtype)
    for parity in (0, 1):  # even chunks in parallel, then odd ones: no two threads add into one cell
        _winograd_backward_input(dy, ut, coef, m, th, tw, rows, parity, dxpad)
    return dxpad


@_one_at_a_time
def winograd4_conv2d_backward_input(dy, kernel, strides, dilation, padded_hw):
    """``dL/dxpad``: ``B4 [dM U^T] B4^T`` per tile with ``dM = A4 dY A4^T``, added into the cells
    each tile read: ``(N, Hp, Wp, C)``."""
    return _winograd_input_grad("winograd4_conv2d_backward_input", 4, dy, kernel, strides, dilation,
                                padded_hw)


# ---------------------------------------------------------------------------- direct convolution
# Twins of scratchnet.kernels.direct (formulas there): no im2col matrix and no BLAS, plain loops
# that the compiler turns into vector instructions. For 3x3 kernels with stride 1 and dilation 1
# (dL/dx as the forward loops over the padded dy); every other shape runs the im2col twins above
# (the same results). The loop orders, chosen by the layer shape (numbers:
# benchmarks/CONV_ALGORITHMS.md):
#
# - "planar" (few input channels): each image is copied channel by channel into a flat
#   ``xt[c, y*Wp + x]``. Output pixel ``p = i*Wp + j`` then reads tap ``(a, b)`` at ``p + a*Wp + b``:
#   for one filter, the whole band of outputs is one long loop over ``p`` whose body is the 9*C
#   multiply-adds with the kernel values as constants of the loop, which the compiler runs 16 (or
#   8) pixels at a time. The ``Wp - OW`` positions at the end of each row are computed and dropped
#   (2 of 34 on a 32-pixel row). The kernel gradient is the same loop as a sum over ``p``, with
#   ``dy`` copied to a flat ``dyt[o, p]`` (zeros at the dropped positions).
# - "filters inner" (16, 32 or 64 filters): the sums of 8, 6 or 3 output pixels for all filters in
#   a small stack array (in vector registers through each tap's loop over the channels); each input
#   value is broadcast and multiplied into a row of the kernel. The kernel gradient keeps the sums
#   of one tap and 3-8 channels for all filters in registers and streams a band of pixels past
#   them: ``dK[tap, c, :] += x * dy[pixel, :]``.
# - RGB inputs (3 channels, the first layer of every image model) with those filter counts: the
#   forward is the "filters inner" order as one loop over the 27 (tap, channel) rows of the kernel
#   with the block's sums in vector registers and each input value read in place (``_rgb_block``:
#   the same sums, the same bits; see RGB_PIXELS for what it gains); the kernel gradient keeps
#   all 27 (16 filters) or one kernel row's 9 (32 filters) sums in registers while a band of
#   pixels streams past
#   (``_rgb_kernel_gradient_band``), 3.2x the planar loops (measured at batch 256, 2 threads).
#
# The filter loop is written outside the loop over pixels (or channels): a bare loop of 16 or 32
# steps the compiler unrolls completely and then (Numba leaves LLVM's SLP vectorizer off) computes
# one value at a time, 5-35x slower than im2col; with 4-8 multiply-adds in its body it stays a
# loop and is vectorized. (RGB layers put the three channels in that body instead, see above.)
# Why not the planar order for many channels: the copies in and
# out cost as much as the arithmetic of a 3-channel image, and from 16 channels on it measured
# slower than im2col.
#
# Float arithmetic: ``fastmath={"contract"}`` lets ``v += k * x`` be one fused multiply-add (one
# rounding instead of two): 1.03-1.2x faster (measured on the rps_cnn and talk_cnn shapes), and as
# deterministic as before. The planar kernel gradient's sum over ``p`` also allows "reassoc", so
# that it keeps 16 partial sums (one per vector lane) and adds them at the end; without it the
# compiler leaves a float sum scalar (measured without either flag: 3-5x slower).
# The order is fixed by the compiled code and the shape, so results are the same run after run
# and for any thread count (each chunk of images is summed on one thread, chunks in chunk order).
# Measured against the exact (float64) kernel gradient, relative to its largest value: im2col
# 3.1e-7-3.5e-7, direct 2.2e-7-7.6e-7 (talk_cnn conv1 at batch 32, the longest sums, is the 7.6e-7);
# the RGB kernel gradient, band sums of about DIRECT_RGB_BAND_PIXELS products: 3.5e-7-4.4e-7 at
# batch 256 (the planar loops it replaced: 5.6e-7-9.4e-7; one running sum per image: 1.4e-6).

DIRECT_PLANAR_MAX_CHANNELS = 4  # planar loops up to this many input channels, else BLAS / filters inner
DIRECT_BAND_BYTES = 32 * 2**10  # planar forward: rows per band so that its sums (F*band*Wp) fit in L1
DIRECT_FILTERS_INNER = (16, 32, 64)  # the filter counts compiled into the "filters inner" loops
DIRECT_KERNEL_GRAD_BAND_BYTES = 256 * 2**10  # filters inner dL/dK: rows of dy per band (9 passes each)
DIRECT_RGB_BAND_PIXELS = 512  # RGB dL/dK: about this many pixels per band sum (rounding: see above)


def _kernel_grad_images_per_chunk(n: int) -> int:
    """Images per chunk of the direct loops' dL/dK: ``2 * MIN_KERNEL_GRAD_CHUNKS`` chunks whatever
    the thread count, so the same partial sums, summed in chunk order, give the same bits."""
    return max(1, -(-n // (2 * MIN_KERNEL_GRAD_CHUNKS)))


def _kernel_grad_band(kind: str, ow: int, f: int, itemsize: int) -> int:
    """Rows of ``dy`` per band of the direct loops' dL/dK: ``DIRECT_KERNEL_GRAD_BAND_BYTES`` of ``dy``
    ("filters inner", 9 passes over each band) or about ``DIRECT_RGB_BAND_PIXELS`` pixels ("rgb")."""
    if kind == "rgb":
        return max(1, DIRECT_RGB_BAND_PIXELS // ow)
    return max(1, DIRECT_KERNEL_GRAD_BAND_BYTES // (ow * f * itemsize))


def _stack_empty(size, dtype):
    """``np.empty(size, dtype)``; compiled: an array of ``size`` (a constant) values on the stack of
    the calling thread, which the compiler can keep in registers (an ``np.empty`` lives on the heap,
    where it must assume that every store may change what other arrays hold)."""
    return np.empty(size, dtype)


@intrinsic
def _stack_pointer(typingctx, size, dtype):
    if not isinstance(size, types.IntegerLiteral):
        return None

    def codegen(context, builder, signature, args):
        value_type = context.get_value_type(dtype.dtype)
        return cgutils.alloca_once(builder, value_type, size=size.literal_value)

    return types.CPointer(dtype.dtype)(size, dtype), codegen


@overload(_stack_empty, prefer_literal=True, inline="always")
def _stack_empty_compiled(size, dtype):
    if isinstance(size, types.IntegerLiteral):
        return lambda size, dtype: numba.carray(_stack_pointer(size, dtype), (size,))
    return None


@njit(cache=True, inline="always")
def _planar_image(xpad, s, xt):
    """``xt[c, y*Wp + x] = xpad[s, y, x, c]``: image ``s`` channel by channel, rows end to end."""
    hp, wp, c = xpad.shape[1], xpad.shape[2], xpad.shape[3]
    for y in range(hp):
        for x in range(wp):
            for ch in range(c):
                xt[ch, y * wp + x] = xpad[s, y, x, ch]


@njit(cache=True, inline="always")
def _planar_taps(xt, kt, o, c0, cb, wp, p0, length, acc):
    """``acc[p] += sum_{c0 <= c < c0 + cb} sum_{a, b < 3} kt[o, c, a, b] * xt[c, p0 + p + a*Wp + b]``
    for ``0 <= p < length`` (``cb`` a constant: the channel loop is unrolled into the body)."""
    for p in range(length):
        v = acc[p]
        for ch in range(c0, c0 + cb):
            for a in range(3):
                for b in range(3):
                    # unsigned index: Numba then skips its negative-index check, which would keep
                    # the compiler from seeing consecutive loads
                    v += kt[o, ch, a, b] * xt[ch, np.uint64(p0 + p + a * wp + b)]
        acc[p] = v


@njit(cache=True, inline="always")
def _planar_forward_image(xt, kt, bias, relu, store_z, s, cb, wp, oh, ow, band, z, a, acc):
    """Image ``s``, ``band`` output rows at a time: every filter's sums ``acc[o, p]``, then the kept
    positions back to ``(N, OH, OW, F)`` pixel by pixel (measured 1.2-1.8x faster than writing
    each filter's outputs as soon as they are summed, which strides through the whole band)."""
    c, f = xt.shape[0], kt.shape[0]
    for i0 in range(0, oh, band):
        i1 = min(oh, i0 + band)
        p0, length = i0 * wp, (i1 - 1 - i0) * wp + ow
        for o in range(f):
            acc[o, :length] = 0
            c0 = 0
            while c0 + cb <= c:
                _planar_taps(xt, kt, o, c0, cb, wp, p0, length, acc[o])
                c0 += cb
            while c0 < c:
                _planar_taps(xt, kt, o, c0, 1, wp, p0, length, acc[o])
                c0 += 1
        for i in range(i0, i1):
            for j in range(ow):
                q = (i - i0) * wp + j
                for o in range(f):
                    v = acc[o, q] + bias[o]
                    if store_z:
                        z[s, i, j, o] = v
                    if relu:
                        a[s, i, j, o] = 0 if v < 0 else v  # NaN passes through, as in np.maximum


@njit(parallel=True, cache=True, fastmath={"contract"})
def _direct_forward_planar(xpad, kt, bias, relu, store_z, oh, ow, band, z, a):
    n, hp, wp, c = xpad.shape
    for s in prange(n):  # one image per iteration: each output is written by one thread
        xt = np.empty((c, hp * wp), dtype=xpad.dtype)
        acc = np.empty((kt.shape[0], band * wp), dtype=xpad.dtype)
        _planar_image(xpad, s, xt)
        if c == 3:  # RGB: all 27 taps in one loop body
            _planar_forward_image(xt, kt, bias, relu, store_z, s, 3, wp, oh, ow, band, z, a, acc)
        else:  # one channel's 9 taps per loop
            _planar_forward_image(xt, kt, bias, relu, store_z, s, 1, wp, oh, ow, band, z, a, acc)


# Output pixels per block of the filters-inner forward loops, for 64, 32 and 16 filters: the
# block's ``px * f`` sums (192, 192, 128) in vector registers through each tap's channel loop on
# AVX-512 CPUs; with 256-bit vectors 64 sums (8 of AVX2's 16 registers), as for the RGB loops
# below, where 128 or 192 sums spill to memory. The same sums in the same order: the same bits.
# Measured as the RGB loops' (one thread, CPU time, batch 64, GFLOP/s, the AVX-512 sizes -> these;
# Conv2D(relu) -> MaxPooling2D in one call with argmax, as a training step runs it, then
# Conv2D(relu) alone): 31x31x16 -> 32 (rps_cnn) 35-36 -> 71-82, 35 -> 64-75; 15x15x16 -> 32
# (small_cnn) 42 -> 80-90, 26 -> 64-72; 16x16x16 -> 16 31-35 -> 64-67, 26-33 -> 65-68;
# 14x14x32 -> 64 40-41 -> 46-47, 39-41 -> 47-48.
FI_PX64, FI_PX32, FI_PX16 = (3, 6, 8) if has_512_bit_vectors() else (1, 2, 4)


@njit(cache=True, inline="always")
def _filters_inner_sums(xpad, k2, f, px, s, i, j0, width, acc, xs):
    """``acc[p*f + o]``: the sums (no bias) of ``px`` output pixels ``(s, i, j0 + p)`` for ``f``
    filters (pixels past ``width`` compute any pixel of the row, for the caller to drop). The
    filter loop is outside the pixel loop: its body (``px`` multiply-adds) is then large enough
    that the compiler keeps it a loop and vectorizes it, where a bare 16- or 32-step loop would be
    unrolled into one value at a time. A block inside the row reads each input value in place
    (unsigned indices spare the negative-index checks); only a row shorter than ``px`` gathers its
    clamped pixels into ``xs`` first. Same order, same bits. (RGB inputs with rows of at least
    ``RGB_PIXELS`` run loops of their own: :func:`_rgb_block`.)"""
    c = xpad.shape[3]
    for q in range(px * f):
        acc[q] = 0
    if j0 + px <= width:
        for a in range(3):
            xrow = xpad[s, i + a]
            for b in range(3):
                for ch in range(c):
                    krow = k2[(a * 3 + b) * c + ch]
                    for o in range(f):
                        k = krow[o]
                        for p in range(px):
                            acc[p * f + o] += xrow[np.uint64(j0 + p + b), ch] * k
        return
    for tap in range(9):
        xrow = xpad[s, i + tap // 3]
        b = tap % 3
        for ch in range(c):
            krow = k2[tap * c + ch]
            for p in range(px):
                xs[p] = xrow[min(j0 + p, width - 1) + b, ch]
            for o in range(f):
                k = krow[o]
                for p in range(px):
                    acc[p * f + o] += xs[p] * k


@njit(cache=True, inline="always")
def _filters_inner_rows(xpad, k2, bias, relu, store_z, f, px, r0, r1, oh, ow, z, a, acc, xs):
    """Output rows ``r0 <= r < r1`` (over images), ``px`` pixels of ``f`` sums at a time."""
    for r in range(r0, r1):
        s, i = r // oh, r % oh
        for jb in range(0, ow, px):
            j0 = max(0, min(jb, ow - px))  # the last block ends with the row (its first pixels again)
            _filters_inner_sums(xpad, k2, f, px, s, i, j0, ow, acc, xs)
            for p in range(min(px, ow - j0)):  # px pixels, fewer in a row of fewer
                for o in range(f):
                    v = acc[p * f + o] + bias[o]
                    if store_z:
                        z[s, i, j0 + p, o] = v
                    if relu:
                        a[s, i, j0 + p, o] = 0 if v < 0 else v


@njit(cache=True, inline="always")
def _filters_inner_pooled_rows(xpad, k2, bias, f, px, r0, r1, ph, pw, y, argmax, with_argmax, acc, xs,
                               pair):
    """Pooled rows ``r0 <= r < r1`` (over images) of Conv2D(relu) -> MaxPooling2D((2, 2)): the two
    output rows of each (their first ``2*PW`` pixels, + bias) into ``pair (2, 2*PW, F)``, then
    the ReLU and the 2x2 windows (:func:`_relu_max2x2`, the bits of the two passes)."""
    width = 2 * pw
    for r in range(r0, r1):
        s, pi = r // ph, r % ph
        for row in range(2):
            for jb in range(0, width, px):
                j0 = max(0, min(jb, width - px))  # as in _filters_inner_rows
                _filters_inner_sums(xpad, k2, f, px, s, 2 * pi + row, j0, width, acc, xs)
                for p in range(min(px, width - j0)):
                    for o in range(f):
                        pair[row, j0 + p, o] = acc[p * f + o] + bias[o]
        for pj in range(pw):
            v00, v01, v10, v11 = pair[0, 2 * pj], pair[0, 2 * pj + 1], pair[1, 2 * pj], pair[1, 2 * pj + 1]
            for o in range(f):
                best, k = _relu_max2x2(v00[o], v01[o], v10[o], v11[o])
                y[s, pi, pj, o] = best
                if with_argmax:
                    argmax[s, pi, pj, o] = k


@njit(parallel=True, cache=True, fastmath={"contract"})
def _direct_forward_filters_inner(xpad, k2, bias, relu, store_z, oh, ow, rows_per_chunk, z, a):
    total = xpad.shape[0] * oh
    for t in prange(-(-total // rows_per_chunk)):
        r0, r1 = t * rows_per_chunk, min(total, (t + 1) * rows_per_chunk)
        acc = _stack_empty(192, xpad.dtype)  # pixels x filters: at most 3 x 64, 6 x 32 or 8 x 16
        xs = _stack_empty(8, xpad.dtype)  # the pixels' input values of one tap and channel
        f = k2.shape[1]
        if f == 64:
            _filters_inner_rows(xpad, k2, bias, relu, store_z, 64, FI_PX64, r0, r1, oh, ow, z, a, acc, xs)
        elif f == 32:
            _filters_inner_rows(xpad, k2, bias, relu, store_z, 32, FI_PX32, r0, r1, oh, ow, z, a, acc, xs)
        elif f == 16:  # (the caller sends no other filter count)
            _filters_inner_rows(xpad, k2, bias, relu, store_z, 16, FI_PX16, r0, r1, oh, ow, z, a, acc, xs)


@njit(parallel=True, cache=True, fastmath={"contract"})
def _direct_forward_filters_inner_maxpool2x2(xpad, k2, bias, ph, pw, rows_per_chunk, y, argmax,
                                             with_argmax):
    total = xpad.shape[0] * ph
    for t in prange(-(-total // rows_per_chunk)):
        r0, r1 = t * rows_per_chunk, min(total, (t + 1) * rows_per_chunk)
        acc = _stack_empty(192, xpad.dtype)
        xs = _stack_empty(8, xpad.dtype)
        f = k2.shape[1]
        pair = np.empty((2, 2 * pw, f), dtype=xpad.dtype)  # one window row's two output rows
        if f == 64:
            _filters_inner_pooled_rows(xpad, k2, bias, 64, FI_PX64, r0, r1, ph, pw, y, argmax, with_argmax,
                                       acc, xs, pair)
        elif f == 32:
            _filters_inner_pooled_rows(xpad, k2, bias, 32, FI_PX32, r0, r1, ph, pw, y, argmax, with_argmax,
                                       acc, xs, pair)
        elif f == 16:
            _filters_inner_pooled_rows(xpad, k2, bias, 16, FI_PX16, r0, r1, ph, pw, y, argmax, with_argmax,
                                       acc, xs, pair)


# RGB first layers (3 input channels, 16, 32 or 64 filters, rows of at least RGB_PIXELS[f] pixels)
# have loops of their own. The general loops above keep a block's sums in a stack array that the
# compiler holds in registers only within a tap's loop over the channels (it is also indexed by a
# loop bound known only at run time); with 3 channels that loop is 3 multiply-adds long, so the
# sums were reloaded and stored every 3, and the results left through four-index stores it does
# not vectorize. For three channels that was half the time: measured on one thread, in
# cache, 90 GFLOP/s against 170-220 for these loops, whose sums live in their own stack array
# indexed by constants only (one per filter count, so the compiler holds them in vector registers
# through all 27 multiply-adds of each) and whose results go out through flat views of the
# outputs. The same sums in the same order: the same bits as the general loops (tested).
# Pixels per block: ``px * f`` = 128 sums (8 of 16 filters, 4 of 32, 2 of 64), which the compiler
# still unrolls completely; the pooled loops, whose sums go to a buffer, take 3 of 64 (192 sums,
# 11% faster than 2 on talk_cnn's first layer). That is 8 (12) of AVX-512's 32 vector registers.
# With 256-bit vectors (AVX2) the same 128 sums fill all 16 registers, and the compiler keeps
# part of them in memory, storing and reloading them on every multiply-add (seen in the machine
# code). There the blocks are half as many pixels (and the pooled 64 filters one pixel): 64 sums,
# 8 of the 16 registers. The same sums in the same order, so the same bits. Measured on a 2-core
# AMD EPYC (Zen 3, AVX2; 2026-12-05, one thread, CPU time, the least of 7 runs, batch 64, GFLOP/s,
# 128 sums -> 64; Conv2D(relu) -> MaxPooling2D in one call, then Conv2D(relu) alone):
#   64x64x3 -> 16 (rps_cnn) 41-43 -> 68-69, 36-40 -> 63-68; 32x32x3 -> 16 (small_cnn) 39-41 -> 63-64,
#   35-38 -> 59-64; 150x150x3 -> 64 (talk_cnn, batch 8) 44 -> 63-68, 32 -> 44-70.
# The filters-inner loops above the same (FILTERS_INNER_PIXELS, below).
RGB_PX16, RGB_PX32, RGB_PX64, RGB_POOLED_PX64 = (8, 4, 2, 3) if has_512_bit_vectors() else (4, 2, 1, 1)
RGB_PIXELS = {16: RGB_PX16, 32: RGB_PX32, 64: RGB_PX64}
RGB_POOLED_PIXELS = {16: RGB_PX16, 32: RGB_PX32, 64: RGB_POOLED_PX64}


@njit(cache=True, inline="always")
def _rgb_block(xflat, first, wp, k2, f, px, sums):
    """``sums[p*f + o]`` (no bias) of the ``px`` output pixels whose window starts at
    ``xflat[first]`` (``xpad[s, i, j0, 0]`` of the padded RGB input as one flat array, rows
    ``Wp`` pixels long): the 27 rows of ``k2`` (tap by tap, channel by channel) in turn, each
    input value read where it lies and broadcast into its ``f`` multiply-adds."""
    for q in range(px * f):
        sums[q] = 0
    for t in range(27):  # k2's row t = (a*3 + b)*3 + ch
        at = first + ((t // 9) * wp + (t // 3) % 3) * 3 + t % 3  # xpad[s, i + a, j0 + b, ch]
        for o in range(f):
            k = k2[t, o]
            for p in range(px):
                sums[p * f + o] += xflat[np.uint64(at + 3 * p)] * k


@njit(cache=True, inline="always")
def _rgb_rows(xflat, hp, wp, k2, bias_px, relu, store_z, f, px, r0, r1, oh, ow, zflat, aflat, sums):
    """Output rows ``r0 <= r < r1`` (over images) into the flat ``z`` and ``a``; ``bias_px`` is the
    bias repeated for the ``px`` pixels of a block (``bias_px[p*f + o] = bias[o]``)."""
    for r in range(r0, r1):
        s, i = r // oh, r % oh
        for jb in range(0, ow, px):
            j0 = min(jb, ow - px)  # the last block ends with the row (its first pixels again)
            _rgb_block(xflat, ((s * hp + i) * wp + j0) * 3, wp, k2, f, px, sums)
            out = (r * ow + j0) * f  # z[s, i, j0, 0]
            for q in range(px * f):
                v = sums[q] + bias_px[q]
                if store_z:
                    zflat[np.uint64(out + q)] = v
                if relu:
                    aflat[np.uint64(out + q)] = 0 if v < 0 else v  # NaN passes through


@njit(cache=True, inline="always")
def _rgb_pooled_rows(xflat, hp, wp, k2, bias_px, f, px, r0, r1, ph, pw, yflat, argflat, with_argmax,
                     sums, pair):
    """Pooled rows ``r0 <= r < r1`` (over images) of Conv2D(relu) -> MaxPooling2D((2, 2)), as
    :func:`_filters_inner_pooled_rows`: the two output rows (+ bias) into ``pair`` (``(2, 2*PW,
    F)`` as a flat array), then :func:`_relu_max2x2` into the flat ``y`` and ``argmax``."""
    width = 2 * pw
    for r in range(r0, r1):
        s, pi = r // ph, r % ph
        for row in range(2):
            for jb in range(0, width, px):
                j0 = min(jb, width - px)
                _rgb_block(xflat, ((s * hp + 2 * pi + row) * wp + j0) * 3, wp, k2, f, px, sums)
                out = (row * width + j0) * f  # pair[row, j0, 0]
                for q in range(px * f):
                    pair[np.uint64(out + q)] = sums[q] + bias_px[q]
        for pj in range(pw):
            top, bottom, out = 2 * pj * f, (width + 2 * pj) * f, (r * pw + pj) * f
            for o in range(f):
                best, k = _relu_max2x2(pair[np.uint64(top + o)], pair[np.uint64(top + f + o)],
                                       pair[np.uint64(bottom + o)], pair[np.uint64(bottom + f + o)])
                yflat[np.uint64(out + o)] = best
                if with_argmax:
                    argflat[np.uint64(out + o)] = k


@njit(cache=True, inline="always")
def _bias_per_pixel(bias, f, bias_px):
    """``bias_px[q] = bias[q % f]``: the bias once for each pixel of a block (a stack array, where
    no output lies, so the stores that read it can be vectorized)."""
    for q in range(bias_px.shape[0]):
        bias_px[q] = bias[q % f]


@njit(parallel=True, cache=True, fastmath={"contract"})
def _direct_forward_rgb(xpad, k2, bias, relu, store_z, oh, ow, rows_per_chunk, z, a):
    n, hp, wp = xpad.shape[0], xpad.shape[1], xpad.shape[2]
    f = k2.shape[1]
    total = n * oh
    for t in prange(-(-total // rows_per_chunk)):
        r0, r1 = t * rows_per_chunk, min(total, (t + 1) * rows_per_chunk)
        bias_px = _stack_empty(128, xpad.dtype)
        _bias_per_pixel(bias, f, bias_px)
        xflat, zflat, aflat = xpad.reshape(-1), z.reshape(-1), a.reshape(-1)
        if f == 16:  # each filter count its own sums array (see RGB_PIXELS)
            sums16 = _stack_empty(128, xpad.dtype)
            _rgb_rows(xflat, hp, wp, k2, bias_px, relu, store_z, 16, RGB_PX16, r0, r1, oh, ow, zflat, aflat,
                      sums16)
        elif f == 32:
            sums32 = _stack_empty(128, xpad.dtype)
            _rgb_rows(xflat, hp, wp, k2, bias_px, relu, store_z, 32, RGB_PX32, r0, r1, oh, ow, zflat, aflat,
                      sums32)
        elif f == 64:  # (the caller sends no other filter count)
            sums64 = _stack_empty(128, xpad.dtype)
            _rgb_rows(xflat, hp, wp, k2, bias_px, relu, store_z, 64, RGB_PX64, r0, r1, oh, ow, zflat, aflat,
                      sums64)


@njit(parallel=True, cache=True, fastmath={"contract"})
def _direct_forward_rgb_maxpool2x2(xpad, k2, bias, ph, pw, rows_per_chunk, y, argmax, with_argmax):
    n, hp, wp = xpad.shape[0], xpad.shape[1], xpad.shape[2]
    f = k2.shape[1]
    total = n * ph
    for t in prange(-(-total // rows_per_chunk)):
        r0, r1 = t * rows_per_chunk, min(total, (t + 1) * rows_per_chunk)
        bias_px = _stack_empty(192, xpad.dtype)
        _bias_per_pixel(bias, f, bias_px)
        pair = np.empty(4 * pw * f, dtype=xpad.dtype)  # one window row's two output rows
        xflat, yflat, argflat = xpad.reshape(-1), y.reshape(-1), argmax.reshape(-1)
        if f == 16:
            sums16 = _stack_empty(128, xpad.dtype)
            _rgb_pooled_rows(xflat, hp, wp, k2, bias_px, 16, RGB_PX16, r0, r1, ph, pw, yflat, argflat,
                             with_argmax, sums16, pair)
        elif f == 32:
            sums32 = _stack_empty(128, xpad.dtype)
            _rgb_pooled_rows(xflat, hp, wp, k2, bias_px, 32, RGB_PX32, r0, r1, ph, pw, yflat, argflat,
                             with_argmax, sums32, pair)
        elif f == 64:
            sums64 = _stack_empty(192, xpad.dtype)
            _rgb_pooled_rows(xflat, hp, wp, k2, bias_px, 64, RGB_POOLED_PX64, r0, r1, ph, pw, yflat, argflat,
                             with_argmax, sums64, pair)


def _direct_fits(kernel_hw, strides, dilation) -> bool:
    return tuple(kernel_hw) == (3, 3) and tuple(strides) == (1, 1) and tuple(dilation) == (1, 1)


def _direct_forward_kind(c: int, f: int) -> str:
    """Which loops run a 3x3 stride-1 forward pass with ``c`` input channels and ``f`` filters."""
    if f in DIRECT_FILTERS_INNER:
        return "filters_inner"
    return "planar" if c <= DIRECT_PLANAR_MAX_CHANNELS else "im2col"


def _direct_conv2d(xpad, kernel, bias, strides, dilation, out_hw, keep_z=True):
    kh, kw, c, f = kernel.shape
    kind = _direct_forward_kind(c, f) if _direct_fits((kh, kw), strides, dilation) else "im2col"
    if kind == "im2col":
        return _conv2d(xpad, kernel, bias, strides, dilation, out_hw, keep_z)
    xpad = np.ascontiguousarray(xpad)
    n, wp = xpad.shape[0], xpad.shape[2]
    oh, ow = out_hw
    z = np.empty((n, oh, ow, f), dtype=xpad.dtype)  # (N, OH, OW, F)
    relu = bias is not None
    a = (np.empty_like(z) if keep_z else z) if relu else z[:1, :1, :1]  # keep_z=False: a is z
    store_z = keep_z or not relu  # else only a's values are written
    bias = np.ascontiguousarray(bias if relu else np.zeros(f), dtype=xpad.dtype)
    kernel = kernel.astype(xpad.dtype, copy=False)
    if kind == "planar":
        kt = np.ascontiguousarray(kernel.transpose(3, 2, 0, 1))  # (F, C, 3, 3)
        band = max(1, min(oh, DIRECT_BAND_BYTES // (wp * f * xpad.itemsize)))  # a band's sums in cache
        _direct_forward_planar(xpad, kt, bias, relu, store_z, oh, ow, band, z, a)
    else:
        k2 = np.ascontiguousarray(kernel).reshape(9 * c, f)  # (9*C, F): row (a*3 + b)*C + c
        rows = max(1, -(-n * oh // (4 * MIN_CHUNKS)))
        if c == 3 and ow >= RGB_PIXELS[f]:
            _direct_forward_rgb(xpad, k2, bias, relu, store_z, oh, ow, rows, z, a)
        else:
            _direct_forward_filters_inner(xpad, k2, bias, relu, store_z, oh, ow, rows, z, a)
    return (z, a) if relu else z


@_one_at_a_time
def direct_conv2d_forward(xpad, kernel, strides, dilation, out_hw):
    """``(N, Hp, Wp, C)`` padded input, ``(KH, KW, C, F)`` kernel -> ``(N, OH, OW, F)`` (no bias)."""
    return _direct_conv2d(xpad, kernel, None, strides, dilation, out_hw)


@_one_at_a_time
def direct_conv2d_bias_relu_forward(xpad, kernel, bias, strides, dilation, out_hw):
    """``z = direct_conv2d_forward(...) + bias`` and ``a = max(z, 0)``, written as each output is
    summed. Returns ``(z, a)``, both ``(N, OH, OW, F)``."""
    return _direct_conv2d(xpad, kernel, bias, strides, dilation, out_hw)


@_one_at_a_time
def direct_conv2d_bias_relu(xpad, kernel, bias, strides, dilation, out_hw):
    """``a = max(direct_conv2d_forward(...) + bias, 0)`` only (each ReLU written over its ``z``)."""
    return _direct_conv2d(xpad, kernel, bias, strides, dilation, out_hw, keep_z=False)[1]


def direct_pools_in_kernel(kernel_shape, strides, dilation) -> bool:
    """Whether :func:`direct_conv2d_bias_relu_maxpool2x2` covers this convolution (its "filters
    inner" loops: 3x3, stride 1, a filter count in ``DIRECT_FILTERS_INNER``)."""
    kh, kw, c, f = kernel_shape
    return _direct_fits((kh, kw), strides, dilation) and _direct_forward_kind(c, f) == "filters_inner"


@_one_at_a_time
def direct_conv2d_bias_relu_maxpool2x2(xpad, kernel, bias, strides, dilation, out_hw, pool_out_hw,
                                       with_argmax):
    """``maxpool2d(max(direct_conv2d_forward(...) + bias, 0))`` with 2x2 windows, stride 2:
    ``(y, argmax)`` of :func:`maxpool2d_forward` on :func:`direct_conv2d_bias_relu`'s output (the
    same bits), two output rows at a time, never storing the ``(N, OH, OW, F)`` activation;
    ``argmax`` is None unless ``with_argmax``. Where :func:`direct_pools_in_kernel` is False, the
    two passes one after the other."""
    if not direct_pools_in_kernel(kernel.shape, strides, dilation):  # the two passes
        a = _direct_conv2d(xpad, kernel, bias, strides, dilation, out_hw, keep_z=False)[1]
        y, argmax = _maxpool2d(a, (2, 2), (2, 2), pool_out_hw, with_argmax)
        return y, (argmax if with_argmax else None)
    xpad = np.ascontiguousarray(xpad)
    n, c, f = xpad.shape[0], kernel.shape[2], kernel.shape[3]
    ph, pw = pool_out_hw
    k2 = np.ascontiguousarray(kernel.astype(xpad.dtype, copy=False)).reshape(9 * c, f)
    bias = np.ascontiguousarray(bias, dtype=xpad.dtype)
    y = np.empty((n, ph, pw, f), dtype=xpad.dtype)  # (N, PH, PW, F)
    argmax = np.empty(y.shape if with_argmax else (1, 1, 1, 1), dtype=argmax_dtype((2, 2)))
    rows = max(1, -(-n * ph // (4 * MIN_CHUNKS)))
    if c == 3 and 2 * pw >= RGB_POOLED_PIXELS[f]:
        _direct_forward_rgb_maxpool2x2(xpad, k2, bias, ph, pw, rows, y, argmax, with_argmax)
    else:
        _direct_forward_filters_inner_maxpool2x2(xpad, k2, bias, ph, pw, rows, y, argmax, with_argmax)
    return y, (argmax if with_argmax else None)


@njit(cache=True, inline="always")
def _planar_output_gradient(dy, s, wp, dyt):
    """``dyt[o, i*Wp + j] = dy[s, i, j, o]`` (the dropped positions ``OW <= j < Wp`` are not read)."""
    oh, ow, f = dy.shape[1], dy.shape[2], dy.shape[3]
    for i in range(oh):
        for j in range(ow):
            for o in range(f):
                dyt[o, i * wp + j] = dy[s, i, j, o]


@njit(cache=True, inline="always")
def _planar_kernel_gradient(xt, dyt, o, ch, wp, oh, ow, dk):
    """``dk[o, c, a, b] += sum_p dyt[o, p] * xt[c, p + a*Wp + b]`` over the output positions
    ``p = i*Wp + j`` (``j < OW``: a dropped position would multiply an input value no output reads,
    and a NaN there would reach the sum), three taps per pass."""
    for a in range(3):
        v0, v1, v2 = dk[o, ch, a, 0], dk[o, ch, a, 1], dk[o, ch, a, 2]
        for i in range(oh):
            for p in range(i * wp, i * wp + ow):
                d = dyt[o, p]
                v0 += d * xt[ch, np.uint64(p + a * wp)]
                v1 += d * xt[ch, np.uint64(p + a * wp + 1)]
                v2 += d * xt[ch, np.uint64(p + a * wp + 2)]
        dk[o, ch, a, 0] = v0
        dk[o, ch, a, 1] = v1
        dk[o, ch, a, 2] = v2


@njit(parallel=True, cache=True, fastmath={"contract", "reassoc"})
def _direct_backward_kernel_planar(xpad, dy, chunk):
    """One partial ``(F, C, 3, 3)`` per chunk of ``chunk`` images, summed image after image; the
    caller adds the partials in chunk order (``_sum_in_order``, above)."""
    n, hp, wp, c = xpad.shape
    oh, ow, f = dy.shape[1], dy.shape[2], dy.shape[3]
    length = (oh - 1) * wp + ow
    chunks = -(-n // chunk)
    partial = np.zeros((chunks, f, c, 3, 3), dtype=dy.dtype)
    for t in prange(chunks):
        xt = np.empty((c, hp * wp), dtype=xpad.dtype)
        dyt = np.empty((f, length), dtype=dy.dtype)
        for s in range(t * chunk, min(n, (t + 1) * chunk)):
            _planar_image(xpad, s, xt)
            _planar_output_gradient(dy, s, wp, dyt)
            for o in range(f):
                for ch in range(c):
                    _planar_kernel_gradient(xt, dyt, o, ch, wp, oh, ow, partial[t])
    return partial


@njit(cache=True, inline="always")
def _filters_inner_kernel_gradient(xpad, dimg, roff, coff, s, i0, i1, a, b, c0, cb, f, acc, xs, dk2):
    """``dk2[(a*3 + b)*C + c0 + q, o] += sum_{i, j} xpad[s, i + a, j + b, c0 + q] * dy[s, i, j, o]``
    over the band's rows ``i0 <= i < i1``, for ``q < cb``: the ``cb*f`` sums in ``acc`` (registers),
    one pass over the band's pixels; the filter loop outside the channel loop, as in the forward.
    ``dy[s, i, j]`` is read at ``dimg[i + roff, j + coff]``: image ``s`` of ``dy`` itself, perhaps
    inside a border of zeros (``roff = coff`` its width), or a band of it (``roff = -i0``)."""
    c, ow = xpad.shape[3], xpad.shape[2] - 2  # 3x3, stride 1
    row = (a * 3 + b) * c + c0
    for q in range(cb * f):
        acc[q] = 0
    for i in range(i0, i1):
        xrow = xpad[s, i + a]
        dyrow = dimg[i + roff]
        for j in range(ow):
            for q in range(cb):
                xs[q] = xrow[j + b, c0 + q]
            for o in range(f):
                d = dyrow[j + coff, o]
                for q in range(cb):
                    acc[q * f + o] += xs[q] * d
    for q in range(cb):  # the band's sum into the chunk's (a sum of band sums: less rounding)
        for o in range(f):
            dk2[row + q, o] += acc[q * f + o]


@njit(cache=True, inline="always")
def _filters_inner_tap(xpad, dimg, roff, coff, s, i0, i1, a, b, f, cb, acc, xs, dk2):
    """One tap of one band: channels ``cb`` at a time (a constant), then the rest 4 and 1 at a time."""
    c = xpad.shape[3]
    c0 = 0
    while c0 + cb <= c:
        _filters_inner_kernel_gradient(xpad, dimg, roff, coff, s, i0, i1, a, b, c0, cb, f, acc, xs, dk2)
        c0 += cb
    while c0 + 4 <= c:
        _filters_inner_kernel_gradient(xpad, dimg, roff, coff, s, i0, i1, a, b, c0, 4, f, acc, xs, dk2)
        c0 += 4
    while c0 < c:
        _filters_inner_kernel_gradient(xpad, dimg, roff, coff, s, i0, i1, a, b, c0, 1, f, acc, xs, dk2)
        c0 += 1


@njit(cache=True, inline="always")
def _filters_inner_band(xpad, dimg, roff, coff, s, i0, i1, acc, xs, dk2):
    """The nine taps of one band (:func:`_filters_inner_tap`), ``cb`` channels at a time as the
    filter count allows (at most 256 sums)."""
    c, f = xpad.shape[3], dimg.shape[2]
    for tap in range(9):
        a, b = tap // 3, tap % 3
        if f == 64 and c == 3:  # RGB: one pass per tap
            _filters_inner_tap(xpad, dimg, roff, coff, s, i0, i1, a, b, 64, 3, acc, xs, dk2)
        elif f == 64:
            _filters_inner_tap(xpad, dimg, roff, coff, s, i0, i1, a, b, 64, 4, acc, xs, dk2)
        elif f == 32:
            _filters_inner_tap(xpad, dimg, roff, coff, s, i0, i1, a, b, 32, 8, acc, xs, dk2)
        elif f == 16:
            _filters_inner_tap(xpad, dimg, roff, coff, s, i0, i1, a, b, 16, 8, acc, xs, dk2)


@njit(parallel=True, cache=True, fastmath={"contract"})
def _direct_backward_kernel_filters_inner(xpad, dy, off, chunk, band):
    """16, 32 or 64 filters: one partial ``(9*C, F)`` per chunk of images, band by band of output
    rows, tap by tap, 3-8 channels at a time (at most 256 sums); the caller adds the partials in
    chunk order. ``dy``: ``(N, OH + 2*off, OW + 2*off, F)``, the gradient inside a border of
    ``off`` zeros (0: none)."""
    n, c = xpad.shape[0], xpad.shape[3]
    oh, f = dy.shape[1] - 2 * off, dy.shape[3]
    chunks = -(-n // chunk)
    partial = np.zeros((chunks, 9 * c, f), dtype=dy.dtype)
    for t in prange(chunks):
        acc = _stack_empty(256, dy.dtype)
        xs = _stack_empty(8, dy.dtype)
        for s in range(t * chunk, min(n, (t + 1) * chunk)):
            for i0 in range(0, oh, band):
                _filters_inner_band(xpad, dy[s], off, off, s, i0, min(oh, i0 + band), acc, xs, partial[t])
    return partial


@njit(parallel=True, cache=True, fastmath={"contract"})
def _direct_backward_kernel_filters_inner_pooled(xpad, dy, y, argmax, oh, ow, chunk, band):
    """:func:`_direct_backward_kernel_filters_inner` of ReLU -> 2x2 max-pooling's ``dz``, made band
    by band from the pooled ``dy``, ``y`` and ``argmax`` (:func:`_pooled_gradient_row`) into a
    buffer of ``band`` rows that stays in cache for the band's nine taps, and each image's
    bias-gradient partial (:func:`_pooled_bias_partial`): the same bits as making the whole ``dz``
    first, without writing it to memory and reading it back (talk_cnn's first layer: 1.4 GB at
    batch 256)."""
    n, c, f = xpad.shape[0], xpad.shape[3], dy.shape[3]
    chunks = -(-n // chunk)
    partial = np.zeros((chunks, 9 * c, f), dtype=dy.dtype)
    bias_partial = np.zeros((n, f), dtype=np.float64)
    columns = np.empty((chunks, dy.shape[2] * f), dtype=np.float64)  # each chunk's column sums
    zero = np.zeros(1, dtype=dy.dtype)[0]
    for t in prange(chunks):
        acc = _stack_empty(256, dy.dtype)
        xs = _stack_empty(8, dy.dtype)
        dzb = np.empty((band, ow, f), dtype=dy.dtype)
        for s in range(t * chunk, min(n, (t + 1) * chunk)):
            for i0 in range(0, oh, band):
                i1 = min(oh, i0 + band)
                for i in range(i0, i1):
                    _pooled_gradient_row(dy, y, argmax, s, i, zero, dzb[i - i0])
                _filters_inner_band(xpad, dzb, -i0, 0, s, i0, i1, acc, xs, partial[t])
            _pooled_bias_partial(dy, y, s, columns[t], bias_partial[s])
    return partial, bias_partial


# The RGB kernel gradient in passes over a band of rows, each pass the sums of ``rows`` kernel rows
# (9 each: 3 columns x 3 channels) for ``width`` filters, held in vector registers while the band's
# pixels stream past. AVX-512 (32 registers of 16 float32): all 27 x 16 sums at once (27 registers),
# or a kernel row's 9 x 32. AVX2 (16 registers of 8): a kernel row's 9 for 8 filters (9 registers);
# 27 x 16 there kept most sums in memory. Measured on the AVX2 EPYC (Zen 3), one thread, batch 32,
# from dz: rps_cnn's 64x64x3 -> 16 3.9 -> 1.15 ms, 32x32x3 -> 16 0.91 -> 0.27, 64x64x3 -> 32 7.7 ->
# 2.75 (a first try with 9 x 16 sums a pass was 1.4x slower than 9 x 8). The same sums in the same
# order (pixel by pixel in each band), so the same bits for any pass shape.
RGB_GRAD_ROWS16, RGB_GRAD_WIDTH16, RGB_GRAD_ROWS32, RGB_GRAD_WIDTH32 = (
    (3, 16, 1, 32) if has_512_bit_vectors() else (1, 8, 1, 8))
# 64 filters (talk_cnn's first layer) take these passes on AVX2 only, 8 filters a pass: there the
# "filters inner" loops' 3 x 64 sums a tap (24 of AVX2's 16 registers) spilled to memory. With
# AVX-512 the filters-inner loops keep them in 12 of 32 registers and stay (not measured against
# these passes on such a CPU).
RGB_GRAD_ROWS64, RGB_GRAD_WIDTH64 = 1, 8
RGB_GRAD_FILTERS = (16, 32) if has_512_bit_vectors() else (16, 32, 64)


@njit(cache=True, inline="always")
def _rgb_taps(xpad, s, i, j, rows, width, ol, d, acc):
    """``acc[((a*3 + b)*3 + c)*width + ol] += xpad[s, i + a, j + b, c] * d`` for the kernel rows
    ``a < rows`` (``i`` already includes the pass's first kernel row): one output pixel's and one
    filter's share of the RGB kernel gradient. Unsigned indices spare the negative-index checks."""
    for a in range(rows):
        for b in range(3):
            for ch in range(3):
                x = xpad[np.uint64(s), np.uint64(i + a), np.uint64(j + b), ch]
                acc[((a * 3 + b) * 3 + ch) * width + ol] += x * d


@njit(cache=True, inline="always")
def _rgb_band_into(acc, a0, rows, o0, width, dk2):
    """The pass's band sums into the chunk's (a sum of band sums: less rounding than one running sum)."""
    for q in range(9 * rows):
        for ol in range(width):
            dk2[a0 * 9 + q, o0 + ol] += acc[q * width + ol]


@njit(cache=True, inline="always")
def _rgb_kernel_gradient_band(xpad, dimg, roff, s, i0, i1, ow, a0, rows, o0, width, acc, dk2):
    """RGB input: ``dk2[(a*3 + b)*3 + c, o] += sum_{i, j} xpad[s, i + a, j + b, c] * dz[s, i, j, o]``
    for the kernel rows ``a0 <= a < a0 + rows`` and the filters ``o0 <= o < o0 + width`` (one pass,
    the block comment above), over the band's rows ``i0 <= i < i1``; ``dz[s, i]`` is read at
    ``dimg[i + roff]`` (image ``s`` of ``dz``, or a band of it). The ``9*rows*width`` sums stay in
    vector registers while the band's pixels stream past: one load of ``dz`` per pixel, each input
    value broadcast from memory into its multiply-add (4x the planar loops' rate, measured on one
    thread)."""
    for q in range(9 * rows * width):
        acc[q] = 0
    for i in range(i0, i1):
        dzrow = dimg[i + roff]
        for j in range(ow):
            for ol in range(width):
                _rgb_taps(xpad, s, i + a0, j, rows, width, ol, dzrow[j, o0 + ol], acc)
    _rgb_band_into(acc, a0, rows, o0, width, dk2)


@njit(cache=True, inline="always")
def _rgb_pooled_kernel_gradient_band(xpad, dy, y, argmax, s, i0, i1, ow, a0, rows, f, zero, acc, dk2):
    """:func:`_rgb_kernel_gradient_band` of ReLU -> 2x2 max-pooling's ``dz``, each value made where
    the loop needs it from the pooled arrays: ``dy`` at the window's winning cell where ``y > 0``,
    ``zero`` elsewhere (the value :func:`_pooled_gradient_image` writes). The same products in the
    same order as building ``dz`` first, so the same bits; without writing ``dz`` and reading it
    back (that round trip took as long as the multiply-adds, measured at batch 256)."""
    ph, pw = y.shape[1], y.shape[2]
    offset = type(argmax[0, 0, 0, 0])  # compared in argmax's own type
    for q in range(9 * rows * f):
        acc[q] = 0
    for i in range(i0, i1):
        pi, a = i >> 1, i & 1
        last = 2 * pw if pi < ph else 0  # the pixels in a window; none on an odd last row
        for j in range(last):
            pj = j >> 1
            k = offset(a * 2 + (j & 1))
            for o in range(f):  # selects, not branches: the compiler vectorizes them
                g = dy[s, pi, pj, o] if y[s, pi, pj, o] > 0 else zero
                _rgb_taps(xpad, s, i + a0, j, rows, f, o, g if argmax[s, pi, pj, o] == k else zero, acc)
        for j in range(last, ow):  # an odd last column (or row): no window, dz is zero there
            for o in range(f):
                _rgb_taps(xpad, s, i + a0, j, rows, f, o, zero, acc)
    _rgb_band_into(acc, a0, rows, 0, f, dk2)


@njit(cache=True, inline="always")
def _rgb_kernel_gradient_image(xpad, dimg, roff, s, i0, i1, ow, acc, dk2):
    """One band of image ``s`` (16, 32 or 64 filters: ``RGB_GRAD_FILTERS``), pass by pass (the
    block comment above)."""
    f = dimg.shape[2]
    if f == 16:
        for a0 in range(0, 3, RGB_GRAD_ROWS16):
            for o0 in range(0, 16, RGB_GRAD_WIDTH16):
                _rgb_kernel_gradient_band(xpad, dimg, roff, s, i0, i1, ow, a0, RGB_GRAD_ROWS16, o0,
                                          RGB_GRAD_WIDTH16, acc, dk2)
    elif f == 32:
        for a0 in range(0, 3, RGB_GRAD_ROWS32):
            for o0 in range(0, 32, RGB_GRAD_WIDTH32):
                _rgb_kernel_gradient_band(xpad, dimg, roff, s, i0, i1, ow, a0, RGB_GRAD_ROWS32, o0,
                                          RGB_GRAD_WIDTH32, acc, dk2)
    elif f == 64:  # (the callers send no other filter count)
        for a0 in range(0, 3, RGB_GRAD_ROWS64):
            for o0 in range(0, 64, RGB_GRAD_WIDTH64):
                _rgb_kernel_gradient_band(xpad, dimg, roff, s, i0, i1, ow, a0, RGB_GRAD_ROWS64, o0,
                                          RGB_GRAD_WIDTH64, acc, dk2)


@njit(cache=True, inline="always")
def _rgb_pooled_kernel_gradient_image(xpad, dy, y, argmax, s, i0, i1, ow, zero, acc, dzb, dk2):
    """:func:`_rgb_kernel_gradient_image` from the pooled arrays. When a pass takes all the filters
    (AVX-512), each ``dz`` value is made where the loop needs it
    (:func:`_rgb_pooled_kernel_gradient_band`); when the filters are split over passes (AVX2), the
    band's ``dz`` is made once into ``dzb`` (:func:`_pooled_gradient_row`; a band of
    ``DIRECT_RGB_BAND_PIXELS`` pixels stays in cache) and the passes read it (rps_cnn's first layer,
    one thread, batch 32: 4.2 -> 1.8 ms). The same bits either way."""
    f = dy.shape[3]
    if f == 16 and RGB_GRAD_WIDTH16 == 16:
        for a0 in range(0, 3, RGB_GRAD_ROWS16):
            _rgb_pooled_kernel_gradient_band(xpad, dy, y, argmax, s, i0, i1, ow, a0, RGB_GRAD_ROWS16, 16,
                                             zero, acc, dk2)
    elif f == 32 and RGB_GRAD_WIDTH32 == 32:
        for a0 in range(0, 3, RGB_GRAD_ROWS32):
            _rgb_pooled_kernel_gradient_band(xpad, dy, y, argmax, s, i0, i1, ow, a0, RGB_GRAD_ROWS32, 32,
                                             zero, acc, dk2)
    else:
        for i in range(i0, i1):
            _pooled_gradient_row(dy, y, argmax, s, i, zero, dzb[i - i0])
        _rgb_kernel_gradient_image(xpad, dzb, -i0, s, i0, i1, ow, acc, dk2)


@njit(parallel=True, cache=True, fastmath={"contract"})
def _direct_backward_kernel_rgb(xpad, dz, chunk, band):
    """RGB input, ``RGB_GRAD_FILTERS`` filters: one partial ``(27, F)`` per chunk of images, band by
    band of output rows; the caller adds the partials in chunk order."""
    n, oh, ow = xpad.shape[0], dz.shape[1], dz.shape[2]
    chunks = -(-n // chunk)
    partial = np.zeros((chunks, 27, dz.shape[3]), dtype=dz.dtype)
    for t in prange(chunks):
        acc = _stack_empty(432, dz.dtype)  # 27 x 16 or 9 x 32 sums
        for s in range(t * chunk, min(n, (t + 1) * chunk)):
            for i0 in range(0, oh, band):
                _rgb_kernel_gradient_image(xpad, dz[s], 0, s, i0, min(oh, i0 + band), ow, acc, partial[t])
    return partial


@njit(parallel=True, cache=True, fastmath={"contract"})
def _direct_backward_kernel_rgb_pooled(xpad, dy, y, argmax, oh, ow, chunk, band):
    """:func:`_direct_backward_kernel_rgb` with ``dz`` made from the pooled ``dy``, ``y`` and
    ``argmax`` inside the loops (:func:`_rgb_pooled_kernel_gradient_band`), and each image's
    bias-gradient partial (:func:`_pooled_bias_partial`)."""
    n, f = xpad.shape[0], dy.shape[3]
    chunks = -(-n // chunk)
    partial = np.zeros((chunks, 27, f), dtype=dy.dtype)
    bias_partial = np.zeros((n, f), dtype=np.float64)
    columns = np.empty((chunks, dy.shape[2] * f), dtype=np.float64)  # each chunk's column sums
    zero = np.zeros(1, dtype=dy.dtype)[0]
    for t in prange(chunks):
        acc = _stack_empty(432, dy.dtype)
        dzb = np.empty((band, ow, f), dtype=dy.dtype)  # a band of dz (AVX2's passes)
        for s in range(t * chunk, min(n, (t + 1) * chunk)):
            for i0 in range(0, oh, band):
                _rgb_pooled_kernel_gradient_image(xpad, dy, y, argmax, s, i0, min(oh, i0 + band), ow, zero,
                                                  acc, dzb, partial[t])
            _pooled_bias_partial(dy, y, s, columns[t], bias_partial[s])
    return partial, bias_partial


def _direct_kernel_gradient_kind(c: int, f: int) -> str:
    """Which loops run a 3x3 stride-1 kernel gradient with ``c`` input channels and ``f`` filters:
    "rgb" for 3 channels and ``RGB_GRAD_FILTERS`` filters; filters inner for 64 filters, or 16-32 with at
    least 8 channels (8 at a time; with fewer the filter loop's body is too small, see
    ``_filters_inner_rows``); planar for <= 4 channels."""
    if c == 3 and f in RGB_GRAD_FILTERS:
        return "rgb"
    if f == 64 or (f in (16, 32) and c >= 8):
        return "filters_inner"
    return "planar" if c <= DIRECT_PLANAR_MAX_CHANNELS else "im2col"


@_one_at_a_time
def direct_conv2d_backward_kernel(xpad, dy, kernel_hw, strides, dilation):
    """``dL/dK[a, b, c, o] = sum_{n, i, j} xpad[n, i*sh + a*dh, j*sw + b*dw, c] * dy[n, i, j, o]``."""
    n, c, f = xpad.shape[0], xpad.shape[3], dy.shape[3]
    kind = _direct_kernel_gradient_kind(c, f) if _direct_fits(kernel_hw, strides, dilation) else "im2col"
    if kind == "im2col":
        return conv2d_backward_kernel.__wrapped__(xpad, dy, kernel_hw, strides, dilation)
    xpad = np.ascontiguousarray(xpad)
    dy = np.ascontiguousarray(dy, dtype=xpad.dtype)
    chunk = _kernel_grad_images_per_chunk(n)
    if kind == "filters_inner":
        band = _kernel_grad_band(kind, dy.shape[2], f, dy.itemsize)
        dk = _sum_in_order(_direct_backward_kernel_filters_inner(xpad, dy, 0, chunk, band))  # (9*C, F)
        return dk.reshape(3, 3, c, f)
    if kind == "rgb":
        band = _kernel_grad_band(kind, dy.shape[2], f, dy.itemsize)
        dk = _sum_in_order(_direct_backward_kernel_rgb(xpad, dy, chunk, band))  # (27, F)
        return dk.reshape(3, 3, c, f)
    dk = _sum_in_order(_direct_backward_kernel_planar(xpad, dy, chunk))  # (F, C, 3, 3)
    return np.ascontiguousarray(dk.transpose(2, 3, 1, 0))  # (3, 3, C, F)


@_one_at_a_time
def direct_conv2d_backward_kernel_relu_maxpool2x2(xpad, dy, y, argmax, kernel_hw, strides, dilation,
                                                  conv_out_hw):
    """``(dL/dK, dL/dbias)`` of a Conv2D(relu) -> MaxPooling2D((2, 2)) pair that needs no dL/dx (a
    model's first layer), from the pooled ``dy``, ``y`` and ``argmax``: the results of
    :func:`relu_maxpool2d_backward_bias_grad` then :func:`direct_conv2d_backward_kernel`, the same
    bits, without storing the whole ``dz``: the RGB loops (3 channels, ``RGB_GRAD_FILTERS`` filters) make each
    value from the pooled arrays where they need it (``_direct_backward_kernel_rgb_pooled``), the
    "filters inner" loops a band of rows at a time (``_direct_backward_kernel_filters_inner_pooled``);
    other shapes run the two steps."""
    c, f = xpad.shape[3], dy.shape[3]
    kind = _direct_kernel_gradient_kind(c, f) if _direct_fits(kernel_hw, strides, dilation) else "im2col"
    if kind not in ("rgb", "filters_inner"):
        dz, db = relu_maxpool2d_backward_bias_grad.__wrapped__(dy, y, argmax, (2, 2), (2, 2), conv_out_hw)
        return direct_conv2d_backward_kernel.__wrapped__(xpad, dz, kernel_hw, strides, dilation), db
    xpad = np.ascontiguousarray(xpad)
    arrays = (np.ascontiguousarray(dy, dtype=xpad.dtype), np.ascontiguousarray(y),
              np.ascontiguousarray(argmax))
    oh, ow = conv_out_hw
    chunk = _kernel_grad_images_per_chunk(xpad.shape[0])
    band = _kernel_grad_band(kind, ow, f, xpad.itemsize)
    if kind == "rgb":
        partial, bias_partial = _direct_backward_kernel_rgb_pooled(xpad, *arrays, oh, ow, chunk, band)
    else:
        partial, bias_partial = _direct_backward_kernel_filters_inner_pooled(xpad, *arrays, oh, ow, chunk,
                                                                             band)
    dk = _sum_in_order(partial).reshape(3, 3, c, f)
    return dk, _sum_in_order(bias_partial).astype(dy.dtype)  # the bias gradient in image order


@_one_at_a_time
def direct_conv2d_backward_input(dy, kernel, strides, dilation, padded_hw):
    """``dL/dxpad``: each output cell sends ``dy[n, i, j, :] @ K[a, b].T`` back to the cell it read.

    The im2col twin's product and scatter, for every shape. (For 3x3, stride 1 it is also a forward
    convolution of ``dy`` padded with 2 zeros, kernel turned by 180 degrees and its channel axes
    swapped, which the direct forward loops can run: that measured 1.15-1.45x faster than im2col
    with OpenBLAS forced to its AVX2 kernels, but 0.69-0.92x with the AVX-512 kernels OpenBLAS
    picks on this CPU by itself (benchmarks/CONV_ALGORITHMS.md), so it is not used here. Most of
    what it lost was padding ``dy``; when the max-pooling's backward writes ``dy`` with its border
    of zeros already there, the forward loops win: :func:`direct_conv2d_backward_relu_maxpool2x2`.)"""
    return conv2d_backward_input.__wrapped__(dy, kernel, strides, dilation, padded_hw)


def _backward_input_by_forward_loops(kernel_shape, padded_hw, conv_out_hw) -> bool:
    """Whether :func:`direct_conv2d_backward_relu_maxpool2x2` computes dL/dx with the forward
    loops: 3x3, stride 1 (checked by the caller), and the layer's input channels a filter count
    of the "filters inner" loops (they are the filters of that forward pass)."""
    _, _, c, f = kernel_shape
    return (_direct_forward_kind(f, c) == "filters_inner"
            and tuple(padded_hw) == (conv_out_hw[0] + 2, conv_out_hw[1] + 2))


@_one_at_a_time
def direct_conv2d_backward_relu_maxpool2x2(xpad, dy, y, argmax, kernel, strides, dilation, conv_out_hw):
    """``(dL/dK, dL/dbias, dL/dxpad)`` of a Conv2D(relu) -> MaxPooling2D((2, 2)) pair inside a
    model, from the pooled ``dy``, ``y`` and ``argmax``: the twin of
    :func:`scratchnet.kernels.direct.conv2d_backward_relu_maxpool2x2` (formulas there).

    When the direct loops cover the kernel gradient ("filters inner") and the layer's input
    channels are 16, 32 or 64, the pooling's backward writes ``dz`` with a border of 2 zeros on
    every side, the kernel gradient reads around the border, and dL/dx is the forward loops over
    that ``dz`` with the kernel turned 180 degrees and its channel axes swapped (each input cell
    gathers the 9 output cells that read it): rps_cnn's 31x31x16 -> 32 layer at batch 32 1.72 ->
    1.48 ms for dL/dx (the im2col twin's product and scatter against these loops). dz and
    dL/dbias are :func:`relu_maxpool2d_backward_bias_grad`'s bits and dL/dK
    :func:`direct_conv2d_backward_kernel`'s; dL/dx differs from the im2col twin's in the last bits
    (another order of the same sums). Other shapes run those three twins one after the other.

    With a multiple of 16 input channels (the second layer of small_cnn and of rps_cnn, 16)
    neither dz nor its zeros are made: dL/dK and dL/dx are sums over each window's winning cell only
    (:func:`_direct_backward_from_winners`, a quarter of the multiply-adds; formula in
    :func:`scratchnet.kernels.direct.conv2d_backward_relu_maxpool2x2_from_winners`), dL/dbias the
    same bits as above, dL/dK and dL/dx the same sums in another order. A NaN or an infinity in
    ``xpad`` or in the kernel sends the call to the loops above."""
    kh, kw, c, f = kernel.shape
    oh, ow = conv_out_hw
    fits = _direct_fits((kh, kw), strides, dilation)
    if fits and c % WINNERS_BLOCK == 0 and np.isfinite(kernel).all():
        found = _backward_from_winners(xpad, dy, y, argmax, kernel)
        if found is not None:
            return found
    if not (fits
            and _direct_kernel_gradient_kind(c, f) == "filters_inner"
            and _backward_input_by_forward_loops(kernel.shape, xpad.shape[1:3], conv_out_hw)):
        dz, db = relu_maxpool2d_backward_bias_grad.__wrapped__(dy, y, argmax, (2, 2), (2, 2), conv_out_hw)
        return (direct_conv2d_backward_kernel.__wrapped__(xpad, dz, (kh, kw), strides, dilation), db,
                direct_conv2d_backward_input.__wrapped__(dz, kernel, strides, dilation, xpad.shape[1:3]))
    xpad = np.ascontiguousarray(xpad)
    n = xpad.shape[0]
    dzpad, db = _relu_maxpool2x2_backward_bias_grad(  # (N, OH + 4, OW + 4, F): dz inside 2 zeros
        np.ascontiguousarray(dy, dtype=xpad.dtype), np.ascontiguousarray(y), np.ascontiguousarray(argmax),
        oh, ow, 2)
    chunk = _kernel_grad_images_per_chunk(n)
    band = _kernel_grad_band("filters_inner", ow, f, dzpad.itemsize)
    dk = _sum_in_order(_direct_backward_kernel_filters_inner(xpad, dzpad, 2, chunk, band)).reshape(3, 3, c, f)
    # dL/dxpad[n, p, q, c] = sum_{a, b, o} dzpad[n, p + a, q + b, o] * K[2 - a, 2 - b, c, o]
    turned = kernel.astype(xpad.dtype, copy=False)[::-1, ::-1].transpose(0, 1, 3, 2)  # (3, 3, F, C)
    k2 = np.ascontiguousarray(turned).reshape(9 * f, c)
    hp, wp = oh + 2, ow + 2
    dxpad = np.empty((n, hp, wp, c), dtype=xpad.dtype)
    rows = max(1, -(-n * hp // (4 * MIN_CHUNKS)))  # as _direct_conv2d
    _direct_forward_filters_inner(dzpad, k2, np.zeros(c, dtype=xpad.dtype), False, True, hp, wp, rows,
                                  dxpad, dxpad[:1, :1, :1])
    return dk, db, dxpad


# Conv2D(relu) -> MaxPooling2D((2, 2)) inside a model, a multiple of 16 input channels: both
# gradients from the windows' winning cells. The pooling's backward leaves one cell of each 2x2
# window with a gradient (its first maximum, where y > 0) and zeros in the other three, so three
# quarters of dz are zeros, and the dense loops above multiply by them. Here the gradients are sums
# over the windows only: for window (i, j) and filter o with g = dy[s, i, j, o] (0 where y <= 0),
# winner (wa, wb) of argmax, and (p, q) = (2i + wa, 2j + wb) the conv output cell it came from:
#     dL/dK[a, b, :, o] += g * xpad[s, p + a, q + b, :]      (C values side by side)
#     dL/dxpad[s, p + a, q + b, :] += g * K[a, b, :, o]
# a quarter of the multiply-adds, in runs of 16 channels: one 512-bit vector each. Both loops keep
# their sums in stack arrays indexed by constants, so that the compiler holds them in registers:
# dL/dK's 9 runs of one filter over the image's windows; dL/dx's 4x4-pixel patch of one window, the
# filters sorted by winner first (four lists), so that each list adds at fixed places of the patch.
# That needs LLVM's SLP vectorizer (16 side-by-side scalar multiply-adds made one vector one), which
# Numba leaves off unless NUMBA_SLP_VECTORIZE=1: see _configure_code_generator. Measured on the
# 2-core Ice Lake VM (2026-12-04, the dense loops -> these, ms for the pair's whole backward):
# small_cnn's 15x15x16 -> 32 at batch 256 5.4-5.8 -> 2.6; rps_cnn's 31x31x16 -> 32 at batch 32
# 3.3-3.4 -> 2.0, at 256 24.5-26.0 -> 13.7-14.3. A training step (Adam): small_cnn@256 12.6-12.9 ->
# 9.1-11.5 ms, rps_cnn@32 11.2-12.3 -> 10.0-11.4, rps_cnn@256 70.5 -> 58. The same sums in another order:
# dL/dK and dL/dx differ from the dense loops' in the last bits (measured up to 3e-7 of the largest
# value, float32), dL/dbias is the same bits. With more channels (16 at a time) against the dense
# direct loops: 14x14x32 -> 64 at batch 32 2.8 -> 2.1 ms, at 256 18.6 -> 12.2; 17x17x128 -> 128 at 32
# 24.9 -> 17.8; 36x36x64 -> 128 at 32 55 -> 54. Winograd F(4x4, 3x3) does those in 2.3, 9.5, 15 and
# 32 ms (its fewer multiplications, and no decoding of winners), and "auto" gives them Winograd, so
# for the benchmark models these loops serve the 16-channel layers (where Winograd takes 4.6 ms to
# their 2.1, rps_cnn's 31x31x16 -> 32 at 32).
# An image whose xpad holds a NaN or an infinity (checked here, per image) and a kernel with one
# take the dense loops instead: there a zero of dz times an infinity is NaN, as in the NumPy
# reference and in TensorFlow, and skipping the zeros would hide it.
WINNERS_BLOCK = 16  # input channels a pass of these loops takes (a constant of the compiled loops)


@njit(cache=True, inline="always")
def _finite_image(xpad, s) -> bool:
    """Whether image ``s`` of ``xpad`` holds only finite values (an integer OR over its cells: a
    loop the compiler vectorizes without reordering any float sum)."""
    flat = xpad[s].reshape(xpad.shape[1] * xpad.shape[2] * xpad.shape[3])
    bad = 0
    for q in range(flat.shape[0]):
        v = flat[q]
        bad |= (v - v) != 0  # NaN and +-inf give NaN, which is != 0; finite values give 0
    return bad == 0


@njit(cache=True, inline="always")
def _winners_kernel_gradient(xpad, dy, y, argmax, s, c0, cb, zero, acc, dk2):
    """``dk2[o, (a*3 + b)*C + c0 + ch] += sum over image s's windows of g * xpad[s, p + a, q + b, c0 + ch]``
    for the ``cb`` channels from ``c0`` (the block comment above): filter by filter, its ``9*cb``
    sums in ``acc`` (``cb`` a constant). Unsigned indices: no negative-index checks, which kept the
    compiler from packing the channel loop into vector instructions."""
    ph, pw, f, c = y.shape[1], y.shape[2], y.shape[3], xpad.shape[3]
    u0 = np.uint64(c0)
    for o in range(f):
        for q in range(9 * cb):
            acc[q] = 0
        for i in range(ph):
            for j in range(pw):
                g = dy[s, i, j, o] if y[s, i, j, o] > 0 else zero
                k = argmax[s, i, j, o]
                p, q0 = np.uint64(2 * i + (k >> 1)), np.uint64(2 * j + (k & 1))
                for a in range(3):
                    xrow = xpad[s, p + np.uint64(a)]
                    for b in range(3):
                        for ch in range(cb):
                            acc[(a * 3 + b) * cb + ch] += g * xrow[q0 + np.uint64(b), u0 + np.uint64(ch)]
        for tap in range(9):
            for ch in range(cb):
                dk2[o, np.uint64(tap * c + c0) + np.uint64(ch)] += acc[tap * cb + ch]


@njit(cache=True, inline="always")
def _winners_patch_add(gs, filters, first, count, kt, wa, wb, c0, cb, patch):
    """``patch[wa + a, wb + b, :] += g * K[a, b, c0:c0 + cb, o]`` for the ``count`` filters of one
    winner ``(wa, wb)`` (constants, so every place in ``patch`` is a constant), listed from ``first``."""
    c = kt.shape[1] // 9
    for q in range(first, first + count):
        g = gs[q]
        krow = kt[filters[q]]  # (9*C,): K[:, :, :, o]
        for a in range(3):
            for b in range(3):
                for ch in range(cb):
                    patch[((wa + a) * 4 + wb + b) * cb + ch] += g * krow[np.uint64((a * 3 + b) * c + c0)
                                                                         + np.uint64(ch)]


@njit(cache=True, inline="always")
def _winners_input_gradient(dy, y, argmax, kt, s, cb, zero, patch, gs, filters, counts, dxpad):
    """``dxpad[s]`` (block comment above): window by window, the filters sorted by winner (``gs``,
    ``filters``, ``counts``: four lists of up to F), then ``cb`` channels at a time the window's
    ``4x4xcb`` patch summed in ``patch`` and added where it lies (neighbouring windows' patches
    overlap by two pixels)."""
    ph, pw, f, c = y.shape[1], y.shape[2], y.shape[3], dxpad.shape[3]
    dxpad[s] = 0
    for i in range(ph):
        for j in range(pw):
            for w in range(4):
                counts[w] = 0
            for o in range(f):
                w = argmax[s, i, j, o]
                at = w * f + counts[w]
                gs[at] = dy[s, i, j, o] if y[s, i, j, o] > 0 else zero
                filters[at] = o
                counts[w] += 1
            for c0 in range(0, c, cb):
                for q in range(16 * cb):
                    patch[q] = 0
                _winners_patch_add(gs, filters, 0, counts[0], kt, 0, 0, c0, cb, patch)
                _winners_patch_add(gs, filters, f, counts[1], kt, 0, 1, c0, cb, patch)
                _winners_patch_add(gs, filters, 2 * f, counts[2], kt, 1, 0, c0, cb, patch)
                _winners_patch_add(gs, filters, 3 * f, counts[3], kt, 1, 1, c0, cb, patch)
                for r in range(4):
                    dxrow = dxpad[s, 2 * i + r]
                    for col in range(4):
                        for ch in range(cb):
                            at = np.uint64(c0) + np.uint64(ch)
                            dxrow[2 * j + col, at] += patch[(r * 4 + col) * cb + ch]


@njit(parallel=True, cache=True, fastmath={"contract"})
def _direct_backward_from_winners(xpad, dy, y, argmax, kt, chunk):
    """``(dL/dK partials (chunks, F, 9*C), dL/dbias partials (N, F) float64, dL/dxpad, finite (N,))``
    for a multiple of 16 input channels: chunk by chunk of images, each image's kernel gradient,
    bias gradient and input gradient from its windows' winners, 16 channels at a time;
    ``finite[s]`` False (and nothing else done) for an image that holds a NaN or an infinity."""
    n, hp, wp, c = xpad.shape
    f = dy.shape[3]
    chunks = -(-n // chunk)
    partial = np.zeros((chunks, f, 9 * c), dtype=dy.dtype)
    bias_partial = np.zeros((n, f), dtype=np.float64)
    dxpad = np.empty((n, hp, wp, c), dtype=dy.dtype)
    finite = np.ones(n, dtype=np.bool_)
    zero = np.zeros(1, dtype=dy.dtype)[0]
    for t in prange(chunks):
        acc = _stack_empty(144, dy.dtype)  # 9 taps x WINNERS_BLOCK channels
        patch = _stack_empty(256, dy.dtype)  # 4 x 4 pixels x WINNERS_BLOCK channels
        gs = np.empty(4 * f, dtype=dy.dtype)
        filters = np.empty(4 * f, dtype=np.int64)
        counts = np.empty(4, dtype=np.int64)
        columns = np.empty(dy.shape[2] * f, dtype=np.float64)
        for s in range(t * chunk, min(n, (t + 1) * chunk)):
            if not _finite_image(xpad, s):
                finite[s] = False
                continue
            for c0 in range(0, c, 16):
                _winners_kernel_gradient(xpad, dy, y, argmax, s, c0, 16, zero, acc, partial[t])
            _pooled_bias_partial(dy, y, s, columns, bias_partial[s])
            _winners_input_gradient(dy, y, argmax, kt, s, 16, zero, patch, gs, filters, counts, dxpad)
    return partial, bias_partial, dxpad, finite


def _backward_from_winners(xpad, dy, y, argmax, kernel):
    """``(dL/dK, dL/dbias, dL/dxpad)`` of an inner pair with a multiple of 16 input channels from the
    windows' winners (:func:`_direct_backward_from_winners`), or None when an image holds a NaN or an
    infinity (the caller then runs the dense loops, for every image)."""
    xpad = np.ascontiguousarray(xpad)
    n, c, f = xpad.shape[0], kernel.shape[2], kernel.shape[3]
    kt = np.ascontiguousarray(kernel.astype(xpad.dtype, copy=False).transpose(3, 0, 1, 2)).reshape(f, 9 * c)
    chunk = _kernel_grad_images_per_chunk(n)
    partial, bias_partial, dxpad, finite = _direct_backward_from_winners(
        xpad, np.ascontiguousarray(dy, dtype=xpad.dtype), np.ascontiguousarray(y),
        np.ascontiguousarray(argmax), kt, chunk)
    if not finite.all():
        return None
    dk = _sum_in_order(partial).reshape(f, 3, 3, c).transpose(1, 2, 3, 0)  # (F, 3, 3, C) -> (3, 3, C, F)
    return np.ascontiguousarray(dk), _sum_in_order(bias_partial).astype(dy.dtype), dxpad

# ----------------------------------------------------------------------------- optimizer steps
# One thread, one loop over the elements: vectorized (16 float32 a step at 512 bits), about 0.8 ns an
# element here, so even talk_cnn's 3.2 million weights take a few milliseconds. Two things kept the
# compiler from vectorizing it (1.6 ms instead of 0.22 for rps_cnn's 295k-weight Dense kernel,
# measured): Numba's default check for a float division by zero (error_model="numpy" gives inf or
# NaN as NumPy does, the same bits), and a loop over blocks of elements (for prange) around it.
@njit(cache=True, error_model="numpy")
def _adam_update(w, grad, m, v, alpha, one_minus_beta_1, one_minus_beta_2, epsilon):
    for i in range(w.shape[0]):
        g = grad[i]
        m_i = m[i] + (g - m[i]) * one_minus_beta_1
        v_i = v[i] + (g * g - v[i]) * one_minus_beta_2
        m[i] = m_i
        v[i] = v_i
        w[i] = w[i] - (m_i * alpha) / (np.sqrt(v_i) + epsilon)


@_one_at_a_time
def adam_update(w, grad, m, v, v_hat, alpha, one_minus_beta_1, one_minus_beta_2, epsilon) -> None:
    """:func:`scratchnet.kernels.optimizer_steps.adam_update` in one pass: each element's four
    formulas one after the other while it is in registers (the reference makes eight passes over the
    arrays). The same operations in the same order and type, no fused multiply-add: the same bits.
    AMSGrad, mixed dtypes or non-contiguous arrays run the reference."""
    dtype = w.dtype
    if (v_hat is not None or dtype not in (np.float32, np.float64)
            or any(a.dtype != dtype or a.shape != w.shape or not a.flags.c_contiguous
                   for a in (w, grad, m, v))):
        return _optimizer_reference.adam_update(w, grad, m, v, v_hat, alpha, one_minus_beta_1,
                                                one_minus_beta_2, epsilon)
    f = dtype.type
    _adam_update(w.reshape(-1), grad.reshape(-1), m.reshape(-1), v.reshape(-1), f(alpha),
                 f(one_minus_beta_1), f(one_minus_beta_2), f(epsilon))
