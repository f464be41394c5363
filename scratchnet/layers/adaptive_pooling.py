"""Adaptive pooling (Keras 3.15's AdaptiveAveragePooling1D/2D/3D, AdaptiveMaxPooling1D/2D/3D):
pool to a given output size, whatever the input's, the windows sized and placed to cover it.

Along an axis of length ``L`` pooled to ``n`` cells, cell ``i`` covers the input positions

    start_i = floor(i * L / n)      end_i = ceil((i + 1) * L / n)      (end exclusive)

so neighbouring windows may share a position and each holds ``ceil(L / n)`` or one more
(PyTorch's rule, and Keras', which builds it from two pools of those two sizes and a gather).
``n > L`` repeats positions. An image is pooled one axis after the other, rows first, as Keras
does: a window's maximum, or its mean, over a rectangle is the same taken axis by axis.

Backward, along one axis: the average sends ``dy_i / (end_i - start_i)`` to each position of
window ``i``; the maximum sends ``dy_i`` to the position that held the maximum (the first of
equal ones). Positions in two windows add both shares.
"""

from __future__ import annotations

import numbers

import numpy as np

from scratchnet import kernels
from scratchnet.layers._args import channels_last, check_rank, positive_int
from scratchnet.layers.base import Layer


def adaptive_windows(length: int, n: int) -> list[tuple[int, int]]:
    """``(start, end)`` of each of the ``n`` windows over ``length`` positions (end exclusive)."""
    return [(i * length // n, -(-(i + 1) * length // n)) for i in range(n)]


class _AdaptivePooling(Layer):
    """Shared by the six layers: ``output_size`` per spatial axis, channels last."""

    rank = 2
    mode = "average"  # or "max"
    axes_text = "(batch, height, width, channels)"

    def __init__(self, output_size, data_format: str | None = None, name: str | None = None, **kwargs):
        super().__init__(name=name, **kwargs)
        where = f"{type(self).__name__} {self.name!r}"
        size = (output_size,) * self.rank if isinstance(output_size, numbers.Integral) \
            and not isinstance(output_size, bool) else output_size
        if not isinstance(size, tuple | list) or len(size) != self.rank:
            raise TypeError(f"{where}: expected output_size to be an int or a tuple of {self.rank} "
                            f"ints, received output_size={output_size!r}")
        self.output_size = tuple(positive_int(s, "output_size", where) for s in size)
        self.data_format = channels_last(data_format, where)
        self.windows: list[list[tuple[int, int]]] = []

    def build(self, input_shape, rng):
        check_rank(self.name, input_shape, self.axes_text)
        spatial = tuple(input_shape[:-1])
        if None in spatial:
            raise ValueError(f'Layer "{self.name}" ({type(self).__name__}): input spatial dimensions '
                             f"must be statically known for adaptive pooling (as in Keras); received "
                             f"input shape {(None, *input_shape)}")
        self.windows = [adaptive_windows(length, n) for length, n in zip(spatial, self.output_size,
                                                                         strict=True)]
        return (*self.output_size, input_shape[-1])

    def forward(self, x, training=False):
        self.steps = []  # each axis' input, for backward
        for axis, windows in enumerate(self.windows, start=1):
            self.steps.append(x)
            x = np.stack([self._pool(np.take(x, range(start, end), axis=axis), axis)
                          for start, end in windows], axis=axis)
        return x

    def _pool(self, window, axis):
        return window.mean(axis=axis) if self.mode == "average" else window.max(axis=axis)

    def backward(self, dy):
        for axis in range(len(self.windows), 0, -1):  # the last axis pooled first back
            x = self.steps[axis - 1]
            dx = np.zeros_like(x)
            for i, (start, end) in enumerate(self.windows[axis - 1]):
                d = np.take(dy, [i], axis=axis)  # keeps the axis, to broadcast over the window
                where = [slice(None)] * x.ndim
                where[axis] = slice(start, end)
                if self.mode == "average":
                    dx[tuple(where)] += d / (end - start)
                else:
                    window = x[tuple(where)]
                    first = np.argmax(window, axis=axis, keepdims=True)
                    one_hot = kernels.xp_of(x).arange(end - start).reshape(
                        [-1 if a == axis else 1 for a in range(x.ndim)]) == first
                    dx[tuple(where)] += np.where(one_hot, d, 0)
            dy = dx
        return dy

    def get_config(self):
        return {**super().get_config(), "output_size": tuple(self.output_size),
                "data_format": self.data_format}


class AdaptiveAveragePooling1D(_AdaptivePooling):
    """``keras.layers.AdaptiveAveragePooling1D(output_size)``: ``(N, L, C)`` to
    ``(N, output_size, C)``, each cell the mean of its window (see the module docstring)."""

    rank, mode, axes_text = 1, "average", "(batch, steps, channels)"


class AdaptiveMaxPooling1D(_AdaptivePooling):
    """``keras.layers.AdaptiveMaxPooling1D(output_size)``: ``(N, L, C)`` to
    ``(N, output_size, C)``, each cell the maximum of its window."""

    rank, mode, axes_text = 1, "max", "(batch, steps, channels)"


class AdaptiveAveragePooling2D(_AdaptivePooling):
    """``keras.layers.AdaptiveAveragePooling2D(output_size)``: ``(N, H, W, C)`` to
    ``(N, oh, ow, C)`` (an int ``output_size`` for both), each cell the mean of its window."""

    rank, mode, axes_text = 2, "average", "(batch, height, width, channels)"


class AdaptiveMaxPooling2D(_AdaptivePooling):
    """``keras.layers.AdaptiveMaxPooling2D(output_size)``: ``(N, H, W, C)`` to ``(N, oh, ow, C)``,
    each cell the maximum of its window."""

    rank, mode, axes_text = 2, "max", "(batch, height, width, channels)"


class AdaptiveAveragePooling3D(_AdaptivePooling):
    """``keras.layers.AdaptiveAveragePooling3D(output_size)``: ``(N, D, H, W, C)`` to
    ``(N, od, oh, ow, C)``, each cell the mean of its window."""

    rank, mode, axes_text = 3, "average", "(batch, depth, height, width, channels)"


class AdaptiveMaxPooling3D(_AdaptivePooling):
    """``keras.layers.AdaptiveMaxPooling3D(output_size)``: ``(N, D, H, W, C)`` to
    ``(N, od, oh, ow, C)``, each cell the maximum of its window."""

    rank, mode, axes_text = 3, "max", "(batch, depth, height, width, channels)"
