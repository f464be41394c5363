"""Adamax, as Keras 3's ``keras/src/optimizers/adamax.py``."""

from __future__ import annotations

import numpy as np

from scratchnet.optimizers.base import Optimizer, _fraction, _positive


class Adamax(Optimizer):
    """Adam with the infinity norm in place of the root mean square (Kingma & Ba, section 7.1).

    ``t = iterations + 1``
    ``m <- m + (g - m) * (1 - beta_1)``           (slot ``m``, Keras' ``momentum``)
    ``u <- max(beta_2 * u, |g|)``                  (slot ``u``, Keras' ``norm``)
    ``w <- w - (lr * m) / ((1 - beta_1**t) * (u + epsilon))``
    Both slots start at 0. All in the parameter's dtype (float32 by default), as Keras.
    """

    def __init__(self, learning_rate=0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta_1 = _fraction(beta_1, "beta_1", "Adamax", upper_open=True)
        self.beta_2 = _fraction(beta_2, "beta_2", "Adamax")
        self.epsilon = _positive(epsilon, "epsilon", "Adamax")

    def update(self, param, grad, lr):
        w = param.value
        f = w.dtype.type  # compute in the parameter's precision
        t = f(self.iterations + 1)
        beta_1_power = np.power(f(self.beta_1), t)
        m = self.slot(param, "m")
        u = self.slot(param, "u")
        m += (grad - m) * f(1 - self.beta_1)
        u[...] = np.maximum(f(self.beta_2) * u, np.abs(grad))
        w -= (f(lr) * m) / ((f(1) - beta_1_power) * (u + f(self.epsilon)))

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon}
