"""DepthwiseConv2D, DepthwiseConv1D, SeparableConv2D and SeparableConv1D: MobileNet's convolutions,
channels-last.

A depthwise convolution correlates each input channel with its own ``depth_multiplier`` kernels
and never mixes channels (:mod:`scratchnet.kernels.depthwise`). A separable convolution is a
depthwise convolution followed by a 1x1 ("pointwise") Conv2D that mixes them, for a fraction of a
full Conv2D's weights and products. The 1-D layers are the 2-D ones on one-row images
``(N, 1, L, C)``, as Conv1D is Conv2D's.
"""

from __future__ import annotations

import numpy as np

from scratchnet import kernels
from scratchnet.kernels import depthwise as dw_kernels
from scratchnet.layers._args import (
    channels_last,
    check_rank,
    output_size_and_pads,
    positive_int,
    window_args,
)
from scratchnet.layers.base import (
    ActivatedLayer,
    constraint_config,
    initializer_config,
    regularizer_config,
    weight_args,
)


class _DepthwiseBase(ActivatedLayer):
    """What the four layers share: arguments, padding, and the depthwise pass in both directions.

    Everything runs on 2-D geometry: a 1-D layer (``rank = 1``) sees its ``(N, L, C)`` input as the
    image ``(N, 1, L, C)`` and its ``(k, C, M)`` kernel as ``(1, k, C, M)``. Built with ``None``
    for the size (images or steps of any size), each batch of a new size gets its own ``_plan``.
    """

    rank = 2

    def _read_args(self, kernel_size, strides, padding, depth_multiplier, data_format,
                   dilation_rate, use_bias, depthwise_initializer, bias_initializer,
                   depthwise_regularizer, bias_regularizer, constraints: dict) -> str:
        where = f"{type(self).__name__} {self.name!r}"
        weight_args(self, where, **constraints)  # depthwise_, pointwise_, bias_constraint
        # strides > 1 together with dilation_rate > 1 is allowed: Keras 3.15 runs it (its TensorFlow
        # backend as a stride-1 dilated convolution, then every s-th row and column), and the
        # loops here compute the same numbers directly.
        window_args(self, where, self.rank, kernel_size, strides, padding, dilation_rate,
                    strided_dilation=True)
        self.depth_multiplier = positive_int(depth_multiplier, "depth_multiplier", where)
        self.data_format = channels_last(data_format, where)
        self.use_bias = bool(use_bias)
        weight_args(self, where, depthwise_initializer=depthwise_initializer,
                    bias_initializer=bias_initializer, depthwise_regularizer=depthwise_regularizer,
                    bias_regularizer=bias_regularizer)
        self.xpad: np.ndarray | None = None
        return where

    def _as_2d(self, t: tuple) -> tuple:
        """A 1-D layer's ``(k,)`` as ``(1, k)``; a 2-D layer's tuples unchanged."""
        return (1, *t) if self.rank == 1 else tuple(t)

    def _build_geometry(self, input_shape) -> int:
        """Check the input, plan ``pads`` and ``out_hw`` (2-D) if its size is known (a ``None`` there,
        images or steps of any size, plans batch by batch), return the input's channels."""
        if self.rank == 2:
            check_rank(self.name, input_shape, "(batch, height, width, channels)")
        else:
            check_rank(self.name, input_shape, "(batch, steps, channels)")
        *spatial, c = input_shape
        self.in_hw = None
        if None not in spatial:
            self._plan(spatial)
        # Keras' compute_output_shape: a known axis keeps its size, None stays None
        self.out_sizes = [None if n is None else output_size_and_pads(n, k, s, d, self.padding)[0]
                          for n, k, s, d in zip(spatial, self.kernel_size, self.strides,
                                                self.dilation_rate, strict=True)]
        return c

    def _plan(self, spatial) -> None:
        """Set ``in_hw``, ``pads`` and ``out_hw`` (2-D) for inputs of ``spatial`` sizes."""
        sizes, pads = [], []
        self.in_hw = self._as_2d(tuple(int(n) for n in spatial))
        for n, k, s, d in zip(self.in_hw, self._as_2d(self.kernel_size),
                              self._as_2d(self.strides), self._as_2d(self.dilation_rate), strict=True):
            out, before, after = output_size_and_pads(n, k, s, d, self.padding)
            sizes.append(out)
            pads.append((before, after))
        if min(sizes) <= 0:
            raise ValueError(
                f'Layer "{self.name}": the kernel {self.kernel_size} (dilation '
                f"{self.dilation_rate}) does not fit the input of size {tuple(spatial)} with "
                f"padding='valid'; the output would be {tuple(sizes[2 - self.rank:])}")
        self.out_hw, self.pads = tuple(sizes), tuple(pads)

    def _depthwise_forward(self, x, kernel):
        """``u = depthwise(pad(x))``: ``(N, OH, OW, C*M)``, channel ``c*M + m`` from input channel
        ``c`` and kernel ``m`` (a 1-D layer's x and kernel get their row axis here)."""
        x4 = x[:, None] if self.rank == 1 else x  # (N, H, W, C)
        k4 = kernel[None] if self.rank == 1 else kernel  # (KH, KW, C, M)
        if x4.shape[1:3] != self.in_hw:  # another size (built with None there): this batch's plan
            self._plan(x.shape[1:-1])
        (top, bottom), (left, right) = self.pads
        self.xpad = x4  # "valid": nothing to pad, and no copy
        if top or bottom or left or right:
            self.xpad = np.pad(x4, ((0, 0), (top, bottom), (left, right), (0, 0)))  # (N, Hp, Wp, C)
        u = dw_kernels.depthwise_forward(self.xpad, k4, self._as_2d(self.strides),
                                         self._as_2d(self.dilation_rate), self.out_hw)  # (N, OH, OW, C, M)
        return u.reshape(*u.shape[:3], -1)  # (N, OH, OW, C*M): index c*M + m

    def _depthwise_backward(self, du, kernel):
        """From ``du = dL/du`` ``(N, OH, OW, C*M)``: ``dL/dkernel`` (kernel's shape) and ``dL/dx``
        (``None`` when the model needs no input gradient)."""
        k4 = kernel[None] if self.rank == 1 else kernel  # (KH, KW, C, M)
        du5 = du.reshape(*du.shape[:3], *k4.shape[2:])  # (N, OH, OW, C, M)
        strides, dilation = self._as_2d(self.strides), self._as_2d(self.dilation_rate)
        dkernel = dw_kernels.depthwise_backward_kernel(self.xpad, du5, k4.shape[:2], strides, dilation)
        dkernel = dkernel[0] if self.rank == 1 else dkernel  # (k, C, M) for a 1-D layer
        if not self.compute_input_grad:
            return dkernel, None
        dxpad = dw_kernels.depthwise_backward_input(du5, k4, strides, dilation,
                                                    self.xpad.shape[1:3])  # (N, Hp, Wp, C)
        (top, _), (left, _) = self.pads
        h, w = self.in_hw
        dx = dxpad[:, top:top + h, left:left + w, :]  # the padding's cells dropped: (N, H, W, C)
        return dkernel, (dx[:, 0] if self.rank == 1 else dx)

    def _to_rank(self, z4):
        """A 1-D layer's ``(N, 1, OL, F)`` back to ``(N, OL, F)``."""
        return z4[:, 0] if self.rank == 1 else z4

    def _output_shape(self, channels: int) -> tuple:
        return (*self.out_sizes, channels)

    def _common_config(self) -> dict:
        return {"depth_multiplier": self.depth_multiplier, "kernel_size": tuple(self.kernel_size),
                "strides": tuple(self.strides), "padding": self.padding, "data_format": self.data_format,
                "dilation_rate": tuple(self.dilation_rate), "use_bias": self.use_bias,
                "depthwise_initializer": initializer_config(self.depthwise_initializer)}


class DepthwiseConv2D(_DepthwiseBase):
    """2-D depthwise convolution, as ``keras.layers.DepthwiseConv2D``: each input channel
    correlated with its own ``depth_multiplier`` kernels, channels never mixed.

    Input ``(N, H, W, C)``; output ``(N, OH, OW, C*M)`` with ``M = depth_multiplier``; ``kernel`` is
    ``(KH, KW, C, M)`` and ``bias`` ``(C*M,)`` (Keras' names, layout and order). With ``xpad`` the
    zero-padded input::

        z[n, i, j, c*M + m] = sum_{a, b} xpad[n, i*sh + a*dh, j*sw + b*dw, c] * kernel[a, b, c, m]
                              + bias[c*M + m]
        y = activation(z)

    Output channel ``c*M + m`` is input channel ``c``'s ``m``-th kernel (TensorFlow's order). Sizes
    and padding as Conv2D's: ``"valid"`` ``OH = (H - e) // sh + 1`` with ``e = (KH - 1)*dh + 1``;
    ``"same"`` ``OH = ceil(H / sh)``, the odd padded row at the bottom. ``strides > 1`` together with
    ``dilation_rate > 1`` works, as in Keras 3.15.

    Backward, with ``dz = dL/dz`` seen as ``(N, OH, OW, C, M)``:
    ``dL/dkernel[a, b, c, m] = sum_{n,i,j} xpad[n, i*sh + a*dh, j*sw + b*dw, c] * dz[n, i, j, c, m]``;
    ``dL/dbias = sum_{n,i,j} dz``; ``dL/dx`` sends each ``sum_m dz[n, i, j, c, m] * kernel[a, b, c, m]``
    back to the input cell it read, then drops the padding.

    The loops are :mod:`scratchnet.kernels.depthwise`, NumPy on every CPU backend (the ``numba``
    backend has no twin of them and runs the same code). ``depthwise_constraint``/``bias_constraint``
    project the weights after each update.
    """

    def __init__(
        self,
        kernel_size,
        strides=(1, 1),
        padding: str = "valid",
        depth_multiplier: int = 1,
        data_format: str | None = None,
        dilation_rate=(1, 1),
        activation=None,
        use_bias: bool = True,
        depthwise_initializer="glorot_uniform",
        bias_initializer="zeros",
        depthwise_regularizer=None,
        bias_regularizer=None,
        depthwise_constraint=None,
        bias_constraint=None,
        name: str | None = None,
        **kwargs,
    ):
        super().__init__(activation=activation, name=name, **kwargs)
        self._read_args(kernel_size, strides, padding, depth_multiplier, data_format, dilation_rate,
                        use_bias, depthwise_initializer, bias_initializer, depthwise_regularizer,
                        bias_regularizer, {"depthwise_constraint": depthwise_constraint,
                                           "bias_constraint": bias_constraint})

    def build(self, input_shape, rng):
        c = self._build_geometry(input_shape)
        m = self.depth_multiplier
        self.kernel = self.add_weight("kernel", (*self.kernel_size, c, m), self.depthwise_initializer,
                                      rng, regularizer=self.depthwise_regularizer,
                                      constraint=self.depthwise_constraint)
        self.bias = self.add_weight("bias", (c * m,), self.bias_initializer, rng,
                                    regularizer=self.bias_regularizer,
                                    constraint=self.bias_constraint) if self.use_bias else None
        return self._output_shape(c * m)

    def forward(self, x, training=False):
        z = self._depthwise_forward(x, self.kernel.value)  # (N, OH, OW, C*M)
        if self.use_bias:
            z += self.bias.value  # in place: z is a fresh array
        return self.activate(self._to_rank(z))

    def backward_preactivation(self, dz):
        if self.use_bias:
            self.bias.grad = kernels.bias_grad(dz)  # sum over (N, OH, OW)
        dz4 = dz[:, None] if self.rank == 1 else dz  # (N, OH, OW, C*M)
        self.kernel.grad, dx = self._depthwise_backward(dz4, self.kernel.value)
        return dx

    def get_config(self):
        return {**super().get_config(), **self._common_config(),
                "bias_initializer": initializer_config(self.bias_initializer),
                **regularizer_config(self, "depthwise_regularizer", "bias_regularizer",
                                     "activity_regularizer"),
                **constraint_config(self, "depthwise_constraint", "bias_constraint")}


class DepthwiseConv1D(DepthwiseConv2D):
    """1-D depthwise convolution, as ``keras.layers.DepthwiseConv1D``: DepthwiseConv2D on the
    one-row image ``(N, 1, L, C)``.

    Input ``(N, L, C)``; output ``(N, OL, C*M)``; ``kernel`` ``(k, C, M)``, ``bias`` ``(C*M,)``::

        z[n, i, c*M + m] = sum_a xpad[n, i*s + a*d, c] * kernel[a, c, m] + bias[c*M + m]
        y = activation(z)

    ``padding`` is ``"valid"`` or ``"same"`` (Keras refuses ``"causal"`` here too). Backward as
    DepthwiseConv2D's with one row.
    """

    rank = 1

    def __init__(self, kernel_size, strides=1, padding: str = "valid", depth_multiplier: int = 1,
                 data_format: str | None = None, dilation_rate=1, activation=None,
                 use_bias: bool = True, depthwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None, bias_regularizer=None,
                 depthwise_constraint=None, bias_constraint=None, name: str | None = None, **kwargs):
        super().__init__(kernel_size, strides=strides, padding=padding,
                         depth_multiplier=depth_multiplier, data_format=data_format,
                         dilation_rate=dilation_rate, activation=activation, use_bias=use_bias,
                         depthwise_initializer=depthwise_initializer,
                         bias_initializer=bias_initializer,
                         depthwise_regularizer=depthwise_regularizer,
                         bias_regularizer=bias_regularizer, depthwise_constraint=depthwise_constraint,
                         bias_constraint=bias_constraint, name=name, **kwargs)


class SeparableConv2D(_DepthwiseBase):
    """Depthwise separable 2-D convolution, as ``keras.layers.SeparableConv2D``: a depthwise
    convolution (no bias), then a 1x1 convolution that mixes its channels.

    Input ``(N, H, W, C)``; output ``(N, OH, OW, filters)``; ``depthwise_kernel`` is
    ``(KH, KW, C, M)``, ``pointwise_kernel`` ``(1, 1, C*M, filters)``, ``bias`` ``(filters,)``
    (Keras' names, layouts and order)::

        u[n, i, j, c*M + m] = sum_{a, b} xpad[n, i*sh + a*dh, j*sw + b*dw, c] * depthwise_kernel[a, b, c, m]
        z[n, i, j, f] = sum_k u[n, i, j, k] * pointwise_kernel[0, 0, k, f] + bias[f]
        y = activation(z)

    ``u`` is rounded to the float type before the pointwise product, as TensorFlow's
    ``separable_conv2d`` computes it (two ops). Strides, dilation and padding belong to the depthwise
    step; the pointwise step is Conv2D's 1x1, stride 1, run by Conv2D's own kernels
    (:mod:`scratchnet.kernels.conv`, and their Numba twins on the ``numba`` backend).

    Backward, with ``dz = dL/dz``: ``dL/dbias = sum_{n,i,j} dz``;
    ``dL/dpointwise_kernel[0, 0, k, f] = sum_{n,i,j} u[n, i, j, k] * dz[n, i, j, f]`` and
    ``du = dz @ pointwise_kernel[0, 0]^T`` (Conv2D's kernel and input gradients for a 1x1 kernel);
    then DepthwiseConv2D's backward pass on ``du`` gives ``dL/ddepthwise_kernel`` and ``dL/dx``.
    The depthwise loops are :mod:`scratchnet.kernels.depthwise`, NumPy on every CPU backend.
    Its constraints project the weights after each update.
    """

    def __init__(
        self,
        filters: int,
        kernel_size,
        strides=(1, 1),
        padding: str = "valid",
        data_format: str | None = None,
        dilation_rate=(1, 1),
        depth_multiplier: int = 1,
        activation=None,
        use_bias: bool = True,
        depthwise_initializer="glorot_uniform",
        pointwise_initializer="glorot_uniform",
        bias_initializer="zeros",
        depthwise_regularizer=None,
        pointwise_regularizer=None,
        bias_regularizer=None,
        depthwise_constraint=None,
        pointwise_constraint=None,
        bias_constraint=None,
        name: str | None = None,
        **kwargs,
    ):
        super().__init__(activation=activation, name=name, **kwargs)
        where = self._read_args(
            kernel_size, strides, padding, depth_multiplier, data_format, dilation_rate, use_bias,
            depthwise_initializer, bias_initializer, depthwise_regularizer, bias_regularizer,
            {"depthwise_constraint": depthwise_constraint, "pointwise_constraint": pointwise_constraint,
             "bias_constraint": bias_constraint})
        self.filters = positive_int(filters, "filters", where)
        weight_args(self, where, pointwise_initializer=pointwise_initializer,
                    pointwise_regularizer=pointwise_regularizer)
        self.u: np.ndarray | None = None  # the depthwise output, kept for the backward pass

    def build(self, input_shape, rng):
        c = self._build_geometry(input_shape)
        m = self.depth_multiplier
        self.depthwise_kernel = self.add_weight(
            "depthwise_kernel", (*self.kernel_size, c, m), self.depthwise_initializer, rng,
            regularizer=self.depthwise_regularizer, constraint=self.depthwise_constraint)
        self.pointwise_kernel = self.add_weight(
            "pointwise_kernel", (*(1,) * self.rank, c * m, self.filters), self.pointwise_initializer,
            rng, regularizer=self.pointwise_regularizer, constraint=self.pointwise_constraint)
        self.bias = self.add_weight("bias", (self.filters,), self.bias_initializer, rng,
                                    regularizer=self.bias_regularizer,
                                    constraint=self.bias_constraint) if self.use_bias else None
        return self._output_shape(self.filters)

    def _pointwise_4d(self):
        """The pointwise kernel as Conv2D's ``(1, 1, C*M, filters)``."""
        kernel = self.pointwise_kernel.value
        return kernel[None] if self.rank == 1 else kernel

    def forward(self, x, training=False):
        self.u = self._depthwise_forward(x, self.depthwise_kernel.value)  # (N, OH, OW, C*M)
        z = kernels.conv2d_forward(self.u, self._pointwise_4d(), (1, 1), (1, 1),
                                   self.out_hw)  # (N, OH, OW, filters)
        if self.use_bias:
            z += self.bias.value  # in place: z is a fresh array
        return self.activate(self._to_rank(z))

    def backward_preactivation(self, dz):
        if self.use_bias:
            self.bias.grad = kernels.bias_grad(dz)  # sum over (N, OH, OW)
        dz4 = dz[:, None] if self.rank == 1 else dz  # (N, OH, OW, filters)
        dpointwise = kernels.conv2d_backward_kernel(self.u, dz4, (1, 1), (1, 1), (1, 1))  # (1, 1, CM, F)
        self.pointwise_kernel.grad = dpointwise[0] if self.rank == 1 else dpointwise
        du = kernels.conv2d_backward_input(dz4, self._pointwise_4d(), (1, 1), (1, 1),
                                           self.out_hw)  # (N, OH, OW, C*M)
        self.depthwise_kernel.grad, dx = self._depthwise_backward(du, self.depthwise_kernel.value)
        return dx

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, **self._common_config(),
                "pointwise_initializer": initializer_config(self.pointwise_initializer),
                "bias_initializer": initializer_config(self.bias_initializer),
                **regularizer_config(self, "depthwise_regularizer", "pointwise_regularizer",
                                     "bias_regularizer", "activity_regularizer"),
                **constraint_config(self, "depthwise_constraint", "pointwise_constraint",
                                    "bias_constraint")}


class SeparableConv1D(SeparableConv2D):
    """Depthwise separable 1-D convolution, as ``keras.layers.SeparableConv1D``: SeparableConv2D on
    the one-row image ``(N, 1, L, C)``.

    Input ``(N, L, C)``; output ``(N, OL, filters)``; ``depthwise_kernel`` ``(k, C, M)``,
    ``pointwise_kernel`` ``(1, C*M, filters)``, ``bias`` ``(filters,)``::

        u[n, i, c*M + m] = sum_a xpad[n, i*s + a*d, c] * depthwise_kernel[a, c, m]
        z[n, i, f] = sum_k u[n, i, k] * pointwise_kernel[0, k, f] + bias[f]
        y = activation(z)

    ``padding`` is ``"valid"`` or ``"same"``. Backward as SeparableConv2D's with one row.
    """

    rank = 1

    def __init__(self, filters: int, kernel_size, strides=1, padding: str = "valid",
                 data_format: str | None = None, dilation_rate=1, depth_multiplier: int = 1,
                 activation=None, use_bias: bool = True, depthwise_initializer="glorot_uniform",
                 pointwise_initializer="glorot_uniform", bias_initializer="zeros",
                 depthwise_regularizer=None, pointwise_regularizer=None, bias_regularizer=None,
                 depthwise_constraint=None, pointwise_constraint=None, bias_constraint=None,
                 name: str | None = None, **kwargs):
        super().__init__(filters, kernel_size, strides=strides, padding=padding,
                         data_format=data_format, dilation_rate=dilation_rate,
                         depth_multiplier=depth_multiplier, activation=activation, use_bias=use_bias,
                         depthwise_initializer=depthwise_initializer,
                         pointwise_initializer=pointwise_initializer,
                         bias_initializer=bias_initializer,
                         depthwise_regularizer=depthwise_regularizer,
                         pointwise_regularizer=pointwise_regularizer,
                         bias_regularizer=bias_regularizer, depthwise_constraint=depthwise_constraint,
                         pointwise_constraint=pointwise_constraint, bias_constraint=bias_constraint,
                         name=name, **kwargs)
