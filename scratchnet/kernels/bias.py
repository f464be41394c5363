"""Bias kernels, NumPy reference: the bias gradient, and Conv2D's usual forward (conv + bias + ReLU)
as one call so that a fast backend can do it in one pass over memory."""

from __future__ import annotations

import numpy as np

from scratchnet.kernels.conv import conv2d_forward


def bias_grad(dz: np.ndarray) -> np.ndarray:
    """``dL/dbias[o] = sum of dz[..., o]`` over every axis but the last: ``(N, ..., F)`` -> ``(F,)``.

    The bias is added at every position of every sample, so its gradient collects them all.
    """
    return dz.sum(axis=tuple(range(dz.ndim - 1)))


def relu_backward_bias_grad(da: np.ndarray, z: np.ndarray):
    """ReLU's gradient and then the bias gradient: ``dz = da * (z > 0)`` and ``db = bias_grad(dz)``.

    Returns ``(dz, db)``, ``(N, ..., F)`` and ``(F,)``: Conv2D's usual backward start, as one call
    so that a fast backend can do it in one pass over memory.
    """
    dz = da * (z > 0)
    return dz, bias_grad(dz)


def conv2d_bias_relu_forward(xpad, kernel, bias, strides, dilation, out_hw):
    """``z = conv2d_forward(xpad, kernel, ...) + bias`` and ``a = max(z, 0)``, both ``(N, OH, OW, F)``.

    Returns ``(z, a)``: the layer keeps ``z`` for ReLU's gradient and passes ``a`` on.
    """
    z = conv2d_forward(xpad, kernel, strides, dilation, out_hw)
    z += bias  # in place: z is a fresh array
    return z, np.maximum(z, 0)


def conv2d_bias_relu(xpad, kernel, bias, strides, dilation, out_hw):
    """``a = max(conv2d_forward(xpad, kernel, ...) + bias, 0)``, ``(N, OH, OW, F)``: the output of
    :func:`conv2d_bias_relu_forward` without its ``z`` (Conv2D keeps only ``a``; ReLU's gradient
    reads ``a > 0``, which is ``z > 0``). The ReLU is written over ``z``: one array, not two.
    """
    z = conv2d_forward(xpad, kernel, strides, dilation, out_hw)
    z += bias  # in place: z is a fresh array
    return np.maximum(z, 0, out=z)  # the same values as conv2d_bias_relu_forward's a
