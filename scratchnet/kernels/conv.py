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
"""

from __future__ import annotations

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
# call): 16 MiB. Smaller pieces (4 MiB) stayed in cache better (a training step 4-15% faster with
# one BLAS thread); but each BLAS call with 2 threads waits for both cores, and on a machine where
# another process holds a core that wait measured ~8 ms a call, which made 4 MiB pieces 2-4x slower
# than one whole-batch product. 16 MiB keeps most of the gain with a quarter of the calls. Passes
# without BLAS (ReLU's gradient, the bias sum, max-pooling) use 2 MiB pieces (one core's L2 cache,
# 1.1-4.5x faster than whole arrays). Measured with `python -m benchmarks.numpy_kernels` (numbers
# in its docstring). Read at call time, so a test (or a learner) can change them.
CHUNK_BYTES = 16 << 20
PASS_CHUNK_BYTES = 2 << 20


def image_chunks(n: int, bytes_per_image: int, chunk_bytes: int) -> list[slice]:
    """The batch ``0 .. n-1`` cut into slices of whole images, each ``chunk_bytes`` or fewer of
    work (``bytes_per_image`` an image), but at least one image."""
    step = max(1, chunk_bytes // max(1, bytes_per_image))
    return [slice(start, min(start + step, n)) for start in range(0, n, step)]


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
    for images in cols_chunks(xpad, kernel.shape[:2], out_hw):
        conv2d_into(y[images], xpad[images], kernel, strides, dilation)
    return y


def conv2d_backward_kernel(xpad, dy, kernel_hw, strides, dilation):
    """``dL/dK[a, b, c, o] = sum_{n, i, j} xpad[n, i*sh + a*dh, j*sw + b*dw, c] * dy[n, i, j, o]``."""
    n, oh, ow, f = dy.shape
    kh, kw = kernel_hw
    c = xpad.shape[3]
    dk = np.zeros((kh * kw * c, f), dtype=np.result_type(xpad, dy))  # (KH*KW*C, F)
    for images in cols_chunks(xpad, kernel_hw, (oh, ow)):
        cols = im2col(xpad[images], kernel_hw, strides, dilation, (oh, ow))  # (n, OH, OW, KH, KW, C)
        dk += cols.reshape(-1, kh * kw * c).T @ dy[images].reshape(-1, f)  # the sum over these images
    return dk.reshape(kh, kw, c, f)


def conv2d_backward_input(dy, kernel, strides, dilation, padded_hw):
    """``dL/dxpad``: each output cell sends ``dy[n, i, j, :] @ K[a, b].T`` back to the cell it read."""
    n, oh, ow, f = dy.shape
    kh, kw, c, _ = kernel.shape
    k_t = kernel.reshape(kh * kw * c, f).T  # (F, KH*KW*C)
    dxpad = np.zeros((n, padded_hw[0], padded_hw[1], c), dtype=dy.dtype)  # (N, Hp, Wp, C)
    for images in image_chunks(n, oh * ow * kh * kw * c * dxpad.itemsize, CHUNK_BYTES):
        dcols = dy[images].reshape(-1, f) @ k_t  # (n*OH*OW, KH*KW*C)
        col2im_add(dxpad[images], dcols.reshape(-1, oh, ow, kh, kw, c), strides, dilation)
    return dxpad
