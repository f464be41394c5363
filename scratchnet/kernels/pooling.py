"""Max- and average-pooling kernels, NumPy reference.

Max pooling forward: each output cell is the largest value in its window (NaN never wins), and
never below the type's lowest finite value (``np.finfo(dtype).min``): TensorFlow starts each
window from that value, so a window of NaN or ``-inf`` only pools to ``-3.4028235e+38`` in
float32, on both of its CPU kernels (checked against Keras 3.15 / TensorFlow 2.21). Padded cells
hold ``-inf`` so they are never chosen. Backward, as TensorFlow's CPU kernel does it: the whole
gradient of a window goes to the *first* maximum in row-major order (top-most, then left-most),
or to the window's first cell when none of its cells is above ``-inf``; overlapping windows add
up. (One difference is left: TensorFlow's backward starts from the window's first cell, so a NaN
there keeps the gradient even when a later cell holds the maximum; here the maximum's cell gets
it.)

Average pooling: the mean of the real cells of each window (padded cells are neither summed nor
counted, as TensorFlow's ``avg_pool``); backward shares ``dy`` equally among those cells.
"""

from __future__ import annotations

import numpy as np

from scratchnet.kernels.conv import _tap, each_piece, pass_chunks


def argmax_dtype(pool_size) -> np.dtype:
    """The integer type of max-pooling's ``argmax``: int8 when every window offset fits (windows
    of up to 127 cells, 2x2 and 3x3 included), else int32. One byte a cell instead of four: the
    ``argmax`` of the talk's first pooling layer at batch 256 is 90 MB instead of 359 MB."""
    ph, pw = pool_size
    return np.dtype(np.int8) if ph * pw <= 127 else np.dtype(np.int32)


def lowest(dtype) -> float:
    """The smallest finite value of ``dtype`` (``-3.4028235e+38`` for float32): where a max-pooling
    window starts, as in TensorFlow, so a window of NaN or ``-inf`` pools to it."""
    return np.finfo(dtype).min


def _windows(xpad, pool_size, strides, out_hw) -> list:
    """``windows[k]``: the cell at offset ``(a, b)`` of every window, ``k = a * PW + b`` (row-major),
    each a strided ``(N, OH, OW, C)`` view of ``xpad``."""
    (ph, pw), (sh, sw), (oh, ow) = pool_size, strides, out_hw
    return [xpad[:, _tap(a, sh, oh), _tap(b, sw, ow), :] for a in range(ph) for b in range(pw)]


def _max_into(y, xpad, pool_size, strides) -> None:
    """``y (N, OH, OW, C)``, written in place: the largest value of each window of ``xpad``, at
    least :func:`lowest`."""
    y[...] = lowest(y.dtype)
    for cells in _windows(xpad, pool_size, strides, y.shape[1:3]):
        np.fmax(y, cells, out=y)  # the largest value; fmax skips NaN, so NaN never wins


def _first_max_into(argmax, y, xpad, pool_size, strides) -> None:
    """``argmax (N, OH, OW, C)``, written in place: the offset of the first cell equal to ``y``."""
    # A window with nothing above -inf (padding, NaN) pools to lowest(), which no cell equals
    # unless one holds that very value, and keeps offset 0. (The same as keeping the first
    # strictly larger value while scanning from -inf.)
    argmax[...] = 0
    found = np.zeros(y.shape, dtype=bool)
    for k, cells in enumerate(_windows(xpad, pool_size, strides, y.shape[1:3])):
        first = (cells == y) & ~found
        argmax += first * argmax.dtype.type(k)
        found |= first


def maxpool2d_values(xpad, pool_size, strides, out_hw):
    """``y (N, OH, OW, C)`` of :func:`maxpool2d_forward` alone, for inference (nothing is kept
    for a backward pass, so no ``argmax``)."""
    n, _, _, c = xpad.shape
    y = np.empty((n,) + tuple(out_hw) + (c,), dtype=xpad.dtype)  # (N, OH, OW, C)
    each_piece(lambda images: _max_into(y[images], xpad[images], pool_size, strides), pass_chunks(xpad))
    return y


def maxpool2d_forward(xpad, pool_size, strides, out_hw):
    """``(N, Hp, Wp, C)`` -> ``y (N, OH, OW, C)`` and ``argmax (N, OH, OW, C)``.

    ``argmax`` holds ``a * PW + b``, the window offset of the first maximum
    (type :func:`argmax_dtype`).

    A few images at a time (:func:`~scratchnet.kernels.conv.pass_chunks`): the maximum and the
    offset passes read each piece of ``xpad`` while it is in cache (1.4-1.7x faster than whole
    arrays on the benchmark models' activations, ``benchmarks/numpy_kernels.py``).
    """
    n, _, _, c = xpad.shape
    y = np.empty((n,) + tuple(out_hw) + (c,), dtype=xpad.dtype)  # (N, OH, OW, C)
    argmax = np.empty(y.shape, dtype=argmax_dtype(pool_size))

    def work(images):
        _max_into(y[images], xpad[images], pool_size, strides)
        _first_max_into(argmax[images], y[images], xpad[images], pool_size, strides)
    each_piece(work, pass_chunks(xpad))
    return y, argmax


def maxpool2d_backward(dy, argmax, pool_size, strides, padded_hw):
    """Route ``dy (N, OH, OW, C)`` to the winning cell of each window -> ``dxpad (N, Hp, Wp, C)``.

    A few images at a time, as :func:`maxpool2d_forward`: each piece of ``dxpad`` is zeroed and
    receives its gradient while it is in cache. Each window offset adds ``np.where(won, dy, 0)``;
    where ``dy`` is finite that is computed as ``dy * won``, the same sum (``dy * 0`` is ``0.0``
    or ``-0.0``, and adding either to ``0.0`` gives ``0.0``), and ``np.where`` measured 10x slower
    than the product on the benchmark models' activations. A NaN or inf in ``dy`` (``inf * 0`` is
    NaN) takes ``np.where``: it still goes to the winning cell only.
    """
    (ph, pw), (sh, sw) = pool_size, strides
    n, oh, ow, c = dy.shape
    dxpad = np.empty((n, padded_hw[0], padded_hw[1], c), dtype=dy.dtype)  # (N, Hp, Wp, C)

    def work(images):
        dx, g, won_at = dxpad[images], dy[images], argmax[images]
        dx[...] = 0
        finite = np.isfinite(g).all()
        for a in range(ph):
            for b in range(pw):
                won = won_at == a * pw + b  # (n, OH, OW, C)
                dx[:, _tap(a, sh, oh), _tap(b, sw, ow), :] += g * won if finite else np.where(won, g, 0)
    each_piece(work, pass_chunks(dxpad))
    return dxpad


# ------------------------------------------------------------------------------ average pooling
# NumPy only (no Numba twin yet): the layers call these directly, not through the backend table.


def window_counts(hw, pads, pool_size, strides, out_hw) -> np.ndarray:
    """How many *real* (not padded) cells each window covers: ``(OH, OW)``.

    TensorFlow's average pooling divides by this count, so SAME padding never pulls a mean
    towards 0. It is the window sum of a ones image padded with zeros.
    """
    ones = np.pad(np.ones(hw), pads)  # (Hp, Wp): 1 on real cells, 0 on padding
    (ph, pw), (sh, sw), (oh, ow) = pool_size, strides, out_hw
    return sum(ones[_tap(a, sh, oh), _tap(b, sw, ow)] for a in range(ph) for b in range(pw))


def avgpool2d_forward(xpad, pool_size, strides, out_hw, counts):
    """``y[n, i, j, c] = sum_{a, b} xpad[n, i*sh + a, j*sw + b, c] / counts[i, j]``.

    ``xpad (N, Hp, Wp, C)`` is zero-padded, so padded cells add nothing; ``counts (OH, OW)`` from
    :func:`window_counts`. Returns ``(N, OH, OW, C)``.
    """
    (ph, pw), (sh, sw), (oh, ow) = pool_size, strides, out_hw
    total = np.zeros((xpad.shape[0], oh, ow, xpad.shape[3]), dtype=xpad.dtype)  # (N, OH, OW, C)
    for a in range(ph):
        for b in range(pw):
            total += xpad[:, _tap(a, sh, oh), _tap(b, sw, ow), :]
    return total / counts[None, :, :, None].astype(xpad.dtype)


def avgpool2d_backward(dy, pool_size, strides, padded_hw, counts):
    """``dL/dxpad``: every cell of window ``(i, j)`` receives ``dy[n, i, j, c] / counts[i, j]``;
    overlapping windows add up. Returns ``(N, Hp, Wp, C)``."""
    (ph, pw), (sh, sw) = pool_size, strides
    n, oh, ow, c = dy.shape
    share = dy / counts[None, :, :, None].astype(dy.dtype)  # (N, OH, OW, C)
    dxpad = np.zeros((n, padded_hw[0], padded_hw[1], c), dtype=dy.dtype)
    for a in range(ph):
        for b in range(pw):
            dxpad[:, _tap(a, sh, oh), _tap(b, sw, ow), :] += share
    return dxpad


# ------------------------------------------------------- fused: ReLU -> max-pool, the backward
# Not wired into the layers yet: Conv2D(activation="relu") and the MaxPooling2D after it are two
# layers, and the model does not hand the pair to one call. Kept beside its reference and tested.


def relu_maxpool2d_backward_bias_grad(dy, y, argmax, pool_size, strides, conv_out_hw):
    """Backward of ``y = maxpool2d(max(z, 0))`` (valid pooling, no padding) and the bias grad.

    The pooled value ``y`` is the ReLU output at the window's first maximum, so ``z > 0`` there
    exactly when ``y > 0``, and every other cell of the window gets no gradient::

        dz = maxpool2d_backward(dy * (y > 0), argmax, ...)   # (N, OH, OW, F), OH, OW = conv_out_hw
        db = dz.sum(axis=(0, 1, 2))                            # (F,)

    It equals the unfused ``relu_backward_bias_grad(maxpool2d_backward(dy, ...), a)`` with
    ``a = max(z, 0)`` (zeros may differ in sign: ``-0.0`` against ``0.0``), without reading ``a``.
    """
    dz = maxpool2d_backward(dy * (y > 0), argmax, pool_size, strides, conv_out_hw)
    return dz, dz.sum(axis=(0, 1, 2))
