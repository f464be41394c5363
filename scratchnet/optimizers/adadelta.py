"""Adadelta, as Keras 3's ``keras/src/optimizers/adadelta.py``."""

from __future__ import annotations

import numpy as np

from scratchnet.optimizers.base import Optimizer, _fraction, _positive


class Adadelta(Optimizer):
    """Steps scaled by the ratio of two running root mean squares (Zeiler, 2012).

    ``E[g^2] <- rho * E[g^2] + (1 - rho) * g**2``                  (slot ``accumulated_grad``)
    ``delta = -sqrt(E[dx^2] + epsilon) * g / sqrt(E[g^2] + epsilon)``
    ``E[dx^2] <- rho * E[dx^2] + (1 - rho) * delta**2``           (slot ``accumulated_delta_var``)
    ``w <- w + lr * delta``
    Both slots start at 0; epsilon is inside both square roots. Keras keeps a learning rate (its
    default 0.001, where the paper's form is ``learning_rate=1.0``). All in the parameter's
    dtype (float32 by default), as Keras.
    """

    def __init__(self, learning_rate=0.001, rho: float = 0.95, epsilon: float = 1e-7, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.rho = _fraction(rho, "rho", "Adadelta")
        self.epsilon = _positive(epsilon, "epsilon", "Adadelta")

    def update(self, param, grad, lr):
        w = param.value
        f = w.dtype.type  # compute in the parameter's precision
        rho, epsilon = f(self.rho), f(self.epsilon)
        accumulated_grad = self.slot(param, "accumulated_grad")
        accumulated_delta_var = self.slot(param, "accumulated_delta_var")
        accumulated_grad[...] = rho * accumulated_grad + f(1 - self.rho) * np.square(grad)
        delta = -(np.sqrt(accumulated_delta_var + epsilon) * grad) / np.sqrt(
            accumulated_grad + epsilon)
        accumulated_delta_var[...] = rho * accumulated_delta_var + f(1 - self.rho) * np.square(delta)
        w += f(lr) * delta

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}
