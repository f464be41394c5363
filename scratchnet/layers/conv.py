"""The convolution layers, channels-last: Conv1D/2D/3D and Conv1DTranspose/2DTranspose/3DTranspose."""

from __future__ import annotations

import numpy as np

from scratchnet import kernels
from scratchnet.activations import ReLU
from scratchnet.kernels import volume
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


class Conv2D(ActivatedLayer):
    """2-D convolution (cross-correlation, no kernel flip), as ``keras.layers.Conv2D``.

    Input shape ``(N, H, W, C)``; output ``(N, OH, OW, filters)``; ``kernel`` is
    ``(KH, KW, C, filters)`` and ``bias`` ``(filters,)``. With ``xpad`` the zero-padded input::

        z[n, i, j, o] = sum_{a, b, c} xpad[n, i*sh + a*dh, j*sw + b*dw, c] * kernel[a, b, c, o] + bias[o]
        y = activation(z)

    ``padding="valid"``: no padding, ``OH = (H - e) // sh + 1`` with ``e = (KH - 1)*dh + 1``.
    ``padding="same"``: ``OH = ceil(H / sh)``; the odd padded row goes at the bottom (TensorFlow).

    ``groups = G`` (ConvNeXt's 7x7 convolutions, ``groups = C``): the ``C`` channels and the
    ``filters`` are cut into ``G`` equal groups, the kernel is ``(KH, KW, C / G, filters)`` and
    group ``g``'s filters read only group ``g``'s channels (``c`` above runs over those ``C / G``).
    Such a layer runs Conv3D's grouped loops (:mod:`scratchnet.kernels.volume`) on a depth of one.

    Backward, with ``dz = dL/dz``: ``dL/dkernel[a, b, c, o] = sum_{n,i,j} xpad[n, i*sh + a*dh, j*sw +
    b*dw, c] * dz[n, i, j, o]``; ``dL/dbias = sum_{n,i,j} dz``; ``dL/dx`` sends each ``dz[n, i, j]
    @ kernel[a, b]^T`` back to the input cell it read, then drops the padding.
    The loops live in :mod:`scratchnet.kernels.conv` (NumPy) and its Numba twin. ``conv_algorithm``
    says which algorithm the last forward pass ran: ``"im2col"``, ``"winograd"`` or ``"winograd4"``
    (:mod:`scratchnet.kernels.winograd`, F(2x2, 3x3) or F(4x4, 3x3) tiles; the latter chosen by
    the Numba backend for 3x3 stride-1 layers with many channels) or ``"direct"``
    (:mod:`scratchnet.kernels.direct`, chosen there for 3x3 stride-1 layers with few channels; see
    ``kernels.conv2d_algorithm``). The backward pass uses the same one.

    Images of any size (``Input((None, None, C))``): the output shape keeps ``None`` there, and
    each batch of a new size gets its own plan (``_plan``: output size, padding, algorithm), as
    Keras runs one layer on any size (docs/any-size.md).
    """

    def __init__(
        self,
        filters: int,
        kernel_size,
        strides=(1, 1),
        padding: str = "valid",
        data_format: str | None = None,
        dilation_rate=(1, 1),
        groups: int = 1,
        activation=None,
        use_bias: bool = True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        name: str | None = None,
        **kwargs,
    ):
        super().__init__(activation=activation, name=name, **kwargs)
        where = f"Conv2D {self.name!r}"
        self.filters = positive_int(filters, "filters", where)
        window_args(self, where, 2, kernel_size, strides, padding, dilation_rate)
        self.data_format = channels_last(data_format, where)
        self.groups = positive_int(groups, "groups", where)
        if self.filters % self.groups:
            raise ValueError(f"{where}: the number of filters must be evenly divisible by the number "
                             f"of groups; received groups={self.groups}, filters={self.filters}")
        self.use_bias = bool(use_bias)
        weight_args(self, where, kernel_initializer=kernel_initializer,
                    bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
                    bias_regularizer=bias_regularizer, kernel_constraint=kernel_constraint,
                    bias_constraint=bias_constraint)
        self.xpad: np.ndarray | None = None
        self.conv_algorithm: str | None = None  # set by each forward pass
        self.pooled: tuple | None = None  # (pool layer, y, argmax) after forward_pooled
        self.in_hw: tuple[int, int] | None = None  # the (H, W) that pads and out_hw were planned for

    def build(self, input_shape, rng):
        check_rank(self.name, input_shape, "(batch, height, width, channels)")
        h, w, c = input_shape  # h or w None: images of any size, planned batch by batch
        out = [None, None]
        if h is not None and w is not None:
            out = list(self._plan((h, w)))
        else:  # Keras' compute_output_shape: a known axis keeps its size, None stays None
            for axis, n in enumerate((h, w)):
                if n is not None:
                    out[axis] = self._axis_plan(n, axis, (h, w))[0]
        if c is not None and c % self.groups:  # (None: add_weight refuses it, in Keras' words)
            raise ValueError(f'Layer "{self.name}": the number of input channels must be evenly '
                             f"divisible by the number of groups; received groups={self.groups}, but "
                             f"the input has {c} channels (full input shape {(None, *input_shape)})")
        kh, kw = self.kernel_size
        per_group = None if c is None else c // self.groups  # input channels each filter reads
        self.kernel = self.add_weight("kernel", (kh, kw, per_group, self.filters),
                                      self.kernel_initializer, rng, regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self.bias = self.add_weight("bias", (self.filters,), self.bias_initializer, rng,
                                    regularizer=self.bias_regularizer,
                                    constraint=self.bias_constraint) if self.use_bias else None
        return (*out, self.filters)

    def _axis_plan(self, n: int, axis: int, hw=None) -> tuple[int, int, int]:
        """``(output size, pad before, pad after)`` along one spatial axis of ``n`` cells (``hw``:
        the input's height and width, for the error)."""
        out, before, after = output_size_and_pads(n, self.kernel_size[axis], self.strides[axis],
                                                  self.dilation_rate[axis], self.padding)
        if out <= 0:
            raise ValueError(
                f'Layer "{self.name}": the kernel {self.kernel_size} (dilation '
                f"{self.dilation_rate}) does not fit the input of height and width {hw} "
                f"with padding='valid'; the output would have {out} cells along axis {axis + 1}"
            )
        return out, before, after

    def _plan(self, hw) -> tuple[int, int]:
        """Set ``self.in_hw``, ``self.pads`` and ``self.out_hw`` for ``(H, W)`` images; return
        ``out_hw``. Built for a known size it runs once; with ``None`` there, once per batch."""
        self.in_hw = tuple(int(n) for n in hw)
        (oh, top, bottom), (ow, left, right) = (self._axis_plan(n, axis, self.in_hw)
                                                for axis, n in enumerate(self.in_hw))
        self.pads = ((top, bottom), (left, right))
        self.out_hw = (oh, ow)
        return self.out_hw

    def _pad_and_choose(self, x) -> None:
        if x.shape[1:3] != self.in_hw:  # an image of another size (built with None there)
            self._plan(x.shape[1:3])
        (top, bottom), (left, right) = self.pads
        self.xpad = x  # "valid": nothing to pad, and no copy
        if top or bottom or left or right:
            self.xpad = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))  # (N, Hp, Wp, C)
        self.conv_algorithm = "grouped" if self.groups > 1 else kernels.conv2d_algorithm(
            self.kernel.shape, self.strides, self.dilation_rate, self.out_hw)

    def can_fuse_pool(self, pool) -> bool:
        """Whether this layer and ``pool``, the layer right after it, may run as one call
        (:meth:`forward_pooled`): ReLU with a bias here, a MaxPooling2D without padding there,
        no activity_regularizer on either (it reads each output whole), and a backend with the
        fused kernels (:func:`scratchnet.kernels.fuses_conv_pool`)."""
        from scratchnet.layers.pooling import MaxPooling2D

        return (kernels.fuses_conv_pool() and self.groups == 1 and self.use_bias
                and type(self.activation) is ReLU
                and self.activity_regularizer is None and pool.activity_regularizer is None
                and type(pool) is MaxPooling2D and self._pool_never_pads(pool))

    @staticmethod
    def _pool_never_pads(pool) -> bool:
        """No padding around any input of ``pool``: "valid", or "same" on a fixed size it fits
        (images of any size, built with None, may need padding at the next size)."""
        if pool.padding == "valid":
            return True
        return None not in pool.input_shape[:-1] and pool.pads == ((0, 0), (0, 0))

    def forward_pooled(self, x, pool, training=False, for_backward=True):
        """This layer and the ``MaxPooling2D`` after it in one call: ``pool(relu(conv(x) + b))``,
        the same numbers as the two forward passes, without keeping the convolution's
        ``(N, OH, OW, F)`` output (the pooled ``y`` and its ``argmax`` are all the backward pass
        needs). A model calls it for such a pair (``Sequential.forward``); ``pool`` then does
        nothing of its own until its next ``forward``. ``for_backward=False`` (predict, evaluate)
        keeps no ``argmax``."""
        self._pad_and_choose(x)
        if pool.out_hw is None or tuple(pool.in_hw) != self.out_hw:  # images of any size
            pool._plan(self.out_hw)
        y, argmax = kernels.conv2d_bias_relu_maxpool(
            self.xpad, self.kernel.value, self.bias.value, self.strides, self.dilation_rate,
            self.out_hw, pool.window, pool.steps, pool.out_hw, algorithm=self.conv_algorithm,
            with_argmax=for_backward)  # (N, PH, PW, F) and its window offsets
        self.activated, self.preactivation = None, None
        self.pooled = (pool, y, argmax)  # backward() runs the pooling's backward too
        pool.fused_into = self
        return y

    def forward(self, x, training=False):
        self.pooled = None
        self._pad_and_choose(x)
        if self.groups > 1:
            z = self._grouped_forward()  # (N, OH, OW, F)
            if self.use_bias:
                z += self.bias.value
            return self.activate(z)
        if self.use_bias and type(self.activation) is ReLU:
            # The usual case as one kernel (the same numbers; a fast backend makes one pass).
            self.activated = kernels.conv2d_bias_relu(
                self.xpad, self.kernel.value, self.bias.value, self.strides, self.dilation_rate,
                self.out_hw, algorithm=self.conv_algorithm)  # a = max(z, 0): (N, OH, OW, F)
            # ReLU's gradient needs only where z > 0, which is where the output max(z, 0) > 0:
            # backward reads the output, and z is never stored (one activation-sized array less).
            self.preactivation = None
            return self.activated
        z = kernels.conv2d_forward(self.xpad, self.kernel.value, self.strides, self.dilation_rate,
                                   self.out_hw, algorithm=self.conv_algorithm)  # (N, OH, OW, F)
        if self.use_bias:
            z += self.bias.value  # in place: z is a fresh array (no second (N, OH, OW, F) array)
        return self.activate(z)

    def backward(self, dy):
        if self.pooled is not None:
            # after forward_pooled: dy is dL/d(pooled output); the pooling's backward, ReLU's and
            # the bias gradient as one kernel (the pooled value is the ReLU output at the window's
            # first maximum, so z > 0 there exactly when it is > 0)
            pool, y, argmax = self.pooled
            if argmax is None:
                raise RuntimeError(f"{self.name}: backward after a forward_pooled(for_backward=False)")
            if not self.compute_input_grad:  # a first layer: dz feeds dL/dK alone, maybe never whole
                self.kernel.grad, self.bias.grad = kernels.conv2d_backward_kernel_relu_maxpool(
                    self.xpad, dy, y, argmax, self.kernel_size, self.strides, self.dilation_rate,
                    pool.window, pool.steps, self.out_hw, algorithm=self.conv_algorithm)
                return None
            # the same three steps as backward_preactivation (dz, then dL/dK and dL/dx from it)
            self.kernel.grad, self.bias.grad, dxpad = kernels.conv2d_backward_relu_maxpool(
                self.xpad, dy, y, argmax, self.kernel.value, self.strides, self.dilation_rate,
                pool.window, pool.steps, self.out_hw, algorithm=self.conv_algorithm)
            return self._unpad(dxpad)
        if self.groups == 1 and self.use_bias and type(self.activation) is ReLU:
            # ReLU's gradient and the bias gradient as one kernel (the same numbers, one pass).
            # (N, OH, OW, F), (F,); output > 0 exactly where z > 0 (NaN and -0.0 included)
            dz, db = kernels.relu_backward_bias_grad(dy, self.activated)
            return self.backward_preactivation(dz, bias_grad=db)
        return super().backward(dy)

    def backward_preactivation(self, dz, bias_grad=None):
        if self.groups > 1:
            return self._grouped_backward(dz)
        self.kernel.grad = kernels.conv2d_backward_kernel(
            self.xpad, dz, self.kernel_size, self.strides, self.dilation_rate,
            algorithm=self.conv_algorithm)
        if self.use_bias:
            # sum over (N, OH, OW), unless backward() already computed it
            self.bias.grad = kernels.bias_grad(dz) if bias_grad is None else bias_grad
        if not self.compute_input_grad:
            return None
        dxpad = kernels.conv2d_backward_input(dz, self.kernel.value, self.strides, self.dilation_rate,
                                              self.xpad.shape[1:3], algorithm=self.conv_algorithm)
        return self._unpad(dxpad)

    def _grouped_forward(self):
        """``z`` of a grouped convolution: Conv3D's loops on the images as volumes of depth one."""
        z = volume.conv3d_forward(self.xpad[:, None], self.kernel.value[None], (1, *self.strides),
                                  (1, *self.dilation_rate), (1, *self.out_hw), self.groups)
        return z[:, 0]  # (N, 1, OH, OW, F) -> (N, OH, OW, F)

    def _grouped_backward(self, dz):
        """``dL/dkernel``, ``dL/dbias`` and ``dL/dx`` of a grouped convolution, as Conv3D's."""
        strides, dilation = (1, *self.strides), (1, *self.dilation_rate)
        self.kernel.grad = volume.conv3d_backward_kernel(self.xpad[:, None], dz[:, None],
                                                         (1, *self.kernel_size), strides, dilation,
                                                         self.groups)[0]  # (KH, KW, C/G, F)
        if self.use_bias:
            self.bias.grad = kernels.bias_grad(dz)
        if not self.compute_input_grad:
            return None
        dxpad = volume.conv3d_backward_input(dz[:, None], self.kernel.value[None], strides, dilation,
                                             (1, *self.xpad.shape[1:3]), self.groups)[:, 0]
        return self._unpad(dxpad)  # (N, H, W, C)

    def _unpad(self, dxpad):
        """dL/dx from dL/dxpad: the padding's cells dropped, ``(N, H, W, C)``."""
        (top, _), (left, _) = self.pads
        h, w = self.in_hw
        return dxpad[:, top:top + h, left:left + w, :]

    def get_config(self):
        return {**super().get_config(), "filters": self.filters,
                "kernel_size": tuple(self.kernel_size), "strides": tuple(self.strides),
                "padding": self.padding, "data_format": self.data_format,
                "dilation_rate": tuple(self.dilation_rate), "groups": self.groups,
                "use_bias": self.use_bias,
                "kernel_initializer": initializer_config(self.kernel_initializer),
                "bias_initializer": initializer_config(self.bias_initializer),
                **regularizer_config(self, "kernel_regularizer", "bias_regularizer", "activity_regularizer"),
                **constraint_config(self, "kernel_constraint", "bias_constraint")}


class Conv1D(ActivatedLayer):
    """1-D convolution over steps (cross-correlation, no kernel flip), as ``keras.layers.Conv1D``.

    Input ``(N, L, C)``; output ``(N, OL, filters)``; ``kernel`` is ``(k, C, filters)`` (Keras'
    layout) and ``bias`` ``(filters,)``. With ``xpad`` the padded input::

        z[n, i, o] = sum_{a, c} xpad[n, i*s + a*d, c] * kernel[a, c, o] + bias[o]
        y = activation(z)

    ``padding="valid"``: ``OL = (L - e) // s + 1`` with ``e = (k - 1)*d + 1``. ``"same"``:
    ``OL = ceil(L / s)``, the odd padded step at the end. ``"causal"``: ``e - 1`` zeros before the
    first step and none after, so ``z[n, i]`` reads only steps ``<= i*s`` (Keras pads, then runs
    "valid").

    Backward, with ``dz = dL/dz``: ``dL/dkernel[a, c, o] = sum_{n, i} xpad[n, i*s + a*d, c] *
    dz[n, i, o]``; ``dL/dbias = sum_{n, i} dz``; ``dL/dx`` sends ``dz[n, i] @ kernel[a]^T`` back to
    the step it read, then drops the padding. A step sequence is the one-row image
    ``(N, 1, L, C)`` and the kernel the ``(1, k, C, filters)`` one, so Conv2D's kernels
    (:mod:`scratchnet.kernels.conv`) compute all three.
    """

    def __init__(
        self,
        filters: int,
        kernel_size,
        strides=1,
        padding: str = "valid",
        data_format: str | None = None,
        dilation_rate=1,
        groups: int = 1,
        activation=None,
        use_bias: bool = True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        name: str | None = None,
        **kwargs,
    ):
        super().__init__(activation=activation, name=name, **kwargs)
        where = f"Conv1D {self.name!r}"
        self.filters = positive_int(filters, "filters", where)
        window_args(self, where, 1, kernel_size, strides, padding, dilation_rate,
                    paddings=("valid", "same", "causal"))
        self.data_format = channels_last(data_format, where)
        if groups != 1:
            raise ValueError(f"{where}: expected groups=1 (grouped convolutions are not "
                             f"implemented), received groups={groups!r}")
        self.use_bias = bool(use_bias)
        weight_args(self, where, kernel_initializer=kernel_initializer,
                    bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
                    bias_regularizer=bias_regularizer, kernel_constraint=kernel_constraint,
                    bias_constraint=bias_constraint)
        self.xpad: np.ndarray | None = None

    def build(self, input_shape, rng):
        check_rank(self.name, input_shape, "(batch, steps, channels)")
        length, c = input_shape  # length None: any number of steps, planned batch by batch
        out = None
        if length is not None:
            out, self.pads = self._plan(length)
        k = self.kernel_size[0]
        self.kernel = self.add_weight("kernel", (k, c, self.filters), self.kernel_initializer, rng,
                                      regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self.bias = self.add_weight("bias", (self.filters,), self.bias_initializer, rng,
                                    regularizer=self.bias_regularizer,
                                    constraint=self.bias_constraint) if self.use_bias else None
        return (out, self.filters)

    def _plan(self, length: int) -> tuple[int, tuple[int, int]]:
        """``(output steps, (pad before, pad after))`` for inputs of ``length`` steps."""
        (k,), (s,), (d,) = self.kernel_size, self.strides, self.dilation_rate
        if self.padding == "causal":  # pad e - 1 steps in front, then "valid"
            before, after = (k - 1) * d, 0
            out = (length + before - ((k - 1) * d + 1)) // s + 1
        else:
            out, before, after = output_size_and_pads(length, k, s, d, self.padding)
        if out <= 0:
            raise ValueError(
                f'Layer "{self.name}": the kernel {self.kernel_size} (dilation '
                f"{self.dilation_rate}) does not fit the input of {length} steps with "
                f"padding='valid'; the output would have {out} steps"
            )
        return out, (before, after)

    def forward(self, x, training=False):
        self.in_length = x.shape[1]
        out_length, self.pads = self._plan(self.in_length)
        before, after = self.pads
        self.xpad = x  # "valid": nothing to pad, and no copy
        if before or after:
            self.xpad = np.pad(x, ((0, 0), (before, after), (0, 0)))  # (N, Lp, C)
        z = kernels.conv2d_forward(
            self.xpad[:, None], self.kernel.value[None],  # (N, 1, Lp, C), (1, k, C, F)
            (1,) + self.strides, (1,) + self.dilation_rate, (1, out_length))[:, 0]  # (N, OL, F)
        if self.use_bias:
            z += self.bias.value  # in place: z is a fresh array
        return self.activate(z)

    def backward_preactivation(self, dz):
        steps, dilation = (1,) + self.strides, (1,) + self.dilation_rate
        self.kernel.grad = kernels.conv2d_backward_kernel(
            self.xpad[:, None], dz[:, None], (1,) + self.kernel_size, steps, dilation)[0]  # (k, C, F)
        if self.use_bias:
            self.bias.grad = kernels.bias_grad(dz)  # sum over (N, OL)
        if not self.compute_input_grad:
            return None
        dxpad = kernels.conv2d_backward_input(dz[:, None], self.kernel.value[None], steps, dilation,
                                              (1, self.xpad.shape[1]))[:, 0]  # (N, Lp, C)
        before, _ = self.pads
        return dxpad[:, before:before + self.in_length, :]  # (N, L, C)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters,
                "kernel_size": tuple(self.kernel_size), "strides": tuple(self.strides),
                "padding": self.padding, "data_format": self.data_format,
                "dilation_rate": tuple(self.dilation_rate), "groups": 1, "use_bias": self.use_bias,
                "kernel_initializer": initializer_config(self.kernel_initializer),
                "bias_initializer": initializer_config(self.bias_initializer),
                **regularizer_config(self, "kernel_regularizer", "bias_regularizer", "activity_regularizer"),
                **constraint_config(self, "kernel_constraint", "bias_constraint")}


class _ConvTranspose(ActivatedLayer):
    """What Conv1DTranspose and Conv2DTranspose share: their arguments, Keras' output size along
    one axis, and their config. ``rank`` is 1 or 2."""

    rank = 2

    def _transpose_args(self, filters, kernel_size, strides, padding, output_padding, data_format,
                        dilation_rate, use_bias, **weights) -> None:
        where = f"{type(self).__name__} {self.name!r}"
        self.filters = positive_int(filters, "filters", where)
        window_args(self, where, self.rank, kernel_size, strides, padding, dilation_rate,
                    strided_dilation=True)
        self.data_format = channels_last(data_format, where)
        self.output_padding = None
        if output_padding is not None:
            pads = (output_padding,) * self.rank if isinstance(output_padding, int) else output_padding
            if not isinstance(pads, tuple | list) or len(pads) != self.rank or not all(
                    isinstance(p, int) and not isinstance(p, bool) and 0 <= p < s
                    for p, s in zip(pads, self.strides, strict=True)):
                raise ValueError(f"{where}: expected output_padding to be None or "
                                 f"{'ints' if self.rank > 1 else 'an int'} >= 0 and strictly less "
                                 f"than strides={self.strides}, received output_padding={output_padding!r}")
            self.output_padding = tuple(int(p) for p in pads)
        self.use_bias = bool(use_bias)
        weight_args(self, where, **weights)
        self.x: np.ndarray | None = None

    def _output_size(self, n: int, axis: int) -> int:
        """Keras' output length along one axis (``compute_conv_transpose_output_shape``)."""
        k, s, d = self.kernel_size[axis], self.strides[axis], self.dilation_rate[axis]
        e = (k - 1) * d + 1
        p = None if self.output_padding is None else self.output_padding[axis]
        if self.padding == "valid":
            return (n - 1) * s + e + (max(e, s) - e if p is None else p)
        return n * s if p is None else (n - 1) * s + k % 2 + p

    def get_config(self):
        return {**super().get_config(), "filters": self.filters,
                "kernel_size": tuple(self.kernel_size), "strides": tuple(self.strides),
                "padding": self.padding,
                "output_padding": None if self.output_padding is None else tuple(self.output_padding),
                "data_format": self.data_format, "dilation_rate": tuple(self.dilation_rate),
                "use_bias": self.use_bias,
                "kernel_initializer": initializer_config(self.kernel_initializer),
                "bias_initializer": initializer_config(self.bias_initializer),
                **regularizer_config(self, "kernel_regularizer", "bias_regularizer", "activity_regularizer"),
                **constraint_config(self, "kernel_constraint", "bias_constraint")}


class Conv2DTranspose(_ConvTranspose):
    """The transposed convolution of ``keras.layers.Conv2DTranspose``: the layer that upsamples in
    autoencoders' decoders and GANs' generators, by running a convolution backwards.

    Take the Conv2D that maps an ``(OH, OW, filters)`` image to this layer's ``(H, W, C)`` input
    with the same ``kernel`` ``(KH, KW, filters, C)``, strides, dilation and padding. This layer is
    that convolution's input gradient (TensorFlow's ``conv2d_transpose``): each input pixel
    ``x[n, i, j]`` paints ``kernel[a, b] @ x[n, i, j]`` onto the output at
    ``(i*sh + a*dh - top, j*sw + b*dw - left)``, overlapping paints adding up::

        z[n, i*sh + a*dh - top, j*sw + b*dw - left, f] += sum_c x[n, i, j, c] * kernel[a, b, f, c]
        y = activation(z + bias)

    Output size (Keras'): ``"valid"``: ``OH = (H - 1)*sh + e + p`` with ``e = (KH - 1)*dh + 1`` and
    ``p = output_padding`` (default ``max(e, sh) - e``); ``"same"``: ``OH = H*sh`` (with an
    ``output_padding``: ``(H - 1)*sh + KH % 2 + p``). ``top``/``left`` are the padding that Conv2D
    would put on an ``OH x OW`` input (TensorFlow's rule).

    Backward is the forward Conv2D's other two products, with ``dz`` as its input:
    ``dL/dx = conv2d(pad(dz), kernel)`` (Conv2D's forward pass) and ``dL/dkernel`` = Conv2D's
    kernel gradient with ``pad(dz)`` as the input and ``x`` as the output gradient. So the three
    products are :mod:`scratchnet.kernels.conv`'s three Conv2D loops, read in another order.
    Images of any size (``None`` height or width) are planned batch by batch (``_plan``).
    """

    def __init__(
        self,
        filters: int,
        kernel_size,
        strides=(1, 1),
        padding: str = "valid",
        output_padding=None,
        data_format: str | None = None,
        dilation_rate=(1, 1),
        activation=None,
        use_bias: bool = True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        name: str | None = None,
        **kwargs,
    ):
        super().__init__(activation=activation, name=name, **kwargs)
        self._transpose_args(filters, kernel_size, strides, padding, output_padding, data_format,
                             dilation_rate, use_bias, kernel_initializer=kernel_initializer,
                             bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
                             bias_regularizer=bias_regularizer, kernel_constraint=kernel_constraint,
                             bias_constraint=bias_constraint)

    def build(self, input_shape, rng):
        check_rank(self.name, input_shape, "(batch, height, width, channels)")
        h, w, c = input_shape  # h or w None: images of any size, planned batch by batch
        self.in_hw = None
        if h is not None and w is not None:
            self._plan((h, w))
        self.kernel = self.add_weight("kernel", (*self.kernel_size, self.filters, c),
                                      self.kernel_initializer, rng, regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self.bias = self.add_weight("bias", (self.filters,), self.bias_initializer, rng,
                                    regularizer=self.bias_regularizer,
                                    constraint=self.bias_constraint) if self.use_bias else None
        # Keras' compute_output_shape: a known axis keeps its size, None stays None
        return (*(None if n is None else self._output_size(n, axis) for axis, n in enumerate((h, w))),
                self.filters)

    def _plan(self, hw) -> None:
        """Set ``self.in_hw``, ``self.out_hw`` and ``self.pads`` for ``(H, W)`` inputs. Built for a
        known size it runs once; with ``None`` there, once per batch."""
        self.in_hw = tuple(int(n) for n in hw)
        self.out_hw = (self._output_size(self.in_hw[0], 0), self._output_size(self.in_hw[1], 1))
        pads = []
        for axis, (n_out, n_in) in enumerate(zip(self.out_hw, self.in_hw, strict=True)):
            back, before, after = output_size_and_pads(n_out, self.kernel_size[axis], self.strides[axis],
                                                       self.dilation_rate[axis], self.padding)
            if back != n_in:  # (Keras' own shapes never get here; TensorFlow would refuse them)
                raise ValueError(f'Layer "{self.name}": an output of {self.out_hw} does not map back '
                                 f"to the input's {self.in_hw} with padding={self.padding!r}, "
                                 f"strides={self.strides}, output_padding={self.output_padding}")
            pads.append((before, after))
        self.pads = tuple(pads)

    def _padded_hw(self) -> tuple[int, int]:
        (top, bottom), (left, right) = self.pads
        return (self.out_hw[0] + top + bottom, self.out_hw[1] + left + right)

    def forward(self, x, training=False):
        self.x = x
        if x.shape[1:3] != self.in_hw:  # an image of another size (built with None there)
            self._plan(x.shape[1:3])
        # The forward Conv2D's input gradient with x as its output gradient: (N, OHp, OWp, F)
        zpad = kernels.conv2d_backward_input(x, self.kernel.value, self.strides, self.dilation_rate,
                                             self._padded_hw())
        (top, _), (left, _) = self.pads
        oh, ow = self.out_hw
        z = zpad[:, top:top + oh, left:left + ow, :]  # the padding's cells dropped: (N, OH, OW, F)
        if self.use_bias:
            z = z + self.bias.value
        return self.activate(z)

    def backward_preactivation(self, dz):
        dzpad = dz
        if any(p for pair in self.pads for p in pair):
            dzpad = np.pad(dz, ((0, 0), *self.pads, (0, 0)))  # (N, OHp, OWp, F)
        # dL/dkernel: the forward Conv2D's kernel gradient, pad(dz) its input and x its dz
        self.kernel.grad = kernels.conv2d_backward_kernel(dzpad, self.x, self.kernel_size,
                                                          self.strides, self.dilation_rate)
        if self.use_bias:
            self.bias.grad = kernels.bias_grad(dz)  # sum over (N, OH, OW)
        if not self.compute_input_grad:
            return None
        # dL/dx: the forward Conv2D itself on pad(dz): (N, H, W, C)
        return kernels.conv2d_forward(dzpad, self.kernel.value, self.strides, self.dilation_rate,
                                      self.in_hw)


class Conv1DTranspose(_ConvTranspose):
    """``keras.layers.Conv1DTranspose``: Conv2DTranspose along steps, the upsampling layer of 1-D
    decoders. Input ``(N, L, C)``; output ``(N, OL, filters)``; ``kernel`` is ``(k, filters, C)``
    (Keras' layout) and ``bias`` ``(filters,)``. Each input step ``x[n, i]`` paints
    ``kernel[a] @ x[n, i]`` onto output step ``i*s + a*d - before``, overlapping paints adding up::

        z[n, i*s + a*d - before, f] += sum_c x[n, i, c] * kernel[a, f, c]
        y = activation(z + bias)

    Output length as Conv2DTranspose's (``"valid"``: ``(L - 1)*s + e + p`` with ``e = (k - 1)*d + 1``
    and ``p = output_padding``, default ``max(e, s) - e``; ``"same"``: ``L*s``, or with an
    ``output_padding`` ``(L - 1)*s + k % 2 + p``); ``before`` is the padding Conv1D would put on an
    ``OL``-step input. As Conv1D shares Conv2D's kernels, a sequence is the one-row image
    ``(N, 1, L, C)`` and the kernel the ``(1, k, filters, C)`` one, so Conv2DTranspose's three
    products (:mod:`scratchnet.kernels.conv`'s Conv2D loops read in another order) compute it all.
    The number of steps may vary from batch to batch (``Input((None, C))``): each batch plans its own.
    """

    rank = 1

    def __init__(
        self,
        filters: int,
        kernel_size,
        strides=1,
        padding: str = "valid",
        output_padding=None,
        data_format: str | None = None,
        dilation_rate=1,
        activation=None,
        use_bias: bool = True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        name: str | None = None,
        **kwargs,
    ):
        super().__init__(activation=activation, name=name, **kwargs)
        self._transpose_args(filters, kernel_size, strides, padding, output_padding, data_format,
                             dilation_rate, use_bias, kernel_initializer=kernel_initializer,
                             bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
                             bias_regularizer=bias_regularizer, kernel_constraint=kernel_constraint,
                             bias_constraint=bias_constraint)

    def build(self, input_shape, rng):
        check_rank(self.name, input_shape, "(batch, steps, channels)")
        length, c = input_shape  # length None: any number of steps, planned batch by batch
        out = None if length is None else self._plan(length)[0]
        k = self.kernel_size[0]
        self.kernel = self.add_weight("kernel", (k, self.filters, c), self.kernel_initializer, rng,
                                      regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self.bias = self.add_weight("bias", (self.filters,), self.bias_initializer, rng,
                                    regularizer=self.bias_regularizer,
                                    constraint=self.bias_constraint) if self.use_bias else None
        return (out, self.filters)

    def _plan(self, length: int) -> tuple[int, tuple[int, int]]:
        """``(output steps, (pad before, pad after))`` for inputs of ``length`` steps."""
        out = self._output_size(length, 0)
        back, before, after = output_size_and_pads(out, self.kernel_size[0], self.strides[0],
                                                   self.dilation_rate[0], self.padding)
        if back != length:  # (Keras' own shapes never get here; TensorFlow would refuse them)
            raise ValueError(f'Layer "{self.name}": an output of {out} steps does not map back to '
                             f"the input's {length} with padding={self.padding!r}, strides="
                             f"{self.strides}, output_padding={self.output_padding}")
        return out, (before, after)

    def forward(self, x, training=False):
        self.x = x
        out_length, self.pads = self._plan(x.shape[1])
        before, after = self.pads
        # the forward Conv1D's input gradient with x as its output gradient: (N, 1, OLp, F)
        zpad = kernels.conv2d_backward_input(
            x[:, None], self.kernel.value[None], (1,) + self.strides, (1,) + self.dilation_rate,
            (1, out_length + before + after))
        z = zpad[:, 0, before:before + out_length, :]  # the padding dropped: (N, OL, F)
        if self.use_bias:
            z = z + self.bias.value
        return self.activate(z)

    def backward_preactivation(self, dz):
        steps, dilation = (1,) + self.strides, (1,) + self.dilation_rate
        dzpad = np.pad(dz, ((0, 0), self.pads, (0, 0))) if any(self.pads) else dz  # (N, OLp, F)
        # dL/dkernel: the forward Conv1D's kernel gradient, pad(dz) its input and x its dz
        self.kernel.grad = kernels.conv2d_backward_kernel(
            dzpad[:, None], self.x[:, None], (1,) + self.kernel_size, steps, dilation)[0]  # (k, F, C)
        if self.use_bias:
            self.bias.grad = kernels.bias_grad(dz)  # sum over (N, OL)
        if not self.compute_input_grad:
            return None
        # dL/dx: the forward Conv1D itself on pad(dz): (N, L, C)
        return kernels.conv2d_forward(dzpad[:, None], self.kernel.value[None], steps, dilation,
                                      (1, self.x.shape[1]))[:, 0]


def _volume_plan(layer, spatial, window, strides, dilation) -> tuple[tuple[int, ...], tuple]:
    """A 3-D layer's output sizes and ``((front, back), (top, bottom), (left, right))`` padding for
    inputs of ``spatial`` ``(D, H, W)`` sizes, TensorFlow's rule along each axis."""
    if None in spatial:
        raise ValueError(f'Layer "{layer.name}": expected fixed depth, height and width, received '
                         f"input shape {(None, *spatial, '...')}; scratchnet plans 3-D windows once, "
                         "at build")
    sizes, pads = [], []
    for n, k, s, d in zip(spatial, window, strides, dilation, strict=True):
        out, before, after = output_size_and_pads(n, k, s, d, layer.padding)
        sizes.append(out)
        pads.append((before, after))
    return tuple(sizes), tuple(pads)


class Conv3D(ActivatedLayer):
    """3-D convolution over volumes or videos (cross-correlation, no kernel flip), as
    ``keras.layers.Conv3D`` (alias ``Convolution3D``).

    Input ``(N, D, H, W, C)``; output ``(N, OD, OH, OW, filters)``; ``kernel`` is
    ``(KD, KH, KW, C / groups, filters)`` (Keras' layout) and ``bias`` ``(filters,)``. With ``xpad``
    the zero-padded input::

        z[n, i, j, k, o] = sum_{a, b, e, c} xpad[n, i*sd + a*dd, j*sh + b*dh, k*sw + e*dw, c]
                                            * kernel[a, b, e, c, o] + bias[o]
        y = activation(z)

    Sizes along each axis as Conv2D's: ``"valid"``: ``(D - e) // s + 1`` with ``e = (KD - 1)*d + 1``;
    ``"same"``: ``ceil(D / s)``, the odd padded cell after (back, bottom, right). With ``groups = G``
    the ``C`` channels and the ``filters`` are cut into ``G`` equal groups and group ``g``'s filters
    read only group ``g``'s channels (``c`` runs over ``C / G`` channels of that group).

    Backward, with ``dz = dL/dz``: ``dL/dkernel[a, b, e, c, o] = sum_{n, i, j, k} xpad[n, i*sd + a*dd,
    j*sh + b*dh, k*sw + e*dw, c] * dz[n, i, j, k, o]``; ``dL/dbias = sum_{n, i, j, k} dz``; ``dL/dx``
    sends each ``dz[n, i, j, k] @ kernel[a, b, e]^T`` back to the cell it read, then drops the
    padding. The loops, one strided slice per kernel offset: :mod:`scratchnet.kernels.volume`.
    """

    def __init__(
        self,
        filters: int,
        kernel_size,
        strides=(1, 1, 1),
        padding: str = "valid",
        data_format: str | None = None,
        dilation_rate=(1, 1, 1),
        groups: int = 1,
        activation=None,
        use_bias: bool = True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        name: str | None = None,
        **kwargs,
    ):
        super().__init__(activation=activation, name=name, **kwargs)
        where = f"Conv3D {self.name!r}"
        self.filters = positive_int(filters, "filters", where)
        window_args(self, where, 3, kernel_size, strides, padding, dilation_rate)
        self.data_format = channels_last(data_format, where)
        self.groups = positive_int(groups, "groups", where)
        if self.filters % self.groups:
            raise ValueError(f"{where}: the number of filters must be evenly divisible by the number "
                             f"of groups; received groups={self.groups}, filters={self.filters}")
        self.use_bias = bool(use_bias)
        weight_args(self, where, kernel_initializer=kernel_initializer,
                    bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
                    bias_regularizer=bias_regularizer, kernel_constraint=kernel_constraint,
                    bias_constraint=bias_constraint)
        self.xpad: np.ndarray | None = None

    def build(self, input_shape, rng):
        check_rank(self.name, input_shape, "(batch, depth, height, width, channels)")
        *spatial, c = input_shape
        self.out_shape, self.pads = _volume_plan(self, spatial, self.kernel_size, self.strides,
                                                 self.dilation_rate)
        if min(self.out_shape) <= 0:
            raise ValueError(
                f'Layer "{self.name}": the kernel {self.kernel_size} (dilation {self.dilation_rate}) '
                f"does not fit the input of depth, height and width {tuple(spatial)} with "
                f"padding='valid'; the output would be {self.out_shape}")
        if c is not None and c % self.groups:  # (None: add_weight refuses it, in Keras' words)
            raise ValueError(f'Layer "{self.name}": the number of input channels must be evenly '
                             f"divisible by the number of groups; received groups={self.groups}, but "
                             f"the input has {c} channels (full input shape {(None, *input_shape)})")
        per_group = None if c is None else c // self.groups  # input channels each filter reads
        self.kernel = self.add_weight("kernel", (*self.kernel_size, per_group, self.filters),
                                      self.kernel_initializer, rng, regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self.bias = self.add_weight("bias", (self.filters,), self.bias_initializer, rng,
                                    regularizer=self.bias_regularizer,
                                    constraint=self.bias_constraint) if self.use_bias else None
        return (*self.out_shape, self.filters)

    def forward(self, x, training=False):
        self.xpad = x  # "valid": nothing to pad, and no copy
        if any(p for pair in self.pads for p in pair):
            self.xpad = np.pad(x, ((0, 0), *self.pads, (0, 0)))  # (N, Dp, Hp, Wp, C)
        z = volume.conv3d_forward(self.xpad, self.kernel.value, self.strides, self.dilation_rate,
                                  self.out_shape, self.groups)  # (N, OD, OH, OW, F)
        if self.use_bias:
            z += self.bias.value  # in place: z is a fresh array
        return self.activate(z)

    def backward_preactivation(self, dz):
        self.kernel.grad = volume.conv3d_backward_kernel(self.xpad, dz, self.kernel_size, self.strides,
                                                         self.dilation_rate, self.groups)
        if self.use_bias:
            self.bias.grad = kernels.bias_grad(dz)  # sum over (N, OD, OH, OW)
        if not self.compute_input_grad:
            return None
        dxpad = volume.conv3d_backward_input(dz, self.kernel.value, self.strides, self.dilation_rate,
                                             self.xpad.shape[1:4], self.groups)  # (N, Dp, Hp, Wp, C)
        (front, _), (top, _), (left, _) = self.pads
        d, h, w, _ = self.input_shape
        return dxpad[:, front:front + d, top:top + h, left:left + w, :]  # (N, D, H, W, C)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters,
                "kernel_size": tuple(self.kernel_size), "strides": tuple(self.strides),
                "padding": self.padding, "data_format": self.data_format,
                "dilation_rate": tuple(self.dilation_rate), "groups": self.groups,
                "use_bias": self.use_bias,
                "kernel_initializer": initializer_config(self.kernel_initializer),
                "bias_initializer": initializer_config(self.bias_initializer),
                **regularizer_config(self, "kernel_regularizer", "bias_regularizer", "activity_regularizer"),
                **constraint_config(self, "kernel_constraint", "bias_constraint")}


class Conv3DTranspose(_ConvTranspose):
    """``keras.layers.Conv3DTranspose`` (alias ``Convolution3DTranspose``): Conv2DTranspose for
    volumes, the upsampling layer of 3-D decoders (segmentation networks such as 3-D U-Nets).

    Input ``(N, D, H, W, C)``; output ``(N, OD, OH, OW, filters)``; ``kernel`` is
    ``(KD, KH, KW, filters, C)`` (Keras' layout) and ``bias`` ``(filters,)``. It is the input
    gradient of the Conv3D that maps ``(OD, OH, OW, filters)`` to ``(D, H, W, C)`` with this
    kernel: each input cell ``x[n, i, j, k]`` paints ``kernel[a, b, e] @ x[n, i, j, k]`` onto output
    cell ``(i*sd + a*dd - front, j*sh + b*dh - top, k*sw + e*dw - left)``, overlaps adding up::

        z[n, i*sd + a*dd - front, j*sh + b*dh - top, k*sw + e*dw - left, f]
            += sum_c x[n, i, j, k, c] * kernel[a, b, e, f, c]
        y = activation(z + bias)

    Output sizes and ``front``/``top``/``left`` as Conv2DTranspose's, along each of the three axes.
    Backward: ``dL/dx = conv3d(pad(dz), kernel)`` (Conv3D's forward pass) and ``dL/dkernel`` =
    Conv3D's kernel gradient with ``pad(dz)`` as the input and ``x`` as the output gradient
    (:mod:`scratchnet.kernels.volume`'s three loops, read in another order).
    """

    rank = 3

    def __init__(
        self,
        filters: int,
        kernel_size,
        strides=(1, 1, 1),
        padding: str = "valid",
        output_padding=None,
        data_format: str | None = None,
        dilation_rate=(1, 1, 1),
        activation=None,
        use_bias: bool = True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        name: str | None = None,
        **kwargs,
    ):
        super().__init__(activation=activation, name=name, **kwargs)
        self._transpose_args(filters, kernel_size, strides, padding, output_padding, data_format,
                             dilation_rate, use_bias, kernel_initializer=kernel_initializer,
                             bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
                             bias_regularizer=bias_regularizer, kernel_constraint=kernel_constraint,
                             bias_constraint=bias_constraint)

    def build(self, input_shape, rng):
        check_rank(self.name, input_shape, "(batch, depth, height, width, channels)")
        *spatial, c = input_shape
        if None in spatial:
            raise ValueError(f'Layer "{self.name}": expected fixed depth, height and width, received '
                             f"input shape {(None, *input_shape)}")
        self.out_shape = tuple(self._output_size(n, axis) for axis, n in enumerate(spatial))
        back, self.pads = _volume_plan(self, self.out_shape, self.kernel_size, self.strides,
                                       self.dilation_rate)
        if back != tuple(spatial):  # (Keras' own shapes never get here; TensorFlow would refuse them)
            raise ValueError(f'Layer "{self.name}": an output of {self.out_shape} does not map back '
                             f"to the input's {tuple(spatial)} with padding={self.padding!r}, "
                             f"strides={self.strides}, output_padding={self.output_padding}")
        self.kernel = self.add_weight("kernel", (*self.kernel_size, self.filters, c),
                                      self.kernel_initializer, rng, regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self.bias = self.add_weight("bias", (self.filters,), self.bias_initializer, rng,
                                    regularizer=self.bias_regularizer,
                                    constraint=self.bias_constraint) if self.use_bias else None
        return (*self.out_shape, self.filters)

    def forward(self, x, training=False):
        self.x = x
        padded = tuple(n + before + after for n, (before, after) in zip(self.out_shape, self.pads,
                                                                         strict=True))
        # the forward Conv3D's input gradient with x as its output gradient: (N, ODp, OHp, OWp, F)
        zpad = volume.conv3d_backward_input(x, self.kernel.value, self.strides, self.dilation_rate,
                                            padded)
        (front, _), (top, _), (left, _) = self.pads
        od, oh, ow = self.out_shape
        z = zpad[:, front:front + od, top:top + oh, left:left + ow, :]  # (N, OD, OH, OW, F)
        if self.use_bias:
            z = z + self.bias.value
        return self.activate(z)

    def backward_preactivation(self, dz):
        dzpad = dz
        if any(p for pair in self.pads for p in pair):
            dzpad = np.pad(dz, ((0, 0), *self.pads, (0, 0)))  # (N, ODp, OHp, OWp, F)
        # dL/dkernel: the forward Conv3D's kernel gradient, pad(dz) its input and x its dz
        self.kernel.grad = volume.conv3d_backward_kernel(dzpad, self.x, self.kernel_size,
                                                         self.strides, self.dilation_rate)
        if self.use_bias:
            self.bias.grad = kernels.bias_grad(dz)  # sum over (N, OD, OH, OW)
        if not self.compute_input_grad:
            return None
        # dL/dx: the forward Conv3D itself on pad(dz): (N, D, H, W, C)
        return volume.conv3d_forward(dzpad, self.kernel.value, self.strides, self.dilation_rate,
                                     tuple(self.input_shape[:3]))
