"""Input, Dense, Flatten, Activation, Softmax, the ReLU family (LeakyReLU, ReLU, ELU, PReLU),
Identity, Reshape and Dropout."""

from __future__ import annotations

import math
import numbers
import warnings

import numpy as np

from scratchnet import constraints, kernels, quantizers
from scratchnet.layers._args import channels_last, positive_int
from scratchnet.layers.base import (
    ActivatedLayer,
    Layer,
    constraint_config,
    float_dtype,
    initializer_config,
    quantization_config,
    regularizer_config,
    weight_args,
)
from scratchnet.layers.input_layer import Input  # noqa: F401  (Sequential([Input(shape), ...]))


class Dense(ActivatedLayer):
    """Fully connected layer: ``y = activation(x @ kernel + bias)`` on the last axis.

    Input shape: ``(N, ..., in)``. Output shape: ``(N, ..., units)``. ``kernel`` is ``(in, units)``
    and ``bias`` ``(units,)``, as in Keras. Like every layer it accepts Keras' ``input_shape=``
    (``Dense(1, input_shape=[1])``), and ``input_dim=n`` meaning ``input_shape=(n,)``.

    Backward, with ``dz = dL/dz`` for ``z = x @ kernel + bias``:
    ``dL/dkernel = x^T @ dz``, ``dL/dbias = sum_n dz``, ``dL/dx = dz @ kernel^T``.

    ``quantize("int8")`` (Keras' post-training quantization, :mod:`scratchnet.quantizers`): the
    kernel becomes int8 ``q_W`` with one ``kernel_scale`` per unit (abs-max over the input axis),
    both non-trainable, and each call quantizes its inputs per row the same way::

        z = (q_x @ q_W) / (scale_x * kernel_scale) + bias          (q_x @ q_W in exact integers)

    Backward is Keras' custom gradient: no kernel gradient, ``dL/dx = dz @ (q_W / kernel_scale)^T``
    (the dequantized kernel; the rounding of ``x`` is passed straight through); the bias still
    trains.
    """

    supports_masking = True  # step by step: a padding mask passes through (layers/masking.py)

    def __init__(
        self,
        units: int,
        activation=None,
        use_bias: bool = True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        quantization_config=None,
        name: str | None = None,
        **kwargs,
    ):
        super().__init__(activation=activation, name=name, **kwargs)
        self.units = positive_int(units, "units", f"Dense {self.name!r}")
        self.use_bias = bool(use_bias)
        self.quantization_config = quantizers.config_argument(quantization_config,
                                                              f"Dense {self.name!r}")
        weight_args(self, f"Dense {self.name!r}", kernel_initializer=kernel_initializer,
                    bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
                    bias_regularizer=bias_regularizer, kernel_constraint=kernel_constraint,
                    bias_constraint=bias_constraint)
        self.x: np.ndarray | None = None

    def build(self, input_shape, rng):
        if len(input_shape) < 1:
            raise ValueError(f'Layer "{self.name}" expects inputs of rank >= 2, received a scalar')
        kernel_shape = (input_shape[-1], self.units)
        if self.quantization_mode is None:
            self.kernel = self.add_weight("kernel", kernel_shape, self.kernel_initializer, rng,
                                          regularizer=self.kernel_regularizer,
                                          constraint=self.kernel_constraint)
        self.bias = self.add_weight("bias", (self.units,), self.bias_initializer, rng,
                                    regularizer=self.bias_regularizer,
                                    constraint=self.bias_constraint) if self.use_bias else None
        if self.quantization_mode is not None:  # made with dtype="int8_from_float32" (a saved one)
            self._quantized_build(kernel_shape, self.quantization_mode, self.quantization_config)
            self._is_quantized = True
        return tuple(input_shape[:-1]) + (self.units,)

    def _quantized_build(self, kernel_shape, mode, config) -> None:
        """Keras' ``_int8_build`` / ``_int4_build``: the quantized weights, non-trainable, as
        zeros and ones (a load or :meth:`_quantize_weights` fills them), and the inputs' quantizer.

        int8: ``kernel`` ``(in, units)`` int8 and ``kernel_scale`` ``(units,)``; inputs quantized
        per row by default. int4: ``kernel`` packed two values a byte ``(in, ceil(units / 2))``,
        ``kernel_scale`` ``(units,)`` with ``block_size`` None/-1, else ``(groups, units)`` with
        ``kernel_zero`` (int8) and ``g_idx`` (each input row's group); weights only by default."""
        if mode not in ("int8", "int4"):
            raise self._unsupported_quantization(mode, ("int8", "int4"))
        float_type = float_dtype(self.weights)
        default = quantizers.AbsMaxQuantizer() if mode == "int8" else None
        self.inputs_quantizer = quantizers.QuantizationConfig.activation_quantizer_or_default(
            config, default)
        if mode == "int8":
            self.kernel = self._quantized_weight("kernel", np.zeros(kernel_shape, np.int8))
            self.kernel_scale = self._quantized_weight("kernel_scale",
                                                       np.ones((self.units,), float_type))
            return
        inputs, units = kernel_shape
        self.block_size = quantizers.block_size_for_layer(self, config)
        self.kernel = self._quantized_weight("kernel", np.zeros((inputs, (units + 1) // 2), np.int8))
        if self.block_size is None or self.block_size == -1:
            self.kernel_scale = self._quantized_weight("kernel_scale", np.ones((units,), float_type))
            return
        groups = math.ceil(inputs / self.block_size)
        self.kernel_scale = self._quantized_weight("kernel_scale", np.ones((groups, units), float_type))
        self.kernel_zero = self._quantized_weight("kernel_zero", np.zeros((groups, units), np.int8))
        self.g_idx = self._quantized_weight(
            "g_idx", (np.arange(inputs) // self.block_size).astype(np.float32))

    def _quantize_weights(self, mode, config, type_check):
        """``quantize("int8")``: ``q_W, scale = abs_max_quantize(kernel, axis=0)`` (one scale per
        unit), then the float kernel gives way to ``q_W`` and ``kernel_scale``. ``"int4"``: the
        same over ``[-8, 7]`` (``block_size`` None or -1), or per group of ``block_size`` input rows
        with a zero point (:func:`~scratchnet.quantizers.abs_max_quantize_grouped_with_zero_point`),
        then packed two values a byte along the units."""
        if type_check and type(self) is not Dense:  # (Keras: a subclass may compute otherwise)
            super()._quantize_weights(mode, config, type_check)
        if mode not in ("int8", "int4"):
            raise self._unsupported_quantization(mode, ("int8", "int4"))
        self.quantization_config = config
        kernel = kernels.to_numpy(self.kernel.value)
        zero = None
        if mode == "int8":
            weight_quantizer = quantizers.QuantizationConfig.weight_quantizer_or_default(
                config, quantizers.AbsMaxQuantizer(axis=0))
            q, scale = weight_quantizer(kernel, to_numpy=True)
            scale = np.squeeze(scale, axis=0)  # (units,)
        else:
            block_size = getattr(config, "block_size", None)
            if block_size is None or block_size == -1:
                weight_quantizer = quantizers.QuantizationConfig.weight_quantizer_or_default(
                    config, quantizers.AbsMaxQuantizer(axis=0, value_range=(-8, 7)))
                q, scale = weight_quantizer(kernel, to_numpy=True)
                scale = np.squeeze(scale, axis=0)  # (units,)
            else:  # (groups, units) scales and zero points
                q, scale, zero = quantizers.abs_max_quantize_grouped_with_zero_point(
                    kernel, block_size=block_size)
            q = quantizers.pack_int4(q, axis=-1)[0]  # (in, ceil(units / 2))
        del self.params["kernel"]
        self._quantized_build(kernel.shape, mode, config)
        self.kernel.value[...] = q
        self.kernel_scale.value[...] = scale
        if zero is not None:
            self.kernel_zero.value[...] = zero
        self._set_quantized_policy(mode, getattr(self, "block_size", None))

    def forward(self, x, training=False):
        self.x = x
        if self.quantization_mode == "int8":
            z = self._int8_matmul(x)
        elif self.quantization_mode == "int4":
            z = self._int4_matmul(x)
        else:
            z = kernels.matmul(x, self.kernel.value)  # x @ kernel
        if self.use_bias:
            z = z + self.bias.value
        return self.activate(z)

    def _int8_matmul(self, x):
        """``(q_x @ q_W) / (scale_x * kernel_scale)``, Keras' ``_int8_call`` (with no inputs
        quantizer, weights only: ``(x @ q_W) / kernel_scale``)."""
        if self.inputs_quantizer is None:
            return (x @ self.kernel.value.astype(x.dtype)) / self.kernel_scale.value
        q_x, scale_x = self.inputs_quantizer(x, axis=-1)  # (N, ..., in) int8, (N, ..., 1)
        z = q_x.astype(np.int32) @ self.kernel.value.astype(np.int32)  # exact integers
        return z.astype(x.dtype) / (self.kernel_scale.value * scale_x)

    def _int4_matmul(self, x):
        """Keras' ``_int4_call``: per unit, ``(x @ q_W) / kernel_scale`` (or with an inputs
        quantizer ``(q_x @ q_W) / (scale_x * kernel_scale)``); per group, ``x @ W`` with the
        kernel dequantized as ``(q_W - zero[g]) * scale[g]`` for each input row's group ``g``."""
        xp = kernels.xp_of(x)
        if self.block_size is not None and self.block_size > 0:
            return x @ self._dequantized_kernel(x.dtype)
        q = quantizers.unpack_int4(kernels.to_numpy(self.kernel.value), self.units, axis=-1)
        if self.inputs_quantizer is None:
            return (x @ xp.asarray(q).astype(x.dtype)) / self.kernel_scale.value
        q_x, scale_x = self.inputs_quantizer(x, axis=-1)
        z = q_x.astype(np.int32) @ xp.asarray(q).astype(np.int32)
        return z.astype(x.dtype) / (self.kernel_scale.value * scale_x)

    def _dequantized_kernel(self, dtype):
        """The float ``(in, units)`` kernel a quantized Dense stands for (its gradient's)."""
        if self.quantization_mode == "int8":
            return self.kernel.value.astype(dtype) / self.kernel_scale.value
        q = kernels.xp_of(self.kernel.value).asarray(
            quantizers.unpack_int4(kernels.to_numpy(self.kernel.value), self.units, axis=-1))
        if self.block_size is None or self.block_size == -1:
            return q.astype(dtype) / self.kernel_scale.value
        groups = self.g_idx.value.astype(np.int32)  # each input row's group
        zero = self.kernel_zero.value[groups].astype(self.kernel_scale.value.dtype)
        return ((q - zero) * self.kernel_scale.value[groups]).astype(dtype)

    def backward_preactivation(self, dz):
        x2 = self.x.reshape(-1, self.x.shape[-1])  # (N*..., in)
        dz2 = dz.reshape(-1, self.units)  # (N*..., units)
        if self.quantization_mode is not None:  # Keras' custom gradient: none for the int kernel
            kernel = self._dequantized_kernel(dz.dtype)  # (in, units)
        else:
            kernel = self.kernel.value
            self.kernel.grad = kernels.matmul(x2.T, dz2)  # x^T @ dz
        if self.use_bias:
            self.bias.grad = dz2.sum(axis=0)
        if not self.compute_input_grad:
            return None
        return kernels.matmul(dz, kernel.T)  # dz @ kernel^T

    def keras_weight_groups(self):
        """A quantized Dense is saved as Keras' ``variable_serialization_spec`` orders it: kernel,
        bias, kernel_scale (its ``weights`` list the trainable bias first)."""
        weights = self.weights
        if self.quantization_mode is not None:  # kernel, bias, kernel_scale (kernel_zero, g_idx)
            quantized = list(self.non_trainable_params.values())
            weights = quantized[:1] + ([self.bias] if self.use_bias else []) + quantized[1:]
        return [("vars", self.name, weights)]

    def get_config(self):
        return {**super().get_config(), "units": self.units, "use_bias": self.use_bias,
                "kernel_initializer": initializer_config(self.kernel_initializer),
                "bias_initializer": initializer_config(self.bias_initializer),
                **regularizer_config(self, "kernel_regularizer", "bias_regularizer"),
                **constraint_config(self, "kernel_constraint", "bias_constraint"),
                **quantization_config(self)}


class Flatten(Layer):
    """Reshape ``(N, H, W, C)`` (any rank) to ``(N, H*W*C)`` in C order: index ``(h*W + w)*C + c``."""

    def __init__(self, data_format: str | None = None, name: str | None = None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.data_format = channels_last(data_format, f"Flatten {self.name!r}")

    def build(self, input_shape, rng):
        # an axis of unknown length (None) leaves the flattened size unknown too, as in Keras
        return (None if None in input_shape else math.prod(input_shape),)

    def forward(self, x, training=False):
        self.x_shape = x.shape
        return x.reshape(x.shape[0], -1)  # (N, H*W*C)

    def backward(self, dy):
        return dy.reshape(self.x_shape)  # (N, H, W, C)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


class Activation(ActivatedLayer):
    """Applies an activation on its own: ``y = activation(x)``, no parameters."""

    supports_masking = True  # a padding mask passes through (layers/masking.py)

    def __init__(self, activation, name: str | None = None, **kwargs):
        super().__init__(activation=activation, name=name, **kwargs)

    def forward(self, x, training=False):
        return self.activate(x)

    def backward_preactivation(self, dz):
        return dz


class Softmax(Activation):
    """``Activation("softmax")`` under Keras' own layer name ``keras.layers.Softmax``, over the last
    axis (``axis=-1``, Keras' default; other axes are not implemented)."""

    def __init__(self, axis=-1, name: str | None = None, **kwargs):
        super().__init__("softmax", name=name, **kwargs)
        if axis != -1:
            raise ValueError(f"Softmax {self.name!r}: scratchnet implements the softmax over the last "
                             f"axis only (axis=-1), received axis={axis!r}")
        self.axis = axis

    def get_config(self):
        # Keras' Softmax.get_config: the base Layer's entries and axis (no activation entry)
        return {**Layer.get_config(self), "axis": self.axis}


class LeakyReLU(Layer):
    """``keras.layers.LeakyReLU``: ``y = x`` where ``x > 0``, else ``negative_slope * x`` (the
    layer's default slope is 0.3; the ``leaky_relu`` activation's is 0.2). Backward:
    ``dx = dy`` where ``x > 0``, else ``negative_slope * dy``. No parameters."""

    supports_masking = True

    def __init__(self, negative_slope: float = 0.3, name: str | None = None, **kwargs):
        if "alpha" in kwargs:  # Keras 2's name, which Keras 3 still takes with a warning
            negative_slope = kwargs.pop("alpha")
            warnings.warn("Argument `alpha` is deprecated. Use `negative_slope` instead.",
                          UserWarning, stacklevel=2)
        super().__init__(name=name, **kwargs)
        if isinstance(negative_slope, bool) or not isinstance(negative_slope, numbers.Real) \
                or not negative_slope >= 0:
            raise ValueError(f'LeakyReLU "{self.name}": expected negative_slope to be a number '
                             f">= 0, received negative_slope={negative_slope!r}")
        self.negative_slope = float(negative_slope)

    def forward(self, x, training=False):
        self.positive = x > 0
        return np.where(self.positive, x, x * x.dtype.type(self.negative_slope))

    def backward(self, dy):
        return np.where(self.positive, dy, dy * dy.dtype.type(self.negative_slope))

    def get_config(self):
        return {**super().get_config(), "negative_slope": self.negative_slope}


class ReLU(Layer):
    """``keras.layers.ReLU(max_value=None, negative_slope=0.0, threshold=0.0)``, Keras 3's formula:

    ``y = min(x, max_value)`` where ``x > threshold`` (``x`` itself with no ``max_value``)
    ``y = negative_slope * (x - threshold)`` where ``x < threshold``, and ``0`` at ``threshold``
    With the defaults it is ``max(x, 0)``; ``ReLU(6.0)`` is ``relu6``; a slope alone is LeakyReLU.
    Backward: ``dx = dy`` where ``threshold < x < max_value`` (and at ``x == max_value``, except
    for ``ReLU(6.0)``: TensorFlow's clip passes it, its relu6 does not), ``negative_slope * dy``
    where ``x < threshold``, else 0. Computed as Keras composes it (``relu``, ``clip``, then the
    slope's part subtracted), so the float32 rounding is Keras'. No parameters.
    """

    supports_masking = True

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, name: str | None = None,
                 **kwargs):
        super().__init__(name=name, **kwargs)
        for arg, value, optional in (("max_value", max_value, True),
                                     ("negative_slope", negative_slope, False),
                                     ("threshold", threshold, False)):
            if value is None and optional:
                continue
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value >= 0:
                raise ValueError(f'ReLU "{self.name}": expected {arg} to be a number >= 0'
                                 f"{' or None' if optional else ''}, received {arg}={value!r}")
        self.max_value = None if max_value is None else float(max_value)
        self.negative_slope = float(negative_slope)
        self.threshold = float(threshold)
        self.x: np.ndarray | None = None

    def _leaky(self) -> bool:
        """Keras' shortcut: a slope with neither max_value nor threshold is ``leaky_relu``."""
        return self.negative_slope != 0 and self.max_value is None and self.threshold == 0

    def forward(self, x, training=False):
        self.x = x
        f = x.dtype.type
        if self._leaky():
            return np.where(x > 0, x, x * f(self.negative_slope))
        if self.threshold != 0:
            y = np.where(x > f(self.threshold), x, f(0))
        else:
            y = np.maximum(x, f(0))
        if self.max_value is not None:
            y = np.clip(y, f(0), f(self.max_value))
        if self.negative_slope != 0:
            y = y - f(self.negative_slope) * np.maximum(-x + f(self.threshold), f(0))
        return y

    def backward(self, dy):
        x, f = self.x, dy.dtype.type
        if self._leaky():
            return np.where(x > 0, dy, dy * f(self.negative_slope))
        if self.threshold == 0 and self.max_value == 6:  # Keras runs tf.nn.relu6: 0 < x < 6
            passes = (x > 0) & (x < 6)
        else:  # relu (x > threshold), then the clip's gradient, which passes 0 <= y <= max_value
            passes = x > f(self.threshold)  # and where it does, y (before the clip) is x itself
            if self.max_value is not None:
                passes &= x <= f(self.max_value)
        dx = np.where(passes, dy, f(0))
        if self.negative_slope != 0:
            dx = dx + np.where(-x + f(self.threshold) > 0, dy * f(self.negative_slope), f(0))
        return dx

    def get_config(self):
        return {**super().get_config(), "max_value": self.max_value,
                "negative_slope": self.negative_slope, "threshold": self.threshold}


class ELU(Layer):
    """``keras.layers.ELU(alpha=1.0)``: ``y = x`` where ``x > 0``, else ``alpha * (exp(x) - 1)``.
    Backward, as TensorFlow's EluGrad: ``dx = dy`` where ``x > 0``, else
    ``(alpha * dy) * (exp(x) - 1 + 1)``. No parameters."""

    supports_masking = True

    def __init__(self, alpha: float = 1.0, name: str | None = None, **kwargs):
        super().__init__(name=name, **kwargs)
        if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not math.isfinite(alpha):
            raise ValueError(f'ELU "{self.name}": expected alpha to be a finite number, received '
                             f"alpha={alpha!r}")
        self.alpha = float(alpha)
        self.x = self.expm1 = None

    def forward(self, x, training=False):
        self.x = x
        self.expm1 = np.expm1(np.minimum(x, x.dtype.type(0)))  # exp(x) - 1 where x <= 0
        return np.where(x > 0, x, self.expm1 * x.dtype.type(self.alpha))

    def backward(self, dy):
        f = dy.dtype.type
        return np.where(self.x > 0, dy, dy * f(self.alpha) * (self.expm1 + f(1)))

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha}


class PReLU(Layer):
    """``keras.layers.PReLU``: a leaky ReLU whose slope is learned, one ``alpha`` per input value
    (shape: the input's without the batch axis, 1 along each of ``shared_axes``)::

        y = relu(x) - alpha * relu(-x)        (Keras' formula: x where x > 0, alpha * x below)

    Backward: ``dx = dy`` where ``x > 0``, ``alpha * dy`` where ``x < 0`` (0 at 0);
    ``dL/dalpha = -sum(dy * relu(-x))`` over the batch and the shared axes. ``alpha_initializer``
    defaults to zeros (a plain ReLU at the start), ``alpha_regularizer`` joins the loss,
    ``alpha_constraint`` projects alpha after each update.
    """

    supports_masking = True

    def __init__(self, alpha_initializer="zeros", alpha_regularizer=None, alpha_constraint=None,
                 shared_axes=None, name: str | None = None, **kwargs):
        super().__init__(name=name, **kwargs)
        where = f'PReLU "{self.name}"'
        weight_args(self, where, alpha_initializer=alpha_initializer,
                    alpha_regularizer=alpha_regularizer, alpha_constraint=alpha_constraint)
        axes = [shared_axes] if isinstance(shared_axes, numbers.Integral) else shared_axes
        if axes is not None and (not isinstance(axes, list | tuple) or not all(
                isinstance(a, numbers.Integral) and not isinstance(a, bool) and a >= 1 for a in axes)):
            raise ValueError(f"{where}: expected shared_axes to be None or axes >= 1 (the batch axis "
                             f"is 0), received shared_axes={shared_axes!r}")
        self.shared_axes = None if axes is None else [int(a) for a in axes]
        self.x = None

    def build(self, input_shape, rng):
        shape = list(input_shape)
        for axis in self.shared_axes or []:
            if axis > len(shape):
                raise ValueError(f'PReLU "{self.name}": shared axis {axis} is out of range for '
                                 f"input shape {(None, *input_shape)}")
            shape[axis - 1] = 1
        self.alpha = self.add_weight("alpha", tuple(shape), self.alpha_initializer, rng,
                                     regularizer=self.alpha_regularizer,
                                     constraint=self.alpha_constraint)
        return tuple(input_shape)

    def forward(self, x, training=False):
        self.x = x
        zero = x.dtype.type(0)
        return np.maximum(x, zero) + -self.alpha.value * np.maximum(-x, zero)

    def backward(self, dy):
        x, zero = self.x, dy.dtype.type(0)
        summed = (0,) + tuple(self.shared_axes or ())  # the axes alpha is broadcast along
        self.alpha.grad = -(dy * np.maximum(-x, zero)).sum(axis=summed, keepdims=True)[0]
        return np.where(x > 0, dy, zero) + np.where(x < 0, dy * self.alpha.value, zero)

    def get_config(self):
        return {**super().get_config(), "alpha_initializer": initializer_config(self.alpha_initializer),
                **regularizer_config(self, "alpha_regularizer"),
                "alpha_constraint": constraints.serialize(self.alpha_constraint),
                "shared_axes": self.shared_axes}


class Identity(Layer):
    """``keras.layers.Identity``: ``y = x``, ``dx = dy`` (a placeholder in a model's graph)."""

    supports_masking = True

    def forward(self, x, training=False):
        return x

    def backward(self, dy):
        return dy


class Reshape(Layer):
    """``keras.layers.Reshape(target_shape)``: each sample to ``target_shape`` (C order; one entry
    may be -1, the size that makes the count match). Backward: ``dy`` back to the input's shape."""

    def __init__(self, target_shape, name: str | None = None, **kwargs):
        super().__init__(name=name, **kwargs)
        where = f'Reshape "{self.name}"'
        if not isinstance(target_shape, tuple | list) or not target_shape or not all(
                isinstance(d, numbers.Integral) and not isinstance(d, bool) and (d > 0 or d == -1)
                for d in target_shape) or list(target_shape).count(-1) > 1:
            raise ValueError(f"{where}: expected target_shape to be a tuple of positive integers "
                             f"(at most one -1, no batch axis), received {target_shape!r}")
        self.target_shape = tuple(int(d) for d in target_shape)

    def build(self, input_shape, rng):
        if None in input_shape:  # a length that varies: the -1 entry is unknown too, as in Keras
            return tuple(None if d == -1 else d for d in self.target_shape)
        return self._target(input_shape)

    def _target(self, input_shape) -> tuple:
        """``target_shape`` with its -1 resolved for a sample of ``input_shape``; raises if the
        sizes cannot match."""
        size, known = math.prod(input_shape), math.prod(d for d in self.target_shape if d != -1)
        if (-1 in self.target_shape and size % known) or (
                -1 not in self.target_shape and known != size):
            raise ValueError(f'Reshape "{self.name}": total size of the input, {size} '
                             f"(shape {(None,) + tuple(input_shape)}), cannot be arranged as "
                             f"target_shape={self.target_shape}")
        return tuple(size // known if d == -1 else d for d in self.target_shape)

    def forward(self, x, training=False):
        self.x_shape = x.shape
        return x.reshape((x.shape[0],) + self._target(x.shape[1:]))  # (N,) + target_shape

    def backward(self, dy):
        return dy.reshape(self.x_shape)  # (N,) + input_shape

    def get_config(self):
        return {**super().get_config(), "target_shape": tuple(self.target_shape)}


class Dropout(Layer):
    """In training, zero each input with probability ``rate`` and scale the rest by ``1/(1-rate)``.

    At inference it passes inputs through. The mask comes from the layer's own seeded Generator
    (``seed``, or drawn from the model's seed), so a run is repeatable. ``noise_shape`` (batch axis
    included, ``None`` for "the input's size") draws one value per mask cell and shares it along
    the axes of size 1: ``(None, 1, 1, 1)`` keeps or drops each image whole (EfficientNet's
    stochastic depth).
    Backward: ``dx = dy * mask / (1 - rate)``.
    """

    supports_masking = True  # a padding mask passes through (layers/masking.py)

    def __init__(self, rate: float, noise_shape=None, seed: int | None = None, name: str | None = None,
                 **kwargs):
        super().__init__(name=name, **kwargs)
        if isinstance(rate, bool) or not isinstance(rate, numbers.Real) or not 0 <= rate < 1:
            raise ValueError(
                f"Dropout {self.name!r}: expected rate to be a float in [0, 1), received {rate!r}"
            )
        if noise_shape is not None and (not isinstance(noise_shape, tuple | list) or not all(
                d is None or (isinstance(d, numbers.Integral) and not isinstance(d, bool) and d > 0)
                for d in noise_shape)):
            raise ValueError(f"Dropout {self.name!r}: expected noise_shape to be None or a tuple of positive "
                             f"ints and Nones (batch axis included), received noise_shape={noise_shape!r}")
        self.rate = float(rate)
        self._noise_shape_arg = noise_shape
        self._noise_shape = None if noise_shape is None else tuple(
            None if d is None else int(d) for d in noise_shape)
        self.seed = seed
        self.rng: np.random.Generator | None = None
        self.scaled_mask: np.ndarray | None = None

    def build(self, input_shape, rng):
        if self._noise_shape is not None and len(self._noise_shape) != len(input_shape) + 1:
            raise ValueError(f'Layer "{self.name}": noise_shape {self._noise_shape} must have one entry '
                             f"per axis of the input {(None, *input_shape)}, batch axis included")
        self.rng = self.random_generator(rng)
        return tuple(input_shape)

    def forward(self, x, training=False):
        if not training or self.rate == 0:
            self.scaled_mask = None
            return x
        keep = self.rng.random(self.noise_shape(x)) >= self.rate  # broadcasts along 1s
        keep = kernels.xp_of(x).asarray(keep)  # to the GPU if x is there: same mask on any backend
        # 1/(1-rate) rounded once to x's type, times True (1) or False (0): the same values as
        # (keep / (1 - rate)).astype(x.dtype), without a float64 array the size of x in between.
        self.scaled_mask = keep * x.dtype.type(1 / (1 - self.rate))
        return x * self.scaled_mask

    def noise_shape(self, x) -> tuple[int, ...]:
        """The shape of the mask: one draw per value, or ``noise_shape`` with its ``None`` entries
        the input's sizes; SpatialDropout draws per channel."""
        if self._noise_shape is None:
            return x.shape
        return tuple(n if d is None else d for d, n in zip(self._noise_shape, x.shape, strict=True))

    def backward(self, dy):
        return dy if self.scaled_mask is None else dy * self.scaled_mask

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed,
                "noise_shape": self._noise_shape_arg}  # as given, as Keras keeps it

