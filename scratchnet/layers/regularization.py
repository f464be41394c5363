"""Noise that only training sees: SpatialDropout1D/2D, GaussianNoise, GaussianDropout (Keras'
``layers/regularization``, beside :class:`~scratchnet.layers.core.Dropout`).

Each draws from the layer's own seeded NumPy Generator (``seed``, or one drawn from the model's
seed), so a scratchnet run repeats exactly; the draws are not TensorFlow's, so a parity test
compares these layers in inference (where each is the identity) and their statistics in training.
At inference (``predict``, ``evaluate``, ``model(x)``) every one of them passes ``x`` through.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from scratchnet import kernels
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

    def keras_saved_config(self, config: dict) -> dict:
        """Keras 3.15's SpatialDropout layers take no ``trainable`` argument (their ``__init__`` has
        no ``**kwargs``) and leave it out of their own configs: a .keras file must too."""
        return {k: v for k, v in config.items() if k != "trainable"}


class SpatialDropout2D(SpatialDropout1D):
    """``keras.layers.SpatialDropout2D(rate)``: drops whole feature maps of ``(N, H, W, C)`` images
    (noise shape ``(N, 1, 1, C)``), as SpatialDropout1D drops whole channels of sequences."""

    form = "(batch, height, width, channels)"

    def __init__(self, rate: float, data_format=None, seed: int | None = None,
                 name: str | None = None, **kwargs):
        super().__init__(rate, seed=seed, name=name, **kwargs)
        self.data_format = channels_last(data_format, f'SpatialDropout2D "{self.name}"')

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


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
