"""Conv2D kernels, NumPy reference.

Cross-correlation on channels-last data, as Keras and TensorFlow compute it (no kernel flip)::

    y[n, i, j, o] = sum_{a, b, c} xpad[n, i*sh + a*dh, j*sw + b*dw, c] * K[a, b, c, o]

``xpad`` is the input after padding, so these functions know nothing of "same" or "valid".
The forward pass gathers every receptive field into one matrix ("im2col") and does one matrix
product; the backward passes are the same product transposed.

Each function works through the batch a few images at a time (:func:`image_chunks`): the im2col
rows of a few images (about ``CHUNK_BYTES``) are gathered, multiplied and used while they are
still in the processor's cache, instead of writing the whole matrix (up to gigabytes for the
talk's model) to memory and reading it back. Every output row is the same dot product either
way; only ``dL/dK``, a sum over the whole batch, adds its pieces in a different order (float32
rounding). The pieces are always the same for the same shapes, so results repeat bit for bit.
The pieces run on ``THREADS`` threads at once (:func:`each_piece`; one thread under a debugger).
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def _tap(start: int, step: int, count: int) -> slice:
    """Rows (or columns) ``start, start + step, ...`` that one kernel tap sees, ``count`` of them."""
    return slice(start, start + (count - 1) * step + 1, step)


def im2col(xpad: np.ndarray, kernel_hw, strides, dilation, out_hw) -> np.ndarray:
    """Gather receptive fields: ``cols[n, i, j, a, b, c] = xpad[n, i*sh + a*dh, j*sw + b*dw, c]``."""
    n, hp, wp, c = xpad.shape
    kh, kw = kernel_hw
    (sh, sw), (dh, dw), (oh, ow) = strides, dilation, out_hw
    cols = np.empty((n, oh, ow, kh, kw, c), dtype=xpad.dtype)  # (N, OH, OW, KH, KW, C)
    if dw == 1:
        # One kernel row (a) reads KW pixels side by side: KW*C values in a row of xpad. Copying
        # those runs (9 values for a 3x3 kernel on RGB) instead of C values per tap (a, b) is
        # the same result, 1.3-3x faster. ``runs[n, y, j]`` is the run that starts at pixel j*sw of row y.
        runs = sliding_window_view(xpad.reshape(n, hp, wp * c), kw * c, axis=2)[:, :, ::sw * c]
        for a in range(kh):
            cols[:, :, :, a] = runs[:, _tap(a * dh, sh, oh), :ow].reshape(n, oh, ow, kw, c)
        return cols
    for a in range(kh):
        for b in range(kw):
            cols[:, :, :, a, b, :] = xpad[:, _tap(a * dh, sh, oh), _tap(b * dw, sw, ow), :]
    return cols


def col2im_add(dxpad: np.ndarray, dcols: np.ndarray, strides, dilation) -> None:
    """The transpose of :func:`im2col`, added in place:
    ``dxpad[n, i*sh + a*dh, j*sw + b*dw, c] += dcols[n, i, j, a, b, c]`` (overlapping fields add up)."""
    n, oh, ow, kh, kw, c = dcols.shape
    (sh, sw), (dh, dw) = strides, dilation
    if sw == 1 and dw == 1:
        # As in im2col, one kernel row (a) of output pixel j covers KW*C values side by side, in
        # dcols and in dxpad. The fields of pixels j = r, r + KW, r + 2*KW, ... lie end to end
        # without overlapping, so each (a, r) is one add over runs of KW*C values instead of KW
        # adds over runs of C: 1.5-1.8x faster for 16 channels. (Each cell then receives its
        # KW terms in another order: float32 rounding.)
        for a in range(kh):
            rows = _tap(a * dh, sh, oh)
            for r in range(min(kw, ow)):
                t = len(range(r, ow, kw))  # pixels j = r, r + KW, ... below OW
                cells = dxpad[:, rows, r:r + t * kw, :].reshape(n, oh, t, kw * c)  # a view
                cells += dcols[:, :, r::kw, a].reshape(n, oh, t, kw * c)
        return
    for a in range(kh):
        for b in range(kw):
            dxpad[:, _tap(a * dh, sh, oh), _tap(b * dw, sw, ow), :] += dcols[:, :, :, a, b, :]


# Pieces of the batch, in bytes of work. A piece of im2col rows makes one matrix product (one BLAS
# call): 4 MiB, which stays in cache. With BLAS' own two threads that size had cost more than it
# saved: each BLAS call with two threads waits for both cores, and on a machine where another
# process held a core that wait measured ~8 ms a call (4 MiB pieces 2-4x slower than one product
# of the whole batch there; 16 MiB was the compromise). Now the pieces run on threads of their own
# with one BLAS thread each (``THREADS`` below), and 4, 8 and 16 MiB measured within 10% of each
# other, 4 MiB best or within 7% of the best on every benchmark model (rps_cnn at batch 256: 915
# training images/s against 868 with 16 MiB). Passes without BLAS (ReLU's gradient, the bias sum,
# max-pooling) use 2 MiB pieces (one core's L2 cache, 1.1-4.5x faster than whole arrays; 1 and
# 4 MiB measured no better). Measured with `python -m benchmarks.numpy_kernels` (numbers in its
# docstring). Read at call time, so a test (or a learner) can change them.
CHUNK_BYTES = 4 << 20
PASS_CHUNK_BYTES = 2 << 20


def image_chunks(n: int, bytes_per_image: int, chunk_bytes: int) -> list[slice]:
    """The batch ``0 .. n-1`` cut into slices of whole images, each ``chunk_bytes`` or fewer of
    work (``bytes_per_image`` an image), but at least one image. When a thread's share of the
    batch holds ``MIN_PIECE_BYTES``, a multiple of ``THREADS`` slices of even sizes, so that the
    threads of :func:`each_piece` finish their rounds together."""
    step = max(1, chunk_bytes // max(1, bytes_per_image))  # images a piece
    if THREADS > 1 and -(-n // THREADS) * bytes_per_image >= MIN_PIECE_BYTES:
        # a whole number of rounds: as many pieces as a multiple of THREADS, of even sizes
        rounds = -(-n // (step * THREADS))
        step = max(1, -(-n // (rounds * THREADS)))
    return [slice(start, min(start + step, n)) for start in range(0, n, step)]


# Threads. NumPy does each operation on one core (only BLAS products use more), so a step of the
# reference left the other cores idle most of the time. The pieces of a batch are independent
# (each writes its own images of the output), so the kernels share them among ``THREADS`` threads
# (:func:`each_piece`: the calling thread and ``THREADS - 1`` helpers): NumPy lets go of Python's
# lock inside its loops and copies, so the threads really run side by side. BLAS runs on one
# thread meanwhile: OpenBLAS' own threads keep spinning for a while after each product, and a
# spinning BLAS thread on the core a piece runs on made two threads slower than one (small_cnn at
# batch 256, a training step: 83 ms on one thread with two-thread BLAS, 92-111 ms on two threads
# with two-thread BLAS, 68 ms on two threads with one-thread BLAS; one Dense product left on
# two-thread BLAS took rps_cnn@256's step from 271 to 316 ms). The calling thread takes pieces too
# instead of waiting: waking an idle core costs 100-200 microseconds on this VM (rps_cnn@256
# 270 -> 251 ms, rps_cnn@32 42 -> 36 ms). Measured with `python -m benchmarks.numpy_kernels
# --threads 1 2` (numbers in its docstring); the whole effect in `python -m benchmarks`
# (RESULTS-intel-xeon.md: the NumPy reference at 0.32-0.62 of TensorFlow, from 0.18-0.48; 0.35-0.65
# once malloc kept freed memory, kernels/memory.py).
# The pieces, and so every bit of every result, depend on ``THREADS`` only, never on which thread
# runs them: under a debugger (``sys.gettrace()`` set) the same pieces run one after another in
# the caller's thread, so stepping into a kernel reaches its work, with the same bits.
# ``THREADS = 1`` turns the threads off (pieces by size alone, BLAS with its own threads); the
# environment variable ``SCRATCHNET_NUMPY_THREADS`` sets it at import (several worker processes on
# one machine: the cores shared out). Read at call time. Below ``MIN_PIECE_BYTES`` of work a piece
# is not worth a thread: 256 KiB and 1 MiB measured the same on small_cnn and rps_cnn, 4 MiB 6%
# slower on rps_cnn@32 (38.3 against 35.8 ms a step).
MIN_PIECE_BYTES = 1 << 20


def _threads_from_environment() -> int:
    """``SCRATCHNET_NUMPY_THREADS`` if set, else the cores this process may run on."""
    value = os.environ.get("SCRATCHNET_NUMPY_THREADS", "").strip()
    if not value:
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if not value.isdigit() or int(value) < 1:
        raise ValueError("environment variable SCRATCHNET_NUMPY_THREADS: expected a whole number of "
                         f"threads, 1 or more, received {value!r}")
    return int(value)


THREADS = _threads_from_environment()

_pool: ThreadPoolExecutor | None = None  # made at the first call with THREADS > 1
_pool_threads = 0  # its helper threads (THREADS - 1)
_pool_lock = threading.Lock()  # guards the pool and the BLAS bookkeeping below
_in_piece = threading.local()  # .yes while a thread runs pieces: a piece never waits for the pool
_blas_users = 0  # blas_on_one_thread blocks in flight (each_piece calls among them)
_blas_threads: list = []  # (library, its thread count before) for each BLAS library


def _forget_pool_after_fork() -> None:
    """In a child made by ``fork()`` the pool's threads do not exist: start afresh."""
    global _pool, _pool_threads, _pool_lock, _blas_users
    _pool, _pool_threads, _pool_lock, _blas_users = None, 0, threading.Lock(), 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_after_fork)


@functools.cache
def _blas_libraries() -> list:
    """threadpoolctl's handle on each BLAS library loaded (found once: the search takes ~1 ms)."""
    import threadpoolctl

    return [lib for lib in threadpoolctl.ThreadpoolController().lib_controllers if lib.user_api == "blas"]


@contextlib.contextmanager
def blas_on_one_thread():
    """BLAS held at one thread inside the block; each library's own count back when the last block
    that overlaps it ends (several Python threads, such as the mirrored strategy's replicas, may be
    inside at once). :func:`each_piece` holds it; so do NumPy products run between Numba's parallel
    loops: a product big enough for OpenBLAS to use its threads leaves them spinning for a while
    afterwards, on the cores Numba's threads need next."""
    global _blas_users, _blas_threads
    with _pool_lock:
        _blas_users += 1
        if _blas_users == 1:
            _blas_threads = [(lib, lib.num_threads) for lib in _blas_libraries()]
            for lib, _ in _blas_threads:
                lib.set_num_threads(1)
    try:
        yield
    finally:
        with _pool_lock:
            _blas_users -= 1
            if _blas_users == 0:
                for lib, threads in _blas_threads:
                    lib.set_num_threads(threads)


def _debugger_attached() -> bool:
    """A trace function is set (pdb, bdb, and IDE debuggers on Python 3.11), or, from Python 3.12,
    a tool holds ``sys.monitoring``'s debugger slot (debuggers built on it set no trace function)."""
    if sys.gettrace() is not None:
        return True
    monitoring = getattr(sys, "monitoring", None)
    return monitoring is not None and monitoring.get_tool(monitoring.DEBUGGER_ID) is not None


def each_piece(work, pieces: list) -> list:
    """``[work(piece) for piece in pieces]``, on ``THREADS`` threads: this one and ``THREADS - 1``
    helpers from a pool, each taking the next piece not yet taken until none is left. The results
    come back in the order of ``pieces``. Each piece must write only its own part of an output.

    With ``THREADS = 1`` a plain loop. Otherwise BLAS runs on one thread meanwhile (even for a
    single piece: a BLAS thread left spinning would slow the next pieces), and the pieces run in
    this thread, one after another, when there is one piece, under a debugger
    (:func:`_debugger_attached`) or when called from a piece itself.
    """
    global _pool, _pool_threads
    threads = THREADS
    if threads <= 1:
        return [work(piece) for piece in pieces]
    with blas_on_one_thread():
        if len(pieces) <= 1 or _debugger_attached() or getattr(_in_piece, "yes", False):
            return [work(piece) for piece in pieces]
        results = [None] * len(pieces)
        untaken = iter(range(len(pieces)))  # shared: each next() hands out one index, once

        def take_turns():
            _in_piece.yes = True
            try:
                for i in untaken:
                    results[i] = work(pieces[i])
            finally:
                _in_piece.yes = False

        with _pool_lock:
            if _pool is None or _pool_threads != threads - 1:
                _pool = ThreadPoolExecutor(threads - 1, thread_name_prefix="scratchnet-piece")
                _pool_threads = threads - 1
            helpers = [_pool.submit(take_turns) for _ in range(min(threads, len(pieces)) - 1)]
        try:
            take_turns()
        finally:
            for helper in helpers:
                helper.result()  # wait for every helper (and raise what one raised)
        return results


def cols_chunks(xpad, kernel_hw, out_hw) -> list[slice]:
    """Pieces of ``CHUNK_BYTES`` of the im2col matrix of ``xpad`` (KH*KW*C values a pixel)."""
    n, _, _, c = xpad.shape
    (kh, kw), (oh, ow) = kernel_hw, out_hw
    return image_chunks(n, oh * ow * kh * kw * c * xpad.itemsize, CHUNK_BYTES)


def pass_chunks(a: np.ndarray) -> list[slice]:
    """Pieces of ``PASS_CHUNK_BYTES`` of ``a`` along its first axis (samples)."""
    return image_chunks(len(a), a[:1].nbytes, PASS_CHUNK_BYTES)


def conv2d_into(y, xpad, kernel, strides, dilation) -> None:
    """``y (N, OH, OW, F) = conv2d_forward(xpad, kernel, ...)``, written into ``y`` (no new array;
    ``y`` must be C-contiguous, as a slice of whole images of a new array is)."""
    if not y.flags.c_contiguous:
        raise ValueError(f"conv2d_into: expected a C-contiguous output array, received strides {y.strides}")
    kh, kw, c, f = kernel.shape
    cols = im2col(xpad, (kh, kw), strides, dilation, y.shape[1:3])  # (N, OH, OW, KH, KW, C)
    np.matmul(cols.reshape(-1, kh * kw * c), kernel.reshape(kh * kw * c, f),
              out=y.reshape(-1, f))  # (N*OH*OW, KH*KW*C) @ (KH*KW*C, F)


def conv2d_forward(xpad, kernel, strides, dilation, out_hw):
    """``(N, Hp, Wp, C)`` padded input, ``(KH, KW, C, F)`` kernel -> ``(N, OH, OW, F)`` (no bias)."""
    n = xpad.shape[0]
    oh, ow = out_hw
    y = np.empty((n, oh, ow, kernel.shape[3]), dtype=np.result_type(xpad, kernel))  # (N, OH, OW, F)
    each_piece(lambda images: conv2d_into(y[images], xpad[images], kernel, strides, dilation),
               cols_chunks(xpad, kernel.shape[:2], out_hw))
    return y


def conv2d_backward_kernel(xpad, dy, kernel_hw, strides, dilation):
    """``dL/dK[a, b, c, o] = sum_{n, i, j} xpad[n, i*sh + a*dh, j*sw + b*dw, c] * dy[n, i, j, o]``."""
    n, oh, ow, f = dy.shape
    kh, kw = kernel_hw
    c = xpad.shape[3]
    dk = np.zeros((kh * kw * c, f), dtype=np.result_type(xpad, dy))  # (KH*KW*C, F)

    def work(images):
        cols = im2col(xpad[images], kernel_hw, strides, dilation, (oh, ow))  # (n, OH, OW, KH, KW, C)
        return cols.reshape(-1, kh * kw * c).T @ dy[images].reshape(-1, f)  # the sum over these images
    for part in each_piece(work, cols_chunks(xpad, kernel_hw, (oh, ow))):
        dk += part
    return dk.reshape(kh, kw, c, f)


def conv2d_backward_input(dy, kernel, strides, dilation, padded_hw):
    """``dL/dxpad``: each output cell sends ``dy[n, i, j, :] @ K[a, b].T`` back to the cell it read."""
    n, oh, ow, f = dy.shape
    kh, kw, c, _ = kernel.shape
    k_t = kernel.reshape(kh * kw * c, f).T  # (F, KH*KW*C)
    dxpad = np.zeros((n, padded_hw[0], padded_hw[1], c), dtype=dy.dtype)  # (N, Hp, Wp, C)

    def work(images):
        dcols = dy[images].reshape(-1, f) @ k_t  # (n*OH*OW, KH*KW*C)
        col2im_add(dxpad[images], dcols.reshape(-1, oh, ow, kh, kw, c), strides, dilation)
    each_piece(work, image_chunks(n, oh * ow * kh * kw * c * dxpad.itemsize, CHUNK_BYTES))
    return dxpad
