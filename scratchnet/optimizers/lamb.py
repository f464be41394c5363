"""Lamb, as Keras 3's ``keras/src/optimizers/lamb.py``."""

from __future__ import annotations

import numpy as np

from scratchnet.optimizers.base import Optimizer, _fraction, _positive


class Lamb(Optimizer):
    """Layer-wise Adaptive Moments (You et al., 2020): Adam's direction, rescaled per weight
    tensor so the step is a fixed fraction of the weight's own norm (large-batch training).

    ``t = iterations + 1``
    ``m <- m + (g - m) * (1 - beta_1)``                  (slot ``m``, Keras' ``momentum``)
    ``v <- v + (g**2 - v) * (1 - beta_2)``               (slot ``v``, Keras' ``velocity``)
    ``u = (m / (1 - beta_1**t)) / (sqrt(v / (1 - beta_2**t)) + epsilon)``     (Adam's direction)
    ``ratio = ||w|| / ||u||``, or 1 where either norm is 0     (L2 norms of the whole tensor)
    ``w <- w - ratio * lr * u``
    All in the parameter's dtype, as Keras computes it.
    """

    def __init__(self, learning_rate=0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta_1 = _fraction(beta_1, "beta_1", "Lamb", upper_open=True)
        self.beta_2 = _fraction(beta_2, "beta_2", "Lamb", upper_open=True)
        self.epsilon = _positive(epsilon, "epsilon", "Lamb")

    def update(self, param, grad, lr):
        w = param.value
        f = w.dtype.type  # compute in the parameter's precision
        m, v = self.slot(param, "m"), self.slot(param, "v")
        t = f(self.iterations + 1)
        m += (grad - m) * f(1 - self.beta_1)
        v += (np.square(grad) - v) * f(1 - self.beta_2)
        m_hat = m / (f(1) - np.power(f(self.beta_1), t))
        u = m_hat / (np.sqrt(v / (f(1) - np.power(f(self.beta_2), t))) + f(self.epsilon))
        w_norm, u_norm = np.sqrt(np.sum(np.square(w))), np.sqrt(np.sum(np.square(u)))
        ratio = w_norm / u_norm if w_norm > 0 and u_norm > 0 else f(1)
        w -= ratio * f(lr) * u

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon}
