"""Global pooling: one number per channel from all the steps, pixels or voxels (channels-last;
the 1-D ones also take ``data_format="channels_first"``).

``GlobalAveragePooling3D``/``2D``/``1D`` and ``GlobalMaxPooling3D``/``2D``/``1D``, as in Keras 3.
``GlobalAveragePooling1D`` also takes a ``mask`` (from ``Embedding(mask_zero=True)``, see
``scratchnet.layers.masking``) and then averages over the real steps only. As in Keras 3.15, the
max poolings do not support masks: ``GlobalMaxPooling1D`` takes the maximum over every step,
padding included (the model warns that it drops the mask).
"""

from __future__ import annotations

import numpy as np

from scratchnet import kernels
from scratchnet.layers._args import channels_last, check_rank
from scratchnet.layers.base import Layer


class _GlobalPooling(Layer):
    """Keras' arguments and shapes; ``rank`` spatial axes (1: steps, 2: height and width)."""

    rank = 2

    def __init__(self, data_format: str | None = None, keepdims: bool = False,
                 name: str | None = None, **kwargs):
        super().__init__(name=name, **kwargs)
        if self.rank == 1 and data_format == "channels_first":
            # (N, C, L), pooled over its last axis: Keras' Transformer example for time series pools
            # (N, steps, features) this way, one number per step. The arrays are turned to
            # (N, L, C) for the channels-last code below, and the gradient turned back.
            self.data_format = "channels_first"
        else:
            self.data_format = channels_last(data_format, f"{type(self).__name__} {self.name!r}")
        if not isinstance(keepdims, bool | np.bool_):
            raise ValueError(f"{type(self).__name__} {self.name!r}: expected keepdims to be a bool, "
                             f"received {keepdims!r}")
        self.keepdims = bool(keepdims)
        self.axes = tuple(range(1, self.rank + 1))  # the spatial axes: (1,) or (1, 2)

    def build(self, input_shape, rng):
        if self.data_format == "channels_first":  # (C, L): a number per channel, kept as (C, 1)
            check_rank(self.name, input_shape, "(batch, channels, steps)")
            return (input_shape[0], 1) if self.keepdims else (input_shape[0],)
        if len(input_shape) != self.rank + 1:
            raise ValueError(
                f'Input 0 of layer "{self.name}" is incompatible with the layer: expected '
                f"ndim={self.rank + 2}, found ndim={len(input_shape) + 1}. "
                f"Full shape received: {(None,) + tuple(input_shape)}"
            )
        channels = input_shape[-1]
        return (1,) * self.rank + (channels,) if self.keepdims else (channels,)

    def steps_last(self, a):
        """``(N, C, L)`` -> ``(N, L, C)`` with ``data_format="channels_first"`` (and back: the
        swap is its own inverse); any array as it is otherwise."""
        return a.swapaxes(1, 2) if self.data_format == "channels_first" else a

    def kept(self, y):
        """``y`` with the spatial axes kept as 1s: ``(N, C)`` -> ``(N, 1, [1,] C)``."""
        return y.reshape((y.shape[0],) + (1,) * self.rank + (y.shape[-1],))

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format, "keepdims": self.keepdims}


class _GlobalAveragePooling(_GlobalPooling):
    def forward(self, x, training=False):
        x = self.steps_last(x)
        self.x_shape = x.shape
        y = x.mean(axis=self.axes, keepdims=self.keepdims)
        return self.steps_last(y) if self.keepdims else y  # keepdims, channels_first: (N, C, 1)

    def backward(self, dy):
        count = int(np.prod(self.x_shape[1:-1]))  # L, or H * W
        dy = self.kept(self.steps_last(dy) if self.keepdims else dy)
        return self.steps_last(np.broadcast_to(dy / count, self.x_shape).copy())  # (N, ..., C)


class _GlobalMaxPooling(_GlobalPooling):
    def forward(self, x, training=False):
        x = self.steps_last(x)
        y = x.max(axis=self.axes, keepdims=True)  # (N, 1, [1,] C)
        winners = (x == y).astype(x.dtype)  # 1 where a cell equals its channel's maximum
        self.share = winners / winners.sum(axis=self.axes, keepdims=True)  # ties split evenly
        return self.steps_last(y) if self.keepdims else y.reshape(y.shape[0], -1)

    def backward(self, dy):
        dy = self.kept(self.steps_last(dy) if self.keepdims else dy)
        return self.steps_last(self.share * dy)  # (N, ..., C)


class GlobalAveragePooling2D(_GlobalAveragePooling):
    """Mean over height and width, per channel: ``y[n, c] = sum_{i, j} x[n, i, j, c] / (H * W)``.

    Input ``(N, H, W, C)``; output ``(N, C)``, or ``(N, 1, 1, C)`` with ``keepdims=True``.
    Backward: every pixel receives ``dy[n, c] / (H * W)``.
    """


class GlobalAveragePooling1D(_GlobalAveragePooling):
    """Mean over the steps, per channel: ``y[n, c] = sum_i x[n, i, c] / L``.

    Input ``(N, L, C)``; output ``(N, C)``, or ``(N, 1, C)`` with ``keepdims=True``.
    Backward: every step receives ``dy[n, c] / L``.

    With a ``mask`` ``m`` of shape ``(N, L)`` (True for real steps), the mean is over the real
    steps only, as Keras computes it::

        y[n, c] = sum_i m[n, i] * x[n, i, c] / sum_i m[n, i]

    and a padded step receives no gradient: ``dx[n, i, c] = m[n, i] * dy[n, c] / sum_i m[n, i]``.
    A sample whose steps are all padding gives 0 / 0 = NaN, in Keras too. The output has no mask.
    """

    rank = 1
    supports_masking = True

    def forward(self, x, training=False, mask=None):
        self.mask = None
        if mask is None:
            return super().forward(x, training)
        if self.data_format == "channels_first":
            raise ValueError(f'GlobalAveragePooling1D "{self.name}": a padding mask with '
                             'data_format="channels_first" is not supported')
        self.x_shape = x.shape
        m = kernels.xp_of(x).asarray(mask, dtype=bool)  # on the GPU too, where x is
        if m.shape != x.shape[:2]:
            raise ValueError(f'GlobalAveragePooling1D "{self.name}": expected a mask of shape '
                             f"{x.shape[:2]} (batch, steps), received {m.shape}")
        self.mask = m[:, :, None].astype(x.dtype)  # (N, L, 1): 1 real step, 0 padding
        self.count = self.mask.sum(axis=1)  # (N, 1): real steps per sample
        with np.errstate(invalid="ignore", divide="ignore"):  # all padding: 0 / 0 = NaN, as Keras
            y = (x * self.mask).sum(axis=1) / self.count  # (N, C)
        return self.kept(y) if self.keepdims else y

    def backward(self, dy):
        if self.mask is None:
            return super().backward(dy)
        dy = dy.reshape(dy.shape[0], -1)  # (N, C), also from keepdims' (N, 1, C)
        with np.errstate(invalid="ignore", divide="ignore"):
            share = (dy / self.count)[:, None, :]  # (N, 1, C)
        return kernels.xp_of(dy).where(self.mask > 0, share, 0).astype(dy.dtype)  # (N, L, C)

    def compute_mask(self, x, mask=None):
        return None  # the steps are gone: nothing left to mask


class GlobalMaxPooling2D(_GlobalMaxPooling):
    """Largest value over height and width, per channel: ``y[n, c] = max_{i, j} x[n, i, j, c]``.

    Input ``(N, H, W, C)``; output ``(N, C)``, or ``(N, 1, 1, C)`` with ``keepdims=True``.
    Backward, as TensorFlow's ``reduce_max`` gradient: ``dy[n, c]`` is split *evenly* among the
    ``k`` cells that equal the maximum, ``dy / k`` each (unlike MaxPooling2D, whose window gives
    it all to the first maximum).
    """


class GlobalMaxPooling1D(_GlobalMaxPooling):
    """Largest value over the steps, per channel: ``y[n, c] = max_i x[n, i, c]``.

    Input ``(N, L, C)``; output ``(N, C)``, or ``(N, 1, C)`` with ``keepdims=True``.
    Backward, as TensorFlow's ``reduce_max`` gradient: ``dy[n, c]`` is split evenly among the
    steps that equal the maximum.
    """

    rank = 1


class GlobalAveragePooling3D(_GlobalAveragePooling):
    """Mean over depth, height and width, per channel (alias ``GlobalAvgPool3D``):
    ``y[n, c] = sum_{i, j, k} x[n, i, j, k, c] / (D * H * W)``.

    Input ``(N, D, H, W, C)``; output ``(N, C)``, or ``(N, 1, 1, 1, C)`` with ``keepdims=True``.
    Backward: every cell receives ``dy[n, c] / (D * H * W)``.
    """

    rank = 3


class GlobalMaxPooling3D(_GlobalMaxPooling):
    """Largest value over depth, height and width, per channel (alias ``GlobalMaxPool3D``):
    ``y[n, c] = max_{i, j, k} x[n, i, j, k, c]``.

    Input ``(N, D, H, W, C)``; output ``(N, C)``, or ``(N, 1, 1, 1, C)`` with ``keepdims=True``.
    Backward, as TensorFlow's ``reduce_max`` gradient: ``dy[n, c]`` is split evenly among the cells
    that equal the maximum.
    """

    rank = 3
