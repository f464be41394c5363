"""Max- and average-pooling kernels, NumPy reference.

Max pooling forward: each output cell is the largest value in its window (NaN never wins).
Padded cells hold ``-inf`` so they are never chosen. Backward, as TensorFlow's CPU kernel does it:
the whole gradient of a window goes to the *first* maximum in row-major order (top-most, then
left-most); overlapping windows add up.

Average pooling: the mean of the real cells of each window (padded cells are neither summed nor
counted, as TensorFlow's ``avg_pool``); backward shares ``dy`` equally among those cells.
"""

from __future__ import annotations

import numpy as np

from scratchnet.kernels.conv import _tap


def argmax_dtype(pool_size) -> np.dtype:
    """The integer type of max-pooling's ``argmax``: int8 when every window offset fits (windows
    of up to 127 cells, 2x2 and 3x3 included), else int32. One byte a cell instead of four: the
    ``argmax`` of the talk's first pooling layer at batch 256 is 90 MB instead of 359 MB."""
    ph, pw = pool_size
    return np.dtype(np.int8) if ph * pw <= 127 else np.dtype(np.int32)


def _windows(xpad, pool_size, strides, out_hw) -> list:
    """``windows[k]``: the cell at offset ``(a, b)`` of every window, ``k = a * PW + b`` (row-major),
    each a strided ``(N, OH, OW, C)`` view of ``xpad``."""
    (ph, pw), (sh, sw), (oh, ow) = pool_size, strides, out_hw
    return [xpad[:, _tap(a, sh, oh), _tap(b, sw, ow), :] for a in range(ph) for b in range(pw)]


def maxpool2d_values(xpad, pool_size, strides, out_hw):
    """``y (N, OH, OW, C)`` of :func:`maxpool2d_forward` alone, for inference (nothing is kept
    for a backward pass, so no ``argmax``)."""
    windows = _windows(xpad, pool_size, strides, out_hw)
    y = np.full(windows[0].shape, -np.inf, dtype=xpad.dtype)
    for cells in windows:
        np.fmax(y, cells, out=y)  # the largest value; fmax skips NaN, so NaN never wins
    return y


def maxpool2d_forward(xpad, pool_size, strides, out_hw):
    """``(N, Hp, Wp, C)`` -> ``y (N, OH, OW, C)`` and ``argmax (N, OH, OW, C)``.

    ``argmax`` holds ``a * PW + b``, the window offset of the first maximum
    (type :func:`argmax_dtype`).
    """
    windows = _windows(xpad, pool_size, strides, out_hw)
    y = maxpool2d_values(xpad, pool_size, strides, out_hw)
    # The first offset that holds the maximum. A window with nothing above -inf (padding, NaN)
    # keeps offset 0. (The same as keeping the first strictly larger value while scanning.)
    dtype = argmax_dtype(pool_size)
    argmax = np.zeros(y.shape, dtype=dtype)
    found = y == -np.inf
    for k, cells in enumerate(windows):
        first = (cells == y) & ~found
        argmax += first * dtype.type(k)
        found |= first
    return y, argmax


def maxpool2d_backward(dy, argmax, pool_size, strides, padded_hw):
    """Route ``dy (N, OH, OW, C)`` to the winning cell of each window -> ``dxpad (N, Hp, Wp, C)``."""
    (ph, pw), (sh, sw) = pool_size, strides
    n, oh, ow, c = dy.shape
    dxpad = np.zeros((n, padded_hw[0], padded_hw[1], c), dtype=dy.dtype)
    for a in range(ph):
        for b in range(pw):
            won = argmax == a * pw + b  # (N, OH, OW, C)
            dxpad[:, _tap(a, sh, oh), _tap(b, sw, ow), :] += np.where(won, dy, 0)
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
