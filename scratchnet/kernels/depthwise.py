"""Depthwise convolution, NumPy reference (DepthwiseConv1D/2D, and the first half of
SeparableConv1D/2D).

Each input channel ``c`` is correlated with its own ``depth_multiplier`` kernels ``K[:, :, c, m]``;
channels never mix. On channels-last data, with ``xpad`` the padded input::

    y[n, i, j, c, m] = sum_{a, b} xpad[n, i*sh + a*dh, j*sw + b*dw, c] * K[a, b, c, m]

``K`` is ``(KH, KW, C, M)`` (Keras' layout) and ``y`` is ``(N, OH, OW, C, M)``; the layer reshapes it
to ``(N, OH, OW, C*M)``, so channel ``c`` and multiplier ``m`` land on output channel ``c*M + m``
(TensorFlow's ``depthwise_conv2d`` order).

Each function is one loop over the ``KH*KW`` kernel taps, a NumPy broadcast per tap: the tap's view
of the input is ``xpad[:, a*dh :: sh, b*dw :: sw, :]`` cut to ``(N, OH, OW, C)``. No im2col matrix,
so no memory beyond the output. The taps add up in row-major order (``a``, then ``b``), each
product rounded before its addition, as TensorFlow's CPU kernel adds them: on 8 images of
28x28x32, 3x3 and 5x5 kernels, the float32 outputs came out bit for bit equal to Keras'.

There is no Numba twin: the ``numba`` backend runs these same NumPy functions (a per-channel
product is one multiply-add per tap, far less work than Conv2D's). The array module is the
input's (:func:`scratchnet.kernels.xp_of`), so the code is not tied to NumPy arrays.
"""

from __future__ import annotations

from scratchnet import kernels


def _tap(start: int, step: int, count: int) -> slice:
    """Rows (or columns) ``start, start + step, ...`` that one kernel tap sees, ``count`` of them."""
    return slice(start, start + (count - 1) * step + 1, step)


def depthwise_forward(xpad, kernel, strides, dilation, out_hw):
    """``y[n, i, j, c, m] = sum_{a, b} xpad[n, i*sh + a*dh, j*sw + b*dw, c] * kernel[a, b, c, m]``:
    ``(N, Hp, Wp, C)`` and ``(KH, KW, C, M)`` -> ``(N, OH, OW, C, M)``."""
    xp = kernels.xp_of(xpad)
    kh, kw, c, m = kernel.shape
    (sh, sw), (dh, dw), (oh, ow) = strides, dilation, out_hw
    y = xp.zeros((xpad.shape[0], oh, ow, c, m), dtype=xpad.dtype)  # (N, OH, OW, C, M)
    for a in range(kh):
        for b in range(kw):
            x_ab = xpad[:, _tap(a * dh, sh, oh), _tap(b * dw, sw, ow), :]  # (N, OH, OW, C)
            y += x_ab[..., None] * kernel[a, b]  # (N, OH, OW, C, 1) * (C, M)
    return y


def depthwise_backward_kernel(xpad, dy, kernel_hw, strides, dilation):
    """``dL/dK[a, b, c, m] = sum_{n, i, j} xpad[n, i*sh + a*dh, j*sw + b*dw, c] * dy[n, i, j, c, m]``:
    ``(N, Hp, Wp, C)`` and ``(N, OH, OW, C, M)`` -> ``(KH, KW, C, M)``."""
    xp = kernels.xp_of(xpad)
    kh, kw = kernel_hw
    n, oh, ow, c, m = dy.shape
    (sh, sw), (dh, dw) = strides, dilation
    dkernel = xp.empty((kh, kw, c, m), dtype=dy.dtype)
    for a in range(kh):
        for b in range(kw):
            x_ab = xpad[:, _tap(a * dh, sh, oh), _tap(b * dw, sw, ow), :]  # (N, OH, OW, C)
            dkernel[a, b] = xp.einsum("nijc,nijcm->cm", x_ab, dy)
    return dkernel


def depthwise_backward_input(dy, kernel, strides, dilation, padded_hw):
    """``dL/dxpad``: each tap sends ``sum_m dy[n, i, j, c, m] * K[a, b, c, m]`` back to the input
    cell ``(i*sh + a*dh, j*sw + b*dw)`` it read, overlapping taps adding up:
    ``(N, OH, OW, C, M)`` and ``(KH, KW, C, M)`` -> ``(N, Hp, Wp, C)``."""
    xp = kernels.xp_of(dy)
    kh, kw, c, _ = kernel.shape
    n, oh, ow = dy.shape[:3]
    (sh, sw), (dh, dw) = strides, dilation
    dxpad = xp.zeros((n, *padded_hw, c), dtype=dy.dtype)  # (N, Hp, Wp, C)
    for a in range(kh):
        for b in range(kw):
            dxpad[:, _tap(a * dh, sh, oh), _tap(b * dw, sw, ow), :] += xp.einsum(
                "nijcm,cm->nijc", dy, kernel[a, b])
    return dxpad
