"""Max-pooling kernels, NumPy reference.

Forward: each output cell is the largest value in its window. Padded cells hold ``-inf`` so they
are never chosen. Backward, as TensorFlow's CPU kernel does it: the whole gradient of a window goes
to the *first* maximum in row-major order (top-most, then left-most); overlapping windows add up.
"""

from __future__ import annotations

import numpy as np

from scratchnet.kernels.conv import _tap


def maxpool2d_forward(xpad, pool_size, strides, out_hw):
    """``(N, Hp, Wp, C)`` -> ``y (N, OH, OW, C)`` and ``argmax (N, OH, OW, C)``.

    ``argmax`` holds ``a * PW + b``, the window offset of the first maximum.
    """
    (ph, pw), (sh, sw), (oh, ow) = pool_size, strides, out_hw
    y = np.full((xpad.shape[0], oh, ow, xpad.shape[3]), -np.inf, dtype=xpad.dtype)
    argmax = np.zeros(y.shape, dtype=np.int32)
    for a in range(ph):
        for b in range(pw):
            candidate = xpad[:, _tap(a, sh, oh), _tap(b, sw, ow), :]  # (N, OH, OW, C)
            better = candidate > y  # strict: an equal later value does not win
            y = np.where(better, candidate, y)
            argmax[better] = a * pw + b
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
