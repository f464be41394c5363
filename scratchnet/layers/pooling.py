"""Windowed pooling, channels-last: MaxPooling1D/2D/3D and AveragePooling1D/2D/3D.

A 1-D layer reads its ``(N, L, C)`` input as the one-row image ``(N, 1, L, C)`` with a ``(1, p)``
window, so the same 2-D kernels (:mod:`scratchnet.kernels.pooling`) serve both. The 3-D layers
sum or compare one strided slice per window offset (:mod:`scratchnet.kernels.volume`).
"""

from __future__ import annotations

import numpy as np

from scratchnet import kernels
from scratchnet.kernels import pooling as pool_kernels
from scratchnet.kernels import volume
from scratchnet.layers._args import (
    channels_last,
    check_rank,
    int_tuple,
    output_size_and_pads,
    padding_mode,
)
from scratchnet.layers.base import Layer


class _Pooling(Layer):
    """What the windowed pooling layers share: Keras' arguments, the size rules, 1-D as 2-D.

    ``rank`` is the number of spatial axes (1 or 2). Subclasses implement ``pool_forward(x4)`` and
    ``pool_backward(dy4)`` on 4-D ``(N, H, W, C)`` arrays with ``self.window``/``self.steps``,
    ``self.pads`` and ``self.out_hw`` set by :meth:`build`.
    """

    rank = 2
    in_hw: tuple[int, int] | None = None  # the (H, W) that pads and out_hw were planned for
    out_hw: tuple[int, int] | None = None

    def __init__(self, pool_size, strides, padding, data_format, name, **kwargs):
        super().__init__(name=name, **kwargs)
        where = f"{type(self).__name__} {self.name!r}"
        self.pool_size = int_tuple(pool_size, self.rank, "pool_size", where)
        self.strides = self.pool_size if strides is None else \
            int_tuple(strides, self.rank, "strides", where)
        self.padding = padding_mode(padding, where)
        self.data_format = channels_last(data_format, where)
        # The 2-D window and steps the kernels use: (1, p) and (1, s) for a 1-D layer.
        self.window = (1,) * (2 - self.rank) + self.pool_size
        self.steps = (1,) * (2 - self.rank) + self.strides

    def build(self, input_shape, rng):
        if len(input_shape) != self.rank + 1:
            axes = "(batch, height, width, channels)" if self.rank == 2 else "(batch, steps, channels)"
            raise ValueError(
                f'Input 0 of layer "{self.name}" is incompatible with the layer: expected '
                f"ndim={self.rank + 2} {axes}, found ndim={len(input_shape) + 1}. "
                f"Full shape received: {(None,) + tuple(input_shape)}"
            )
        *spatial, c = input_shape
        if None in spatial:  # a length that varies (Input((None, 8))): planned batch by batch
            return (*self._output_sizes(spatial), c)
        self._plan(spatial)
        return (*self.out_hw[2 - self.rank:], c)

    def _output_sizes(self, spatial) -> list:
        """The output's spatial sizes for inputs of ``spatial`` sizes (None stays None)."""
        window, steps = self.window[2 - self.rank:], self.steps[2 - self.rank:]
        return [None if n is None else output_size_and_pads(n, p, s, 1, self.padding)[0]
                for n, p, s in zip(spatial, window, steps, strict=True)]

    def _plan(self, spatial) -> None:
        """Set ``self.pads`` and ``self.out_hw`` for inputs of ``spatial`` sizes ((H, W) or (L,))."""
        h, w = (1,) * (2 - self.rank) + tuple(int(n) for n in spatial)  # a 1-D input is one row
        self.in_hw = (h, w)
        (ph, pw), (sh, sw) = self.window, self.steps
        oh, top, bottom = output_size_and_pads(h, ph, sh, 1, self.padding)
        ow, left, right = output_size_and_pads(w, pw, sw, 1, self.padding)
        if oh <= 0 or ow <= 0:
            raise ValueError(
                f'Layer "{self.name}": pool_size {self.pool_size} does not fit the input of '
                f"spatial shape {tuple(spatial)} with padding='valid'; the output would "
                f"be {(oh, ow)[2 - self.rank:]}"
            )
        self.pads = ((top, bottom), (left, right))
        self.out_hw = (oh, ow)

    def forward(self, x, training=False):
        if None in self.input_shape[:-1]:  # sizes known only now: this batch's plan
            self._plan(x.shape[1:-1])
        x4 = x if self.rank == 2 else x[:, None]  # (N, L, C) -> (N, 1, L, C)
        y4 = self.pool_forward(x4)  # (N, OH, OW, C)
        return y4 if self.rank == 2 else y4[:, 0]  # (N, OL, C) for 1-D

    def backward(self, dy):
        dy4 = dy if self.rank == 2 else dy[:, None]  # (N, OL, C) -> (N, 1, OL, C)
        dx4 = self.pool_backward(dy4)  # (N, H, W, C)
        return dx4 if self.rank == 2 else dx4[:, 0]

    def pad(self, x4, value):
        """``x4`` with ``self.pads`` cells of ``value`` around height and width (no copy if none)."""
        (top, bottom), (left, right) = self.pads
        if not (top or bottom or left or right):
            return x4
        return np.pad(x4, ((0, 0), (top, bottom), (left, right), (0, 0)), constant_values=value)

    def unpad(self, dxpad):
        """Drop the padded cells' gradients: ``(N, Hp, Wp, C)`` -> ``(N, H, W, C)``."""
        (top, bottom), (left, right) = self.pads
        return dxpad[:, top:dxpad.shape[1] - bottom, left:dxpad.shape[2] - right, :]

    def get_config(self):
        return {**super().get_config(), "pool_size": tuple(self.pool_size),
                "strides": tuple(self.strides), "padding": self.padding,
                "data_format": self.data_format}


class _MaxPooling(_Pooling):
    xpad_hw: tuple[int, int] | None = None  # padded (Hp, Wp), for the backward pass
    argmax: np.ndarray | None = None  # (N, OH, OW, C): window offset of each first maximum
    # The Conv2D that ran this pooling inside its own forward pass (Conv2D.forward_pooled, which
    # a Sequential model calls for the pair), so its backward does this layer's too; None after
    # this layer's own forward.
    fused_into = None

    def pool_forward(self, x4):
        self.fused_into = None
        xpad = self.pad(x4, -np.inf)  # (N, Hp, Wp, C): padding never wins
        self.xpad_hw = xpad.shape[1:3]
        if self.for_backward:
            y, self.argmax = kernels.maxpool2d_forward(xpad, self.window, self.steps, self.out_hw)
        else:  # predict, evaluate: the window maxima alone (argmax is only for the backward pass)
            y, self.argmax = kernels.maxpool2d_values(xpad, self.window, self.steps, self.out_hw), None
        return y

    def pool_backward(self, dy4):
        if self.argmax is None:
            raise RuntimeError(f"{self.name}: backward after a forward pass that kept no argmax "
                               "(predict or evaluate); run a training forward pass first")
        dxpad = kernels.maxpool2d_backward(dy4, self.argmax, self.window, self.steps, self.xpad_hw)
        return self.unpad(dxpad)  # (N, H, W, C)


class MaxPooling2D(_MaxPooling):
    """Largest value of each ``pool_size`` window, moved by ``strides`` (default: ``pool_size``).

    Input ``(N, H, W, C)``; output ``(N, OH, OW, C)`` with the same size rules as Conv2D.
    ``padding="same"`` pads with ``-inf``, so padded cells never win: an all ``-5`` input pools
    to ``-5``.

    Backward (TensorFlow's CPU kernel): each window's ``dy`` goes wholly to its *first* maximum in
    row-major order (top-most, then left-most); overlapping windows add up.
    """

    def __init__(self, pool_size=(2, 2), strides=None, padding: str = "valid",
                 data_format: str | None = None, name: str | None = None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, name, **kwargs)


class MaxPooling1D(_MaxPooling):
    """Largest value of each ``pool_size`` window of steps, as ``keras.layers.MaxPooling1D``.

    Input ``(N, L, C)``; output ``(N, OL, C)``: ``y[n, i, c] = max_{a < p} xpad[n, i*s + a, c]``,
    VALID ``OL = (L - p) // s + 1``, SAME ``OL = ceil(L / s)`` (padding is ``-inf``, odd cell at
    the end). Backward: each window's ``dy`` goes wholly to its *first* maximum; overlapping
    windows add up (TensorFlow runs the 2-D kernel on ``(N, 1, L, C)``, and so does scratchnet).
    """

    rank = 1

    def __init__(self, pool_size=2, strides=None, padding: str = "valid",
                 data_format: str | None = None, name: str | None = None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, name, **kwargs)


class _AveragePooling(_Pooling):
    xpad_hw: tuple[int, int] | None = None  # padded (Hp, Wp), for the backward pass

    def _plan(self, spatial) -> None:
        super()._plan(spatial)
        h, w = (1,) * (2 - self.rank) + tuple(spatial)
        # (OH, OW): real cells under each window; SAME padding is not counted (TensorFlow's rule)
        self.counts = pool_kernels.window_counts((h, w), self.pads, self.window, self.steps,
                                                 self.out_hw)

    def pool_forward(self, x4):
        xpad = self.pad(x4, 0.0)  # (N, Hp, Wp, C): zeros add nothing to a window's sum
        self.xpad_hw = xpad.shape[1:3]
        return pool_kernels.avgpool2d_forward(xpad, self.window, self.steps, self.out_hw,
                                              self.counts)

    def pool_backward(self, dy4):
        dxpad = pool_kernels.avgpool2d_backward(dy4, self.window, self.steps, self.xpad_hw,
                                                self.counts)
        return self.unpad(dxpad)  # (N, H, W, C)


class AveragePooling2D(_AveragePooling):
    """Mean of each ``pool_size`` window, moved by ``strides`` (default: ``pool_size``).

    Input ``(N, H, W, C)``; output ``(N, OH, OW, C)``, sizes as MaxPooling2D::

        y[n, i, j, c] = sum_{a, b} xpad[n, i*sh + a, j*sw + b, c] / count[i, j]

    where ``count[i, j]`` is the number of *real* cells under window ``(i, j)``: with
    ``padding="same"`` the padded cells are neither summed nor counted (TensorFlow's ``avg_pool``),
    so a constant image pools to the same constant, edges included.

    Backward: every real cell of window ``(i, j)`` receives ``dy[n, i, j, c] / count[i, j]``;
    overlapping windows add up. ``pool_size`` has no default, as in Keras 3.
    """

    def __init__(self, pool_size, strides=None, padding: str = "valid",
                 data_format: str | None = None, name: str | None = None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, name, **kwargs)


class AveragePooling1D(_AveragePooling):
    """Mean of each ``pool_size`` window of steps, as ``keras.layers.AveragePooling1D``.

    Input ``(N, L, C)``; output ``(N, OL, C)``:
    ``y[n, i, c] = sum_{a < p} xpad[n, i*s + a, c] / count[i]``, ``count[i]`` the real (not
    padded) steps under window ``i``. Backward: each of those steps receives ``dy[n, i, c] /
    count[i]``. ``pool_size`` has no default, as in Keras 3.
    """

    rank = 1

    def __init__(self, pool_size, strides=None, padding: str = "valid",
                 data_format: str | None = None, name: str | None = None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, name, **kwargs)


class _Pooling3D(_Pooling):
    """What MaxPooling3D and AveragePooling3D share: the windows of ``(N, D, H, W, C)`` volumes,
    planned once at build (sizes as MaxPooling2D's along each of the three axes). Subclasses
    implement ``pool_forward(xpad)`` and ``pool_backward(dy)`` (-> ``dL/dxpad``) with
    :mod:`scratchnet.kernels.volume`'s loops over the window's offsets."""

    rank = 3
    pad_value = 0.0

    def build(self, input_shape, rng):
        check_rank(self.name, input_shape, "(batch, depth, height, width, channels)")
        *spatial, c = input_shape
        if None in spatial:
            raise ValueError(f'Layer "{self.name}": expected fixed depth, height and width, received '
                             f"input shape {(None, *input_shape)}")
        sizes, pads = [], []
        for n, p, s in zip(spatial, self.pool_size, self.strides, strict=True):
            out, before, after = output_size_and_pads(n, p, s, 1, self.padding)
            sizes.append(out)
            pads.append((before, after))
        if min(sizes) <= 0:
            raise ValueError(f'Layer "{self.name}": pool_size {self.pool_size} does not fit the input '
                             f"of spatial shape {tuple(spatial)} with padding='valid'; the output "
                             f"would be {tuple(sizes)}")
        self.out_shape, self.pads = tuple(sizes), tuple(pads)
        return (*self.out_shape, c)

    def forward(self, x, training=False):
        xpad = x
        if any(p for pair in self.pads for p in pair):
            xpad = np.pad(x, ((0, 0), *self.pads, (0, 0)), constant_values=self.pad_value)
        return self.pool_forward(xpad)  # (N, OD, OH, OW, C)

    def backward(self, dy):
        dxpad = self.pool_backward(dy)  # (N, Dp, Hp, Wp, C)
        (front, _), (top, _), (left, _) = self.pads
        d, h, w, _ = self.input_shape
        return dxpad[:, front:front + d, top:top + h, left:left + w, :]  # (N, D, H, W, C)


class MaxPooling3D(_Pooling3D):
    """Largest value of each ``pool_size`` window of a volume, as ``keras.layers.MaxPooling3D``
    (alias ``MaxPool3D``); ``strides`` default to ``pool_size``.

    Input ``(N, D, H, W, C)``; output ``(N, OD, OH, OW, C)``::

        y[n, i, j, k, c] = max_{a, b, e} xpad[n, i*sd + a, j*sh + b, k*sw + e, c]

    ``padding="same"`` pads with ``-inf``, so padded cells never win.

    Backward, as TensorFlow's CPU ``MaxPool3DGrad`` (unlike MaxPooling2D's, which gives a window's
    ``dy`` to its first maximum alone): ``dy[n, i, j, k, c]`` goes, whole, to *every* cell of the
    window within ``1e-5`` of the maximum, ``|xpad - y| < 1e-5``: tied cells each receive all of
    it, and so does a near-maximum (0.13399 beside 0.13400); overlapping windows add up. (With
    oneDNN on, TensorFlow's ``tf.function`` runs oneDNN's kernel instead, which gives ``dy`` to the
    first maximum alone; scratchnet follows TensorFlow's own kernel, as the parity tests run it.)
    """

    pad_value = -np.inf

    def __init__(self, pool_size=(2, 2, 2), strides=None, padding: str = "valid",
                 data_format: str | None = None, name: str | None = None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, name, **kwargs)

    def pool_forward(self, xpad):
        self.xpad = xpad
        self.y = volume.maxpool3d_forward(xpad, self.pool_size, self.strides, self.out_shape)
        return self.y

    def pool_backward(self, dy):
        return volume.maxpool3d_backward(self.xpad, self.y, dy, self.pool_size, self.strides)


class AveragePooling3D(_Pooling3D):
    """Mean of each ``pool_size`` window of a volume, as ``keras.layers.AveragePooling3D`` (alias
    ``AvgPool3D``); ``strides`` default to ``pool_size``, and ``pool_size`` has no default.

    Input ``(N, D, H, W, C)``; output ``(N, OD, OH, OW, C)``::

        y[n, i, j, k, c] = sum_{a, b, e} xpad[n, i*sd + a, j*sh + b, k*sw + e, c] / count[i, j, k]

    ``count`` is the number of *real* cells under the window: with ``padding="same"`` the padded
    cells are neither summed nor counted (TensorFlow's ``avg_pool3d``), so a constant volume pools
    to the same constant, edges included. Backward: every real cell of window ``(i, j, k)``
    receives ``dy[n, i, j, k, c] / count[i, j, k]``; overlapping windows add up.
    """

    def __init__(self, pool_size, strides=None, padding: str = "valid",
                 data_format: str | None = None, name: str | None = None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, name, **kwargs)

    def build(self, input_shape, rng):
        output_shape = super().build(input_shape, rng)
        # (1, OD, OH, OW, 1): the real cells under each window, the sum-pooling of ones padded by 0s
        ones = np.pad(np.ones((1, *input_shape[:3], 1)), ((0, 0), *self.pads, (0, 0)))
        self.counts = volume.sumpool3d_forward(ones, self.pool_size, self.strides, self.out_shape)
        return output_shape

    def pool_forward(self, xpad):
        self.padded_shape = xpad.shape[1:4]
        total = volume.sumpool3d_forward(xpad, self.pool_size, self.strides, self.out_shape)
        return total / self.counts.astype(xpad.dtype)

    def pool_backward(self, dy):
        return volume.sumpool3d_backward(dy / self.counts.astype(dy.dtype), self.pool_size,
                                         self.strides, self.padded_shape)
