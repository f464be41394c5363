"""Noise that only training sees: SpatialDropout1D/2D/3D, GaussianNoise, GaussianDropout, AlphaDropout
(Keras' ``layers/regularization``, beside :class:`~scratchnet.layers.core.Dropout`), and
ActivityRegularization, the layer that adds a penalty on its input to the loss.

Each draws from the layer's own seeded NumPy Generator (``seed``, or one drawn from the model's
seed), so a scratchnet run repeats exactly; the draws are not TensorFlow's, so a parity test
compares these layers in inference (where each is the identity) and their statistics in training.
At inference (``predict``, ``evaluate``, ``model(x)``) every one of them passes ``x`` through.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from scratchnet import config, kernels, regularizers
from scratchnet.layers._args import channels_last, check_rank
from scratchnet.layers.base import Layer
from scratchnet.layers.core import Dropout


class SpatialDropout1D(Dropout):
    """``keras.layers.SpatialDropout1D(rate)``: Dropout of whole channels. For ``(N, steps, C)``,
    each sample drops each channel at every step together (Keras' noise shape ``(N, 1, C)``), the
    kept ones scaled by ``1/(1 - rate)``; neighbouring steps are alike, so dropping single values
    would hardly regularize. Backward: ``dx = dy * mask / (1 - rate)``."""

    form = "(batch, steps, channels)"

    def __init__(self, rate: float, seed: int | None = None, name: str | None = None, **kwargs):
        super().__init__(rate, seed=seed, name=name, **kwargs)

    def build(self, input_shape, rng):
        check_rank(self.name, input_shape, self.form)
        return super().build(input_shape, rng)

    def noise_shape(self, x) -> tuple[int, ...]:
        return (x.shape[0],) + (1,) * (x.ndim - 2) + (x.shape[-1],)  # (N, 1, ..., 1, C)

    def get_config(self):
        """Keras 3.15's SpatialDropout layers take no ``trainable`` argument (their ``__init__`` has
        no ``**kwargs``) and leave it out of their own configs (keras/src/layers/regularization/
        spatial_dropout.py, ``BaseSpatialDropout.get_config``): rate, seed, name, dtype."""
        return {"rate": self.rate, "seed": self.seed, "name": self.name, "dtype": config.floatx()}


class SpatialDropout2D(SpatialDropout1D):
    """``keras.layers.SpatialDropout2D(rate)``: drops whole feature maps of ``(N, H, W, C)`` images
    (noise shape ``(N, 1, 1, C)``), as SpatialDropout1D drops whole channels of sequences."""

    form = "(batch, height, width, channels)"

    def __init__(self, rate: float, data_format=None, seed: int | None = None,
                 name: str | None = None, **kwargs):
        super().__init__(rate, seed=seed, name=name, **kwargs)
        self.data_format = channels_last(data_format, f'{type(self).__name__} "{self.name}"')

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


class SpatialDropout3D(SpatialDropout2D):
    """``keras.layers.SpatialDropout3D(rate)``: drops whole feature volumes of ``(N, D, H, W, C)``
    inputs (noise shape ``(N, 1, 1, 1, C)``), the kept ones scaled by ``1/(1 - rate)``, as
    SpatialDropout2D drops whole feature maps. Backward: ``dx = dy * mask / (1 - rate)``."""

    form = "(batch, depth, height, width, channels)"


class GaussianNoise(Layer):
    """``keras.layers.GaussianNoise(stddev)``: in training ``y = x + noise``, ``noise`` drawn from
    ``Normal(0, stddev)`` for every value (augmentation for real-valued inputs). Backward: ``dy``
    (the noise does not depend on ``x``)."""

    supports_masking = True

    def __init__(self, stddev: float, seed: int | None = None, name: str | None = None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.stddev = _non_negative(stddev, "stddev", f'GaussianNoise "{self.name}"')
        self.seed = seed
        self.rng: np.random.Generator | None = None

    def build(self, input_shape, rng):
        self.rng = self.random_generator(rng)
        return tuple(input_shape)

    def forward(self, x, training=False):
        if not training or self.stddev == 0:
            return x
        noise = self.rng.normal(0.0, self.stddev, size=x.shape).astype(x.dtype)
        return x + kernels.xp_of(x).asarray(noise)

    def backward(self, dy):
        return dy

    def get_config(self):
        return {**super().get_config(), "stddev": self.stddev, "seed": self.seed}


class GaussianDropout(Layer):
    """``keras.layers.GaussianDropout(rate)``: in training ``y = x * noise``, ``noise`` drawn from
    ``Normal(1, sqrt(rate / (1 - rate)))`` for every value: multiplicative noise with Dropout's
    variance and mean 1, so no rescaling is needed. Backward: ``dx = dy * noise``."""

    supports_masking = True

    def __init__(self, rate: float, seed: int | None = None, name: str | None = None, **kwargs):
        super().__init__(name=name, **kwargs)
        where = f'GaussianDropout "{self.name}"'
        if isinstance(rate, bool) or not isinstance(rate, numbers.Real) or not 0 <= rate < 1:
            raise ValueError(f"{where}: expected rate to be a float in [0, 1), received rate={rate!r}")
        self.rate = float(rate)
        self.seed = seed
        self.rng: np.random.Generator | None = None
        self.noise = None

    def build(self, input_shape, rng):
        self.rng = self.random_generator(rng)
        return tuple(input_shape)

    def forward(self, x, training=False):
        self.noise = None
        if not training or self.rate == 0:
            return x
        stddev = math.sqrt(self.rate / (1.0 - self.rate))
        self.noise = kernels.xp_of(x).asarray(
            self.rng.normal(1.0, stddev, size=x.shape).astype(x.dtype))
        return x * self.noise

    def backward(self, dy):
        return dy if self.noise is None else dy * self.noise

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


def _non_negative(value, arg: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value < math.inf:
        raise ValueError(f"{where}: expected {arg} to be a finite number >= 0, received "
                         f"{arg}={value!r}")
    return float(value)


class AlphaDropout(Layer):
    """``keras.layers.AlphaDropout(rate, noise_shape=None, seed=None)``: the dropout of
    self-normalizing (SELU) networks. A dropped value becomes SELU's negative saturation
    ``alpha' = -scale * alpha`` (not 0), and an affine map then restores the inputs' mean and
    variance (0 and 1 for SELU's fixed point). In training, with ``keep`` a 0/1 draw per value
    (``P(keep) = 1 - rate``; shape ``noise_shape``, its ``None`` entries the input's sizes)::

        alpha' = -1.0507009873554805 * 1.6732632423543772 (= -1.7580993408473766)
        a = ((1 - rate) * (1 + rate * alpha'**2)) ** -0.5,   b = -a * alpha' * rate
        y = a * (x * keep + alpha' * (1 - keep)) + b

    (Keras 3.15's arithmetic; ``a`` and ``b`` in double, then in the input's type.) At inference
    ``y = x``. Backward: ``dL/dx = dy * a * keep``. The draws are the layer's own (its seeded
    Generator), not TensorFlow's: tests check the formula and the statistics.
    """

    supports_masking = True
    ALPHA = 1.6732632423543772848170429916717
    SCALE = 1.0507009873554804934193349852946

    def __init__(self, rate: float, noise_shape=None, seed: int | None = None, name: str | None = None,
                 **kwargs):
        super().__init__(name=name, **kwargs)
        where = f'AlphaDropout "{self.name}"'
        if isinstance(rate, bool) or not isinstance(rate, numbers.Real) or not 0 <= rate < 1:
            raise ValueError(f"{where}: expected rate to be a float in [0, 1), received rate={rate!r} "
                             "(Keras accepts 1, and then outputs NaN)")
        if noise_shape is not None and (not isinstance(noise_shape, tuple | list) or not all(
                d is None or (isinstance(d, numbers.Integral) and not isinstance(d, bool) and d > 0)
                for d in noise_shape)):
            raise ValueError(f"{where}: expected noise_shape to be None or a tuple of positive ints "
                             f"and Nones (batch axis included), received noise_shape={noise_shape!r}")
        self.rate = float(rate)
        self.noise_shape = None if noise_shape is None else tuple(
            None if d is None else int(d) for d in noise_shape)
        self.seed = seed
        self.rng: np.random.Generator | None = None
        self.keep = None  # the last training draw, for backward
        alpha_p = -self.ALPHA * self.SCALE
        self.a = ((1 - self.rate) * (1 + self.rate * alpha_p ** 2)) ** -0.5
        self.b = -self.a * alpha_p * self.rate
        self.alpha_p = alpha_p

    def build(self, input_shape, rng):
        if self.noise_shape is not None and len(self.noise_shape) != len(input_shape) + 1:
            raise ValueError(f'Layer "{self.name}": noise_shape {self.noise_shape} must have one entry '
                             f"per axis of the input {(None, *input_shape)}, batch axis included")
        self.rng = self.random_generator(rng)
        return tuple(input_shape)

    def draw_shape(self, x) -> tuple[int, ...]:
        """``noise_shape`` with its ``None`` entries the input's sizes (the input's shape if None)."""
        if self.noise_shape is None:
            return x.shape
        return tuple(n if d is None else d for d, n in zip(self.noise_shape, x.shape, strict=True))

    def forward(self, x, training=False):
        self.keep = None
        if not training or self.rate == 0:
            return x
        keep = (self.rng.random(self.draw_shape(x)) >= self.rate).astype(x.dtype)  # broadcasts
        self.keep = kernels.xp_of(x).asarray(keep)
        dtype = x.dtype.type
        dropped = x * self.keep + dtype(self.alpha_p) * (1 - self.keep)
        return dtype(self.a) * dropped + dtype(self.b)

    def backward(self, dy):
        if self.keep is None:
            return dy
        return dy * (dy.dtype.type(self.a) * self.keep)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed,
                "noise_shape": self.noise_shape}  # a tuple, as Keras keeps the one given


class ActivityRegularization(Layer):
    """``keras.layers.ActivityRegularization(l1=0.0, l2=0.0)``: passes its input through and adds
    a penalty on it to the loss, ``(l1 * sum|x| + l2 * sum x**2) / batch size``: the layer form of
    ``activity_regularizer=L1L2(l1, l2)`` (see :meth:`Layer.record_activity`). Forward ``y = x``;
    backward ``dy`` (the model adds the penalty's gradient, ``(l1 * sign(x) + 2 * l2 * x) / N``,
    to it first: :meth:`Layer.activity_gradient`)."""

    supports_masking = True

    def __init__(self, l1: float = 0.0, l2: float = 0.0, name: str | None = None, **kwargs):
        if "activity_regularizer" in kwargs:
            raise ValueError("ActivityRegularization: its penalty is l1 and l2; it takes no "
                             f"activity_regularizer, received {kwargs['activity_regularizer']!r}")
        super().__init__(name=name, activity_regularizer=regularizers.L1L2(l1=l1, l2=l2), **kwargs)
        self.l1, self.l2 = self.activity_regularizer.l1, self.activity_regularizer.l2

    def forward(self, x, training=False):
        return x

    def backward(self, dy):
        return dy

    def get_config(self):
        config = {k: v for k, v in super().get_config().items() if k != "activity_regularizer"}
        return {**config, "l1": self.l1, "l2": self.l2}
