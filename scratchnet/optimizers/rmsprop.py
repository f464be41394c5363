"""RMSprop, as Keras 3's ``keras/src/optimizers/rmsprop.py``."""

from __future__ import annotations

import numpy as np

from scratchnet.optimizers.base import Optimizer, _fraction, _positive


class RMSprop(Optimizer):
    """Divide each step by a running root mean square of the gradients (Hinton's lecture 6e).

    ``v <- rho * v + (1 - rho) * g**2``                          (slot ``velocity``)
    centered (slot ``average_gradient``):
        ``a <- rho * a + (1 - rho) * g``;  ``denominator = v - a**2 + epsilon``
    otherwise:
        ``denominator = v + epsilon``           (epsilon INSIDE the square root, as in Keras)
    ``increment = lr * g / sqrt(denominator)``
    momentum > 0 (slot ``momentum``):  ``m <- momentum * m + increment``;  ``w <- w - m``
    otherwise:                         ``w <- w - increment``
    Every slot starts at 0. All in the parameter's dtype (float32 by default), as Keras.
    """

    def __init__(self, learning_rate=0.001, rho: float = 0.9, momentum: float = 0.0,
                 epsilon: float = 1e-7, centered: bool = False, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.rho = _fraction(rho, "rho", "RMSprop")
        self.momentum = _fraction(momentum, "momentum", "RMSprop")
        self.epsilon = _positive(epsilon, "epsilon", "RMSprop")
        self.centered = bool(centered)

    def update(self, param, grad, lr):
        w = param.value
        f = w.dtype.type  # compute in the parameter's precision
        rho = f(self.rho)
        v = self.slot(param, "velocity")
        v[...] = rho * v + f(1 - self.rho) * np.square(grad)
        if self.centered:
            a = self.slot(param, "average_gradient")
            a[...] = rho * a + f(1 - self.rho) * grad
            denominator = v - np.square(a) + f(self.epsilon)
        else:
            denominator = v + f(self.epsilon)
        increment = f(lr) * grad / np.sqrt(denominator)
        if self.momentum > 0:
            m = self.slot(param, "momentum")
            m[...] = f(self.momentum) * m + increment
            w -= m
        else:
            w -= increment

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum,
                "epsilon": self.epsilon, "centered": self.centered}
