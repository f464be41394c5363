"""Direct convolution, NumPy reference: the convolution as a sum over the kernel's taps, with no
im2col matrix.

The same cross-correlation as :mod:`scratchnet.kernels.conv` (channels last, no kernel flip)::

    y[n, i, j, o] = sum_{a, b, c} xpad[n, i*sh + a*dh, j*sw + b*dw, c] * K[a, b, c, o]

Read it one tap ``(a, b)`` at a time: the input cells that tap sees, for every output pixel, are
one strided slice of ``xpad``, ``X_ab = xpad[:, a*dh :: sh, b*dw :: sw, :]`` cut to ``(N, OH, OW, C)``,
and the tap adds ``X_ab @ K[a, b]`` (``(C, F)``) to every output pixel. So the forward pass and
its two gradients are ``KH*KW`` small matrix products each::

    y          = sum_{a, b} X_ab @ K[a, b]                  (N, OH, OW, F)
    dL/dK[a, b] = X_ab^T dy   (summed over n, i, j)         (C, F)
    dL/dX_ab  += dy @ K[a, b]^T                             (N, OH, OW, C), added into xpad's cells

im2col builds one ``(N*OH*OW, KH*KW*C)`` matrix from the same slices and does one product; here
each slice is used where it lies. The Numba twins (``numba_kernels.direct_*``) compute these sums
with loops over output pixels, with the filter and channel loops as compile-time constants
(the "direct" convolution of CPU libraries); this module is what they are tested against, and
what a learner steps into. The NumPy backend runs im2col (:func:`scratchnet.kernels.conv2d_algorithm`).
"""

from __future__ import annotations

import numpy as np

from scratchnet.kernels import pooling
from scratchnet.kernels.conv import _tap


def _taps(kernel_hw, strides, dilation, out_hw):
    """``(a, b, rows, columns)`` for each tap: the slices of ``xpad`` that tap ``(a, b)`` reads."""
    (kh, kw), (sh, sw), (dh, dw), (oh, ow) = kernel_hw, strides, dilation, out_hw
    for a in range(kh):
        for b in range(kw):
            yield a, b, _tap(a * dh, sh, oh), _tap(b * dw, sw, ow)


def conv2d_forward(xpad, kernel, strides, dilation, out_hw):
    """``y = sum_{a, b} X_ab @ K[a, b]``: ``(N, Hp, Wp, C)`` padded input, ``(KH, KW, C, F)``
    kernel -> ``(N, OH, OW, F)`` (no bias)."""
    kh, kw, _, f = kernel.shape
    n = xpad.shape[0]
    y = np.zeros((n, out_hw[0], out_hw[1], f), dtype=np.result_type(xpad, kernel))  # (N, OH, OW, F)
    for a, b, rows, cols in _taps((kh, kw), strides, dilation, out_hw):
        y += xpad[:, rows, cols, :] @ kernel[a, b]  # (N, OH, OW, C) @ (C, F)
    return y


def conv2d_backward_kernel(xpad, dy, kernel_hw, strides, dilation):
    """``dL/dK[a, b] = X_ab^T dy``, i.e. ``dL/dK[a, b, c, o] = sum_{n, i, j} xpad[n, i*sh + a*dh,
    j*sw + b*dw, c] * dy[n, i, j, o]``: ``(KH, KW, C, F)``."""
    n, oh, ow, f = dy.shape
    c = xpad.shape[3]
    dk = np.empty((kernel_hw[0], kernel_hw[1], c, f), dtype=np.result_type(xpad, dy))  # (KH, KW, C, F)
    dy2d = dy.reshape(n * oh * ow, f)  # (N*OH*OW, F)
    for a, b, rows, cols in _taps(kernel_hw, strides, dilation, (oh, ow)):
        x_ab = xpad[:, rows, cols, :].reshape(n * oh * ow, c)  # (N*OH*OW, C)
        dk[a, b] = x_ab.T @ dy2d
    return dk


def conv2d_backward_input(dy, kernel, strides, dilation, padded_hw):
    """``dL/dxpad``: tap ``(a, b)`` sends ``dy @ K[a, b]^T`` back to the cells ``X_ab`` it read
    (cells read by several taps add up): ``(N, Hp, Wp, C)``."""
    n, oh, ow, _ = dy.shape
    kh, kw, c, _ = kernel.shape
    dxpad = np.zeros((n, padded_hw[0], padded_hw[1], c), dtype=np.result_type(dy, kernel))  # (N, Hp, Wp, C)
    for a, b, rows, cols in _taps((kh, kw), strides, dilation, (oh, ow)):
        dxpad[:, rows, cols, :] += dy @ kernel[a, b].T  # (N, OH, OW, F) @ (F, C)
    return dxpad


def conv2d_bias_relu_forward(xpad, kernel, bias, strides, dilation, out_hw):
    """``z = conv2d_forward(xpad, kernel, ...) + bias`` and ``a = max(z, 0)``, both ``(N, OH, OW, F)``.

    Returns ``(z, a)``: the layer keeps ``z`` for ReLU's gradient and passes ``a`` on.
    """
    z = conv2d_forward(xpad, kernel, strides, dilation, out_hw)
    z += bias  # in place: z is a fresh array
    return z, np.maximum(z, 0)


def conv2d_bias_relu(xpad, kernel, bias, strides, dilation, out_hw):
    """``a = max(conv2d_forward(xpad, kernel, ...) + bias, 0)``, ``(N, OH, OW, F)``: the ``a`` of
    :func:`conv2d_bias_relu_forward`, written over ``z`` (one array, not two)."""
    z = conv2d_forward(xpad, kernel, strides, dilation, out_hw)
    z += bias
    return np.maximum(z, 0, out=z)


def conv2d_bias_relu_maxpool2x2(xpad, kernel, bias, strides, dilation, out_hw, pool_out_hw, with_argmax):
    """Conv2D(relu) then MaxPooling2D((2, 2)): ``y = maxpool2d(conv2d_bias_relu(...))``, 2x2 windows
    with stride 2, and (``with_argmax``) each window's ``argmax``; ``(y, argmax)``, both
    ``(N, PH, PW, F)``, ``argmax`` None otherwise. Here the two steps one after the other; the Numba
    twin pools each pair of output rows as it computes them, never storing the activation."""
    a = conv2d_bias_relu(xpad, kernel, bias, strides, dilation, out_hw)  # (N, OH, OW, F)
    if with_argmax:
        return pooling.maxpool2d_forward(a, (2, 2), (2, 2), pool_out_hw)
    return pooling.maxpool2d_values(a, (2, 2), (2, 2), pool_out_hw), None


def conv2d_backward_kernel_relu_maxpool2x2(xpad, dy, y, argmax, kernel_hw, strides, dilation, conv_out_hw):
    """``(dL/dK, dL/dbias)`` of Conv2D(relu) -> MaxPooling2D((2, 2)) when no dL/dx is needed (a
    model's first layer), from the pooled ``dy``, ``y`` and ``argmax`` of
    :func:`conv2d_bias_relu_maxpool2x2`: ``dz`` of the pooling and the ReLU, then the kernel
    gradient. Here the two steps one after the other; the Numba twin makes each value of ``dz``
    where its kernel-gradient loops need it, never storing ``dz``."""
    dz, db = pooling.relu_maxpool2d_backward_bias_grad(dy, y, argmax, (2, 2), (2, 2), conv_out_hw)
    return conv2d_backward_kernel(xpad, dz, kernel_hw, strides, dilation), db


def conv2d_backward_relu_maxpool2x2(xpad, dy, y, argmax, kernel, strides, dilation, conv_out_hw):
    """``(dL/dK, dL/dbias, dL/dxpad)`` of Conv2D(relu) -> MaxPooling2D((2, 2)) inside a model, from
    the pooled ``dy``, ``y`` and ``argmax`` of :func:`conv2d_bias_relu_maxpool2x2`: ``dz`` of the
    pooling and the ReLU, then the kernel gradient and the input gradient from it. Here the three
    steps one after the other.

    The Numba twin computes dL/dx as a forward pass: for a 3x3 kernel with stride 1, input cell
    ``(p, q)`` of ``xpad`` was read by output ``(p - a, q - b)`` through tap ``(a, b)``, so with
    ``dz`` surrounded by 2 zeros (``dzpad``) and the kernel turned 180 degrees::

        dL/dxpad[n, p, q, c] = sum_{a, b, o} dzpad[n, p + a, q + b, o] * K[2 - a, 2 - b, c, o]

    a convolution of ``dzpad`` whose filters are the layer's input channels. Its pooling backward
    writes ``dz`` inside that border, so the padding costs no copy."""
    dz, db = pooling.relu_maxpool2d_backward_bias_grad(dy, y, argmax, (2, 2), (2, 2), conv_out_hw)
    dk = conv2d_backward_kernel(xpad, dz, kernel.shape[:2], strides, dilation)
    return dk, db, conv2d_backward_input(dz, kernel, strides, dilation, xpad.shape[1:3])


def conv2d_backward_relu_maxpool2x2_from_winners(xpad, dy, y, argmax, kernel, strides, dilation, conv_out_hw):
    """The three gradients of :func:`conv2d_backward_relu_maxpool2x2` (3x3 kernel, stride 1), read
    from the windows' winning cells instead of the whole ``dz``.

    The pooling's backward gives each 2x2 window's gradient ``g = dy * (y > 0)`` to one cell, its
    winner ``(wa, wb)`` (``argmax = 2*wa + wb``), and zeros to the other three. Window ``(i, j)``'s
    winner is output cell ``(2i + wa, 2j + wb)``, and tap ``(a, b)`` read it from input cell
    ``(2i + wa + a, 2j + wb + b)``: for each winner place, those cells of all windows are one
    stride-2 slice of ``xpad``, ``X = xpad[:, wa + a :: 2, wb + b :: 2, :]`` cut to ``(N, PH, PW, C)``,
    and with ``g_w = g * (argmax == 2*wa + wb)`` (the windows that place won)::

        dL/dK[a, b]  += X^T g_w                     (C, F), summed over n, i, j
        dL/dX        += g_w @ K[a, b]^T             (N, PH, PW, C), added into those cells of xpad
        dL/dbias      = sum of g over n, i, j       (F,)

    Here the masks multiply by the zeros, so this does as many multiply-adds as the dense form;
    the Numba twin (``numba_kernels._direct_backward_from_winners``, 16k input channels) visits each
    window's winner only, a quarter of them. Same sums as :func:`conv2d_backward_relu_maxpool2x2`,
    another order. Returns ``(dL/dK (3, 3, C, F), dL/dbias (F,), dL/dxpad (N, Hp, Wp, C))``."""
    ph, pw = y.shape[1:3]
    g = np.where(y > 0, dy, 0).astype(dy.dtype)  # (N, PH, PW, F): each window's gradient
    dk = np.zeros(kernel.shape, dtype=np.result_type(xpad, dy))  # (3, 3, C, F)
    dxpad = np.zeros(xpad.shape, dtype=np.result_type(dy, kernel))  # (N, Hp, Wp, C)
    for wa in range(2):
        for wb in range(2):
            g_w = g * (argmax == 2 * wa + wb)  # (N, PH, PW, F): the windows whose winner is here
            for a in range(3):
                for b in range(3):
                    rows, cols = _tap(wa + a, 2, ph), _tap(wb + b, 2, pw)
                    x_ab = xpad[:, rows, cols, :]  # (N, PH, PW, C)
                    dk[a, b] += np.einsum("nijc,nijo->co", x_ab, g_w)
                    dxpad[:, rows, cols, :] += g_w @ kernel[a, b].T  # (N, PH, PW, F) @ (F, C)
    return dk, g.sum(axis=(0, 1, 2)), dxpad
