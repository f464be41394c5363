"""Adagrad, as Keras 3's ``keras/src/optimizers/adagrad.py``."""

from __future__ import annotations

import numpy as np

from scratchnet.optimizers.base import Optimizer, _non_negative, _positive


class Adagrad(Optimizer):
    """Per-weight rates that shrink with the sum of all past squared gradients (Duchi et al.).

    ``accumulator <- accumulator + g**2``     (starts at ``initial_accumulator_value``)
    ``w <- w - lr * g / sqrt(accumulator + epsilon)``     (epsilon inside the square root)
    In the parameter's dtype (float32 by default), as Keras.
    """

    def __init__(self, learning_rate=0.001, initial_accumulator_value: float = 0.1,
                 epsilon: float = 1e-7, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.initial_accumulator_value = _non_negative(
            initial_accumulator_value, "initial_accumulator_value", "Adagrad")
        self.epsilon = _positive(epsilon, "epsilon", "Adagrad")

    def update(self, param, grad, lr):
        w = param.value
        f = w.dtype.type  # compute in the parameter's precision
        accumulator = self.slot(param, "accumulator", self.initial_accumulator_value)
        accumulator += np.square(grad)
        w -= f(lr) * grad / np.sqrt(accumulator + f(self.epsilon))

    def get_config(self):
        return {**super().get_config(), "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}
