"""BatchNormalization, LayerNormalization, UnitNormalization, GroupNormalization and RMSNormalization
(Keras 3.15's).
BatchNormalization normalizes each channel with the batch's statistics (training) or the moving
ones (inference); LayerNormalization (after it) each sample with its own; UnitNormalization each
vector to length 1; GroupNormalization each group of channels of a sample; RMSNormalization (at the
end of the file) each sample by its root mean square.

Read :meth:`BatchNormalization.forward` for the formulas, :meth:`BatchNormalization.backward` for
the gradient through the batch mean and variance, and
:meth:`BatchNormalization.update_moving_statistics` for how training moves the inference
statistics. NumPy functions (``np.mean``, ``np.sqrt``) dispatch to CuPy when the arrays live on a
GPU (the "cupy" backend), so the same lines run there.
"""

from __future__ import annotations

import numbers

import numpy as np

from scratchnet import constraints, regularizers
from scratchnet import initializers as inits
from scratchnet.layers.base import Layer, initializer_config, regularizer_config, weight_args

# Keras arguments scratchnet does not implement, and the only value each may take.
_NOT_IMPLEMENTED = {"beta_regularizer": None, "gamma_regularizer": None, "renorm": False,
                    "synchronized": False}



def _check_epsilon_center_scale(where: str, epsilon, center, scale) -> None:
    """The arguments every normalization layer shares: ``epsilon`` a positive float, ``center``
    and ``scale`` True or False."""
    if isinstance(epsilon, bool) or not isinstance(epsilon, numbers.Real) \
            or not 0 < epsilon < float("inf"):
        raise ValueError(f"{where}: expected epsilon to be a positive float, received "
                         f"{epsilon!r}")
    for arg, value in (("center", center), ("scale", scale)):
        if not isinstance(value, bool | np.bool_):
            raise ValueError(f"{where}: expected {arg} to be True or False, received {value!r}")


class BatchNormalization(Layer):
    """Normalize the inputs per channel, then scale by ``gamma`` and shift by ``beta``.

    ``axis`` is the channel axis (default ``-1``: the last, as in NHWC images and ``(N, C)``
    features); mean and variance are taken over every other axis (the batch axis included), so
    each channel ``c`` has its own statistics. With ``x`` of shape ``(N, ..., C)``::

        training (fit, or training=True):
            mean[c] = mean_{n,...} x[n, ..., c]
            var[c]  = mean_{n,...} (x[n, ..., c] - mean[c])**2        (biased: divides by m)
            moving_mean[c]     <- moving_mean[c] * momentum + mean[c] * (1 - momentum)
            moving_variance[c] <- moving_variance[c] * momentum + var[c] * (1 - momentum)
        inference (evaluate, predict, model(x); and always when the layer is frozen,
        layer.trainable = False, as in Keras 3):
            mean, var = moving_mean, moving_variance
        both:
            x_hat = (x - mean) / sqrt(var + epsilon)
            y     = gamma * x_hat + beta

    ``m`` is the number of values each channel's statistics average over (``N`` for ``(N, C)``,
    ``N*H*W`` for ``(N, H, W, C)``). ``center=False`` drops ``beta`` (0), ``scale=False`` drops
    ``gamma`` (1). Weights, in Keras' ``get_weights()`` order: ``gamma``, ``beta`` (trainable,
    each present only if enabled), ``moving_mean``, ``moving_variance`` (non-trainable: updated by
    the forward pass, never by the optimizer), all of shape ``(C,)``.

    Input shape: any rank >= 2, ``(N, ..., C)``. Output shape: the same.

    Backward (training), with ``dx_hat = dL/dy * gamma`` and ``<.>`` the mean over the reduced axes::

        dL/dgamma = sum_{n,...} dL/dy * x_hat
        dL/dbeta  = sum_{n,...} dL/dy
        dL/dx     = (dx_hat - <dx_hat> - x_hat * <dx_hat * x_hat>) / sqrt(var + epsilon)

    the last line being the chain rule through ``x_hat``, ``mean`` and ``var`` together. In
    inference the statistics are constants: ``dL/dx = dx_hat / sqrt(moving_variance + epsilon)``.

    ``beta_constraint``/``gamma_constraint`` project the weights after each update. Keras'
    ``beta_regularizer``/``gamma_regularizer``, ``renorm=True`` and
    ``synchronized=True`` are not implemented: only their defaults are accepted
    (``renorm_clipping``/``renorm_momentum`` are kept for the config and, as in Keras, unused).
    """

    def __init__(
        self,
        axis: int = -1,
        momentum: float = 0.99,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer="zeros",
        gamma_initializer="ones",
        moving_mean_initializer="zeros",
        moving_variance_initializer="ones",
        beta_regularizer=None,
        gamma_regularizer=None,
        beta_constraint=None,
        gamma_constraint=None,
        renorm: bool = False,
        renorm_clipping=None,
        renorm_momentum: float = 0.99,
        synchronized: bool = False,
        name: str | None = None,
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        where = f"BatchNormalization {self.name!r}"
        if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
            raise ValueError(f"{where}: expected axis to be an integer (the channel axis), "
                             f"received {axis!r}")
        if isinstance(momentum, bool) or not isinstance(momentum, numbers.Real) \
                or not 0 <= momentum <= 1:
            raise ValueError(f"{where}: expected momentum to be a float in [0, 1], received "
                             f"{momentum!r}")
        _check_epsilon_center_scale(where, epsilon, center, scale)
        given = {"beta_regularizer": beta_regularizer, "gamma_regularizer": gamma_regularizer,
                 "renorm": renorm, "synchronized": synchronized}
        for arg, value in given.items():
            if value is not _NOT_IMPLEMENTED[arg] and value != _NOT_IMPLEMENTED[arg]:
                raise ValueError(f"{where}: scratchnet does not implement {arg}={value!r} "
                                 f"(Keras' argument); only {arg}={_NOT_IMPLEMENTED[arg]!r} is "
                                 "accepted")
        self.axis = int(axis)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        # Used by Keras only with renorm=True: kept for get_config, otherwise ignored as in Keras.
        self.renorm_clipping = renorm_clipping
        self.renorm_momentum = renorm_momentum
        self.beta_initializer = beta_initializer
        self.gamma_initializer = gamma_initializer
        self.moving_mean_initializer = moving_mean_initializer
        self.moving_variance_initializer = moving_variance_initializer
        for arg in ("beta_initializer", "gamma_initializer", "moving_mean_initializer",
                    "moving_variance_initializer"):
            inits.get(getattr(self, arg), where=f"{where}: {arg}")
        weight_args(self, where, beta_constraint=beta_constraint, gamma_constraint=gamma_constraint)
        self.gamma = self.beta = self.moving_mean = self.moving_variance = None
        self.channel_axis: int | None = None  # axis counted with the batch axis, >= 1
        self.reduction_axes: tuple[int, ...] = ()
        self.x_hat: np.ndarray | None = None  # backward's cache
        self.inv_std: np.ndarray | None = None
        self.used_batch_statistics = False

    def build(self, input_shape, rng):
        rank = len(input_shape) + 1  # with the batch axis
        where = f'Layer "{self.name}" (BatchNormalization)'
        if rank < 2:
            raise ValueError(f"{where} expects inputs of rank >= 2 (batch, ..., channels), "
                             f"received shape {(None,) + tuple(input_shape)}")
        axis = self.axis + rank if self.axis < 0 else self.axis
        if not 1 <= axis < rank:
            raise ValueError(f"{where}: axis {self.axis} is out of bounds for input shape "
                             f"{(None,) + tuple(input_shape)} (expected a non-batch axis, "
                             f"-{rank - 1} <= axis <= {rank - 1}, axis != 0); received "
                             f"axis={self.axis}")
        self.channel_axis = axis
        self.reduction_axes = tuple(i for i in range(rank) if i != axis)
        shape = (input_shape[axis - 1],)  # (C,)
        if self.scale:
            self.gamma = self.add_weight("gamma", shape, self.gamma_initializer, rng,
                                         constraint=self.gamma_constraint)
        if self.center:
            self.beta = self.add_weight("beta", shape, self.beta_initializer, rng,
                                        constraint=self.beta_constraint)
        self.moving_mean = self.add_weight("moving_mean", shape, self.moving_mean_initializer,
                                           rng, trainable=False)
        self.moving_variance = self.add_weight("moving_variance", shape,
                                               self.moving_variance_initializer, rng,
                                               trainable=False)
        return tuple(input_shape)

    def _per_channel(self, v: np.ndarray, ndim: int) -> np.ndarray:
        """A ``(C,)`` vector shaped to broadcast along the channel axis: ``(1, ..., C, ..., 1)``."""
        shape = [1] * ndim
        shape[self.channel_axis] = v.shape[0]
        return v.reshape(shape)

    def forward(self, x, training=False):
        axes = self.reduction_axes
        training = training and self.trainable  # frozen: inference mode, as Keras 3's layer
        if training:
            mean = np.mean(x, axis=axes)  # (C,)
            var = np.mean((x - self._per_channel(mean, x.ndim)) ** 2, axis=axes)  # (C,), biased
            self.update_moving_statistics(mean, var)
        else:
            mean = self.moving_mean.value
            var = self.moving_variance.value
        self.used_batch_statistics = bool(training)
        inv_std = 1 / np.sqrt(var + x.dtype.type(self.epsilon))  # (C,)
        x_hat = (x - self._per_channel(mean, x.ndim)) * self._per_channel(inv_std, x.ndim)
        y = x_hat
        if self.scale:
            y = y * self._per_channel(self.gamma.value, x.ndim)
        if self.center:
            y = y + self._per_channel(self.beta.value, x.ndim)
        self.x_hat, self.inv_std = x_hat, inv_std
        return y

    def update_moving_statistics(self, mean: np.ndarray, var: np.ndarray) -> None:
        """Keras 3.15's update, in the input's float type::

            moving_mean     = moving_mean * momentum + mean * (1 - momentum)
            moving_variance = moving_variance * momentum + var * (1 - momentum)

        ``1 - momentum`` is computed in Python (double) and then rounded, as Keras does.
        Arrays are updated in place, so a replica that shares them sees the update.
        """
        dtype = mean.dtype.type
        momentum = dtype(self.momentum)
        rest = dtype(1.0 - self.momentum)
        self.moving_mean.value[...] = self.moving_mean.value * momentum + mean * rest
        self.moving_variance.value[...] = self.moving_variance.value * momentum + var * rest

    def backward(self, dy):
        axes = self.reduction_axes
        x_hat = self.x_hat
        if self.scale:
            self.gamma.grad = (dy * x_hat).sum(axis=axes)  # (C,)
        if self.center:
            self.beta.grad = dy.sum(axis=axes)  # (C,)
        if not self.compute_input_grad:
            return None
        inv_std = self._per_channel(self.inv_std, dy.ndim)
        dx_hat = dy * self._per_channel(self.gamma.value, dy.ndim) if self.scale else dy
        if not self.used_batch_statistics:  # inference: mean and var are constants
            return dx_hat * inv_std
        mean_dx_hat = np.mean(dx_hat, axis=axes, keepdims=True)  # <dx_hat>
        mean_dx_hat_x_hat = np.mean(dx_hat * x_hat, axis=axes, keepdims=True)  # <dx_hat * x_hat>
        return (dx_hat - mean_dx_hat - x_hat * mean_dx_hat_x_hat) * inv_std

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum,
                "epsilon": self.epsilon, "center": self.center, "scale": self.scale,
                "beta_initializer": initializer_config(self.beta_initializer),
                "gamma_initializer": initializer_config(self.gamma_initializer),
                "moving_mean_initializer": initializer_config(self.moving_mean_initializer),
                "moving_variance_initializer": initializer_config(self.moving_variance_initializer),
                **_NOT_IMPLEMENTED, "renorm_clipping": self.renorm_clipping,
                "beta_constraint": constraints.serialize(self.beta_constraint),
                "gamma_constraint": constraints.serialize(self.gamma_constraint),
                "renorm_momentum": self.renorm_momentum}



class LayerNormalization(Layer):
    """``keras.layers.LayerNormalization``: normalize each sample over ``axis`` (default the last:
    each vector of features on its own, whatever the batch), then scale by ``gamma`` and shift by
    ``beta``, which have the shape of the normalized axes. Unlike BatchNormalization there are no
    moving statistics: training and inference compute the same thing. For each sample (and each
    position along the axes not normalized)::

        mean = mean over axis of x,  var = mean over axis of (x - mean)**2      (biased)
        inv  = gamma / sqrt(var + epsilon)
        y    = x * inv + (beta - mean * inv)       (Keras 3.15's order, so float32 rounds alike)

    Backward, with ``x_hat = (x - mean) / sqrt(var + epsilon)``, ``dx_hat = dy * gamma`` and
    ``<.>`` the mean over ``axis``::

        dL/dgamma = sum over the other axes (the batch included) of dy * x_hat
        dL/dbeta  = sum over the other axes of dy
        dL/dx     = (dx_hat - <dx_hat> - x_hat * <dx_hat * x_hat>) / sqrt(var + epsilon)

    BatchNormalization's formula with the roles of the axes swapped. ``center=False`` drops
    ``beta``, ``scale=False`` drops ``gamma``; ``beta_regularizer``/``gamma_regularizer`` join the
    loss, ``beta_constraint``/``gamma_constraint`` project them after each update. The deprecated
    ``rms_scaling=True`` is not implemented.
    """

    supports_masking = True

    def __init__(self, axis=-1, epsilon: float = 1e-3, center: bool = True, scale: bool = True,
                 beta_initializer="zeros", gamma_initializer="ones", beta_regularizer=None,
                 gamma_regularizer=None, beta_constraint=None, gamma_constraint=None,
                 rms_scaling: bool = False, name: str | None = None, **kwargs):
        super().__init__(name=name, **kwargs)
        where = f"LayerNormalization {self.name!r}"
        axes = [axis] if isinstance(axis, numbers.Integral) else axis
        if not isinstance(axes, list | tuple) or not axes or not all(
                isinstance(a, numbers.Integral) and not isinstance(a, bool) for a in axes):
            raise TypeError(f"{where}: expected axis to be an int or a list/tuple of ints, "
                            f"received axis={axis!r}")
        # One axis is kept as an int, however given: Keras' build turns axis=-1 into [-1], and its
        # files carry that form.
        self.axis = int(axes[0]) if len(axes) == 1 else [int(a) for a in axes]
        _check_epsilon_center_scale(where, epsilon, center, scale)
        for arg, value in (("rms_scaling", rms_scaling),):
            if value not in (None, False):
                raise ValueError(f"{where}: scratchnet does not implement {arg}={value!r} "
                                 "(Keras' argument); leave it at its default")
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        self.beta_initializer = beta_initializer
        self.gamma_initializer = gamma_initializer
        for arg in ("beta_initializer", "gamma_initializer"):
            inits.get(getattr(self, arg), where=f"{where}: {arg}")
        self.beta_regularizer = regularizers.get(beta_regularizer, f"{where}: beta_regularizer")
        self.gamma_regularizer = regularizers.get(gamma_regularizer, f"{where}: gamma_regularizer")
        weight_args(self, where, beta_constraint=beta_constraint, gamma_constraint=gamma_constraint)
        self.gamma = self.beta = None
        self.norm_axes: tuple[int, ...] = ()  # counted with the batch axis
        self.x_hat = self.inv_std = None

    def build(self, input_shape, rng):
        rank = len(input_shape) + 1
        axes = [self.axis] if isinstance(self.axis, int) else self.axis
        norm_axes = []
        for a in axes:
            if not -rank <= a < rank or a % rank == 0:
                raise ValueError(f'Layer "{self.name}" (LayerNormalization): axis {a} is out of '
                                 f"bounds for input shape {(None, *input_shape)} (expected a "
                                 f"non-batch axis); received axis={self.axis}")
            norm_axes.append(a % rank)
        self.norm_axes = tuple(sorted(set(norm_axes)))
        shape = tuple(input_shape[a - 1] for a in self.norm_axes)  # gamma and beta
        if self.scale:
            self.gamma = self.add_weight("gamma", shape, self.gamma_initializer, rng,
                                         regularizer=self.gamma_regularizer,
                                         constraint=self.gamma_constraint)
        if self.center:
            self.beta = self.add_weight("beta", shape, self.beta_initializer, rng,
                                        regularizer=self.beta_regularizer,
                                        constraint=self.beta_constraint)
        return tuple(input_shape)

    def _broadcast(self, v, ndim: int):
        """gamma or beta shaped to broadcast along the normalized axes: ``(1, ..., d, ..., 1)``."""
        shape = [1] * ndim
        for a, d in zip(self.norm_axes, v.shape, strict=True):
            shape[a] = d
        return v.reshape(shape)

    def forward(self, x, training=False):
        axes = self.norm_axes
        mean = np.mean(x, axis=axes, keepdims=True)
        var = np.mean((x - mean) ** 2, axis=axes, keepdims=True)  # biased, as tf.nn.moments
        inv_std = 1 / np.sqrt(var + x.dtype.type(self.epsilon))
        inv = inv_std * self._broadcast(self.gamma.value, x.ndim) if self.scale else inv_std
        shift = -mean * inv
        if self.center:
            shift = shift + self._broadcast(self.beta.value, x.ndim)
        self.x_hat, self.inv_std = (x - mean) * inv_std, inv_std
        return x * inv + shift

    def backward(self, dy):
        others = tuple(a for a in range(dy.ndim) if a not in self.norm_axes)
        if self.scale:
            self.gamma.grad = (dy * self.x_hat).sum(axis=others).reshape(self.gamma.shape)
        if self.center:
            self.beta.grad = dy.sum(axis=others).reshape(self.beta.shape)
        if not self.compute_input_grad:
            return None
        dx_hat = dy * self._broadcast(self.gamma.value, dy.ndim) if self.scale else dy
        axes = self.norm_axes
        mean_dx_hat = np.mean(dx_hat, axis=axes, keepdims=True)
        mean_dx_hat_x_hat = np.mean(dx_hat * self.x_hat, axis=axes, keepdims=True)
        return (dx_hat - mean_dx_hat - self.x_hat * mean_dx_hat_x_hat) * self.inv_std

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale, "rms_scaling": False,
                "beta_initializer": initializer_config(self.beta_initializer),
                "gamma_initializer": initializer_config(self.gamma_initializer),
                **regularizer_config(self, "beta_regularizer", "gamma_regularizer"),
                "beta_constraint": constraints.serialize(self.beta_constraint),
                "gamma_constraint": constraints.serialize(self.gamma_constraint)}


def _axes_arg(axis, where: str) -> int | list[int]:
    """Keras' ``axis`` of UnitNormalization: an int, or a list/tuple of ints (kept as a list)."""
    if isinstance(axis, list | tuple) and axis and all(
            isinstance(a, numbers.Integral) and not isinstance(a, bool) for a in axis):
        return [int(a) for a in axis]
    if isinstance(axis, numbers.Integral) and not isinstance(axis, bool):
        return int(axis)
    raise TypeError(f"{where}: invalid value for `axis` argument: expected an int or a list/tuple "
                    f"of ints. Received: axis={axis!r}")


def _non_batch_axes(layer, axis, input_shape) -> tuple[int, ...]:
    """``axis`` (an int or a list) as axes counted with the batch axis, each checked."""
    rank = len(input_shape) + 1
    axes = []
    for a in [axis] if isinstance(axis, int) else axis:
        if not -rank <= a < rank or a % rank == 0:
            raise ValueError(f'Layer "{layer.name}" ({type(layer).__name__}): axis {a} is out of '
                             f"bounds for input shape {(None, *input_shape)} (expected a non-batch "
                             f"axis); received axis={axis}")
        axes.append(a % rank)
    return tuple(sorted(set(axes)))


class UnitNormalization(Layer):
    """``keras.layers.UnitNormalization(axis=-1)``: each vector along ``axis`` scaled to length 1
    (L2), as Keras' ``ops.normalize(x, axis, order=2, epsilon=1e-12)`` computes it::

        s   = sum over axis of x**2
        inv = min(1 / sqrt(s), 1 / epsilon)          (epsilon = 1e-12: a zero vector stays 0)
        y   = x * inv

    The epsilon bounds the inverse norm (``rsqrt``), not the norm under a square root.
    Backward, with ``<.,.>`` the sum over ``axis``: where ``1/sqrt(s) <= 1/epsilon``,
    ``dL/dx = inv * (dy - y * <dy, y>)`` (the component along ``y`` removed); where the bound
    holds ``inv`` is a constant: ``dL/dx = dy / epsilon`` (TensorFlow's ``minimum`` gradient).
    Input and output ``(N, ...)``, the same shape; no weights.
    """

    supports_masking = True
    EPSILON = 1e-12

    def __init__(self, axis=-1, name: str | None = None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.axis = _axes_arg(axis, f"UnitNormalization {self.name!r}")
        self.norm_axes: tuple[int, ...] = ()
        self.y = self.inv = self.bounded = None

    def build(self, input_shape, rng):
        self.norm_axes = _non_batch_axes(self, self.axis, input_shape)
        return tuple(input_shape)

    def forward(self, x, training=False):
        square_sum = np.sum(np.square(x), axis=self.norm_axes, keepdims=True)
        with np.errstate(divide="ignore"):
            inv_norm = 1 / np.sqrt(square_sum)  # rsqrt: inf for a zero vector
        bound = x.dtype.type(1.0 / self.EPSILON)
        self.bounded = inv_norm > bound  # where the minimum picks 1 / epsilon
        self.inv = np.minimum(inv_norm, bound)
        self.y = x * self.inv
        return self.y

    def backward(self, dy):
        projected = self.inv * (dy - self.y * np.sum(dy * self.y, axis=self.norm_axes, keepdims=True))
        return np.where(self.bounded, dy * self.inv, projected)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


class GroupNormalization(Layer):
    """``keras.layers.GroupNormalization(groups=32, axis=-1, epsilon=1e-3)``: the ``C`` channels on
    ``axis`` cut into ``groups`` groups of ``C / groups`` consecutive channels; each sample
    normalized per group, over the group's channels and every other non-batch axis (an image's
    rows and columns), then scaled by ``gamma`` and shifted by ``beta``, one per channel.
    ``groups=1`` is LayerNormalization over all axes, ``groups=C`` (or ``-1``) instance
    normalization. In the grouped view ``xg`` of shape ``(N, ..., G, C/G, ...)``, Keras 3.15's order::

        mean = mean over the group's axes of xg,  var = mean of (xg - mean)**2     (biased)
        inv  = gamma / sqrt(var + epsilon)
        y    = xg * inv + (beta - mean * inv)      then reshaped back to (N, ..., C, ...)

    Backward, with ``x_hat = (xg - mean) / sqrt(var + epsilon)``, ``dx_hat = dy * gamma`` and
    ``<.>`` the mean over the group's axes::

        dL/dgamma = sum over every axis but the channel axis of dy * x_hat
        dL/dbeta  = sum over every axis but the channel axis of dy
        dL/dx     = (dx_hat - <dx_hat> - x_hat * <dx_hat * x_hat>) / sqrt(var + epsilon)

    LayerNormalization's formula on the grouped view. Weights ``gamma``, ``beta`` of shape
    ``(C,)``; ``center=False`` drops ``beta``, ``scale=False`` drops ``gamma``;
    ``beta_regularizer``/``gamma_regularizer`` join the loss, ``beta_constraint``/``gamma_constraint``
    project them after each update.
    Input and output ``(N, ..., C, ...)``, the same shape.
    """

    supports_masking = True

    def __init__(self, groups: int = 32, axis: int = -1, epsilon: float = 1e-3, center: bool = True,
                 scale: bool = True, beta_initializer="zeros", gamma_initializer="ones",
                 beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, name: str | None = None, **kwargs):
        super().__init__(name=name, **kwargs)
        where = f"GroupNormalization {self.name!r}"
        if isinstance(groups, bool) or not isinstance(groups, numbers.Integral) \
                or (groups <= 0 and groups != -1):
            raise ValueError(f"{where}: received an invalid value for argument `groups`, expected a "
                             f"positive integer (or -1 for instance normalization). Received: "
                             f"groups={groups!r}")
        if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
            raise TypeError(f"{where}: expected axis to be an int, received axis={axis!r}")
        _check_epsilon_center_scale(where, epsilon, center, scale)
        self.groups = int(groups)
        self.axis = int(axis)
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        weight_args(self, where, beta_initializer=beta_initializer,
                    gamma_initializer=gamma_initializer, beta_regularizer=beta_regularizer,
                    gamma_regularizer=gamma_regularizer, beta_constraint=beta_constraint,
                    gamma_constraint=gamma_constraint)
        self.gamma = self.beta = None
        self.x_hat = self.inv_std = None

    def build(self, input_shape, rng):
        (axis,) = _non_batch_axes(self, self.axis, input_shape)
        dim = input_shape[axis - 1]
        if self.groups == -1:
            self.groups = dim  # (Keras too: its config then holds the number)
        if dim < self.groups:
            raise ValueError(f'Layer "{self.name}": number of groups ({self.groups}) cannot be more '
                             f"than the number of channels ({dim}).")
        if dim % self.groups != 0:
            raise ValueError(f'Layer "{self.name}": number of groups ({self.groups}) must be a '
                             f"multiple of the number of channels ({dim}).")
        self.channel_axis = axis  # counted with the batch axis
        if self.scale:
            self.gamma = self.add_weight("gamma", (dim,), self.gamma_initializer, rng,
                                         regularizer=self.gamma_regularizer,
                                         constraint=self.gamma_constraint)
        if self.center:
            self.beta = self.add_weight("beta", (dim,), self.beta_initializer, rng,
                                        regularizer=self.beta_regularizer,
                                        constraint=self.beta_constraint)
        return tuple(input_shape)

    def _grouped_shape(self, shape) -> tuple[int, ...]:
        """``(N, ..., C, ...)`` -> ``(N, ..., G, C/G, ...)``: the channel axis cut in groups."""
        a = self.channel_axis
        return (*shape[:a], self.groups, shape[a] // self.groups, *shape[a + 1:])

    def _group_axes(self, ndim: int) -> tuple[int, ...]:
        """The axes each group's statistics average over, in the grouped view: all but the batch
        axis and the group axis."""
        return tuple(i for i in range(1, ndim + 1) if i != self.channel_axis)

    def _per_channel(self, v, ndim: int):
        """gamma or beta ``(C,)`` in the grouped view: ``(1, ..., G, C/G, ..., 1)``."""
        shape = [1] * (ndim + 1)
        shape[self.channel_axis], shape[self.channel_axis + 1] = self.groups, v.shape[0] // self.groups
        return v.reshape(shape)

    def forward(self, x, training=False):
        xg = x.reshape(self._grouped_shape(x.shape))  # (N, ..., G, C/G, ...)
        axes = self._group_axes(x.ndim)
        mean = np.mean(xg, axis=axes, keepdims=True)
        var = np.mean((xg - mean) ** 2, axis=axes, keepdims=True)  # biased, as ops.moments
        inv_std = 1 / np.sqrt(var + x.dtype.type(self.epsilon))
        inv = inv_std * self._per_channel(self.gamma.value, x.ndim) if self.scale else inv_std
        shift = -mean * inv
        if self.center:
            shift = shift + self._per_channel(self.beta.value, x.ndim)
        self.x_hat, self.inv_std = (xg - mean) * inv_std, inv_std
        return (xg * inv + shift).reshape(x.shape)

    def backward(self, dy):
        dyg = dy.reshape(self._grouped_shape(dy.shape))  # (N, ..., G, C/G, ...)
        others = tuple(i for i in range(dyg.ndim) if i not in (self.channel_axis, self.channel_axis + 1))
        if self.scale:
            self.gamma.grad = (dyg * self.x_hat).sum(axis=others).reshape(self.gamma.shape)
        if self.center:
            self.beta.grad = dyg.sum(axis=others).reshape(self.beta.shape)
        if not self.compute_input_grad:
            return None
        dx_hat = dyg * self._per_channel(self.gamma.value, dy.ndim) if self.scale else dyg
        axes = self._group_axes(dy.ndim)
        mean_dx_hat = np.mean(dx_hat, axis=axes, keepdims=True)
        mean_dx_hat_x_hat = np.mean(dx_hat * self.x_hat, axis=axes, keepdims=True)
        dx = (dx_hat - mean_dx_hat - self.x_hat * mean_dx_hat_x_hat) * self.inv_std
        return dx.reshape(dy.shape)

    def get_config(self):
        return {**super().get_config(), "groups": self.groups, "axis": self.axis,
                "epsilon": self.epsilon, "center": self.center, "scale": self.scale,
                "beta_initializer": initializer_config(self.beta_initializer),
                "gamma_initializer": initializer_config(self.gamma_initializer),
                **regularizer_config(self, "beta_regularizer", "gamma_regularizer"),
                "beta_constraint": constraints.serialize(self.beta_constraint),
                "gamma_constraint": constraints.serialize(self.gamma_constraint)}


class RMSNormalization(Layer):
    """``keras.layers.RMSNormalization(axis=-1, epsilon=1e-6)``: each sample divided by the root
    mean square of its values along ``axis``, then multiplied by ``scale`` (no centring, no
    shift: LayerNormalization without the mean). As Keras 3.15's ``ops.rms_normalization``::

        r = 1 / sqrt(mean over axis of x**2 + epsilon)
        y = x * r * scale

    Backward, with ``x_hat = x * r``, ``dx_hat = dy * scale`` and ``<.>`` the mean over ``axis``::

        dL/dscale = sum over the other axes (the batch included) of dy * x_hat
        dL/dx     = r * (dx_hat - x_hat * <dx_hat * x_hat>)

    One weight, ``scale`` (initialized to ones), of the shape of the normalized axes. Keras
    multiplies by ``scale`` without reshaping it, which lines up with the normalized axes only
    when they are the last ones; scratchnet takes exactly those (``-1``, ``[-2, -1]``, ...) and
    refuses others rather than scale the wrong axis.
    Input and output ``(N, ...)``, the same shape.
    """

    supports_masking = True

    def __init__(self, axis=-1, epsilon: float = 1e-6, name: str | None = None, **kwargs):
        super().__init__(name=name, **kwargs)
        where = f"RMSNormalization {self.name!r}"
        self.axis = _axes_arg(axis, where)
        if isinstance(epsilon, bool) or not isinstance(epsilon, numbers.Real) or not epsilon >= 0:
            raise ValueError(f"{where}: expected epsilon to be a number >= 0, received "
                             f"epsilon={epsilon!r}")
        self.epsilon = float(epsilon)
        self.norm_axes: tuple[int, ...] = ()
        self.scale = None
        self.x_hat = self.r = None

    def build(self, input_shape, rng):
        self.norm_axes = _non_batch_axes(self, self.axis, input_shape)
        rank = len(input_shape) + 1
        if self.norm_axes != tuple(range(rank - len(self.norm_axes), rank)):
            raise ValueError(
                f'Layer "{self.name}" (RMSNormalization): axis={self.axis} on input shape '
                f"{(None, *input_shape)} normalizes axes {list(self.norm_axes)}, which are not the "
                "last ones; Keras multiplies by `scale` without reshaping it, so only trailing axes "
                "are scaled correctly: expected the last axis (-1) or a list of the last axes, "
                "such as [-2, -1]")
        shape = tuple(input_shape[a - 1] for a in self.norm_axes)
        if None in shape:
            raise ValueError(f'Layer "{self.name}" (RMSNormalization): the normalized axes '
                             f"{list(self.norm_axes)} of input shape {(None, *input_shape)} must be "
                             f"known to size `scale`; received shape {shape}")
        self.scale = self.add_weight("scale", shape, "ones", rng)
        # Keras' build turns the axis into a sorted list, and its files carry that form.
        self.axis = sorted(self.axis) if isinstance(self.axis, list) else [self.axis]
        return tuple(input_shape)

    def forward(self, x, training=False):
        mean_square = np.mean(np.square(x), axis=self.norm_axes, keepdims=True)
        self.r = 1 / np.sqrt(mean_square + x.dtype.type(self.epsilon))
        self.x_hat = x * self.r
        return self.x_hat * self.scale.value

    def backward(self, dy):
        others = tuple(a for a in range(dy.ndim) if a not in self.norm_axes)
        self.scale.grad = (dy * self.x_hat).sum(axis=others).reshape(self.scale.shape)
        if not self.compute_input_grad:
            return None
        dx_hat = dy * self.scale.value
        mean_dx_hat_x_hat = np.mean(dx_hat * self.x_hat, axis=self.norm_axes, keepdims=True)
        return self.r * (dx_hat - self.x_hat * mean_dx_hat_x_hat)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon}
