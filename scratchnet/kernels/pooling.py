"""Max-pooling kernels, NumPy reference.

Forward: each output cell is the largest value in its window (NaN never wins). Padded cells
hold ``-inf`` so they are never chosen. Backward, as TensorFlow's CPU kernel does it: the whole
gradient of a window goes to the *first* maximum in row-major order (top-most, then left-most);
overlapping windows add up.
"""

from __future__ import annotations

import numpy as np

from scratchnet.kernels.conv import _tap


def maxpool2d_forward(xpad, pool_size, strides, out_hw):
    """``(N, Hp, Wp, C)`` -> ``y (N, OH, OW, C)`` and ``argmax (N, OH, OW, C)``.

    ``argmax`` holds ``a * PW + b``, the window offset of the first maximum.
    """
    (ph, pw), (sh, sw), (oh, ow) = pool_size, strides, out_hw
    # windows[k]: the cell at offset (a, b) of every window, k = a * PW + b (row-major)
    windows = [xpad[:, _tap(a, sh, oh), _tap(b, sw, ow), :] for a in range(ph) for b in range(pw)]
    y = np.full((xpad.shape[0], oh, ow, xpad.shape[3]), -np.inf, dtype=xpad.dtype)
    for cells in windows:
        np.fmax(y, cells, out=y)  # the largest value; fmax skips NaN, so NaN never wins
    # The first offset that holds the maximum. A window with nothing above -inf (padding, NaN)
    # keeps offset 0. (The same as keeping the first strictly larger value while scanning.)
    argmax = np.zeros(y.shape, dtype=np.int32)
    found = y == -np.inf
    for k, cells in enumerate(windows):
        first = (cells == y) & ~found
        argmax += first * np.int32(k)
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
