"""Adafactor, as Keras 3's ``keras/src/optimizers/adafactor.py``."""

from __future__ import annotations

import numbers

import numpy as np

from scratchnet import kernels
from scratchnet.optimizers.base import Optimizer, _positive


class Adafactor(Optimizer):
    """Adafactor (Shazeer & Stern, 2018): Adam-like steps whose second moment, for a weight of two
    or more axes, is stored factored: a mean over its last axis (``r``, one per row) and over its
    next-to-last (``c``, one per column), instead of one value per weight. Memory ``rows + cols``
    instead of ``rows * cols``. With ``t = iterations + 1``::

        rho   = min(lr, 1 / sqrt(t))       (and lr itself becomes min(lr, 1/sqrt(t)) first when
                                            relative_step and the rate is a float, not a schedule)
        alpha = max(epsilon_2, rms(w)) * rho                   rms(x) = sqrt(mean(x**2))
        G     = g**2 + epsilon_1
        beta  = 1 - t**beta_2_decay
        two or more axes:  r <- beta * r + (1 - beta) * mean(G, last axis)
                           c <- beta * c + (1 - beta) * mean(G, next-to-last axis)
                           v  = (r / mean(r, last axis)) [..., None] * c[..., None, :]
        fewer:             v <- beta * v + (1 - beta) * G
        u     = g / sqrt(v)
        w    <- w - alpha * u / max(1, rms(u) / clip_threshold)

    No first moment (no ``beta_1``). Slots ``r``, ``c`` (factored weights only) and ``v``. All in
    the parameter's dtype, as Keras computes it.
    """

    def __init__(self, learning_rate=0.001, beta_2_decay: float = -0.8, epsilon_1: float = 1e-30,
                 epsilon_2: float = 1e-3, clip_threshold: float = 1.0, relative_step: bool = True,
                 **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        if isinstance(beta_2_decay, bool) or not isinstance(beta_2_decay, numbers.Real) \
                or not beta_2_decay <= 0:
            raise ValueError("Adafactor: expected beta_2_decay to be a number <= 0 (the decay "
                             f"1 - t**beta_2_decay must grow to 1), received {beta_2_decay!r}")
        self.beta_2_decay = float(beta_2_decay)
        self.epsilon_1 = _positive(epsilon_1, "epsilon_1", "Adafactor")
        self.epsilon_2 = _positive(epsilon_2, "epsilon_2", "Adafactor")
        self.clip_threshold = _positive(clip_threshold, "clip_threshold", "Adafactor")
        if not isinstance(relative_step, bool | np.bool_):
            raise TypeError(f"Adafactor: expected relative_step to be True or False, received "
                            f"{relative_step!r}")
        self.relative_step = bool(relative_step)

    @staticmethod
    def factored(shape) -> bool:
        """Whether a weight of ``shape`` keeps ``r`` and ``c`` (two or more axes) or a full ``v``."""
        return len(shape) >= 2

    def update(self, param, grad, lr):
        w = param.value
        f = w.dtype.type  # compute in the parameter's precision
        t = f(self.iterations + 1)
        lr = f(lr)
        if self.relative_step and self.learning_rate_schedule is None:
            lr = np.minimum(lr, f(1) / np.sqrt(t))
        rho = np.minimum(lr, f(1) / np.sqrt(t))
        alpha = np.maximum(f(self.epsilon_2), _rms(w)) * rho
        regulated = np.square(grad) + f(self.epsilon_1)
        beta = f(1) - np.power(t, f(self.beta_2_decay))
        v = self.slot(param, "v")
        if self.factored(w.shape):
            r = self._factor_slot(param, "r", w.shape[:-1])
            c = self._factor_slot(param, "c", w.shape[:-2] + w.shape[-1:])
            r[...] = beta * r + (f(1) - beta) * np.mean(regulated, axis=-1)
            c[...] = beta * c + (f(1) - beta) * np.mean(regulated, axis=-2)
            v[...] = np.expand_dims(r / np.mean(r, axis=-1, keepdims=True), -1) * np.expand_dims(c, -2)
        else:
            v[...] = beta * v + (f(1) - beta) * regulated
        u = grad / np.sqrt(v)
        w -= alpha * (u / np.maximum(f(1), _rms(u) / f(self.clip_threshold)))

    def _factor_slot(self, param, slot: str, shape) -> np.ndarray:
        """``r`` or ``c``: zeros of a factor's shape, created on first use."""
        key = f"{param.name}/{slot}"
        if key not in self.state:
            self.state[key] = kernels.xp_of(param.value).zeros(shape, dtype=param.value.dtype)
        return self.state[key]

    def get_config(self):
        return {**super().get_config(), "beta_2_decay": self.beta_2_decay,
                "epsilon_1": self.epsilon_1, "epsilon_2": self.epsilon_2,
                "clip_threshold": self.clip_threshold, "relative_step": self.relative_step}


def _rms(x) -> np.floating:
    """``sqrt(mean(x**2))`` over every element."""
    return np.sqrt(np.mean(np.square(x)))
