"""Ftrl, as Keras 3's ``keras/src/optimizers/ftrl.py``."""

from __future__ import annotations

import numbers

import numpy as np

from scratchnet.optimizers.base import Optimizer


class Ftrl(Optimizer):
    """Follow The Regularized Leader (McMahan et al., 2013), the online-learning optimizer of
    large sparse linear models (click-through rates): it keeps, per weight, the sum of squared
    gradients ``n`` and a "linear" term ``z``, and sets each weight from them in closed form, so
    an L1 penalty drives weights to exactly 0. With ``p = -learning_rate_power`` (0.5 by default)::

        g'    = g + 2 * l2_shrinkage * w
        n_new = n + g**2                                   (slot ``accumulator``, starts at
                                                            ``initial_accumulator_value``)
        z    <- z + g' - (n_new**p - n**p) / lr * w       (slot ``linear``, starts at 0)
        q     = n_new**p / lr + 2 * (l2 + beta / (2 * lr))
        w    <- (clip(z, -l1, l1) - z) / q                (0 wherever |z| <= l1)
        n    <- n_new

    ``l1``, ``l2`` and ``l2_shrinkage`` are the ``*_regularization_strength`` arguments. All in
    the parameter's dtype, as Keras computes it.
    """

    def __init__(self, learning_rate=0.001, learning_rate_power: float = -0.5,
                 initial_accumulator_value: float = 0.1, l1_regularization_strength: float = 0.0,
                 l2_regularization_strength: float = 0.0,
                 l2_shrinkage_regularization_strength: float = 0.0, beta: float = 0.0, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        for arg, value in (("learning_rate_power", learning_rate_power),
                           ("initial_accumulator_value", initial_accumulator_value),
                           ("l1_regularization_strength", l1_regularization_strength),
                           ("l2_regularization_strength", l2_regularization_strength),
                           ("l2_shrinkage_regularization_strength", l2_shrinkage_regularization_strength),
                           ("beta", beta)):
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
                raise ValueError(f"Ftrl: expected {arg} to be a number, received {arg}={value!r}")
        if learning_rate_power > 0:
            raise ValueError("Ftrl: `learning_rate_power` needs to be negative or zero. Received: "
                             f"learning_rate_power={learning_rate_power}")
        for arg, value in (("initial_accumulator_value", initial_accumulator_value),
                           ("l1_regularization_strength", l1_regularization_strength),
                           ("l2_regularization_strength", l2_regularization_strength),
                           ("l2_shrinkage_regularization_strength", l2_shrinkage_regularization_strength)):
            if value < 0:
                raise ValueError(f"Ftrl: `{arg}` needs to be positive or zero. Received: {arg}={value}")
        self.learning_rate_power = float(learning_rate_power)
        self.initial_accumulator_value = float(initial_accumulator_value)
        self.l1_regularization_strength = float(l1_regularization_strength)
        self.l2_regularization_strength = float(l2_regularization_strength)
        self.l2_shrinkage_regularization_strength = float(l2_shrinkage_regularization_strength)
        self.beta = float(beta)

    def update(self, param, grad, lr):
        w = param.value
        f = w.dtype.type  # compute in the parameter's precision
        n = self.slot(param, "accumulator", self.initial_accumulator_value)
        z = self.slot(param, "linear")
        lr, p = f(lr), f(-self.learning_rate_power)
        l2 = f(self.l2_regularization_strength) + f(self.beta) / (f(2) * lr)
        g = grad + f(2 * self.l2_shrinkage_regularization_strength) * w
        n_new = n + np.square(grad)
        z += g - (np.power(n_new, p) - np.power(n, p)) / lr * w
        q = np.power(n_new, p) / lr + f(2) * l2
        l1 = f(self.l1_regularization_strength)
        w[...] = (np.clip(z, -l1, l1) - z) / q
        n[...] = n_new

    def get_config(self):
        return {**super().get_config(), "learning_rate_power": self.learning_rate_power,
                "initial_accumulator_value": self.initial_accumulator_value,
                "l1_regularization_strength": self.l1_regularization_strength,
                "l2_regularization_strength": self.l2_regularization_strength,
                "l2_shrinkage_regularization_strength": self.l2_shrinkage_regularization_strength,
                "beta": self.beta}
